//! Signing in and out: the login page, password (+ second factor), login links.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::cookies::{DEVICE, DEVICE_MAX_AGE, PENDING, SESSION};
use super::{Chrome, Page, WebError, error_page, see_other, session};
use crate::app::AppState;
use crate::audit;
use crate::auth::LOGIN_MAX;
use crate::auth::{
    AuthError, Client, NewSession, PasswordOutcome, login_code, login_link, safe_next,
};
use crate::domain::access::Strength;
use crate::domain::session::AuthMethod;
use crate::http::ClientInfo;
use crate::store::CodeRejection;

/// A value for a query string.
pub(super) fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The `auth::Client` of a request: address, user agent, device cookie.
pub(super) fn auth_client(state: &AppState, headers: &HeaderMap, info: &ClientInfo) -> Client {
    Client {
        ip: info.ip,
        user_agent: info.user_agent.clone(),
        device_cookie: state.cookies().get(headers, DEVICE),
    }
}

/// Before a new sign-in in this browser, end the session it may still have, so that a
/// fresh sign-in (prompt=login) does not leave the old session behind.
pub(super) async fn end_current_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(), WebError> {
    if let Some(cookie) = state.cookies().get(headers, SESSION) {
        state
            .store
            .delete_session(&crate::crypto::hash_secret(&cookie))
            .await?;
    }
    Ok(())
}

/// The cookies that carry a new session (and a new device id) to the browser.
pub(super) fn session_cookies(state: &AppState, new: &NewSession) -> Vec<String> {
    let cookies = state.cookies();
    let mut out = vec![cookies.set(
        SESSION,
        new.token.expose(),
        Some(state.settings().session_lifetime),
    )];
    if let Some(device) = &new.device_cookie {
        out.push(cookies.set(DEVICE, device, Some(DEVICE_MAX_AGE)));
    }
    out
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    chrome: &'a Chrome,
    next: &'a str,
    login: &'a str,
    error: Option<&'a str>,
    password_login: bool,
    email_codes: bool,
    next_enc: String,
    /// Why a stronger sign-in is asked for (a proxied application's step-up).
    notice: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    /// Set when an application asked for a fresh sign-in (prompt=login, max_age).
    reauth: Option<String>,
    login_hint: Option<String>,
    /// The address of a proxied application to go back to (forward-auth).
    rd: Option<String>,
    /// A stronger sign-in an application needs: `two-factor` or `passkey`.
    require: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    let next = match q.rd.as_deref() {
        // Through /proxy/return, which issues the proxy cookie or asks for more.
        Some(rd) => match crate::proxy::accepted_rd(&state, rd).await {
            Some(url) => format!("/proxy/return?rd={}", encode(url.as_str())),
            None => {
                return Ok(error_page(
                    StatusCode::BAD_REQUEST,
                    "This address is not protected here",
                    "The link you followed would send you on to an address that none of the applications behind this sign-in covers, so it is not followed.",
                ));
            }
        },
        None => safe_next(q.next.as_deref()),
    };
    if q.reauth.is_none() && session::current(&state, &headers).await?.is_some() {
        return Ok(see_other(&next, []));
    }
    let require = q
        .require
        .as_deref()
        .and_then(|r| Strength::parse(r).ok())
        .filter(|s| *s != Strength::Any);
    let page = Page::new(&state, &headers);
    let hint: String = q.login_hint.unwrap_or_default().chars().take(254).collect();
    let passkey_only = require == Some(Strength::Passkey);
    let view = LoginPage {
        chrome: &page.chrome,
        next: &next,
        login: &hint,
        error: None,
        password_login: state.auth.password_login_enabled() && !passkey_only,
        email_codes: login_code::offered(&state.mail).await && require.is_none(),
        next_enc: encode(&next),
        notice: require.map(crate::proxy::step_up_notice),
    };
    Ok(page.render(StatusCode::OK, &view))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: Option<String>,
    login: Option<String>,
    password: Option<String>,
    next: Option<String>,
}

/// The same message for every wrong combination, so nobody learns which accounts exist.
const INVALID: &str = "The username, email or password is not correct.";

pub async fn password(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    Form(form): Form<PasswordForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let next = safe_next(form.next.as_deref());
    let login = form.login.unwrap_or_default();
    let client = auth_client(&state, &headers, &info);
    let outcome = state
        .auth
        .password_login(
            &login,
            form.password.as_deref().unwrap_or_default(),
            &next,
            &client,
        )
        .await;
    let (status, message) = match outcome {
        Ok(PasswordOutcome::Complete(user)) => {
            end_current_session(&state, &headers).await?;
            let new = state
                .auth
                .sign_in(&user, AuthMethod::Password, &client)
                .await?;
            return Ok(see_other(&next, session_cookies(&state, &new)));
        }
        Ok(PasswordOutcome::NeedsSecondFactor { pending_token }) => {
            let cookie = state.cookies().set(PENDING, &pending_token, Some(300));
            return Ok(see_other("/login/second-factor", [cookie]));
        }
        Err(AuthError::InvalidCredentials(_)) => (StatusCode::UNAUTHORIZED, INVALID.to_string()),
        Err(e @ AuthError::RateLimited(_)) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many attempts: {e}."),
        ),
        Err(AuthError::NotAllowed(m)) => (StatusCode::FORBIDDEN, m),
        Err(AuthError::Unavailable(m)) => (StatusCode::SERVICE_UNAVAILABLE, m),
        Err(AuthError::Invalid(_)) => (
            StatusCode::BAD_REQUEST,
            format!("A username or email has at most {LOGIN_MAX} characters."),
        ),
        Err(e) => return Err(e.into()),
    };
    let page = Page::new(&state, &headers);
    let login: String = login.chars().take(LOGIN_MAX).collect();
    let view = LoginPage {
        chrome: &page.chrome,
        next: &next,
        login: &login,
        error: Some(&message),
        password_login: state.auth.password_login_enabled(),
        email_codes: login_code::offered(&state.mail).await,
        next_enc: encode(&next),
        notice: None,
    };
    Ok(page.render(status, &view))
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SecondFactorPage<'a> {
    chrome: &'a Chrome,
    error: Option<&'a str>,
}

