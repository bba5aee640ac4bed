-- Arrival statistics kept current inside every registration and correction
-- transaction, so that dashboards read a few hundred rows instead of scanning
-- every person. One row per center, UTC hour of arrival, dimension and value:
--   sex_age      'female|18-59'  persons
--   origin       settlement      persons, households
--   destination  province or ''  persons, households
--   size         '4'             persons, households
--   need         'SM-WD'         persons
-- Summed over `shard`, the table always equals what `stats::expected`
-- computes from the records. On PostgreSQL each transaction adds to one of
-- several shards, so concurrent registrations at the same center and hour do
-- not all queue for one row lock; SQLite has one writer and uses shard 0.
CREATE TABLE arrival_counts (
    center_id  TEXT NOT NULL REFERENCES centers (id),
    bucket     TIMESTAMP NOT NULL,
    dimension  TEXT NOT NULL CHECK (dimension IN ('sex_age', 'origin', 'destination', 'size', 'need')),
    value      TEXT NOT NULL,
    shard      INTEGER NOT NULL,
    persons    BIGINT NOT NULL,
    households BIGINT NOT NULL,
    PRIMARY KEY (center_id, bucket, dimension, value, shard)
);
CREATE INDEX arrival_counts_bucket ON arrival_counts (bucket, dimension);

-- Per center and hour: the totals every dashboard poll needs (the sum of the
-- size and sex_age rows above), so that a summary or a 30-day series reads one
-- row per center-hour.
CREATE TABLE arrival_totals (
    center_id  TEXT NOT NULL REFERENCES centers (id),
    bucket     TIMESTAMP NOT NULL,
    shard      INTEGER NOT NULL,
    persons    BIGINT NOT NULL,
    households BIGINT NOT NULL,
    female     BIGINT NOT NULL,
    male       BIGINT NOT NULL,
    other      BIGINT NOT NULL,
    unknown    BIGINT NOT NULL,
    PRIMARY KEY (center_id, bucket, shard)
);
CREATE INDEX arrival_totals_bucket ON arrival_totals (bucket);

-- Every state a household had before a correction: the audit trail, and what
-- lets statistics report figures as they stood at a past instant.
CREATE TABLE household_revisions (
    household_id TEXT NOT NULL REFERENCES households (id),
    version      INTEGER NOT NULL CHECK (version > 0),
    snapshot     TEXT NOT NULL,
    replaced_at  TIMESTAMP NOT NULL,
    replaced_by  TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (household_id, version)
);
CREATE INDEX household_revisions_replaced ON household_revisions (replaced_at);
