//! `/account/security`: passkeys, password, authenticator app, recovery codes,
//! app passwords (see `app_passwords`) and sessions. Adding or removing a credential
//! needs a sign-in within five minutes.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::login::auth_client;
use super::{Chrome, Page, SignedIn, WebError, see_other};
use crate::app::AppState;
use crate::audit;
use crate::auth::{AuthError, device, password, totp, totp_context};
use crate::domain::Invalid;
use crate::http::ClientInfo;

const HERE: &str = "/account/security";
const REAUTH: &str = "/account/reauth?next=%2Faccount%2Fsecurity";

/// A unix time as `2026-11-29 17:58 UTC`.
pub fn when(unix: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    let s = humantime::format_rfc3339_seconds(t).to_string();
    format!("{} {} UTC", &s[..10], &s[11..16])
}

/// When and from where a secret was last used: `2026-11-29 17:58 UTC from 192.0.2.1`.
pub fn last_use(at: Option<i64>, ip: Option<String>) -> String {
    match (at, ip) {
        (Some(at), Some(ip)) => format!("{} from {ip}", when(at)),
        (Some(at), None) => when(at),
        _ => "never".into(),
    }
}

/// A passkey's name: what the user typed, else the browser and system it was made on.
pub fn passkey_name(input: Option<&str>, user_agent: Option<&str>) -> Result<String, Invalid> {
    let name = input
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let name =
        name.unwrap_or_else(|| device::describe(user_agent).replace("Unknown device", "Passkey"));
    if name.chars().count() > 60 || name.chars().any(char::is_control) {
        return Err(Invalid::new("name", "must be at most 60 characters"));
    }
    Ok(name)
}

struct PasskeyView {
    id: String,
    name: String,
    created: String,
    last_used: String,
    synced: bool,
}

struct ConsentView {
    client_id: String,
    name: String,
    scope: String,
    granted: String,
}

struct SessionView {
    id: String,
    device: String,
    ip: String,
    last_seen: String,
    method: &'static str,
    current: bool,
}

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage<'a> {
    chrome: &'a Chrome,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    recent: bool,
    passkeys: Vec<PasskeyView>,
    password_login: bool,
    has_password: bool,
    /// The password is the upstream directory's (a synced user): nothing to set here.
    directory_password: bool,
    totp_enabled: bool,
    recovery_left: i64,
    sessions: Vec<SessionView>,
    consents: Vec<ConsentView>,
    can_remove: bool,
    app_passwords: Vec<super::app_passwords::AppPasswordView>,
    app_password_base: &'static str,
    expiry_choices: &'static [(&'static str, &'static str)],
    ldap_on: bool,
}

#[derive(Deserialize, Default)]
pub struct Flash {
    done: Option<String>,
    error: Option<String>,
}

/// Messages are chosen by code, so that a link cannot put words on the page.
fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "passkey_renamed" => "The passkey was renamed.",
        "passkey_deleted" => "The passkey was deleted.",
        "password_set" => "Your password was saved.",
        "password_removed" => "Your password was removed.",
        "totp_removed" => "The authenticator app was removed.",
        "session_revoked" => "The session was signed out.",
        "others_revoked" => "All your other sessions were signed out.",
        "last_method" => {
            "You cannot remove your last way to sign in. Add another passkey or a password first."
        }
        "wrong_password" => "The current password is not correct.",
        "rate_limited" => "Too many wrong passwords. Please wait a few minutes and try again.",
        "mismatch" => "The two new passwords are not the same.",
        "not_found" => "That item no longer exists.",
        "app_password_revoked" => "The app password was revoked; it no longer works.",
        "app_password_name" => "Give the app password a name of 1–64 characters.",
        "app_password_expiry" => "Choose when the app password expires.",
        "consent_revoked" => {
            "The application can no longer sign you in without asking, and its tokens were revoked."
        }
        _ => return None,
    })
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Query(flash): Query<Flash>,
) -> Result<Response, WebError> {
    render(
        &state,
        &headers,
        &signed_in,
        flash.done.as_deref().and_then(notice_text),
        flash
            .error
            .as_deref()
            .and_then(notice_text)
            .map(str::to_string),
        StatusCode::OK,
    )
    .await
}

