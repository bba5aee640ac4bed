-- Transport (trips and boardings) and medical referrals.
-- Kept in lockstep with ../../postgres/2026-11-25-000006_transport_and_referrals/up.sql:
-- same tables, columns, constraints and indexes; only the append-only triggers
-- are written in each database's own dialect.

-- Free transport from a center to anywhere in the country. `seats_taken` is
-- the number of boardings rows of the trip, kept by the same transaction that
-- writes them: a boarding takes its seats with one conditional UPDATE
-- (seats_taken + n <= seats), which holds under concurrent requests from any
-- number of server processes; the CHECK below is the last line of defence.
CREATE TABLE trips (
    id                     TEXT PRIMARY KEY NOT NULL,
    -- Where the bus leaves from; desks at this center record its boardings.
    center_id              TEXT NOT NULL REFERENCES centers (id),
    destination_province   TEXT NOT NULL,
    destination_settlement TEXT,
    departs_at             TIMESTAMP NOT NULL,
    -- Plate or bus number.
    vehicle                TEXT NOT NULL,
    seats                  INTEGER NOT NULL CHECK (seats > 0 AND seats <= 1000),
    seats_taken            INTEGER NOT NULL DEFAULT 0 CHECK (seats_taken >= 0 AND seats_taken <= seats),
    -- Who provides the transport.
    organization_id        TEXT NOT NULL REFERENCES organizations (id),
    created_by             TEXT NOT NULL REFERENCES users (id),
    created_at             TIMESTAMP NOT NULL,
    updated_at             TIMESTAMP NOT NULL
);
CREATE INDEX trips_departs ON trips (departs_at, id);
CREATE INDEX trips_center_departs ON trips (center_id, departs_at, id);

-- One row per person on a trip. The persons of one household boarded by one
-- request share a group_id (the id the API returns for the boarding); a row
-- is never edited. A person takes at most one seat on a trip.
CREATE TABLE boardings (
    id           TEXT PRIMARY KEY NOT NULL,
    group_id     TEXT NOT NULL,
    trip_id      TEXT NOT NULL REFERENCES trips (id),
    household_id TEXT NOT NULL REFERENCES households (id),
    person_id    TEXT NOT NULL REFERENCES persons (id),
    boarded_at   TIMESTAMP NOT NULL,
    recorded_by  TEXT NOT NULL REFERENCES users (id),
    created_at   TIMESTAMP NOT NULL,
    UNIQUE (trip_id, person_id)
);
CREATE INDEX boardings_group ON boardings (group_id);
CREATE INDEX boardings_household ON boardings (household_id);

-- Medical referrals of wounded and sick people: where to, how urgent, how it
-- went. Deliberately coarse: no diagnosis or clinical text is stored.
CREATE TABLE referrals (
    id                TEXT PRIMARY KEY NOT NULL,
    household_id      TEXT NOT NULL REFERENCES households (id),
    person_id         TEXT NOT NULL REFERENCES persons (id),
    facility          TEXT NOT NULL,
    facility_province TEXT,
    category          TEXT NOT NULL CHECK (category IN ('injury', 'burn', 'illness', 'chronic_condition',
                                                        'pregnancy', 'other')),
    priority          TEXT NOT NULL CHECK (priority IN ('emergency', 'urgent', 'routine')),
    status            TEXT NOT NULL CHECK (status IN ('referred', 'accepted', 'completed', 'cancelled')),
    organization_id   TEXT REFERENCES organizations (id),
    referred_at       TIMESTAMP NOT NULL,
    version           INTEGER NOT NULL CHECK (version > 0),
    recorded_by       TEXT NOT NULL REFERENCES users (id),
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);
CREATE INDEX referrals_household ON referrals (household_id, referred_at);
CREATE INDEX referrals_referred ON referrals (referred_at, id);

-- Every status a referral has had, one row per version (version 1 is
-- `referred`, written with the referral). Append-only: the triggers below
-- refuse any UPDATE or DELETE, so the history cannot be edited.
CREATE TABLE referral_status_changes (
    referral_id TEXT NOT NULL REFERENCES referrals (id),
    version     INTEGER NOT NULL CHECK (version > 0),
    status      TEXT NOT NULL CHECK (status IN ('referred', 'accepted', 'completed', 'cancelled')),
    changed_at  TIMESTAMP NOT NULL,
    changed_by  TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (referral_id, version)
);
CREATE TRIGGER referral_status_changes_no_update BEFORE UPDATE ON referral_status_changes
BEGIN
    SELECT RAISE(ABORT, 'referral_status_changes is append-only');
END;
CREATE TRIGGER referral_status_changes_no_delete BEFORE DELETE ON referral_status_changes
BEGIN
    SELECT RAISE(ABORT, 'referral_status_changes is append-only');
END;
