//! `/api/v1/clients`: OIDC clients, with secret rotation. Administrators only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Body, Caller, Problem};
use crate::app::AppState;
use crate::audit;
use crate::oidc::registration::{ClientSpec, RegistrationError, register, rotate_secret};

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, Problem> {
    caller.require_admin()?;
    Ok(Json(json!({ "items": state.store.list_clients().await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateClient {
    name: String,
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    require_pkce: bool,
    #[serde(default)]
    allow_plain_pkce: bool,
    signing_alg: Option<String>,
    access_token_ttl: Option<i64>,
    refresh_token_ttl: Option<i64>,
    #[serde(default)]
    skip_consent: bool,
    #[serde(default)]
    always_refresh: bool,
    launch_url: Option<String>,
    #[serde(default)]
    allowed_groups: Vec<String>,
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<CreateClient>,
) -> Result<impl IntoResponse, Problem> {
    caller.require_admin()?;
    let spec = ClientSpec {
        name: b.name,
        redirect_uris: b.redirect_uris,
        post_logout_redirect_uris: b.post_logout_redirect_uris,
        public: b.public,
        require_pkce: b.require_pkce,
        allow_plain_pkce: b.allow_plain_pkce,
        signing_alg: b.signing_alg,
        access_token_ttl: b.access_token_ttl,
        refresh_token_ttl: b.refresh_token_ttl,
        skip_consent: b.skip_consent,
        always_refresh: b.always_refresh,
        launch_url: b.launch_url,
        allowed_groups: b.allowed_groups,
    };
    let (client, secret) = register(&state.store, spec).await.map_err(|e| match e {
        RegistrationError::Invalid(i) => Problem::from(i),
        RegistrationError::Store(s) => Problem::from(s),
    })?;
    audit::record(
        &state.store,
        "client.created",
        &caller.origin,
        Some(&client.id),
        json!({"name": client.name}),
    )
    .await?;
    let mut v = json!(client);
    v["client_id"] = json!(client.id);
    v["client_secret"] = json!(secret);
    v["discovery_url"] = json!(
        state
            .config
            .app_url
            .join("/.well-known/openid-configuration")
    );
    Ok((StatusCode::CREATED, Json(v)))
}

pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require_admin()?;
    Ok(Json(json!(
        state
            .store
            .client_by_id(&id)
            .await?
            .ok_or_else(Problem::not_found)?
    )))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    caller.require_admin()?;
    state.store.delete_client(&id).await?;
    state.clients.forget(&id);
    audit::record(
        &state.store,
        "client.deleted",
        &caller.origin,
        Some(&id),
        json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require_admin()?;
    let secret = rotate_secret(&state.store, &id).await?;
    state.clients.forget(&id);
    audit::record(
        &state.store,
        "client.secret_rotated",
        &caller.origin,
        Some(&id),
        json!({}),
    )
    .await?;
    Ok(Json(json!({ "client_id": id, "client_secret": secret })))
}
