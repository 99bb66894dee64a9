-- Users and groups synced from an upstream directory (src/directory/), keyed by the
-- entry's unique id there (entryUUID, objectGUID, ipaUniqueID) so that a rename
-- upstream renames here. NULL: made in Latchkey.
ALTER TABLE users ADD COLUMN external_id TEXT;
-- The entry's DN at the last sync (shown in the console: where to change the user).
ALTER TABLE users ADD COLUMN external_dn TEXT;
-- 1 when the sync disabled the user because it left the directory: only those it
-- enables again when they come back (an admin's own "disable" stays).
ALTER TABLE users ADD COLUMN directory_disabled INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX users_external_id_key ON users (external_id);

ALTER TABLE user_groups ADD COLUMN external_id TEXT;
ALTER TABLE user_groups ADD COLUMN external_dn TEXT;
CREATE UNIQUE INDEX user_groups_external_id_key ON user_groups (external_id);

-- Every sync run: when, why, what it did or why it refused (the newest 200 are kept).
CREATE TABLE directory_runs (
    id          TEXT PRIMARY KEY,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    cause       TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    summary     TEXT NOT NULL,
    error       TEXT
);
CREATE INDEX directory_runs_started ON directory_runs (started_at);
