-- Quantities distributed per center, UTC day and item: what a range of
-- days sums (food energy over a coverage report's month), so that it reads
-- a row per day instead of one per hour; the hours at its edges still come
-- from `distributed_totals`. Kept by every distribution.
CREATE TABLE distributed_totals_daily (
    center_id TEXT NOT NULL REFERENCES centers (id),
    day       TIMESTAMP NOT NULL,
    item_id   TEXT NOT NULL REFERENCES items (id),
    shard     INTEGER NOT NULL,
    quantity  BIGINT NOT NULL,
    PRIMARY KEY (day, center_id, item_id, shard)
) WITHOUT ROWID;

INSERT INTO distributed_totals_daily (center_id, day, item_id, shard, quantity)
SELECT center_id, strftime('%Y-%m-%d 00:00:00', bucket), item_id, 0, SUM(quantity)
FROM distributed_totals
GROUP BY center_id, strftime('%Y-%m-%d 00:00:00', bucket), item_id
HAVING SUM(quantity) <> 0;
