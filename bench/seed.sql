-- bench/seed.sql — fills a Latchkey database with many users and clients for the
-- size runs of bench/run (issue 7: cost with 100 000 users and 1 000 clients against
-- 100 users). bench/run replaces @USERS@, @CLIENTS@ and @FROM@ and the two
-- backend-specific forms PAD12(x) (x zero-padded to 12 digits) and RANDHEX64 (64
-- random hex digits), then runs it with sqlite3 or psql in one transaction.
--
-- The rows are shaped like the ones Latchkey itself writes (ids in UUID form, lower-
-- case hex secret hashes, JSON lists of redirect URIs, unix-second times), so that
-- every index and every query of the flow sees what a real installation holds:
-- each user is in three of 200 groups (each group carries a custom claim) and has a
-- claim of its own, some clients admit only one group, and each seeded user has
-- consented to two clients. Users made before (the benchmark's own, by the CLI) get
-- the same memberships and claims. Numbering starts at @FROM@ so that the script can
-- be run twice on one database.

-- 200 groups, each with one custom claim (made once).
WITH RECURSIVE s(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM s WHERE g < 199)
INSERT INTO user_groups (id, name, display_name, created_at, updated_at)
SELECT '01900000-0000-7000-8000-' || PAD12(g), 'team-' || g, 'Team ' || g, 1735689600, 1735689600
FROM s WHERE NOT EXISTS (SELECT 1 FROM user_groups WHERE name = 'team-0');

INSERT INTO group_claims (group_id, key, value)
SELECT id, 'department', 'dept-' || substr(name, 6) FROM user_groups
WHERE name LIKE 'team-%' AND id NOT IN (SELECT group_id FROM group_claims);

-- @USERS@ users with names from two short lists, as a directory of people has them.
WITH RECURSIVE
  s(n) AS (SELECT @FROM@ UNION ALL SELECT n + 1 FROM s WHERE n < @FROM@ + @USERS@ - 1),
  f(i, name) AS (VALUES (0, 'Alice'), (1, 'Bruno'), (2, 'Chiara'), (3, 'Dmitri'), (4, 'Elena'),
    (5, 'Farid'), (6, 'Greta'), (7, 'Hiro'), (8, 'Ines'), (9, 'Jonas'), (10, 'Kemal'), (11, 'Lena'),
    (12, 'Marco'), (13, 'Nadia'), (14, 'Oskar'), (15, 'Priya'), (16, 'Quentin'), (17, 'Rosa'),
    (18, 'Sven'), (19, 'Tariq'), (20, 'Ursula'), (21, 'Viktor'), (22, 'Wanda'), (23, 'Xavier'),
    (24, 'Yara'), (25, 'Zoltan'), (26, 'Amira'), (27, 'Björn'), (28, 'Camille'), (29, 'Diego'),
    (30, 'Esther'), (31, 'Felix')),
  l(i, name) AS (VALUES (0, 'Andersen'), (1, 'Baumann'), (2, 'Costa'), (3, 'Dubois'), (4, 'Eriksen'),
    (5, 'Fischer'), (6, 'García'), (7, 'Hansen'), (8, 'Ivanova'), (9, 'Jansen'), (10, 'Kowalski'),
    (11, 'Lindqvist'), (12, 'Moreau'), (13, 'Novak'), (14, 'Okafor'), (15, 'Petrov'), (16, 'Quinn'),
    (17, 'Rossi'), (18, 'Schmidt'), (19, 'Tanaka'), (20, 'Ueda'), (21, 'Vargas'), (22, 'Weber'),
    (23, 'Xu'), (24, 'Yilmaz'), (25, 'Zimmermann'), (26, 'Almeida'), (27, 'Berg'), (28, 'Chen'),
    (29, 'Dahl'), (30, 'Ekström'), (31, 'Ferrari'), (32, 'Gómez'), (33, 'Horvat'), (34, 'Ito'),
    (35, 'Jovanović'), (36, 'Kim'), (37, 'Larsen'), (38, 'Müller'), (39, 'Nowak'))
INSERT INTO users (id, username, email, email_verified, first_name, last_name, display_name,
                   is_admin, disabled, locale, created_at, updated_at)
SELECT '01910000-0000-7000-8000-' || PAD12(s.n),
       lower(f.name) || '.' || lower(l.name) || '.' || s.n,
       lower(f.name) || '.' || lower(l.name) || '.' || s.n || '@example.org',
       1, f.name, l.name, f.name || ' ' || l.name, 0, 0, NULL, 1735689600 + s.n, 1735689600 + s.n
FROM s JOIN f ON f.i = s.n % 32 JOIN l ON l.i = (s.n / 32) % 40
WHERE s.n < @FROM@ + @USERS@;

-- Every user without memberships (seeded or not) joins three groups and gets a claim.
WITH o(off) AS (VALUES (0), (67), (133)),
  u(id, k) AS (SELECT id, ROW_NUMBER() OVER (ORDER BY id) FROM users
               WHERE id NOT IN (SELECT user_id FROM group_members)),
  m(user_id, g) AS (SELECT u.id, (u.k + o.off) % 200 FROM u CROSS JOIN o)
INSERT INTO group_members (group_id, user_id, created_at)
SELECT '01900000-0000-7000-8000-' || PAD12(g), user_id, 1735689600 FROM m;

INSERT INTO user_claims (user_id, key, value)
SELECT id, 'employee_number', substr(id, 25) FROM users
WHERE id NOT IN (SELECT user_id FROM user_claims);

-- @CLIENTS@ confidential clients; every tenth admits only one group.
WITH RECURSIVE s(n) AS (SELECT @FROM@ UNION ALL SELECT n + 1 FROM s WHERE n < @FROM@ + @CLIENTS@ - 1)
INSERT INTO oidc_clients (id, name, secret_hash, previous_secret_hash, previous_secret_expires_at,
                          is_public, redirect_uris, post_logout_redirect_uris, require_pkce,
                          allow_plain_pkce, signing_alg, access_token_ttl, refresh_token_ttl,
                          skip_consent, always_refresh, launch_url, created_at, updated_at)
SELECT '01920000-0000-7000-8000-' || PAD12(n), 'Application ' || n, RANDHEX64, NULL, NULL, 0,
       '["https://app' || n || '.example.org/oauth2/callback"]', '["https://app' || n || '.example.org/"]',
       0, 0, 'RS256', 3600, 2592000, 0, 0, 'https://app' || n || '.example.org/', 1735689600 + n, 1735689600 + n
FROM s WHERE n < @FROM@ + @CLIENTS@;

WITH c(id, n) AS (SELECT id, CAST(substr(id, 25) AS INTEGER) FROM oidc_clients WHERE id LIKE '01920000-%')
INSERT INTO oidc_client_groups (client_id, group_id)
SELECT id, '01900000-0000-7000-8000-' || PAD12(n % 200) FROM c
WHERE n % 10 = 0 AND id NOT IN (SELECT client_id FROM oidc_client_groups);

-- Each user seeded now has approved two of the clients seeded now.
WITH o(off) AS (VALUES (0), (1)),
  u(id, c) AS (SELECT id, @FROM@ + (CAST(substr(id, 25) AS INTEGER) * 2 + o.off) % @CLIENTS@
               FROM users CROSS JOIN o
               WHERE @CLIENTS@ > 0 AND id LIKE '01910000-%' AND CAST(substr(id, 25) AS INTEGER) >= @FROM@)
INSERT INTO oidc_consents (user_id, client_id, scope, granted_at)
SELECT id, '01920000-0000-7000-8000-' || PAD12(c), 'openid email profile', 1735689600 FROM u;

-- POSIX numbers (uidNumber, gidNumber) for the rows made here, as the server gives
-- them to the ones it makes: the next numbers in order, and the counters moved on.
UPDATE users SET uid_number = (SELECT next_id FROM posix_ids WHERE kind = 'uid') + r.n - 1
FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) AS n FROM users WHERE uid_number IS NULL) AS r
WHERE r.id = users.id;
UPDATE posix_ids SET next_id = CASE WHEN (SELECT MAX(uid_number) FROM users) >= next_id
  THEN (SELECT MAX(uid_number) FROM users) + 1 ELSE next_id END WHERE kind = 'uid';
UPDATE user_groups SET gid_number = (SELECT next_id FROM posix_ids WHERE kind = 'gid') + r.n - 1
FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) AS n FROM user_groups WHERE gid_number IS NULL) AS r
WHERE r.id = user_groups.id;
UPDATE posix_ids SET next_id = CASE WHEN (SELECT MAX(gid_number) FROM user_groups) >= next_id
  THEN (SELECT MAX(gid_number) FROM user_groups) + 1 ELSE next_id END WHERE kind = 'gid';
