//! The OpenID Connect provider: discovery, JWKS, authorization (code + PKCE), token,
//! userinfo, RP-initiated logout, introspection and revocation.

mod authorize;
mod claims;
pub(crate) mod client_auth;
pub mod client_cache;
mod discovery;
mod introspect;
pub mod keys;
mod logout;
pub(crate) mod params;
pub mod registration;
pub mod request;
pub(crate) mod token;
mod tokens;
mod userinfo;
mod webfinger;

use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tower_http::cors::{Any, CorsLayer};

use crate::app::AppState;
use crate::store::StoreError;

pub use tokens::MAX_ID_TOKEN_TTL;

/// Routes of the provider. Machine-facing endpoints allow any origin (no cookies are
/// involved there); the browser-facing ones do not.
pub fn routes() -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    let machine = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::oauth_metadata),
        )
        .route("/.well-known/jwks.json", get(discovery::jwks))
        .route("/.well-known/webfinger", get(webfinger::webfinger))
        .route("/token", post(token::token))
        .route(
            "/userinfo",
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route("/introspect", post(introspect::introspect))
        .route("/revoke", post(introspect::revoke))
        .layer(cors);
    Router::new()
        .merge(machine)
        .route(
            "/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route("/authorize/consent", post(authorize::consent))
        .route("/logout", get(logout::logout_get).post(logout::logout_post))
}

/// An OAuth error response (RFC 6749 §5.2) from the token, introspection and
/// revocation endpoints.
#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> OAuthError {
        let status = match error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_request", description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_grant", description)
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage error in the OAuth endpoints");
        OAuthError::new(
            "temporarily_unavailable",
            "the database does not answer; try again",
        )
    }
}

impl From<keys::KeyRingError> for OAuthError {
    fn from(e: keys::KeyRingError) -> Self {
        tracing::error!(error = %e, "signing keys unavailable");
        OAuthError::new("server_error", "signing keys are unavailable")
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut res = (
            self.status,
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            axum::Json(json!({ "error": self.error, "error_description": self.description })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6749 §5.2: a failed client authentication names the scheme to use.
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"latchkey\""),
            );
        }
        res
    }
}
