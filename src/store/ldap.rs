//! What the LDAP server face reads and keeps: POSIX numbers, the directory's people
//! and groups (enabled users only), service accounts and app passwords.
//!
//! Directory reads take a `Select`, which the LDAP layer derives from a search filter,
//! so that a search for one `uid` reads one row and not the whole directory.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, Tx, conflict_as, flag, missing_as_not_found, new_id, now};
use crate::domain::group::Group;
use crate::domain::user::User;

/// The kinds of POSIX number (`posix_ids.kind`).
pub const UID: &str = "uid";
pub const GID: &str = "gid";

/// Which directory entries a read returns. Values are compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Select {
    All,
    /// Users by username, groups by name.
    Name(String),
    /// Users by email address (groups have none).
    Email(String),
    /// Users by display name (`cn`).
    DisplayName(String),
    Id(String),
    /// `uidNumber` of users, `gidNumber` of groups.
    Number(i64),
    /// Users that are members of the group with this name.
    MemberOf(String),
    /// Groups that have the user with this username as a member.
    HasMember(String),
    Nothing,
}

/// A user as the directory shows them.
#[derive(Debug, Clone)]
pub struct DirUser {
    pub user: User,
    pub uid_number: i64,
    /// The names of the user's groups.
    pub groups: Vec<String>,
}

/// A group as the directory shows it.
#[derive(Debug, Clone)]
pub struct DirGroup {
    pub group: Group,
    pub gid_number: i64,
    /// The usernames of its enabled members.
    pub members: Vec<String>,
}

/// A service account (`cn=<name>,ou=services,<base>`), without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LdapAccount {
    pub id: String,
    pub name: String,
    /// The groups whose members it may read; empty: everyone.
    pub groups: Vec<String>,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
}

/// A user's app password, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AppPassword {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    pub revoked_at: Option<i64>,
}

/// The SQL condition on `users` (aliased `u`) of a selection, and its one parameter.
fn user_condition(select: &Select) -> (&'static str, Param) {
    match select {
        Select::All => ("1 = 1", Param::None),
        Select::Nothing => ("1 = 0", Param::None),
        Select::Name(n) => ("lower(u.username) = $1", Param::Text(n.to_lowercase())),
        Select::Email(e) => ("lower(u.email) = $1", Param::Text(e.to_lowercase())),
        Select::DisplayName(n) => ("lower(u.display_name) = $1", Param::Text(n.to_lowercase())),
        Select::Id(id) => ("u.id = $1", Param::Text(id.to_lowercase())),
        Select::Number(n) => ("u.uid_number = $1", Param::Int(*n)),
        Select::MemberOf(g) => (
            "u.id IN (SELECT m.user_id FROM group_members m JOIN user_groups g ON g.id = m.group_id \
             WHERE lower(g.name) = $1)",
            Param::Text(g.to_lowercase()),
        ),
        Select::HasMember(_) => ("1 = 0", Param::None),
    }
}

/// The SQL condition on `user_groups` (aliased `g`) of a selection.
fn group_condition(select: &Select) -> (&'static str, Param) {
    match select {
        Select::All => ("1 = 1", Param::None),
        Select::Name(n) | Select::DisplayName(n) => {
            ("lower(g.name) = $1", Param::Text(n.to_lowercase()))
        }
        Select::Id(id) => ("g.id = $1", Param::Text(id.to_lowercase())),
        Select::Number(n) => ("g.gid_number = $1", Param::Int(*n)),
        Select::HasMember(u) => (
            "g.id IN (SELECT m.group_id FROM group_members m JOIN users u ON u.id = m.user_id \
             WHERE lower(u.username) = $1 AND u.disabled = 0)",
            Param::Text(u.to_lowercase()),
        ),
        Select::Email(_) | Select::MemberOf(_) | Select::Nothing => ("1 = 0", Param::None),
    }
}

enum Param {
    None,
    Text(String),
    Int(i64),
}

fn bind<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    param: &Param,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    match param {
        Param::None => query,
        Param::Text(t) => query.bind(t.clone()),
        Param::Int(i) => query.bind(*i),
    }
}

fn account_from_row(row: &AnyRow) -> Result<LdapAccount, sqlx::Error> {
    Ok(LdapAccount {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        groups: Vec::new(),
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last_used_at: row.try_get("last_used_at")?,
        last_used_ip: row.try_get("last_used_ip")?,
    })
}

