//! The JSON admin API under `/api/v1`, authenticated by API keys
//! (`Authorization: Bearer lk_…`) that act with their owner's rights. Errors are
//! `application/problem+json` (RFC 9457) with field-level messages.

mod audit_log;
mod clients;
mod directory;
mod docs;
mod groups;
mod keys;
mod ldap;
mod proxy_apps;
mod settings;
mod users;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::audit::Origin;
use crate::domain::Invalid;
use crate::domain::user::User;
use crate::http::ClientInfo;
use crate::store::StoreError;

pub use audit_log::{AuditQuery, audit_csv};
pub use keys::{KEY_PREFIX, issue_api_key, revoke_api_key};

/// The name of the security scheme every authenticated route names.
pub const API_KEY_SCHEME: &str = "api_key";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Latchkey REST API",
        description = "Administer Latchkey: users, groups, custom claims, OIDC clients, proxied applications, LDAP \
                       service accounts and app passwords, API keys and the audit log. Authenticate with an API key: `Authorization: Bearer lk_…`. \
                       A key acts with its owner's rights: an administrator's key can administer, \
                       anyone else's key sees only its owner. Errors are RFC 9457 problems \
                       (`application/problem+json`); invalid input is a 422 whose `errors` object \
                       names each field."
    ),
    modifiers(&ApiKeyScheme),
    tags(
        (name = "me", description = "The key's owner"),
        (name = "users", description = "Users and their custom claims (administrators)"),
        (name = "groups", description = "Groups, memberships and group claims (administrators)"),
        (name = "clients", description = "OIDC clients (administrators)"),
        (name = "proxy-apps", description = "Applications behind a reverse proxy, checked by forward-auth (administrators)"),
        (name = "api-keys", description = "API keys"),
        (name = "ldap", description = "LDAP service accounts (administrators) and users' app passwords"),
        (name = "settings", description = "Runtime settings (administrators)"),
        (name = "directory", description = "The upstream directory users and groups are synced from (administrators)"),
        (name = "audit", description = "The audit log"),
        (name = "meta", description = "This document")
    )
)]
struct ApiDoc;

struct ApiKeyScheme;

impl utoipa::Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            API_KEY_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("lk_…")
                    .description(Some(
                        "An API key made in the admin console (`/admin/api-keys`) or with \
                         `latchkey api-keys create`",
                    ))
                    .build(),
            ),
        );
    }
}

/// The route table of `/api/v1`: every route is registered here, once, with its
/// OpenAPI operation, so the router and the document cannot disagree. (A test checks
/// that no `/api/v1` path is served from anywhere else.)
fn router_and_document() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(users::me))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::show, users::update, users::delete))
        .routes(routes!(groups::put_user_claim, groups::delete_user_claim))
        .routes(routes!(groups::list, groups::create))
        .routes(routes!(groups::show, groups::update, groups::delete))
        .routes(routes!(groups::add_member, groups::remove_member))
        .routes(routes!(groups::put_group_claim, groups::delete_group_claim))
        .routes(routes!(clients::list, clients::create))
        .routes(routes!(clients::show, clients::update, clients::delete))
        .routes(routes!(clients::rotate))
        .routes(routes!(proxy_apps::list, proxy_apps::create))
        .routes(routes!(
            proxy_apps::show,
            proxy_apps::update,
            proxy_apps::delete
        ))
        .routes(routes!(settings::list, settings::update))
        .routes(routes!(directory::show, directory::update))
        .routes(routes!(directory::sync))
        .routes(routes!(directory::test))
        .routes(routes!(directory::runs))
        .routes(routes!(audit_log::list))
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::revoke))
        .routes(routes!(ldap::list_accounts, ldap::create_account))
        .routes(routes!(ldap::update_account, ldap::delete_account))
        .routes(routes!(ldap::list_app_passwords, ldap::create_app_password))
        .routes(routes!(ldap::revoke_app_password))
        .routes(routes!(docs::openapi_json))
        .routes(routes!(docs::reference))
        .split_for_parts();
    (
        router.route_layer(axum::middleware::from_fn(refuse_nul_in_path)),
        document,
    )
}

/// A path with a NUL (`%00`) names nothing that can exist (see `nul_problem`): 404
/// before a handler looks its ids up.
async fn refuse_nul_in_path(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if req.uri().path().contains("%00") {
        return Problem::not_found().into_response();
    }
    next.run(req).await
}

pub fn routes() -> Router<AppState> {
    router_and_document().0
}

/// The OpenAPI 3.1 document of `/api/v1`, made from the same table as the router.
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| router_and_document().1)
}

/// An RFC 9457 problem. `errors` maps each invalid field to what is wrong with it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "type": "about:blank", "title": "Invalid input", "status": 422,
    "detail": "username: must be 1–64 characters", "errors": {"username": "must be 1–64 characters"}
}))]
pub struct Problem {
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    kind: &'static str,
    #[schema(value_type = String)]
    title: &'static str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(required = false)]
    errors: BTreeMap<String, String>,
}

impl Problem {
    pub fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: "about:blank",
            title,
            status: status.as_u16(),
            detail: detail.into(),
            errors: BTreeMap::new(),
        }
    }
    pub fn unauthorized(detail: &str) -> Problem {
        Problem::new(StatusCode::UNAUTHORIZED, "Unauthorized", detail)
    }
    pub fn forbidden() -> Problem {
        Problem::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "this key's owner is not an administrator",
        )
    }
    pub fn not_found() -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "Not Found", "no such resource")
    }
    /// The field an invalid-input problem is about.
    pub fn field(&self) -> Option<&str> {
        self.errors.keys().next().map(String::as_str)
    }
}

