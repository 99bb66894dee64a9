//! Uploaded pictures (already re-encoded by `media`): the application logo, client
//! logos and profile pictures, keyed by owner (`app`, `client:<id>`, `user:<id>`).

use sqlx::Row;

use super::{Store, StoreError, now};

/// A picture ready to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredImage {
    pub content_type: String,
    pub bytes: Vec<u8>,
    /// Changes whenever the picture does (for `ETag` and cache-busting URLs).
    pub etag: String,
    pub updated_at: i64,
}

impl Store {
    pub async fn put_image(
        &self,
        owner: &str,
        content_type: &str,
        bytes: &[u8],
        etag: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO images (owner, content_type, bytes, etag, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (owner) DO UPDATE SET \
             content_type = excluded.content_type, bytes = excluded.bytes, \
             etag = excluded.etag, updated_at = excluded.updated_at",
        )
        .bind(owner)
        .bind(content_type)
        .bind(bytes)
        .bind(etag)
        .bind(now())
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    pub async fn image(&self, owner: &str) -> Result<Option<StoredImage>, StoreError> {
        let row = sqlx::query(
            "SELECT content_type, bytes, etag, updated_at FROM images WHERE owner = $1",
        )
        .bind(owner)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        Ok(match row {
            Some(r) => Some(StoredImage {
                content_type: r.try_get("content_type")?,
                bytes: r.try_get("bytes")?,
                etag: r.try_get("etag")?,
                updated_at: r.try_get("updated_at")?,
            }),
            None => None,
        })
    }

    /// The etags of the pictures whose owner starts with `prefix` (e.g. `client:`), by
    /// owner: to link pictures from a list without loading them.
    pub async fn image_etags(
        &self,
        prefix: &str,
    ) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT owner, etag FROM images WHERE owner LIKE $1")
                .bind(format!("{prefix}%"))
                .fetch_all(&mut *self.reader().await?)
                .await?;
        Ok(rows.into_iter().collect())
    }

    pub async fn delete_image(&self, owner: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM images WHERE owner = $1")
            .bind(owner)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }
}
