-- Statistics that stay fast at a million persons (issue 14): everything the
-- coverage and breakdown reads need is kept current in the write transaction.

-- When each kind of assistance first reached a household (the earliest
-- placement check-in, food or fuel distribution, departure of a trip it
-- boarded). Kept by the writes that record assistance; what the coverage
-- statistics count.
ALTER TABLE households
    ADD COLUMN reached_housing_at TIMESTAMP,
    ADD COLUMN reached_food_at TIMESTAMP,
    ADD COLUMN reached_fuel_at TIMESTAMP,
    ADD COLUMN reached_transport_at TIMESTAMP;

-- A household's placements, earliest first (its first check-in; its history).
CREATE INDEX placements_household ON placements (household_id, checked_in_at);
-- Check-outs by time (occupancy in the last hour before an instant).
CREATE INDEX placements_checked_out ON placements (checked_out_at);

UPDATE households h SET
    reached_housing_at = r.housing,
    reached_food_at = r.food,
    reached_fuel_at = r.fuel,
    reached_transport_at = r.transport
FROM (
    SELECT h.id,
           (SELECT MIN(p.checked_in_at) FROM placements p WHERE p.household_id = h.id) AS housing,
           (SELECT MIN(d.distributed_at) FROM distributions d JOIN items i ON i.id = d.item_id
            WHERE d.household_id = h.id AND i.sector = 'food') AS food,
           (SELECT MIN(d.distributed_at) FROM distributions d JOIN items i ON i.id = d.item_id
            WHERE d.household_id = h.id AND i.sector = 'fuel') AS fuel,
           (SELECT MIN(t.departs_at) FROM boardings b JOIN trips t ON t.id = b.trip_id
            WHERE b.household_id = h.id) AS transport
    FROM households h
) r
WHERE r.id = h.id
  AND (r.housing IS NOT NULL OR r.food IS NOT NULL OR r.fuel IS NOT NULL
       OR r.transport IS NOT NULL);

-- arrival_counts gains the dimension `reached` (value: housing, food, fuel or
-- transport): households, and their persons, first reached by that kind of
-- assistance, in the hour it happened (or the hour they arrived, if later).
ALTER TABLE arrival_counts DROP CONSTRAINT arrival_counts_dimension_check;
ALTER TABLE arrival_counts ADD CONSTRAINT arrival_counts_dimension_check
    CHECK (dimension IN ('sex_age', 'origin', 'destination', 'size', 'need', 'reached'));
-- One dimension over a range of hours (a coverage window, a breakdown's
-- partial days) reads only that dimension's rows.
CREATE INDEX arrival_counts_dimension ON arrival_counts (dimension, bucket);

-- The households counted (those with a member not merged into another
-- record), as the statistics count them.
INSERT INTO arrival_counts (center_id, bucket, dimension, value, shard, persons, households)
SELECT center_id, date_trunc('hour', reached), 'reached', sector, 0, SUM(counted), COUNT(*)
FROM (
    SELECT h.center_id, s.sector,
           GREATEST(h.arrived_at, CASE s.sector
               WHEN 'housing' THEN h.reached_housing_at
               WHEN 'food' THEN h.reached_food_at
               WHEN 'fuel' THEN h.reached_fuel_at
               ELSE h.reached_transport_at END) AS reached,
           CASE s.sector
               WHEN 'housing' THEN h.reached_housing_at
               WHEN 'food' THEN h.reached_food_at
               WHEN 'fuel' THEN h.reached_fuel_at
               ELSE h.reached_transport_at END AS first,
           (SELECT COUNT(*) FROM persons p
            WHERE p.household_id = h.id AND p.merged_into IS NULL) AS counted
    FROM households h
    CROSS JOIN (VALUES ('housing'), ('food'), ('fuel'), ('transport')) AS s (sector)
) AS reach
WHERE first IS NOT NULL AND counted > 0
GROUP BY center_id, date_trunc('hour', reached), sector;

