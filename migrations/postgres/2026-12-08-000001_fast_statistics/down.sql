DROP TABLE occupancy_changes_daily;
DROP TABLE occupancy_changes;
DROP TABLE distributed_totals;
DROP TABLE arrival_counts_daily;
DROP INDEX IF EXISTS arrival_counts_dimension;
DELETE FROM arrival_counts WHERE dimension = 'reached';
ALTER TABLE arrival_counts DROP CONSTRAINT arrival_counts_dimension_check;
ALTER TABLE arrival_counts ADD CONSTRAINT arrival_counts_dimension_check
    CHECK (dimension IN ('sex_age', 'origin', 'destination', 'size', 'need'));
DROP INDEX placements_checked_out;
DROP INDEX placements_household;
ALTER TABLE households
    DROP COLUMN reached_housing_at,
    DROP COLUMN reached_food_at,
    DROP COLUMN reached_fuel_at,
    DROP COLUMN reached_transport_at;
