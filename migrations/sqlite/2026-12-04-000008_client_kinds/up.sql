-- Clients of every kind (contract section 10): `service` (client_credentials), `confidential`
-- (a server-side app) and `public` (no secret: its fingerprint is ''). URI lists are JSON arrays.
ALTER TABLE service_clients ADD COLUMN kind TEXT NOT NULL DEFAULT 'service';
ALTER TABLE service_clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE service_clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE service_clients ADD COLUMN first_party BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE service_clients ADD COLUMN require_par BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE service_clients ADD COLUMN allow_password_grant BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE service_clients ADD COLUMN updated_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
UPDATE service_clients SET updated_at = created_at;
