//! `/admin/api-keys`: every API key with its owner and last use; make one for any
//! user (shown once, with a copy button), revoke one after a confirmation.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::{AdminSession, ConfirmPage, CsrfForm, FieldError, Flash, error_for, gone, not_found};
use crate::api::{issue_api_key, revoke_api_key};
use crate::app::AppState;
use crate::http::ClientInfo;
use crate::store::{ApiKey, now};
use crate::web::security::when;
use crate::web::{Chrome, WebError, see_other};

/// The lifetimes offered, as (form value, label); every key has one.
const LIFETIMES: &[(&str, &str)] = &[
    ("1d", "1 day"),
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("90d", "90 days"),
    ("180d", "180 days"),
    ("365d", "1 year"),
    ("730d", "2 years"),
];

struct KeyRow {
    id: String,
    name: String,
    owner: String,
    owner_id: String,
    created: String,
    expires: String,
    last_used: String,
    status: &'static str,
    live: bool,
}

#[derive(Deserialize, Default)]
pub struct KeyForm {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    expires_in: String,
}

#[derive(Template)]
#[template(path = "admin_api_keys.html")]
struct KeysPage<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    notice: Option<&'a str>,
    alert: Option<&'a str>,
    keys: Vec<KeyRow>,
    form: &'a KeyForm,
    lifetimes: &'static [(&'static str, &'static str)],
    error: Option<FieldError>,
}

impl KeysPage<'_> {
    fn error_for(&self, field: &str) -> Option<&str> {
        error_for(&self.error, field)
    }
}

async fn rows(state: &AppState) -> Result<Vec<KeyRow>, WebError> {
    let t = now();
    let mut names = std::collections::HashMap::new();
    let mut out = Vec::new();
    for k in state.store.list_api_keys(None).await? {
        if !names.contains_key(&k.user_id) {
            let name = state
                .store
                .user_by_id(&k.user_id)
                .await?
                .map(|u| u.username)
                .unwrap_or_else(|| k.user_id.clone());
            names.insert(k.user_id.clone(), name);
        }
        let (status, live) = match (k.revoked_at, k.expires_at <= t) {
            (Some(_), _) => ("revoked", false),
            (None, true) => ("expired", false),
            (None, false) => ("active", true),
        };
        out.push(KeyRow {
            owner: names[&k.user_id].clone(),
            owner_id: k.user_id.clone(),
            created: when(k.created_at),
            expires: when(k.expires_at),
            last_used: k.last_used_at.map(when).unwrap_or_else(|| "never".into()),
            id: k.id,
            name: k.name,
            status,
            live,
        });
    }
    Ok(out)
}

async fn render(
    state: &AppState,
    headers: &HeaderMap,
    admin: &AdminSession,
    flash: &Flash,
    form: &KeyForm,
    error: Option<FieldError>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let keys = rows(state).await?;
    let page = admin.page(state, headers);
    Ok(page.render(
        status,
        &KeysPage {
            chrome: &page.chrome,
            section: "api-keys",
            notice: flash.notice(),
            alert: flash.error(),
            keys,
            form,
            lifetimes: LIFETIMES,
            error,
        },
    ))
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Query(flash): Query<Flash>,
) -> Result<Response, WebError> {
    let form = KeyForm {
        owner: admin.user().username.clone(),
        ..KeyForm::default()
    };
    render(
        &state,
        &headers,
        &admin,
        &flash,
        &form,
        None,
        StatusCode::OK,
    )
    .await
}

#[derive(Template)]
#[template(path = "admin_api_key_created.html")]
struct CreatedPage<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    key: &'a ApiKey,
    owner: &'a str,
    secret: &'a str,
    expires: String,
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Form(form): Form<KeyForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    let flash = Flash::default();
    let invalid = |field: &'static str, message: &str| {
        Some(FieldError {
            field,
            message: message.to_string(),
        })
    };
    let lifetime = LIFETIMES
        .iter()
        .find(|(v, _)| *v == form.expires_in)
        .and_then(|(v, _)| humantime::parse_duration(v).ok());
    let Some(lifetime) = lifetime else {
        let e = invalid("expires_in", "Choose when the key expires.");
        return render(&state, &headers, &admin, &flash, &form, e, status).await;
    };
    let owner = match form.owner.trim() {
        "" => None,
        login => state.store.user_by_login(login).await?,
    };
    let Some(owner) = owner else {
        let e = invalid("owner", "No user has this username or email.");
        return render(&state, &headers, &admin, &flash, &form, e, status).await;
    };
    let origin = admin.origin(&state, &headers, &info);
    let issued = issue_api_key(
        &state.store,
        &owner.id,
        &form.name,
        lifetime.as_secs() as i64,
        &origin,
    )
    .await;
    let (key, secret) = match issued {
        Ok(done) => done,
        Err(problem) => {
            // The API's checks, in the form's words.
            let e = match problem.field() {
                Some("name") => invalid("name", "Give the key a name of 1–100 characters."),
                Some("user_id") => invalid("owner", "No user has this username or email."),
                Some(_) => invalid("expires_in", "Choose when the key expires."),
                None => return Err(WebError::Unavailable),
            };
            return render(&state, &headers, &admin, &flash, &form, e, status).await;
        }
    };
    let page = admin.page(&state, &headers);
    Ok(page.render(
        StatusCode::OK,
        &CreatedPage {
            chrome: &page.chrome,
            section: "api-keys",
            expires: when(key.expires_at),
            key: &key,
            owner: &owner.username,
            secret: &secret,
        },
    ))
}

pub async fn revoke_confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let Some(key) = state.store.api_key_by_id(&id).await? else {
        return Ok(not_found());
    };
    let page = admin.page(&state, &headers);
    Ok(page.render(
        StatusCode::OK,
        &ConfirmPage {
            chrome: &page.chrome,
            section: "api-keys",
            heading: format!("Revoke the API key {}?", key.name),
            message: "Scripts and services that use it are refused from now on. \
                      This cannot be undone."
                .into(),
            action: format!("/admin/api-keys/{id}/revoke"),
            button: "Revoke key",
            cancel: "/admin/api-keys".into(),
        },
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let Some(key) = state
        .store
        .api_key_by_id(&id)
        .await?
        .filter(|k| k.revoked_at.is_none())
    else {
        return Ok(gone("/admin/api-keys"));
    };
    let origin = admin.origin(&state, &headers, &info);
    if revoke_api_key(&state.store, &key, &origin).await.is_err() {
        return Ok(gone("/admin/api-keys"));
    }
    Ok(see_other("/admin/api-keys?done=api_key_revoked", []))
}
