//! `GET|POST /userinfo` (OIDC Core §5.3): the claims of the token's scope.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::params::Params;
use super::tokens::signed_access_token;
use crate::app::AppState;

/// RFC 6750 §3: errors say what is wrong in `WWW-Authenticate`.
fn bearer_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut res = (
        status,
        Json(serde_json::json!({ "error": error, "error_description": description })),
    )
        .into_response();
    let challenge = format!(
        "Bearer realm=\"latchkey\", error=\"{error}\", error_description=\"{description}\""
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap, body: String) -> Response {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| crate::http::credentials(v, "Bearer"))
        .map(str::to_string);
    let params = Params::parse(&body);
    let from_body = params.get("access_token").map(str::to_string);
    let token = match (from_header, from_body) {
        (Some(_), Some(_)) => {
            return bearer_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "send the token once",
            );
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => {
            let mut res = StatusCode::UNAUTHORIZED.into_response();
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"latchkey\""),
            );
            return res;
        }
    };
    let invalid = || {
        bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is invalid, expired or revoked",
        )
    };
    let signed = match signed_access_token(&state, &token).await {
        Ok(Some(signed)) => signed,
        Ok(None) => return invalid(),
        Err(e) => return e.into_response(),
    };
    // The token's record and its user, with groups and claims, in one read (a
    // client's token has neither).
    let (revoked, user) = match state.store.access_token_user(&signed.jti).await {
        Ok(Some((revoked, user))) => (Some(revoked), user),
        Ok(None) => (None, None),
        Err(e) => return super::OAuthError::from(e).into_response(),
    };
    if !signed.active(revoked) {
        return invalid();
    }
    let claims = signed.claims;
    let scope = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !crate::domain::scope::has(scope, "openid") {
        return bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the token lacks the openid scope",
        );
    }
    let Some(sub) = claims.get("sub").and_then(Value::as_str) else {
        return bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the token has no subject",
        );
    };
    let subject = match user {
        Some(s) if s.user.id == sub && !s.user.disabled => s,
        _ => {
            return bearer_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the user no longer exists or is disabled",
            );
        }
    };
    let claims = super::claims::user_claims(&state, &subject, scope);
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(Value::Object(claims)),
    )
        .into_response()
}
