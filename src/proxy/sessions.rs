//! The sessions behind proxy cookies, kept in memory between checks.
//!
//! Freshness: an entry is used while nothing was written through this process's
//! store since it was read (any write may have been a sign-out, a revoked session or
//! a disabled user; see `Store::write_count`) and for at most `RECHECK`, which bounds
//! how long a sign-out on another instance goes unseen. A miss reads one row.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::auth::session::touch_if_due;
use crate::crypto::hash_secret;
use crate::domain::session::Session;
use crate::store::{Store, StoreError, now};

/// The longest a change made by another process stays unseen.
pub const RECHECK: Duration = Duration::from_secs(2);
/// Sessions held at most; past that, stale ones are dropped first, then all.
const HELD: usize = 50_000;

struct Cached {
    session: Session,
    writes: u64,
    checked: Instant,
}

#[derive(Default)]
pub struct ProxySessions {
    by_hash: RwLock<HashMap<String, Cached>>,
}

impl ProxySessions {
    /// The live session a proxy cookie value belongs to.
    pub async fn resolve(
        &self,
        store: &Store,
        cookie_value: &str,
        idle_timeout: i64,
    ) -> Result<Option<Session>, StoreError> {
        let hash = hash_secret(cookie_value);
        let t = now();
        let writes = store.write_count();
        {
            let held = self.by_hash.read().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = held.get(&hash)
                && c.writes == writes
                && c.checked.elapsed() < RECHECK
                && !c.session.is_expired(t, idle_timeout)
            {
                return Ok(Some(c.session.clone()));
            }
        }
        let checked = Instant::now();
        let Some(session) = store.session_by_proxy_hash(&hash).await? else {
            self.forget(&hash);
            return Ok(None);
        };
        if session.is_expired(t, idle_timeout) {
            store.delete_session(&session.id_hash).await?;
            self.forget(&hash);
            return Ok(None);
        }
        touch_if_due(store, &session, t).await?;
        let mut held = self.by_hash.write().unwrap_or_else(|e| e.into_inner());
        if held.len() >= HELD {
            held.retain(|_, c| c.checked.elapsed() < RECHECK);
            if held.len() >= HELD {
                held.clear();
            }
        }
        held.insert(
            hash,
            Cached {
                session: session.clone(),
                writes,
                checked,
            },
        );
        Ok(Some(session))
    }

    fn forget(&self, hash: &str) {
        self.by_hash
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(hash);
    }
}

/// `Authorization: Basic` callers send their app password with every request: a
/// header checked in the last `BASIC_FOR` is taken as the same user without another
/// check (and another write of the password's last use). A revoked app password
/// stops working within that time.
#[derive(Default)]
pub struct BasicCache {
    seen: std::sync::Mutex<HashMap<String, (String, Instant)>>,
}

const BASIC_FOR: Duration = Duration::from_secs(5);

impl BasicCache {
    /// The user id a header (by its hash) was found to be, lately.
    pub fn get(&self, header_hash: &str) -> Option<String> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(header_hash)
            .filter(|(_, at)| at.elapsed() < BASIC_FOR)
            .map(|(user, _)| user.clone())
    }

    pub fn put(&self, header_hash: String, user_id: String) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= HELD {
            seen.retain(|_, (_, at)| at.elapsed() < BASIC_FOR);
            if seen.len() >= HELD {
                seen.clear();
            }
        }
        seen.insert(header_hash, (user_id, Instant::now()));
    }
}
