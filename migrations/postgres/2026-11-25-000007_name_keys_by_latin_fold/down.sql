-- Back to the earlier layout. The keys cannot be derived in SQL, so the
-- table is left empty: name search finds nobody until they are rebuilt (by
-- upgrading again).
DROP TABLE derived_versions;
TRUNCATE person_name_keys;
CREATE INDEX person_name_keys_person ON person_name_keys (person_id);
