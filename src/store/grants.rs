//! What the token endpoint hands out: authorization codes (single use), refresh-token
//! families (rotating; reuse revokes the family) and access tokens by `jti`.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Row as _};

use super::grouped::Row;
use super::{Store, StoreError, now};

type Bound<'q> = Query<'q, Any, AnyArguments>;

impl CodeGrant {
    /// Bind the code's values in the order of its column list in grouped.rs.
    pub(super) fn bind<'q>(&'q self, query: Bound<'q>) -> Bound<'q> {
        query
            .bind(self.code_hash.as_str())
            .bind(self.client_id.as_str())
            .bind(self.user_id.as_str())
            .bind(self.redirect_uri.as_str())
            .bind(self.scope.as_str())
            .bind(self.nonce.as_deref())
            .bind(self.code_challenge.as_deref())
            .bind(self.code_challenge_method.as_deref())
            .bind(self.session_hash.as_str())
            .bind(self.auth_time)
            .bind(serde_json::to_string(&self.amr).unwrap_or_default())
            .bind(self.expires_at)
    }
}

impl AccessRecord {
    /// Bind the record's values in the order of its column list in grouped.rs.
    pub(super) fn bind<'q>(&'q self, query: Bound<'q>) -> Bound<'q> {
        query
            .bind(self.jti.as_str())
            .bind(self.client_id.as_str())
            .bind(self.user_id.as_deref())
            .bind(self.family_id.as_deref())
            .bind(self.code_hash.as_deref())
            .bind(self.session_hash.as_deref())
            .bind(self.scope.as_str())
            .bind(self.expires_at)
    }
}

impl RefreshGrant {
    /// Bind the grant's values in the order of its column list in grouped.rs.
    pub(super) fn bind<'q>(&'q self, query: Bound<'q>) -> Bound<'q> {
        query
            .bind(self.token_hash.as_str())
            .bind(self.family_id.as_str())
            .bind(self.client_id.as_str())
            .bind(self.user_id.as_str())
            .bind(self.scope.as_str())
            .bind(self.nonce.as_deref())
            .bind(self.session_hash.as_str())
            .bind(self.auth_time)
            .bind(serde_json::to_string(&self.amr).unwrap_or_default())
            .bind(self.code_hash.as_deref())
            .bind(now())
            .bind(self.expires_at)
    }
}

/// An authorization code as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeGrant {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub session_hash: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub expires_at: i64,
}

/// A refresh token as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshGrant {
    pub token_hash: String,
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub session_hash: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub code_hash: Option<String>,
    pub expires_at: i64,
    pub rotated_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// An access token's record (the token itself is a signed JWT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRecord {
    pub jti: String,
    pub client_id: String,
    pub user_id: Option<String>,
    pub family_id: Option<String>,
    pub code_hash: Option<String>,
    pub session_hash: Option<String>,
    pub scope: String,
    pub expires_at: i64,
}

/// The outcome of redeeming a code.
#[derive(Debug, PartialEq, Eq)]
pub enum Redemption {
    Redeemed(Box<CodeGrant>),
    /// Already used: everything it issued has now been revoked.
    Replayed {
        client_id: String,
        user_id: String,
    },
    Unknown,
}

fn amr_list(text: String) -> Vec<String> {
    serde_json::from_str(&text).unwrap_or_default()
}

/// Mark the code `code_hash` used at `at` if it was not, on `conn` (the writer, in
/// a group: grouped.rs); the code as stored, or `None` when unknown or already used.
pub(super) async fn use_code(
    conn: &mut sqlx::AnyConnection,
    code_hash: &str,
    at: i64,
) -> Result<Option<Box<CodeGrant>>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE oidc_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL \
         RETURNING client_id, user_id, redirect_uri, scope, nonce, code_challenge, code_challenge_method, session_hash, auth_time, amr, expires_at",
    )
    .bind(code_hash)
    .bind(at)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(Box::new(CodeGrant {
        code_hash: code_hash.to_string(),
        client_id: r.try_get("client_id")?,
        user_id: r.try_get("user_id")?,
        redirect_uri: r.try_get("redirect_uri")?,
        scope: r.try_get("scope")?,
        nonce: r.try_get("nonce")?,
        code_challenge: r.try_get("code_challenge")?,
        code_challenge_method: r.try_get("code_challenge_method")?,
        session_hash: r.try_get("session_hash")?,
        auth_time: r.try_get("auth_time")?,
        amr: amr_list(r.try_get("amr")?),
        expires_at: r.try_get("expires_at")?,
    })))
}

/// Mark the refresh token `token_hash` used up by rotation at `at`, on `conn` (in the
/// group that writes its successor: grouped.rs); false when it was already used or
/// revoked (a concurrent reuse), which the caller treats as reuse.
pub(super) async fn rotate_refresh(
    conn: &mut sqlx::AnyConnection,
    token_hash: &str,
    at: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE oidc_refresh_tokens SET rotated_at = $2 \
         WHERE token_hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL",
    )
    .bind(token_hash)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

impl Store {
    /// Store a new authorization code (written in a group: grouped.rs).
    pub async fn insert_code(&self, code: CodeGrant) -> Result<(), StoreError> {
        Ok(self.groups.insert(vec![Row::Code(code)]).await?)
    }

