//! Making and checking the tokens: ID tokens and RFC 9068 JWT access tokens signed
//! with the client's algorithm, opaque rotating refresh tokens.

use serde_json::{Map, Value, json};

use super::OAuthError;
use super::claims::user_claims;
use crate::app::AppState;
use crate::crypto::jws;
use crate::crypto::keys::Algorithm;
use crate::crypto::random_token;
use crate::domain::claims::Subject;
use crate::domain::client::Client;
use crate::domain::scope;
use crate::store::{AccessRecord, RefreshGrant, Together, new_id, now};

/// ID tokens live one hour; retired keys stay published at least this long.
pub const MAX_ID_TOKEN_TTL: i64 = 3600;

/// The JOSE `typ` of each kind of token we sign, so that one is never taken for the
/// other: RFC 9068 access tokens, and ID tokens as OIDC Core examples them.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
pub const ID_TOKEN_TYP: &str = "JWT";

/// Does `typ` (as a verified token declares it) name a token of kind `kind`? RFC 7515
/// §4.1.9: media types compare ignoring case.
pub fn typ_is(typ: Option<&str>, kind: &str) -> bool {
    typ.is_some_and(|t| t.eq_ignore_ascii_case(kind))
}

/// What an authorization (code or refresh) carries into new tokens.
pub struct GrantContext<'a> {
    pub scope: &'a str,
    pub nonce: Option<&'a str>,
    pub session_hash: &'a str,
    pub auth_time: i64,
    pub amr: &'a [String],
    pub code_hash: Option<&'a str>,
    /// The refresh family to continue, or None to start one (if a refresh token is due).
    pub family_id: Option<&'a str>,
    pub issue_refresh: bool,
}

fn client_alg(client: &Client) -> Algorithm {
    Algorithm::parse(&client.signing_alg).unwrap_or(Algorithm::RS256)
}

/// A signed access token, with what its record needs.
pub struct SignedAccess {
    pub token: String,
    pub jti: String,
    pub expires_at: i64,
}

/// Sign an RFC 9068 access token for `subject` (a user, or the client itself);
/// `auth_time` when a user signed in for it.
pub async fn access_token(
    state: &AppState,
    client: &Client,
    subject: &str,
    scope_text: &str,
    auth_time: Option<i64>,
) -> Result<SignedAccess, OAuthError> {
    let t = now();
    let jti = new_id();
    let expires_at = t + client.access_token_ttl;
    let mut claims = json!({
        "iss": state.config.app_url.as_str(),
        "sub": subject,
        "aud": client.id,
        "client_id": client.id,
        "scope": scope_text,
        "jti": jti,
        "iat": t,
        "exp": expires_at,
    });
    if let Some(auth_time) = auth_time {
        claims["auth_time"] = json!(auth_time);
    }
    let key = state.keys.signer(client_alg(client)).await?;
    let token = jws::sign_jwt(&key, ACCESS_TOKEN_TYP, &claims);
    Ok(SignedAccess {
        token,
        jti,
        expires_at,
    })
}

/// The full token response for a user: access token, ID token (with `openid`) and a
/// refresh token (with `offline_access`, or always for clients set so). The rows it
/// returns must be committed before the response is sent (with the audit row:
/// `audit::record_with`).
pub async fn user_tokens(
    state: &AppState,
    client: &Client,
    subject: &Subject,
    ctx: &GrantContext<'_>,
) -> Result<(Value, Together), OAuthError> {
    let user = &subject.user;
    let wants_refresh =
        ctx.issue_refresh && (scope::has(ctx.scope, "offline_access") || client.always_refresh);
    let family_id = match (wants_refresh, ctx.family_id) {
        (true, Some(f)) => Some(f.to_string()),
        (true, None) => Some(new_id()),
        (false, _) => None,
    };
    let signed = access_token(state, client, &user.id, ctx.scope, Some(ctx.auth_time)).await?;
    // A user's tokens are recorded so that a replayed code, a reused refresh token or a
    // logout can revoke them.
    let mut rows = Together::new().access(AccessRecord {
        jti: signed.jti,
        client_id: client.id.clone(),
        user_id: Some(user.id.clone()),
        family_id: family_id.clone(),
        code_hash: ctx.code_hash.map(str::to_string),
        session_hash: Some(ctx.session_hash.to_string()),
        scope: ctx.scope.to_string(),
        expires_at: signed.expires_at,
    });
    let access = signed.token;
    let mut response = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": client.access_token_ttl,
        "scope": ctx.scope,
    });
    if let Some(family_id) = &family_id {
        let token = random_token();
        rows = rows.refresh(RefreshGrant {
            token_hash: token.hash(),
            family_id: family_id.clone(),
            client_id: client.id.clone(),
            user_id: user.id.clone(),
            scope: ctx.scope.to_string(),
            nonce: ctx.nonce.map(str::to_string),
            session_hash: ctx.session_hash.to_string(),
            auth_time: ctx.auth_time,
            amr: ctx.amr.to_vec(),
            code_hash: ctx.code_hash.map(str::to_string),
            expires_at: now() + client.refresh_token_ttl,
            rotated_at: None,
            revoked_at: None,
        });
        response["refresh_token"] = json!(token.expose());
    }
    if scope::has(ctx.scope, "openid") {
        response["id_token"] = json!(id_token(state, client, subject, ctx, &access).await?);
    }
    Ok((response, rows))
}

