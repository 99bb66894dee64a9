//! Housekeeping: every table that grows with use is pruned here, in one place, of
//! what has expired or outlived its retention (app.rs runs it every ten minutes).

use super::{Store, StoreError};

/// How long housekeeping keeps what is not expired by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Seconds a session may go unused before it ends (the runtime setting).
    pub session_idle: i64,
    /// Seconds an audit event is kept (`LATCHKEY_AUDIT_RETENTION`).
    pub audit: i64,
}

/// Sent and failed mail stays in the admin console's history this long.
pub const MAIL_HISTORY: i64 = 30 * 86_400;
/// A device not seen for this long is forgotten: its next sign-in is news again.
pub const DEVICE_MEMORY: i64 = 400 * 86_400;

/// Every table housekeeping prunes.
pub const PRUNED_TABLES: &[&str] = &[
    "sessions",
    "webauthn_ceremonies",
    "pending_logins",
    "login_codes",
    "auth_throttle",
    "known_devices",
    "user_tokens",
    "mail_outbox",
    "oidc_codes",
    "oidc_refresh_tokens",
    "oidc_access_tokens",
    "audit_log",
];

impl Store {
    /// Delete, as of `now`, what has expired and what is older than `retention` keeps,
    /// in every table of `PRUNED_TABLES`. Every step runs even when one fails; the
    /// first failure is returned.
    pub async fn prune(&self, now: i64, retention: &Retention) -> Result<(), StoreError> {
        let steps = [
            // Sessions, ceremonies, pending logins, login codes, throttle rows.
            self.delete_expired_auth_state(now, retention.session_idle)
                .await,
            self.delete_expired_user_tokens(now).await,
            self.delete_old_mail(now - MAIL_HISTORY).await.map(drop),
            // Codes, refresh tokens and access-token records.
            self.delete_expired_grants(now).await,
            self.delete_old_audit(now.saturating_sub(retention.audit))
                .await
                .map(drop),
            self.forget_unseen_devices(now - DEVICE_MEMORY)
                .await
                .map(drop),
        ];
        steps.into_iter().find_map(Result::err).map_or(Ok(()), Err)
    }

    /// How many rows `table` (one of `PRUNED_TABLES`) holds, for operators and tests.
    pub async fn count_rows(&self, table: &str) -> Result<i64, StoreError> {
        let Some(table) = PRUNED_TABLES.iter().find(|&&t| t == table) else {
            return Err(StoreError::NotFound);
        };
        // `table` is one of the fixed names above, never input.
        let sql = format!("SELECT COUNT(*) FROM {table}");
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *self.reader().await?)
            .await?)
    }

    /// Forget the devices last seen before `before`.
    async fn forget_unseen_devices(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM known_devices WHERE last_seen < $1")
            .bind(before)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(done.rows_affected())
    }
}
