DROP TABLE consents;
ALTER TABLE sessions DROP COLUMN kind;
