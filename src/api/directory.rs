//! `/api/v1/directory`: the upstream directory's settings, its sync runs, "sync now"
//! and "test connection". Administrators only.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiQuery, Body, Caller, Problem};
use crate::app::AppState;
use crate::audit;
use crate::directory::settings::{self, FieldView};
use crate::directory::{RunReport, TestReport};
use crate::store::directory::DirectoryRun;

/// The directory as it is set up now, with its latest runs.
#[derive(Serialize, ToSchema)]
pub struct DirectoryView {
    /// A URL is set and every setting can be used.
    configured: bool,
    /// Every setting: value, where it comes from (`operator` ones are fixed by their
    /// environment variable).
    settings: Vec<FieldView>,
    bind_password_set: bool,
    /// What is wrong with the settings, by key.
    problems: BTreeMap<String, String>,
    /// The latest runs, newest first.
    runs: Vec<DirectoryRun>,
}

async fn view(state: &AppState) -> Result<DirectoryView, Problem> {
    let resolved = state.directory.reload().await?;
    Ok(DirectoryView {
        configured: resolved.usable().is_some(),
        settings: resolved.fields.clone(),
        bind_password_set: resolved.password_set,
        problems: resolved.config.clone().err().unwrap_or_default(),
        runs: state.store.directory_runs(20).await?,
    })
}

/// The upstream directory's settings and latest runs.
#[utoipa::path(
    get, path = "/api/v1/directory", tag = "directory",
    operation_id = "show_directory",
    responses(
        (status = 200, description = "Settings and latest runs", body = DirectoryView),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<DirectoryView>, Problem> {
    caller.require_admin()?;
    Ok(Json(view(&state).await?))
}

/// Setting key → text (an empty text returns to the preset's value or the default);
/// `bind_password` sets the bind password (never shown), `clear_bind_password: "true"`
/// removes it.
#[derive(serde::Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(example = json!({"url": "ldaps://dir.example.org", "base_dn": "dc=example,dc=org", "bind_dn": "cn=latchkey,ou=services,dc=example,dc=org", "bind_password": "…"}))]
pub struct DirectoryChanges(BTreeMap<String, String>);

/// Change directory settings, all or nothing.
#[utoipa::path(
    patch, path = "/api/v1/directory", tag = "directory",
    operation_id = "update_directory",
    request_body = DirectoryChanges,
    responses(
        (status = 200, description = "Saved; the directory as it is now", body = DirectoryView),
        (status = 400, description = "The body is not a JSON object of strings", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value cannot be used (or is fixed by its environment variable); nothing was saved", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Body(DirectoryChanges(mut body)): Body<DirectoryChanges>,
) -> Result<Json<DirectoryView>, Problem> {
    caller.require_admin()?;
    let input = settings::Input {
        password: body.remove("bind_password").unwrap_or_default(),
        clear_password: body
            .remove("clear_bind_password")
            .is_some_and(|v| v == "true"),
        values: body,
    };
    match settings::save(&state.store, &state.config, &state.encryption, &input).await? {
        Ok(changed) => {
            if !changed.is_empty() {
                audit::record(
                    &state.store,
                    "admin.directory.updated",
                    &caller.origin,
                    Some("directory"),
                    crate::settings::audit_summary(&changed),
                )
                .await?;
            }
            Ok(Json(view(&state).await?))
        }
        Err(errors) => {
            let mut p = Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid input",
                "some directory settings cannot be used; nothing was changed",
            );
            p.errors = errors;
            Err(p)
        }
    }
}

/// Sync users and groups from the directory now. The run is recorded whatever its
/// outcome: `applied`, `unchanged`, `refused` (the directory's answer was not used,
/// `error` says why) or `failed` (also when no directory is set up).
#[utoipa::path(
    post, path = "/api/v1/directory/sync", tag = "directory",
    operation_id = "sync_directory",
    responses(
        (status = 200, description = "The run's outcome and counts", body = RunReport),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn sync(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<RunReport>, Problem> {
    caller.require_admin()?;
    Ok(Json(state.directory.sync("api", &caller.origin).await?))
}

/// Bind and count what the filters find; changes nothing (`ok: false` and `error`
/// when it cannot).
#[utoipa::path(
    post, path = "/api/v1/directory/test", tag = "directory",
    operation_id = "test_directory",
    responses(
        (status = 200, description = "Whether the bind worked and what the filters find", body = TestReport),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn test(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<TestReport>, Problem> {
    caller.require_admin()?;
    let report = match state.directory.reload().await?.usable().cloned() {
        Some(config) => state.directory.test_connection(&config).await,
        None => TestReport {
            ok: false,
            users: 0,
            groups: 0,
            error: Some(
                "no usable directory is set up (see GET /api/v1/directory for the problems)".into(),
            ),
        },
    };
    audit::record(
        &state.store,
        "admin.directory.tested",
        &caller.origin,
        Some("directory"),
        serde_json::json!({"after": &report}),
    )
    .await?;
    Ok(Json(report))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// How many (1–200, default 50).
    limit: Option<i64>,
}

/// The runs.
#[derive(Serialize, ToSchema)]
pub struct RunList {
    items: Vec<DirectoryRun>,
}

/// Past sync runs, newest first (the newest 200 are kept).
#[utoipa::path(
    get, path = "/api/v1/directory/runs", tag = "directory",
    operation_id = "list_directory_runs",
    params(RunsQuery),
    responses(
        (status = 200, description = "Runs, newest first", body = RunList),
        (status = 422, description = "A parameter is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn runs(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<RunsQuery>,
) -> Result<Json<RunList>, Problem> {
    caller.require_admin()?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    Ok(Json(RunList {
        items: state.store.directory_runs(limit).await?,
    }))
}
