-- The user search sorts its matches by lower-cased username. Computing lower() for each
-- of the ~12 500 index entries a common prefix hits among 100 000 users, and comparing
-- with the database's collation (strcoll under C.UTF-8), took half of the search's time.
-- The key is now stored, in byte order (COLLATE "C", the order SQLite uses too), and each
-- search index carries it instead of the username (see Store::search_users).
ALTER TABLE users ADD COLUMN username_key TEXT COLLATE "C" GENERATED ALWAYS AS (lower(username)) STORED;
CREATE INDEX users_username_search ON users (username_key) INCLUDE (id);
DROP INDEX users_username_key;
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_email_key ON users (lower(email)) INCLUDE (id, email, username_key);
DROP INDEX users_display_name;
CREATE INDEX users_display_name ON users (lower(display_name)) INCLUDE (id, display_name, username_key);
DROP INDEX users_first_name;
CREATE INDEX users_first_name ON users (lower(first_name)) INCLUDE (id, first_name, username_key);
DROP INDEX users_last_name;
CREATE INDEX users_last_name ON users (lower(last_name)) INCLUDE (id, last_name, username_key);
