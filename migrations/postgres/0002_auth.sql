-- Authentication: sessions, passkeys, passwords, TOTP, login links, throttling,
-- known devices and in-flight WebAuthn ceremonies. Everything that must survive a
-- restart is a row; every bearer secret is stored only as its SHA-256.

ALTER TABLE users ADD COLUMN password_hash TEXT;
ALTER TABLE users ADD COLUMN password_changed_at BIGINT;
ALTER TABLE users ADD COLUMN totp_secret_sealed BYTEA;
ALTER TABLE users ADD COLUMN totp_pending_sealed BYTEA;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;

CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    auth_time    BIGINT NOT NULL,
    auth_method  TEXT NOT NULL,
    amr          TEXT NOT NULL,
    ip           TEXT,
    user_agent   TEXT,
    new_device   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE passkeys (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id  TEXT NOT NULL,
    name           TEXT NOT NULL,
    aaguid         TEXT NOT NULL,
    backup_eligible BIGINT NOT NULL,
    backup_state   BIGINT NOT NULL,
    transports     TEXT NOT NULL,
    credential     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT
);
CREATE UNIQUE INDEX passkeys_credential_id ON passkeys (credential_id);
CREATE INDEX passkeys_user ON passkeys (user_id);

CREATE TABLE webauthn_ceremonies (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    state      TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE login_codes (
    code_hash  TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX login_codes_user ON login_codes (user_id);

-- A second factor still to give after a correct password.
CREATE TABLE pending_logins (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    next_path  TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE auth_throttle (
    key             TEXT PRIMARY KEY,
    failures        BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    locked_until    BIGINT NOT NULL
);

CREATE TABLE known_devices (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    PRIMARY KEY (user_id, fingerprint)
);
