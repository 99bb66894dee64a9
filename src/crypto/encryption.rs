//! Encryption of secrets at rest (signing keys, SMTP password, TOTP seeds).
//!
//! The master secret is `LATCHKEY_ENCRYPTION_KEY` or, when unset, a random key made on
//! first start in `<data dir>/encryption.key` (mode 0600). HKDF-SHA256 turns it into an
//! AES-256-GCM key. Each sealed value is `version || nonce || ciphertext+tag`, bound to
//! a context string (the AAD) so a value cannot be moved to another column or row.

use std::io::Write;
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::{hkdf, hmac};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::secrets::random_bytes;

const FORMAT_V1: u8 = 1;
const KEY_FILE: &str = "encryption.key";

/// Why the master key could not be loaded or a value not decrypted.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a Latchkey key file (expected base64 of 32 bytes)")]
    Malformed { path: PathBuf },
    #[error("a value could not be decrypted: wrong encryption key or damaged data")]
    Decrypt,
}

/// The key that seals and opens secrets at rest.
pub struct EncryptionKey {
    aead: LessSafeKey,
    /// Keys the pseudonyms of values that must not be stored in clear (`pseudonym`).
    pseudonyms: hmac::Key,
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey(***)")
    }
}

struct Len32;
impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

impl EncryptionKey {
    /// Derive the AEAD key from master key material of any length.
    pub fn derive(master: &[u8]) -> EncryptionKey {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"latchkey at-rest encryption");
        let prk = salt.extract(master);
        let okm = prk
            .expand(&[b"aes-256-gcm v1"], Len32)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let mut key = [0u8; 32];
        okm.fill(&mut key).expect("length matches");
        let unbound = UnboundKey::new(&AES_256_GCM, &key).expect("32-byte AES key");
        let mut mac_key = [0u8; 32];
        prk.expand(&[b"hmac-sha256 pseudonyms v1"], Len32)
            .expect("32 bytes is a valid HKDF-SHA256 output length")
            .fill(&mut mac_key)
            .expect("length matches");
        EncryptionKey {
            aead: LessSafeKey::new(unbound),
            pseudonyms: hmac::Key::new(hmac::HMAC_SHA256, &mac_key),
        }
    }

    /// The configured key, or the one in the data dir, made there on first use.
    pub fn load_or_create(
        configured: Option<&str>,
        data_dir: &Path,
    ) -> Result<EncryptionKey, KeyError> {
        if let Some(secret) = configured {
            return Ok(EncryptionKey::derive(secret.as_bytes()));
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = STANDARD
                    .decode(text.trim())
                    .ok()
                    .filter(|b| b.len() == 32)
                    .ok_or_else(|| KeyError::Malformed { path: path.clone() })?;
                Ok(EncryptionKey::derive(&bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let bytes = random_bytes::<32>();
                write_private_file(&path, STANDARD.encode(bytes).as_bytes())
                    .map_err(|source| KeyError::Create { path, source })?;
                Ok(EncryptionKey::derive(&bytes))
            }
            Err(source) => Err(KeyError::Read { path, source }),
        }
    }

    /// Encrypt `plaintext` for storage under `context` (e.g. `"signing_key:<kid>"`).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut buf = plaintext.to_vec();
        self.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .expect("AES-GCM sealing of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&buf);
        out
    }

    /// A stable keyed hash of `value` (16 bytes, hex): the same input gives the same
    /// pseudonym on every instance sharing this key, so a SIEM can correlate repeated
    /// tries of one value, while nobody without the key can test guesses against it
    /// (a password typed into the username field, say).
    pub fn pseudonym(&self, context: &str, value: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.pseudonyms);
        ctx.update(context.as_bytes());
        ctx.update(&[0]);
        ctx.update(value.as_bytes());
        hex::encode(&ctx.sign().as_ref()[..16])
    }

    /// Decrypt a value sealed under the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, KeyError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != FORMAT_V1 {
            return Err(KeyError::Decrypt);
        }
        let nonce = Nonce::try_assume_unique_for_key(&sealed[1..1 + NONCE_LEN])
            .map_err(|_| KeyError::Decrypt)?;
        let mut buf = sealed[1 + NONCE_LEN..].to_vec();
        let plain = self
            .aead
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| KeyError::Decrypt)?;
        Ok(plain.to_vec())
    }
}

/// Create a new file readable only by its owner; refuses to overwrite.
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_bound_to_context() {
        let key = EncryptionKey::derive(b"a master key of some length, here 40+ bytes");
        let sealed = key.seal("signing_key:abc", b"private key bytes");
        assert_ne!(&sealed[1 + NONCE_LEN..], b"private key bytes");
        assert_eq!(
            key.open("signing_key:abc", &sealed).unwrap(),
            b"private key bytes"
        );
        assert!(key.open("signing_key:other", &sealed).is_err());
        let other = EncryptionKey::derive(b"another master key");
        assert!(other.open("signing_key:abc", &sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.open("signing_key:abc", &tampered).is_err());
    }

    #[test]
    fn generated_key_file_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let k1 = EncryptionKey::load_or_create(None, dir.path()).unwrap();
        let sealed = k1.seal("c", b"v");
        let path = dir.path().join(KEY_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let k2 = EncryptionKey::load_or_create(None, dir.path()).unwrap();
        assert_eq!(k2.open("c", &sealed).unwrap(), b"v");
        std::fs::write(&path, "garbage").unwrap();
        assert!(matches!(
            EncryptionKey::load_or_create(None, dir.path()),
            Err(KeyError::Malformed { .. })
        ));
    }
}
