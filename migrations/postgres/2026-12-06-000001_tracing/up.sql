-- Family tracing (issue 13). A member may be traced by relatives looking
-- for them only with their consent (unaccompanied and separated children,
-- needs SC-UC and SC-SC, always may); recorded at registration.
ALTER TABLE persons ADD COLUMN tracing_consent BOOLEAN NOT NULL DEFAULT FALSE;
-- How another center reaches this one (a desk's phone, say): shown to the
-- center of an enquirer once a tracing match at this center is confirmed.
ALTER TABLE centers ADD COLUMN contact TEXT;

-- A registered person (the enquirer) looking for a relative: who is sought,
-- and where and when they were last seen. center_id is the enquirer's
-- household's center, the one that may see a confirmed match's contact.
CREATE TABLE tracing_requests (
    id                    TEXT PRIMARY KEY NOT NULL,
    center_id             TEXT NOT NULL REFERENCES centers (id),
    enquirer_person_id    TEXT NOT NULL REFERENCES persons (id),
    enquirer_household_id TEXT NOT NULL REFERENCES households (id),
    given_name            TEXT NOT NULL,
    family_name           TEXT NOT NULL,
    patronymic            TEXT,
    sex                   TEXT NOT NULL,
    birth_date            DATE,
    approximate_age       INTEGER,
    relationship          TEXT NOT NULL,
    origin_settlement     TEXT,
    last_seen_place       TEXT,
    last_seen_on          DATE,
    status                TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    version               INTEGER NOT NULL,
    created_by            TEXT NOT NULL REFERENCES users (id),
    created_at            TIMESTAMP NOT NULL,
    updated_at            TIMESTAMP NOT NULL
);
CREATE INDEX tracing_requests_center ON tracing_requests (center_id, created_at, id);
CREATE INDEX tracing_requests_created ON tracing_requests (created_at, id);

-- The candidate keys of open requests (the matching engine's, derived from
-- the sought person as persons' are), so that every later registration
-- finds the requests it may answer. Removed when a request closes.
CREATE TABLE tracing_request_keys (
    match_key  TEXT NOT NULL,
    birth_year INTEGER NOT NULL,
    request_id TEXT NOT NULL REFERENCES tracing_requests (id),
    PRIMARY KEY (match_key, birth_year, request_id)
);

-- Registered persons who may be the one sought: one row per request and
-- person, ever (a rejected match is not proposed again), with its score
-- and its review.
CREATE TABLE tracing_matches (
    id          TEXT PRIMARY KEY NOT NULL,
    request_id  TEXT NOT NULL REFERENCES tracing_requests (id),
    person_id   TEXT NOT NULL REFERENCES persons (id),
    center_id   TEXT NOT NULL REFERENCES centers (id),
    score       DOUBLE PRECISION NOT NULL,
    fields      TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('proposed', 'confirmed', 'rejected')),
    version     INTEGER NOT NULL,
    proposed_at TIMESTAMP NOT NULL,
    decided_at  TIMESTAMP,
    decided_by  TEXT REFERENCES users (id),
    reason      TEXT,
    UNIQUE (request_id, person_id)
);
CREATE INDEX tracing_matches_center ON tracing_matches (center_id, request_id);
CREATE INDEX tracing_matches_proposed ON tracing_matches (request_id) WHERE status = 'proposed';
