//! The JSON admin API under `/api/v1`, authenticated by API keys
//! (`Authorization: Bearer lk_…`) that act with their owner's rights. Errors are
//! `application/problem+json` (RFC 9457) with field-level messages.

mod audit_log;
mod clients;
mod groups;
mod keys;
mod settings;
mod users;

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Serialize;
use serde_json::json;

use crate::app::AppState;
use crate::audit::Origin;
use crate::domain::Invalid;
use crate::domain::user::User;
use crate::http::ClientInfo;
use crate::store::StoreError;

pub use keys::{KEY_PREFIX, issue_api_key};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me", get(users::me))
        .route("/api/v1/users", get(users::list).post(users::create))
        .route(
            "/api/v1/users/{id}",
            get(users::show).patch(users::update).delete(users::delete),
        )
        .route(
            "/api/v1/users/{id}/claims/{key}",
            put(groups::put_user_claim).delete(groups::delete_user_claim),
        )
        .route("/api/v1/groups", get(groups::list).post(groups::create))
        .route(
            "/api/v1/groups/{id}",
            get(groups::show).put(groups::update).delete(groups::delete),
        )
        .route(
            "/api/v1/groups/{id}/members/{user_id}",
            put(groups::add_member).delete(groups::remove_member),
        )
        .route(
            "/api/v1/groups/{id}/claims/{key}",
            put(groups::put_group_claim).delete(groups::delete_group_claim),
        )
        .route("/api/v1/clients", get(clients::list).post(clients::create))
        .route(
            "/api/v1/clients/{id}",
            get(clients::show).delete(clients::delete),
        )
        .route("/api/v1/clients/{id}/rotate-secret", post(clients::rotate))
        .route(
            "/api/v1/settings",
            get(settings::list).patch(settings::update),
        )
        .route("/api/v1/audit", get(audit_log::list))
        .route("/api/v1/api-keys", get(keys::list).post(keys::create))
        .route("/api/v1/api-keys/{id}", axum::routing::delete(keys::revoke))
}

/// An RFC 9457 problem.
#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
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
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
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
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(e) => Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                e.body_text(),
            )),
        }
    }
}
