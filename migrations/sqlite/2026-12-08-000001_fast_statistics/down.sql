DROP TABLE occupancy_changes_daily;
DROP TABLE occupancy_changes;
DROP TABLE distributed_totals;
DROP TABLE arrival_counts_daily;
DELETE FROM arrival_counts WHERE dimension = 'reached';
CREATE TABLE arrival_counts_old (
    center_id  TEXT NOT NULL REFERENCES centers (id),
    bucket     TIMESTAMP NOT NULL,
    dimension  TEXT NOT NULL CHECK (dimension IN ('sex_age', 'origin', 'destination', 'size', 'need')),
    value      TEXT NOT NULL,
    shard      INTEGER NOT NULL,
    persons    BIGINT NOT NULL,
    households BIGINT NOT NULL,
    PRIMARY KEY (center_id, bucket, dimension, value, shard)
);
INSERT INTO arrival_counts_old SELECT * FROM arrival_counts;
DROP TABLE arrival_counts;
ALTER TABLE arrival_counts_old RENAME TO arrival_counts;
CREATE INDEX arrival_counts_bucket ON arrival_counts (bucket, dimension);
DROP INDEX placements_checked_out;
DROP INDEX placements_household;
ALTER TABLE households DROP COLUMN reached_transport_at;
ALTER TABLE households DROP COLUMN reached_fuel_at;
ALTER TABLE households DROP COLUMN reached_food_at;
ALTER TABLE households DROP COLUMN reached_housing_at;
