-- Sign-ins on the hosted pages (contract section 10): a session of kind `browser` is the single
-- sign-on session behind the `auth_session` cookie; an `api` session holds tokens.
ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'api';
-- The OAuth client whose tokens a session holds: withdrawing a consent revokes them.
ALTER TABLE sessions ADD COLUMN client_id TEXT;
CREATE INDEX sessions_user_client_idx ON sessions (user_id, client_id);

-- What a person allowed a client (not first-party) to have: the scopes of their grant.
CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES service_clients (id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL,
    granted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
