-- Clients of every kind (contract section 10): `service` (client_credentials), `confidential`
-- (a server-side app) and `public` (no secret: its fingerprint is ''). URI lists are JSON arrays.
ALTER TABLE service_clients
    ADD COLUMN kind                      TEXT NOT NULL DEFAULT 'service',
    ADD COLUMN redirect_uris             TEXT NOT NULL DEFAULT '[]',
    ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]',
    ADD COLUMN first_party               BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN require_par               BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN allow_password_grant      BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN updated_at                TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
UPDATE service_clients SET updated_at = created_at;
ALTER TABLE service_clients
    ADD CONSTRAINT service_clients_kind CHECK (kind IN ('service', 'confidential', 'public'));
