//! Growing back-off after failed sign-in attempts, per account name and per client
//! address. The counters are rows (`store::throttle`), so a restart does not reset them.
//!
//! An account key is made from the name that was typed, whether or not such an
//! account exists, so the limits themselves reveal nothing about which accounts exist.

use std::net::IpAddr;

use crate::store::{Store, StoreError, ThrottleState};

/// How many failures are free before back-off starts, and how it grows.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub free_failures: i64,
    pub first_lock_secs: i64,
    pub max_lock_secs: i64,
    /// A quiet period after which the count starts again.
    pub forget_after_secs: i64,
}

/// Per account: five tries, then 30 s, 1 min, 2 min … up to 15 min.
pub const ACCOUNT: Policy = Policy {
    free_failures: 5,
    first_lock_secs: 30,
    max_lock_secs: 15 * 60,
    forget_after_secs: 60 * 60,
};

/// Per address: more room (a household shares one), same growth.
pub const ADDRESS: Policy = Policy {
    free_failures: 20,
    first_lock_secs: 30,
    max_lock_secs: 15 * 60,
    forget_after_secs: 60 * 60,
};

impl Policy {
    /// The state after one more failure at `now`.
    pub fn after_failure(&self, state: ThrottleState, now: i64) -> ThrottleState {
        let failures = if now - state.last_failure_at > self.forget_after_secs {
            1
        } else {
            state.failures + 1
        };
        let over = failures - self.free_failures;
        let locked_until = if over > 0 {
            let exp = (over - 1).min(20) as u32;
            now + self
                .first_lock_secs
                .saturating_mul(1i64 << exp)
                .min(self.max_lock_secs)
        } else {
            0
        };
        ThrottleState {
            failures,
            last_failure_at: now,
            locked_until,
        }
    }
}

pub fn account_key(kind: &str, login: &str) -> String {
    format!("{kind}:account:{}", login.trim().to_lowercase())
}

pub fn address_key(kind: &str, ip: IpAddr) -> String {
    format!("{kind}:ip:{ip}")
}

/// The throttle keys of one attempt, with their policies.
pub struct Attempt {
    address: String,
    account: Option<String>,
}

impl Attempt {
    /// An attempt of `kind` (`password`, `totp`, `link`, `passkey`) on `account` from `ip`.
    pub fn new(kind: &str, account: Option<&str>, ip: IpAddr) -> Attempt {
        Attempt {
            address: address_key(kind, ip),
            account: account.map(|a| account_key(kind, a)),
        }
    }

    fn keys(&self) -> impl Iterator<Item = (&str, Policy)> {
        std::iter::once((self.address.as_str(), ADDRESS))
            .chain(self.account.as_deref().map(|k| (k, ACCOUNT)))
    }

    /// Seconds to wait before trying again, if locked now.
    pub async fn locked_for(&self, store: &Store, now: i64) -> Result<Option<i64>, StoreError> {
        let mut wait = 0;
        for (key, _) in self.keys() {
            let state = store.throttle_state(key).await?;
            wait = wait.max(state.locked_until - now);
        }
        Ok((wait > 0).then_some(wait))
    }

    pub async fn record_failure(&self, store: &Store, now: i64) -> Result<(), StoreError> {
        for (key, policy) in self.keys() {
            let state = store.throttle_state(key).await?;
            store
                .save_throttle_state(key, &policy.after_failure(state, now))
                .await?;
        }
        Ok(())
    }

    /// A success clears the account's counter (not the address's).
    pub async fn record_success(&self, store: &Store) -> Result<(), StoreError> {
        if let Some(key) = &self.account {
            store.clear_throttle(key).await?;
        }
        Ok(())
    }
}

/// "2 minutes", "30 seconds": for the message that asks to wait.
pub fn human_wait(secs: i64) -> String {
    if secs >= 90 {
        let minutes = (secs + 59) / 60;
        format!("{minutes} minutes")
    } else if secs > 1 {
        format!("{secs} seconds")
    } else {
        "1 second".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped_and_forgotten() {
        let mut s = ThrottleState::default();
        let t = 1_000_000;
        for _ in 0..5 {
            s = ACCOUNT.after_failure(s, t);
            assert_eq!(s.locked_until, 0);
        }
        s = ACCOUNT.after_failure(s, t);
        assert_eq!(s.locked_until, t + 30);
        s = ACCOUNT.after_failure(s, t);
        assert_eq!(s.locked_until, t + 60);
        for _ in 0..20 {
            s = ACCOUNT.after_failure(s, t);
        }
        assert_eq!(s.locked_until, t + 900, "capped at 15 minutes");
        let later = ACCOUNT.after_failure(s, t + 2 * 3600);
        assert_eq!(
            (later.failures, later.locked_until),
            (1, 0),
            "forgotten after a quiet hour"
        );
    }

    #[test]
    fn waits_read_well() {
        assert_eq!(human_wait(30), "30 seconds");
        assert_eq!(human_wait(120), "2 minutes");
        assert_eq!(human_wait(0), "1 second");
    }
}
