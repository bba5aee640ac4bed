CREATE TABLE occupancy_changes_daily (
    site_id    TEXT NOT NULL REFERENCES sites (id),
    day        TIMESTAMP NOT NULL,
    shard      INTEGER NOT NULL,
    persons    BIGINT NOT NULL,
    households BIGINT NOT NULL,
    PRIMARY KEY (day, site_id, shard)
) WITHOUT ROWID;

INSERT INTO occupancy_changes_daily (site_id, day, shard, persons, households)
SELECT site_id, day, 0, persons, households
FROM (
    SELECT site_id, day,
           persons - COALESCE(LAG(persons) OVER w, 0) AS persons,
           households - COALESCE(LAG(households) OVER w, 0) AS households
    FROM occupancy_at_day_end
    WINDOW w AS (PARTITION BY site_id ORDER BY day)
) AS change
WHERE persons <> 0 OR households <> 0;

DROP TABLE occupancy_at_day_end;