async fn render(
    state: &AppState,
    headers: &HeaderMap,
    signed_in: &SignedIn,
    notice: Option<&str>,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let user_id = &signed_in.user.id;
    let passkeys = state.store.passkeys_of_user(user_id).await?;
    let creds = state.store.user_credentials(user_id).await?;
    let sessions = state.store.sessions_of_user(user_id).await?;
    let methods = state.auth.sign_in_methods(user_id).await?;
    let page = Page::for_user(state, headers, signed_in);
    let view = SecurityPage {
        chrome: &page.chrome,
        notice,
        error: error.as_deref(),
        recent: signed_in.is_recent(),
        passkeys: passkeys
            .into_iter()
            .map(|p| PasskeyView {
                created: when(p.created_at),
                last_used: p.last_used_at.map(when).unwrap_or_else(|| "never".into()),
                synced: p.backup_state,
                id: p.id,
                name: p.name,
            })
            .collect(),
        password_login: state.auth.password_login_enabled(),
        has_password: creds.password_hash.is_some(),
        directory_password: state
            .directory
            .checks_password_of(&signed_in.user)
            .await
            .is_some(),
        totp_enabled: creds.totp_secret_sealed.is_some(),
        recovery_left: state.store.unused_recovery_codes(user_id).await?,
        sessions: sessions
            .into_iter()
            .map(|s| SessionView {
                current: s.id_hash == signed_in.session.id_hash,
                device: device::describe(s.user_agent.as_deref()),
                ip: s.ip.unwrap_or_default(),
                last_seen: when(s.last_seen_at),
                method: s.auth_method.label(),
                id: s.id_hash,
            })
            .collect(),
        consents: state
            .store
            .consents_of_user(user_id)
            .await?
            .into_iter()
            .map(|(client_id, name, scope, granted_at)| ConsentView {
                client_id,
                name,
                scope,
                granted: when(granted_at),
            })
            .collect(),
        can_remove: methods > 1,
        app_passwords: super::app_passwords::views(state, user_id).await?,
        app_password_base: "/account/app-passwords",
        expiry_choices: super::app_passwords::EXPIRY_CHOICES,
        ldap_on: crate::ldap::recipes::Connect::new(&state.config, state.ldap_addrs).is_some(),
    };
    Ok(page.render(status, &view))
}

#[derive(Deserialize)]
pub struct NameForm {
    csrf: Option<String>,
    name: Option<String>,
}

