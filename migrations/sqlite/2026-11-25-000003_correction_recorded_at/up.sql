-- A correction can take effect earlier than it is entered (noted on paper at
-- the desk, typed in after an outage): `replaced_at` is when it took effect,
-- `recorded_at` when the server stored it, so backdated corrections show.
-- (SQLite adds a NOT NULL column only with a default; every insert sets it.)
ALTER TABLE household_revisions ADD COLUMN recorded_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
UPDATE household_revisions SET recorded_at = replaced_at;
