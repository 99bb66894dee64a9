//! Sessions: a random cookie value in the browser, its hash in a row on the server.

use super::{AuthError, Client};
use crate::crypto::{SecretToken, hash_secret, random_token};
use crate::domain::session::{AuthMethod, Session};
use crate::domain::user::User;
use crate::store::{Store, StoreError, now};

/// Activity is written at most this often per session, not on every request.
const TOUCH_INTERVAL: i64 = 60;

/// A session just created: the cookie value to hand out once, and the row.
pub struct NewSession {
    pub token: SecretToken,
    pub session: Session,
    /// A new device cookie to set, when the browser had none.
    pub device_cookie: Option<String>,
}

pub async fn create(
    store: &Store,
    user: &User,
    method: AuthMethod,
    client: &Client,
    new_device: bool,
    lifetime: i64,
) -> Result<NewSession, StoreError> {
    let token = random_token();
    let t = now();
    let session = Session {
        id_hash: token.hash(),
        user_id: user.id.clone(),
        created_at: t,
        last_seen_at: t,
        expires_at: t + lifetime,
        auth_time: t,
        auth_method: method,
        ip: Some(client.ip.to_string()),
        user_agent: client.user_agent.clone(),
        new_device,
    };
    store.insert_session(&session).await?;
    Ok(NewSession {
        token,
        session,
        device_cookie: None,
    })
}

/// The live session behind a cookie value, with its user. An expired session, or
/// one whose user is disabled, is deleted and treated as absent.
pub async fn resolve(
    store: &Store,
    cookie_value: &str,
    idle_timeout: i64,
) -> Result<Option<(Session, User)>, AuthError> {
    Ok(
        resolve_with_consent(store, cookie_value, idle_timeout, None)
            .await?
            .map(|(session, user, _)| (session, user)),
    )
}

/// [`resolve`], and the scope the user has approved for `client_id` (when one is
/// named), in the same read.
pub async fn resolve_with_consent(
    store: &Store,
    cookie_value: &str,
    idle_timeout: i64,
    client_id: Option<&str>,
) -> Result<Option<(Session, User, Option<String>)>, AuthError> {
    let id_hash = hash_secret(cookie_value);
    let Some((session, user, consent)) = store
        .session_with_user_and_consent(&id_hash, client_id)
        .await?
    else {
        return Ok(None);
    };
    let t = now();
    if session.is_expired(t, idle_timeout) || user.disabled {
        store.delete_session(&id_hash).await?;
        return Ok(None);
    }
    touch_if_due(store, &session, t).await?;
    Ok(Some((session, user, consent)))
}

/// Record that `session` is in use at `t`, at most once per `TOUCH_INTERVAL`.
pub async fn touch_if_due(store: &Store, session: &Session, t: i64) -> Result<(), StoreError> {
    if t - session.last_seen_at >= TOUCH_INTERVAL {
        store.touch_session(&session.id_hash, t).await?;
    }
    Ok(())
}
