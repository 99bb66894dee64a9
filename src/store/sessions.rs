//! Sessions: server-side rows keyed by the hash of the cookie value.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, flag};
use crate::domain::session::{AuthMethod, Session};
use crate::domain::user::User;

macro_rules! columns {
    () => {
        "s.id_hash, s.user_id, s.created_at, s.last_seen_at, s.expires_at, s.auth_time, s.auth_method, s.ip, s.user_agent, s.new_device"
    };
}

fn session_from_row(row: &AnyRow) -> Result<Session, sqlx::Error> {
    let method: String = row.try_get("auth_method")?;
    Ok(Session {
        id_hash: row.try_get("id_hash")?,
        user_id: row.try_get("user_id")?,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        expires_at: row.try_get("expires_at")?,
        auth_time: row.try_get("auth_time")?,
        auth_method: AuthMethod::parse(&method)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown auth method {method}").into()))?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        new_device: row.try_get::<i64, _>("new_device")? != 0,
    })
}

impl Store {
    /// Give a session a (new) proxy cookie: the hash of its value. A cookie issued
    /// before for the same session stops working.
    pub async fn set_session_proxy_hash(
        &self,
        id_hash: &str,
        proxy_hash: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE sessions SET proxy_hash = $2 WHERE id_hash = $1")
            .bind(id_hash)
            .bind(proxy_hash)
            .execute(&mut *self.writer().await?)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The session a proxy cookie belongs to.
    pub async fn session_by_proxy_hash(
        &self,
        proxy_hash: &str,
    ) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM sessions s WHERE s.proxy_hash = $1"
        ))
        .bind(proxy_hash)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        Ok(row.as_ref().map(session_from_row).transpose()?)
    }

    pub async fn insert_session(&self, s: &Session) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at, auth_time, auth_method, amr, ip, user_agent, new_device) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&s.id_hash)
        .bind(&s.user_id)
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(s.expires_at)
        .bind(s.auth_time)
        .bind(s.auth_method.as_str())
        .bind(serde_json::to_string(&s.auth_method.amr()).unwrap_or_default())
        .bind(&s.ip)
        .bind(&s.user_agent)
        .bind(flag(s.new_device))
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    /// A session and its user, in one query (every signed-in request asks this).
    pub async fn session_with_user(
        &self,
        id_hash: &str,
    ) -> Result<Option<(Session, User)>, StoreError> {
        Ok(self
            .session_with_user_and_consent(id_hash, None)
            .await?
            .map(|(session, user, _)| (session, user)))
    }

    /// A session, its user, and the scope the user has approved for `client_id` (if
    /// any, and if a client is named), in one query: /authorize asks all three for
    /// every code it issues.
    pub async fn session_with_user_and_consent(
        &self,
        id_hash: &str,
        client_id: Option<&str>,
    ) -> Result<Option<(Session, User, Option<String>)>, StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            ", u.id, u.username, u.email, u.email_verified, u.first_name, u.last_name, u.display_name, u.is_admin, u.disabled, \
             u.locale, u.created_at AS u_created_at, u.updated_at AS u_updated_at, u.external_id, \
             (SELECT k.scope FROM oidc_consents k WHERE k.user_id = u.id AND k.client_id = $2) AS consent_scope \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1"
        );
        let Some(row) = sqlx::query(sql)
            .bind(id_hash)
            .bind(client_id)
            .fetch_optional(&mut *self.reader().await?)
            .await?
        else {
            return Ok(None);
        };
        let session = session_from_row(&row)?;
        let external_id: Option<String> = row.try_get("external_id")?;
        let user = User {
            id: row.try_get("id")?,
            username: row.try_get("username")?,
            email: row.try_get("email")?,
            email_verified: row.try_get::<i64, _>("email_verified")? != 0,
            first_name: row.try_get("first_name")?,
            last_name: row.try_get("last_name")?,
            display_name: row.try_get("display_name")?,
            is_admin: row.try_get::<i64, _>("is_admin")? != 0,
            disabled: row.try_get::<i64, _>("disabled")? != 0,
            locale: row.try_get("locale")?,
            created_at: row.try_get("u_created_at")?,
            updated_at: row.try_get("u_updated_at")?,
            source: crate::domain::user::Source::of(&external_id),
            external_id,
        };
        Ok(Some((session, user, row.try_get("consent_scope")?)))
    }

    /// A user's sessions, most recently used first.
    pub async fn sessions_of_user(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM sessions s WHERE s.user_id = $1 ORDER BY s.last_seen_at DESC, s.id_hash"
        );
        let rows = sqlx::query(sql)
            .bind(user_id)
            .fetch_all(&mut *self.reader().await?)
            .await?;
        Ok(rows
            .iter()
            .map(session_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Record activity (callers throttle this to about once a minute).
    pub async fn touch_session(&self, id_hash: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1")
            .bind(id_hash)
            .bind(at)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    /// The user proved themselves again in this session.
    pub async fn reauthenticate_session(&self, id_hash: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET auth_time = $2, last_seen_at = $2 WHERE id_hash = $1")
            .bind(id_hash)
            .bind(at)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Revoke one of a user's sessions (a user may only revoke their own).
    pub async fn delete_user_session(
        &self,
        user_id: &str,
        id_hash: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE id_hash = $1 AND user_id = $2")
            .bind(id_hash)
            .bind(user_id)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// End every session of a user except `keep` (sign out everywhere else).
    pub async fn delete_sessions_of_user(
        &self,
        user_id: &str,
        keep: Option<&str>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM sessions WHERE user_id = $1 AND ($2 IS NULL OR id_hash <> $2)",
        )
        .bind(user_id)
        .bind(keep)
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(done.rows_affected())
    }

    /// Remove sessions past their absolute lifetime or idle timeout.
    pub async fn delete_expired_sessions(
        &self,
        now: i64,
        idle_timeout: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
            .bind(now)
            .bind(now - idle_timeout)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(done.rows_affected())
    }
}
