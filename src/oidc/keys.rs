//! The signing key ring: keys live in the database (private parts sealed), are
//! decrypted once into memory, and are re-read when another instance (or
//! `latchkey keys rotate`) may have changed them.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::crypto::EncryptionKey;
use crate::crypto::keys::{Algorithm, SigningKey, VerifyingKey};
use crate::store::{SigningKeyRow, Store, StoreError, now};

/// How long a loaded ring is trusted before the database is asked again. Rotation
/// publishes the new key before it signs, so other instances pick it up in time.
const RELOAD_AFTER: Duration = Duration::from_secs(30);

/// Every algorithm gets a key on first start.
pub const ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("signing key {kid} cannot be used: {reason}")]
    Broken { kid: String, reason: String },
    #[error("no active {0} key")]
    Missing(Algorithm),
}

struct Loaded {
    at: Instant,
    signers: Vec<Arc<SigningKey>>,
    verifiers: Vec<VerifyingKey>,
    jwks: Arc<Value>,
}

/// Signing keys by algorithm, verification keys by kid, and the published JWKS.
pub struct KeyRing {
    store: Store,
    encryption: Arc<EncryptionKey>,
    loaded: RwLock<Arc<Loaded>>,
}

fn context(kid: &str) -> String {
    format!("signing_key:{kid}")
}

impl KeyRing {
    /// Load the keys, making one per algorithm if none exists yet.
    pub async fn open(
        store: Store,
        encryption: Arc<EncryptionKey>,
    ) -> Result<KeyRing, KeyRingError> {
        for alg in ALGORITHMS {
            if store.active_signing_key(alg.as_str()).await?.is_none() {
                create_key(&store, &encryption, alg).await?;
            }
        }
        let loaded = load(&store, &encryption).await?;
        Ok(KeyRing {
            store,
            encryption,
            loaded: RwLock::new(Arc::new(loaded)),
        })
    }

    async fn current(&self) -> Result<Arc<Loaded>, KeyRingError> {
        let loaded = self
            .loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if loaded.at.elapsed() < RELOAD_AFTER {
            return Ok(loaded);
        }
        let fresh = Arc::new(load(&self.store, &self.encryption).await?);
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
        Ok(fresh)
    }

    /// The key that signs with `alg` now.
    pub async fn signer(&self, alg: Algorithm) -> Result<Arc<SigningKey>, KeyRingError> {
        self.current()
            .await?
            .signers
            .iter()
            .find(|k| k.alg() == alg)
            .cloned()
            .ok_or(KeyRingError::Missing(alg))
    }

    /// The published keys, for verifying tokens Latchkey issued.
    pub async fn verifiers(&self) -> Result<Vec<VerifyingKey>, KeyRingError> {
        Ok(self.current().await?.verifiers.clone())
    }

    /// The JWKS document.
    pub async fn jwks(&self) -> Result<Arc<Value>, KeyRingError> {
        Ok(self.current().await?.jwks.clone())
    }

    /// Forget the cache (after a rotation in this process).
    pub async fn reload(&self) -> Result<(), KeyRingError> {
        let fresh = Arc::new(load(&self.store, &self.encryption).await?);
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }
}

/// Make a new active key for `alg`; returns its kid.
pub async fn create_key(
    store: &Store,
    encryption: &EncryptionKey,
    alg: Algorithm,
) -> Result<String, KeyRingError> {
    let key = SigningKey::generate(alg);
    let kid = key.kid().to_string();
    store
        .insert_signing_key(&SigningKeyRow {
            kid: kid.clone(),
            alg: alg.as_str().to_string(),
            public_jwk: key.public_jwk().to_string(),
            private_sealed: encryption.seal(&context(&kid), &key.to_pkcs8()),
            created_at: now(),
            retired_at: None,
            expires_at: None,
        })
        .await?;
    Ok(kid)
}

/// Replace the active key of `alg` by a new one. The old key stops signing at once and
/// stays in the JWKS for `keep_for` seconds, until every token it signed has expired.
pub async fn rotate(
    store: &Store,
    encryption: &EncryptionKey,
    alg: Algorithm,
    keep_for: i64,
) -> Result<(String, Option<String>), KeyRingError> {
    let old = store.active_signing_key(alg.as_str()).await?;
    let new_kid = create_key(store, encryption, alg).await?;
    if let Some(old) = &old {
        let t = now();
        store.retire_signing_key(&old.kid, t, t + keep_for).await?;
    }
    Ok((new_kid, old.map(|o| o.kid)))
}

async fn load(store: &Store, encryption: &EncryptionKey) -> Result<Loaded, KeyRingError> {
    let rows = store.published_signing_keys(now()).await?;
    let mut signers: Vec<Arc<SigningKey>> = Vec::new();
    let mut verifiers = Vec::new();
    let mut published = Vec::new();
    // Newest first, so that the first unretired key per algorithm is the active one.
    for row in rows.iter().rev() {
        let broken = |reason: String| KeyRingError::Broken {
            kid: row.kid.clone(),
            reason,
        };
        let jwk: Value =
            serde_json::from_str(&row.public_jwk).map_err(|e| broken(e.to_string()))?;
        verifiers.push(VerifyingKey::from_jwk(&jwk).map_err(|e| broken(e.to_string()))?);
        published.push(jwk);
        let alg = Algorithm::parse(&row.alg)
            .ok_or_else(|| broken(format!("unknown algorithm {}", row.alg)))?;
        if row.retired_at.is_none() && !signers.iter().any(|s| s.alg() == alg) {
            let der = encryption
                .open(&context(&row.kid), &row.private_sealed)
                .map_err(|e| broken(e.to_string()))?;
            signers.push(Arc::new(
                SigningKey::from_pkcs8(alg, &der).map_err(|e| broken(e.to_string()))?,
            ));
        }
    }
    Ok(Loaded {
        at: Instant::now(),
        signers,
        verifiers,
        jwks: Arc::new(json!({ "keys": published })),
    })
}
