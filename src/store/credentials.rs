//! A user's other credentials: password hash, TOTP secret (sealed) and recovery codes.

use sqlx::Row;

use super::{Store, StoreError, now};

/// What a user has set up besides passkeys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserCredentials {
    pub password_hash: Option<String>,
    pub password_changed_at: Option<i64>,
    pub totp_secret_sealed: Option<Vec<u8>>,
    pub totp_pending_sealed: Option<Vec<u8>>,
    pub totp_last_step: i64,
}

impl Store {
    pub async fn user_credentials(&self, user_id: &str) -> Result<UserCredentials, StoreError> {
        let row = sqlx::query(
            "SELECT password_hash, password_changed_at, totp_secret_sealed, totp_pending_sealed, totp_last_step FROM users WHERE id = $1",
        )
        .bind(user_id)
        .fetch_optional(&mut *self.reader().await?)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(UserCredentials {
            password_hash: row.try_get("password_hash")?,
            password_changed_at: row.try_get("password_changed_at")?,
            totp_secret_sealed: row.try_get("totp_secret_sealed")?,
            totp_pending_sealed: row.try_get("totp_pending_sealed")?,
            totp_last_step: row.try_get("totp_last_step")?,
        })
    }

    /// Set or (with `None`) remove the password hash.
    pub async fn set_password_hash(
        &self,
        user_id: &str,
        hash: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET password_hash = $2, password_changed_at = $3, updated_at = $3 WHERE id = $1")
            .bind(user_id)
            .bind(hash)
            .bind(now())
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    /// Store a TOTP secret waiting for its first code.
    pub async fn set_pending_totp(
        &self,
        user_id: &str,
        sealed: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET totp_pending_sealed = $2 WHERE id = $1")
            .bind(user_id)
            .bind(sealed)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    /// Make the pending TOTP secret the active one and replace the recovery codes,
    /// all at once.
    pub async fn activate_totp(
        &self,
        user_id: &str,
        sealed: &[u8],
        step: i64,
        recovery_hashes: &[String],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE users SET totp_secret_sealed = $2, totp_pending_sealed = NULL, totp_last_step = $3, updated_at = $4 WHERE id = $1")
            .bind(user_id)
            .bind(sealed)
            .bind(step)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        replace_recovery_codes(&mut tx, user_id, recovery_hashes).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Remove TOTP and its recovery codes.
    pub async fn remove_totp(&self, user_id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE users SET totp_secret_sealed = NULL, totp_pending_sealed = NULL, totp_last_step = 0 WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        replace_recovery_codes(&mut tx, user_id, &[]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Accept a TOTP time step only if it is later than the last one used: a code can
    /// never be replayed. Returns false when the step was already used.
    pub async fn advance_totp_step(&self, user_id: &str, step: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2",
        )
        .bind(user_id)
        .bind(step)
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn set_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[String],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        replace_recovery_codes(&mut tx, user_id, hashes).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Use a recovery code once. Returns false when it is unknown or already used.
    pub async fn use_recovery_code(&self, user_id: &str, hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL")
            .bind(user_id)
            .bind(hash)
            .bind(now())
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn unused_recovery_codes(&self, user_id: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&mut *self.reader().await?)
        .await?)
    }
}

async fn replace_recovery_codes(
    tx: &mut super::Tx,
    user_id: &str,
    hashes: &[String],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    let t = now();
    for hash in hashes {
        sqlx::query(
            "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(user_id)
        .bind(hash)
        .bind(t)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
