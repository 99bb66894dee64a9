-- A group that limits who may use a client cannot be deleted while it does: with the
-- old cascade, deleting a client's only allowed group opened the client to everyone.
-- SQLite cannot change a foreign key in place, so the table is rebuilt.
CREATE TABLE oidc_client_groups_new (
    client_id TEXT NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    group_id  TEXT NOT NULL REFERENCES user_groups (id) ON DELETE RESTRICT,
    PRIMARY KEY (client_id, group_id)
);
INSERT INTO oidc_client_groups_new (client_id, group_id) SELECT client_id, group_id FROM oidc_client_groups;
DROP TABLE oidc_client_groups;
ALTER TABLE oidc_client_groups_new RENAME TO oidc_client_groups;
