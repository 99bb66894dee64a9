-- A group that limits who may use a client cannot be deleted while it does: with the
-- old cascade, deleting a client's only allowed group opened the client to everyone.
ALTER TABLE oidc_client_groups DROP CONSTRAINT oidc_client_groups_group_id_fkey;
ALTER TABLE oidc_client_groups ADD CONSTRAINT oidc_client_groups_group_id_fkey
    FOREIGN KEY (group_id) REFERENCES user_groups (id) ON DELETE RESTRICT;
