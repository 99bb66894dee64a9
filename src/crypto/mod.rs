//! Cryptography: random secrets and their hashes, and encryption of secrets at rest.
//! One provider (aws-lc-rs) underneath everything.

pub mod encryption;
pub mod jws;
pub mod keys;
pub mod secrets;

pub use encryption::{EncryptionKey, KeyError};
pub use secrets::{SecretToken, constant_time_eq, hash_secret, random_bytes, random_token};