-- The same counts per UTC day, so that a breakdown over weeks or over all
-- time reads a row per day instead of one per hour (the hourly rows remain
-- for the partial days at the edges of a range). Sharded as arrival_counts.
CREATE TABLE arrival_counts_daily (
    center_id  TEXT NOT NULL REFERENCES centers (id),
    day        TIMESTAMP NOT NULL,
    dimension  TEXT NOT NULL
        CHECK (dimension IN ('sex_age', 'origin', 'destination', 'size', 'need', 'reached')),
    value      TEXT NOT NULL,
    shard      INTEGER NOT NULL,
    persons    BIGINT NOT NULL,
    households BIGINT NOT NULL,
    PRIMARY KEY (center_id, day, dimension, value, shard)
);
CREATE INDEX arrival_counts_daily_dimension ON arrival_counts_daily (dimension, day);

INSERT INTO arrival_counts_daily (center_id, day, dimension, value, shard, persons, households)
SELECT center_id, date_trunc('day', bucket), dimension, value, 0, SUM(persons), SUM(households)
FROM arrival_counts
GROUP BY center_id, date_trunc('day', bucket), dimension, value;

-- Quantities distributed per center, UTC hour and item (what food energy
-- handed out is summed from), kept by every distribution. Sharded as
-- arrival_counts.
CREATE TABLE distributed_totals (
    center_id TEXT NOT NULL REFERENCES centers (id),
    bucket    TIMESTAMP NOT NULL,
    item_id   TEXT NOT NULL REFERENCES items (id),
    shard     INTEGER NOT NULL,
    quantity  BIGINT NOT NULL,
    PRIMARY KEY (center_id, bucket, item_id, shard)
);
CREATE INDEX distributed_totals_bucket ON distributed_totals (bucket);

INSERT INTO distributed_totals (center_id, bucket, item_id, shard, quantity)
SELECT center_id, date_trunc('hour', distributed_at), item_id, 0, SUM(quantity)
FROM distributions
GROUP BY center_id, date_trunc('hour', distributed_at), item_id;

-- How the persons and households present at each site changed, per UTC
-- hour and per UTC day: + at a check-in, - at a check-out. Occupancy at an
-- instant is the days before it, the hours of its day before its hour, and
-- the placements of its last hour.
CREATE TABLE occupancy_changes (
    site_id    TEXT NOT NULL REFERENCES sites (id),
    bucket     TIMESTAMP NOT NULL,
    shard      INTEGER NOT NULL,
    persons    BIGINT NOT NULL,
    households BIGINT NOT NULL,
    PRIMARY KEY (site_id, bucket, shard)
);
CREATE TABLE occupancy_changes_daily (
    site_id    TEXT NOT NULL REFERENCES sites (id),
    day        TIMESTAMP NOT NULL,
    shard      INTEGER NOT NULL,
    persons    BIGINT NOT NULL,
    households BIGINT NOT NULL,
    PRIMARY KEY (site_id, day, shard)
);
CREATE INDEX occupancy_changes_bucket ON occupancy_changes (bucket);
CREATE INDEX occupancy_changes_daily_day ON occupancy_changes_daily (day);

INSERT INTO occupancy_changes (site_id, bucket, shard, persons, households)
SELECT site_id, bucket, 0, SUM(persons), SUM(households)
FROM (
    SELECT site_id, date_trunc('hour', checked_in_at) AS bucket,
           persons::BIGINT AS persons, 1::BIGINT AS households
    FROM placements
    UNION ALL
    SELECT site_id, date_trunc('hour', checked_out_at), -persons::BIGINT, -1::BIGINT
    FROM placements WHERE checked_out_at IS NOT NULL
) AS change
GROUP BY site_id, bucket
HAVING SUM(persons) <> 0 OR SUM(households) <> 0;

INSERT INTO occupancy_changes_daily (site_id, day, shard, persons, households)
SELECT site_id, date_trunc('day', bucket), 0, SUM(persons), SUM(households)
FROM occupancy_changes
GROUP BY site_id, date_trunc('day', bucket)
HAVING SUM(persons) <> 0 OR SUM(households) <> 0;
