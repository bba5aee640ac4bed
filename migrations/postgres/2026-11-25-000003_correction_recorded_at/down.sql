ALTER TABLE household_revisions DROP COLUMN recorded_at;
