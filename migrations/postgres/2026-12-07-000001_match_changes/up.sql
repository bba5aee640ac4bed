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
-- A sequence number is taken when the row is written, not when its
-- transaction commits: a reader may see 7 before 6 commits. The index
-- keeps such gaps and looks for them again until they fill (or their
-- transaction is long gone).
CREATE TABLE match_changes (
    seq        BIGSERIAL PRIMARY KEY,
    person_id  TEXT NOT NULL,
    changed_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);
CREATE INDEX match_changes_changed_at ON match_changes (changed_at);

-- Inserts are logged once per statement (an import writes thousands of
-- persons in one), updates per row (a column list cannot go with a
-- transition table).
CREATE FUNCTION match_changes_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO match_changes (person_id) SELECT id FROM inserted;
    RETURN NULL;
END $$;
CREATE TRIGGER persons_match_insert AFTER INSERT ON persons
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION match_changes_inserted();

CREATE FUNCTION match_changes_person() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO match_changes (person_id) VALUES (NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER persons_match_update
    AFTER UPDATE OF given_name, family_name, patronymic, sex, birth_date, estimated_age,
        document_number, merged_into, household_id ON persons
    FOR EACH ROW EXECUTE FUNCTION match_changes_person();

CREATE FUNCTION match_changes_household() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO match_changes (person_id)
    SELECT id FROM persons WHERE household_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER households_match_update
    AFTER UPDATE OF center_id, arrived_at, origin_settlement, phone, size ON households
    FOR EACH ROW EXECUTE FUNCTION match_changes_household();

