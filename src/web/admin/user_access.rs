//! How a user gets in, seen by an admin: one-time login links, sessions, passkeys,
//! the authenticator app and app passwords.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{AdminSession, CsrfForm, gone};
use crate::app::AppState;
use crate::audit;
use crate::auth::{AuthError, login_link};
use crate::http::ClientInfo;
use crate::store::StoreError;
use crate::web::app_passwords::{self, AppPasswordForm};
use crate::web::{Chrome, WebError, see_other};

#[derive(Template)]
#[template(path = "admin_login_link.html")]
struct LoginLinkPage<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    user_id: &'a str,
    username: &'a str,
    url: &'a str,
    minutes: u64,
}

/// Make a one-time sign-in link and show it, once (only its hash is stored).
/// `login_link::create` records `auth.login_link.created` with the admin as actor.
pub async fn create_login_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let Some(user) = state.store.user_by_id(&id).await? else {
        return Ok(gone("/admin/users"));
    };
    let ttl = login_link::DEFAULT_TTL;
    let url = match login_link::create(
        &state.store,
        &state.config.app_url,
        &user,
        ttl,
        &admin.origin(&state, &headers, &info),
    )
    .await
    {
        Ok(url) => url,
        Err(AuthError::NotAllowed(_)) => {
            return Ok(see_other(
                &format!("/admin/users/{id}?error=user_is_disabled"),
                [],
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let page = admin.page(&state, &headers);
    Ok(page.render(
        StatusCode::OK,
        &LoginLinkPage {
            chrome: &page.chrome,
            section: "users",
            user_id: &user.id,
            username: &user.username,
            url: &url,
            minutes: ttl.as_secs() / 60,
        },
    ))
}

#[derive(Deserialize)]
pub struct SessionForm {
    csrf: Option<String>,
    session: Option<String>,
}

pub async fn revoke_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path(id): Path<String>,
    Form(form): Form<SessionForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let here = format!("/admin/users/{id}");
    let target = form.session.unwrap_or_default();
    if !state.store.delete_user_session(&id, &target).await? {
        return Ok(gone(&here));
    }
    audit::record(
        &state.store,
        "admin.user.session_revoked",
        &admin.origin(&state, &headers, &info),
        Some(&id),
        json!({"session": &target[..12.min(target.len())]}),
    )
    .await?;
    if target == admin.0.session.id_hash {
        // The admin signed themself out.
        return Ok(see_other(
            "/login",
            [state.cookies().clear(crate::web::cookies::SESSION)],
        ));
    }
    Ok(see_other(&format!("{here}?done=session_revoked"), []))
}

pub async fn delete_passkey(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path((id, passkey)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let here = format!("/admin/users/{id}");
    let name = state
        .store
        .passkeys_of_user(&id)
        .await?
        .into_iter()
        .find(|p| p.id == passkey)
        .map(|p| p.name);
    match state.store.delete_passkey(&id, &passkey).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Ok(gone(&here)),
        Err(e) => return Err(e.into()),
    }
    audit::record(
        &state.store,
        "admin.user.passkey_removed",
        &admin.origin(&state, &headers, &info),
        Some(&id),
        json!({"passkey_id": passkey, "name": name}),
    )
    .await?;
    Ok(see_other(&format!("{here}?done=passkey_removed"), []))
}

/// Remove the user's authenticator app and recovery codes (a lost phone).
pub async fn reset_totp(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    if state.store.user_by_id(&id).await?.is_none() {
        return Ok(gone("/admin/users"));
    }
    let had_totp = state
        .store
        .user_credentials(&id)
        .await?
        .totp_secret_sealed
        .is_some();
    state.store.remove_totp(&id).await?;
    audit::record(
        &state.store,
        "admin.user.totp_reset",
        &admin.origin(&state, &headers, &info),
        Some(&id),
        json!({"before": {"totp": had_totp}, "after": {"totp": false}}),
    )
    .await?;
    Ok(see_other(&format!("/admin/users/{id}?done=totp_reset"), []))
}

/// Email the user a login code and a one-click link (the code is never shown here).
pub async fn email_login_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let Some(user) = state.store.user_by_id(&id).await? else {
        return Ok(gone("/admin/users"));
    };
    let origin = admin.origin(&state, &headers, &info);
    match crate::auth::login_code::send_by_admin(&state.mail, &user, &origin).await {
        Ok(()) => Ok(see_other(
            &format!("/admin/users/{id}?done=login_code_sent"),
            [],
        )),
        Err(AuthError::NotAllowed(reason)) => Err(WebError::Forbidden(format!(
            "No login code was sent: {reason}."
        ))),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct VerifiedForm {
    csrf: Option<String>,
    verified: Option<String>,
}

/// An admin vouches for the user's address (or withdraws that).
pub async fn set_email_verified(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path(id): Path<String>,
    Form(form): Form<VerifiedForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let Some(user) = state.store.user_by_id(&id).await? else {
        return Ok(gone("/admin/users"));
    };
    let verified = super::ticked(&form.verified);
    state.store.set_email_verified(&id, verified).await?;
    audit::record(
        &state.store,
        "admin.user.email_verified",
        &admin.origin(&state, &headers, &info),
        Some(&id),
        json!({"email": user.email, "before": {"email_verified": user.email_verified},
               "after": {"email_verified": verified}}),
    )
    .await?;
    let done = if verified {
        "email_verified"
    } else {
        "email_unverified"
    };
    Ok(see_other(&format!("/admin/users/{id}?done={done}"), []))
}

/// Make an app password for a user (to hand to them), shown once.
pub async fn create_app_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path(id): Path<String>,
    Form(form): Form<AppPasswordForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf())?;
    let here = format!("/admin/users/{id}");
    let Some(owner) = state.store.user_by_id(&id).await? else {
        return Ok(gone(&here));
    };
    let origin = admin.origin(&state, &headers, &info);
    let page = admin.page(&state, &headers);
    let back = format!("{here}#app-passwords");
    match app_passwords::create_from_form(&state, &page, &owner, &form, &origin, true, back).await?
    {
        Ok(shown) => Ok(shown),
        Err(refused) => Ok(see_other(
            &format!("{here}?error={}#app-passwords", refused.code()),
            [],
        )),
    }
}

pub async fn revoke_app_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path((id, app_password)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let here = format!("/admin/users/{id}");
    let Some(owner) = state.store.user_by_id(&id).await? else {
        return Ok(gone(&here));
    };
    let origin = admin.origin(&state, &headers, &info);
    if !app_passwords::revoke_of(&state, &owner, &app_password, &origin).await? {
        return Ok(gone(&here));
    }
    Ok(see_other(&format!("{here}?done=app_password_revoked"), []))
}
