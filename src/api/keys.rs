//! `/api/v1/api-keys`: list and revoke. Keys are made in the admin console or with
//! the CLI (`issue_api_key`), never by a request that an API key authenticates.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{Caller, Problem};
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
        json!({"key_id": key.id, "name": key.name, "expires_at": key.expires_at, "after": key}),
    )
    .await?;
    Ok((key, secret))
}

/// Why the API makes no keys: a key that could make keys could outlive itself.
pub const KEYS_MAKE_NO_KEYS: &str = "an API key cannot create API keys (a leaked key could \
    otherwise renew itself and outlive its revocation): make keys in the admin console \
    (/admin/api-keys) or with `latchkey api-keys create`";

/// Refused: API keys are made by a signed-in administrator in the admin console, or
/// with the CLI, never with another API key.
#[utoipa::path(
    post, path = "/api/v1/api-keys", tag = "api-keys",
    operation_id = "create_api_key",
    responses(
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Always: an API key cannot create API keys; use the admin console or `latchkey api-keys create`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn create(_caller: Caller) -> Problem {
    // The extractor authenticated the key first: without one the answer is 401.
    Problem::new(StatusCode::FORBIDDEN, "Forbidden", KEYS_MAKE_NO_KEYS)
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyList {
    items: Vec<ApiKey>,
}

/// API keys, newest first: an administrator sees every key, anyone else their own.
#[utoipa::path(
    get, path = "/api/v1/api-keys", tag = "api-keys",
    operation_id = "list_api_keys",
    responses(
        (status = 200, description = "Keys (never the key itself)", body = ApiKeyList),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ApiKeyList>, Problem> {
    let filter = (!caller.user.is_admin).then_some(caller.user.id.as_str());
    Ok(Json(ApiKeyList {
        items: state.store.list_api_keys(filter).await?,
    }))
}

/// Revoke a key: it stops working at once.
#[utoipa::path(
    delete, path = "/api/v1/api-keys/{id}", tag = "api-keys",
    operation_id = "revoke_api_key",
    params(("id" = String, Path, description = "The key's id (not the key)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user's key, and the key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key, or already revoked", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
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
    revoke_api_key(&state.store, &key, &caller.origin).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke a key and record who did; shared with the admin console.
pub async fn revoke_api_key(store: &Store, key: &ApiKey, origin: &Origin) -> Result<(), Problem> {
    store.revoke_api_key(&key.id).await?;
    audit::record(
        store,
        "api_key.revoked",
        origin,
        Some(&key.user_id),
        json!({"key_id": key.id, "name": key.name, "before": {"revoked_at": null}, "after": {"revoked_at": now()}}),
    )
    .await?;
    Ok(())
}
