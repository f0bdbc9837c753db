-- Security events, newest read first. user_id has no foreign key: a deletion is audited too.
CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY,
    at         TIMESTAMP NOT NULL,
    event      TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    user_id    TEXT,
    actor_id   TEXT,
    ip         TEXT,
    request_id TEXT,
    detail     TEXT
);
CREATE INDEX audit_events_at_idx ON audit_events (at, id);
