//! The rows the upstream-directory sync reads and writes: synced users and groups
//! (those with an `external_id`), the one-transaction application of a sync, and the
//! record of every run.

use std::collections::{BTreeSet, HashMap, HashSet};

use sqlx::Row;

use super::groups::group_from_row;
use super::users::user_from_row;
use super::{Store, StoreError, Tx, conflict_as, flag, new_id, now};
use crate::domain::group::Group;
use crate::domain::user::{NewUser, User};

/// The newest runs kept; older ones are deleted when a run is recorded.
pub const RUNS_KEPT: i64 = 200;

/// A user synced from the directory, as stored.
#[derive(Debug, Clone)]
pub struct SyncedUser {
    pub user: User,
    pub dn: Option<String>,
    /// Disabled by the sync because the entry left the directory.
    pub directory_disabled: bool,
}

/// A group synced from the directory, with its members' user ids.
#[derive(Debug, Clone)]
pub struct SyncedGroup {
    pub group: Group,
    pub dn: Option<String>,
    pub members: BTreeSet<String>,
    /// A client or LDAP service account is limited to this group: it cannot be deleted.
    pub in_use: bool,
}

/// Everything the sync compares the directory with.
#[derive(Debug, Clone, Default)]
pub struct SyncedState {
    pub users: Vec<SyncedUser>,
    pub groups: Vec<SyncedGroup>,
    /// Usernames and email addresses (lower case) of users made here.
    pub local_usernames: HashSet<String>,
    pub local_emails: HashSet<String>,
    /// Names (lower case) of groups made here.
    pub local_groups: HashSet<String>,
    /// Enabled administrators made here.
    pub local_admins: usize,
}

/// A user's fields as the directory has them (already valid for Latchkey).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFields {
    pub external_id: String,
    pub dn: String,
    pub username: String,
    pub email: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    /// `None`: no admin group is set, the flag is Latchkey's to manage.
    pub is_admin: Option<bool>,
}

/// A group's fields as the directory has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFields {
    pub external_id: String,
    pub dn: String,
    pub name: String,
    pub display_name: String,
}

/// One sync's changes, applied all together or not at all.
#[derive(Debug, Clone, Default)]
pub struct SyncChanges {
    pub create_users: Vec<UserFields>,
    /// (user id, fields)
    pub update_users: Vec<(String, UserFields)>,
    /// Users back in the directory whom the sync had disabled.
    pub enable_users: Vec<String>,
    pub disable_users: Vec<String>,
    pub delete_users: Vec<String>,
    pub create_groups: Vec<GroupFields>,
    /// (group id, fields)
    pub update_groups: Vec<(String, GroupFields)>,
    pub delete_groups: Vec<String>,
    /// Membership changes: (group external id, user external id).
    pub add_members: Vec<(String, String)>,
    pub remove_members: Vec<(String, String)>,
}

impl SyncChanges {
    pub fn is_empty(&self) -> bool {
        self.create_users.is_empty()
            && self.update_users.is_empty()
            && self.enable_users.is_empty()
            && self.disable_users.is_empty()
            && self.delete_users.is_empty()
            && self.create_groups.is_empty()
            && self.update_groups.is_empty()
            && self.delete_groups.is_empty()
            && self.add_members.is_empty()
            && self.remove_members.is_empty()
    }
}

/// One recorded run.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DirectoryRun {
    pub id: String,
    pub started_at: i64,
    pub finished_at: i64,
    /// What started it: `start`, `interval`, `console`, `api`, `cli`.
    pub cause: String,
    /// `applied`, `unchanged`, `refused` (the directory's answer was not used) or `failed`.
    pub outcome: String,
    /// The counts and skipped entries, as `latchkey directory sync` prints them.
    #[schema(value_type = Object)]
    pub summary: serde_json::Value,
    pub error: Option<String>,
}

