DROP TRIGGER households_match_update ON households;
DROP TRIGGER persons_match_update ON persons;
DROP TRIGGER persons_match_insert ON persons;
DROP FUNCTION match_changes_household();
DROP FUNCTION match_changes_person();
DROP FUNCTION match_changes_inserted();
DROP TABLE match_changes;
