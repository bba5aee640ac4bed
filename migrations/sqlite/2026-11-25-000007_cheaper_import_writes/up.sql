-- Name search keys, made cheaper to write (a bulk import writes one per name
-- word of every person):
-- * one key per name word, its Latin fold (NFC, lower case, transliterated),
--   where there were two (the word in its own script and its
--   transliteration); a query word is folded the same way, so a search still
--   finds Հովհաննիսյան by "Հովհ", "հովհ" or "hovh";
-- * WITHOUT ROWID: the rows live in their primary key's B-tree, not in a
--   rowid table plus a copy in the key's index;
-- * no index by person: a person's keys are deleted by recomputing them from
--   the names being replaced (the primary key finds each).
-- The keys are derived from persons by the application, which rebuilds them
-- on start when `derived_versions` says they were derived differently: the
-- table starts empty here and is filled on the next start.
DROP TABLE person_name_keys;
CREATE TABLE person_name_keys (
    name_key  TEXT NOT NULL,
    person_id TEXT NOT NULL,
    PRIMARY KEY (name_key, person_id)
) WITHOUT ROWID;

-- Which derivation each table of derived rows was last built with.
CREATE TABLE derived_versions (
    name       TEXT PRIMARY KEY NOT NULL,
    version    TEXT NOT NULL,
    rebuilt_at TIMESTAMP NOT NULL
);

-- An imported household's fingerprint (see src/imports.rs) moves from
-- `idempotency_keys` (a row and an index entry per household, and a lookup
-- on a two-column key) into its own row: one more column written with the
-- household, looked up by the household's primary key.
ALTER TABLE households ADD COLUMN import_fingerprint TEXT;
UPDATE households
   SET import_fingerprint = (SELECT k.request_hash FROM idempotency_keys k
                              WHERE k.scope = 'import' AND k.idempotency_key = households.id)
 WHERE id IN (SELECT idempotency_key FROM idempotency_keys WHERE scope = 'import');
DELETE FROM idempotency_keys WHERE scope = 'import';
