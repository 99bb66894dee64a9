//! `/api/v1/settings`: the runtime settings (see `settings.rs`). Administrators only.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Body, Caller, Problem};
use crate::app::AppState;
use crate::audit;
use crate::settings::{SettingView, UpdateError};

/// Setting key → new value as text; an empty text returns the setting to its default.
#[derive(serde::Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(example = json!({"signup_mode": "invite", "session_lifetime": "14d"}))]
pub struct SettingChanges(BTreeMap<String, String>);

/// The runtime settings.
#[derive(Serialize, ToSchema)]
pub struct SettingList {
    items: Vec<SettingView>,
}

/// Every runtime setting: value, where it comes from, and whether it can be changed here.
#[utoipa::path(
    get, path = "/api/v1/settings", tag = "settings",
    operation_id = "list_settings",
    responses(
        (status = 200, description = "Every runtime setting", body = SettingList),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SettingList>, Problem> {
    caller.require_admin()?;
    Ok(Json(SettingList {
        items: state.runtime.views(),
    }))
}

/// Change some settings, all or nothing: `{"key": "text"}`; an empty text returns the
/// setting to its default. A setting fixed by an environment variable cannot change.
#[utoipa::path(
    patch, path = "/api/v1/settings", tag = "settings",
    operation_id = "update_settings",
    request_body = SettingChanges,
    responses(
        (status = 200, description = "Saved; every setting as it is now", body = SettingList),
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
    Body(SettingChanges(body)): Body<SettingChanges>,
) -> Result<Json<SettingList>, Problem> {
    caller.require_admin()?;
    match state.runtime.update(&body).await {
        Ok(changed) => {
            if !changed.is_empty() {
                audit::record(
                    &state.store,
                    "admin.settings.updated",
                    &caller.origin,
                    Some("settings"),
                    crate::settings::audit_summary(&changed),
                )
                .await?;
            }
            Ok(Json(SettingList {
                items: state.runtime.views(),
            }))
        }
        Err(UpdateError::Invalid(errors)) => {
            let mut p = Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid input",
                "some settings cannot be used; nothing was changed",
            );
            p.errors = errors;
            Err(p)
        }
        Err(UpdateError::Store(e)) => Err(e.into()),
    }
}
