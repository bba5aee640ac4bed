DROP TABLE audit_subjects;
DROP TABLE audit_events;
DROP TABLE login_throttles;
DROP TABLE revoked_tokens;
ALTER TABLE users DROP COLUMN updated_at;
ALTER TABLE users DROP COLUMN version;
ALTER TABLE users DROP COLUMN must_change_password;
ALTER TABLE users DROP COLUMN token_generation;
ALTER TABLE users DROP COLUMN display_name;
