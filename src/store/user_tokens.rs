//! Single-use tokens mailed to a user, stored only as hashes: `verify_email` (for one
//! address) and `not_me` (the "this wasn't me" link of a new-device notice).

use sqlx::Row;

use super::{Store, StoreError, Tx, now};

pub const VERIFY_EMAIL: &str = "verify_email";
pub const NOT_ME: &str = "not_me";

/// What a verification link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The address is verified now (the user's id).
    Verified(String),
    /// The link was good but the account's address has changed since it was sent.
    AddressChanged,
    /// Unknown, used or expired.
    Unusable,
}

impl Store {
    pub async fn insert_user_token_in(
        tx: &mut Tx,
        token_hash: &str,
        user_id: &str,
        purpose: &str,
        email: Option<&str>,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO user_tokens (token_hash, user_id, purpose, email, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(purpose)
        .bind(email)
        .bind(now())
        .bind(expires_at)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The user a live token of `purpose` belongs to, without using it.
    pub async fn peek_user_token(
        &self,
        token_hash: &str,
        purpose: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM user_tokens WHERE token_hash = $1 AND purpose = $2 \
             AND used_at IS NULL AND expires_at > $3",
        )
        .bind(token_hash)
        .bind(purpose)
        .bind(now())
        .fetch_optional(&mut *self.reader().await?)
        .await?)
    }

    /// Use a token, in the caller's transaction: (user id, address) for exactly one caller.
    async fn use_user_token_in(
        tx: &mut Tx,
        token_hash: &str,
        purpose: &str,
    ) -> Result<Option<(String, Option<String>)>, StoreError> {
        let row = sqlx::query(
            "UPDATE user_tokens SET used_at = $3 WHERE token_hash = $1 AND purpose = $2 \
             AND used_at IS NULL AND expires_at > $3 RETURNING user_id, email",
        )
        .bind(token_hash)
        .bind(purpose)
        .bind(now())
        .fetch_optional(&mut **tx)
        .await?;
        Ok(match row {
            Some(r) => Some((r.try_get("user_id")?, r.try_get("email")?)),
            None => None,
        })
    }

    /// Use a verification link: the address it was sent to becomes verified, if it is
    /// still the account's address.
    pub async fn verify_email_with_token(
        &self,
        token_hash: &str,
    ) -> Result<Verification, StoreError> {
        let mut tx = self.begin().await?;
        let Some((user_id, email)) =
            Store::use_user_token_in(&mut tx, token_hash, VERIFY_EMAIL).await?
        else {
            return Ok(Verification::Unusable);
        };
        let done = sqlx::query(
            "UPDATE users SET email_verified = 1, updated_at = $3 WHERE id = $1 AND lower(email) = lower($2)",
        )
        .bind(&user_id)
        .bind(email.unwrap_or_default())
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(if done.rows_affected() == 1 {
            Verification::Verified(user_id)
        } else {
            Verification::AddressChanged
        })
    }

    /// Whether the user used a "this wasn't me" link at or after `since` (from the
    /// audit log, which keeps it longer than the link's row).
    pub async fn not_me_since(&self, user_id: &str, since: i64) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE event = 'auth.not_me' AND subject = $1 \
             AND created_at >= $2",
        )
        .bind(user_id)
        .bind(since)
        .fetch_one(&mut *self.reader().await?)
        .await?;
        Ok(n > 0)
    }

    /// Use a "this wasn't me" link: end every session of the user and revoke every
    /// token issued to applications for them. Returns the user and the sessions ended.
    pub async fn sign_out_everywhere_with_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(String, u64)>, StoreError> {
        let mut tx = self.begin().await?;
        let Some((user_id, _)) = Store::use_user_token_in(&mut tx, token_hash, NOT_ME).await?
        else {
            return Ok(None);
        };
        let t = now();
        let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(&user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        for sql in [
            "UPDATE oidc_refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
            "UPDATE oidc_access_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        ] {
            sqlx::query(sql)
                .bind(&user_id)
                .bind(t)
                .execute(&mut *tx)
                .await?;
        }
        // The link served its purpose; other links from older notices need not stay live.
        sqlx::query("UPDATE user_tokens SET used_at = $2 WHERE user_id = $1 AND purpose = $3 AND used_at IS NULL")
            .bind(&user_id)
            .bind(t)
            .bind(NOT_ME)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some((user_id, ended)))
    }

    /// Forget tokens a week after they expired.
    pub async fn delete_expired_user_tokens(&self, at: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM user_tokens WHERE expires_at <= $1")
            .bind(at - 7 * 86_400)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }
}
