-- Requests per rate-limit key (action and client) in fixed windows, shared by every replica.
CREATE TABLE rate_limits (
    key          TEXT NOT NULL,
    window_start TIMESTAMP NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limits_window_start_idx ON rate_limits (window_start);
