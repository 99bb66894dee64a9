-- The audit log's filters by actor, by user (actor or subject) and by client look up
-- a value, never NULL. Yet every event without an actor, a subject or a client was
-- written into that column's index too, under NULL: a client's own token
-- (client_credentials, the busiest path) has neither actor nor subject, so two of its
-- row's five B-trees held nothing any query reads. Each index now holds only the rows
-- with a value. A lookup of `column = value` implies `column IS NOT NULL`, so every
-- filter uses the same index as before, on SQLite and PostgreSQL.
DROP INDEX audit_log_actor_id;
DROP INDEX audit_log_subject_id;
DROP INDEX audit_log_client_id;
CREATE INDEX audit_log_actor_id ON audit_log (actor_id, id) WHERE actor_id IS NOT NULL;
CREATE INDEX audit_log_subject_id ON audit_log (subject, id) WHERE subject IS NOT NULL;
CREATE INDEX audit_log_client_id ON audit_log (client_id, id) WHERE client_id IS NOT NULL;