async fn id_token(
    state: &AppState,
    client: &Client,
    subject: &Subject,
    ctx: &GrantContext<'_>,
    access_token: &str,
) -> Result<String, OAuthError> {
    let alg = client_alg(client);
    let t = now();
    let mut claims: Map<String, Value> = user_claims(state, subject, ctx.scope);
    let standard = json!({
        "iss": state.config.app_url.as_str(),
        "sub": subject.user.id,
        "aud": client.id,
        "azp": client.id,
        "iat": t,
        "exp": t + MAX_ID_TOKEN_TTL.min(client.access_token_ttl.max(300)),
        "auth_time": ctx.auth_time,
        "at_hash": jws::half_hash(access_token, alg),
        "sid": session_id(ctx.session_hash),
        "amr": ctx.amr,
    });
    if let Value::Object(std) = standard {
        claims.extend(std);
    }
    if let Some(nonce) = ctx.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    // A passkey is a phishing-resistant sign-in: what `acr_values=phr` asks for.
    if ctx.amr.iter().any(|m| m == "hwk") {
        claims.insert("acr".into(), json!(crate::domain::client::PHR));
    }
    let key = state.keys.signer(alg).await?;
    Ok(jws::sign_jwt(&key, ID_TOKEN_TYP, &Value::Object(claims)))
}

/// The `sid` claim: names the browser session without revealing anything usable.
pub fn session_id(session_hash: &str) -> String {
    session_hash.chars().take(32).collect()
}

/// An access token whose signature, type, issuer and lifetime check out. Whether it
/// is still active depends on its record in the store: see [`SignedAccessToken::active`].
pub struct SignedAccessToken {
    pub claims: Map<String, Value>,
    pub jti: String,
    /// A client_credentials token (its subject is the client itself).
    pub for_client: bool,
}

impl SignedAccessToken {
    /// `revoked` is its record: `None` when none is kept. A client_credentials token is
    /// valid unless revoked; a user's token must be on record and not revoked.
    pub fn active(&self, revoked: Option<bool>) -> bool {
        match revoked {
            Some(revoked) => !revoked,
            None => self.for_client,
        }
    }
}

/// Check what the token itself says, without the store. `alg: none`, HMAC and foreign
/// keys never pass `jws::verify_jwt`.
pub async fn signed_access_token(
    state: &AppState,
    token: &str,
) -> Result<Option<SignedAccessToken>, OAuthError> {
    let verifiers = state.keys.verifiers().await?;
    let Ok(verified) = jws::verify_jwt(token, |kid| verifiers.iter().find(|k| k.kid() == kid))
    else {
        return Ok(None);
    };
    if !typ_is(verified.typ.as_deref(), ACCESS_TOKEN_TYP) {
        return Ok(None);
    }
    let claims = verified.claims;
    let fresh = claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_some_and(|exp| exp > now());
    let ours = claims.get("iss").and_then(Value::as_str) == Some(state.config.app_url.as_str());
    let Some(jti) = claims
        .get("jti")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Ok(None);
    };
    if !(fresh && ours) {
        return Ok(None);
    }
    let for_client = claims
        .get("sub")
        .is_some_and(|s| Some(s) == claims.get("client_id"));
    Ok(Some(SignedAccessToken {
        claims,
        jti,
        for_client,
    }))
}

/// The claims of an access token Latchkey issued, if it is genuine, unexpired and
/// not revoked.
pub async fn verify_access_token(
    state: &AppState,
    token: &str,
) -> Result<Option<Map<String, Value>>, OAuthError> {
    let Some(signed) = signed_access_token(state, token).await? else {
        return Ok(None);
    };
    let revoked = state.store.access_record_revoked(&signed.jti).await?;
    Ok(signed.active(revoked).then_some(signed.claims))
}

/// Who an `id_token_hint` names: its subject and its first audience.
pub struct Hint {
    pub subject: Option<String>,
    pub client_id: Option<String>,
}

/// Check an `id_token_hint`: an ID token (never an access token: that is for
/// resource servers and says nothing about the browser) signed by one of our keys for
/// this issuer. It may have expired (it usually has). `Ok(None)`: it is not one of ours.
pub async fn verify_id_token_hint(
    state: &crate::app::AppState,
    hint: &str,
) -> Result<Option<Hint>, super::keys::KeyRingError> {
    let verifiers = state.keys.verifiers().await?;
    Ok(
        match jws::verify_jwt(hint, |kid| verifiers.iter().find(|k| k.kid() == kid)) {
            Ok(v)
                if typ_is(v.typ.as_deref(), ID_TOKEN_TYP)
                    && v.claims.get("iss").and_then(Value::as_str)
                        == Some(state.config.app_url.as_str()) =>
            {
                let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
                Some(Hint {
                    subject: text(v.claims.get("sub")),
                    client_id: match v.claims.get("aud") {
                        Some(Value::Array(a)) => text(a.first()),
                        other => text(other),
                    },
                })
            }
            _ => None,
        },
    )
}
