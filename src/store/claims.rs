//! Custom claims on users and on groups.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::{Store, StoreError};

/// A user's custom claims as ID tokens and userinfo read them: their groups' claims,
/// group by group in name order, then their own (the order `merge_claims` expects).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserClaims {
    pub groups: Vec<(String, String)>,
    pub own: Vec<(String, String)>,
}

/// The custom claims of the user whose id is the parameter `$user`, as rows of
/// `claim_own` (0 for a group's claim, 1 for the user's own), `claim_group`,
/// `claim_key` and `claim_value`: a subquery that reads of a user can join, so that
/// the user and their claims come in one round trip.
macro_rules! custom_claims_sql {
    ($user:literal) => {
        concat!(
            "SELECT CAST(0 AS BIGINT) AS claim_own, g.name AS claim_group, c.key AS claim_key, \
             c.value AS claim_value FROM group_claims c \
             JOIN group_members m ON m.group_id = c.group_id \
             JOIN user_groups g ON g.id = c.group_id WHERE m.user_id = ",
            $user,
            " UNION ALL SELECT CAST(1 AS BIGINT), '', key, value FROM user_claims WHERE user_id = ",
            $user
        )
    };
}
pub(super) use custom_claims_sql;

impl UserClaims {
    /// The claims in `rows` of `custom_claims_sql!` (ordered by own, group, key);
    /// a row without a claim (a LEFT JOIN that found none) adds nothing.
    pub(super) fn from_rows(rows: &[AnyRow]) -> Result<UserClaims, sqlx::Error> {
        let mut claims = UserClaims::default();
        for row in rows {
            let Some(key) = row.try_get::<Option<String>, _>("claim_key")? else {
                continue;
            };
            let value: String = row.try_get("claim_value")?;
            if row.try_get::<i64, _>("claim_own")? == 1 {
                claims.own.push((key, value));
            } else {
                claims.groups.push((key, value));
            }
        }
        Ok(claims)
    }
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
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
                _ => StoreError::Database(e),
            })?;
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

    /// The claims of every group the user is in, group by group in name order
    /// (the order `domain::claims::merge_claims` expects).
    pub async fn group_claims_of_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT c.key, c.value FROM group_claims c \
             JOIN group_members m ON m.group_id = c.group_id \
             JOIN user_groups g ON g.id = c.group_id \
             WHERE m.user_id = $1 ORDER BY g.name, c.key",
        )
        .bind(user_id)
        .fetch_all(&mut *self.reader().await?)
        .await?)
    }
    /// `group_claims_of_user` and the user's own claims in one query.
    pub async fn claims_of_user(&self, user_id: &str) -> Result<UserClaims, StoreError> {
        let sql = concat!(
            custom_claims_sql!("$1"),
            " ORDER BY claim_own, claim_group, claim_key"
        );
        let rows = sqlx::query(sql)
            .bind(user_id)
            .fetch_all(&mut *self.reader().await?)
            .await?;
        Ok(UserClaims::from_rows(&rows)?)
    }
}
