//! Pages reached from or about email: asking for a login code and typing it, the
//! verification link, "this wasn't me", and sending the verification link again.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::cookies::{EMAIL_CODE, SESSION};
use super::login::{auth_client, encode, end_current_session, session_cookies};
use super::{Chrome, Page, SignedIn, WebError, error_page, see_other};
use crate::app::AppState;
use crate::audit;
use crate::auth::{AuthError, login_code, safe_next};
use crate::crypto::{hash_secret, random_token};
use crate::domain::session::AuthMethod;
use crate::http::ClientInfo;
use crate::store::{NOT_ME, VERIFY_EMAIL, Verification};

#[derive(Template)]
#[template(path = "login_email.html")]
struct RequestPage<'a> {
    chrome: &'a Chrome,
    next: &'a str,
    next_enc: String,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    sent: Option<String>,
}

fn codes_off() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Login codes by email are not available",
        "This server does not send login codes by email. Sign in another way, or ask your administrator.",
    )
}

pub async fn request_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    if !login_code::offered(&state.mail).await {
        return Ok(codes_off());
    }
    let next = safe_next(q.next.as_deref());
    let page = Page::new(&state, &headers);
    Ok(page.render(
        StatusCode::OK,
        &RequestPage {
            chrome: &page.chrome,
            next_enc: encode(&next),
            next: &next,
            error: None,
        },
    ))
}

#[derive(Deserialize)]
pub struct RequestForm {
    csrf: Option<String>,
    email: Option<String>,
    next: Option<String>,
}

/// Send a code, if the address is an account's, and go to the page where it is typed.
/// Known and unknown addresses get the very same answer.
pub async fn request(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    Form(form): Form<RequestForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    if !login_code::offered(&state.mail).await {
        return Ok(codes_off());
    }
    let next = safe_next(form.next.as_deref());
    let client = auth_client(&state, &headers, &info);
    let browser = random_token();
    let email = form.email.unwrap_or_default();
    match login_code::send_requested(&state.mail, &email, browser.expose(), &client).await {
        Ok(()) => {
            let cookie =
                state
                    .cookies()
                    .set(EMAIL_CODE, browser.expose(), Some(login_code::CODE_TTL));
            Ok(see_other(
                &format!("/login/enter-code?sent=1&next={}", encode(&next)),
                [cookie],
            ))
        }
        Err(e @ (AuthError::RateLimited(_) | AuthError::Invalid(_))) => {
            let page = Page::new(&state, &headers);
            let (status, message) = match e {
                AuthError::Invalid(_) => (
                    StatusCode::BAD_REQUEST,
                    format!(
                        "An email address has at most {} characters.",
                        crate::auth::LOGIN_MAX
                    ),
                ),
                e => (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("Too many codes were asked for: {e}."),
                ),
            };
            Ok(page.render(
                status,
                &RequestPage {
                    chrome: &page.chrome,
                    next_enc: encode(&next),
                    next: &next,
                    error: Some(&message),
                },
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "login_enter_code.html")]
struct EnterCodePage<'a> {
    chrome: &'a Chrome,
    next: &'a str,
    next_enc: String,
    sent: bool,
    /// This browser asked for a code: no need to name the account.
    bound: bool,
    error: Option<&'a str>,
}

pub async fn enter_code_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    let next = safe_next(q.next.as_deref());
    let page = Page::new(&state, &headers);
    Ok(page.render(
        StatusCode::OK,
        &EnterCodePage {
            chrome: &page.chrome,
            next_enc: encode(&next),
            next: &next,
            sent: q.sent.is_some(),
            bound: state.cookies().get(&headers, EMAIL_CODE).is_some(),
            error: None,
        },
    ))
}

#[derive(Deserialize)]
pub struct CodeForm {
    csrf: Option<String>,
    code: Option<String>,
    login: Option<String>,
    next: Option<String>,
}

pub async fn enter_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    Form(form): Form<CodeForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let next = safe_next(form.next.as_deref());
    let client = auth_client(&state, &headers, &info);
    let browser = state.cookies().get(&headers, EMAIL_CODE);
    let outcome = login_code::redeem(
        &state.auth,
        form.code.as_deref().unwrap_or_default(),
        browser.as_deref(),
        form.login.as_deref(),
        &client,
    )
    .await;
    let (status, message) = match outcome {
        Ok(user) => {
            end_current_session(&state, &headers).await?;
            let new = state
                .auth
                .sign_in(&user, AuthMethod::EmailCode, &client)
                .await?;
            let mut cookies = session_cookies(&state, &new);
            cookies.push(state.cookies().clear(EMAIL_CODE));
            return Ok(see_other(&next, cookies));
        }
        Err(AuthError::InvalidCredentials(_)) => (
            StatusCode::UNAUTHORIZED,
            "That code is not correct, has expired or was used already.".to_string(),
        ),
        Err(AuthError::Invalid(e)) => (
            StatusCode::BAD_REQUEST,
            format!("The {} {}.", e.field, e.message),
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
        &EnterCodePage {
            chrome: &page.chrome,
            next_enc: encode(&next),
            next: &next,
            sent: false,
            bound: browser.is_some(),
            error: Some(&message),
        },
    ))
}

#[derive(Template)]
#[template(path = "verify_email.html")]
struct VerifyEmailPage<'a> {
    chrome: &'a Chrome,
    username: &'a str,
    email: &'a str,
}

