-- The search keys of persons registered or corrected lately, before they
-- join `person_name_keys` in key order, a range of keys per transaction
-- (`persons::name_keys::merge_recent`). Written in each registration's
-- transaction into the large table instead, every key row cost a page of
-- its own at a million persons: the single SQLite writer lost two fifths
-- of its throughput. This table stays small (the server moves its rows
-- once it holds 250,000, see `app::merge_name_keys`), so its pages stay in
-- the writer's cache. Name search reads both tables: a person is found by
-- name as soon as the registration commits.
CREATE TABLE person_name_keys_recent (
    name_key  TEXT NOT NULL,
    person_id TEXT NOT NULL,
    PRIMARY KEY (name_key, person_id)
) WITHOUT ROWID;
