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

/// One key of an attempt and how it locks: `locks[n - 1]` is how many seconds the
/// key stays locked after its n-th failure in a row (the last entry holds beyond), and
/// the count starts again after `forget_after` quiet seconds.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleRule<'a> {
    pub key: &'a str,
    pub locks: &'a [i64],
    pub forget_after: i64,
}

/// What `note_refusal` found: the key's lock and how many were refused under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusals {
    pub locked_until: i64,
    pub refused: i64,
}

/// The upsert that counts one attempt on a key unless it is locked: one statement, so
/// concurrent attempts each see the count the one before them left (no lost updates),
/// and the lock the attempt earns is set before its work starts. A locked key matches
/// no row (the `WHERE` of `DO UPDATE`) and returns nothing.
fn reserve_sql(locks: &[i64]) -> String {
    use std::fmt::Write;
    let count = "(CASE WHEN $2 - auth_throttle.last_failure_at > $3 THEN 1 \
                 ELSE auth_throttle.failures + 1 END)";
    let mut ladder = format!("CASE {count}");
    for (n, secs) in locks.iter().enumerate() {
        let _ = write!(ladder, " WHEN {} THEN $2 + {secs}", n + 1);
    }
    let _ = write!(
        ladder,
        " ELSE $2 + {} END",
        locks.last().copied().unwrap_or(0)
    );
    let first = locks.first().copied().unwrap_or(0);
    format!(
        "INSERT INTO auth_throttle (key, failures, last_failure_at, locked_until, refused) \
         VALUES ($1, 1, $2, $2 + {first}, 0) \
         ON CONFLICT (key) DO UPDATE SET failures = {count}, last_failure_at = $2, \
         locked_until = {ladder}, refused = 0 \
         WHERE auth_throttle.locked_until <= $2 RETURNING failures"
    )
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

    /// The state of each key, in the order given, in one read (a key never failed is
    /// the default state).
    pub async fn throttle_states(&self, keys: &[&str]) -> Result<Vec<ThrottleState>, StoreError> {
        let mut states = vec![ThrottleState::default(); keys.len()];
        if keys.is_empty() {
            return Ok(states);
        }
        let marks: Vec<String> = (1..=keys.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT key, failures, last_failure_at, locked_until FROM auth_throttle \
             WHERE key IN ({})",
            marks.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for key in keys {
            query = query.bind(*key);
        }
        for row in query.fetch_all(&mut *self.reader().await?).await? {
            let key: String = row.try_get("key")?;
            let state = ThrottleState {
                failures: row.try_get("failures")?,
                last_failure_at: row.try_get("last_failure_at")?,
                locked_until: row.try_get("locked_until")?,
            };
            for (i, k) in keys.iter().enumerate() {
                if *k == key {
                    states[i] = state;
                }
            }
        }
        Ok(states)
    }

    /// Count one attempt on every key, before the attempt's work is done, all or none:
    /// `None` when counted, `Some(i)` when key `i` is locked (and nothing was counted).
    pub async fn reserve_attempt(
        &self,
        rules: &[ThrottleRule<'_>],
        now: i64,
    ) -> Result<Option<usize>, StoreError> {
        let mut tx = self.begin().await?;
        for (i, rule) in rules.iter().enumerate() {
            let counted = sqlx::query(sqlx::AssertSqlSafe(reserve_sql(rule.locks)))
                .bind(rule.key)
                .bind(now)
                .bind(rule.forget_after)
                .fetch_optional(&mut *tx)
                .await?;
            if counted.is_none() {
                tx.rollback().await?;
                return Ok(Some(i));
            }
        }
        tx.commit().await?;
        Ok(None)
    }

    /// One more request refused while `key` is locked.
    pub async fn note_refusal(&self, key: &str) -> Result<Option<Refusals>, StoreError> {
        let row = sqlx::query(
            "UPDATE auth_throttle SET refused = refused + 1 WHERE key = $1 \
             RETURNING refused, locked_until",
        )
        .bind(key)
        .fetch_optional(&mut *self.writer().await?)
        .await?;
        Ok(match row {
            Some(r) => Some(Refusals {
                refused: r.try_get("refused")?,
                locked_until: r.try_get("locked_until")?,
            }),
            None => None,
        })
    }

    /// Give back an attempt counted on `key` that turned out not to be a failure; a
    /// count back under `first_locking` (the failure that first locks) unlocks.
    pub async fn release_attempt(&self, key: &str, first_locking: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE auth_throttle SET failures = failures - 1, \
             locked_until = CASE WHEN failures - 1 < $2 THEN 0 ELSE locked_until END \
             WHERE key = $1 AND failures > 0",
        )
        .bind(key)
        .bind(first_locking)
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