fn app_password_from_row(row: &AnyRow) -> Result<AppPassword, sqlx::Error> {
    Ok(AppPassword {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
        last_used_ip: row.try_get("last_used_ip")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

macro_rules! account_columns {
    () => {
        "id, name, disabled, created_at, updated_at, last_used_at, last_used_ip"
    };
}

macro_rules! app_password_columns {
    () => {
        "id, user_id, name, created_at, expires_at, last_used_at, last_used_ip, revoked_at"
    };
}

/// Times of use are written to the minute: a bind is not a write each time.
const USE_RESOLUTION: i64 = 60;

impl Store {
    /// The next number of `kind` (`UID`, `GID`), taken in the caller's transaction.
    pub(super) async fn take_posix_id(tx: &mut Tx, kind: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "UPDATE posix_ids SET next_id = next_id + 1 WHERE kind = $1 RETURNING next_id - 1",
        )
        .bind(kind)
        .fetch_one(&mut **tx)
        .await?)
    }

    /// Make the next numbers at least the ranges' starts (settings); numbers already
    /// given stay, and the counters never go back.
    pub async fn raise_posix_ids(&self, uid_start: i64, gid_start: i64) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for (kind, start) in [(UID, uid_start), (GID, gid_start)] {
            sqlx::query("UPDATE posix_ids SET next_id = $2 WHERE kind = $1 AND next_id < $2")
                .bind(kind)
                .bind(start)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The directory's version: it grows with every change to what the directory
    /// shows (database triggers keep it, whoever writes).
    pub async fn directory_version(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT version FROM directory_version WHERE id = 1")
                .fetch_one(&mut *self.reader().await?)
                .await?,
        )
    }

    /// Enabled users that `select` picks, by username, with their groups' names: one
    /// query, a row per membership (LDAP reads this on every search).
    pub async fn directory_users(&self, select: &Select) -> Result<Vec<DirUser>, StoreError> {
        let (condition, param) = user_condition(select);
        let sql = format!(
            "SELECT u.id, u.username, u.email, u.email_verified, u.first_name, u.last_name, \
             u.display_name, u.is_admin, u.disabled, u.locale, u.created_at, u.updated_at, u.external_id, \
             u.uid_number, g.name AS group_name FROM users u \
             LEFT JOIN group_members m ON m.user_id = u.id \
             LEFT JOIN user_groups g ON g.id = m.group_id \
             WHERE u.disabled = 0 AND {condition} ORDER BY u.username, u.id, g.name"
        );
        let rows = bind(sqlx::query(sqlx::AssertSqlSafe(sql)), &param)
            .fetch_all(&mut *self.reader().await?)
            .await?;
        let mut users: Vec<DirUser> = Vec::new();
        for row in &rows {
            let id: String = row.try_get("id")?;
            if users.last().is_none_or(|u| u.user.id != id) {
                users.push(DirUser {
                    user: super::users::user_from_row(row)?,
                    uid_number: row.try_get("uid_number")?,
                    groups: Vec::new(),
                });
            }
            if let Some(group) = row.try_get::<Option<String>, _>("group_name")? {
                users.last_mut().expect("pushed").groups.push(group);
            }
        }
        Ok(users)
    }

    /// Groups that `select` picks, by name, with their enabled members' usernames: one
    /// query, a row per membership.
    pub async fn directory_groups(&self, select: &Select) -> Result<Vec<DirGroup>, StoreError> {
        let (condition, param) = group_condition(select);
        let sql = format!(
            "SELECT g.id, g.name, g.display_name, g.created_at, g.updated_at, g.external_id, g.gid_number, \
             u.username AS member FROM user_groups g \
             LEFT JOIN group_members m ON m.group_id = g.id \
             LEFT JOIN users u ON u.id = m.user_id AND u.disabled = 0 \
             WHERE {condition} ORDER BY g.name, g.id, u.username"
        );
        let rows = bind(sqlx::query(sqlx::AssertSqlSafe(sql)), &param)
            .fetch_all(&mut *self.reader().await?)
            .await?;
        let mut groups: Vec<DirGroup> = Vec::new();
        for row in &rows {
            let id: String = row.try_get("id")?;
            if groups.last().is_none_or(|g| g.group.id != id) {
                groups.push(DirGroup {
                    group: super::groups::group_from_row(row)?,
                    gid_number: row.try_get("gid_number")?,
                    members: Vec::new(),
                });
            }
            if let Some(member) = row.try_get::<Option<String>, _>("member")? {
                groups.last_mut().expect("pushed").members.push(member);
            }
        }
        Ok(groups)
    }

    // --- service accounts ---------------------------------------------------------

    /// Create a service account; `name` must be validated, `group_ids` exist.
    pub async fn create_ldap_account(
        &self,
        name: &str,
        secret_hash: &str,
        group_ids: &[String],
    ) -> Result<LdapAccount, StoreError> {
        let mut tx = self.begin().await?;
        let t = now();
        let id = new_id();
        sqlx::query(
            "INSERT INTO ldap_accounts (id, name, secret_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(&id)
        .bind(name)
        .bind(secret_hash)
        .bind(t)
        .execute(&mut *tx)
        .await
        .map_err(conflict_as(|_| {
            "a service account with this name already exists".into()
        }))?;
        for group in group_ids {
            sqlx::query("INSERT INTO ldap_account_groups (account_id, group_id) VALUES ($1, $2)")
                .bind(&id)
                .bind(group)
                .execute(&mut *tx)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                        StoreError::NotFound
                    }
                    sqlx::Error::Database(db) if db.is_unique_violation() => {
                        StoreError::Conflict("a group is named twice".into())
                    }
                    _ => StoreError::Database(e),
                })?;
        }
        tx.commit().await?;
        self.ldap_account(name)
            .await?
            .map(|(account, _)| account)
            .ok_or(StoreError::NotFound)
    }

    /// Every service account, by name.
    pub async fn list_ldap_accounts(&self) -> Result<Vec<LdapAccount>, StoreError> {
        let mut conn = self.reader().await?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM ldap_accounts ORDER BY lower(name)"
        ))
        .fetch_all(&mut *conn)
        .await?;
        let mut accounts = rows
            .iter()
            .map(account_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let links = sqlx::query(
            "SELECT a.account_id, g.name FROM ldap_account_groups a \
             JOIN user_groups g ON g.id = a.group_id ORDER BY g.name",
        )
        .fetch_all(&mut *conn)
        .await?;
        for link in &links {
            let id: String = link.try_get("account_id")?;
            if let Some(account) = accounts.iter_mut().find(|a| a.id == id) {
                account.groups.push(link.try_get("name")?);
            }
        }
        Ok(accounts)
    }

    /// Every service account with its secret's hash (for the directory in memory).
    pub async fn ldap_accounts_with_secrets(
        &self,
    ) -> Result<Vec<(LdapAccount, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.id, a.name, a.disabled, a.created_at, a.updated_at, a.last_used_at, \
             a.last_used_ip, a.secret_hash, g.name AS group_name FROM ldap_accounts a \
             LEFT JOIN ldap_account_groups l ON l.account_id = a.id \
             LEFT JOIN user_groups g ON g.id = l.group_id ORDER BY a.id, g.name",
        )
        .fetch_all(&mut *self.reader().await?)
        .await?;
        let mut accounts: Vec<(LdapAccount, String)> = Vec::new();
        for row in &rows {
            let id: String = row.try_get("id")?;
            if accounts.last().is_none_or(|(a, _)| a.id != id) {
                accounts.push((account_from_row(row)?, row.try_get("secret_hash")?));
            }
            if let Some(group) = row.try_get::<Option<String>, _>("group_name")? {
                accounts.last_mut().expect("pushed").0.groups.push(group);
            }
        }
        Ok(accounts)
    }

    /// A service account by name, with its secret's hash (one query: a bind reads it).
    pub async fn ldap_account(
        &self,
        name: &str,
    ) -> Result<Option<(LdapAccount, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.id, a.name, a.disabled, a.created_at, a.updated_at, a.last_used_at, \
             a.last_used_ip, a.secret_hash, g.name AS group_name FROM ldap_accounts a \
             LEFT JOIN ldap_account_groups l ON l.account_id = a.id \
             LEFT JOIN user_groups g ON g.id = l.group_id \
             WHERE lower(a.name) = $1 ORDER BY g.name",
        )
        .bind(name.to_lowercase())
        .fetch_all(&mut *self.reader().await?)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let mut account = account_from_row(first)?;
        for row in &rows {
            if let Some(group) = row.try_get::<Option<String>, _>("group_name")? {
                account.groups.push(group);
            }
        }
        Ok(Some((account, first.try_get("secret_hash")?)))
    }

    /// Delete a service account by name.
    pub async fn delete_ldap_account(&self, name: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM ldap_accounts WHERE lower(name) = $1")
            .bind(name.to_lowercase())
            .execute(&mut *self.writer().await?)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Switch a service account off or back on.
    pub async fn set_ldap_account_disabled(
        &self,
        name: &str,
        disabled: bool,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE ldap_accounts SET disabled = $2, updated_at = $3 WHERE lower(name) = $1",
        )
        .bind(name.to_lowercase())
        .bind(flag(disabled))
        .bind(now())
        .execute(&mut *self.writer().await?)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Note a successful bind of a service account (to the minute): the time written,
    /// or `None` when the last use noted in `account` is recent and from `ip`.
    pub async fn note_ldap_account_used(
        &self,
        account: &LdapAccount,
        ip: &str,
    ) -> Result<Option<i64>, StoreError> {
        let t = now();
        if account
            .last_used_at
            .is_some_and(|at| t - at < USE_RESOLUTION)
            && account.last_used_ip.as_deref() == Some(ip)
        {
            return Ok(None);
        }
        sqlx::query("UPDATE ldap_accounts SET last_used_at = $2, last_used_ip = $3 WHERE id = $1")
            .bind(&account.id)
            .bind(t)
            .bind(ip)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(Some(t))
    }

    // --- app passwords --------------------------------------------------------------

    pub async fn insert_app_password(
        &self,
        user_id: &str,
        name: &str,
        secret_hash: &str,
        created_at: i64,
        expires_at: Option<i64>,
    ) -> Result<AppPassword, StoreError> {
        let row = sqlx::query(concat!(
            "INSERT INTO app_passwords (id, user_id, name, secret_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
            app_password_columns!()
        ))
        .bind(new_id())
        .bind(user_id)
        .bind(name)
        .bind(secret_hash)
        .bind(created_at)
        .bind(expires_at)
        .fetch_one(&mut *self.writer().await?)
        .await
        .map_err(missing_as_not_found)?;
        Ok(app_password_from_row(&row)?)
    }

    /// A user's app passwords, newest first (revoked ones too, marked).
    pub async fn list_app_passwords(&self, user_id: &str) -> Result<Vec<AppPassword>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            app_password_columns!(),
            " FROM app_passwords WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(user_id)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        Ok(rows
            .iter()
            .map(app_password_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// The user's live app password with this hash (not revoked, not expired),
    /// marking its use from `ip` (to the minute).
    pub async fn use_app_password(
        &self,
        user_id: &str,
        secret_hash: &str,
        ip: &str,
    ) -> Result<Option<AppPassword>, StoreError> {
        let t = now();
        let row = sqlx::query(concat!(
            "SELECT ",
            app_password_columns!(),
            " FROM app_passwords WHERE secret_hash = $1 AND user_id = $2 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $3)"
        ))
        .bind(secret_hash)
        .bind(user_id)
        .bind(t)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        let Some(mut found) = row.as_ref().map(app_password_from_row).transpose()? else {
            return Ok(None);
        };
        let fresh = found.last_used_at.is_some_and(|at| t - at < USE_RESOLUTION)
            && found.last_used_ip.as_deref() == Some(ip);
        if !fresh {
            sqlx::query(
                "UPDATE app_passwords SET last_used_at = $2, last_used_ip = $3 WHERE id = $1",
            )
            .bind(&found.id)
            .bind(t)
            .bind(ip)
            .execute(&mut *self.writer().await?)
            .await?;
            found.last_used_at = Some(t);
            found.last_used_ip = Some(ip.to_string());
        }
        Ok(Some(found))
    }

    /// Revoke one of the user's app passwords; `NotFound` when it is not theirs or
    /// already revoked.
    pub async fn revoke_app_password(&self, user_id: &str, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE app_passwords SET revoked_at = $3 WHERE id = $1 AND user_id = $2 \
             AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(user_id)
        .bind(now())
        .execute(&mut *self.writer().await?)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
