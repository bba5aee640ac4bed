-- Who is present at each site at the end of each UTC day on which that
-- changed: the running sum of the daily changes it replaces. Occupancy at an
-- instant reads one row per site (the last day ended before it, found
-- through the primary key) instead of summing every day before it, so it
-- costs the same whether a site saw a change on ten days or on every day.
-- Writers keep it in their transaction, under the site's row lock that
-- taking or releasing beds holds.
CREATE TABLE occupancy_at_day_end (
    site_id    TEXT NOT NULL REFERENCES sites (id),
    day        TIMESTAMP NOT NULL,
    persons    BIGINT NOT NULL,
    households BIGINT NOT NULL,
    PRIMARY KEY (site_id, day)
) WITHOUT ROWID;

INSERT INTO occupancy_at_day_end (site_id, day, persons, households)
SELECT site_id, day,
       CAST(SUM(SUM(persons)) OVER (PARTITION BY site_id ORDER BY day) AS BIGINT),
       CAST(SUM(SUM(households)) OVER (PARTITION BY site_id ORDER BY day) AS BIGINT)
FROM occupancy_changes_daily
GROUP BY site_id, day;

DROP TABLE occupancy_changes_daily;
