//! Token signing keys. The private part arrives sealed (`crypto::EncryptionKey`) and
//! is stored only that way.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};

/// A signing key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    /// The public key as a JWK (JSON text).
    pub public_jwk: String,
    /// The private key, sealed under the context `signing_key:<kid>`.
    pub private_sealed: Vec<u8>,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    /// When the last token signed with it expires; then it may leave the JWKS.
    pub expires_at: Option<i64>,
}

macro_rules! columns {
    () => {
        "kid, alg, public_jwk, private_sealed, created_at, retired_at, expires_at"
    };
}

fn key_from_row(row: &AnyRow) -> Result<SigningKeyRow, sqlx::Error> {
    Ok(SigningKeyRow {
        kid: row.try_get("kid")?,
        alg: row.try_get("alg")?,
        public_jwk: row.try_get("public_jwk")?,
        private_sealed: row.try_get("private_sealed")?,
        created_at: row.try_get("created_at")?,
        retired_at: row.try_get("retired_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

impl Store {
    pub async fn insert_signing_key(&self, key: &SigningKeyRow) -> Result<(), StoreError> {
        let sql = concat!(
            "INSERT INTO signing_keys (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
        );
        sqlx::query(sql)
            .bind(&key.kid)
            .bind(&key.alg)
            .bind(&key.public_jwk)
            .bind(&key.private_sealed)
            .bind(key.created_at)
            .bind(key.retired_at)
            .bind(key.expires_at)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    /// Keys still published: active ones and retired ones whose tokens may still be live.
    pub async fn published_signing_keys(&self, at: i64) -> Result<Vec<SigningKeyRow>, StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM signing_keys WHERE expires_at IS NULL OR expires_at > $1 ORDER BY created_at, kid"
        );
        let rows = sqlx::query(sql)
            .bind(at)
            .fetch_all(&mut *self.reader().await?)
            .await?;
        Ok(rows.iter().map(key_from_row).collect::<Result<_, _>>()?)
    }

    /// The newest unretired key for an algorithm: the one that signs.
    pub async fn active_signing_key(&self, alg: &str) -> Result<Option<SigningKeyRow>, StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM signing_keys WHERE alg = $1 AND retired_at IS NULL ORDER BY created_at DESC, kid DESC LIMIT 1"
        );
        let row = sqlx::query(sql)
            .bind(alg)
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        Ok(row.as_ref().map(key_from_row).transpose()?)
    }

    /// Stop signing with a key; it stays published until `expires_at`.
    pub async fn retire_signing_key(
        &self,
        kid: &str,
        at: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE signing_keys SET retired_at = $2, expires_at = $3 WHERE kid = $1 AND retired_at IS NULL",
        )
        .bind(kid)
        .bind(at)
        .bind(expires_at)
        .execute(&mut *self.writer().await?)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Every key ever made, newest first (for `latchkey keys list`).
    pub async fn all_signing_keys(&self) -> Result<Vec<SigningKeyRow>, StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM signing_keys ORDER BY created_at DESC, kid DESC"
        );
        let rows = sqlx::query(sql)
            .fetch_all(&mut *self.reader().await?)
            .await?;
        Ok(rows.iter().map(key_from_row).collect::<Result<_, _>>()?)
    }
}
