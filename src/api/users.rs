//! `/api/v1/users`: list with prefix search and keyset pagination, create, show,
//! update, delete. Administrators only, except a user reading themself (`/me`).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Body, Caller, Problem};
use crate::app::AppState;
use crate::audit;
use crate::domain::user::{NewUser, check_locale, normalize_email, normalize_username};
use crate::store::UserUpdate;

pub async fn me(caller: Caller) -> Json<Value> {
    Json(json!(caller.user))
}

#[derive(Deserialize)]
pub struct ListQuery {
    search: Option<String>,
    /// The `next` value of the previous page.
    after: Option<String>,
    limit: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, Problem> {
    caller.require_admin()?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let users = state
        .store
        .search_users(
            q.search.as_deref().unwrap_or_default(),
            q.after.as_deref(),
            limit,
        )
        .await?;
    let next = (users.len() as i64 == limit)
        .then(|| users.last().map(|u| u.username.clone()))
        .flatten();
    Ok(Json(json!({ "items": users, "next": next })))
}

#[derive(Deserialize)]
pub struct CreateUser {
    username: String,
    email: Option<String>,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    is_admin: bool,
    #[serde(default)]
    email_verified: bool,
    locale: Option<String>,
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<CreateUser>,
) -> Result<impl IntoResponse, Problem> {
    caller.require_admin()?;
    let new = NewUser {
        username: body.username,
        email: body.email,
        email_verified: body.email_verified,
        first_name: body.first_name,
        last_name: body.last_name,
        display_name: body.display_name,
        is_admin: body.is_admin,
        locale: body.locale,
    }
    .validate()?;
    // The email policy applies: an address is required, and verified or sent a link.
    let user = crate::auth::email::create_user(&state.mail, new)
        .await
        .map_err(auth_problem)?;
    audit::record(
        &state.store,
        "user.created",
        &caller.origin,
        Some(&user.id),
        json!({"username": user.username, "is_admin": user.is_admin, "via": "api"}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!(user))))
}

pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    if id != caller.user.id {
        caller.require_admin()?;
    }
    let user = state
        .store
        .user_by_id(&id)
        .await?
        .ok_or_else(Problem::not_found)?;
    Ok(Json(json!(user)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    username: Option<String>,
    email: Option<String>,
    email_verified: Option<bool>,
    first_name: Option<String>,
    last_name: Option<String>,
    display_name: Option<String>,
    is_admin: Option<bool>,
    locale: Option<String>,
    disabled: Option<bool>,
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<PatchUser>,
) -> Result<Json<Value>, Problem> {
    caller.require_admin()?;
    let before = state
        .store
        .user_by_id(&id)
        .await?
        .ok_or_else(Problem::not_found)?;
    // Validate everything before changing anything: nothing is half-saved.
    let change = UserUpdate {
        username: body
            .username
            .as_deref()
            .map(normalize_username)
            .transpose()?,
        email: body
            .email
            .as_deref()
            .map(|e| normalize_email(e).map(Some))
            .transpose()?,
        email_verified: body.email_verified,
        first_name: body.first_name,
        last_name: body.last_name,
        display_name: body.display_name,
        is_admin: body.is_admin,
        locale: body
            .locale
            .as_deref()
            .map(|l| check_locale(l).map(Some))
            .transpose()?,
    };
    if body.disabled == Some(true) && id == caller.user.id {
        return Err(crate::domain::Invalid::new("disabled", "you cannot disable yourself").into());
    }
    let mut user = crate::auth::email::update_user(&state.mail, &before, change)
        .await
        .map_err(auth_problem)?;
    if let Some(disabled) = body.disabled {
        state.store.set_user_disabled(&id, disabled).await?;
        user.disabled = disabled;
    }
    audit::record(
        &state.store,
        "user.updated",
        &caller.origin,
        Some(&id),
        json!({"before": before, "after": user}),
    )
    .await?;
    Ok(Json(json!(user)))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    caller.require_admin()?;
    if id == caller.user.id {
        return Err(crate::domain::Invalid::new("id", "you cannot delete yourself").into());
    }
    let user = state
        .store
        .user_by_id(&id)
        .await?
        .ok_or_else(Problem::not_found)?;
    state.store.delete_user(&id).await?;
    audit::record(
        &state.store,
        "user.deleted",
        &caller.origin,
        Some(&id),
        json!({"username": user.username}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An email-policy refusal as a problem (the store's errors as usual).
fn auth_problem(e: crate::auth::AuthError) -> Problem {
    use crate::auth::AuthError;
    match e {
        AuthError::Invalid(i) => i.into(),
        AuthError::Store(s) => s.into(),
        other => {
            tracing::error!(error = %other, "user change failed in the API");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
                "the change could not be made",
            )
        }
    }
}
