-- A correction can take effect earlier than it is entered (noted on paper at
-- the desk, typed in after an outage): `replaced_at` is when it took effect,
-- `recorded_at` when the server stored it, so backdated corrections show.
ALTER TABLE household_revisions ADD COLUMN recorded_at TIMESTAMP;
UPDATE household_revisions SET recorded_at = replaced_at;
ALTER TABLE household_revisions ALTER COLUMN recorded_at SET NOT NULL;
