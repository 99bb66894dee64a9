//! `GET|POST /authorize` and the consent step: validate the client and redirect URI
//! first (an error there is a page, never a redirect), then everything else (an error
//! there goes back to the client), then sign-in, group access, consent, and the code.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde_json::json;

use super::params::Params;
use super::request::{self, Pkce};
use super::token::user_in_allowed_groups;
use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::crypto::random_token;
use crate::domain::access::Verdict;
use crate::domain::client::Client;
use crate::domain::scope;
use crate::http::ClientInfo;
use crate::store::{CodeGrant, Together, now};
use crate::web::{Chrome, Page, SignedIn, WebError, error_page};

/// Codes live 60 seconds (RFC 9700 recommends a short life).
const CODE_TTL: i64 = 60;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Query,
    Fragment,
    FormPost,
}

/// A request whose client and redirect URI are known to be good: from here on,
/// errors go back to the client.
struct Validated {
    client: std::sync::Arc<Client>,
    redirect_uri: String,
    state: Option<String>,
    mode: Mode,
}

#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPostPage<'a> {
    action: &'a str,
    fields: Vec<(&'a str, &'a str)>,
}

impl Validated {
    /// Send the browser back to the client with `fields` (+ state and iss).
    fn respond(&self, issuer: &str, fields: &[(&str, &str)]) -> Response {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        if let Some(s) = &self.state {
            all.push(("state", s));
        }
        all.push(("iss", issuer));
        match self.mode {
            Mode::FormPost => {
                let page = FormPostPage {
                    action: &self.redirect_uri,
                    fields: all,
                };
                match page.render() {
                    Ok(html) => Html(html).into_response(),
                    Err(e) => WebError::Internal(e.to_string()).into_response(),
                }
            }
            Mode::Query | Mode::Fragment => {
                let encoded = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(all)
                    .finish();
                let sep = match self.mode {
                    Mode::Fragment => "#",
                    _ if self.redirect_uri.contains('?') => "&",
                    _ => "?",
                };
                Redirect::to(&format!("{}{sep}{encoded}", self.redirect_uri)).into_response()
            }
        }
    }

    fn error(&self, issuer: &str, error: &str, description: &str) -> Response {
        self.respond(
            issuer,
            &[("error", error), ("error_description", description)],
        )
    }
}

fn bad_request(heading: &str, message: &str) -> Response {
    error_page(StatusCode::BAD_REQUEST, heading, message)
}

/// Check client_id and redirect_uri; a failure here is shown, never redirected.
async fn validate_client(state: &AppState, params: &Params) -> Result<Validated, Response> {
    if params.is_repeated("client_id") || params.is_repeated("redirect_uri") {
        return Err(bad_request(
            "Invalid sign-in request",
            "The request names its application or return address twice.",
        ));
    }
    let Some(client_id) = params.get("client_id") else {
        return Err(bad_request(
            "Invalid sign-in request",
            "The request does not say which application it is for.",
        ));
    };
    let client = match state.clients.get(&state.store, client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Err(bad_request(
                "Unknown application",
                "The application that sent you here is not registered.",
            ));
        }
        Err(e) => return Err(WebError::from(e).into_response()),
    };
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return Err(bad_request(
            "Invalid sign-in request",
            "The request has no return address (redirect_uri).",
        ));
    };
    if !client.accepts_redirect_uri(redirect_uri) {
        return Err(bad_request(
            "Invalid return address",
            "The application asked to send you back to an address it has not registered. Nothing was sent.",
        ));
    }
    let mode = match params.get("response_mode") {
        None | Some("query") => Mode::Query,
        Some("fragment") => Mode::Fragment,
        Some("form_post") => Mode::FormPost,
        Some(_) => Mode::Query,
    };
    Ok(Validated {
        redirect_uri: redirect_uri.to_string(),
        state: params.get("state").map(str::to_string),
        mode,
        client,
    })
}

