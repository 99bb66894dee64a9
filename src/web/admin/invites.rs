//! `/admin/invites`: invite links for sign-up — expiry, usage limit, the groups a new
//! user joins; the link is shown once.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::{AdminSession, CsrfForm, FieldError, Flash, error_for, gone};
use crate::app::AppState;
use crate::audit;
use crate::config::{DurationSetting, SettingValue};
use crate::crypto::{hash_secret, random_token};
use crate::http::ClientInfo;
use crate::store::{Invite, NewInvite, StoreError, now};
use crate::web::{Chrome, WebError, see_other};

const MAX_USES: i64 = 10_000;
const NOTE_MAX: usize = 200;
/// An invite may live at most this long.
const LONGEST: i64 = 365 * 24 * 3600;

/// The form as typed; groups are one checkbox each under the same name.
pub struct InviteForm {
    csrf: Option<String>,
    note: String,
    expires_in: String,
    max_uses: String,
    groups: Vec<String>,
}

impl Default for InviteForm {
    fn default() -> Self {
        InviteForm {
            csrf: None,
            note: String::new(),
            expires_in: "7d".into(),
            max_uses: "1".into(),
            groups: Vec::new(),
        }
    }
}

impl InviteForm {
    fn from_pairs(pairs: Vec<(String, String)>) -> InviteForm {
        let mut form = InviteForm {
            expires_in: String::new(),
            max_uses: String::new(),
            ..InviteForm::default()
        };
        for (key, value) in pairs {
            match key.as_str() {
                "csrf" => form.csrf = Some(value),
                "note" => form.note = value,
                "expires_in" => form.expires_in = value,
                "max_uses" => form.max_uses = value,
                "group" => form.groups.push(value),
                _ => {}
            }
        }
        form
    }

    /// (note, lifetime in seconds, uses)
    fn validate(&self) -> Result<(String, i64, i64), FieldError> {
        let note = self.note.trim();
        if note.chars().count() > NOTE_MAX || note.chars().any(char::is_control) {
            return Err(FieldError {
                field: "note",
                message: format!("must be at most {NOTE_MAX} characters, on one line"),
            });
        }
        let life = DurationSetting::parse_setting(&self.expires_in)
            .map_err(|m| FieldError {
                field: "expires_in",
                message: m,
            })?
            .secs();
        if life > LONGEST {
            return Err(FieldError {
                field: "expires_in",
                message: "must be at most a year (365d)".into(),
            });
        }
        let uses = self
            .max_uses
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_USES).contains(n))
            .ok_or_else(|| FieldError {
                field: "max_uses",
                message: format!("must be a whole number from 1 to {MAX_USES}"),
            })?;
        Ok((note.to_string(), life, uses))
    }
}

struct GroupChoice {
    id: String,
    display_name: String,
    checked: bool,
}

struct InviteRow {
    invite: Invite,
    status: &'static str,
    groups: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "admin_invites.html")]
struct InvitesPage<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    notice: Option<&'a str>,
    alert: Option<&'a str>,
    signup_mode: &'static str,
    invites: Vec<InviteRow>,
    groups: Vec<GroupChoice>,
    form: &'a InviteForm,
    error: Option<FieldError>,
    /// The link just created: shown once.
    created: Option<String>,
}

impl InvitesPage<'_> {
    fn error_for(&self, field: &str) -> Option<&str> {
        error_for(&self.error, field)
    }
}

#[allow(clippy::too_many_arguments)]
async fn render(
    state: &AppState,
    headers: &HeaderMap,
    admin: &AdminSession,
    flash: &Flash,
    form: &InviteForm,
    error: Option<FieldError>,
    created: Option<String>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let all_groups = state.store.list_groups().await?;
    let name_of = |id: &str| {
        all_groups
            .iter()
            .find(|g| g.id == id)
            .map(|g| g.display_name.clone())
            .unwrap_or_default()
    };
    let t = now();
    let invites = state
        .store
        .list_invites()
        .await?
        .into_iter()
        .map(|invite| InviteRow {
            status: if invite.revoked_at.is_some() {
                "revoked"
            } else if t >= invite.expires_at {
                "expired"
            } else if invite.uses >= invite.max_uses {
                "used up"
            } else {
                "active"
            },
            groups: invite
                .group_ids
                .iter()
                .map(|g| name_of(g))
                .collect::<Vec<_>>()
                .join(", "),
            expires: crate::web::when(invite.expires_at),
            invite,
        })
        .collect();
    let groups = all_groups
        .iter()
        .map(|g| GroupChoice {
            id: g.id.clone(),
            display_name: g.display_name.clone(),
            checked: form.groups.contains(&g.id),
        })
        .collect();
    let page = admin.page(state, headers);
    Ok(page.render(
        status,
        &InvitesPage {
            chrome: &page.chrome,
            section: "settings",
            notice: flash.notice(),
            alert: flash.error(),
            signup_mode: state.settings().signup_mode.as_str(),
            invites,
            groups,
            form,
            error,
            created,
        },
    ))
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Query(flash): Query<Flash>,
) -> Result<Response, WebError> {
    let form = InviteForm::default();
    render(
        &state,
        &headers,
        &admin,
        &flash,
        &form,
        None,
        None,
        StatusCode::OK,
    )
    .await
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form = InviteForm::from_pairs(pairs);
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let none = Flash::default();
    let (note, life, uses) = match form.validate() {
        Ok(v) => v,
        Err(e) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return render(
                &state,
                &headers,
                &admin,
                &none,
                &form,
                Some(e),
                None,
                status,
            )
            .await;
        }
    };
    let token = random_token();
    let created = state
        .store
        .create_invite(&NewInvite {
            token_hash: &hash_secret(token.expose()),
            note: &note,
            created_by: Some(&admin.user().id),
            expires_at: now() + life,
            max_uses: uses,
            group_ids: &form.groups,
        })
        .await;
    let invite = match created {
        Ok(i) => i,
        Err(StoreError::NotFound) => {
            let e = FieldError {
                field: "groups",
                message: "a ticked group no longer exists".into(),
            };
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return render(
                &state,
                &headers,
                &admin,
                &none,
                &form,
                Some(e),
                None,
                status,
            )
            .await;
        }
        Err(e) => return Err(e.into()),
    };
    audit::record(
        &state.store,
        "admin.invite.created",
        &admin.origin(&state, &headers, &info),
        Some(&invite.id),
        json!({
            "note": invite.note,
            "expires_at": invite.expires_at,
            "max_uses": invite.max_uses,
            "groups": invite.group_ids,
        }),
    )
    .await?;
    let link = state
        .config
        .app_url
        .join(&format!("/signup?invite={}", token.expose()));
    let fresh = InviteForm::default();
    render(
        &state,
        &headers,
        &admin,
        &none,
        &fresh,
        None,
        Some(link),
        StatusCode::OK,
    )
    .await
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
    match state.store.revoke_invite(&id).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Ok(gone("/admin/invites")),
        Err(e) => return Err(e.into()),
    }
    audit::record(
        &state.store,
        "admin.invite.revoked",
        &admin.origin(&state, &headers, &info),
        Some(&id),
        json!({}),
    )
    .await?;
    Ok(see_other("/admin/invites?done=invite_revoked", []))
}
