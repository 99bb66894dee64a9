-- The audit log is filtered by event, actor, user (actor or subject) and client, and
-- paged newest first by id (UUID v7, so id order is time order). Each filter gets an
-- index in that order, so a page is an index range scan however big the table grows.
-- Events about a client name it in a column of its own (it used to be only inside
-- `details`), so that filtering by client does not read every row.
ALTER TABLE audit_log ADD COLUMN client_id TEXT;
UPDATE audit_log SET client_id = json_extract(details, '$.client_id')
    WHERE json_valid(details) AND json_type(details, '$.client_id') = 'text';
UPDATE audit_log SET client_id = subject
    WHERE client_id IS NULL AND (event LIKE 'client.%' OR event LIKE 'admin.client.%');

DROP INDEX audit_log_event;
DROP INDEX audit_log_actor;
CREATE INDEX audit_log_event_id ON audit_log (event, id);
CREATE INDEX audit_log_actor_id ON audit_log (actor_id, id);
CREATE INDEX audit_log_subject_id ON audit_log (subject, id);
CREATE INDEX audit_log_client_id ON audit_log (client_id, id);
