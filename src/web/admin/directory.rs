//! `/admin/directory`: the upstream directory's settings (environment-given ones
//! read-only), "Use preset", "Test connection", "Sync now" and the latest runs.

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
use crate::directory::settings::{self, FieldView, Input, PRESETS};
use crate::http::ClientInfo;
use crate::web::{Chrome, WebError, see_other, when};

struct RunRow {
    when: String,
    cause: String,
    outcome: String,
    counts: String,
    error: Option<String>,
    skipped: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "admin_directory.html")]
struct DirectoryPage<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    notice: Option<&'a str>,
    alert: Option<&'a str>,
    problems: BTreeMap<String, String>,
    fields: Vec<FieldView>,
    any_fixed: bool,
    password_set: bool,
    password_fixed: bool,
    configured: bool,
    skip_verify: bool,
    unencrypted: bool,
    presets: &'static [&'static str],
    preset: String,
    runs: Vec<RunRow>,
}

impl DirectoryPage<'_> {
    fn in_section<'b>(&'b self, name: &str) -> Vec<&'b FieldView> {
        self.fields
            .iter()
            .filter(|f| f.in_section(name) && f.key != "preset")
            .collect()
    }
    fn problem(&self, key: &str) -> Option<&String> {
        self.problems.get(key)
    }
    fn is_preset(&self, p: &str) -> bool {
        self.preset == p
    }
    fn preset_label(&self, p: &str) -> &'static str {
        match p {
            "openldap" => "OpenLDAP / Synology",
            "active-directory" => "Active Directory",
            "freeipa" => "FreeIPA",
            _ => "lldap",
        }
    }
}

/// What the page shows besides the stored state.
#[derive(Default)]
struct Shown<'a> {
    notice: Option<&'a str>,
    alert: Option<&'a str>,
    problems: BTreeMap<String, String>,
}

