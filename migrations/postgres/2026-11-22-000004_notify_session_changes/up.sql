-- Replicas remember session lookups (a session joined with its user and the user's lock) and
-- forget them when told on the `auth_session_changes` channel. A trigger tells, so the notice
-- is part of the writing transaction: it is sent at commit, and never for a rollback, whoever
-- wrote (a replica, a command-line tool, an operator in psql).
-- Payloads: `s:<session id>`, `u:<user id>` (the user, its lock, or all its sessions), `*`.
CREATE FUNCTION auth_notify_session_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    row_key TEXT;
BEGIN
    -- TRUNCATE, and deletes of sessions (housekeeping, a user's deletion): forget everything
    -- once per statement rather than once per row.
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM pg_notify('auth_session_changes', '*');
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'sessions' THEN
        row_key := 's:' || NEW.id;
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

-- New sessions and users are in no one's memory yet: changes only. Failed-login counts matter
-- only when they change a lock.
CREATE TRIGGER sessions_notify AFTER UPDATE ON sessions
    FOR EACH ROW EXECUTE FUNCTION auth_notify_session_change();
CREATE TRIGGER sessions_notify_delete AFTER DELETE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION auth_notify_session_change();
CREATE TRIGGER users_notify AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION auth_notify_session_change();
CREATE TRIGGER login_throttles_notify_insert AFTER INSERT ON login_throttles
    FOR EACH ROW WHEN (NEW.locked_until IS NOT NULL)
    EXECUTE FUNCTION auth_notify_session_change();
CREATE TRIGGER login_throttles_notify_update AFTER UPDATE ON login_throttles
    FOR EACH ROW WHEN (OLD.locked_until IS DISTINCT FROM NEW.locked_until)
    EXECUTE FUNCTION auth_notify_session_change();
CREATE TRIGGER login_throttles_notify_delete AFTER DELETE ON login_throttles
    FOR EACH ROW WHEN (OLD.locked_until IS NOT NULL)
    EXECUTE FUNCTION auth_notify_session_change();
CREATE TRIGGER sessions_notify_truncate AFTER TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION auth_notify_session_change();
CREATE TRIGGER users_notify_truncate AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION auth_notify_session_change();
CREATE TRIGGER login_throttles_notify_truncate AFTER TRUNCATE ON login_throttles
    FOR EACH STATEMENT EXECUTE FUNCTION auth_notify_session_change();

-- Also where writes arrive by logical replication (session_replication_role = replica): a
-- write nobody hears of would be served stale. The listeners check that all nine are enabled.
ALTER TABLE sessions ENABLE ALWAYS TRIGGER sessions_notify;
ALTER TABLE sessions ENABLE ALWAYS TRIGGER sessions_notify_delete;
ALTER TABLE sessions ENABLE ALWAYS TRIGGER sessions_notify_truncate;
ALTER TABLE users ENABLE ALWAYS TRIGGER users_notify;
ALTER TABLE users ENABLE ALWAYS TRIGGER users_notify_truncate;
ALTER TABLE login_throttles ENABLE ALWAYS TRIGGER login_throttles_notify_insert;
ALTER TABLE login_throttles ENABLE ALWAYS TRIGGER login_throttles_notify_update;
ALTER TABLE login_throttles ENABLE ALWAYS TRIGGER login_throttles_notify_delete;
ALTER TABLE login_throttles ENABLE ALWAYS TRIGGER login_throttles_notify_truncate;
