-- Duplicates (issue 13). A person merged into another (the same person,
-- registered twice) keeps its record; it points at the one it was merged
-- into, and counts no more.
ALTER TABLE persons ADD COLUMN merged_into TEXT REFERENCES persons (id);
ALTER TABLE persons ADD COLUMN merged_at TIMESTAMP;
CREATE INDEX persons_merged_into ON persons (merged_into) WHERE merged_into IS NOT NULL;

-- The matching engine's candidate keys (derived from names, birth dates and
-- documents; rebuilt when their derivation changes). birth_year 0: unknown.
CREATE TABLE person_match_keys (
    match_key  TEXT NOT NULL,
    birth_year INTEGER NOT NULL,
    person_id  TEXT NOT NULL,
    PRIMARY KEY (match_key, birth_year, person_id)
);

-- Pairs of records that may be one person, and what a reviewer decided.
-- One row per pair of persons, ever: a pair decided distinct is never
-- proposed again.
CREATE TABLE duplicate_pairs (
    id               TEXT PRIMARY KEY NOT NULL,
    person_a         TEXT NOT NULL REFERENCES persons (id),
    person_b         TEXT NOT NULL REFERENCES persons (id),
    center_a         TEXT NOT NULL REFERENCES centers (id),
    center_b         TEXT NOT NULL REFERENCES centers (id),
    score            DOUBLE PRECISION NOT NULL,
    fields           TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'distinct', 'same_person')),
    version          INTEGER NOT NULL,
    proposed_at      TIMESTAMP NOT NULL,
    decided_at       TIMESTAMP,
    decided_by       TEXT REFERENCES users (id),
    reason           TEXT,
    merged_person_id TEXT REFERENCES persons (id),
    CHECK (person_a < person_b),
    UNIQUE (person_a, person_b)
);
CREATE INDEX duplicate_pairs_person_b ON duplicate_pairs (person_b);
CREATE INDEX duplicate_pairs_status ON duplicate_pairs (status, id);
CREATE INDEX duplicate_pairs_center_a ON duplicate_pairs (center_a, id);
CREATE INDEX duplicate_pairs_center_b ON duplicate_pairs (center_b, id);
