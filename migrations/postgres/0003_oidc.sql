-- The OpenID Connect provider: clients, consents, authorization codes, refresh-token
-- families and issued access tokens (by jti, for revocation and introspection).

CREATE TABLE oidc_clients (
    id                         TEXT PRIMARY KEY,
    name                       TEXT NOT NULL,
    secret_hash                TEXT,
    previous_secret_hash       TEXT,
    previous_secret_expires_at BIGINT,
    is_public                  BIGINT NOT NULL,
    redirect_uris              TEXT NOT NULL,
    post_logout_redirect_uris  TEXT NOT NULL,
    require_pkce               BIGINT NOT NULL,
    allow_plain_pkce           BIGINT NOT NULL,
    signing_alg                TEXT NOT NULL,
    access_token_ttl           BIGINT NOT NULL,
    refresh_token_ttl          BIGINT NOT NULL,
    skip_consent               BIGINT NOT NULL,
    always_refresh             BIGINT NOT NULL,
    launch_url                 TEXT,
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL
);

CREATE TABLE oidc_client_groups (
    client_id TEXT NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    group_id  TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (client_id, group_id)
);

CREATE TABLE oidc_consents (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE oidc_codes (
    code_hash             TEXT PRIMARY KEY,
    client_id             TEXT NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    user_id               TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri          TEXT NOT NULL,
    scope                 TEXT NOT NULL,
    nonce                 TEXT,
    code_challenge        TEXT,
    code_challenge_method TEXT,
    session_hash          TEXT NOT NULL,
    auth_time             BIGINT NOT NULL,
    amr                   TEXT NOT NULL,
    expires_at            BIGINT NOT NULL,
    used_at               BIGINT
);

CREATE TABLE oidc_refresh_tokens (
    token_hash   TEXT PRIMARY KEY,
    family_id    TEXT NOT NULL,
    client_id    TEXT NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope        TEXT NOT NULL,
    nonce        TEXT,
    session_hash TEXT NOT NULL,
    auth_time    BIGINT NOT NULL,
    amr          TEXT NOT NULL,
    code_hash    TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    rotated_at   BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX oidc_refresh_family ON oidc_refresh_tokens (family_id);
CREATE INDEX oidc_refresh_session ON oidc_refresh_tokens (session_hash);
CREATE INDEX oidc_refresh_user ON oidc_refresh_tokens (user_id);

CREATE TABLE oidc_access_tokens (
    jti          TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    user_id      TEXT REFERENCES users (id) ON DELETE CASCADE,
    family_id    TEXT,
    code_hash    TEXT,
    session_hash TEXT,
    scope        TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX oidc_access_family ON oidc_access_tokens (family_id);
CREATE INDEX oidc_access_code ON oidc_access_tokens (code_hash);
CREATE INDEX oidc_access_expiry ON oidc_access_tokens (expires_at);
