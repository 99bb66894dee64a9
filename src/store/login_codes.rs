//! One-time login codes (links made by an admin or the CLI, later emailed codes) and
//! pending second-factor steps. Both are stored only as hashes and used at most once.

use sqlx::Row;

use super::{Store, StoreError, Tx, now};

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
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    /// Whose code is this, if it can still be used? (Does not use it.)
    pub async fn peek_login_code(
        &self,
        code_hash: &str,
    ) -> Result<Result<String, CodeRejection>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, expires_at, used_at FROM login_codes WHERE code_hash = $1 AND browser_hash IS NULL",
        )
        .bind(code_hash)
        .fetch_optional(&mut *self.reader().await?)
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
            "UPDATE login_codes SET used_at = $2 WHERE code_hash = $1 AND browser_hash IS NULL AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
        )
        .bind(code_hash)
        .bind(t)
        .fetch_optional(&mut *self.writer().await?)
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
            .execute(&mut *self.writer().await?)
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
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        Ok(match row {
            Some(r) => Some((r.try_get("user_id")?, r.try_get("next_path")?)),
            None => None,
        })
    }

    pub async fn delete_pending_login(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM pending_logins WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }
}

/// Who may type an emailed login code.
#[derive(Debug, Clone, Copy)]
pub enum CodeBinding<'a> {
    /// A code the user asked for: only the browser whose cookie hashes to this.
    Browser(&'a str),
    /// A code an admin sent: anyone who names the account (throttled).
    User(&'a str),
}

/// A login code sent by email: the link token's hash, and the typed code's.
pub struct EmailedCode<'a> {
    pub code_hash: &'a str,
    pub short_code_hash: &'a str,
    pub browser_hash: Option<&'a str>,
    pub user_id: &'a str,
    pub purpose: &'a str,
    pub created_by: Option<&'a str>,
    pub expires_at: i64,
}

impl Store {
    /// Insert an emailed code in the caller's transaction (its message goes in the same).
    pub async fn insert_emailed_code_in(
        tx: &mut Tx,
        c: &EmailedCode<'_>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO login_codes (code_hash, user_id, purpose, created_by, created_at, expires_at, short_code_hash, browser_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(c.code_hash)
        .bind(c.user_id)
        .bind(c.purpose)
        .bind(c.created_by)
        .bind(now())
        .bind(c.expires_at)
        .bind(c.short_code_hash)
        .bind(c.browser_hash)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Use a typed code: the user it signs in, for exactly one caller. Using it also
    /// spends the link that came in the same email.
    pub async fn redeem_short_code(
        &self,
        short_code_hash: &str,
        binding: CodeBinding<'_>,
    ) -> Result<Option<String>, StoreError> {
        let (by_browser, by_user) = match binding {
            CodeBinding::Browser(b) => (Some(b), None),
            CodeBinding::User(u) => (None, Some(u)),
        };
        Ok(sqlx::query_scalar(
            "UPDATE login_codes SET used_at = $4 WHERE short_code_hash = $1 AND used_at IS NULL AND expires_at > $4 \
             AND (($2 IS NOT NULL AND browser_hash = $2) OR ($3 IS NOT NULL AND browser_hash IS NULL AND user_id = $3)) \
             RETURNING user_id",
        )
        .bind(short_code_hash)
        .bind(by_browser)
        .bind(by_user)
        .bind(now())
        .fetch_optional(&mut *self.writer().await?)
        .await?)
    }
}