pub async fn rename_passkey(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<NameForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let name = match passkey_name(form.name.as_deref(), None) {
        Ok(n) => n,
        Err(e) => {
            return render(
                &state,
                &headers,
                &signed_in,
                None,
                Some(e.to_string()),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    if state
        .store
        .rename_passkey(&signed_in.user.id, &id, &name)
        .await
        .is_err()
    {
        return Ok(see_other(&format!("{HERE}?error=not_found"), []));
    }
    let origin = auth_client(&state, &headers, &info).origin(Some(&signed_in.user.id));
    audit::record(
        &state.store,
        "auth.passkey.renamed",
        &origin,
        Some(&signed_in.user.id),
        json!({"passkey_id": id, "name": name}),
    )
    .await?;
    Ok(see_other(&format!("{HERE}?done=passkey_renamed"), []))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

pub async fn delete_passkey(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    if !signed_in.is_recent() {
        return Ok(see_other(REAUTH, []));
    }
    if state.auth.sign_in_methods(&signed_in.user.id).await? <= 1 {
        return Ok(see_other(&format!("{HERE}?error=last_method"), []));
    }
    if state
        .store
        .delete_passkey(&signed_in.user.id, &id)
        .await
        .is_err()
    {
        return Ok(see_other(&format!("{HERE}?error=not_found"), []));
    }
    let origin = auth_client(&state, &headers, &info).origin(Some(&signed_in.user.id));
    audit::record(
        &state.store,
        "auth.passkey.removed",
        &origin,
        Some(&signed_in.user.id),
        json!({"passkey_id": id}),
    )
    .await?;
    Ok(see_other(&format!("{HERE}?done=passkey_deleted"), []))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: Option<String>,
    current: Option<String>,
    new_password: Option<String>,
    confirm: Option<String>,
    next: Option<String>,
    /// "Sign out my other sessions" (checked by default).
    end_other_sessions: Option<String>,
}

/// A password change this soon after a "this wasn't me" always ends other sessions.
const NOT_ME_WINDOW: i64 = 7 * 86_400;

/// Set, or change, the password. Changing needs the current password or a recent
/// sign-in; setting a first password (a new credential) needs a recent sign-in.
pub async fn set_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    signed_in: SignedIn,
    Form(form): Form<PasswordForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let user = &signed_in.user;
    let creds = state.store.user_credentials(&user.id).await?;
    if !state.auth.password_login_enabled() {
        return Err(WebError::Forbidden(
            "Password sign-in is turned off on this server.".into(),
        ));
    }
    if state.directory.checks_password_of(user).await.is_some() {
        return Err(WebError::Forbidden(
            "Your password is the one of your account in the directory: change it there.".into(),
        ));
    }
    let client = auth_client(&state, &headers, &info);
    if !signed_in.is_recent() {
        if creds.password_hash.is_none() {
            return Ok(see_other(REAUTH, []));
        }
        let current = form.current.as_deref().unwrap_or_default();
        match state.auth.confirm_password(user, current, &client).await {
            Ok(()) => {}
            Err(AuthError::RateLimited(_)) => {
                return Ok(see_other(&format!("{HERE}?error=rate_limited"), []));
            }
            Err(AuthError::InvalidCredentials(_)) => {
                return Ok(see_other(&format!("{HERE}?error=wrong_password"), []));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let new = form.new_password.unwrap_or_default();
    if form.confirm.as_deref() != Some(new.as_str()) {
        return Ok(see_other(&format!("{HERE}?error=mismatch"), []));
    }
    let personal = [
        user.username.as_str(),
        user.first_name.as_str(),
        user.last_name.as_str(),
        user.email.as_deref().unwrap_or(""),
    ];
    if let Err(e) = password::check_strength(&new, &personal) {
        return render(
            &state,
            &headers,
            &signed_in,
            None,
            Some(format!("The new password {}", e.message)),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let hash = state.auth.passwords.hash(new).await;
    state.store.set_password_hash(&user.id, Some(&hash)).await?;
    let event = if creds.password_hash.is_some() {
        "auth.password.changed"
    } else {
        "auth.password.set"
    };
    // A changed password ends the other sessions when asked to, and always after a
    // "this wasn't me": whoever knew the old one may still be signed in elsewhere.
    let after_not_me = state
        .store
        .not_me_since(&user.id, crate::store::now() - NOT_ME_WINDOW)
        .await?;
    let ended = if form.end_other_sessions.is_some() || after_not_me {
        state
            .store
            .delete_sessions_of_user(&user.id, Some(&signed_in.session.id_hash))
            .await?
    } else {
        0
    };
    let origin = client.origin(Some(&user.id));
    audit::record(
        &state.store,
        event,
        &origin,
        Some(&user.id),
        json!({"other_sessions_ended": ended, "after_not_me": after_not_me}),
    )
    .await?;
    let next = form
        .next
        .filter(|n| n == "/account")
        .unwrap_or_else(|| format!("{HERE}?done=password_set"));
    Ok(see_other(&next, []))
}

pub async fn remove_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    signed_in: SignedIn,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    if !signed_in.is_recent() {
        return Ok(see_other(REAUTH, []));
    }
    let passkeys = state
        .store
        .passkeys_of_user(&signed_in.user.id)
        .await?
        .len();
    if passkeys == 0 {
        return Ok(see_other(&format!("{HERE}?error=last_method"), []));
    }
    state
        .store
        .set_password_hash(&signed_in.user.id, None)
        .await?;
    let origin = auth_client(&state, &headers, &info).origin(Some(&signed_in.user.id));
    audit::record(
        &state.store,
        "auth.password.removed",
        &origin,
        Some(&signed_in.user.id),
        json!({}),
    )
    .await?;
    Ok(see_other(&format!("{HERE}?done=password_removed"), []))
}

#[derive(Template)]
#[template(path = "totp_enrol.html")]
struct TotpEnrolPage<'a> {
    chrome: &'a Chrome,
    qr: &'a str,
    secret: &'a str,
    error: Option<&'a str>,
}

pub async fn totp_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    if !signed_in.is_recent() {
        return Ok(see_other(REAUTH, []));
    }
    let secret = totp::new_secret();
    let sealed = state
        .encryption
        .seal(&totp_context(&signed_in.user.id), &secret);
    state
        .store
        .set_pending_totp(&signed_in.user.id, Some(&sealed))
        .await?;
    enrol_page(&state, &headers, &signed_in, &secret, None, StatusCode::OK)
}

fn enrol_page(
    state: &AppState,
    headers: &HeaderMap,
    signed_in: &SignedIn,
    secret: &[u8],
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let (_, base32, qr) = totp::enrolment(secret, &state.app_name(), &signed_in.user.username);
    let page = Page::for_user(state, headers, signed_in);
    Ok(page.render(
        status,
        &TotpEnrolPage {
            chrome: &page.chrome,
            qr: &qr,
            secret: &base32,
            error,
        },
    ))
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage<'a> {
    chrome: &'a Chrome,
    codes: &'a [String],
}

#[derive(Deserialize)]
pub struct CodeForm {
    csrf: Option<String>,
    code: Option<String>,
}

pub async fn totp_confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    signed_in: SignedIn,
    Form(form): Form<CodeForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let user = &signed_in.user;
    let Some(sealed) = state
        .store
        .user_credentials(&user.id)
        .await?
        .totp_pending_sealed
    else {
        return Ok(see_other(HERE, []));
    };
    let secret = state
        .encryption
        .open(&totp_context(&user.id), &sealed)
        .map_err(|e| WebError::Internal(e.to_string()))?;
    let Some(step) = totp::matching_step(
        &secret,
        form.code.as_deref().unwrap_or_default(),
        crate::store::now() as u64,
    ) else {
        return enrol_page(
            &state,
            &headers,
            &signed_in,
            &secret,
            Some("That code is not correct. Check the time on your phone and try the next code."),
            StatusCode::BAD_REQUEST,
        );
    };
    let (codes, hashes) = totp::new_recovery_codes();
    state
        .store
        .activate_totp(&user.id, &sealed, step, &hashes)
        .await?;
    let origin = auth_client(&state, &headers, &info).origin(Some(&user.id));
    audit::record(
        &state.store,
        "auth.totp.enabled",
        &origin,
        Some(&user.id),
        json!({}),
    )
    .await?;
    let page = Page::for_user(&state, &headers, &signed_in);
    Ok(page.render(
        StatusCode::OK,
        &RecoveryCodesPage {
            chrome: &page.chrome,
            codes: &codes,
        },
    ))
}

pub async fn totp_remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    signed_in: SignedIn,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    if !signed_in.is_recent() {
        return Ok(see_other(REAUTH, []));
    }
    state.store.remove_totp(&signed_in.user.id).await?;
    let origin = auth_client(&state, &headers, &info).origin(Some(&signed_in.user.id));
    audit::record(
        &state.store,
        "auth.totp.disabled",
        &origin,
        Some(&signed_in.user.id),
        json!({}),
    )
    .await?;
    Ok(see_other(&format!("{HERE}?done=totp_removed"), []))
}

pub async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    signed_in: SignedIn,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    if !signed_in.is_recent() {
        return Ok(see_other(REAUTH, []));
    }
    if state
        .store
        .user_credentials(&signed_in.user.id)
        .await?
        .totp_secret_sealed
        .is_none()
    {
        return Ok(see_other(HERE, []));
    }
    let (codes, hashes) = totp::new_recovery_codes();
    state
        .store
        .set_recovery_codes(&signed_in.user.id, &hashes)
        .await?;
    let origin = auth_client(&state, &headers, &info).origin(Some(&signed_in.user.id));
    audit::record(
        &state.store,
        "auth.recovery_codes.regenerated",
        &origin,
        Some(&signed_in.user.id),
        json!({}),
    )
    .await?;
    let page = Page::for_user(&state, &headers, &signed_in);
    Ok(page.render(
        StatusCode::OK,
        &RecoveryCodesPage {
            chrome: &page.chrome,
            codes: &codes,
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
    signed_in: SignedIn,
    Form(form): Form<SessionForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let target = form.session.unwrap_or_default();
    if !state
        .store
        .delete_user_session(&signed_in.user.id, &target)
        .await?
    {
        return Ok(see_other(&format!("{HERE}?error=not_found"), []));
    }
    let origin = auth_client(&state, &headers, &info).origin(Some(&signed_in.user.id));
    audit::record(
        &state.store,
        "auth.session.revoked",
        &origin,
        Some(&signed_in.user.id),
        json!({"session": &target[..12.min(target.len())]}),
    )
    .await?;
    if target == signed_in.session.id_hash {
        return Ok(see_other(
            "/login",
            [state.cookies().clear(super::cookies::SESSION)],
        ));
    }
    Ok(see_other(&format!("{HERE}?done=session_revoked"), []))
}

pub async fn revoke_other_sessions(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    signed_in: SignedIn,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let ended = state
        .store
        .delete_sessions_of_user(&signed_in.user.id, Some(&signed_in.session.id_hash))
        .await?;
    let origin = auth_client(&state, &headers, &info).origin(Some(&signed_in.user.id));
    audit::record(
        &state.store,
        "auth.session.revoked_others",
        &origin,
        Some(&signed_in.user.id),
        json!({"ended": ended}),
    )
    .await?;
    Ok(see_other(&format!("{HERE}?done=others_revoked"), []))
}

/// Withdraw an application's access: its consent and every token it holds for you.
pub async fn revoke_consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    signed_in: SignedIn,
    Path(client_id): Path<String>,
    Form(form): Form<ConsentForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    state
        .store
        .revoke_consent(&signed_in.user.id, &client_id)
        .await?;
    let origin = auth_client(&state, &headers, &info).origin(Some(&signed_in.user.id));
    audit::record(
        &state.store,
        "oidc.consent.revoked",
        &origin,
        Some(&signed_in.user.id),
        json!({ "client_id": client_id }),
    )
    .await?;
    // My apps lists the same approvals; each page gets the user back to itself.
    let back = if form.from.as_deref() == Some("apps") {
        "/account/apps"
    } else {
        HERE
    };
    Ok(see_other(&format!("{back}?done=consent_revoked"), []))
}

#[derive(Deserialize)]
pub struct ConsentForm {
    csrf: Option<String>,
    from: Option<String>,
}
