//! `/api/v1/api-keys`: create (shown once), list, revoke.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Body, Caller, Problem};
use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::crypto::random_token;
use crate::domain::Invalid;
use crate::store::{ApiKey, Store, StoreError, now};

/// Every key starts so, which makes leaked keys easy to find (secret scanners).
pub const KEY_PREFIX: &str = "lk_";
const MAX_LIFETIME: i64 = 2 * 365 * 86_400;

/// Make a key for `user_id`; returns the stored key and the clear text (shown once).
pub async fn issue_api_key(
    store: &Store,
    user_id: &str,
    name: &str,
    lifetime_secs: i64,
    origin: &Origin,
) -> Result<(ApiKey, String), Problem> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Invalid::new("name", "must be 1–100 characters").into());
    }
    if !(60..=MAX_LIFETIME).contains(&lifetime_secs) {
        return Err(Invalid::new("expires_in", "must be between a minute and two years").into());
    }
    let secret = format!("{KEY_PREFIX}{}", random_token().expose());
    let key = store
        .insert_api_key(
            user_id,
            name,
            &crate::crypto::hash_secret(&secret),
            now() + lifetime_secs,
        )
        .await
        .map_err(|e| match e {
            StoreError::NotFound => Problem::from(Invalid::new("user_id", "no such user")),
            other => other.into(),
        })?;
    audit::record(
        store,
        "api_key.created",
        origin,
        Some(user_id),
        json!({"key_id": key.id, "name": key.name, "expires_at": key.expires_at}),
    )
    .await?;
    Ok((key, secret))
}

#[derive(Deserialize)]
pub struct CreateKey {
    name: String,
    /// Seconds until it expires (required: no key lives forever).
    expires_in: i64,
    /// Another user's id (administrators only).
    user_id: Option<String>,
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<CreateKey>,
) -> Result<impl IntoResponse, Problem> {
    let owner = match body.user_id {
        Some(other) if other != caller.user.id => {
            caller.require_admin()?;
            other
        }
        _ => caller.user.id.clone(),
    };
    let (key, secret) = issue_api_key(
        &state.store,
        &owner,
        &body.name,
        body.expires_in,
        &caller.origin,
    )
    .await?;
    let mut v = serde_json::to_value(&key).unwrap_or(Value::Null);
    v["key"] = json!(secret);
    Ok((StatusCode::CREATED, Json(v)))
}

/// Administrators see every key; others their own.
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, Problem> {
    let filter = (!caller.user.is_admin).then_some(caller.user.id.as_str());
    Ok(Json(
        json!({ "items": state.store.list_api_keys(filter).await? }),
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let key = state
        .store
        .api_key_by_id(&id)
        .await?
        .ok_or_else(Problem::not_found)?;
    if key.user_id != caller.user.id {
        caller.require_admin()?;
    }
    state.store.revoke_api_key(&id).await?;
    audit::record(
        &state.store,
        "api_key.revoked",
        &caller.origin,
        Some(&key.user_id),
        json!({"key_id": id}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
