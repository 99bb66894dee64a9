//! `/api/v1/proxy-apps`: applications behind a reverse proxy that ask Latchkey on
//! every request (forward-auth). Administrators only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Body, Caller, Problem};
use crate::app::AppState;
use crate::domain::access::Strength;
use crate::domain::proxy_app::{AppSpec, PathRule, ProxyApp};
use crate::proxy::apps::{self, AppError};

impl From<AppError> for Problem {
    fn from(e: AppError) -> Problem {
        match e {
            AppError::Invalid(i) => Problem::from(i),
            AppError::Store(s) => Problem::from(s),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProxyAppList {
    items: Vec<ProxyApp>,
}

/// Every proxied application, by name.
#[utoipa::path(
    get, path = "/api/v1/proxy-apps", tag = "proxy-apps",
    operation_id = "list_proxy_apps",
    responses(
        (status = 200, description = "Every application, by name", body = ProxyAppList),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ProxyAppList>, Problem> {
    caller.require_admin()?;
    Ok(Json(ProxyAppList {
        items: state.store.proxy_apps().await?,
    }))
}

/// Protect an application: the hosts it answers on, who may use it and how strongly
/// they must have signed in.
#[utoipa::path(
    post, path = "/api/v1/proxy-apps", tag = "proxy-apps",
    operation_id = "create_proxy_app",
    request_body = AppSpec,
    responses(
        (status = 201, description = "Created", body = ProxyApp),
        (status = 400, description = "The body is not JSON of this shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another application has the name or one of the hosts", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(spec): Body<AppSpec>,
) -> Result<impl IntoResponse, Problem> {
    caller.require_admin()?;
    let app = apps::create(&state.store, spec, &caller.origin).await?;
    Ok((StatusCode::CREATED, Json(app)))
}

async fn find(state: &AppState, id: &str) -> Result<ProxyApp, Problem> {
    state
        .store
        .proxy_app(id)
        .await?
        .ok_or_else(Problem::not_found)
}

/// Read an application.
#[utoipa::path(
    get, path = "/api/v1/proxy-apps/{id}", tag = "proxy-apps",
    operation_id = "show_proxy_app",
    params(("id" = String, Path, description = "The application's id or name")),
    responses(
        (status = 200, description = "The application", body = ProxyApp),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such application", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ProxyApp>, Problem> {
    caller.require_admin()?;
    Ok(Json(find(&state, &id).await?))
}

/// Settings to change; those left out stay. Lists replace the whole list; an empty
/// `launch_url` removes it, `max_age_hours` 0 removes the maximum age.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"groups": ["staff"], "require": "passkey", "max_age_hours": 12}))]
pub struct PatchProxyApp {
    name: Option<String>,
    hosts: Option<Vec<String>>,
    groups: Option<Vec<String>>,
    #[schema(value_type = Option<String>)]
    require: Option<Strength>,
    max_age_hours: Option<i64>,
    #[schema(value_type = Option<Vec<Object>>)]
    paths: Option<Vec<PathRule>>,
    public_paths: Option<Vec<String>>,
    allow_basic: Option<bool>,
    headers: Option<Vec<String>>,
    launch_url: Option<String>,
}

impl PatchProxyApp {
    fn apply(self, spec: &mut AppSpec) {
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { spec.$field = v; } )* };
        }
        set!(
            name,
            hosts,
            groups,
            require,
            paths,
            public_paths,
            allow_basic
        );
        if let Some(h) = self.headers {
            spec.headers = Some(h);
        }
        if let Some(age) = self.max_age_hours {
            spec.max_age_hours = Some(age).filter(|a| *a != 0);
        }
        if let Some(u) = self.launch_url {
            spec.launch_url = Some(u).filter(|u| !u.trim().is_empty());
        }
    }
}

/// Change an application: every field is checked first; all is saved or nothing.
/// The next forward-auth check already follows the new rule.
#[utoipa::path(
    patch, path = "/api/v1/proxy-apps/{id}", tag = "proxy-apps",
    operation_id = "update_proxy_app",
    params(("id" = String, Path, description = "The application's id or name")),
    request_body = PatchProxyApp,
    responses(
        (status = 200, description = "The application as changed", body = ProxyApp),
        (status = 400, description = "The body is not JSON of this shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such application", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another application has the name or one of the hosts", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; nothing was changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(patch): Body<PatchProxyApp>,
) -> Result<Json<ProxyApp>, Problem> {
    caller.require_admin()?;
    let before = find(&state, &id).await?;
    let mut spec = AppSpec::of(&before);
    patch.apply(&mut spec);
    Ok(Json(
        apps::update(&state.store, &before, spec, &caller.origin).await?,
    ))
}

/// Delete an application: its hosts are denied from the next check on.
#[utoipa::path(
    delete, path = "/api/v1/proxy-apps/{id}", tag = "proxy-apps",
    operation_id = "delete_proxy_app",
    params(("id" = String, Path, description = "The application's id or name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such application", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    caller.require_admin()?;
    let app = find(&state, &id).await?;
    apps::delete(&state.store, &app, &caller.origin).await?;
    Ok(StatusCode::NO_CONTENT)
}
