-- A number that grows whenever the directory changes: a user's or group's fields the
-- LDAP server face shows, a membership, a user or group made or deleted, a service
-- account's name, secret, state or groups. The LDAP
-- face keeps the directory in memory and reloads it when this number has moved, so
-- changes made by another process (the CLI, another instance) are seen as well.
CREATE TABLE directory_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO directory_version (id, version) VALUES (1, 0);

CREATE TRIGGER users_directory_insert AFTER INSERT ON users
BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER users_directory_update AFTER UPDATE OF username, email, email_verified,
    first_name, last_name, display_name, is_admin, disabled, locale, updated_at, uid_number ON users
BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER users_directory_delete AFTER DELETE ON users
BEGIN UPDATE directory_version SET version = version + 1; END;

CREATE TRIGGER user_groups_directory_insert AFTER INSERT ON user_groups
BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER user_groups_directory_update AFTER UPDATE ON user_groups
BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER user_groups_directory_delete AFTER DELETE ON user_groups
BEGIN UPDATE directory_version SET version = version + 1; END;

CREATE TRIGGER group_members_directory_insert AFTER INSERT ON group_members
BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER group_members_directory_update AFTER UPDATE ON group_members
BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER group_members_directory_delete AFTER DELETE ON group_members
BEGIN UPDATE directory_version SET version = version + 1; END;

-- Service accounts: who binds, with what secret, reading which groups.
CREATE TRIGGER ldap_accounts_directory_insert AFTER INSERT ON ldap_accounts
BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER ldap_accounts_directory_update AFTER UPDATE OF name, secret_hash, disabled ON ldap_accounts
BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER ldap_accounts_directory_delete AFTER DELETE ON ldap_accounts
BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER ldap_account_groups_directory_insert AFTER INSERT ON ldap_account_groups
BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER ldap_account_groups_directory_delete AFTER DELETE ON ldap_account_groups
BEGIN UPDATE directory_version SET version = version + 1; END;
