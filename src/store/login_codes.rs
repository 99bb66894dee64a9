//! One-time login codes (links made by an admin or the CLI, later emailed codes) and
//! pending second-factor steps. Both are stored only as hashes and used at most once.

use sqlx::Row;

use super::{Store, StoreError, now};

/// Why a login code could not be used; shown to the user as one "expired or used" page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRejection {
    Unknown,
    Used,
    Expired,
}

impl Store {
    pub async fn insert_login_code(
        &self,
        code_hash: &str,
        user_id: &str,
        purpose: &str,
        created_by: Option<&str>,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO login_codes (code_hash, user_id, purpose, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(code_hash)
        .bind(user_id)
        .bind(purpose)
        .bind(created_by)
        .bind(now())
        .bind(expires_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Whose code is this, if it can still be used? (Does not use it.)
    pub async fn peek_login_code(
        &self,
        code_hash: &str,
    ) -> Result<Result<String, CodeRejection>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, expires_at, used_at FROM login_codes WHERE code_hash = $1",
        )
        .bind(code_hash)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(Err(CodeRejection::Unknown));
        };
        let used_at: Option<i64> = row.try_get("used_at")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        Ok(if used_at.is_some() {
            Err(CodeRejection::Used)
        } else if expires_at <= now() {
            Err(CodeRejection::Expired)
        } else {
            Ok(row.try_get("user_id")?)
        })
    }

    /// Use a code: succeeds for exactly one caller, however many race.
    pub async fn redeem_login_code(
        &self,
        code_hash: &str,
    ) -> Result<Result<String, CodeRejection>, StoreError> {
        let t = now();
        let row = sqlx::query(
            "UPDATE login_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
        )
        .bind(code_hash)
        .bind(t)
        .fetch_optional(self.writer())
        .await?;
        match row {
            Some(row) => Ok(Ok(row.try_get("user_id")?)),
            None => self
                .peek_login_code(code_hash)
                .await
                .map(|r| r.and(Err(CodeRejection::Used))),
        }
    }

    pub async fn insert_pending_login(
        &self,
        token_hash: &str,
        user_id: &str,
        next_path: &str,
        purpose: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO pending_logins (token_hash, user_id, next_path, purpose, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(token_hash)
            .bind(user_id)
            .bind(next_path)
            .bind(purpose)
            .bind(expires_at)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// The user and next path of a pending second-factor step that has not expired.
    pub async fn pending_login(
        &self,
        token_hash: &str,
        purpose: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query("SELECT user_id, next_path FROM pending_logins WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3")
            .bind(token_hash)
            .bind(purpose)
            .bind(now())
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => Some((r.try_get("user_id")?, r.try_get("next_path")?)),
            None => None,
        })
    }

    pub async fn delete_pending_login(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM pending_logins WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.writer())
            .await?;
        Ok(())
    }
}
