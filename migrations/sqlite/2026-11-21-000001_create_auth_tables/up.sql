-- Portable types only (TEXT ids, TIMESTAMP holding UTC): one schema.rs serves both backends.
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL,
    -- Uniqueness of usernames is case-insensitive: the index is on this lower-cased copy.
    username_lower TEXT NOT NULL,
    -- Stored lower-cased.
    email          TEXT NOT NULL,
    name           TEXT,
    role           TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    is_active      BOOLEAN NOT NULL,
    password_hash  TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX users_username_lower_key ON users (username_lower);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_created_at_idx ON users (created_at, id);

CREATE TABLE sessions (
    id                   TEXT PRIMARY KEY,
    user_id              TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    refresh_jti          TEXT NOT NULL,
    previous_refresh_jti TEXT,
    rotated_at           TIMESTAMP,
    created_at           TIMESTAMP NOT NULL,
    last_used_at         TIMESTAMP NOT NULL,
    expires_at           TIMESTAMP NOT NULL,
    revoked_at           TIMESTAMP,
    user_agent           TEXT,
    ip                   TEXT
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id, created_at);

-- Failed logins per login key: an account's id, or `login:<string>` for logins matching no account.
CREATE TABLE login_throttles (
    key          TEXT PRIMARY KEY,
    failed_count INTEGER NOT NULL,
    locked_until TIMESTAMP,
    updated_at   TIMESTAMP NOT NULL
);
