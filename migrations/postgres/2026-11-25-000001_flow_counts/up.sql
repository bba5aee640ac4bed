-- Border flow counts (in the style of IOM DTM flow monitoring): how many
-- people and vehicles crossed at a center, in one direction, during a window.
-- Kept in lockstep with ../../sqlite/2026-11-25-000001_flow_counts/up.sql.
--
-- Windows of one center and direction must not overlap (no double counting).
-- That rule spans rows, so no constraint expresses it on both backends: the
-- writer locks the center row, checks, then inserts (see src/flows.rs).

CREATE TABLE flow_counts (
    id           TEXT PRIMARY KEY NOT NULL,
    center_id    TEXT NOT NULL REFERENCES centers (id),
    window_start TIMESTAMP NOT NULL,
    window_end   TIMESTAMP NOT NULL,
    direction    TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    people       INTEGER NOT NULL CHECK (people >= 0),
    vehicles     INTEGER CHECK (vehicles >= 0),
    -- JSON array of {sex, age_band, people}, or NULL when not broken down.
    by_sex_age   TEXT,
    version      INTEGER NOT NULL CHECK (version > 0),
    recorded_by  TEXT NOT NULL REFERENCES users (id),
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    CHECK (window_end > window_start)
);
CREATE INDEX flow_counts_center_direction_start ON flow_counts (center_id, direction, window_start);
CREATE INDEX flow_counts_window_end ON flow_counts (window_end);

-- Append-only history of corrections: the record as it was before each one.
CREATE TABLE flow_count_corrections (
    flow_count_id TEXT NOT NULL REFERENCES flow_counts (id),
    -- The version the correction produced.
    version       INTEGER NOT NULL CHECK (version > 1),
    reason        TEXT NOT NULL,
    -- JSON of the flow count before the correction.
    previous      TEXT NOT NULL,
    corrected_by  TEXT NOT NULL REFERENCES users (id),
    corrected_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (flow_count_id, version)
);
