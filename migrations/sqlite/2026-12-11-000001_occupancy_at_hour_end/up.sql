-- Who is present at each site at the end of each UTC hour in which that
-- changed: the running sum of the hourly changes, replacing both them and
-- the day ends. Occupancy at an instant reads one row per site (the last
-- hour ended before it, found through the primary key) and the placements
-- of its last partial hour, so it costs the same whether the sites saw a
-- change in a few of the day's hours or in every one. Writers keep it in
-- their transaction, under the site's row lock that taking or releasing
-- beds holds.
CREATE TABLE occupancy_at_hour_end (
    site_id    TEXT NOT NULL REFERENCES sites (id),
    hour       TIMESTAMP NOT NULL,
    persons    BIGINT NOT NULL,
    households BIGINT NOT NULL,
    PRIMARY KEY (site_id, hour)
) WITHOUT ROWID;

INSERT INTO occupancy_at_hour_end (site_id, hour, persons, households)
SELECT site_id, bucket,
       CAST(SUM(SUM(persons)) OVER (PARTITION BY site_id ORDER BY bucket) AS BIGINT),
       CAST(SUM(SUM(households)) OVER (PARTITION BY site_id ORDER BY bucket) AS BIGINT)
FROM occupancy_changes
GROUP BY site_id, bucket;

DROP TABLE occupancy_changes;
DROP TABLE occupancy_at_day_end;
