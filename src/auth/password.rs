//! Passwords: argon2id with OWASP parameters, hashed off the async threads behind a
//! concurrency limit, and a strength check with zxcvbn.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::domain::Invalid;

/// OWASP (2024): argon2id, 19 MiB, 2 iterations, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub const MIN_LENGTH: usize = 10;
const MAX_LENGTH: usize = 256;

/// Verifications that may wait for a worker, per worker: beyond that a burst is
/// answered "busy" at once, so that a flood of guesses cannot make every sign-in wait
/// behind it (each check is ~30 ms of one core).
const QUEUE_PER_WORKER: usize = 16;
/// Nobody waits longer than this for a worker.
const QUEUE_WAIT: Duration = Duration::from_secs(3);

/// The password workers are all busy and the queue is full: try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server is busy checking passwords")]
pub struct Busy;

/// Hashes and verifies passwords on the blocking pool, a few at a time, so that a
/// burst of sign-ins cannot starve the server or exhaust memory (19 MiB each).
#[derive(Clone)]
pub struct PasswordHasherPool {
    permits: Arc<Semaphore>,
    /// Verifications waiting for a permit, and how many may.
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    /// A real hash of a random password: verified against when the account does not
    /// exist, so that both cases cost the same time. Made on first need, on the
    /// blocking pool: at start it cost ~30 ms on a runtime thread and a 19 MiB peak.
    dummy_hash: Arc<OnceLock<String>>,
}

impl PasswordHasherPool {
    pub fn new() -> PasswordHasherPool {
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        PasswordHasherPool {
            permits: Arc::new(Semaphore::new(workers)),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: workers * QUEUE_PER_WORKER,
            dummy_hash: Arc::new(OnceLock::new()),
        }
    }

    pub async fn hash(&self, password: String) -> String {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("semaphore never closed");
        tokio::task::spawn_blocking(move || hash_now(&password))
            .await
            .expect("hashing does not panic")
    }

    /// A worker, unless the queue for one is full or does not move within `QUEUE_WAIT`.
    async fn worker(&self) -> Result<SemaphorePermit<'_>, Busy> {
        if let Ok(permit) = self.permits.try_acquire() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy);
        }
        let permit = tokio::time::timeout(QUEUE_WAIT, self.permits.acquire()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match permit {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Busy),
        }
    }

    /// Verify `password` against `hash`, or against the dummy hash when there is
    /// none (unknown account, or no password set): the answer is then always false.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, Busy> {
        let _permit = self.worker().await?;
        let real = hash.is_some();
        let dummy = self.dummy_hash.clone();
        let ok = tokio::task::spawn_blocking(move || {
            // Only the very first check of an unknown account (once per process) takes
            // one hash longer; every later one costs what a real check costs.
            let stored = hash.unwrap_or_else(|| {
                dummy
                    .get_or_init(|| hash_now(crate::crypto::random_token().expose()))
                    .clone()
            });
            PasswordHash::new(&stored).is_ok_and(|parsed| {
                argon2()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false);
        Ok(ok && real)
    }
}

impl Default for PasswordHasherPool {
    fn default() -> Self {
        Self::new()
    }
}

fn hash_now(password: &str) -> String {
    let salt_bytes = crate::crypto::secrets::random_bytes::<16>();
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes is a valid salt");
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing of a bounded password cannot fail")
        .to_string()
}

/// Refuse passwords that are short or easy to guess, saying why and how to do better.
/// `personal` holds the user's own names and address, which make weak passwords.
pub fn check_strength(password: &str, personal: &[&str]) -> Result<(), Invalid> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(Invalid::new(
            "password",
            format!("must be at least {MIN_LENGTH} characters"),
        ));
    }
    if length > MAX_LENGTH {
        return Err(Invalid::new(
            "password",
            format!("must be at most {MAX_LENGTH} characters"),
        ));
    }
    let entropy = zxcvbn::zxcvbn(password, personal);
    if u8::from(entropy.score()) >= 3 {
        return Ok(());
    }
    let mut message = String::from("is too easy to guess");
    if let Some(feedback) = entropy.feedback() {
        if let Some(warning) = feedback.warning() {
            message.push_str(&format!(": {warning}"));
        }
        if let Some(tip) = feedback.suggestions().first() {
            message.push_str(&format!(". {tip}"));
        }
    }
    if !message.ends_with('.') {
        message.push('.');
    }
    message.push_str(" A few unrelated words make a strong password.");
    Err(Invalid::new("password", message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let pool = PasswordHasherPool::new();
        let h1 = pool.hash("correct horse battery staple".into()).await;
        let h2 = pool.hash("correct horse battery staple".into()).await;
        assert!(h1.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_ne!(h1, h2, "salted");
        assert!(
            pool.verify("correct horse battery staple".into(), Some(h1.clone()))
                .await
                .unwrap()
        );
        assert!(!pool.verify("wrong".into(), Some(h1)).await.unwrap());
        assert!(!pool.verify("anything".into(), None).await.unwrap());
    }

    #[test]
    fn weak_passwords_are_refused_with_advice() {
        assert!(
            check_strength("short", &[])
                .unwrap_err()
                .message
                .contains("at least 10")
        );
        let e = check_strength("password123", &[]).unwrap_err();
        assert!(e.message.contains("too easy to guess"), "{}", e.message);
        assert!(check_strength("aliceliddell", &["alice", "liddell"]).is_err());
        assert!(check_strength("velvet tractor ocean lamp", &[]).is_ok());
    }
}