pub async fn authorize_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    RawQuery(query): RawQuery,
) -> Response {
    authorize(
        state,
        headers,
        info,
        Params::parse(query.as_deref().unwrap_or_default()),
    )
    .await
}

pub async fn authorize_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    body: String,
) -> Response {
    authorize(state, headers, info, Params::parse(&body)).await
}

async fn authorize(
    state: AppState,
    headers: HeaderMap,
    info: ClientInfo,
    params: Params,
) -> Response {
    let req = match validate_client(&state, &params).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let iss = state.config.app_url.as_str().to_string();
    match continue_authorization(&state, &headers, &info, &params, &req, &iss).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn continue_authorization(
    state: &AppState,
    headers: &HeaderMap,
    info: &ClientInfo,
    params: &Params,
    req: &Validated,
    iss: &str,
) -> Result<Response, WebError> {
    let pkce = Pkce {
        required: req.client.pkce_required(),
        allow_plain: req.client.allow_plain_pkce,
    };
    let asked = match request::check(params, pkce) {
        Ok(asked) => asked,
        Err(refused) => return Ok(req.error(iss, refused.error, &refused.description)),
    };
    if !req.client.allows_grant("authorization_code") {
        return Ok(req.error(
            iss,
            "unauthorized_client",
            "this client may not use the authorization code flow",
        ));
    }
    // Only the scopes the client may be given: the rest is dropped, and the consent
    // page shows what is left.
    let narrowed = req.client.narrow_scope(&asked.scope);
    if !scope::has(&narrowed, "openid") {
        return Ok(req.error(iss, "invalid_scope", "request at least the openid scope"));
    }
    let (granted, prompts, max_age) = (narrowed.as_str(), &asked.prompts, asked.max_age);

    // Who is signing in, and what have they approved for this client? One read.
    let (signed_in, consent) =
        match crate::web::current_with_consent(state, headers, Some(&req.client.id)).await? {
            Some((signed_in, consent)) => (Some(signed_in), consent),
            None => (None, None),
        };
    let wants_fresh_login = prompts
        .iter()
        .any(|p| matches!(*p, "login" | "select_account"));
    // max_age=0 asks for a sign-in now, even one in this very second.
    let too_old = |s: &SignedIn| max_age.is_some_and(|m| m == 0 || now() - s.session.auth_time > m);
    // An id_token_hint names who the client expects: another signed-in user, or a
    // hint that is not an ID token of ours, is not that person.
    let hinted = match params.get("id_token_hint") {
        None => None,
        Some(hint) => Some(
            super::tokens::verify_id_token_hint(state, hint)
                .await
                .map_err(|_| WebError::Unavailable)?
                .and_then(|h| h.subject),
        ),
    };
    let not_hinted = |s: &SignedIn| {
        hinted
            .as_ref()
            .is_some_and(|sub| sub.as_deref() != Some(s.user.id.as_str()))
    };
    // The client's sign-in rule (strength, age), the one proxied applications follow.
    let rule = req.client.sign_in_rule(params.get("acr_values"));
    let verdict =
        |s: &SignedIn| rule.judge_sign_in(s.session.auth_method, s.session.auth_time, now());
    let step_up = signed_in.as_ref().and_then(|s| match verdict(s) {
        Verdict::TooWeak(strength) => Some(strength),
        _ => None,
    });
    let signed_in = match signed_in {
        Some(s)
            if !wants_fresh_login
                && !too_old(&s)
                && !not_hinted(&s)
                && verdict(&s) == Verdict::Allowed =>
        {
            s
        }
        Some(s) if prompts.contains(&"none") && not_hinted(&s) => {
            return Ok(req.error(
                iss,
                "login_required",
                "the signed-in user is not the one the id_token_hint names",
            ));
        }
        _ if prompts.contains(&"none") => {
            return Ok(req.error(iss, "login_required", "the user is not signed in"));
        }
        _ => {
            // Come back here after signing in, without asking for a fresh sign-in again.
            let mut again = params.clone();
            let rest: Vec<&str> = prompts
                .iter()
                .copied()
                .filter(|p| !matches!(*p, "login" | "select_account"))
                .collect();
            again.set("prompt", &rest.join(" "));
            let continuation = format!(
                "/authorize?{}",
                again.to_query(&["max_age", "id_token_hint"])
            );
            let mut login = format!(
                "/login?next={}",
                url::form_urlencoded::byte_serialize(continuation.as_bytes()).collect::<String>()
            );
            if let Some(hint) = params.get("login_hint") {
                login.push_str("&login_hint=");
                login.push_str(
                    &url::form_urlencoded::byte_serialize(hint.as_bytes()).collect::<String>(),
                );
            }
            if signed_in.is_some() {
                login.push_str("&reauth=1");
            }
            if let Some(strength) = step_up {
                login.push_str("&require=");
                login.push_str(strength.as_str());
            }
            return Ok(Redirect::to(&login).into_response());
        }
    };
    let user = &signed_in.user;
    let origin = Origin {
        actor_id: Some(user.id.clone()),
        ip: Some(info.ip.to_string()),
        user_agent: info.user_agent.clone(),
    };
    // Only an unverified address costs a settings lookup; verified users skip it.
    if !crate::auth::email::may_use_applications(&state.mail, user).await? {
        audit::record(
            &state.store,
            "oidc.authorize.denied",
            &origin,
            Some(&user.id),
            json!({"client_id": req.client.id, "reason": "email_unverified"}),
        )
        .await?;
        if prompts.contains(&"none") {
            return Ok(req.error(
                iss,
                "access_denied",
                "the user's email address is not verified",
            ));
        }
        return Ok(unverified_page(
            state,
            headers,
            &signed_in,
            params,
            &req.client,
        ));
    }
    // The session was read together with its (enabled) user just now; only the
    // client's group rule is left to check.
    if !user_in_allowed_groups(state, &req.client, &user.id)
        .await
        .map_err(|_| WebError::Unavailable)?
    {
        audit::record(
            &state.store,
            "oidc.authorize.denied",
            &origin,
            Some(&user.id),
            json!({
                "client_id": req.client.id, "reason": "not_in_allowed_group",
            }),
        )
        .await?;
        return Ok(req.error(
            iss,
            "access_denied",
            "you are not allowed to use this application",
        ));
    }
    let needs_consent = !req.client.skip_consent
        && (prompts.contains(&"consent")
            || !consent
                .as_deref()
                .is_some_and(|c| scope::covered(granted, c)));
    if needs_consent {
        if prompts.contains(&"none") {
            return Ok(req.error(
                iss,
                "consent_required",
                "the user has not approved this application",
            ));
        }
        return Ok(consent_page(
            state,
            headers,
            &signed_in,
            params,
            &req.client,
            granted,
        ));
    }
    issue_code(state, req, &signed_in, params, granted, iss, &origin).await
}

async fn issue_code(
    state: &AppState,
    req: &Validated,
    signed_in: &SignedIn,
    params: &Params,
    granted: &str,
    iss: &str,
    origin: &Origin,
) -> Result<Response, WebError> {
    let code = random_token();
    let amr: Vec<String> = signed_in
        .session
        .auth_method
        .amr()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let grant = CodeGrant {
        code_hash: code.hash(),
        client_id: req.client.id.clone(),
        user_id: signed_in.user.id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        scope: granted.to_string(),
        nonce: params.get("nonce").map(str::to_string),
        code_challenge: params.get("code_challenge").map(str::to_string),
        code_challenge_method: params.get("code_challenge").map(|_| {
            params
                .get("code_challenge_method")
                .unwrap_or("plain")
                .to_string()
        }),
        session_hash: signed_in.session.id_hash.clone(),
        auth_time: signed_in.session.auth_time,
        amr,
        expires_at: now() + CODE_TTL,
    };
    // The code and its audit row are committed together.
    audit::record_with(
        &state.store,
        Together::new().code(grant),
        "oidc.authorize.granted",
        origin,
        Some(&signed_in.user.id),
        json!({
            "client_id": req.client.id, "scope": granted,
        }),
    )
    .await?;
    Ok(req.respond(iss, &[("code", code.expose())]))
}

#[derive(Template)]
#[template(path = "email_unverified.html")]
struct UnverifiedPage<'a> {
    chrome: &'a Chrome,
    client_name: &'a str,
    email: &'a str,
    /// This authorization request again, to come back to once verified.
    next: String,
}

