-- Organizations and housing: who provides what, where people sleep.
-- Kept in lockstep with ../../sqlite/2026-11-25-000004_housing/up.sql.

-- Donors and implementing agencies; every receipt, distribution and site names one.
CREATE TABLE organizations (
    id         TEXT PRIMARY KEY NOT NULL,
    code       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('government', 'un_agency', 'red_cross_red_crescent',
                                             'ngo', 'donor', 'private_sector', 'other')),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- Places where households stay. `occupied_beds` is the number of persons in
-- open placements, kept by the same transaction that opens or closes one: a
-- placement takes its beds with a conditional UPDATE (occupied_beds + n <=
-- capacity_beds), which holds under concurrent requests from any number of
-- server processes; the CHECK below is the last line of defence.
CREATE TABLE sites (
    id              TEXT PRIMARY KEY NOT NULL,
    code            TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('collective_center', 'hotel', 'dormitory', 'host_family',
                                                  'rented_apartment', 'other')),
    province        TEXT NOT NULL,
    settlement      TEXT,
    capacity_beds   INTEGER NOT NULL CHECK (capacity_beds >= 0),
    floor_area_m2   DOUBLE PRECISION CHECK (floor_area_m2 > 0),
    -- Who runs or pays for it; a government organization makes it state-provided accommodation.
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    occupied_beds   INTEGER NOT NULL DEFAULT 0 CHECK (occupied_beds >= 0 AND occupied_beds <= capacity_beds),
    version         INTEGER NOT NULL CHECK (version > 0),
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
CREATE INDEX sites_province ON sites (province);

-- A household's stay at a site. Rows are never edited except to close them
-- once (check-out or move); a move closes one and opens the next, linked by
-- moved_from. A household has at most one open placement.
CREATE TABLE placements (
    id              TEXT PRIMARY KEY NOT NULL,
    household_id    TEXT NOT NULL REFERENCES households (id),
    site_id         TEXT NOT NULL REFERENCES sites (id),
    persons         INTEGER NOT NULL CHECK (persons > 0),
    checked_in_at   TIMESTAMP NOT NULL,
    checked_out_at  TIMESTAMP,
    checkout_reason TEXT CHECK (checkout_reason IN ('left', 'moved', 'other')),
    moved_from      TEXT REFERENCES placements (id),
    placed_by       TEXT NOT NULL REFERENCES users (id),
    checked_out_by  TEXT REFERENCES users (id),
    created_at      TIMESTAMP NOT NULL,
    CHECK ((checked_out_at IS NULL) = (checkout_reason IS NULL)),
    CHECK (checked_out_at IS NULL OR checked_out_at >= checked_in_at)
);
CREATE UNIQUE INDEX placements_one_open_per_household ON placements (household_id) WHERE checked_out_at IS NULL;
CREATE INDEX placements_site ON placements (site_id, checked_in_at);
CREATE INDEX placements_checked_in ON placements (checked_in_at);
