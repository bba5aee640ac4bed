DROP TABLE idempotency_keys;
DROP TABLE person_name_keys;
DROP TABLE person_needs;
DROP TABLE persons;
DROP TABLE households;
DROP TABLE user_centers;
DROP TABLE users;
DROP TABLE centers;
