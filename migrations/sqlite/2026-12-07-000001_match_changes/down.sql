DROP TRIGGER households_match_update;
DROP TRIGGER persons_match_update;
DROP TRIGGER persons_match_insert;
DROP TABLE match_changes;
