//! The admin console under `/admin`: users, groups, OIDC clients, proxied
//! applications, LDAP, API keys and the audit log. Every handler takes an
//! [`AdminSession`], so nothing here is reachable from a non-admin session; every
//! POST checks the CSRF token first, and every change is an audit event.

mod api_keys;
mod audit_log;
mod claims;
mod clients;
mod directory;
mod email;
mod groups;
mod invites;
mod ldap;
mod logos;
mod proxy_apps;
mod settings;
mod user_access;
mod users;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::login::auth_client;
use super::{MessagePage, Page, SignedIn, WebError, see_other};
use crate::app::AppState;
use crate::audit::{self, Origin};
use crate::domain::Invalid;
use crate::http::ClientInfo;

/// Routes of the admin console.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(home))
        .route("/admin/users", get(users::list))
        .route("/admin/users/new", get(users::new_form).post(users::create))
        .route("/admin/users/{id}", get(users::detail).post(users::update))
        .route("/admin/users/{id}/disable", post(users::disable))
        .route("/admin/users/{id}/enable", post(users::enable))
        .route(
            "/admin/users/{id}/delete",
            get(users::delete_confirm).post(users::delete),
        )
        .route(
            "/admin/users/{id}/login-link",
            post(user_access::create_login_link),
        )
        .route(
            "/admin/users/{id}/email-login-code",
            post(user_access::email_login_code),
        )
        .route(
            "/admin/users/{id}/email-verified",
            post(user_access::set_email_verified),
        )
        .route(
            "/admin/users/{id}/sessions/revoke",
            post(user_access::revoke_session),
        )
        .route(
            "/admin/users/{id}/passkeys/{passkey}/delete",
            post(user_access::delete_passkey),
        )
        .route(
            "/admin/users/{id}/app-passwords",
            post(user_access::create_app_password),
        )
        .route(
            "/admin/users/{id}/app-passwords/{app_password}/revoke",
            post(user_access::revoke_app_password),
        )
        .route(
            "/admin/users/{id}/totp/reset",
            post(user_access::reset_totp),
        )
        .route("/admin/groups", get(groups::list).post(groups::create))
        .route(
            "/admin/groups/{id}",
            get(groups::detail).post(groups::rename),
        )
        .route(
            "/admin/groups/{id}/delete",
            get(groups::delete_confirm).post(groups::delete),
        )
        .route("/admin/groups/{id}/members", post(groups::add_member))
        .route(
            "/admin/groups/{id}/members/{user}/remove",
            post(groups::remove_member),
        )
        .route(
            "/admin/settings",
            get(settings::show).post(settings::update),
        )
        .route(
            "/admin/settings/logo",
            post(logos::upload_app_logo).layer(upload_limit()),
        )
        .route("/admin/settings/logo/delete", post(logos::remove_app_logo))
        .route(
            "/admin/clients/{id}/logo",
            post(logos::upload_client_logo).layer(upload_limit()),
        )
        .route(
            "/admin/clients/{id}/logo/delete",
            post(logos::remove_client_logo),
        )
        .route(
            "/admin/{kind}/{id}/claims",
            get(claims::show).post(claims::set),
        )
        .route(
            "/admin/{kind}/{id}/claims/{key}/delete",
            post(claims::remove),
        )
        .route("/admin/proxy-apps", get(proxy_apps::list))
        .route(
            "/admin/proxy-apps/new",
            get(proxy_apps::new_form).post(proxy_apps::create),
        )
        .route(
            "/admin/proxy-apps/{id}",
            get(proxy_apps::detail).post(proxy_apps::update),
        )
        .route(
            "/admin/proxy-apps/{id}/delete",
            get(proxy_apps::delete_confirm).post(proxy_apps::delete),
        )
        .route("/admin/invites", get(invites::list).post(invites::create))
        .route("/admin/invites/{id}/revoke", post(invites::revoke))
        .route("/admin/email", get(email::page))
        .route("/admin/email/smtp", post(email::save_smtp))
        .route("/admin/email/test", post(email::send_test))
        .route("/admin/email/switches", post(email::save_switches))
        .route("/admin/email/outbox/{id}/retry", post(email::retry))
        .route("/admin/clients", get(clients::list))
        .route(
            "/admin/clients/new",
            get(clients::new_form).post(clients::create),
        )
        .route(
            "/admin/clients/{id}",
            get(clients::detail).post(clients::update),
        )
        .route(
            "/admin/clients/{id}/rotate-secret",
            post(clients::rotate_secret),
        )
        .route(
            "/admin/clients/{id}/delete",
            get(clients::delete_confirm).post(clients::delete),
        )
        .route(
            "/admin/api-keys",
            get(api_keys::list).post(api_keys::create),
        )
        .route(
            "/admin/api-keys/{id}/revoke",
            get(api_keys::revoke_confirm).post(api_keys::revoke),
        )
        .route(
            "/admin/directory",
            get(directory::page).post(directory::save),
        )
        .route("/admin/directory/preset", post(directory::preset))
        .route("/admin/directory/test", post(directory::test))
        .route("/admin/directory/sync", post(directory::sync))
        .route("/admin/ldap", get(ldap::page))
        .route("/admin/ldap/accounts", post(ldap::create))
        .route("/admin/ldap/accounts/{name}/disable", post(ldap::disable))
        .route("/admin/ldap/accounts/{name}/enable", post(ldap::enable))
        .route(
            "/admin/ldap/accounts/{name}/delete",
            get(ldap::delete_confirm).post(ldap::delete),
        )
        .route("/admin/audit", get(audit_log::list))
        .route("/admin/audit.csv", get(audit_log::export_csv))
}

