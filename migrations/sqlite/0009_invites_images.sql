-- Invite links for sign-up: a hashed token, an expiry, a usage limit, and the groups
-- a person who signs up with it joins.
CREATE TABLE invites (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    note        TEXT NOT NULL DEFAULT '',
    created_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    max_uses    BIGINT NOT NULL,
    uses        BIGINT NOT NULL DEFAULT 0,
    revoked_at  BIGINT
);

CREATE TABLE invite_groups (
    invite_id TEXT NOT NULL REFERENCES invites (id) ON DELETE CASCADE,
    group_id  TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (invite_id, group_id)
);

-- Uploaded pictures, already re-encoded: the application logo, client logos and
-- profile pictures. `owner` is 'app', 'client:<id>' or 'user:<id>'.
CREATE TABLE images (
    owner        TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    bytes        BLOB NOT NULL,
    etag         TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);
