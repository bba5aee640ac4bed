DROP TABLE person_name_keys_recent;
