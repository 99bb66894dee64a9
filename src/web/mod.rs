//! Server-rendered pages (askama), their static assets, the WebAuthn JSON endpoints
//! the pages call, and the health endpoint.

mod account;
mod admin;
mod app_passwords;
mod apps;
pub mod cookies;
mod csrf;
mod email_pages;
mod health;
mod login;
mod pages;
mod passkey_api;
pub mod pictures;
mod profile;
mod security;
mod session;
mod setup;
mod signup;

use askama::Template;
use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::app::AppState;
use crate::auth::AuthError;
use crate::store::StoreError;

pub use cookies::CookiePolicy;
pub use security::when;
pub use session::{SignedIn, current as current_session, current_with_consent};

/// Check the CSRF token of a form submitted to one of our pages.
pub fn verify_csrf(
    state: &AppState,
    headers: &HeaderMap,
    submitted: Option<&str>,
) -> Result<(), WebError> {
    csrf::verify(state.cookies(), headers, submitted, state.origin())
}

/// Routes for the pages of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::landing))
        .route("/healthz", get(health::healthz))
        .route("/static/app.css", get(static_css))
        .route("/static/webauthn.js", get(static_js))
        .route("/static/form_post.js", get(static_form_post_js))
        .route("/static/logo.svg", get(static_logo))
        .route("/static/copy.js", get(static_copy_js))
        .route("/setup", get(setup::form).post(setup::create_admin))
        .route("/setup/credential", get(setup::credential))
        .route("/signup", get(signup::form).post(signup::create))
        .route("/signup/credential", get(setup::credential))
        .route("/login", get(login::page))
        .route("/login/password", post(login::password))
        .route(
            "/login/second-factor",
            get(login::second_factor_page).post(login::second_factor),
        )
        .route(
            "/login/code/{token}",
            get(login::link_page).post(login::link_redeem),
        )
        .route(
            "/login/email",
            get(email_pages::request_page).post(email_pages::request),
        )
        .route(
            "/login/enter-code",
            get(email_pages::enter_code_page).post(email_pages::enter_code),
        )
        .route(
            "/verify-email/{token}",
            get(email_pages::verify_email_page).post(email_pages::verify_email),
        )
        .route(
            "/account/not-me/{token}",
            get(email_pages::not_me_page).post(email_pages::not_me),
        )
        .route(
            "/account/verify-email/resend",
            post(email_pages::resend_verification),
        )
        .route("/account/profile", get(profile::page).post(profile::save))
        .route("/webauthn/login/start", post(passkey_api::login_start))
        .route("/webauthn/login/finish", post(passkey_api::login_finish))
        .route(
            "/webauthn/register/start",
            post(passkey_api::register_start),
        )
        .route(
            "/webauthn/register/finish",
            post(passkey_api::register_finish),
        )
        .route("/webauthn/reauth/finish", post(passkey_api::reauth_finish))
        .route("/account", get(account::overview))
        .route(
            "/account/reauth",
            get(account::reauth_page).post(account::reauth_password),
        )
        .route("/account/security", get(security::page))
        .route("/account/apps", get(apps::apps))
        .route("/account/activity", get(apps::activity))
        .route(
            "/account/passkeys/{id}/rename",
            post(security::rename_passkey),
        )
        .route(
            "/account/passkeys/{id}/delete",
            post(security::delete_passkey),
        )
        .route("/account/password", post(security::set_password))
        .route("/account/password/remove", post(security::remove_password))
        .route("/account/totp/start", post(security::totp_start))
        .route("/account/totp/confirm", post(security::totp_confirm))
        .route("/account/totp/remove", post(security::totp_remove))
        .route(
            "/account/recovery-codes",
            post(security::regenerate_recovery_codes),
        )
        .route("/account/app-passwords", post(app_passwords::create))
        .route(
            "/account/app-passwords/{id}/revoke",
            post(app_passwords::revoke),
        )
        .route("/account/sessions/revoke", post(security::revoke_session))
        .route(
            "/account/sessions/revoke-others",
            post(security::revoke_other_sessions),
        )
        .route(
            "/account/consents/{client_id}/revoke",
            post(security::revoke_consent),
        )
        .merge(admin::routes())
        .merge(pictures::routes())
        // Forms are small: a 2 MB "username" is an attack, refused before it is read.
        // The upload routes set their own, larger limit, which wins.
        .layer(axum::extract::DefaultBodyLimit::max(FORM_BODY_LIMIT))
}

/// The largest body a page's form (or a passkey ceremony's JSON) may send.
pub const FORM_BODY_LIMIT: usize = 64 * 1024;

