//! `POST /token`: authorization_code (with PKCE), refresh_token (rotating) and
//! client_credentials. Every grant re-checks the user and the client.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::OAuthError;
use super::client_auth::authenticate;
use super::params::Params;
use super::tokens::{GrantContext, access_token, user_tokens};
use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::crypto::hash_secret;
use crate::crypto::secrets::constant_time_eq;
use crate::domain::claims::Subject;
use crate::domain::client::{Client, GRANT_TYPES};
use crate::domain::scope;
use crate::http::ClientInfo;
use crate::store::{Redemption, RefreshGrant, StoreError, now};

pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    body: String,
) -> Response {
    match grant(&state, &headers, &info, &body).await {
        Ok(value) => (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            Json(value),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn grant(
    state: &AppState,
    headers: &HeaderMap,
    info: &ClientInfo,
    body: &str,
) -> Result<Value, OAuthError> {
    let params = Params::parse(body);
    if let Some(problem) = params.problem() {
        return Err(OAuthError::invalid_request(problem));
    }
    let client = authenticate(state, headers, &params).await?;
    let origin = Origin {
        actor_id: None,
        ip: Some(info.ip.to_string()),
        user_agent: info.user_agent.clone(),
    };
    if let Some(grant) = params.get("grant_type")
        && GRANT_TYPES.contains(&grant)
        && !client.allows_grant(grant)
    {
        return Err(OAuthError::new(
            "unauthorized_client",
            format!("this client may not use {grant}"),
        ));
    }
    match params.get("grant_type") {
        Some("authorization_code") => authorization_code(state, &client, &params, &origin).await,
        Some("refresh_token") => refresh_token(state, &client, &params, &origin).await,
        Some("client_credentials") => client_credentials(state, &client, &params, &origin).await,
        Some(_) => Err(OAuthError::new(
            "unsupported_grant_type",
            "use authorization_code, refresh_token or client_credentials",
        )),
        None => Err(OAuthError::invalid_request("grant_type is missing")),
    }
}

/// The user behind a grant must still exist, be enabled and be allowed to use the
/// client; they come with their groups and claims, for the tokens.
pub async fn user_still_allowed(
    state: &AppState,
    client: &Client,
    user_id: &str,
) -> Result<Option<Subject>, OAuthError> {
    Ok(state
        .store
        .subject_by_id(user_id)
        .await?
        .filter(|s| !s.user.disabled && client.admits(s.groups.iter().map(String::as_str))))
}

/// Is the user in one of the groups the client admits (always, when it names none)?
pub async fn user_in_allowed_groups(
    state: &AppState,
    client: &Client,
    user_id: &str,
) -> Result<bool, OAuthError> {
    // A client open to everyone needs no query.
    if client.allowed_groups.is_empty() {
        return Ok(true);
    }
    let groups = state.store.groups_of_user(user_id).await?;
    Ok(client.admits(groups.iter().map(|g| g.name.as_str())))
}

/// PKCE (RFC 7636): the verifier must fit the challenge with the method used.
pub fn pkce_ok(
    challenge: Option<&str>,
    method: Option<&str>,
    verifier: Option<&str>,
) -> Result<(), &'static str> {
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => {
            Err("a code_verifier was sent but the authorization had no code_challenge")
        }
        (Some(_), None) => Err("code_verifier is missing"),
        (Some(challenge), Some(verifier)) => {
            if !super::request::is_pkce_string(verifier) {
                return Err("code_verifier is malformed");
            }
            let computed = match method {
                Some("plain") => verifier.to_string(),
                _ => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
                    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()),
                ),
            };
            if constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
                Ok(())
            } else {
                Err("code_verifier does not match the code_challenge")
            }
        }
    }
}

async fn authorization_code(
    state: &AppState,
    client: &Client,
    params: &Params,
    origin: &Origin,
) -> Result<Value, OAuthError> {
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let code_hash = hash_secret(code);
    let grant = match state.store.redeem_code(&code_hash).await? {
        Redemption::Redeemed(g) => *g,
        Redemption::Replayed { client_id, user_id } => {
            audit::record(
                &state.store,
                "oidc.code.replayed",
                origin,
                Some(&user_id),
                json!({
                    "client_id": client_id, "presented_by": client.id,
                }),
            )
            .await?;
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used; the tokens it issued are revoked",
            ));
        }
        Redemption::Unknown => return Err(OAuthError::invalid_grant("unknown authorization code")),
    };
    if grant.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if grant.expires_at <= now() {
        return Err(OAuthError::invalid_grant(
            "the authorization code has expired",
        ));
    }
    if params.get("redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    pkce_ok(
        grant.code_challenge.as_deref(),
        grant.code_challenge_method.as_deref(),
        params.get("code_verifier"),
    )
    .map_err(OAuthError::invalid_grant)?;
    let subject = user_still_allowed(state, client, &grant.user_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the user may no longer use this client"))?;
    let ctx = GrantContext {
        scope: &grant.scope,
        nonce: grant.nonce.as_deref(),
        session_hash: &grant.session_hash,
        auth_time: grant.auth_time,
        amr: &grant.amr,
        code_hash: Some(&code_hash),
        family_id: None,
        issue_refresh: client.allows_grant("refresh_token"),
    };
    let (response, rows) = user_tokens(state, client, &subject, &ctx).await?;
    audit::record_with(
        &state.store,
        rows,
        "oidc.token.issued",
        origin,
        Some(&subject.user.id),
        json!({
            "client_id": client.id, "grant_type": "authorization_code", "scope": grant.scope,
            "refresh_token": response.get("refresh_token").is_some(),
        }),
    )
    .await?;
    Ok(response)
}

