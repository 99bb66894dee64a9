//! `/api/v1/clients`: OIDC clients: create, read, change, delete, rotate the secret.
//! Administrators only. Every change drops the client from the token endpoint's cache.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{Body, Caller, Problem};
use crate::app::AppState;
use crate::audit;
use crate::domain::access::Strength;
use crate::domain::client::Client;
use crate::oidc::registration::{
    ClientSpec, RegistrationError, changes, register, rotate_secret, spec_of,
    update as update_client,
};

impl From<RegistrationError> for Problem {
    fn from(e: RegistrationError) -> Problem {
        match e {
            RegistrationError::Invalid(i) => Problem::from(i),
            RegistrationError::Store(s) => Problem::from(s),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ClientList {
    items: Vec<Client>,
}

/// Every client, by name.
#[utoipa::path(
    get, path = "/api/v1/clients", tag = "clients",
    operation_id = "list_clients",
    responses(
        (status = 200, description = "Every client, by name", body = ClientList),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ClientList>, Problem> {
    caller.require_admin()?;
    Ok(Json(ClientList {
        items: state.store.list_clients().await?,
    }))
}

/// A new client. Lifetimes are in seconds (access 60–86400, default 3600; refresh
/// 300–31536000, default 30 days).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Grafana", "redirect_uris": ["https://grafana.example.org/login/generic_oauth"],
    "post_logout_redirect_uris": ["https://grafana.example.org/login"], "signing_alg": "ES256"
}))]
pub struct CreateClient {
    name: String,
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    /// A single-page or native app: no secret, PKCE required.
    #[serde(default)]
    public: bool,
    /// Require PKCE of a confidential client too.
    #[serde(default)]
    require_pkce: bool,
    /// Allow the `plain` PKCE method (S256 otherwise).
    #[serde(default)]
    allow_plain_pkce: bool,
    /// RS256 (default), ES256 or EdDSA.
    signing_alg: Option<String>,
    access_token_ttl: Option<i64>,
    refresh_token_ttl: Option<i64>,
    #[serde(default)]
    skip_consent: bool,
    /// Issue a refresh token even without `offline_access`.
    #[serde(default)]
    always_refresh: bool,
    /// Where the app is opened from a user's list of apps.
    launch_url: Option<String>,
    /// Names of the groups whose members may use the client; none: everyone.
    #[serde(default)]
    allowed_groups: Vec<String>,
    /// How strongly people must have signed in: `any` (default), `two-factor`
    /// (a passkey, or a password with TOTP) or `passkey`. Weaker sessions get a step-up.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    require: Strength,
    /// Sign in again for this client when the last sign-in is older (seconds, 300–31622400).
    max_session_age: Option<i64>,
    /// Grant types it may use (`authorization_code`, `refresh_token`,
    /// `client_credentials`); default: every one its type allows. Others are
    /// `unauthorized_client`.
    grant_types: Option<Vec<String>>,
    /// Scopes it may be given (`openid` among them); default: every standard scope.
    /// Others asked for are dropped from the grant.
    scopes: Option<Vec<String>>,
}

/// A client as created: with its id again as `client_id`, the secret (shown only
/// now; absent for a public client) and the discovery URL to give the service.
#[derive(Serialize, ToSchema)]
pub struct NewClient {
    #[serde(flatten)]
    client: Client,
    client_id: String,
    client_secret: Option<String>,
    discovery_url: String,
}

/// Register a client.
#[utoipa::path(
    post, path = "/api/v1/clients", tag = "clients",
    operation_id = "create_client",
    request_body = CreateClient,
    responses(
        (status = 201, description = "Created; the secret is shown only now", body = NewClient),
        (status = 400, description = "The body is not JSON of this shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
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
        require: b.require,
        max_session_age: b.max_session_age,
        grant_types: b.grant_types,
        scopes: b.scopes,
    };
    let (client, secret) = register(&state.store, spec).await?;
    audit::record(
        &state.store,
        "client.created",
        &caller.origin,
        Some(&client.id),
        json!({"client_id": client.id, "name": client.name, "after": client}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewClient {
            client_id: client.id.clone(),
            client_secret: secret,
            discovery_url: state
                .config
                .app_url
                .join("/.well-known/openid-configuration"),
            client,
        }),
    ))
}

/// Read a client.
#[utoipa::path(
    get, path = "/api/v1/clients/{id}", tag = "clients",
    operation_id = "show_client",
    params(("id" = String, Path, description = "The client id")),
    responses(
        (status = 200, description = "The client", body = Client),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Client>, Problem> {
    caller.require_admin()?;
    Ok(Json(
        state
            .store
            .client_by_id(&id)
            .await?
            .ok_or_else(Problem::not_found)?,
    ))
}

/// Settings to change; those left out stay as they are. Lists replace the whole list.
/// An empty `launch_url` removes it.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Grafana (prod)", "redirect_uris": ["https://grafana.example.org/login/generic_oauth"],
    "access_token_ttl": 900, "launch_url": "https://grafana.example.org/"
}))]
pub struct PatchClient {
    name: Option<String>,
    redirect_uris: Option<Vec<String>>,
    post_logout_redirect_uris: Option<Vec<String>>,
    /// `true` drops the secret; `false` on a public client makes one (in the answer).
    public: Option<bool>,
    require_pkce: Option<bool>,
    allow_plain_pkce: Option<bool>,
    signing_alg: Option<String>,
    access_token_ttl: Option<i64>,
    refresh_token_ttl: Option<i64>,
    skip_consent: Option<bool>,
    always_refresh: Option<bool>,
    launch_url: Option<String>,
    allowed_groups: Option<Vec<String>>,
    #[schema(value_type = Option<String>)]
    require: Option<Strength>,
    /// Seconds; 0 removes the maximum.
    max_session_age: Option<i64>,
    grant_types: Option<Vec<String>>,
    scopes: Option<Vec<String>>,
}

