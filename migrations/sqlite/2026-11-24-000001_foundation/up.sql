-- Foundation: accounts, centers, household registration and idempotency.
-- Kept in lockstep with ../../postgres/2026-11-24-000001_foundation/up.sql:
-- same tables, columns, constraints and indexes; only the type spellings differ.

CREATE TABLE centers (
    id          TEXT PRIMARY KEY NOT NULL,
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('border_crossing', 'registration_center', 'aid_point', 'collective_shelter', 'warehouse')),
    province    TEXT NOT NULL,
    latitude    DOUBLE CHECK (latitude BETWEEN -90 AND 90),
    longitude   DOUBLE CHECK (longitude BETWEEN -180 AND 180),
    timezone    TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'registrar', 'aid_worker', 'analyst', 'auditor')),
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMP NOT NULL
);

CREATE TABLE user_centers (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    center_id TEXT NOT NULL REFERENCES centers (id),
    PRIMARY KEY (user_id, center_id)
);

CREATE TABLE households (
    id                   TEXT PRIMARY KEY NOT NULL,
    center_id            TEXT NOT NULL REFERENCES centers (id),
    arrived_at           TIMESTAMP NOT NULL,
    origin_settlement    TEXT NOT NULL,
    intended_destination TEXT,
    phone                TEXT,
    size                 INTEGER NOT NULL CHECK (size > 0),
    version              INTEGER NOT NULL CHECK (version > 0),
    registered_by        TEXT NOT NULL REFERENCES users (id),
    created_at           TIMESTAMP NOT NULL,
    updated_at           TIMESTAMP NOT NULL
);
CREATE INDEX households_center_arrived ON households (center_id, arrived_at, id);
CREATE INDEX households_arrived ON households (arrived_at, id);

CREATE TABLE persons (
    id              TEXT PRIMARY KEY NOT NULL,
    household_id    TEXT NOT NULL REFERENCES households (id),
    position        INTEGER NOT NULL,
    given_name      TEXT NOT NULL,
    family_name     TEXT NOT NULL,
    patronymic      TEXT,
    name_latin      TEXT,
    sex             TEXT NOT NULL CHECK (sex IN ('female', 'male', 'other', 'unknown')),
    birth_date      DATE,
    estimated_age   INTEGER CHECK (estimated_age BETWEEN 0 AND 120),
    relationship    TEXT NOT NULL,
    document_type   TEXT,
    document_number TEXT,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    UNIQUE (household_id, position)
);

CREATE TABLE person_needs (
    person_id TEXT NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    code      TEXT NOT NULL,
    PRIMARY KEY (person_id, code)
);
CREATE INDEX person_needs_code ON person_needs (code);

-- Search keys for case-insensitive, script-aware prefix search of names:
-- lower-cased NFC tokens of every name, plus their Latin transliteration.
-- A derived index, rewritten with its person in the same transaction; it has
-- no foreign key because a registration writes some 30 of these rows and a
-- per-row key check cost PostgreSQL 15% of its registration throughput.
-- Compared byte-wise (BINARY collation) so a prefix is a contiguous range.
CREATE TABLE person_name_keys (
    name_key  TEXT NOT NULL,
    person_id TEXT NOT NULL,
    PRIMARY KEY (name_key, person_id)
);
CREATE INDEX person_name_keys_person ON person_name_keys (person_id);

-- Stored outcomes of requests sent with an idempotency key (explicit header or
-- client-chosen household id), written in the same transaction as the work.
CREATE TABLE idempotency_keys (
    scope           TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    response_status INTEGER NOT NULL,
    response_body   TEXT NOT NULL,
    resource_id     TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (scope, idempotency_key)
);
