DROP TABLE consents;
DROP INDEX sessions_user_client_idx;
ALTER TABLE sessions DROP COLUMN client_id;
ALTER TABLE sessions DROP COLUMN kind;
