//! `/api/v1/groups`: groups, memberships and group custom claims, and users' custom
//! claims. Administrators only.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{Body, Caller, Problem};
use crate::app::AppState;
use crate::audit;
use crate::domain::claims::check_custom_claim;
use crate::domain::group::{Group, check_group_display_name, normalize_group_name};
use crate::store::ClaimOwner;

#[derive(Serialize, ToSchema)]
pub struct GroupList {
    items: Vec<Group>,
}

/// Every group, by name.
#[utoipa::path(
    get, path = "/api/v1/groups", tag = "groups",
    operation_id = "list_groups",
    responses(
        (status = 200, description = "Every group, by name", body = GroupList),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<GroupList>, Problem> {
    caller.require_admin()?;
    Ok(Json(GroupList {
        items: state.store.list_groups().await?,
    }))
}

/// A group's name (the `groups` claim value: lower case, `[a-z0-9_.@-]`) and the name
/// people see (at most 100 characters, no control characters; defaults to the name).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "ops", "display_name": "Operations"}))]
pub struct GroupBody {
    name: String,
    #[serde(default)]
    #[schema(max_length = 100)]
    display_name: String,
}

impl GroupBody {
    fn checked(&self) -> Result<(String, String), Problem> {
        let name = normalize_group_name(&self.name)?;
        let display = match check_group_display_name(&self.display_name)? {
            "" => name.clone(),
            d => d.to_string(),
        };
        Ok((name, display))
    }
}

/// Create a group.
#[utoipa::path(
    post, path = "/api/v1/groups", tag = "groups",
    operation_id = "create_group",
    request_body = GroupBody,
    responses(
        (status = 201, description = "Created", body = Group),
        (status = 400, description = "The body is not JSON of this shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<GroupBody>,
) -> Result<impl IntoResponse, Problem> {
    caller.require_admin()?;
    let (name, display) = body.checked()?;
    let group = state.store.create_group(&name, &display).await?;
    audit::record(
        &state.store,
        "group.created",
        &caller.origin,
        Some(&group.id),
        json!({"name": group.name, "after": group}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(group)))
}

/// A group with its members (user ids) and custom claims.
#[derive(Serialize, ToSchema)]
pub struct GroupDetail {
    #[serde(flatten)]
    group: Group,
    members: Vec<String>,
    claims: BTreeMap<String, String>,
}

/// Read a group, its members and claims.
#[utoipa::path(
    get, path = "/api/v1/groups/{id}", tag = "groups",
    operation_id = "show_group",
    params(("id" = String, Path, description = "The group's id")),
    responses(
        (status = 200, description = "The group", body = GroupDetail),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<GroupDetail>, Problem> {
    caller.require_admin()?;
    let group = state
        .store
        .group_by_id(&id)
        .await?
        .ok_or_else(Problem::not_found)?;
    let members = state.store.group_member_ids(&id).await?;
    let claims = state
        .store
        .custom_claims(ClaimOwner::Group(&id))
        .await?
        .into_iter()
        .collect();
    Ok(Json(GroupDetail {
        group,
        members,
        claims,
    }))
}

/// Rename a group.
#[utoipa::path(
    put, path = "/api/v1/groups/{id}", tag = "groups",
    operation_id = "update_group",
    params(("id" = String, Path, description = "The group's id")),
    request_body = GroupBody,
    responses(
        (status = 200, description = "The group as changed", body = Group),
        (status = 400, description = "The body is not JSON of this shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<GroupBody>,
) -> Result<Json<Group>, Problem> {
    caller.require_admin()?;
    let before = state
        .store
        .group_by_id(&id)
        .await?
        .ok_or_else(Problem::not_found)?;
    before.check_managed_here("name")?;
    let (name, display) = body.checked()?;
    let group = state.store.rename_group(&id, &name, &display).await?;
    audit::record(
        &state.store,
        "group.updated",
        &caller.origin,
        Some(&id),
        json!({"before": before, "after": group}),
    )
    .await?;
    Ok(Json(group))
}

/// Delete a group (not while it limits who may use a client).
#[utoipa::path(
    delete, path = "/api/v1/groups/{id}", tag = "groups",
    operation_id = "delete_group",
    params(("id" = String, Path, description = "The group's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A client is limited to this group", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The group is synced from the directory", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
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
    group.check_managed_here("id")?;
    state.store.delete_group(&id).await?;
    audit::record(
        &state.store,
        "group.deleted",
        &caller.origin,
        Some(&id),
        json!({"name": group.name, "before": group}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a user to a group (adding a member again changes nothing).
#[utoipa::path(
    put, path = "/api/v1/groups/{id}/members/{user_id}", tag = "groups",
    operation_id = "add_group_member",
    params(
        ("id" = String, Path, description = "The group's id"),
        ("user_id" = String, Path, description = "The user's id"),
    ),
    responses(
        (status = 204, description = "The user is a member"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group or user", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The group is synced from the directory: its members are the directory's", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    caller.require_admin()?;
    if let Some(group) = state.store.group_by_id(&id).await? {
        group.check_managed_here("members")?;
    }
    let was = is_member(&state, &id, &user_id).await?;
    state.store.add_group_member(&id, &user_id).await?;
    audit::record(
        &state.store,
        "group.member_added",
        &caller.origin,
        Some(&id),
        json!({"user_id": user_id, "before": {"member": was}, "after": {"member": true}}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a user from a group.
#[utoipa::path(
    delete, path = "/api/v1/groups/{id}/members/{user_id}", tag = "groups",
    operation_id = "remove_group_member",
    params(
        ("id" = String, Path, description = "The group's id"),
        ("user_id" = String, Path, description = "The user's id"),
    ),
    responses(
        (status = 204, description = "The user is not a member"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The path holds a NUL character (`%00`), so it names nothing", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The group is synced from the directory: its members are the directory's", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    caller.require_admin()?;
    if let Some(group) = state.store.group_by_id(&id).await? {
        group.check_managed_here("members")?;
    }
    let was = is_member(&state, &id, &user_id).await?;
    state.store.remove_group_member(&id, &user_id).await?;
    audit::record(
        &state.store,
        "group.member_removed",
        &caller.origin,
        Some(&id),
        json!({"user_id": user_id, "before": {"member": was}, "after": {"member": false}}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn is_member(state: &AppState, group_id: &str, user_id: &str) -> Result<bool, Problem> {
    Ok(state
        .store
        .group_member_ids(group_id)
        .await?
        .iter()
        .any(|m| m == user_id))
}

/// A custom claim's value; one that parses as JSON is emitted as JSON.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"value": "blue"}))]
pub struct ClaimBody {
    value: String,
}

/// Set one custom claim of a user or group.
async fn set_claim(
    state: &AppState,
    caller: &Caller,
    owner: ClaimOwner<'_>,
    key: &str,
    value: &str,
) -> Result<StatusCode, Problem> {
    caller.require_admin()?;
    check_custom_claim(key, value)?;
    let before = claim_value(state, owner, key).await?;
    state.store.set_custom_claim(owner, key, value).await?;
    let (kind, id) = owner_kind(owner);
    audit::record(
        &state.store,
        "claim.set",
        &caller.origin,
        Some(id),
        json!({"owner": kind, "key": key, "before": before, "after": value}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_claim(
    state: &AppState,
    caller: &Caller,
    owner: ClaimOwner<'_>,
    key: &str,
) -> Result<StatusCode, Problem> {
    caller.require_admin()?;
    let before = claim_value(state, owner, key).await?;
    state.store.remove_custom_claim(owner, key).await?;
    let (kind, id) = owner_kind(owner);
    audit::record(
        &state.store,
        "claim.removed",
        &caller.origin,
        Some(id),
        json!({"owner": kind, "key": key, "before": before, "after": null}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn claim_value(
    state: &AppState,
    owner: ClaimOwner<'_>,
    key: &str,
) -> Result<Option<String>, Problem> {
    Ok(state.store.custom_claim(owner, key).await?)
}

fn owner_kind(owner: ClaimOwner<'_>) -> (&'static str, &str) {
    match owner {
        ClaimOwner::User(id) => ("user", id),
        ClaimOwner::Group(id) => ("group", id),
    }
}

/// Set a custom claim of a group (its members get it).
#[utoipa::path(
    put, path = "/api/v1/groups/{id}/claims/{key}", tag = "groups",
    operation_id = "set_group_claim",
    params(
        ("id" = String, Path, description = "The group's id"),
        ("key" = String, Path, description = "The claim's name (not a standard claim)"),
    ),
    request_body = ClaimBody,
    responses(
        (status = 204, description = "Set"),
        (status = 400, description = "The body is not JSON of this shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The name is reserved or the value too long", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn put_group_claim(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, key)): Path<(String, String)>,
    Body(body): Body<ClaimBody>,
) -> Result<StatusCode, Problem> {
    caller.require_admin()?;
    state
        .store
        .group_by_id(&id)
        .await?
        .ok_or_else(Problem::not_found)?;
    set_claim(&state, &caller, ClaimOwner::Group(&id), &key, &body.value).await
}

/// Remove a custom claim of a group.
#[utoipa::path(
    delete, path = "/api/v1/groups/{id}/claims/{key}", tag = "groups",
    operation_id = "delete_group_claim",
    params(
        ("id" = String, Path, description = "The group's id"),
        ("key" = String, Path, description = "The claim's name"),
    ),
    responses(
        (status = 204, description = "The group has no such claim (any more)"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The path holds a NUL character (`%00`), so it names nothing", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The group is synced from the directory: its members are the directory's", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn delete_group_claim(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, key)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    remove_claim(&state, &caller, ClaimOwner::Group(&id), &key).await
}

/// Set a custom claim of a user.
#[utoipa::path(
    put, path = "/api/v1/users/{id}/claims/{key}", tag = "users",
    operation_id = "set_user_claim",
    params(
        ("id" = String, Path, description = "The user's id"),
        ("key" = String, Path, description = "The claim's name (not a standard claim)"),
    ),
    request_body = ClaimBody,
    responses(
        (status = 204, description = "Set"),
        (status = 400, description = "The body is not JSON of this shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The name is reserved or the value too long", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn put_user_claim(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, key)): Path<(String, String)>,
    Body(body): Body<ClaimBody>,
) -> Result<StatusCode, Problem> {
    caller.require_admin()?;
    state
        .store
        .user_by_id(&id)
        .await?
        .ok_or_else(Problem::not_found)?;
    set_claim(&state, &caller, ClaimOwner::User(&id), &key, &body.value).await
}

/// Remove a custom claim of a user.
#[utoipa::path(
    delete, path = "/api/v1/users/{id}/claims/{key}", tag = "users",
    operation_id = "delete_user_claim",
    params(
        ("id" = String, Path, description = "The user's id"),
        ("key" = String, Path, description = "The claim's name"),
    ),
    responses(
        (status = 204, description = "The user has no such claim (any more)"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The path holds a NUL character (`%00`), so it names nothing", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The group is synced from the directory: its members are the directory's", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn delete_user_claim(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, key)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    remove_claim(&state, &caller, ClaimOwner::User(&id), &key).await
}
