DELETE FROM service_clients WHERE kind <> 'service';
ALTER TABLE service_clients DROP COLUMN kind;
ALTER TABLE service_clients DROP COLUMN redirect_uris;
ALTER TABLE service_clients DROP COLUMN post_logout_redirect_uris;
ALTER TABLE service_clients DROP COLUMN first_party;
ALTER TABLE service_clients DROP COLUMN require_par;
ALTER TABLE service_clients DROP COLUMN allow_password_grant;
ALTER TABLE service_clients DROP COLUMN updated_at;
