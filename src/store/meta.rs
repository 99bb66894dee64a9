//! Facts about this installation that are not settings, such as the check that the
//! configured encryption key is the one that sealed this database's secrets.

use super::{Store, StoreError};
use crate::crypto::EncryptionKey;

const KEY_CHECK: &str = "encryption_key_check";
const KEY_CHECK_CONTEXT: &str = "instance_meta:encryption_key_check";
const KEY_CHECK_PLAINTEXT: &[u8] = b"latchkey";

impl Store {
    /// On first use, record a value sealed with `key`; afterwards, verify that `key`
    /// opens it. A wrong key is caught at start instead of when a secret is first read.
    pub async fn verify_encryption_key(&self, key: &EncryptionKey) -> Result<bool, StoreError> {
        let existing: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT value FROM instance_meta WHERE key = $1")
                .bind(KEY_CHECK)
                .fetch_optional(&mut *self.reader().await?)
                .await?;
        match existing {
            Some(sealed) => Ok(key
                .open(KEY_CHECK_CONTEXT, &sealed)
                .is_ok_and(|p| p == KEY_CHECK_PLAINTEXT)),
            None => {
                sqlx::query("INSERT INTO instance_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                    .bind(KEY_CHECK)
                    .bind(key.seal(KEY_CHECK_CONTEXT, KEY_CHECK_PLAINTEXT))
                    .execute(&mut *self.writer().await?)
                    .await?;
                // Another instance may have won the race with its own key: check again.
                Box::pin(self.verify_encryption_key(key)).await
            }
        }
    }
}
