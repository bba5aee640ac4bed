DROP TABLE tracing_matches;
DROP TABLE tracing_request_keys;
DROP TABLE tracing_requests;
ALTER TABLE centers DROP COLUMN contact;
ALTER TABLE persons DROP COLUMN tracing_consent;
