-- Whether the owner proved they read mail at the account's address.
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT false;

-- Single-use tokens sent by mail, as keyed fingerprints (HMAC) only. A newer token of a purpose
-- replaces the user's older one; the address it was sent to is what a verification proves.
CREATE TABLE mail_tokens (
    fingerprint TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL,
    email       TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL
);
CREATE INDEX mail_tokens_user_purpose_idx ON mail_tokens (user_id, purpose);
CREATE INDEX mail_tokens_expires_at_idx ON mail_tokens (expires_at);

-- Messages waiting for delivery. The message (recipient, subject, bodies) is sealed by the
-- service (XChaCha20-Poly1305): it may carry a token. A row is deleted once sent or given up.
-- A claim (claim_id, claimed_until) holds a row for one server until it ends.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    user_id         TEXT REFERENCES users (id) ON DELETE CASCADE,
    sealed_mail     BLOB NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    claim_id        TEXT,
    claimed_until   TIMESTAMP,
    created_at      TIMESTAMP NOT NULL
);
CREATE INDEX outbox_next_attempt_at_idx ON outbox (next_attempt_at);
