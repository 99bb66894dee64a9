//! Client authentication at the token, introspection and revocation endpoints:
//! `client_secret_basic`, `client_secret_post`, and `none` for public clients.

use std::sync::Arc;

use axum::http::HeaderMap;
use base64::Engine;

use super::OAuthError;
use super::params::Params;
use crate::app::AppState;
use crate::crypto::hash_secret;
use crate::crypto::secrets::constant_time_eq;
use crate::domain::client::Client;
use crate::store::now;

/// The client's id and secret from `Authorization: Basic`, if that header is used.
pub(crate) fn basic_credentials(
    headers: &HeaderMap,
) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || OAuthError::new("invalid_client", "malformed Basic credentials");
    let text = value.to_str().map_err(|_| bad())?;
    let Some(encoded) = crate::http::credentials(text, "Basic") else {
        return Err(bad());
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before being put together.
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Ok(Some((
        unescape(id).ok_or_else(bad)?,
        unescape(secret).ok_or_else(bad)?,
    )))
}

/// Does `presented` match the client's current secret, or its previous one during a rotation?
fn secret_matches(client: &Client, presented: &str) -> bool {
    let hash = hash_secret(presented);
    let current = client
        .secret_hash
        .as_deref()
        .is_some_and(|h| constant_time_eq(h.as_bytes(), hash.as_bytes()));
    let previous = client.previous_secret_hash.as_deref().is_some_and(|h| {
        client
            .previous_secret_expires_at
            .is_some_and(|until| until > now())
            && constant_time_eq(h.as_bytes(), hash.as_bytes())
    });
    current || previous
}

/// Authenticate the calling client; errors are `invalid_client` (401) or `invalid_request`.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Arc<Client>, OAuthError> {
    let basic = basic_credentials(headers)?;
    let body_secret = params.get("client_secret");
    let (client_id, secret) = match (&basic, body_secret) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not two",
            ));
        }
        (Some((id, secret)), None) => {
            if params.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the Basic credentials",
                ));
            }
            (id.clone(), Some(secret.clone()))
        }
        (None, secret) => {
            let id = params.get("client_id").ok_or_else(|| {
                OAuthError::new("invalid_client", "client authentication is required")
            })?;
            (id.to_string(), secret.map(str::to_string))
        }
    };
    let unknown = || OAuthError::new("invalid_client", "unknown client or wrong secret");
    let client = state
        .clients
        .get(&state.store, &client_id)
        .await?
        .ok_or_else(unknown)?;
    match (client.is_public, secret) {
        (true, None) => Ok(client),
        (true, Some(_)) => Err(OAuthError::new(
            "invalid_client",
            "a public client has no secret",
        )),
        (false, Some(secret)) if secret_matches(&client, &secret) => Ok(client),
        (false, _) => Err(unknown()),
    }
}