impl Store {
    /// The synced users and groups, and what the sync must not collide with.
    pub async fn synced_state(&self) -> Result<SyncedState, StoreError> {
        let mut conn = self.reader().await?;
        let rows = sqlx::query(
            "SELECT id, username, email, email_verified, first_name, last_name, display_name, \
             is_admin, disabled, locale, created_at, updated_at, external_id, external_dn, \
             directory_disabled FROM users",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut state = SyncedState::default();
        for row in &rows {
            let user = user_from_row(row)?;
            if user.is_synced() {
                state.users.push(SyncedUser {
                    user,
                    dn: row.try_get("external_dn")?,
                    directory_disabled: row.try_get::<i64, _>("directory_disabled")? != 0,
                });
            } else {
                state.local_usernames.insert(user.username.to_lowercase());
                if let Some(email) = &user.email {
                    state.local_emails.insert(email.to_lowercase());
                }
                if user.is_admin && !user.disabled {
                    state.local_admins += 1;
                }
            }
        }
        let rows = sqlx::query(
            "SELECT g.id, g.name, g.display_name, g.created_at, g.updated_at, g.external_id, \
             g.external_dn, \
             (SELECT COUNT(*) FROM oidc_client_groups c WHERE c.group_id = g.id) + \
             (SELECT COUNT(*) FROM ldap_account_groups a WHERE a.group_id = g.id) AS uses \
             FROM user_groups g",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut by_id = HashMap::new();
        for row in &rows {
            let group = group_from_row(row)?;
            if group.is_synced() {
                by_id.insert(group.id.clone(), state.groups.len());
                state.groups.push(SyncedGroup {
                    group,
                    dn: row.try_get("external_dn")?,
                    members: BTreeSet::new(),
                    in_use: row.try_get::<i64, _>("uses")? > 0,
                });
            } else {
                state.local_groups.insert(group.name.to_lowercase());
            }
        }
        let rows = sqlx::query(
            "SELECT m.group_id, m.user_id FROM group_members m \
             JOIN user_groups g ON g.id = m.group_id WHERE g.external_id IS NOT NULL",
        )
        .fetch_all(&mut *conn)
        .await?;
        for row in &rows {
            let group_id: String = row.try_get("group_id")?;
            if let Some(&i) = by_id.get(&group_id) {
                state.groups[i].members.insert(row.try_get("user_id")?);
            }
        }
        Ok(state)
    }

    /// Apply a sync's changes and record its run, in one transaction.
    pub async fn apply_sync(
        &self,
        changes: &SyncChanges,
        run: &DirectoryRun,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for id in &changes.delete_users {
            delete_user_in(&mut tx, id).await?;
        }
        for id in &changes.disable_users {
            sqlx::query(
                "UPDATE users SET disabled = 1, directory_disabled = 1, updated_at = $2 WHERE id = $1",
            )
            .bind(id)
            .bind(now())
            .execute(&mut *tx)
            .await?;
            end_sessions_and_tokens(&mut tx, id).await?;
        }
        for id in &changes.enable_users {
            sqlx::query(
                "UPDATE users SET disabled = 0, directory_disabled = 0, updated_at = $2 \
                 WHERE id = $1 AND directory_disabled = 1",
            )
            .bind(id)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        }
        // Names and addresses may move between synced users in one run (a swap): free
        // them all first, then give each its own.
        for (id, _) in &changes.update_users {
            sqlx::query("UPDATE users SET username = id, email = NULL WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        for (id, fields) in &changes.update_users {
            sqlx::query(
                "UPDATE users SET username = $2, email = $3, \
                 email_verified = $10, first_name = $4, last_name = $5, display_name = $6, \
                 is_admin = COALESCE($7, is_admin), external_dn = $8, updated_at = $9 WHERE id = $1",
            )
            .bind(id)
            .bind(&fields.username)
            .bind(&fields.email)
            .bind(&fields.first_name)
            .bind(&fields.last_name)
            .bind(&fields.display_name)
            .bind(fields.is_admin.map(flag))
            .bind(&fields.dn)
            .bind(now())
            // The directory vouches for its addresses.
            .bind(flag(fields.email.is_some()))
            .execute(&mut *tx)
            .await
            .map_err(conflict_as(|_| {
                format!("{} is taken by a user made here", fields.username)
            }))?;
        }
        for fields in &changes.create_users {
            let user = Store::create_user_in(
                &mut tx,
                &NewUser {
                    username: fields.username.clone(),
                    email: fields.email.clone(),
                    // The directory vouches for its addresses.
                    email_verified: fields.email.is_some(),
                    first_name: fields.first_name.clone(),
                    last_name: fields.last_name.clone(),
                    display_name: fields.display_name.clone(),
                    is_admin: fields.is_admin.unwrap_or(false),
                    locale: None,
                },
            )
            .await?;
            sqlx::query("UPDATE users SET external_id = $2, external_dn = $3 WHERE id = $1")
                .bind(&user.id)
                .bind(&fields.external_id)
                .bind(&fields.dn)
                .execute(&mut *tx)
                .await?;
        }
        for id in &changes.delete_groups {
            sqlx::query("DELETE FROM user_groups WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        for (id, _) in &changes.update_groups {
            sqlx::query("UPDATE user_groups SET name = id WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        for (id, fields) in &changes.update_groups {
            sqlx::query(
                "UPDATE user_groups SET name = $2, display_name = $3, external_dn = $4, \
                 updated_at = $5 WHERE id = $1",
            )
            .bind(id)
            .bind(&fields.name)
            .bind(&fields.display_name)
            .bind(&fields.dn)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        }
        for fields in &changes.create_groups {
            let gid_number = Store::take_posix_id(&mut tx, super::ldap::GID).await?;
            sqlx::query(
                "INSERT INTO user_groups (id, name, display_name, created_at, updated_at, \
                 gid_number, external_id, external_dn) VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
            )
            .bind(new_id())
            .bind(&fields.name)
            .bind(&fields.display_name)
            .bind(now())
            .bind(gid_number)
            .bind(&fields.external_id)
            .bind(&fields.dn)
            .execute(&mut *tx)
            .await?;
        }
        if !changes.add_members.is_empty() || !changes.remove_members.is_empty() {
            let users = external_ids(&mut tx, Synced::User).await?;
            let groups = external_ids(&mut tx, Synced::Group).await?;
            let pair = |(g, u): &(String, String)| Some((groups.get(g)?, users.get(u)?));
            for (group, user) in changes.remove_members.iter().filter_map(pair) {
                sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                    .bind(group)
                    .bind(user)
                    .execute(&mut *tx)
                    .await?;
            }
            for (group, user) in changes.add_members.iter().filter_map(pair) {
                sqlx::query(
                    "INSERT INTO group_members (group_id, user_id, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (group_id, user_id) DO NOTHING",
                )
                .bind(group)
                .bind(user)
                .bind(now())
                .execute(&mut *tx)
                .await?;
            }
        }
        insert_run(&mut tx, run).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Record a run that changed nothing (refused, failed or already in step).
    pub async fn record_directory_run(&self, run: &DirectoryRun) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_run(&mut tx, run).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest runs first.
    pub async fn directory_runs(&self, limit: i64) -> Result<Vec<DirectoryRun>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, started_at, finished_at, cause, outcome, summary, error \
             FROM directory_runs ORDER BY started_at DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|row| {
                let summary: String = row.try_get("summary")?;
                Ok(DirectoryRun {
                    id: row.try_get("id")?,
                    started_at: row.try_get("started_at")?,
                    finished_at: row.try_get("finished_at")?,
                    cause: row.try_get("cause")?,
                    outcome: row.try_get("outcome")?,
                    summary: serde_json::from_str(&summary).unwrap_or_default(),
                    error: row.try_get("error")?,
                })
            })
            .collect()
    }

    /// The upstream DN of a synced user or group (the console says where to change it).
    pub async fn external_dn(&self, table: Synced, id: &str) -> Result<Option<String>, StoreError> {
        let sql = match table {
            Synced::User => "SELECT external_dn FROM users WHERE id = $1",
            Synced::Group => "SELECT external_dn FROM user_groups WHERE id = $1",
        };
        Ok(sqlx::query_scalar::<_, Option<String>>(sql)
            .bind(id)
            .fetch_optional(&mut *self.reader().await?)
            .await?
            .flatten())
    }
}

/// Which kind of synced row.
#[derive(Debug, Clone, Copy)]
pub enum Synced {
    User,
    Group,
}

async fn insert_run(tx: &mut Tx, run: &DirectoryRun) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO directory_runs (id, started_at, finished_at, cause, outcome, summary, error) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&run.id)
    .bind(run.started_at)
    .bind(run.finished_at)
    .bind(&run.cause)
    .bind(&run.outcome)
    .bind(run.summary.to_string())
    .bind(&run.error)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "DELETE FROM directory_runs WHERE id NOT IN \
         (SELECT id FROM directory_runs ORDER BY started_at DESC, id DESC LIMIT $1)",
    )
    .bind(RUNS_KEPT)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// external id → id, for the synced rows of `table`.
async fn external_ids(tx: &mut Tx, kind: Synced) -> Result<HashMap<String, String>, StoreError> {
    let sql = match kind {
        Synced::User => "SELECT id, external_id FROM users WHERE external_id IS NOT NULL",
        Synced::Group => "SELECT id, external_id FROM user_groups WHERE external_id IS NOT NULL",
    };
    let rows = sqlx::query(sql).fetch_all(&mut **tx).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("external_id")?, r.try_get("id")?)))
        .collect()
}

/// A user gone from the directory keeps no way in: sessions, refresh and access tokens end.
async fn end_sessions_and_tokens(tx: &mut Tx, user_id: &str) -> Result<(), StoreError> {
    for sql in [
        "DELETE FROM sessions WHERE user_id = $1",
        "DELETE FROM oidc_refresh_tokens WHERE user_id = $1",
        "DELETE FROM oidc_access_tokens WHERE user_id = $1",
    ] {
        sqlx::query(sql).bind(user_id).execute(&mut **tx).await?;
    }
    Ok(())
}

async fn delete_user_in(tx: &mut Tx, id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM images WHERE owner = $1")
        .bind(format!("user:{id}"))
        .execute(&mut **tx)
        .await?;
    Ok(())
}
