DELETE FROM service_clients WHERE kind <> 'service';
ALTER TABLE service_clients
    DROP CONSTRAINT service_clients_kind,
    DROP COLUMN kind,
    DROP COLUMN redirect_uris,
    DROP COLUMN post_logout_redirect_uris,
    DROP COLUMN first_party,
    DROP COLUMN require_par,
    DROP COLUMN allow_password_grant,
    DROP COLUMN updated_at;
