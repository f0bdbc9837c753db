-- Replicas remember session lookups (a session joined with its user and the user's lock) and
-- forget them when told on the `auth_session_changes` channel. A trigger tells, so the notice
-- is part of the writing transaction: it is sent at commit, and never for a rollback, whoever
-- wrote (a replica, a command-line tool, an operator in psql).
-- Payloads: `s:<session id>`, `u:<user id>` (the user, its lock, or all its sessions), `*`.
CREATE FUNCTION auth_notify_session_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    row_key TEXT;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('auth_session_changes', '*');
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'sessions' THEN
        row_key := 's:' || COALESCE(OLD.id, NEW.id);
    ELSIF TG_TABLE_NAME = 'users' THEN
        row_key := 'u:' || COALESCE(OLD.id, NEW.id);
    ELSE
        -- login_throttles: only an account's lock is part of a lookup.
        row_key := COALESCE(OLD.key, NEW.key);
        IF row_key LIKE 'login:%' THEN
            RETURN NULL;
        END IF;
        row_key := 'u:' || row_key;
    END IF;
    PERFORM pg_notify('auth_session_changes', row_key);
    RETURN NULL;
END
$$;

-- New sessions and users are in no one's memory yet: updates and deletes only.
CREATE TRIGGER sessions_notify AFTER UPDATE OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION auth_notify_session_change();
CREATE TRIGGER users_notify AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION auth_notify_session_change();
CREATE TRIGGER login_throttles_notify AFTER INSERT OR UPDATE OR DELETE ON login_throttles
    FOR EACH ROW EXECUTE FUNCTION auth_notify_session_change();
CREATE TRIGGER sessions_notify_truncate AFTER TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION auth_notify_session_change();
CREATE TRIGGER users_notify_truncate AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION auth_notify_session_change();
CREATE TRIGGER login_throttles_notify_truncate AFTER TRUNCATE ON login_throttles
    FOR EACH STATEMENT EXECUTE FUNCTION auth_notify_session_change();
