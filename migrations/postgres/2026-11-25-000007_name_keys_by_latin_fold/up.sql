-- Name search keys, made cheaper to write (a bulk import writes one per name
-- word of every person):
-- * one key per name word, its Latin fold (NFC, lower case, transliterated),
--   where there were two (the word in its own script and its
--   transliteration); a query word is folded the same way, so a search still
--   finds Հովհաննիսյան by "Հովհ", "հովհ" or "hovh";
-- * no index by person: a person's keys are deleted by recomputing them from
--   the names being replaced (the primary key finds each).
-- The keys are derived from persons by the application, which rebuilds them
-- on start when `derived_versions` says they were derived differently: the
-- table is emptied here and filled on the next start.
DROP INDEX person_name_keys_person;
TRUNCATE person_name_keys;

-- Which derivation each table of derived rows was last built with.
CREATE TABLE derived_versions (
    name       TEXT PRIMARY KEY,
    version    TEXT NOT NULL,
    rebuilt_at TIMESTAMP NOT NULL
);
