-- Back to the earlier layout. The keys cannot be derived in SQL, so the
-- table is left empty: name search finds nobody until they are rebuilt (by
-- upgrading again).
DROP TABLE derived_versions;
DROP TABLE person_name_keys;
CREATE TABLE person_name_keys (
    name_key  TEXT NOT NULL,
    person_id TEXT NOT NULL,
    PRIMARY KEY (name_key, person_id)
);
CREATE INDEX person_name_keys_person ON person_name_keys (person_id);