async fn render(
    state: &AppState,
    headers: &HeaderMap,
    admin: &AdminSession,
    shown: Shown<'_>,
    code: StatusCode,
) -> Result<Response, WebError> {
    let resolved = state.directory.reload().await?;
    let mut problems = resolved.config.clone().err().unwrap_or_default();
    problems.extend(shown.problems);
    let config = resolved.usable();
    let runs = state
        .store
        .directory_runs(20)
        .await?
        .into_iter()
        .map(|r| {
            let n = |k: &str| r.summary[k].as_u64().unwrap_or(0);
            RunRow {
                when: when(r.started_at),
                counts: format!(
                    "{} created, {} updated, {} enabled, {} disabled, {} deleted; groups: {} created, {} updated, {} deleted",
                    n("created"),
                    n("updated"),
                    n("enabled"),
                    n("disabled"),
                    n("deleted"),
                    n("groups_created"),
                    n("groups_updated"),
                    n("groups_deleted")
                ),
                skipped: r.summary["skipped"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|s| {
                                (
                                    s["entry"].as_str().unwrap_or("").to_string(),
                                    s["reason"].as_str().unwrap_or("").to_string(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                cause: r.cause,
                outcome: r.outcome,
                error: r.error,
            }
        })
        .collect();
    let page = admin.page(state, headers);
    let view = DirectoryPage {
        chrome: &page.chrome,
        section: "directory",
        notice: shown.notice,
        alert: shown.alert,
        any_fixed: resolved.fields.iter().any(FieldView::fixed) || resolved.password_fixed,
        password_set: resolved.password_set,
        password_fixed: resolved.password_fixed,
        configured: config.is_some(),
        skip_verify: resolved.text("skip_verify") == "true",
        unencrypted: resolved.text("allow_unencrypted") == "true",
        presets: PRESETS,
        preset: resolved.text("preset").to_string(),
        fields: resolved.fields.clone(),
        problems,
        runs,
    };
    Ok(page.render(code, &view))
}

fn message(code: &str) -> Option<&'static str> {
    Some(match code {
        "saved" => "The directory settings were saved.",
        "preset" => "The preset was applied: its mappings and filters are in force.",
        _ => return None,
    })
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Query(flash): Query<Flash>,
) -> Result<Response, WebError> {
    let shown = Shown {
        notice: flash.done.as_deref().and_then(message),
        alert: flash.error.as_deref().and_then(message),
        ..Shown::default()
    };
    render(&state, &headers, &admin, shown, StatusCode::OK).await
}

/// The submitted form: every field by name; a checkbox left unticked is not sent.
type Submitted = Vec<(String, String)>;

fn csrf_of(form: &Submitted) -> Option<&str> {
    form.iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str())
}

pub async fn save(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Form(form): Form<Submitted>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, csrf_of(&form))?;
    let mut input = Input::default();
    for f in settings::FIELDS {
        if f.key == "preset" {
            continue;
        }
        let sent = form
            .iter()
            .find(|(k, _)| k == f.key)
            .map(|(_, v)| v.clone());
        let value = match f.kind {
            settings::Kind::Flag => if sent.is_some() { "true" } else { "false" }.to_string(),
            _ => match sent {
                Some(v) => v,
                None => continue,
            },
        };
        input.values.insert(f.key.to_string(), value);
    }
    let resolved = state.directory.settings().await?;
    // Read-only fields are not sent by a browser's disabled checkboxes: keep them.
    for v in resolved.fields.iter().filter(|v| v.fixed()) {
        input.values.insert(v.key.to_string(), v.value.clone());
    }
    input.password = form
        .iter()
        .find(|(k, _)| k == "bind_password")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    input.clear_password = form.iter().any(|(k, _)| k == "clear_bind_password");
    match settings::save(&state.store, &state.config, &state.encryption, &input).await? {
        Ok(changed) => {
            state.directory.reload().await?;
            if !changed.is_empty() {
                let after = state.directory.settings().await?;
                let insecure = after.text("skip_verify") == "true"
                    || after.text("allow_unencrypted") == "true";
                audit::record(
                    &state.store,
                    "admin.directory.updated",
                    &admin.origin(&state, &headers, &info),
                    Some("directory"),
                    {
                        let mut summary = crate::settings::audit_summary(&changed);
                        summary["insecure"] = json!(insecure);
                        summary
                    },
                )
                .await?;
                if insecure {
                    tracing::warn!(
                        event = "directory.insecure",
                        "INSECURE: directory passwords may travel unverified or unencrypted (set in the admin console)"
                    );
                }
            }
            Ok(see_other("/admin/directory?done=saved", []))
        }
        Err(problems) => {
            let shown = Shown {
                alert: Some("Nothing was saved: some values cannot be used (marked below)."),
                problems,
                ..Shown::default()
            };
            render(
                &state,
                &headers,
                &admin,
                shown,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

pub async fn preset(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Form(form): Form<Submitted>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, csrf_of(&form))?;
    let before = state.directory.settings().await?.text("preset").to_string();
    let chosen = form
        .iter()
        .find(|(k, _)| k == "preset")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    match settings::apply_preset(&state.store, &state.config, &chosen).await? {
        Ok(_) => {
            state.directory.reload().await?;
            audit::record(
                &state.store,
                "admin.directory.updated",
                &admin.origin(&state, &headers, &info),
                Some("directory"),
                json!({"before": {"preset": before}, "after": {"preset": chosen}}),
            )
            .await?;
            Ok(see_other("/admin/directory?done=preset", []))
        }
        Err(problems) => {
            let shown = Shown {
                alert: Some("The preset was not applied."),
                problems,
                ..Shown::default()
            };
            render(
                &state,
                &headers,
                &admin,
                shown,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// "Test connection" or "Sync now" before the settings can be used.
async fn not_set_up(
    state: &AppState,
    headers: &HeaderMap,
    admin: &AdminSession,
) -> Result<Response, WebError> {
    let shown = Shown {
        alert: Some("Set up the directory first: its settings cannot be used yet."),
        ..Shown::default()
    };
    render(state, headers, admin, shown, StatusCode::CONFLICT).await
}

/// Bind and count, and say what happened; nothing changes.
pub async fn test(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Form(form): Form<Submitted>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, csrf_of(&form))?;
    let Some(config) = state.directory.reload().await?.usable().cloned() else {
        return not_set_up(&state, &headers, &admin).await;
    };
    let report = state.directory.test_connection(&config).await;
    let text = match &report.error {
        None => format!(
            "Connected and bound as {}: the user filter finds {} entries, the group filter {}. Nothing was changed.",
            if config.bind_dn.is_empty() {
                "anonymous"
            } else {
                &config.bind_dn
            },
            report.users,
            report.groups
        ),
        Some(e) => format!("The test failed: {e}"),
    };
    let shown = Shown {
        notice: report.ok.then_some(text.as_str()),
        alert: (!report.ok).then_some(text.as_str()),
        ..Shown::default()
    };
    render(&state, &headers, &admin, shown, StatusCode::OK).await
}

/// Sync now and show the outcome.
pub async fn sync(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Form(form): Form<Submitted>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, csrf_of(&form))?;
    if state.directory.reload().await?.usable().is_none() {
        return not_set_up(&state, &headers, &admin).await;
    }
    let report = state
        .directory
        .sync("console", &admin.origin(&state, &headers, &info))
        .await?;
    let s = &report.summary;
    let text = match report.outcome.as_str() {
        "applied" | "unchanged" => format!(
            "Synced: {} created, {} updated, {} enabled, {} disabled, {} deleted; groups: {} created, {} updated, {} deleted; {} skipped.",
            s.created,
            s.updated,
            s.enabled,
            s.disabled,
            s.deleted,
            s.groups_created,
            s.groups_updated,
            s.groups_deleted,
            s.skipped.len()
        ),
        _ => format!(
            "The sync {}: {}",
            report.outcome,
            report.error.as_deref().unwrap_or("")
        ),
    };
    let ok = matches!(report.outcome.as_str(), "applied" | "unchanged");
    let shown = Shown {
        notice: ok.then_some(text.as_str()),
        alert: (!ok).then_some(text.as_str()),
        ..Shown::default()
    };
    render(&state, &headers, &admin, shown, StatusCode::OK).await
}
