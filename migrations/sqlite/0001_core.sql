-- The core model: users, groups, custom claims, settings, signing keys, audit log.
-- Times are unix seconds; ids are UUID v7 text; booleans are 0/1 integers so that
-- the same queries run unchanged on PostgreSQL.

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL,
    email          TEXT,
    email_verified INTEGER NOT NULL DEFAULT 0,
    first_name     TEXT NOT NULL DEFAULT '',
    last_name      TEXT NOT NULL DEFAULT '',
    display_name   TEXT NOT NULL DEFAULT '',
    is_admin       INTEGER NOT NULL DEFAULT 0,
    disabled       INTEGER NOT NULL DEFAULT 0,
    locale         TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE user_groups (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX user_groups_name_key ON user_groups (lower(name));

CREATE TABLE group_members (
    group_id   TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE user_claims (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);

CREATE TABLE group_claims (
    group_id TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (group_id, key)
);

CREATE TABLE app_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Facts about this installation that are not user settings (e.g. the encryption key check).
CREATE TABLE instance_meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    alg            TEXT NOT NULL,
    public_jwk     TEXT NOT NULL,
    private_sealed BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    retired_at     INTEGER,
    -- after this time no token signed by the key is still valid: it leaves the JWKS
    expires_at     INTEGER
);

CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL,
    event       TEXT NOT NULL,
    actor_id    TEXT,
    subject     TEXT,
    ip          TEXT,
    user_agent  TEXT,
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_time ON audit_log (created_at, id);
CREATE INDEX audit_log_event ON audit_log (event, created_at);
CREATE INDEX audit_log_actor ON audit_log (actor_id, created_at);
