-- API keys for the REST API, and indexes for searching users by name prefix.

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    key_hash     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE UNIQUE INDEX api_keys_hash ON api_keys (key_hash);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE INDEX users_display_name ON users (lower(display_name));
CREATE INDEX users_first_name ON users (lower(first_name));
CREATE INDEX users_last_name ON users (lower(last_name));
