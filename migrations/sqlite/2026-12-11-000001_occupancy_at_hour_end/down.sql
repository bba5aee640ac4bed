CREATE TABLE occupancy_changes (
    site_id    TEXT NOT NULL REFERENCES sites (id),
    bucket     TIMESTAMP NOT NULL,
    shard      INTEGER NOT NULL,
    persons    BIGINT NOT NULL,
    households BIGINT NOT NULL,
    PRIMARY KEY (bucket, site_id, shard)
) WITHOUT ROWID;
CREATE TABLE occupancy_at_day_end (
    site_id    TEXT NOT NULL REFERENCES sites (id),
    day        TIMESTAMP NOT NULL,
    persons    BIGINT NOT NULL,
    households BIGINT NOT NULL,
    PRIMARY KEY (site_id, day)
) WITHOUT ROWID;

INSERT INTO occupancy_changes (site_id, bucket, shard, persons, households)
SELECT site_id, hour, 0, persons, households
FROM (
    SELECT site_id, hour,
           persons - COALESCE(LAG(persons) OVER w, 0) AS persons,
           households - COALESCE(LAG(households) OVER w, 0) AS households
    FROM occupancy_at_hour_end
    WINDOW w AS (PARTITION BY site_id ORDER BY hour)
) AS change
WHERE persons <> 0 OR households <> 0;

-- Each day's end is its last hour's.
INSERT INTO occupancy_at_day_end (site_id, day, persons, households)
SELECT site_id, day, persons, households
FROM (
    SELECT site_id, strftime('%Y-%m-%d 00:00:00', hour) AS day, persons, households,
           ROW_NUMBER() OVER (PARTITION BY site_id, strftime('%Y-%m-%d 00:00:00', hour) ORDER BY hour DESC) AS latest
    FROM occupancy_at_hour_end
) AS hour_end
WHERE latest = 1;

DROP TABLE occupancy_at_hour_end;