fn second_factor_expired() -> Response {
    error_page(
        StatusCode::GONE,
        "Please sign in again",
        "The sign-in took too long or was already finished. Start again from the sign-in page.",
    )
}

pub async fn second_factor_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let Some(token) = state.cookies().get(&headers, PENDING) else {
        return Ok(second_factor_expired());
    };
    if state.auth.pending_second_factor(&token).await.is_err() {
        return Ok(second_factor_expired());
    }
    let page = Page::new(&state, &headers);
    Ok(page.render(
        StatusCode::OK,
        &SecondFactorPage {
            chrome: &page.chrome,
            error: None,
        },
    ))
}

#[derive(Deserialize)]
pub struct CodeForm {
    csrf: Option<String>,
    code: Option<String>,
}

pub async fn second_factor(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    Form(form): Form<CodeForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let Some(token) = state.cookies().get(&headers, PENDING) else {
        return Ok(second_factor_expired());
    };
    let Ok((user, next)) = state.auth.pending_second_factor(&token).await else {
        return Ok(second_factor_expired());
    };
    let client = auth_client(&state, &headers, &info);
    let (status, message) = match state
        .auth
        .verify_second_factor(&user, form.code.as_deref().unwrap_or_default(), &client)
        .await
    {
        Ok(method) => {
            state
                .store
                .delete_pending_login(&crate::crypto::hash_secret(&token))
                .await?;
            end_current_session(&state, &headers).await?;
            let new = state.auth.sign_in(&user, method, &client).await?;
            let mut cookies = session_cookies(&state, &new);
            cookies.push(state.cookies().clear(PENDING));
            return Ok(see_other(&next, cookies));
        }
        Err(AuthError::InvalidCredentials(_)) => (
            StatusCode::UNAUTHORIZED,
            "That code is not correct. Codes can be used only once.".to_string(),
        ),
        Err(e @ AuthError::RateLimited(_)) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many attempts: {e}."),
        ),
        Err(e) => return Err(e.into()),
    };
    let page = Page::new(&state, &headers);
    Ok(page.render(
        status,
        &SecondFactorPage {
            chrome: &page.chrome,
            error: Some(&message),
        },
    ))
}

#[derive(Template)]
#[template(path = "login_link.html")]
struct LoginLinkPage<'a> {
    chrome: &'a Chrome,
    display_name: &'a str,
    username: &'a str,
}

fn link_unusable() -> Response {
    error_page(
        StatusCode::GONE,
        "This login link has expired or was already used",
        "Login links work once and only for a short time. Ask your administrator for a new one.",
    )
}

/// Opening a link shows whose it is and a button; only the button uses it, so that a
/// mail scanner fetching the link cannot spend it.
pub async fn link_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    match login_link::peek(&state.store, &token).await? {
        Ok(user) => {
            let page = Page::new(&state, &headers);
            let view = LoginLinkPage {
                chrome: &page.chrome,
                display_name: &user.display_name,
                username: &user.username,
            };
            Ok(page.render(StatusCode::OK, &view))
        }
        Err(_) => Ok(link_unusable()),
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    pub csrf: Option<String>,
}

pub async fn link_redeem(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    Path(token): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let client = auth_client(&state, &headers, &info);
    let attempt = crate::auth::throttle::Attempt::new("link", None, client.ip);
    let begun = crate::auth::begin_attempt(
        &state.store,
        &state.auth.keys,
        &attempt,
        &client,
        "",
        "login_link",
    )
    .await;
    if let Err(AuthError::RateLimited(_)) = begun {
        return Ok(error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "Please wait a few minutes and try again.",
        ));
    }
    begun?;
    match login_link::redeem(&state.store, &token).await? {
        Ok(user) => {
            attempt.succeeded(&state.store).await?;
            audit::record(
                &state.store,
                "auth.login_link.used",
                &client.origin(Some(&user.id)),
                Some(&user.id),
                json!({}),
            )
            .await?;
            end_current_session(&state, &headers).await?;
            let new = state
                .auth
                .sign_in(&user, AuthMethod::LoginLink, &client)
                .await?;
            Ok(see_other("/account", session_cookies(&state, &new)))
        }
        Err(reason) => {
            let reason = match reason {
                CodeRejection::Unknown => "unknown_link",
                CodeRejection::Used => "link_already_used",
                CodeRejection::Expired => "link_expired",
            };
            audit::record(
                &state.store,
                "auth.login.failed",
                &client.origin(None),
                None,
                json!({"method": "login_link", "reason": reason}),
            )
            .await?;
            Ok(link_unusable())
        }
    }
}
