//! OIDC clients, their allowed groups, and users' consents.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, flag, now};
use crate::domain::access::Strength;
use crate::domain::client::{Client, default_grant_types};
use crate::domain::scope;

macro_rules! columns {
    () => {
        "id, name, secret_hash, previous_secret_hash, previous_secret_expires_at, is_public, redirect_uris, \
         post_logout_redirect_uris, require_pkce, allow_plain_pkce, signing_alg, access_token_ttl, refresh_token_ttl, \
         skip_consent, always_refresh, launch_url, created_at, updated_at, require_strength, max_session_age, \
         grant_types, scopes"
    };
}

fn json_list(text: String) -> Vec<String> {
    serde_json::from_str(&text).unwrap_or_default()
}

fn client_from_row(row: &AnyRow) -> Result<Client, sqlx::Error> {
    Ok(Client {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        previous_secret_hash: row.try_get("previous_secret_hash")?,
        previous_secret_expires_at: row.try_get("previous_secret_expires_at")?,
        is_public: row.try_get::<i64, _>("is_public")? != 0,
        redirect_uris: json_list(row.try_get("redirect_uris")?),
        post_logout_redirect_uris: json_list(row.try_get("post_logout_redirect_uris")?),
        require_pkce: row.try_get::<i64, _>("require_pkce")? != 0,
        allow_plain_pkce: row.try_get::<i64, _>("allow_plain_pkce")? != 0,
        signing_alg: row.try_get("signing_alg")?,
        access_token_ttl: row.try_get("access_token_ttl")?,
        refresh_token_ttl: row.try_get("refresh_token_ttl")?,
        skip_consent: row.try_get::<i64, _>("skip_consent")? != 0,
        always_refresh: row.try_get::<i64, _>("always_refresh")? != 0,
        launch_url: row.try_get("launch_url")?,
        allowed_groups: Vec::new(),
        require: Strength::parse(&row.try_get::<String, _>("require_strength")?)
            .map_err(|e| sqlx::Error::Decode(e.to_string().into()))?,
        max_session_age: row.try_get("max_session_age")?,
        grant_types: row
            .try_get::<Option<String>, _>("grant_types")?
            .map(json_list)
            .unwrap_or_else(|| {
                default_grant_types(row.try_get::<i64, _>("is_public").unwrap_or(0) != 0)
            }),
        scopes: row
            .try_get::<Option<String>, _>("scopes")?
            .map(json_list)
            .unwrap_or_else(|| scope::SUPPORTED.iter().map(|s| s.to_string()).collect()),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    /// Insert a client and its allowed groups (by group id) in one transaction.
    pub async fn insert_client(&self, c: &Client) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(concat!(
            "INSERT INTO oidc_clients (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)"
        ))
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(&c.previous_secret_hash)
        .bind(c.previous_secret_expires_at)
        .bind(flag(c.is_public))
        .bind(serde_json::to_string(&c.redirect_uris).unwrap_or_default())
        .bind(serde_json::to_string(&c.post_logout_redirect_uris).unwrap_or_default())
        .bind(flag(c.require_pkce))
        .bind(flag(c.allow_plain_pkce))
        .bind(&c.signing_alg)
        .bind(c.access_token_ttl)
        .bind(c.refresh_token_ttl)
        .bind(flag(c.skip_consent))
        .bind(flag(c.always_refresh))
        .bind(&c.launch_url)
        .bind(c.created_at)
        .bind(c.updated_at)
        .bind(c.require.as_str())
        .bind(c.max_session_age)
        .bind(serde_json::to_string(&c.grant_types).unwrap_or_default())
        .bind(serde_json::to_string(&c.scopes).unwrap_or_default())
        .execute(&mut *tx)
        .await?;
        for group_id in &c.allowed_groups {
            sqlx::query("INSERT INTO oidc_client_groups (client_id, group_id) VALUES ($1, $2)")
                .bind(&c.id)
                .bind(group_id)
                .execute(&mut *tx)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                        StoreError::NotFound
                    }
                    _ => StoreError::Database(e),
                })?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Replace every setting of a client and its allowed groups (by group id) in one
    /// transaction: nothing is half-saved. The id and creation time stay.
    pub async fn update_client(&self, c: &Client) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE oidc_clients SET name = $2, secret_hash = $3, previous_secret_hash = $4, \
             previous_secret_expires_at = $5, is_public = $6, redirect_uris = $7, post_logout_redirect_uris = $8, \
             require_pkce = $9, allow_plain_pkce = $10, signing_alg = $11, access_token_ttl = $12, \
             refresh_token_ttl = $13, skip_consent = $14, always_refresh = $15, launch_url = $16, updated_at = $17, \
             require_strength = $18, max_session_age = $19, grant_types = $20, scopes = $21 WHERE id = $1",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(&c.previous_secret_hash)
        .bind(c.previous_secret_expires_at)
        .bind(flag(c.is_public))
        .bind(serde_json::to_string(&c.redirect_uris).unwrap_or_default())
        .bind(serde_json::to_string(&c.post_logout_redirect_uris).unwrap_or_default())
        .bind(flag(c.require_pkce))
        .bind(flag(c.allow_plain_pkce))
        .bind(&c.signing_alg)
        .bind(c.access_token_ttl)
        .bind(c.refresh_token_ttl)
        .bind(flag(c.skip_consent))
        .bind(flag(c.always_refresh))
        .bind(&c.launch_url)
        .bind(now())
        .bind(c.require.as_str())
        .bind(c.max_session_age)
        .bind(serde_json::to_string(&c.grant_types).unwrap_or_default())
        .bind(serde_json::to_string(&c.scopes).unwrap_or_default())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM oidc_client_groups WHERE client_id = $1")
            .bind(&c.id)
            .execute(&mut *tx)
            .await?;
        for group_id in &c.allowed_groups {
            sqlx::query("INSERT INTO oidc_client_groups (client_id, group_id) VALUES ($1, $2)")
                .bind(&c.id)
                .bind(group_id)
                .execute(&mut *tx)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                        StoreError::NotFound
                    }
                    _ => StoreError::Database(e),
                })?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A client with its allowed groups (as group names).
    pub async fn client_by_id(&self, id: &str) -> Result<Option<Client>, StoreError> {
        let Some(row) = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM oidc_clients WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.reader().await?)
        .await?
        else {
            return Ok(None);
        };
        let mut client = client_from_row(&row)?;
        client.allowed_groups = sqlx::query_scalar(
            "SELECT g.name FROM oidc_client_groups cg JOIN user_groups g ON g.id = cg.group_id WHERE cg.client_id = $1 ORDER BY g.name",
        )
        .bind(id)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        Ok(Some(client))
    }

    pub async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM oidc_clients ORDER BY name, id")
            .fetch_all(&mut *self.reader().await?)
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(c) = self.client_by_id(&id).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// The clients (id, name) that only members of this group may use, by name.
    pub async fn clients_limited_to_group(
        &self,
        group_id: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT c.id, c.name FROM oidc_client_groups cg JOIN oidc_clients c ON c.id = cg.client_id \
             WHERE cg.group_id = $1 ORDER BY c.name, c.id",
        )
        .bind(group_id)
        .fetch_all(&mut *self.reader().await?)
        .await?)
    }

    /// Delete a client; its codes, tokens and consents go with it.
    pub async fn delete_client(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("DELETE FROM oidc_clients WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        // Its picture goes with it (pictures are keyed by owner, not by foreign key).
        sqlx::query("DELETE FROM images WHERE owner = $1")
            .bind(format!("client:{id}"))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replace the secret; the old one keeps working until `previous_expires_at`.
    pub async fn rotate_client_secret(
        &self,
        id: &str,
        new_hash: &str,
        previous_expires_at: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE oidc_clients SET previous_secret_hash = secret_hash, previous_secret_expires_at = $3, \
             secret_hash = $2, updated_at = $4 WHERE id = $1 AND is_public = 0",
        )
        .bind(id)
        .bind(new_hash)
        .bind(previous_expires_at)
        .bind(now())
        .execute(&mut *self.writer().await?)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oidc_consents (user_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(scope)
        .bind(now())
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    /// The applications a user has approved: (client id, client name, scope, when).
    pub async fn consents_of_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<(String, String, String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT c.id, c.name, k.scope, k.granted_at FROM oidc_consents k JOIN oidc_clients c ON c.id = k.client_id \
             WHERE k.user_id = $1 ORDER BY c.name",
        )
        .bind(user_id)
        .fetch_all(&mut *self.reader().await?)
        .await?)
    }

    /// Withdraw a user's approval of a client, and with it every refresh and access
    /// token the client holds for the user, in one transaction.
    pub async fn revoke_consent(&self, user_id: &str, client_id: &str) -> Result<(), StoreError> {
        let t = now();
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM oidc_consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        for table in ["oidc_refresh_tokens", "oidc_access_tokens"] {
            let sql = format!(
                "UPDATE {table} SET revoked_at = $3 WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(user_id)
                .bind(client_id)
                .bind(t)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
