-- The LDAP server face (src/ldap/).
--
-- POSIX numbers: every user has a uidNumber and every group a gidNumber, stored so
-- that they never change and are never given to anyone else. posix_ids holds the next
-- number of each kind; it only grows (a deleted user's number is not reused), and the
-- start of each range is a setting applied at start (Store::raise_posix_ids).
ALTER TABLE users ADD COLUMN uid_number INTEGER;
ALTER TABLE user_groups ADD COLUMN gid_number INTEGER;

UPDATE users SET uid_number = r.n
FROM (SELECT id, 9999 + ROW_NUMBER() OVER (ORDER BY created_at, id) AS n FROM users) AS r
WHERE r.id = users.id;
UPDATE user_groups SET gid_number = r.n
FROM (SELECT id, 49999 + ROW_NUMBER() OVER (ORDER BY created_at, id) AS n FROM user_groups) AS r
WHERE r.id = user_groups.id;

CREATE UNIQUE INDEX users_uid_number ON users (uid_number);
CREATE UNIQUE INDEX user_groups_gid_number ON user_groups (gid_number);

CREATE TABLE posix_ids (
    kind    TEXT PRIMARY KEY,
    next_id INTEGER NOT NULL
);
INSERT INTO posix_ids (kind, next_id) SELECT 'uid', COALESCE(MAX(uid_number) + 1, 10000) FROM users;
INSERT INTO posix_ids (kind, next_id) SELECT 'gid', COALESCE(MAX(gid_number) + 1, 50000) FROM user_groups;

-- Service accounts: cn=<name>,ou=services,<base>. They read the directory; when
-- ldap_account_groups has rows for one, it sees only those groups' members.
CREATE TABLE ldap_accounts (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    last_used_ip TEXT,
    disabled     INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX ldap_accounts_name ON ldap_accounts (lower(name));

CREATE TABLE ldap_account_groups (
    account_id TEXT NOT NULL REFERENCES ldap_accounts (id) ON DELETE CASCADE,
    group_id   TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (account_id, group_id)
);

-- App passwords: what a user binds to LDAP with (a passkey-only user has no other
-- password). Random, stored as a hash, optionally expiring, revocable.
CREATE TABLE app_passwords (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    last_used_ip TEXT,
    revoked_at   INTEGER
);
CREATE UNIQUE INDEX app_passwords_hash ON app_passwords (secret_hash);
CREATE INDEX app_passwords_user ON app_passwords (user_id);