impl From<Invalid> for Problem {
    fn from(e: Invalid) -> Problem {
        let mut p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid input",
            e.to_string(),
        );
        p.errors.insert(e.field.to_string(), e.message);
        p
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Problem {
        match e {
            StoreError::Conflict(m) => Problem::new(StatusCode::CONFLICT, "Conflict", m),
            StoreError::NotFound => Problem::not_found(),
            other => {
                tracing::error!(error = %other, "storage error in the API");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Unavailable",
                    "the database does not answer",
                )
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            json!(self).to_string(),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"latchkey-api\""),
            );
        }
        res
    }
}

/// The owner of the API key a request carries.
pub struct Caller {
    pub user: User,
    pub key_id: String,
    pub origin: Origin,
}

impl Caller {
    /// Only administrators' keys may administer.
    pub fn require_admin(&self) -> Result<(), Problem> {
        if self.user.is_admin {
            Ok(())
        } else {
            Err(Problem::forbidden())
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::http::credentials(v, "Bearer"))
            .filter(|t| t.starts_with(KEY_PREFIX))
            .ok_or_else(|| Problem::unauthorized("send an API key: Authorization: Bearer lk_…"))?;
        let key = state
            .store
            .use_api_key(&crate::crypto::hash_secret(token))
            .await?
            .ok_or_else(|| Problem::unauthorized("the API key is unknown, expired or revoked"))?;
        let user = state
            .store
            .user_by_id(&key.user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(|| Problem::unauthorized("the key's owner is disabled"))?;
        let info = ClientInfo::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        let origin = Origin {
            actor_id: Some(user.id.clone()),
            ip: Some(info.ip.to_string()),
            user_agent: info.user_agent,
        };
        Ok(Caller {
            user,
            key_id: key.id,
            origin,
        })
    }
}

/// A JSON body that did not parse is a problem, not axum's plain-text rejection.
pub struct Body<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let bad_request =
            |detail: String| Problem::new(StatusCode::BAD_REQUEST, "Bad Request", detail);
        // The bytes are read first, to be looked at for NUL characters once parsed.
        let (parts, body) = req.into_parts();
        let bytes = axum::body::Bytes::from_request(
            axum::extract::Request::from_parts(parts.clone(), body),
            state,
        )
        .await
        .map_err(|e| bad_request(e.body_text()))?;
        let req = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes.clone()));
        let value = match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => v,
            Err(e) => return Err(bad_request(e.body_text())),
        };
        // JSON can only carry a NUL as the escape `\u0000`: look closer only then.
        if bytes.windows(6).any(|w| w == b"\\u0000")
            && let Ok(tree) = serde_json::from_slice::<serde_json::Value>(&bytes)
            && let Some(field) = nul_in_json(&tree, String::new())
        {
            return Err(nul_problem(&field));
        }
        Ok(Body(value))
    }
}

/// Text with a NUL character is refused at the edge, before it reaches a handler:
/// PostgreSQL cannot store NUL in a text column (the write would fail as a 503), and
/// no name, address, id or claim value needs one. 422 names the field.
fn nul_problem(field: &str) -> Problem {
    let mut p = Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid input",
        format!("{field}: must not contain a NUL character"),
    );
    p.errors
        .insert(field.to_string(), "must not contain a NUL character".into());
    p
}

/// The first field (`a.b[2]`) of a JSON document whose name or text holds a NUL.
fn nul_in_json(v: &serde_json::Value, at: String) -> Option<String> {
    use serde_json::Value;
    let join = |name: &str| {
        let name = name.escape_debug().to_string();
        if at.is_empty() {
            name
        } else {
            format!("{at}.{name}")
        }
    };
    match v {
        Value::String(text) if text.contains('\0') => {
            Some(if at.is_empty() { "body".into() } else { at })
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_in_json(item, format!("{at}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(name, field)| {
            if name.contains('\0') {
                Some(join(name))
            } else {
                nul_in_json(field, join(name))
            }
        }),
        _ => None,
    }
}

/// A query string that does not parse is a problem too: 422 naming the parameter whose
/// value is wrong, or 400 when no single parameter is to blame.
pub struct ApiQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        // A NUL (`%00`) in a name or value is refused as in a JSON body (see nul_problem).
        if query.contains("%00") {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_str(query).unwrap_or_default();
            if let Some((name, _)) = pairs
                .iter()
                .find(|(name, value)| name.contains('\0') || value.contains('\0'))
            {
                return Err(nul_problem(&name.escape_debug().to_string()));
            }
        }
        let error = match serde_urlencoded::from_str(query) {
            Ok(v) => return Ok(ApiQuery(v)),
            Err(e) => e,
        };
        // serde_urlencoded does not say which parameter failed; every parameter of our
        // queries is optional, so the one that fails on its own is the culprit.
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        for (name, value) in &pairs {
            let alone = serde_urlencoded::to_string([(name, value)]).unwrap_or_default();
            if let Err(e) = serde_urlencoded::from_str::<T>(&alone) {
                let mut p = Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Invalid input",
                    format!("{name}: {e}"),
                );
                p.errors.insert(name.clone(), e.to_string());
                return Err(p);
            }
        }
        Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            format!("the query string does not parse: {error}"),
        ))
    }
}
