-- Account administration (issue 12): display names, a per-account token
-- generation (bumped to revoke every token the account holds), a temporary
-- password that must be changed, and a version for If-Match.
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN updated_at TIMESTAMP;

-- Tokens revoked one by one (logout), kept until they would have expired.
CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);

-- Failed logins per username (hashed) and per client address, shared by
-- every server process.
CREATE TABLE login_throttles (
    throttle_key TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    window_started_at TIMESTAMP NOT NULL,
    lockouts INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP
);

-- The audit trail: who did or saw what, when, where. Append-only: the
-- database refuses any change, and deletion of entries younger than a year
-- (the retention purge removes only older ones). Ids are UUIDv7, ordered by
-- time: the trail pages, and is cut by time, by id (no index on the time).
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    request_id TEXT,
    account_id TEXT,
    username TEXT,
    role TEXT,
    action TEXT NOT NULL,
    center_id TEXT,
    resource_type TEXT,
    resource_id TEXT,
    version INTEGER,
    detail TEXT
) WITHOUT ROWID;
CREATE INDEX audit_events_account ON audit_events (account_id, id);
CREATE INDEX audit_events_action ON audit_events (action, id);
CREATE INDEX audit_events_center ON audit_events (center_id, id);

-- The people and households an event touched (a read, a search result, a write).
CREATE TABLE audit_subjects (
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    event_id TEXT NOT NULL REFERENCES audit_events (id),
    PRIMARY KEY (subject_type, subject_id, event_id)
) WITHOUT ROWID;
CREATE INDEX audit_subjects_event ON audit_subjects (event_id);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_no_early_delete BEFORE DELETE ON audit_events
WHEN OLD.occurred_at > strftime('%Y-%m-%d %H:%M:%f', 'now', '-365 days')
BEGIN
    SELECT RAISE(ABORT, 'audit_events younger than 365 days cannot be deleted');
END;
CREATE TRIGGER audit_subjects_no_update BEFORE UPDATE ON audit_subjects
BEGIN
    SELECT RAISE(ABORT, 'audit_subjects is append-only');
END;
CREATE TRIGGER audit_subjects_no_early_delete BEFORE DELETE ON audit_subjects
WHEN (SELECT occurred_at FROM audit_events WHERE id = OLD.event_id) > strftime('%Y-%m-%d %H:%M:%f', 'now', '-365 days')
BEGIN
    SELECT RAISE(ABORT, 'audit_subjects of entries younger than 365 days cannot be deleted');
END;
