//! `/api/v1/groups`: groups, memberships and group custom claims. Administrators only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Body, Caller, Problem};
use crate::app::AppState;
use crate::audit;
use crate::domain::claims::check_custom_claim;
use crate::domain::group::normalize_group_name;
use crate::store::ClaimOwner;

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, Problem> {
    caller.require_admin()?;
    Ok(Json(json!({ "items": state.store.list_groups().await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    name: String,
    #[serde(default)]
    display_name: String,
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<GroupBody>,
) -> Result<impl IntoResponse, Problem> {
    caller.require_admin()?;
    let name = normalize_group_name(&body.name)?;
    let display = if body.display_name.trim().is_empty() {
        name.clone()
    } else {
        body.display_name.trim().to_string()
    };
    let group = state.store.create_group(&name, &display).await?;
    audit::record(
        &state.store,
        "group.created",
        &caller.origin,
        Some(&group.id),
        json!({"name": group.name}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!(group))))
}

pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require_admin()?;
    let group = state
        .store
        .group_by_id(&id)
        .await?
        .ok_or_else(Problem::not_found)?;
    let members = state.store.group_member_ids(&id).await?;
    let claims: serde_json::Map<String, Value> = state
        .store
        .custom_claims(ClaimOwner::Group(&id))
        .await?
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    let mut v = json!(group);
    v["members"] = json!(members);
    v["claims"] = Value::Object(claims);
    Ok(Json(v))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<GroupBody>,
) -> Result<Json<Value>, Problem> {
    caller.require_admin()?;
    let before = state
        .store
        .group_by_id(&id)
        .await?
        .ok_or_else(Problem::not_found)?;
    let name = normalize_group_name(&body.name)?;
    let display = if body.display_name.trim().is_empty() {
        name.clone()
    } else {
        body.display_name.trim().to_string()
    };
    let group = state.store.rename_group(&id, &name, &display).await?;
    audit::record(
        &state.store,
        "group.updated",
        &caller.origin,
        Some(&id),
        json!({"before": before, "after": group}),
    )
    .await?;
    Ok(Json(json!(group)))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    caller.require_admin()?;
    let group = state
        .store
        .group_by_id(&id)
        .await?
        .ok_or_else(Problem::not_found)?;
    state.store.delete_group(&id).await?;
    audit::record(
        &state.store,
        "group.deleted",
        &caller.origin,
        Some(&id),
        json!({"name": group.name}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    caller.require_admin()?;
    state.store.add_group_member(&id, &user_id).await?;
    audit::record(
        &state.store,
        "group.member_added",
        &caller.origin,
        Some(&id),
        json!({"user_id": user_id}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    caller.require_admin()?;
    state.store.remove_group_member(&id, &user_id).await?;
    audit::record(
        &state.store,
        "group.member_removed",
        &caller.origin,
        Some(&id),
        json!({"user_id": user_id}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct ClaimBody {
    value: String,
}

/// `PUT /api/v1/{users|groups}/{id}/claims/{key}` sets one custom claim.
pub async fn set_claim(
    state: &AppState,
    caller: &Caller,
    owner: ClaimOwner<'_>,
    key: &str,
    value: &str,
) -> Result<StatusCode, Problem> {
    caller.require_admin()?;
    check_custom_claim(key, value)?;
    state.store.set_custom_claim(owner, key, value).await?;
    let (kind, id) = match owner {
        ClaimOwner::User(id) => ("user", id),
        ClaimOwner::Group(id) => ("group", id),
    };
    audit::record(
        &state.store,
        "claim.set",
        &caller.origin,
        Some(id),
        json!({"owner": kind, "key": key, "value": value}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove_claim(
    state: &AppState,
    caller: &Caller,
    owner: ClaimOwner<'_>,
    key: &str,
) -> Result<StatusCode, Problem> {
    caller.require_admin()?;
    state.store.remove_custom_claim(owner, key).await?;
    let id = match owner {
        ClaimOwner::User(id) | ClaimOwner::Group(id) => id,
    };
    audit::record(
        &state.store,
        "claim.removed",
        &caller.origin,
        Some(id),
        json!({"key": key}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn put_group_claim(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, key)): Path<(String, String)>,
    Body(body): Body<ClaimBody>,
) -> Result<StatusCode, Problem> {
    state
        .store
        .group_by_id(&id)
        .await?
        .ok_or_else(Problem::not_found)?;
    set_claim(&state, &caller, ClaimOwner::Group(&id), &key, &body.value).await
}

pub async fn delete_group_claim(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, key)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    remove_claim(&state, &caller, ClaimOwner::Group(&id), &key).await
}

pub async fn put_user_claim(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, key)): Path<(String, String)>,
    Body(body): Body<ClaimBody>,
) -> Result<StatusCode, Problem> {
    state
        .store
        .user_by_id(&id)
        .await?
        .ok_or_else(Problem::not_found)?;
    set_claim(&state, &caller, ClaimOwner::User(&id), &key, &body.value).await
}

pub async fn delete_user_claim(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, key)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    remove_claim(&state, &caller, ClaimOwner::User(&id), &key).await
}
