-- The persons whose matching fields changed, in the order of the change
-- (issue 13): each API process keeps a matching index in memory
-- (src/matching/index.rs) and reads this log to catch up with what other
-- processes, imports and commands wrote. Written by triggers, so that no
-- write path can leave an index stale: a person registered or imported, a
-- correction of a name, sex, birth, document, a merge or its undoing, and a
-- correction of the household's arrival, origin, phone or size (which every
-- member's record carries). Rows older than a day are pruned by the daily
-- maintenance; a process that has not read the log for half that reloads
-- its index whole.
-- AUTOINCREMENT: a sequence number is never used twice, even once the rows
-- above it are pruned.
CREATE TABLE match_changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id  TEXT NOT NULL,
    changed_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX match_changes_changed_at ON match_changes (changed_at);

CREATE TRIGGER persons_match_insert AFTER INSERT ON persons
BEGIN
    INSERT INTO match_changes (person_id) VALUES (NEW.id);
END;

CREATE TRIGGER persons_match_update
AFTER UPDATE OF given_name, family_name, patronymic, sex, birth_date, estimated_age,
    document_number, merged_into, household_id ON persons
BEGIN
    INSERT INTO match_changes (person_id) VALUES (NEW.id);
END;

CREATE TRIGGER households_match_update
AFTER UPDATE OF center_id, arrived_at, origin_settlement, phone, size ON households
BEGIN
    INSERT INTO match_changes (person_id)
    SELECT id FROM persons WHERE household_id = NEW.id;
END;

