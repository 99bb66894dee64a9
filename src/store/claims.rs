//! Custom claims on users and on groups.

use super::{Store, StoreError};

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
    /// `group_claims_of_user` and the user's own claims in one query: ID tokens and
    /// userinfo read both on every call.
    pub async fn claims_of_user(
        &self,
        user_id: &str,
    ) -> Result<(Vec<(String, String)>, Vec<(String, String)>), StoreError> {
        let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
            "SELECT CAST(0 AS BIGINT) AS own, g.name, c.key, c.value FROM group_claims c \
             JOIN group_members m ON m.group_id = c.group_id \
             JOIN user_groups g ON g.id = c.group_id WHERE m.user_id = $1 \
             UNION ALL SELECT CAST(1 AS BIGINT) AS own, '', key, value FROM user_claims WHERE user_id = $1 \
             ORDER BY 1, 2, 3",
        )
        .bind(user_id)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        let (own, groups): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.0 == 1);
        let pairs = |v: Vec<(i64, String, String, String)>| {
            v.into_iter().map(|(_, _, k, value)| (k, value)).collect()
        };
        Ok((pairs(groups), pairs(own)))
    }
}
