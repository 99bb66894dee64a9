//! API keys: `lk_…` bearer secrets stored as hashes, each owned by a user and
//! acting with that user's rights, always with an expiry.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, Tx, missing_as_not_found, new_id, now};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

macro_rules! columns {
    () => {
        "id, user_id, name, created_at, expires_at, last_used_at, revoked_at"
    };
}

fn key_from_row(row: &AnyRow) -> Result<ApiKey, sqlx::Error> {
    Ok(ApiKey {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

impl Store {
    pub async fn insert_api_key(
        &self,
        user_id: &str,
        name: &str,
        key_hash: &str,
        expires_at: i64,
    ) -> Result<ApiKey, StoreError> {
        let row = sqlx::query(concat!(
            "INSERT INTO api_keys (id, user_id, name, key_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
            columns!()
        ))
        .bind(new_id())
        .bind(user_id)
        .bind(name)
        .bind(key_hash)
        .bind(now())
        .bind(expires_at)
        .fetch_one(&mut *self.writer().await?)
        .await
        .map_err(missing_as_not_found)?;
        Ok(key_from_row(&row)?)
    }

    /// The live key with this hash (not revoked, not expired), marking it used (to the minute).
    pub async fn use_api_key(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let t = now();
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL AND expires_at > $2"
        ))
        .bind(key_hash)
        .bind(t)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        let Some(mut key) = row.as_ref().map(key_from_row).transpose()? else {
            return Ok(None);
        };
        // Writing the time of use on every call made every API request a write (and,
        // on SQLite, emptied every reader's page cache); to the minute is enough to
        // tell which keys are in use.
        if key.last_used_at.is_none_or(|at| t - at >= 60) {
            sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
                .bind(&key.id)
                .bind(t)
                .execute(&mut *self.writer().await?)
                .await?;
            key.last_used_at = Some(t);
        }
        Ok(Some(key))
    }

    /// Keys, newest first; all of them, or one user's.
    pub async fn list_api_keys(&self, user_id: Option<&str>) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM api_keys WHERE ($1 IS NULL OR user_id = $1) ORDER BY created_at DESC, id DESC"
        ))
        .bind(user_id)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        Ok(rows.iter().map(key_from_row).collect::<Result<_, _>>()?)
    }

    pub async fn api_key_by_id(&self, id: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM api_keys WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        Ok(row.as_ref().map(key_from_row).transpose()?)
    }

    pub async fn revoke_api_key(&self, id: &str) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now())
                .execute(&mut *self.writer().await?)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Live keys that expire before `until` and whose owner was not told yet.
    pub async fn api_keys_expiring_unnoticed(&self, until: i64) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM api_keys WHERE revoked_at IS NULL AND expiry_notice_at IS NULL AND expires_at > $1 AND expires_at <= $2 \
             ORDER BY expires_at"
        ))
        .bind(now())
        .bind(until)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        Ok(rows.iter().map(key_from_row).collect::<Result<_, _>>()?)
    }

    /// Remember that a key's owner is being told it expires; true for exactly one
    /// caller, so that the notice is queued once however many instances look.
    pub async fn mark_api_key_expiry_noticed_in(tx: &mut Tx, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET expiry_notice_at = $2 WHERE id = $1 AND expiry_notice_at IS NULL",
        )
        .bind(id)
        .bind(now())
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
