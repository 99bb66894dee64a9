//! Growing back-off after failed sign-in attempts, per account and per client
//! network. The counters are rows (`store::throttle`), so a restart does not reset them.
//!
//! Every attempt is counted *before* its work (an argon2 verification, a TOTP check),
//! in one atomic statement, as if it will fail: concurrent guesses each see the count
//! of those before them, and once a key is locked every further one is refused,
//! however many are in flight. A success gives its count back.
//!
//! Keys hold a hash of what was typed, never the text: a password typed into the name
//! field is not kept, and a 2 MB name costs 64 bytes. Callers resolve a typed name to
//! its account first (username and email share one counter); for names that match no
//! account the key is made from the name, so the limits reveal nothing either way.

use std::net::IpAddr;

use crate::crypto::hash_secret;
use crate::store::{Store, StoreError, ThrottleRule, ThrottleState};

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

/// Per network: more room (a household shares one), same growth.
pub const ADDRESS: Policy = Policy {
    free_failures: 20,
    first_lock_secs: 30,
    max_lock_secs: 15 * 60,
    forget_after_secs: 60 * 60,
};

/// Passkey sign-ins started per network (each writes a ceremony row for 5 minutes;
/// every sign-in page starts one): generous, but a script cannot write rows at will.
pub const CEREMONY_STARTS: Policy = Policy {
    free_failures: 200,
    first_lock_secs: 60,
    max_lock_secs: 10 * 60,
    forget_after_secs: 10 * 60,
};

impl Policy {
    /// Seconds a key stays locked after its `failures`-th failure in a row.
    pub fn lock_after(&self, failures: i64) -> i64 {
        let over = failures - self.free_failures;
        if over <= 0 {
            return 0;
        }
        let exp = (over - 1).min(20) as u32;
        self.first_lock_secs
            .saturating_mul(1i64 << exp)
            .min(self.max_lock_secs)
    }

    /// `lock_after(n)` for n = 1, 2 … up to the first that reaches the cap.
    fn ladder(&self) -> Vec<i64> {
        let mut locks = Vec::new();
        for n in 1.. {
            let secs = self.lock_after(n);
            locks.push(secs);
            if secs >= self.max_lock_secs || n > self.free_failures + 32 {
                break;
            }
        }
        locks
    }
}

/// The account key: a hash of the account reference (`user:<id>`, or the name typed
/// when it names no account).
pub fn account_key(kind: &str, account: &str) -> String {
    let account = account.trim().to_lowercase();
    format!("{kind}:account:{}", &hash_secret(&account)[..32])
}

