//! `/admin/settings`: the settings an admin may change while Latchkey runs. A setting
//! the operator fixed by environment variable or TOML file is shown read-only.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::{AdminSession, Flash};
use crate::app::AppState;
use crate::audit;
use crate::http::ClientInfo;
use crate::settings::{Kind, Origin, SettingView, UpdateError};
use crate::web::{Chrome, WebError, see_other};

#[derive(Template)]
#[template(path = "admin_settings.html")]
struct SettingsPage<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    notice: Option<&'a str>,
    alert: Option<&'a str>,
    fields: Vec<Field>,
    failed: bool,
}

#[derive(serde::Deserialize, Default)]
pub struct LogoQuery {
    logo_error: Option<String>,
}

/// One row of the form: the setting, the text in the box, and any message for it.
struct Field {
    view: SettingView,
    shown: String,
    error: Option<String>,
}

impl Field {
    fn choices(&self) -> &'static [&'static str] {
        match self.view.kind {
            Kind::Choice(c) => c,
            _ => &[],
        }
    }

    fn is_selected(&self, choice: &str) -> bool {
        self.shown == choice
    }

    fn is_choice(&self) -> bool {
        matches!(self.view.kind, Kind::Choice(_))
    }

    fn fixed(&self) -> bool {
        self.view.origin == Origin::Operator
    }

    fn changed_here(&self) -> bool {
        self.view.origin == Origin::Database
    }
}

fn render(
    state: &AppState,
    headers: &HeaderMap,
    admin: &AdminSession,
    notice: Option<&str>,
    alert: Option<&str>,
    submitted: Option<&BTreeMap<String, String>>,
    errors: &BTreeMap<String, String>,
) -> Result<Response, WebError> {
    let fields = state
        .runtime
        .views()
        .into_iter()
        .map(|view| Field {
            shown: submitted
                .and_then(|s| s.get(view.key).cloned())
                .filter(|_| view.editable)
                .unwrap_or_else(|| view.value.clone()),
            error: errors.get(view.key).cloned(),
            view,
        })
        .collect();
    let page = admin.page(state, headers);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(page.render(
        status,
        &SettingsPage {
            chrome: &page.chrome,
            section: "settings",
            notice,
            alert,
            fields,
            failed: !errors.is_empty(),
        },
    ))
}

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Query(flash): Query<Flash>,
    Query(logo): Query<LogoQuery>,
) -> Result<Response, WebError> {
    let alert = logo
        .logo_error
        .as_deref()
        .and_then(crate::web::pictures::picture_error_message);
    render(
        &state,
        &headers,
        &admin,
        flash.notice(),
        alert,
        None,
        &BTreeMap::new(),
    )
}

pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Form(mut form): Form<BTreeMap<String, String>>,
) -> Result<Response, WebError> {
    let csrf = form.remove("csrf");
    crate::web::verify_csrf(&state, &headers, csrf.as_deref())?;
    // Only what the admin changed is stored: an untouched default stays a default.
    let current = state.runtime.views();
    let changes: BTreeMap<String, String> = form
        .iter()
        .filter(|(key, text)| {
            current
                .iter()
                .find(|v| v.key == key.as_str())
                .is_none_or(|v| v.value != text.trim())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    match state.runtime.update(&changes).await {
        Ok(changed) => {
            if !changed.is_empty() {
                audit::record(
                    &state.store,
                    "admin.settings.updated",
                    &admin.origin(&state, &headers, &info),
                    None,
                    json!({ "changes": changed }),
                )
                .await?;
            }
            Ok(see_other("/admin/settings?done=settings_saved", []))
        }
        Err(UpdateError::Invalid(errors)) => {
            render(&state, &headers, &admin, None, None, Some(&form), &errors)
        }
        Err(UpdateError::Store(e)) => Err(e.into()),
    }
}