/// Uploads may be a little larger than the largest picture accepted.
fn upload_limit() -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::max(crate::media::MAX_UPLOAD + 64 * 1024)
}

/// A signed-in administrator. Anyone else signed in gets a friendly 403 page; without
/// a session, the usual redirect to the sign-in page.
pub struct AdminSession(pub SignedIn);

impl AdminSession {
    pub fn user(&self) -> &crate::domain::user::User {
        &self.0.user
    }

    pub fn page(&self, state: &AppState, headers: &HeaderMap) -> Page {
        Page::for_user(state, headers, &self.0)
    }

    /// The admin, their address and browser, for audit events.
    pub fn origin(&self, state: &AppState, headers: &HeaderMap, info: &ClientInfo) -> Origin {
        auth_client(state, headers, info).origin(Some(&self.0.user.id))
    }
}

impl FromRequestParts<AppState> for AdminSession {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let signed_in = SignedIn::from_request_parts(parts, state).await?;
        if signed_in.user.is_admin && !signed_in.user.disabled {
            return Ok(AdminSession(signed_in));
        }
        // Worth an admin's attention: someone signed in is probing the console.
        let info = ClientInfo::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        let origin = auth_client(state, &parts.headers, &info).origin(Some(&signed_in.user.id));
        audit::record(
            &state.store,
            "admin.access_denied",
            &origin,
            Some(&signed_in.user.id),
            json!({"method": parts.method.as_str(), "path": parts.uri.path()}),
        )
        .await
        .map_err(|e| WebError::from(e).into_response())?;
        let page = Page::for_user(state, &parts.headers, &signed_in);
        let chrome = super::Chrome {
            app_name: page.chrome.app_name.clone(),
            logo: page.chrome.logo.clone(),
            csrf: page.chrome.csrf.clone(),
            user: page.chrome.user.clone(),
            is_admin: false,
        };
        Err(page.render(
            StatusCode::FORBIDDEN,
            &MessagePage {
                chrome,
                heading: "Administrators only",
                message: "This part of the site is for administrators. If you need a change \
                          to your account or an application, ask one of them.",
            },
        ))
    }
}

async fn home(_admin: AdminSession) -> Response {
    see_other("/admin/users", [])
}

/// A form that carries only its CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

/// `?done=` / `?error=` codes; the words are chosen here, so a link cannot put its
/// own words on the page.
#[derive(Deserialize, Default)]
pub struct Flash {
    done: Option<String>,
    error: Option<String>,
}

impl Flash {
    pub fn notice(&self) -> Option<&'static str> {
        self.done.as_deref().and_then(message)
    }

    pub fn error(&self) -> Option<&'static str> {
        self.error.as_deref().and_then(message)
    }
}