impl PatchClient {
    fn apply(self, spec: &mut ClientSpec) {
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { spec.$field = v; } )* };
        }
        set!(
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            require_pkce,
            allow_plain_pkce,
            skip_consent,
            always_refresh,
            allowed_groups
        );
        if let Some(v) = self.signing_alg {
            spec.signing_alg = Some(v);
        }
        if let Some(v) = self.access_token_ttl {
            spec.access_token_ttl = Some(v);
        }
        if let Some(v) = self.refresh_token_ttl {
            spec.refresh_token_ttl = Some(v);
        }
        if let Some(v) = self.launch_url {
            spec.launch_url = Some(v).filter(|u| !u.trim().is_empty());
        }
        if let Some(v) = self.require {
            spec.require = v;
        }
        if let Some(v) = self.max_session_age {
            spec.max_session_age = Some(v).filter(|a| *a != 0);
        }
        if let Some(v) = self.grant_types {
            spec.grant_types = Some(v);
        }
        if let Some(v) = self.scopes {
            spec.scopes = Some(v);
        }
    }
}

/// A client as changed; `client_secret` only when the change made a new one.
#[derive(Serialize, ToSchema)]
pub struct ChangedClient {
    #[serde(flatten)]
    client: Client,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    client_secret: Option<String>,
}

/// Change a client's settings: all of them are checked first, and either every change
/// is saved or none.
#[utoipa::path(
    patch, path = "/api/v1/clients/{id}", tag = "clients",
    operation_id = "update_client",
    params(("id" = String, Path, description = "The client id")),
    request_body = PatchClient,
    responses(
        (status = 200, description = "The client as changed", body = ChangedClient),
        (status = 400, description = "The body is not JSON of this shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; nothing was changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(patch): Body<PatchClient>,
) -> Result<Json<ChangedClient>, Problem> {
    caller.require_admin()?;
    let current = state
        .store
        .client_by_id(&id)
        .await?
        .ok_or_else(Problem::not_found)?;
    let mut spec = spec_of(&current);
    patch.apply(&mut spec);
    let updated = update_client(&state.store, &id, spec).await?;
    // The token endpoint caches clients: the change must count at once.
    state.clients.forget(&id);
    let mut details = changes(&updated.before, &updated.after);
    details["client_id"] = json!(id);
    details["secret_created"] = json!(updated.secret.is_some());
    audit::record(
        &state.store,
        "client.updated",
        &caller.origin,
        Some(&id),
        details,
    )
    .await?;
    Ok(Json(ChangedClient {
        client: updated.after,
        client_secret: updated.secret,
    }))
}

/// Delete a client; its tokens stop working at once.
#[utoipa::path(
    delete, path = "/api/v1/clients/{id}", tag = "clients",
    operation_id = "delete_client",
    params(("id" = String, Path, description = "The client id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    caller.require_admin()?;
    let before = state
        .store
        .client_by_id(&id)
        .await?
        .ok_or_else(Problem::not_found)?;
    state.store.delete_client(&id).await?;
    state.clients.forget(&id);
    audit::record(
        &state.store,
        "client.deleted",
        &caller.origin,
        Some(&id),
        json!({"client_id": id, "name": before.name, "before": before}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A client's new secret, shown only now.
#[derive(Serialize, ToSchema)]
pub struct ClientSecret {
    client_id: String,
    client_secret: String,
}

/// Give a confidential client a new secret; the old one keeps working for 24 hours.
#[utoipa::path(
    post, path = "/api/v1/clients/{id}/rotate-secret", tag = "clients",
    operation_id = "rotate_client_secret",
    params(("id" = String, Path, description = "The client id")),
    responses(
        (status = 200, description = "The new secret, shown only now", body = ClientSecret),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such confidential client", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ClientSecret>, Problem> {
    caller.require_admin()?;
    let before = state
        .store
        .client_by_id(&id)
        .await?
        .ok_or_else(Problem::not_found)?;
    let secret = rotate_secret(&state.store, &id).await?;
    state.clients.forget(&id);
    let after = state.store.client_by_id(&id).await?;
    let overlap = |c: Option<&Client>| json!({"previous_secret_valid_until": c.and_then(|c| c.previous_secret_expires_at)});
    audit::record(
        &state.store,
        "client.secret_rotated",
        &caller.origin,
        Some(&id),
        json!({"client_id": id, "before": overlap(Some(&before)), "after": overlap(after.as_ref())}),
    )
    .await?;
    Ok(Json(ClientSecret {
        client_id: id,
        client_secret: secret,
    }))
}
