-- Account administration (issue 12): display names, a per-account token
-- generation (bumped to revoke every token the account holds), a temporary
-- password that must be changed, and a version for If-Match.
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT false;
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
);
CREATE INDEX audit_events_account ON audit_events (account_id, id);
CREATE INDEX audit_events_action ON audit_events (action, id);
CREATE INDEX audit_events_center ON audit_events (center_id, id);

-- The people and households an event touched (a read, a search result, a write).
CREATE TABLE audit_subjects (
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    event_id TEXT NOT NULL REFERENCES audit_events (id),
    PRIMARY KEY (subject_type, subject_id, event_id)
);
CREATE INDEX audit_subjects_event ON audit_subjects (event_id);

CREATE FUNCTION refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE FUNCTION refuse_early_audit_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'audit_events' THEN
        IF OLD.occurred_at > (now() AT TIME ZONE 'UTC') - interval '365 days' THEN
            RAISE EXCEPTION 'audit_events younger than 365 days cannot be deleted';
        END IF;
    ELSIF EXISTS (SELECT 1 FROM audit_events e WHERE e.id = OLD.event_id
                  AND e.occurred_at > (now() AT TIME ZONE 'UTC') - interval '365 days') THEN
        RAISE EXCEPTION 'audit_subjects of entries younger than 365 days cannot be deleted';
    END IF;
    RETURN OLD;
END;
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION refuse_audit_change();
CREATE TRIGGER audit_events_no_early_delete BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION refuse_early_audit_delete();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change();
CREATE TRIGGER audit_subjects_no_update BEFORE UPDATE ON audit_subjects
    FOR EACH ROW EXECUTE FUNCTION refuse_audit_change();
CREATE TRIGGER audit_subjects_no_early_delete BEFORE DELETE ON audit_subjects
    FOR EACH ROW EXECUTE FUNCTION refuse_early_audit_delete();
CREATE TRIGGER audit_subjects_no_truncate BEFORE TRUNCATE ON audit_subjects
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change();
