//! `/api/v1/settings`: the runtime settings (see `settings.rs`). Administrators only.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{Body, Caller, Problem};
use crate::app::AppState;
use crate::audit;
use crate::settings::UpdateError;

/// Every runtime setting: value, where it comes from, and whether it can be changed here.
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, Problem> {
    caller.require_admin()?;
    Ok(Json(json!({ "items": state.runtime.views() })))
}

/// Change some settings, all or nothing: `{"key": "text"}`; an empty text returns the
/// setting to its default.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<BTreeMap<String, String>>,
) -> Result<Json<Value>, Problem> {
    caller.require_admin()?;
    match state.runtime.update(&body).await {
        Ok(changed) => {
            if !changed.is_empty() {
                audit::record(
                    &state.store,
                    "admin.settings.updated",
                    &caller.origin,
                    None,
                    json!({ "changes": changed }),
                )
                .await?;
            }
            Ok(Json(json!({ "items": state.runtime.views() })))
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
