//! One-time login links: `/login/code/<token>`, random 256 bits, stored hashed,
//! single-use, valid 15 minutes by default and at most 31 days.

use std::time::Duration;

use serde_json::json;

use super::AuthError;
use crate::audit::{self, Origin};
use crate::crypto::random_token;
use crate::domain::user::User;
use crate::store::{CodeRejection, Store, now};

pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);
pub const MAX_TTL: Duration = Duration::from_secs(31 * 86_400);
pub const PURPOSE: &str = "login_link";

/// Make a link for `user`; returns the absolute URL. `origin` says who asked.
pub async fn create(
    store: &Store,
    app_url: &crate::config::AppUrl,
    user: &User,
    ttl: Duration,
    origin: &Origin,
) -> Result<String, AuthError> {
    if ttl > MAX_TTL {
        return Err(AuthError::NotAllowed(
            "a login link may be valid for at most 31 days".into(),
        ));
    }
    if ttl.as_secs() < 60 {
        return Err(AuthError::NotAllowed(
            "a login link must be valid for at least a minute".into(),
        ));
    }
    if user.disabled {
        return Err(AuthError::NotAllowed(format!(
            "{} is disabled",
            user.username
        )));
    }
    let token = random_token();
    let expires_at = now() + ttl.as_secs() as i64;
    store
        .insert_login_code(
            &token.hash(),
            &user.id,
            PURPOSE,
            origin.actor_id.as_deref(),
            expires_at,
        )
        .await?;
    audit::record(
        store,
        "auth.login_link.created",
        origin,
        Some(&user.id),
        json!({
            "username": user.username, "expires_at": expires_at,
        }),
    )
    .await?;
    Ok(app_url.join(&format!("/login/code/{}", token.expose())))
}

/// Who a link is for, without using it (for the confirmation page).
pub async fn peek(store: &Store, token: &str) -> Result<Result<User, CodeRejection>, AuthError> {
    let hash = crate::crypto::hash_secret(token);
    match store.peek_login_code(&hash).await? {
        Ok(user_id) => Ok(store
            .user_by_id(&user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(CodeRejection::Unknown)),
        Err(r) => Ok(Err(r)),
    }
}

/// Use a link: exactly once.
pub async fn redeem(store: &Store, token: &str) -> Result<Result<User, CodeRejection>, AuthError> {
    let hash = crate::crypto::hash_secret(token);
    match store.redeem_login_code(&hash).await? {
        Ok(user_id) => Ok(store
            .user_by_id(&user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(CodeRejection::Unknown)),
        Err(r) => Ok(Err(r)),
    }
}
