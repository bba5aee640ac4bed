-- Persons whose candidate keys (person_match_keys) are still to be written.
-- A registration only lists its members here: writing their keys at once
-- cost a single SQLite writer a third of its throughput at a million
-- persons (each key row lands on a page of its own in a large table), and
-- a registration is matched through the in-memory index, not the table.
-- The server writes the keys of the persons listed, a batch at a time in
-- key order, every second; the scan, an import and a new tracing request,
-- which read the table, first write whatever is listed.
CREATE TABLE match_keys_pending (
    person_id TEXT PRIMARY KEY NOT NULL
);
