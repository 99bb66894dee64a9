//! `POST /introspect` (RFC 7662) and `POST /revoke` (RFC 7009).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::OAuthError;
use super::client_auth::authenticate;
use super::params::Params;
use super::tokens::verify_access_token;
use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::crypto::hash_secret;
use crate::http::ClientInfo;
use crate::store::now;

fn inactive() -> Value {
    json!({ "active": false })
}

pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let params = Params::parse(&body);
    if let Some(problem) = params.problem() {
        return OAuthError::invalid_request(problem).into_response();
    }
    let client = match authenticate(&state, &headers, &params).await {
        Ok(c) if !c.is_public => c,
        Ok(_) => {
            return OAuthError::new("invalid_client", "public clients cannot introspect")
                .into_response();
        }
        Err(e) => return e.into_response(),
    };
    let Some(token) = params.get("token") else {
        return OAuthError::invalid_request("token is missing").into_response();
    };
    let answer = match describe(&state, token, &client.id).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    ([(header::CACHE_CONTROL, "no-store")], Json(answer)).into_response()
}

/// What the calling client may learn about a token: only about its own tokens.
async fn describe(state: &AppState, token: &str, client_id: &str) -> Result<Value, OAuthError> {
    if let Some(claims) = verify_access_token(state, token).await? {
        if claims.get("client_id").and_then(Value::as_str) != Some(client_id) {
            return Ok(inactive());
        }
        let mut out = json!({ "active": true, "token_type": "Bearer" });
        for key in [
            "scope",
            "client_id",
            "sub",
            "aud",
            "iss",
            "exp",
            "iat",
            "jti",
        ] {
            if let Some(v) = claims.get(key) {
                out[key] = v.clone();
            }
        }
        if let Some(user) = claims.get("sub").and_then(Value::as_str)
            && let Some(u) = state.store.user_by_id(user).await?
        {
            out["username"] = json!(u.username);
        }
        return Ok(out);
    }
    if let Some(grant) = state.store.refresh_by_hash(&hash_secret(token)).await? {
        let live =
            grant.revoked_at.is_none() && grant.rotated_at.is_none() && grant.expires_at > now();
        if live && grant.client_id == client_id {
            return Ok(json!({
                "active": true, "token_type": "refresh_token", "scope": grant.scope, "client_id": grant.client_id,
                "sub": grant.user_id, "exp": grant.expires_at, "iss": state.config.app_url.as_str(),
            }));
        }
    }
    Ok(inactive())
}

/// Revoke a token of the calling client. Unknown tokens are not an error (RFC 7009 §2.2).
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    body: String,
) -> Response {
    let params = Params::parse(&body);
    if let Some(problem) = params.problem() {
        return OAuthError::invalid_request(problem).into_response();
    }
    let client = match authenticate(&state, &headers, &params).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let Some(token) = params.get("token") else {
        return OAuthError::invalid_request("token is missing").into_response();
    };
    let origin = Origin {
        actor_id: None,
        ip: Some(info.ip.to_string()),
        user_agent: info.user_agent.clone(),
    };
    let result: Result<(), OAuthError> = async {
        if let Some(grant) = state.store.refresh_by_hash(&hash_secret(token)).await? {
            if grant.client_id == client.id {
                state.store.revoke_family(&grant.family_id).await?;
                audit::record(
                    &state.store,
                    "oidc.token.revoked",
                    &origin,
                    Some(&grant.user_id),
                    json!({
                        "client_id": client.id, "token_type": "refresh_token",
                    }),
                )
                .await?;
            }
            return Ok(());
        }
        if let Some(claims) = verify_access_token(&state, token).await?
            && let (Some(jti), Some(owner)) = (
                claims.get("jti").and_then(Value::as_str),
                claims.get("client_id").and_then(Value::as_str),
            )
            && owner == client.id
        {
            let expires_at = claims
                .get("exp")
                .and_then(Value::as_i64)
                .unwrap_or_default();
            state
                .store
                .revoke_access(jti, &client.id, expires_at)
                .await?;
            let sub = claims.get("sub").and_then(Value::as_str);
            audit::record(
                &state.store,
                "oidc.token.revoked",
                &origin,
                sub,
                json!({
                    "client_id": client.id, "token_type": "access_token",
                }),
            )
            .await?;
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}
