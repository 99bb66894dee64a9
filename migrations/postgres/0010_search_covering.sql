-- The user search (Store::search_users) reads each of its five prefix ranges from an
-- index alone: every search index also carries the row's id and username (and the
-- searched column itself, which PostgreSQL needs to see to allow an index-only
-- scan), so the ~3 000 matches of a short prefix among 100 000 users are never
-- fetched from the table. Measured with bench/run --postgres (bench/RESULTS.md).
DROP INDEX users_username_key;
CREATE UNIQUE INDEX users_username_key ON users (lower(username)) INCLUDE (id, username);
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_email_key ON users (lower(email)) INCLUDE (id, email, username);
DROP INDEX users_display_name;
CREATE INDEX users_display_name ON users (lower(display_name)) INCLUDE (id, display_name, username);
DROP INDEX users_first_name;
CREATE INDEX users_first_name ON users (lower(first_name)) INCLUDE (id, first_name, username);
DROP INDEX users_last_name;
CREATE INDEX users_last_name ON users (lower(last_name)) INCLUDE (id, last_name, username);
