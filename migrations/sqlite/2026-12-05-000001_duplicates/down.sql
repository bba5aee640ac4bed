DROP TABLE duplicate_pairs;
DROP TABLE person_match_keys;
DROP INDEX persons_merged_into;
ALTER TABLE persons DROP COLUMN merged_at;
ALTER TABLE persons DROP COLUMN merged_into;
DELETE FROM derived_versions WHERE name = 'person_match_keys';