/// A clear page instead of a code: the address must be verified first.
fn unverified_page(
    state: &AppState,
    headers: &HeaderMap,
    signed_in: &SignedIn,
    params: &Params,
    client: &Client,
) -> Response {
    let page = Page::for_user(state, headers, signed_in);
    let view = UnverifiedPage {
        chrome: &page.chrome,
        client_name: &client.name,
        email: signed_in.user.email.as_deref().unwrap_or_default(),
        next: format!("/authorize?{}", params.to_query(&[])),
    };
    page.render(StatusCode::FORBIDDEN, &view)
}

struct ScopeView {
    name: String,
    description: &'static str,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    chrome: &'a Chrome,
    client_name: &'a str,
    scopes: Vec<ScopeView>,
    fields: Vec<(&'a str, &'a str)>,
}

fn consent_page(
    state: &AppState,
    headers: &HeaderMap,
    signed_in: &SignedIn,
    params: &Params,
    client: &Client,
    granted: &str,
) -> Response {
    let page = Page::for_user(state, headers, signed_in);
    let scopes = granted
        .split(' ')
        .filter_map(|s| {
            scope::describe(s).map(|d| ScopeView {
                name: s.to_string(),
                description: d,
            })
        })
        .collect();
    let view = ConsentPage {
        chrome: &page.chrome,
        client_name: &client.name,
        scopes,
        fields: params
            .iter()
            .filter(|(k, _)| *k != "csrf" && *k != "decision")
            .collect(),
    };
    page.render(StatusCode::OK, &view)
}

