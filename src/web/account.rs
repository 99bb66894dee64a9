//! `/account`: who you are, and re-authentication before sensitive changes.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::login::auth_client;
use super::{Chrome, Page, SignedIn, WebError, see_other};
use crate::app::AppState;
use crate::audit;
use crate::auth::{AuthError, safe_next};
use crate::http::ClientInfo;
use crate::store::now;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    chrome: &'a Chrome,
    display_name: &'a str,
    username: &'a str,
    email: &'a str,
    email_verified: bool,
    is_admin: bool,
    /// The picture's address, changing with the picture so browsers fetch the new one.
    picture_url: String,
    has_picture: bool,
    unverified: bool,
    notice: Option<&'static str>,
    alert: Option<&'static str>,
}

#[derive(Deserialize, Default)]
pub struct AccountQuery {
    done: Option<String>,
    notice: Option<String>,
    picture_error: Option<String>,
}

pub async fn overview(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Query(query): Query<AccountQuery>,
) -> Result<Response, WebError> {
    let page = Page::for_user(&state, &headers, &signed_in);
    let user = &signed_in.user;
    let picture = state
        .store
        .image(&super::pictures::user_owner(&user.id))
        .await?;
    let version = picture
        .as_ref()
        .map(|p| p.etag.as_str())
        .unwrap_or("initials");
    let view = AccountPage {
        chrome: &page.chrome,
        display_name: &user.display_name,
        username: &user.username,
        email: user.email.as_deref().unwrap_or("—"),
        email_verified: user.email.is_some() && user.email_verified,
        is_admin: user.is_admin,
        picture_url: format!(
            "{}?v={version}",
            super::pictures::user_picture_path(&user.id)
        ),
        has_picture: picture.is_some(),
        unverified: super::profile::shows_unverified_banner(&state, user).await?,
        notice: match (query.done.as_deref(), query.notice.as_deref()) {
            (Some("picture_updated"), _) => Some("Your picture was saved."),
            (Some("picture_removed"), _) => Some("Your picture was removed."),
            (_, Some("verification_sent")) => {
                Some("A new link is on its way to your email address. It works for 24 hours.")
            }
            _ => None,
        },
        alert: query
            .picture_error
            .as_deref()
            .and_then(super::pictures::picture_error_message),
    };
    Ok(page.render(StatusCode::OK, &view))
}

#[derive(Template)]
#[template(path = "reauth.html")]
struct ReauthPage<'a> {
    chrome: &'a Chrome,
    next: &'a str,
    has_password: bool,
    has_totp: bool,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

async fn reauth_view(
    state: &AppState,
    headers: &HeaderMap,
    signed_in: &SignedIn,
    next: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let creds = state.store.user_credentials(&signed_in.user.id).await?;
    let page = Page::for_user(state, headers, signed_in);
    let view = ReauthPage {
        chrome: &page.chrome,
        next,
        has_password: creds.password_hash.is_some() && state.auth.password_login_enabled(),
        has_totp: creds.totp_secret_sealed.is_some(),
        error,
    };
    Ok(page.render(status, &view))
}

pub async fn reauth_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    let next = safe_next(q.next.as_deref());
    reauth_view(&state, &headers, &signed_in, &next, None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct ReauthForm {
    csrf: Option<String>,
    password: Option<String>,
    code: Option<String>,
    next: Option<String>,
}

/// Confirm it is you with the password (and the authenticator code when enrolled).
pub async fn reauth_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    signed_in: SignedIn,
    Form(form): Form<ReauthForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let next = safe_next(form.next.as_deref());
    let client = auth_client(&state, &headers, &info);
    let user = &signed_in.user;
    let wrong = |status| {
        reauth_view(
            &state,
            &headers,
            &signed_in,
            &next,
            Some("That is not correct."),
            status,
        )
    };
    let outcome = state
        .auth
        .password_login(
            &user.username,
            form.password.as_deref().unwrap_or_default(),
            &next,
            &client,
        )
        .await;
    match outcome {
        Ok(crate::auth::PasswordOutcome::Complete(u)) if u.id == user.id => {}
        Ok(crate::auth::PasswordOutcome::NeedsSecondFactor { pending_token }) => {
            state
                .store
                .delete_pending_login(&crate::crypto::hash_secret(&pending_token))
                .await?;
            if let Err(e) = state
                .auth
                .verify_second_factor(user, form.code.as_deref().unwrap_or_default(), &client)
                .await
            {
                return match e {
                    AuthError::InvalidCredentials(_) => wrong(StatusCode::UNAUTHORIZED).await,
                    AuthError::RateLimited(_) => wrong(StatusCode::TOO_MANY_REQUESTS).await,
                    other => Err(other.into()),
                };
            }
        }
        Ok(_) | Err(AuthError::InvalidCredentials(_)) => {
            return wrong(StatusCode::UNAUTHORIZED).await;
        }
        Err(AuthError::RateLimited(_)) => return wrong(StatusCode::TOO_MANY_REQUESTS).await,
        Err(e) => return Err(e.into()),
    }
    state
        .store
        .reauthenticate_session(&signed_in.session.id_hash, now())
        .await?;
    audit::record(
        &state.store,
        "auth.reauth.succeeded",
        &client.origin(Some(&user.id)),
        Some(&user.id),
        json!({"method": "password"}),
    )
    .await?;
    Ok(see_other(&next, []))
}
