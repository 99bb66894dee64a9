//! `/account/profile`: name, email and language. Changing the address needs a recent
//! sign-in, sends the verification link to the new address and a notice to the old one.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::login::auth_client;
use super::{Chrome, Page, SignedIn, WebError, see_other};
use crate::app::AppState;
use crate::audit;
use crate::auth::AuthError;
use crate::domain::user::{NewUser, User};
use crate::http::ClientInfo;
use crate::store::{StoreError, UserUpdate};

const INVALID: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage<'a> {
    chrome: &'a Chrome,
    unverified: bool,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    first_name: &'a str,
    last_name: &'a str,
    display_name: &'a str,
    email: &'a str,
    locale: &'a str,
    can_change_email: bool,
    /// Synced from the directory: names and email are read-only here.
    synced: bool,
}

/// Whether the "not verified" banner shows for this user.
pub async fn shows_unverified_banner(state: &AppState, user: &User) -> Result<bool, WebError> {
    Ok(!crate::auth::email::may_use_applications(&state.mail, user).await?)
}

#[derive(Deserialize, Default)]
pub struct ProfileForm {
    csrf: Option<String>,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    display_name: String,
    email: Option<String>,
    #[serde(default)]
    locale: String,
}

async fn render(
    state: &AppState,
    headers: &HeaderMap,
    signed_in: &SignedIn,
    form: &ProfileForm,
    notice: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let user = &signed_in.user;
    let policy = crate::auth::email::policy(&state.mail).await?;
    let page = Page::for_user(state, headers, signed_in);
    let view = ProfilePage {
        chrome: &page.chrome,
        unverified: shows_unverified_banner(state, user).await?,
        notice,
        error,
        first_name: &form.first_name,
        last_name: &form.last_name,
        display_name: &form.display_name,
        email: form
            .email
            .as_deref()
            .or(user.email.as_deref())
            .unwrap_or_default(),
        locale: &form.locale,
        can_change_email: policy.users_change_email && !user.is_synced(),
        synced: user.is_synced(),
    };
    Ok(page.render(status, &view))
}

#[derive(Deserialize)]
pub struct Notice {
    done: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    axum::extract::Query(q): axum::extract::Query<Notice>,
) -> Result<Response, WebError> {
    let u = &signed_in.user;
    let form = ProfileForm {
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
        display_name: u.display_name.clone(),
        email: u.email.clone(),
        locale: u.locale.clone().unwrap_or_default(),
        ..ProfileForm::default()
    };
    let notice = match q.done.as_deref() {
        Some("saved") => Some("Your profile was saved."),
        Some("email_changed") => Some(
            "Your profile was saved. If your new address needs confirming, a link is on its way to it.",
        ),
        _ => None,
    };
    render(
        &state,
        &headers,
        &signed_in,
        &form,
        notice,
        None,
        StatusCode::OK,
    )
    .await
}

pub async fn save(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    signed_in: SignedIn,
    Form(form): Form<ProfileForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let user = &signed_in.user;
    let policy = crate::auth::email::policy(&state.mail).await?;
    let typed_email = if policy.users_change_email && !user.is_synced() {
        form.email.clone()
    } else {
        user.email.clone()
    };
    let valid = match (NewUser {
        username: user.username.clone(),
        email: typed_email,
        first_name: form.first_name.clone(),
        last_name: form.last_name.clone(),
        display_name: form.display_name.clone(),
        locale: Some(form.locale.clone()),
        ..NewUser::default()
    })
    .validate()
    {
        Ok(v) => v,
        Err(e) => {
            let m = format!("{}: {}", e.field.replace('_', " "), e.message);
            return render(
                &state,
                &headers,
                &signed_in,
                &form,
                None,
                Some(m.as_str()),
                INVALID,
            )
            .await;
        }
    };
    let email_changed = !valid
        .email
        .as_deref()
        .unwrap_or_default()
        .eq_ignore_ascii_case(user.email.as_deref().unwrap_or_default());
    if email_changed && !signed_in.is_recent() {
        // A new address can receive login codes: prove it is you first.
        return Ok(see_other("/account/reauth?next=%2Faccount%2Fprofile", []));
    }
    let change = UserUpdate {
        email: Some(valid.email.clone()),
        first_name: Some(valid.first_name.clone()),
        last_name: Some(valid.last_name.clone()),
        display_name: Some(valid.display_name.clone()),
        locale: Some(valid.locale.clone()),
        ..UserUpdate::default()
    };
    let after = match crate::auth::email::update_user(&state.mail, user, change).await {
        Ok(u) => u,
        Err(AuthError::Invalid(e)) => {
            let m = format!("{}: {}", e.field.replace('_', " "), e.message);
            return render(
                &state,
                &headers,
                &signed_in,
                &form,
                None,
                Some(m.as_str()),
                INVALID,
            )
            .await;
        }
        Err(AuthError::Store(StoreError::Conflict(m))) => {
            return render(
                &state,
                &headers,
                &signed_in,
                &form,
                None,
                Some(m.as_str()),
                INVALID,
            )
            .await;
        }
        Err(e) => return Err(e.into()),
    };
    let client = auth_client(&state, &headers, &info);
    let mut before = serde_json::Map::new();
    let mut now = serde_json::Map::new();
    for (field, a, b) in [
        ("email", json!(user.email), json!(after.email)),
        (
            "first_name",
            json!(user.first_name),
            json!(after.first_name),
        ),
        ("last_name", json!(user.last_name), json!(after.last_name)),
        (
            "display_name",
            json!(user.display_name),
            json!(after.display_name),
        ),
        ("locale", json!(user.locale), json!(after.locale)),
    ] {
        if a != b {
            before.insert(field.into(), a);
            now.insert(field.into(), b);
        }
    }
    if !now.is_empty() {
        audit::record(
            &state.store,
            if email_changed {
                "user.email_changed"
            } else {
                "user.profile_updated"
            },
            &client.origin(Some(&user.id)),
            Some(&user.id),
            json!({"before": Value::Object(before), "after": Value::Object(now)}),
        )
        .await?;
    }
    let done = if email_changed {
        "email_changed"
    } else {
        "saved"
    };
    Ok(see_other(&format!("/account/profile?done={done}"), []))
}