fn message(code: &str) -> Option<&'static str> {
    Some(match code {
        "user_created" => "The user was created.",
        "user_updated" => "The changes were saved.",
        "user_disabled" => "The user was disabled and signed out everywhere.",
        "user_enabled" => "The user was enabled.",
        "user_deleted" => "The user was deleted.",
        "session_revoked" => "The session was signed out.",
        "passkey_removed" => "The passkey was removed.",
        "totp_reset" => "The authenticator app and its recovery codes were removed.",
        "not_yourself" => {
            "You cannot disable, delete or demote yourself. Ask another administrator."
        }
        "user_is_disabled" => "A disabled user cannot get a login link. Enable them first.",
        "login_code_sent" => "A login code is on its way to the user's email address.",
        "email_verified" => "The email address is marked verified.",
        "email_unverified" => "The email address is marked not verified.",
        "not_found" => "That item no longer exists.",
        "group_created" => "The group was created.",
        "group_updated" => "The group was saved.",
        "group_deleted" => "The group was deleted.",
        "group_synced" => {
            "This group is synced from the directory: its name and members are changed there."
        }
        "group_in_use" => {
            "Applications are limited to this group (see below). Deleting it would let everyone \
             use them, so it cannot be deleted while they are."
        }
        "member_added" => "The member was added.",
        "member_removed" => "The member was removed.",
        "invite_revoked" => "The invite link was withdrawn; it no longer works.",
        "logo_updated" => "The logo was saved.",
        "picture_empty" => "Choose a picture to upload.",
        "picture_too_large" => "That picture is larger than 5 MB.",
        "picture_format" => "That file is not a PNG, JPEG, WebP or SVG picture.",
        "picture_broken" => "That picture could not be read. Try another file.",
        "picture_too_big" => {
            "That picture is larger than 4096 × 4096 pixels. Make it smaller and try again."
        }
        "picture_busy" => "The server is busy with other pictures. Try again in a minute.",
        "logo_removed" => "The logo was removed.",
        "claim_saved" => "The claim was saved.",
        "claim_removed" => "The claim was removed.",
        "settings_saved" => "The settings were saved.",
        "client_deleted" => "The client was deleted; its tokens no longer work.",
        "client_updated" => "The changes were saved; they count at once.",
        "proxy_app_created" => {
            "The application is protected. Point the proxy's forward-auth at the address below."
        }
        "proxy_app_updated" => "The changes were saved; the next request follows them.",
        "proxy_app_deleted" => "The application was deleted; its hosts are refused from now on.",
        "api_key_revoked" => "The API key was revoked; it no longer works.",
        "app_password_revoked" => "The app password was revoked; it no longer works.",
        "app_password_name" => "Give the app password a name of 1–64 characters.",
        "app_password_expiry" => "Choose when the app password expires.",
        "ldap_account_disabled" => "The service account was disabled; its binds fail from now on.",
        "ldap_account_enabled" => "The service account was enabled.",
        "ldap_account_deleted" => "The service account was deleted; its binds fail from now on.",
        _ => return None,
    })
}

/// A validation problem shown next to its field.
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl From<Invalid> for FieldError {
    fn from(e: Invalid) -> Self {
        FieldError {
            field: e.field,
            message: e.message,
        }
    }
}

/// The message for `field`, if the error is about it.
pub fn error_for<'a>(error: &'a Option<FieldError>, field: &str) -> Option<&'a str> {
    error
        .as_ref()
        .filter(|e| e.field == field)
        .map(|e| e.message.as_str())
}

/// A checkbox is sent only when ticked.
pub fn ticked(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.is_empty())
}

/// The "are you sure?" page before deleting something.
#[derive(askama::Template)]
#[template(path = "admin_confirm.html")]
pub struct ConfirmPage<'a> {
    pub chrome: &'a super::Chrome,
    pub section: &'static str,
    pub heading: String,
    pub message: String,
    pub action: String,
    pub button: &'static str,
    pub cancel: String,
}

/// Map a missing row to the "no longer exists" notice on `back`.
pub fn gone(back: &str) -> Response {
    see_other(&format!("{back}?error=not_found"), [])
}

/// Not-found as a page (for GETs of a missing id).
pub fn not_found() -> Response {
    WebError::NotFound.into_response()
}
