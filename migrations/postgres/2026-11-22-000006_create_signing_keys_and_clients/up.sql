-- The keys tokens are signed with, shared by every replica. The private half is sealed by the
-- service (XChaCha20-Poly1305, key derived from JWT_SECRET_KEY) before it gets here: a dump of
-- this table cannot sign.
CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    algorithm      TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('next', 'current', 'previous', 'retired')),
    sealed_private BYTEA NOT NULL,
    -- The public half as an RFC 7517 JWK (JSON text).
    public_jwk     TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    activated_at   TIMESTAMP,
    deactivated_at TIMESTAMP,
    retired_at     TIMESTAMP
);
-- Exactly one key signs, and one waits: replicas rotating at once cannot make two.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (state) WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (state) WHERE state = 'next';

-- Machine accounts (OAuth 2.0 client_credentials); the secret as a keyed fingerprint (HMAC).
CREATE TABLE service_clients (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    secret_fingerprint TEXT NOT NULL,
    created_at         TIMESTAMP NOT NULL
);
