-- Forward-auth (src/proxy/): applications behind a reverse proxy that ask Latchkey on
-- every request, and the second cookie that the proxied hosts see.

-- The hash of the proxy cookie's value, when one was issued for the session. A cookie
-- of its own, not the session cookie: every proxied backend receives it, and it opens
-- nothing but the forward-auth check.
ALTER TABLE sessions ADD COLUMN proxy_hash TEXT;
CREATE UNIQUE INDEX sessions_proxy_hash_key ON sessions (proxy_hash);

-- The rules are JSON (src/domain/proxy_app.rs) with groups by id, so that renaming a
-- group keeps them; a deleted group matches nobody (the rule never opens up).
CREATE TABLE proxy_apps (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    access       TEXT NOT NULL,
    paths        TEXT NOT NULL,
    public_paths TEXT NOT NULL,
    allow_basic  INTEGER NOT NULL DEFAULT 0,
    headers      TEXT NOT NULL,
    launch_url   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
-- One application per host pattern.
CREATE TABLE proxy_app_hosts (
    host   TEXT PRIMARY KEY,
    app_id   TEXT NOT NULL REFERENCES proxy_apps (id) ON DELETE CASCADE,
    -- The order the admin gave (the first exact host is the default launch address).
    position INTEGER NOT NULL
);
CREATE INDEX proxy_app_hosts_app ON proxy_app_hosts (app_id);

-- The applications are read from memory with the directory (store/snapshot.rs): a
-- change, here or in another process, moves the directory's version.
CREATE TRIGGER proxy_apps_directory AFTER INSERT OR DELETE OR UPDATE ON proxy_apps
    FOR EACH STATEMENT EXECUTE FUNCTION directory_changed();
CREATE TRIGGER proxy_app_hosts_directory AFTER INSERT OR DELETE OR UPDATE ON proxy_app_hosts
    FOR EACH STATEMENT EXECUTE FUNCTION directory_changed();
