DROP TABLE match_keys_pending;