/// The user an emailed link of `purpose` is for, without using it up (the page that
/// asks for the button press); `None` when it is unknown, used or expired.
async fn link_owner(
    state: &AppState,
    token: &str,
    purpose: &str,
) -> Result<Option<crate::domain::user::User>, WebError> {
    let Some(user_id) = state
        .store
        .peek_user_token(&hash_secret(token), purpose)
        .await?
    else {
        return Ok(None);
    };
    Ok(state.store.user_by_id(&user_id).await?)
}

fn verification_unusable() -> Response {
    error_page(
        StatusCode::GONE,
        "This link has expired or was already used",
        "Verification links work once, for 24 hours. Sign in and ask for a new one on your account page.",
    )
}

/// `GET /verify-email/{token}`: the link in the verification email. It names the
/// account and the address and asks for a button press: a mail scanner fetching the
/// link must not verify an address for whoever signed up with it.
pub async fn verify_email_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let Some(user) = link_owner(&state, &token, VERIFY_EMAIL).await? else {
        return Ok(verification_unusable());
    };
    let page = Page::new(&state, &headers);
    Ok(page.render(
        StatusCode::OK,
        &VerifyEmailPage {
            chrome: &page.chrome,
            username: &user.username,
            email: user.email.as_deref().unwrap_or_default(),
        },
    ))
}

/// `POST /verify-email/{token}`: the button on that page.
pub async fn verify_email(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    Path(token): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let client = auth_client(&state, &headers, &info);
    match state
        .store
        .verify_email_with_token(&hash_secret(&token))
        .await?
    {
        Verification::Verified(user_id) => {
            let user = state.store.user_by_id(&user_id).await?;
            audit::record(
                &state.store,
                "user.email_verified",
                &client.origin(Some(&user_id)),
                Some(&user_id),
                json!({"email": user.and_then(|u| u.email)}),
            )
            .await?;
            Ok(message(
                &state,
                &headers,
                StatusCode::OK,
                "Your email address is confirmed",
                "Thank you. Applications can now sign you in; go back to the one you were using and try again.",
            )
            .await)
        }
        Verification::AddressChanged => Ok(error_page(
            StatusCode::GONE,
            "This link is for an old address",
            "The account's email address has changed since this link was sent. Use the link sent to the new address.",
        )),
        Verification::Unusable => Ok(verification_unusable()),
    }
}

async fn message(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    heading: &str,
    text: &str,
) -> Response {
    let mut page = Page::new(state, headers);
    if let Ok(Some(s)) = super::current_session(state, headers).await {
        page = Page::for_user(state, headers, &s);
    }
    page.render(
        status,
        &super::MessagePage {
            chrome: Chrome {
                app_name: page.chrome.app_name.clone(),
                logo: page.chrome.logo.clone(),
                csrf: page.chrome.csrf.clone(),
                user: page.chrome.user.clone(),
                is_admin: page.chrome.is_admin,
            },
            heading,
            message: text,
        },
    )
}

#[derive(Template)]
#[template(path = "not_me.html")]
struct NotMePage<'a> {
    chrome: &'a Chrome,
    username: &'a str,
}

#[derive(Template)]
#[template(path = "not_me_done.html")]
struct NotMeDonePage<'a> {
    chrome: &'a Chrome,
    email_codes: bool,
}

fn not_me_unusable() -> Response {
    error_page(
        StatusCode::GONE,
        "This link has expired or was already used",
        "If you still think someone else is using your account, sign in, sign out your other sessions on the Security page, or ask your administrator.",
    )
}

/// `GET /account/not-me/{token}`: what the link will do, and a button (a mail scanner
/// fetching the link must not sign the account out).
pub async fn not_me_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let Some(user) = link_owner(&state, &token, NOT_ME).await? else {
        return Ok(not_me_unusable());
    };
    let page = Page::new(&state, &headers);
    Ok(page.render(
        StatusCode::OK,
        &NotMePage {
            chrome: &page.chrome,
            username: &user.username,
        },
    ))
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: Option<String>,
}

pub async fn not_me(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    Path(token): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let Some((user_id, ended)) = state
        .store
        .sign_out_everywhere_with_token(&hash_secret(&token))
        .await?
    else {
        return Ok(not_me_unusable());
    };
    let client = auth_client(&state, &headers, &info);
    audit::record(
        &state.store,
        "auth.not_me",
        &client.origin(Some(&user_id)),
        Some(&user_id),
        json!({"sessions_ended": ended, "tokens_revoked": true}),
    )
    .await?;
    let page = Page::new(&state, &headers);
    let response = page.render(
        StatusCode::OK,
        &NotMeDonePage {
            chrome: &page.chrome,
            email_codes: login_code::offered(&state.mail).await,
        },
    );
    Ok(super::with_cookies(
        response,
        [state.cookies().clear(SESSION)],
    ))
}

#[derive(Deserialize)]
pub struct ResendForm {
    csrf: Option<String>,
    next: Option<String>,
}

/// Send the verification link again, then go back (to `next`, or the account page).
pub async fn resend_verification(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    signed_in: SignedIn,
    Form(form): Form<ResendForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let client = auth_client(&state, &headers, &info);
    let origin = client.origin(Some(&signed_in.user.id));
    match crate::auth::email::resend_verification(&state.mail, &signed_in.user, client.ip, &origin)
        .await
    {
        Ok(_) => {}
        Err(e @ AuthError::RateLimited(_)) => {
            return Ok(error_page(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many links were asked for",
                &format!("Please wait: {e}."),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let back = match form.next.as_deref() {
        Some(n) => safe_next(Some(n)),
        None => "/account?notice=verification_sent".to_string(),
    };
    Ok(see_other(&back, []))
}
