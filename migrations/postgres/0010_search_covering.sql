-- The user search (Store::search_users) reads each of its five prefix ranges from an
-- index alone, and sorts the matches on a stored key:
--   * username_key is lower(username) in byte order (COLLATE "C", the order SQLite
--     sorts in), stored, so that the ~12 500 index entries a common prefix hits among
--     100 000 users need neither lower() nor strcoll (C.UTF-8) to be sorted;
--   * every search index carries the row's id and username_key (and the searched
--     column itself, which PostgreSQL needs to see to allow an index-only scan), so
--     the matches are never fetched from the table.
-- Measured with bench/run --postgres (bench/RESULTS.md).
ALTER TABLE users ADD COLUMN username_key TEXT COLLATE "C" GENERATED ALWAYS AS (lower(username)) STORED;
CREATE INDEX users_username_search ON users (username_key) INCLUDE (id);
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_email_key ON users (lower(email)) INCLUDE (id, email, username_key);
DROP INDEX users_display_name;
CREATE INDEX users_display_name ON users (lower(display_name)) INCLUDE (id, display_name, username_key);
DROP INDEX users_first_name;
CREATE INDEX users_first_name ON users (lower(first_name)) INCLUDE (id, first_name, username_key);
DROP INDEX users_last_name;
CREATE INDEX users_last_name ON users (lower(last_name)) INCLUDE (id, last_name, username_key);
