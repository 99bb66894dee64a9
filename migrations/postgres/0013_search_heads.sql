-- The user search (Store::search_users) wants the first page of matches in username
-- order, but each index of 0010 is in the order of its searched column: a prefix that
-- thousands of users share (`fel` of every Felix) read all their entries, five
-- indexes over, to sort them and keep 50 (~3 000 index entries per column for `fel`
-- among 100 000 users; 3–8 ms a search).
-- These indexes lead with the column's first three lowercase characters and then
-- follow username order, so a search of three characters or more reads each
-- column's matches in username order and stops at the page's end (~1.3 ms for `fel`).
-- Shorter prefixes read a range of these heads, as before. The covering indexes of
-- 0010 on display, first and last name served only the search and go; the username
-- and email indexes stay (listing by username; unique emails).
CREATE INDEX users_username_head ON users (left(username_key, 3), username_key) INCLUDE (id);
CREATE INDEX users_email_head ON users (left(lower(email), 3), username_key) INCLUDE (id, email);
CREATE INDEX users_display_name_head ON users (left(lower(display_name), 3), username_key) INCLUDE (id, display_name);
CREATE INDEX users_first_name_head ON users (left(lower(first_name), 3), username_key) INCLUDE (id, first_name);
CREATE INDEX users_last_name_head ON users (left(lower(last_name), 3), username_key) INCLUDE (id, last_name);
DROP INDEX users_display_name;
DROP INDEX users_first_name;
DROP INDEX users_last_name;