/// What every page shows around its content.
#[derive(Clone)]
pub struct Chrome {
    pub app_name: String,
    /// The application logo's address, when one was uploaded.
    pub logo: Option<String>,
    pub csrf: String,
    /// The signed-in user's display name, for the header.
    pub user: Option<String>,
    pub is_admin: bool,
}

/// Per-request page context: the chrome and any cookie the page must set.
pub struct Page {
    pub chrome: Chrome,
    set_cookies: Vec<String>,
}

impl Page {
    pub fn new(state: &AppState, headers: &HeaderMap) -> Page {
        let token = csrf::token_for(state.cookies(), headers);
        Page {
            chrome: Chrome {
                app_name: state.app_name(),
                logo: state
                    .settings()
                    .app_logo
                    .as_ref()
                    .map(|v| format!("/pictures/app?v={v}")),
                csrf: token.token,
                user: None,
                is_admin: false,
            },
            set_cookies: token.set_cookie.into_iter().collect(),
        }
    }

    pub fn for_user(state: &AppState, headers: &HeaderMap, signed_in: &SignedIn) -> Page {
        let mut page = Page::new(state, headers);
        page.chrome.user = Some(signed_in.user.display_name.clone());
        page.chrome.is_admin = signed_in.user.is_admin;
        page
    }

    /// Render a template with `status`, setting the page's cookies.
    pub fn render(&self, status: StatusCode, template: &impl Template) -> Response {
        match template.render() {
            Ok(html) => with_cookies(
                (status, Html(html)).into_response(),
                self.set_cookies.iter().cloned(),
            ),
            Err(e) => WebError::Internal(format!("template: {e}")).into_response(),
        }
    }
}

/// Add `Set-Cookie` headers to a response.
pub fn with_cookies(mut response: Response, cookies: impl IntoIterator<Item = String>) -> Response {
    for c in cookies {
        if let Ok(v) = c.parse() {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// A redirect (303, so a POST becomes a GET) that also sets cookies.
pub fn see_other(to: &str, cookies: impl IntoIterator<Item = String>) -> Response {
    with_cookies(Redirect::to(to).into_response(), cookies)
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    chrome: Chrome,
    heading: &'a str,
    message: &'a str,
}

tokio::task_local! {
    /// The application name while a page request is handled, for pages rendered
    /// without the state at hand (error pages).
    static PAGE_STATE: AppState;
}

/// Middleware: make the application name known to error pages of this request.
pub async fn with_app_name(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // An Arc clone per request; the name is looked up only if an error page is drawn.
    PAGE_STATE.scope(state, next.run(request)).await
}

fn current_app_name() -> String {
    PAGE_STATE
        .try_with(AppState::app_name)
        .unwrap_or_else(|_| "Latchkey".to_string())
}

/// A friendly page for an error a person sees in the browser; never a stack trace.
pub fn error_page(status: StatusCode, heading: &str, message: &str) -> Response {
    let page = MessagePage {
        chrome: Chrome {
            app_name: current_app_name(),
            logo: None,
            csrf: String::new(),
            user: None,
            is_admin: false,
        },
        heading,
        message,
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (status, heading.to_string()).into_response(),
    }
}

/// Errors a page handler can end with, each shown as a friendly page.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not found")]
    NotFound,
    #[error("the form expired")]
    Csrf,
    #[error("{0}")]
    Forbidden(String),
    #[error("internal: {0}")]
    Internal(String),
    #[error("unavailable")]
    Unavailable,
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage error");
        WebError::Unavailable
    }
}

impl From<AuthError> for WebError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Store(s) => s.into(),
            AuthError::Internal(m) => WebError::Internal(m),
            other => WebError::Forbidden(other.to_string()),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::NotFound => error_page(
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is nothing at this address. Check the link, or start again from the start page.",
            ),
            WebError::Csrf => error_page(
                StatusCode::FORBIDDEN,
                "This form has expired",
                "For your safety the form could not be accepted. Go back, reload the page and try again.",
            ),
            WebError::Forbidden(message) => {
                error_page(StatusCode::FORBIDDEN, "Not allowed", &message)
            }
            WebError::Internal(detail) => {
                tracing::error!(error = %detail, "request failed");
                error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Please try again in a moment.",
                )
            }
            WebError::Unavailable => error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The database does not answer. Please try again in a moment.",
            ),
        }
    }
}

/// The fallback for unknown paths.
pub async fn not_found() -> Response {
    WebError::NotFound.into_response()
}

async fn static_css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("static/app.css"),
    )
}

async fn static_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("static/webauthn.js"),
    )
}

async fn static_logo() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        include_str!("static/logo.svg"),
    )
}

async fn static_form_post_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("static/form_post.js"),
    )
}

async fn static_copy_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("static/copy.js"),
    )
}
