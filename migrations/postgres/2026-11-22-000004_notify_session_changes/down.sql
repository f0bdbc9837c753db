DROP TRIGGER login_throttles_notify_truncate ON login_throttles;
DROP TRIGGER users_notify_truncate ON users;
DROP TRIGGER sessions_notify_truncate ON sessions;
DROP TRIGGER login_throttles_notify ON login_throttles;
DROP TRIGGER users_notify ON users;
DROP TRIGGER sessions_notify ON sessions;
DROP FUNCTION auth_notify_session_change();
