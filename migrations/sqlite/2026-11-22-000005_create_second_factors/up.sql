-- A user's TOTP factor: pending (enabled_at NULL) until a first code confirms it. The secret is
-- sealed by the service (XChaCha20-Poly1305) before it gets here.
CREATE TABLE totp_factors (
    user_id       TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret BLOB NOT NULL,
    enabled_at    TIMESTAMP,
    -- The last RFC 6238 time step a code was accepted for: each step counts once.
    last_step     BIGINT,
    created_at    TIMESTAMP NOT NULL
);

-- Recovery codes, as keyed fingerprints (HMAC) only.
CREATE TABLE recovery_codes (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    spent_at    TIMESTAMP,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, fingerprint)
);

-- Logins whose password was right, waiting for a second factor; the token as a fingerprint.
CREATE TABLE mfa_challenges (
    token_fingerprint TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- A keyed fingerprint of the password hash the first step verified.
    password_fingerprint TEXT NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    expires_at        TIMESTAMP NOT NULL
);
CREATE INDEX mfa_challenges_expires_at_idx ON mfa_challenges (expires_at);

-- Kept with the factor (set when it is confirmed, cleared when it is removed), so that a login
-- and every session lookup know without another query.
ALTER TABLE users ADD COLUMN mfa_enabled BOOLEAN NOT NULL DEFAULT false;
-- Whether the session's login proved a second factor (the `amr` of its access tokens).
ALTER TABLE sessions ADD COLUMN mfa BOOLEAN NOT NULL DEFAULT false;