/// The network key: the IPv4 address, or the IPv6 /64 (one host's usual share).
pub fn address_key(kind: &str, ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("{kind}:ip:{v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{kind}:ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// A refused attempt: how long to wait, and how many were refused under this lock.
#[derive(Debug, Clone, Copy)]
pub struct Refusal {
    pub wait: i64,
    pub refused: i64,
}

impl Refusal {
    /// Refusals are audited at the 1st, 10th, 100th … of a lock, not one row each:
    /// a flood of refused requests cannot grow the log, and the SIEM still sees it.
    pub fn worth_recording(&self) -> bool {
        let mut n = self.refused;
        while n >= 10 && n % 10 == 0 {
            n /= 10;
        }
        n == 1
    }
}

/// The lock states the checks of binds with high-entropy secrets read (app passwords,
/// service accounts: `Attempt::check_unlocked`), remembered while this process has
/// written nothing (every count, lock and clear goes through the store's writer) and
/// for at most `LOCKS_RECHECK`, so that a lock set by another instance is seen within
/// that time. At most `LOCKS_HELD` keys are remembered: the keys come from what
/// clients send.
#[derive(Default)]
pub struct LockCache {
    held: std::sync::Mutex<HeldLocks>,
}

#[derive(Default)]
struct HeldLocks {
    writes: u64,
    since: Option<std::time::Instant>,
    states: std::collections::HashMap<String, ThrottleState>,
}

const LOCKS_RECHECK: std::time::Duration = std::time::Duration::from_secs(1);
const LOCKS_HELD: usize = 4096;

impl LockCache {
    fn held(&self) -> std::sync::MutexGuard<'_, HeldLocks> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The states of `keys`, remembered or read (and then remembered).
    async fn states(&self, store: &Store, keys: &[&str]) -> Result<Vec<ThrottleState>, StoreError> {
        // Taken before the read: a write that lands after it moves the count.
        let writes = store.write_count();
        {
            let mut held = self.held();
            let fresh =
                held.writes == writes && held.since.is_some_and(|t| t.elapsed() < LOCKS_RECHECK);
            if !fresh {
                held.states.clear();
                held.writes = writes;
                held.since = Some(std::time::Instant::now());
            }
            let known: Option<Vec<ThrottleState>> =
                keys.iter().map(|k| held.states.get(*k).copied()).collect();
            if let Some(known) = known {
                return Ok(known);
            }
        }
        let states = store.throttle_states(keys).await?;
        let mut held = self.held();
        if held.writes == writes {
            for (key, state) in keys.iter().zip(&states) {
                if held.states.len() < LOCKS_HELD {
                    held.states.insert(key.to_string(), *state);
                }
            }
        }
        Ok(states)
    }
}

/// `Attempt::checked_failures` before the check read them.
const UNREAD: i64 = -1;

/// The throttle keys of one attempt, with their policies.
pub struct Attempt {
    address: String,
    address_policy: Policy,
    account: Option<String>,
    /// The account's failures as `check_unlocked` read them (-1: not read), so that
    /// `succeeded_after_check` need not read them again.
    checked_failures: std::sync::atomic::AtomicI64,
}

impl Attempt {
    /// An attempt of `kind` (`password`, `totp`, `link`, `passkey` …) on `account`
    /// (an account reference or a typed name, hashed here) from `ip`.
    pub fn new(kind: &str, account: Option<&str>, ip: IpAddr) -> Attempt {
        Attempt {
            address: address_key(kind, ip),
            address_policy: ADDRESS,
            account: account.map(|a| account_key(kind, a)),
            checked_failures: UNREAD.into(),
        }
    }

    /// The start of a passkey sign-in from `ip`: counted per network, never given back.
    pub fn ceremony_start(ip: IpAddr) -> Attempt {
        Attempt {
            address: address_key("passkey_start", ip),
            address_policy: CEREMONY_STARTS,
            account: None,
            checked_failures: UNREAD.into(),
        }
    }

    /// Count this attempt now, before doing its work; refused when a key is locked.
    pub async fn begin(&self, store: &Store, now: i64) -> Result<Result<(), Refusal>, StoreError> {
        let ladders: Vec<(&str, Vec<i64>, Policy)> = self
            .keys()
            .map(|(key, policy)| (key, policy.ladder(), policy))
            .collect();
        let rules: Vec<ThrottleRule<'_>> = ladders
            .iter()
            .map(|(key, locks, policy)| ThrottleRule {
                key,
                locks,
                forget_after: policy.forget_after_secs,
            })
            .collect();
        let Some(locked) = store.reserve_attempt(&rules, now).await? else {
            return Ok(Ok(()));
        };
        let refusals = store.note_refusal(rules[locked].key).await?;
        Ok(Err(Refusal {
            wait: refusals.map_or(1, |r| (r.locked_until - now).max(1)),
            refused: refusals.map_or(1, |r| r.refused),
        }))
    }

    /// For checks that cost one hash of a secret of 128 bits or more (service
    /// accounts, app passwords), where guessing is hopeless and a legitimate client
    /// binds many times at once: refused while a key is locked, but counted only
    /// after the check, when it failed (`failed_after_check`). Counting before would
    /// lock a busy service account out by its own concurrent binds.
    ///
    /// `locks` may answer instead of the database (see `LockCache`).
    pub async fn check_unlocked(
        &self,
        store: &Store,
        now: i64,
        locks: &LockCache,
    ) -> Result<Result<(), Refusal>, StoreError> {
        let keys: Vec<&str> = self.keys().map(|(key, _)| key).collect();
        let states = locks.states(store, &keys).await?;
        if self.account.is_some()
            && let Some(account) = states.last()
        {
            self.checked_failures
                .store(account.failures, std::sync::atomic::Ordering::Relaxed);
        }
        for (key, state) in keys.iter().zip(&states) {
            if state.locked_until > now {
                let refusals = store.note_refusal(key).await?;
                return Ok(Err(Refusal {
                    wait: refusals.map_or(1, |r| (r.locked_until - now).max(1)),
                    refused: refusals.map_or(1, |r| r.refused),
                }));
            }
        }
        Ok(Ok(()))
    }

    /// Count a failure found by a check that `check_unlocked` let through.
    pub async fn failed_after_check(&self, store: &Store, now: i64) -> Result<(), StoreError> {
        self.begin(store, now).await.map(drop)
    }

    /// A check that `check_unlocked` let through succeeded: the account starts again.
    /// The failures read by the check are used: a failure counted since by another
    /// attempt then stays (the safer side).
    pub async fn succeeded_after_check(&self, store: &Store) -> Result<(), StoreError> {
        let Some(key) = &self.account else {
            return Ok(());
        };
        let failures = match self
            .checked_failures
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            UNREAD => store.throttle_state(key).await?.failures,
            known => known,
        };
        if failures > 0 {
            store.clear_throttle(key).await?;
        }
        Ok(())
    }

    fn keys(&self) -> impl Iterator<Item = (&str, Policy)> {
        std::iter::once((self.address.as_str(), self.address_policy))
            .chain(self.account.as_deref().map(|k| (k, ACCOUNT)))
    }

    /// The attempt succeeded: the account starts again from zero, and the network
    /// gets back the failure counted in advance.
    pub async fn succeeded(&self, store: &Store) -> Result<(), StoreError> {
        if let Some(key) = &self.account {
            store.clear_throttle(key).await?;
        }
        store
            .release_attempt(&self.address, self.address_policy.free_failures + 1)
            .await
    }

    /// The attempt's work was never done (the server was too busy): give its count
    /// back on every key, clearing nothing.
    pub async fn abandoned(&self, store: &Store) -> Result<(), StoreError> {
        for (key, policy) in self.keys() {
            store.release_attempt(key, policy.free_failures + 1).await?;
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
    fn backoff_grows_and_is_capped() {
        for n in 1..=5 {
            assert_eq!(ACCOUNT.lock_after(n), 0);
        }
        assert_eq!(ACCOUNT.lock_after(6), 30);
        assert_eq!(ACCOUNT.lock_after(7), 60);
        assert_eq!(ACCOUNT.lock_after(40), 900, "capped at 15 minutes");
        assert_eq!(
            ACCOUNT.ladder(),
            vec![0, 0, 0, 0, 0, 30, 60, 120, 240, 480, 900]
        );
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a = address_key("password", "2001:db8:1:3::1".parse().unwrap());
        let b = address_key("password", "2001:db8:1:3:ffff:1:2:3".parse().unwrap());
        let c = address_key("password", "2001:db8:1:4::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            address_key("password", "::ffff:192.0.2.7".parse().unwrap()),
            address_key("password", "192.0.2.7".parse().unwrap())
        );
    }

    #[test]
    fn account_keys_hold_no_typed_text_and_are_bounded() {
        let long = "A".repeat(2_000_000);
        let key = account_key("password", &long);
        assert!(key.len() < 80 && !key.contains("AAAA"));
        assert_eq!(
            account_key("password", " Bob "),
            account_key("password", "bob")
        );
    }

    #[test]
    fn refusals_are_recorded_at_powers_of_ten() {
        let recorded: Vec<i64> = (1..=2000)
            .filter(|&n| {
                Refusal {
                    wait: 1,
                    refused: n,
                }
                .worth_recording()
            })
            .collect();
        assert_eq!(recorded, vec![1, 10, 100, 1000]);
    }

    #[test]
    fn waits_read_well() {
        assert_eq!(human_wait(30), "30 seconds");
        assert_eq!(human_wait(120), "2 minutes");
        assert_eq!(human_wait(0), "1 second");
    }
}