    /// Use a code once (with the next group of writes: grouped.rs). A second use
    /// revokes every token the first one issued.
    pub async fn redeem_code(&self, code_hash: &str) -> Result<Redemption, StoreError> {
        if let Some(grant) = self.groups.use_code(code_hash.to_string(), now()).await? {
            return Ok(Redemption::Redeemed(grant));
        }
        let used = sqlx::query("SELECT client_id, user_id FROM oidc_codes WHERE code_hash = $1")
            .bind(code_hash)
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        let Some(used) = used else {
            return Ok(Redemption::Unknown);
        };
        self.revoke_issued_by_code(code_hash).await?;
        Ok(Redemption::Replayed {
            client_id: used.try_get("client_id")?,
            user_id: used.try_get("user_id")?,
        })
    }

    /// Revoke the access tokens and refresh families a code led to.
    pub async fn revoke_issued_by_code(&self, code_hash: &str) -> Result<(), StoreError> {
        let t = now();
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE oidc_access_tokens SET revoked_at = $2 WHERE revoked_at IS NULL AND (code_hash = $1 OR family_id IN \
             (SELECT family_id FROM oidc_refresh_tokens WHERE code_hash = $1))",
        )
        .bind(code_hash)
        .bind(t)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE oidc_refresh_tokens SET revoked_at = $2 WHERE revoked_at IS NULL AND family_id IN \
             (SELECT family_id FROM oidc_refresh_tokens WHERE code_hash = $1)",
        )
        .bind(code_hash)
        .bind(t)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Store a new refresh token (written in a group: grouped.rs).
    pub async fn insert_refresh(&self, grant: RefreshGrant) -> Result<(), StoreError> {
        Ok(self.groups.insert(vec![Row::Refresh(grant)]).await?)
    }

    pub async fn refresh_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshGrant>, StoreError> {
        let row = sqlx::query(
            "SELECT token_hash, family_id, client_id, user_id, scope, nonce, session_hash, auth_time, amr, code_hash, expires_at, rotated_at, \
             revoked_at FROM oidc_refresh_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(RefreshGrant {
            token_hash: r.try_get("token_hash")?,
            family_id: r.try_get("family_id")?,
            client_id: r.try_get("client_id")?,
            user_id: r.try_get("user_id")?,
            scope: r.try_get("scope")?,
            nonce: r.try_get("nonce")?,
            session_hash: r.try_get("session_hash")?,
            auth_time: r.try_get("auth_time")?,
            amr: amr_list(r.try_get("amr")?),
            code_hash: r.try_get("code_hash")?,
            expires_at: r.try_get("expires_at")?,
            rotated_at: r.try_get("rotated_at")?,
            revoked_at: r.try_get("revoked_at")?,
        }))
    }

    /// Revoke a whole refresh family and the access tokens issued from it.
    pub async fn revoke_family(&self, family_id: &str) -> Result<(), StoreError> {
        let t = now();
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE oidc_refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
            .bind(family_id)
            .bind(t)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE oidc_access_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
            .bind(family_id)
            .bind(t)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revoke every refresh family tied to a browser session (logout).
    pub async fn revoke_session_grants(&self, session_hash: &str) -> Result<(), StoreError> {
        let families: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT family_id FROM oidc_refresh_tokens WHERE session_hash = $1 AND revoked_at IS NULL")
                .bind(session_hash)
                .fetch_all(&mut *self.reader().await?)
                .await?;
        for f in families {
            self.revoke_family(&f).await?;
        }
        sqlx::query("UPDATE oidc_access_tokens SET revoked_at = $2 WHERE session_hash = $1 AND revoked_at IS NULL")
            .bind(session_hash)
            .bind(now())
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    /// Record an access token (written in a group: grouped.rs).
    pub async fn insert_access(&self, record: AccessRecord) -> Result<(), StoreError> {
        Ok(self.groups.insert(vec![Row::Access(record)]).await?)
    }

    /// Whether the access token with this `jti` is revoked, if it is on record.
    pub async fn access_record_revoked(&self, jti: &str) -> Result<Option<bool>, StoreError> {
        let revoked: Option<Option<i64>> =
            sqlx::query_scalar("SELECT revoked_at FROM oidc_access_tokens WHERE jti = $1")
                .bind(jti)
                .fetch_optional(&mut *self.reader().await?)
                .await?;
        Ok(revoked.map(|r| r.is_some()))
    }

    /// Revoke one access token of `client_id`. A token never recorded (a
    /// client_credentials token) is recorded now, as revoked, until it expires.
    pub async fn revoke_access(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oidc_access_tokens (jti, client_id, scope, expires_at, revoked_at) VALUES ($1, $2, '', $3, $4) \
             ON CONFLICT (jti) DO UPDATE SET revoked_at = excluded.revoked_at \
             WHERE oidc_access_tokens.client_id = excluded.client_id AND oidc_access_tokens.revoked_at IS NULL",
        )
        .bind(jti)
        .bind(client_id)
        .bind(expires_at)
        .bind(now())
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    /// Delete expired codes and tokens.
    pub async fn delete_expired_grants(&self, now: i64) -> Result<(), StoreError> {
        for sql in [
            "DELETE FROM oidc_codes WHERE expires_at <= $1",
            "DELETE FROM oidc_refresh_tokens WHERE expires_at <= $1",
            "DELETE FROM oidc_access_tokens WHERE expires_at <= $1",
        ] {
            sqlx::query(sql)
                .bind(now - 86_400)
                .execute(&mut *self.writer().await?)
                .await?;
        }
        Ok(())
    }
}
