//! Discovery (OpenID Connect Discovery 1.0, RFC 8414) and the JWKS.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::OAuthError;
use crate::app::AppState;
use crate::domain::scope;

fn metadata(state: &AppState) -> Value {
    let url = |path: &str| state.config.app_url.join(path);
    json!({
        "issuer": state.config.app_url.as_str(),
        "authorization_endpoint": url("/authorize"),
        "token_endpoint": url("/token"),
        "userinfo_endpoint": url("/userinfo"),
        "jwks_uri": url("/.well-known/jwks.json"),
        "end_session_endpoint": url("/logout"),
        "introspection_endpoint": url("/introspect"),
        "revocation_endpoint": url("/revoke"),
        "scopes_supported": scope::SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "acr_values_supported": [crate::domain::client::PHR],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "userinfo_signing_alg_values_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "at_hash", "sid", "amr", "acr",
            "name", "given_name", "family_name", "preferred_username", "picture", "locale", "updated_at",
            "email", "email_verified", "groups"
        ],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": true,
        "frontchannel_logout_supported": false,
        "backchannel_logout_supported": false,
    })
}

/// Metadata may be cached by clients for a while; it changes only with the config.
fn cached(value: Value) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(value),
    )
        .into_response()
}

pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    cached(metadata(&state))
}

pub async fn oauth_metadata(State(state): State<AppState>) -> Response {
    cached(metadata(&state))
}

pub async fn jwks(State(state): State<AppState>) -> Response {
    match state.keys.jwks().await {
        // Short cache: after a rotation clients must find the new key soon.
        Ok(doc) => (
            [(header::CACHE_CONTROL, "public, max-age=60")],
            Json(doc.as_ref().clone()),
        )
            .into_response(),
        Err(e) => OAuthError::from(e).into_response(),
    }
}
