//! The JSON half of the WebAuthn ceremonies, called by `static/webauthn.js`.
//! Every call carries the CSRF token in `x-csrf-token`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use webauthn_rs_core::proto::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::login::{auth_client, end_current_session, session_cookies};
use super::{SignedIn, WebError, csrf, with_cookies};
use crate::app::AppState;
use crate::audit;
use crate::auth::{AuthError, safe_next};
use crate::domain::session::AuthMethod;
use crate::http::ClientInfo;
use crate::store::now;

/// A JSON error the page script shows to the person.
fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn auth_error(e: AuthError) -> Response {
    match e {
        AuthError::InvalidCredentials(_) => json_error(
            StatusCode::UNAUTHORIZED,
            "That passkey could not be verified.",
        ),
        AuthError::Expired => json_error(StatusCode::GONE, "This took too long. Please try again."),
        AuthError::RateLimited(_) => json_error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many attempts: {e}."),
        ),
        AuthError::NotAllowed(m) => json_error(StatusCode::FORBIDDEN, &m),
        AuthError::Invalid(i) => json_error(StatusCode::BAD_REQUEST, &i.to_string()),
        other => WebError::from(other).into_response(),
    }
}

/// The refusal for a call without a valid CSRF token, if it lacks one.
fn csrf_rejection(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    csrf::verify(state.cookies(), headers, None, state.origin())
        .err()
        .map(|_| {
            json_error(
                StatusCode::FORBIDDEN,
                "This page has expired. Reload it and try again.",
            )
        })
}

/// Begin a passkey sign-in (or re-authentication).
pub async fn login_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
) -> Response {
    if let Some(r) = csrf_rejection(&state, &headers) {
        return r;
    }
    let client = auth_client(&state, &headers, &info);
    match state
        .auth
        .start_passkey_login(state.settings().passkey_user_verification, &client)
        .await
    {
        Ok((ceremony, options)) => {
            Json(json!({ "ceremony": ceremony, "options": options })).into_response()
        }
        Err(e) => auth_error(e),
    }
}

#[derive(Deserialize)]
pub struct LoginFinish {
    ceremony: String,
    credential: Value,
    next: Option<String>,
}

pub async fn login_finish(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    Json(body): Json<LoginFinish>,
) -> Response {
    if let Some(r) = csrf_rejection(&state, &headers) {
        return r;
    }
    let Ok(credential) = serde_json::from_value::<PublicKeyCredential>(body.credential) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "The browser's answer could not be read.",
        );
    };
    let client = auth_client(&state, &headers, &info);
    let user = match state
        .auth
        .passkey_login(&body.ceremony, &credential, &client)
        .await
    {
        Ok(user) => user,
        Err(e) => return auth_error(e),
    };
    if let Err(e) = end_current_session(&state, &headers).await {
        return e.into_response();
    }
    match state
        .auth
        .sign_in(&user, AuthMethod::Passkey, &client)
        .await
    {
        Ok(new) => {
            let next = safe_next(body.next.as_deref());
            with_cookies(
                Json(json!({ "redirect": next })).into_response(),
                session_cookies(&state, &new),
            )
        }
        Err(e) => auth_error(e),
    }
}

/// Re-authenticate the current session with one of the user's own passkeys.
pub async fn reauth_finish(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    signed_in: SignedIn,
    Json(body): Json<LoginFinish>,
) -> Response {
    if let Some(r) = csrf_rejection(&state, &headers) {
        return r;
    }
    let Ok(credential) = serde_json::from_value::<PublicKeyCredential>(body.credential) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "The browser's answer could not be read.",
        );
    };
    let client = auth_client(&state, &headers, &info);
    match state
        .auth
        .passkey_login(&body.ceremony, &credential, &client)
        .await
    {
        Ok(user) if user.id == signed_in.user.id => {
            if let Err(e) = state
                .store
                .reauthenticate_session(&signed_in.session.id_hash, now())
                .await
            {
                return WebError::from(e).into_response();
            }
            let _ = audit::record(
                &state.store,
                "auth.reauth.succeeded",
                &client.origin(Some(&user.id)),
                Some(&user.id),
                json!({"method": "passkey"}),
            )
            .await;
            Json(json!({ "redirect": safe_next(body.next.as_deref()) })).into_response()
        }
        Ok(_) => json_error(
            StatusCode::UNAUTHORIZED,
            "That passkey belongs to another account.",
        ),
        Err(e) => auth_error(e),
    }
}

/// Begin adding a passkey to the signed-in account (needs a recent sign-in).
pub async fn register_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
) -> Response {
    if let Some(r) = csrf_rejection(&state, &headers) {
        return r;
    }
    if !signed_in.is_recent() {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({
                "error": "Please confirm it is you first.",
                "redirect": "/account/reauth?next=%2Faccount%2Fsecurity",
            })),
        )
            .into_response();
    }
    match state
        .auth
        .passkeys
        .start_registration(
            &state.store,
            &signed_in.user,
            state.settings().passkey_user_verification,
        )
        .await
    {
        Ok((ceremony, options)) => {
            Json(json!({ "ceremony": ceremony, "options": options })).into_response()
        }
        Err(e) => auth_error(e),
    }
}

#[derive(Deserialize)]
pub struct RegisterFinish {
    ceremony: String,
    credential: Value,
    name: Option<String>,
    next: Option<String>,
}

pub async fn register_finish(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    signed_in: SignedIn,
    Json(body): Json<RegisterFinish>,
) -> Response {
    if let Some(r) = csrf_rejection(&state, &headers) {
        return r;
    }
    let Ok(credential) = serde_json::from_value::<RegisterPublicKeyCredential>(body.credential)
    else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "The browser's answer could not be read.",
        );
    };
    let name = match super::security::passkey_name(body.name.as_deref(), info.user_agent.as_deref())
    {
        Ok(n) => n,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    match state
        .auth
        .passkeys
        .finish_registration(
            &state.store,
            &signed_in.user,
            &body.ceremony,
            &credential,
            &name,
        )
        .await
    {
        Ok(passkey) => {
            let client = auth_client(&state, &headers, &info);
            let _ = audit::record(&state.store, "auth.passkey.added", &client.origin(Some(&signed_in.user.id)), Some(&signed_in.user.id), json!({
                "passkey_id": passkey.id, "name": passkey.name, "aaguid": passkey.aaguid, "backup_eligible": passkey.backup_eligible,
            }))
            .await;
            let next = safe_next(body.next.as_deref().or(Some("/account/security")));
            Json(json!({ "redirect": next, "passkey": passkey })).into_response()
        }
        Err(e) => auth_error(e),
    }
}
