//! Failure counters for sign-in attempts, per account and per address, kept in the
//! database so that a restart does not reset a lockout.

use sqlx::Row;

use super::{Store, StoreError, Tx};

/// The state of one throttle key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThrottleState {
    pub failures: i64,
    pub last_failure_at: i64,
    pub locked_until: i64,
}

impl Store {
    pub async fn throttle_state(&self, key: &str) -> Result<ThrottleState, StoreError> {
        let row = sqlx::query(
            "SELECT failures, last_failure_at, locked_until FROM auth_throttle WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        Ok(match row {
            Some(r) => ThrottleState {
                failures: r.try_get("failures")?,
                last_failure_at: r.try_get("last_failure_at")?,
                locked_until: r.try_get("locked_until")?,
            },
            None => ThrottleState::default(),
        })
    }

    pub async fn save_throttle_state(
        &self,
        key: &str,
        state: &ThrottleState,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO auth_throttle (key, failures, last_failure_at, locked_until) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, last_failure_at = excluded.last_failure_at, \
             locked_until = excluded.locked_until",
        )
        .bind(key)
        .bind(state.failures)
        .bind(state.last_failure_at)
        .bind(state.locked_until)
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    pub async fn clear_throttle(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM auth_throttle WHERE key = $1")
            .bind(key)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    /// Remember that a user signed in from `fingerprint`; true when it was new.
    pub async fn remember_device(
        &self,
        user_id: &str,
        fingerprint: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let new = Store::remember_device_in(&mut tx, user_id, fingerprint, at).await?;
        tx.commit().await?;
        Ok(new)
    }

    /// `remember_device` in the caller's transaction (with the notice it may cause).
    pub async fn remember_device_in(
        tx: &mut Tx,
        user_id: &str,
        fingerprint: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO known_devices (user_id, fingerprint, first_seen, last_seen) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (user_id, fingerprint) DO NOTHING",
        )
        .bind(user_id)
        .bind(fingerprint)
        .bind(at)
        .execute(&mut **tx)
        .await?
        .rows_affected()
            == 1;
        if !inserted {
            sqlx::query(
                "UPDATE known_devices SET last_seen = $3 WHERE user_id = $1 AND fingerprint = $2",
            )
            .bind(user_id)
            .bind(fingerprint)
            .bind(at)
            .execute(&mut **tx)
            .await?;
        }
        Ok(inserted)
    }

    pub async fn known_device_count(&self, user_id: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM known_devices WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(&mut *self.reader().await?)
                .await?,
        )
    }

    /// Delete what has expired: sessions, ceremonies, pending logins, old codes and
    /// throttle rows nobody has tripped for a day.
    pub async fn delete_expired_auth_state(
        &self,
        now: i64,
        idle_timeout: i64,
    ) -> Result<(), StoreError> {
        self.delete_expired_sessions(now, idle_timeout).await?;
        for sql in [
            "DELETE FROM webauthn_ceremonies WHERE expires_at <= $1",
            "DELETE FROM pending_logins WHERE expires_at <= $1",
        ] {
            sqlx::query(sql)
                .bind(now)
                .execute(&mut *self.writer().await?)
                .await?;
        }
        // Used or expired codes stay a week so that a late click still gets a clear answer.
        sqlx::query("DELETE FROM login_codes WHERE expires_at <= $1")
            .bind(now - 7 * 86_400)
            .execute(&mut *self.writer().await?)
            .await?;
        sqlx::query("DELETE FROM auth_throttle WHERE locked_until <= $1 AND last_failure_at <= $2")
            .bind(now)
            .bind(now - 86_400)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }
}
