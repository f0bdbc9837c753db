-- Authorization codes (contract section 10), as keyed fingerprints (HMAC) only, with all they are
-- bound to. `session_id` is set by the code's one use (the session its tokens belong to);
-- `replayed` by a use after that, which revokes that session. Kept a day past expiry, so that a
-- late replay still finds what to revoke.
CREATE TABLE authorization_codes (
    fingerprint     TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES service_clients (id) ON DELETE CASCADE,
    redirect_uri    TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    browser_session TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    code_challenge  TEXT NOT NULL,
    nonce           TEXT,
    auth_time       TIMESTAMP NOT NULL,
    amr             TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL,
    session_id      TEXT,
    replayed        BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX authorization_codes_expires_at_idx ON authorization_codes (expires_at);
