//! Random bearer secrets (session ids, codes, API keys, setup tokens) and their hashes.
//!
//! A secret leaves the server once, as text; the database keeps only its SHA-256.
//! A 256-bit random value needs no salt or slow hash: nobody can guess it.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `n` random bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    aws_lc_rs::rand::fill(&mut out).expect("the system random source failed");
    out
}

/// A fresh 256-bit secret, URL-safe base64 (43 characters).
pub fn random_token() -> SecretToken {
    SecretToken(URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// The hex SHA-256 of a presented secret: what is stored and looked up.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, secret.as_bytes()))
}

/// Compare two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// A secret in clear text; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

impl SecretToken {
    /// The clear text, to hand to its owner exactly once.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// The hash to store.
    pub fn hash(&self) -> String {
        hash_secret(&self.0)
    }
}

impl std::fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretToken(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hash_stably() {
        let a = random_token();
        let b = random_token();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 43);
        assert_eq!(a.hash(), hash_secret(a.expose()));
        assert_eq!(a.hash().len(), 64);
        assert_ne!(a.hash(), b.hash());
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
