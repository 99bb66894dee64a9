//! Custom claims on users and on groups.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, missing_as_not_found};
use crate::domain::claims::{CustomClaims, Subject};
use crate::domain::user::User;

/// Columns that bring a user's groups and custom claims along with a read of the user,
/// so that ID tokens and userinfo take one statement instead of three. The query must
/// name the users table `users`; [`subject_from_row`] decodes them. Each is a JSON
/// array (empty, not NULL, when there is nothing, or no user), in no particular order.
macro_rules! subject_columns {
    (sqlite) => {
        "(SELECT json_group_array(sg.name) FROM group_members sm \
          JOIN user_groups sg ON sg.id = sm.group_id WHERE sm.user_id = users.id) AS groups_json, \
         (SELECT json_group_array(json_array(sg.name, sc.key, sc.value)) FROM group_claims sc \
          JOIN group_members sm ON sm.group_id = sc.group_id JOIN user_groups sg ON sg.id = sc.group_id \
          WHERE sm.user_id = users.id) AS group_claims_json, \
         (SELECT json_group_array(json_array(su.key, su.value)) FROM user_claims su \
          WHERE su.user_id = users.id) AS own_claims_json"
    };
    (postgres) => {
        "(SELECT COALESCE(json_agg(sg.name), '[]')::text FROM group_members sm \
          JOIN user_groups sg ON sg.id = sm.group_id WHERE sm.user_id = users.id) AS groups_json, \
         (SELECT COALESCE(json_agg(json_build_array(sg.name, sc.key, sc.value)), '[]')::text FROM group_claims sc \
          JOIN group_members sm ON sm.group_id = sc.group_id JOIN user_groups sg ON sg.id = sc.group_id \
          WHERE sm.user_id = users.id) AS group_claims_json, \
         (SELECT COALESCE(json_agg(json_build_array(su.key, su.value)), '[]')::text FROM user_claims su \
          WHERE su.user_id = users.id) AS own_claims_json"
    };
}
pub(super) use subject_columns;

/// A statement for the backend in force with [`subject_columns`] between its two parts:
/// `subject_sql!(backend; "SELECT …, "; " FROM users …")`.
macro_rules! subject_sql {
    ($backend:expr; $($before:expr),+; $($after:expr),+) => {
        match $backend {
            $crate::store::Backend::Sqlite => {
                concat!($($before,)+ $crate::store::claims::subject_columns!(sqlite), $($after),+)
            }
            $crate::store::Backend::Postgres => {
                concat!($($before,)+ $crate::store::claims::subject_columns!(postgres), $($after),+)
            }
        }
    };
}
pub(super) use subject_sql;

/// The user of a row read with [`subject_columns`], with their groups and claims put in
/// the order `CustomClaims` promises.
pub(super) fn subject_from_row(row: &AnyRow, user: User) -> Result<Subject, sqlx::Error> {
    fn json<T: serde::de::DeserializeOwned>(row: &AnyRow, column: &str) -> Result<T, sqlx::Error> {
        let text: String = row.try_get(column)?;
        serde_json::from_str(&text).map_err(|e| sqlx::Error::ColumnDecode {
            index: column.to_string(),
            source: Box::new(e),
        })
    }
    let mut groups: Vec<String> = json(row, "groups_json")?;
    groups.sort_unstable();
    let mut of_groups: Vec<(String, String, String)> = json(row, "group_claims_json")?;
    of_groups.sort_unstable();
    let mut own: Vec<(String, String)> = json(row, "own_claims_json")?;
    own.sort_unstable();
    Ok(Subject {
        user,
        groups,
        custom: CustomClaims {
            of_groups: of_groups.into_iter().map(|(_, k, v)| (k, v)).collect(),
            own,
        },
    })
}

/// Whose custom claim it is.
#[derive(Debug, Clone, Copy)]
pub enum ClaimOwner<'a> {
    User(&'a str),
    Group(&'a str),
}

impl ClaimOwner<'_> {
    /// Table and owner column: fixed strings, never user input, so the SQL built
    /// from them is safe (`AssertSqlSafe`).
    fn table(&self) -> (&'static str, &'static str) {
        match self {
            ClaimOwner::User(_) => ("user_claims", "user_id"),
            ClaimOwner::Group(_) => ("group_claims", "group_id"),
        }
    }
    fn id(&self) -> &str {
        match self {
            ClaimOwner::User(id) | ClaimOwner::Group(id) => id,
        }
    }
}

impl Store {
    /// Set (insert or replace) a claim; key and value must be checked by
    /// `domain::claims::check_custom_claim`.
    pub async fn set_custom_claim(
        &self,
        owner: ClaimOwner<'_>,
        key: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        let (table, column) = owner.table();
        let sql = format!(
            "INSERT INTO {table} ({column}, key, value) VALUES ($1, $2, $3) \
             ON CONFLICT ({column}, key) DO UPDATE SET value = excluded.value"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner.id())
            .bind(key)
            .bind(value)
            .execute(&mut *self.writer().await?)
            .await
            .map_err(missing_as_not_found)?;
        Ok(())
    }

    pub async fn remove_custom_claim(
        &self,
        owner: ClaimOwner<'_>,
        key: &str,
    ) -> Result<(), StoreError> {
        let (table, column) = owner.table();
        let sql = format!("DELETE FROM {table} WHERE {column} = $1 AND key = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner.id())
            .bind(key)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    /// One claim of an owner, if set.
    pub async fn custom_claim(
        &self,
        owner: ClaimOwner<'_>,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .custom_claims(owner)
            .await?
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v))
    }

    /// An owner's claims, by key.
    pub async fn custom_claims(
        &self,
        owner: ClaimOwner<'_>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let (table, column) = owner.table();
        let sql = format!("SELECT key, value FROM {table} WHERE {column} = $1 ORDER BY key");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(owner.id())
            .fetch_all(&mut *self.reader().await?)
            .await?)
    }
}
