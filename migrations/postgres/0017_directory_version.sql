-- A number that grows whenever the directory changes: a user's or group's fields the
-- LDAP server face shows, a membership, a user or group made or deleted, a service
-- account's name, secret, state or groups. The LDAP
-- face keeps the directory in memory and reloads it when this number has moved, so
-- changes made by another process (the CLI, another instance) are seen as well.
CREATE TABLE directory_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO directory_version (id, version) VALUES (1, 0);

CREATE FUNCTION directory_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE directory_version SET version = version + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_directory AFTER INSERT OR DELETE OR UPDATE OF username, email,
    email_verified, first_name, last_name, display_name, is_admin, disabled, locale,
    updated_at, uid_number ON users
    FOR EACH STATEMENT EXECUTE FUNCTION directory_changed();
CREATE TRIGGER user_groups_directory AFTER INSERT OR DELETE OR UPDATE ON user_groups
    FOR EACH STATEMENT EXECUTE FUNCTION directory_changed();
CREATE TRIGGER group_members_directory AFTER INSERT OR DELETE OR UPDATE ON group_members
    FOR EACH STATEMENT EXECUTE FUNCTION directory_changed();
-- Service accounts: who binds, with what secret, reading which groups.
CREATE TRIGGER ldap_accounts_directory AFTER INSERT OR DELETE OR UPDATE OF name,
    secret_hash, disabled ON ldap_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION directory_changed();
CREATE TRIGGER ldap_account_groups_directory AFTER INSERT OR DELETE OR UPDATE ON ldap_account_groups
    FOR EACH STATEMENT EXECUTE FUNCTION directory_changed();