/// `POST /authorize/consent`: the user approved or declined.
pub async fn consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    signed_in: SignedIn,
    body: String,
) -> Response {
    let params = Params::parse(&body);
    if let Err(e) = crate::web::verify_csrf(&state, &headers, params.get("csrf")) {
        return e.into_response();
    }
    let req = match validate_client(&state, &params).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let iss = state.config.app_url.as_str().to_string();
    let origin = Origin {
        actor_id: Some(signed_in.user.id.clone()),
        ip: Some(info.ip.to_string()),
        user_agent: info.user_agent.clone(),
    };
    if params.get("decision") != Some("approve") {
        let _ = audit::record(
            &state.store,
            "oidc.consent.declined",
            &origin,
            Some(&signed_in.user.id),
            json!({"client_id": req.client.id}),
        )
        .await;
        return req.error(&iss, "access_denied", "the user declined");
    }
    let granted = req
        .client
        .narrow_scope(&scope::granted(params.get("scope").unwrap_or_default()).join(" "));
    if let Err(e) = state
        .store
        .save_consent(&signed_in.user.id, &req.client.id, &granted)
        .await
    {
        return WebError::from(e).into_response();
    }
    let _ = audit::record(
        &state.store,
        "oidc.consent.granted",
        &origin,
        Some(&signed_in.user.id),
        json!({
            "client_id": req.client.id, "scope": granted,
        }),
    )
    .await;
    // Consent given: continue exactly as a fresh request would, without the prompt.
    let mut again = params.clone();
    again.set("prompt", "");
    let cleaned = Params::parse(&again.to_query(&["csrf", "decision"]));
    match continue_authorization(&state, &headers, &info, &cleaned, &req, &iss).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}