async fn refresh_token(
    state: &AppState,
    client: &Client,
    params: &Params,
    origin: &Origin,
) -> Result<Value, OAuthError> {
    let presented = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    let Some(grant) = state.store.refresh_by_hash(&hash_secret(presented)).await? else {
        return Err(OAuthError::invalid_grant("unknown refresh token"));
    };
    if grant.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if grant.revoked_at.is_some() {
        return Err(OAuthError::invalid_grant(
            "the refresh token has been revoked",
        ));
    }
    if grant.rotated_at.is_some() {
        return Err(refresh_reused(state, client, &grant, origin).await?);
    }
    // Check everything before the token is used up: a request refused here leaves it
    // (and its family) as it was.
    if grant.expires_at <= now() {
        return Err(OAuthError::invalid_grant("the refresh token has expired"));
    }
    let scope_text = match params.get("scope") {
        Some(narrower) if scope::covered(narrower, &grant.scope) => {
            scope::granted(narrower).join(" ")
        }
        Some(_) => {
            return Err(OAuthError::new(
                "invalid_scope",
                "a refresh cannot widen the scope",
            ));
        }
        None => grant.scope.clone(),
    };
    let Some(subject) = user_still_allowed(state, client, &grant.user_id).await? else {
        // Not a bad request but a decision: the user lost access, so does the family.
        state.store.revoke_family(&grant.family_id).await?;
        return Err(OAuthError::invalid_grant(
            "the user may no longer use this client",
        ));
    };
    let ctx = GrantContext {
        scope: &scope_text,
        // OIDC Core §12.2: a refreshed ID token carries no nonce.
        nonce: None,
        session_hash: &grant.session_hash,
        auth_time: grant.auth_time,
        amr: &grant.amr,
        code_hash: grant.code_hash.as_deref(),
        family_id: Some(&grant.family_id),
        issue_refresh: client.allows_grant("refresh_token"),
    };
    let (response, rows) = user_tokens(state, client, &subject, &ctx).await?;
    // The presented token is used up in the commit that writes its successor.
    match audit::record_with(
        &state.store,
        rows.rotate(&grant.token_hash),
        "oidc.token.issued",
        origin,
        Some(&subject.user.id),
        json!({
            "client_id": client.id, "grant_type": "refresh_token", "scope": scope_text,
        }),
    )
    .await
    {
        Ok(_) => Ok(response),
        // Another request used it first (or it was revoked meanwhile).
        Err(StoreError::Conflict(_)) => Err(refresh_reused(state, client, &grant, origin).await?),
        Err(e) => Err(e.into()),
    }
}

/// A used refresh token came back: it was copied. End the whole family, and say so.
async fn refresh_reused(
    state: &AppState,
    client: &Client,
    grant: &RefreshGrant,
    origin: &Origin,
) -> Result<OAuthError, OAuthError> {
    state.store.revoke_family(&grant.family_id).await?;
    audit::record(
        &state.store,
        "oidc.refresh.reused",
        origin,
        Some(&grant.user_id),
        json!({
            "client_id": client.id, "family_id": grant.family_id,
        }),
    )
    .await?;
    Ok(OAuthError::invalid_grant(
        "the refresh token was already used; its family is revoked",
    ))
}

async fn client_credentials(
    state: &AppState,
    client: &Client,
    params: &Params,
    origin: &Origin,
) -> Result<Value, OAuthError> {
    if client.is_public {
        return Err(OAuthError::new(
            "unauthorized_client",
            "public clients cannot use client_credentials",
        ));
    }
    // Clients are registered for no scopes of their own yet: a client_credentials
    // token carries none, and asking for one is refused rather than granted blindly.
    let registered: &[&str] = &[];
    let scope_text =
        scope::for_client_credentials(params.get("scope").unwrap_or_default(), registered)
            .map_err(|refused| {
                // Named only when it is a well-formed scope: the description stays in the
                // characters RFC 6749 §5.2 allows.
                let named = if scope::is_scope_token(refused) && refused.len() <= 64 {
                    format!(" `{refused}`")
                } else {
                    String::new()
                };
                OAuthError::new(
                    "invalid_scope",
                    format!("the client is not registered for the scope{named}"),
                )
            })?;
    // A client's own tokens are not recorded (only if revoked): one write less on the
    // busiest path.
    let token = access_token(state, client, &client.id, &scope_text, None)
        .await?
        .token;
    audit::record(
        &state.store,
        "oidc.token.issued",
        origin,
        None,
        json!({
            "client_id": client.id, "grant_type": "client_credentials",
        }),
    )
    .await?;
    let mut response = json!({ "access_token": token, "token_type": "Bearer", "expires_in": client.access_token_ttl });
    if !scope_text.is_empty() {
        response["scope"] = json!(scope_text);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::pkce_ok;

    #[test]
    fn pkce_s256_and_plain() {
        // BASE64URL(SHA-256(verifier)), checked with Python's hashlib.
        let verifier = "dBjftJeZ4CVP-mJ92K9qH2Yfj1t4-JW7Ux7BY9JqvdY";
        let challenge = "iL4gp1vDueMyF0ocW7BWIJ5TVO7dbKU_NB5dE2f_fFA";
        assert!(pkce_ok(Some(challenge), Some("S256"), Some(verifier)).is_ok());
        assert!(
            pkce_ok(
                Some(challenge),
                Some("S256"),
                Some(&verifier.replace('d', "e"))
            )
            .is_err()
        );
        assert!(pkce_ok(Some(challenge), Some("S256"), None).is_err());
        assert!(pkce_ok(None, None, Some(verifier)).is_err());
        assert!(pkce_ok(Some(verifier), Some("plain"), Some(verifier)).is_ok());
        assert!(pkce_ok(Some(challenge), Some("S256"), Some("short")).is_err());
        assert!(pkce_ok(None, None, None).is_ok());
    }
}
