//! `/api/v1/users`: list with prefix search and keyset pagination, create, show,
//! update, delete. Administrators only, except a user reading themself (`/me`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::{ApiQuery, Body, Caller, Problem};
use crate::app::AppState;
use crate::audit;
use crate::domain::user::{
    NewUser, User, check_locale, check_name, normalize_email, normalize_username,
};
use crate::store::UserUpdate;

/// The key's owner.
#[utoipa::path(
    get, path = "/api/v1/me", tag = "me",
    operation_id = "me",
    responses(
        (status = 200, description = "The user the key belongs to", body = User),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn me(caller: Caller) -> Json<User> {
    Json(caller.user)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Start of a username, email, first, last or display name (case-insensitive).
    search: Option<String>,
    /// The `next` value of the previous page.
    after: Option<String>,
    /// At most this many users (1–500, default 50).
    limit: Option<i64>,
}

/// A page of users, by username; `next` is the `after` of the next page.
#[derive(Serialize, ToSchema)]
pub struct UserPage {
    items: Vec<User>,
    next: Option<String>,
}

/// List or search users.
#[utoipa::path(
    get, path = "/api/v1/users", tag = "users",
    operation_id = "list_users",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of users, by username", body = UserPage),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<UserPage>, Problem> {
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
    Ok(Json(UserPage { items: users, next }))
}

/// A new user. Only `username` is required; the display name defaults to the name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "bob", "email": "bob@example.org", "first_name": "Bob"}))]
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
    /// A BCP 47 language tag, e.g. `de-CH`.
    locale: Option<String>,
}

/// Create a user.
#[utoipa::path(
    post, path = "/api/v1/users", tag = "users",
    operation_id = "create_user",
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 400, description = "The body is not JSON of this shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The username or email is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
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
        json!({"username": user.username, "is_admin": user.is_admin, "via": "api", "after": user}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Read a user (any user may read themself).
#[utoipa::path(
    get, path = "/api/v1/users/{id}", tag = "users",
    operation_id = "show_user",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user, and the key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<User>, Problem> {
    if id != caller.user.id {
        caller.require_admin()?;
    }
    let user = state
        .store
        .user_by_id(&id)
        .await?
        .ok_or_else(Problem::not_found)?;
    Ok(Json(user))
}

/// Fields to change; those left out stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"display_name": "Bob B.", "disabled": false}))]
pub struct PatchUser {
    username: Option<String>,
    email: Option<String>,
    email_verified: Option<bool>,
    first_name: Option<String>,
    last_name: Option<String>,
    display_name: Option<String>,
    is_admin: Option<bool>,
    locale: Option<String>,
    /// `true` disables the user and ends all their sessions.
    disabled: Option<bool>,
}

/// Change a user.
#[utoipa::path(
    patch, path = "/api/v1/users/{id}", tag = "users",
    operation_id = "update_user",
    params(("id" = String, Path, description = "The user's id")),
    request_body = PatchUser,
    responses(
        (status = 200, description = "The user as changed", body = User),
        (status = 400, description = "The body is not JSON of this shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The username or email is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; nothing was changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<PatchUser>,
) -> Result<Json<User>, Problem> {
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
        first_name: body
            .first_name
            .as_deref()
            .map(|n| check_name("first_name", n))
            .transpose()?,
        last_name: body
            .last_name
            .as_deref()
            .map(|n| check_name("last_name", n))
            .transpose()?,
        display_name: body
            .display_name
            .as_deref()
            .map(|n| check_name("display_name", n))
            .transpose()?,
        is_admin: body.is_admin,
        locale: body
            .locale
            .as_deref()
            .map(|l| check_locale(l).map(Some))
            .transpose()?,
    };
    if body.is_admin.is_some_and(|a| a != before.is_admin)
        && state.directory.manages_admin_flag(&before).await
    {
        return Err(crate::domain::Invalid::new(
            "is_admin",
            "comes from the directory's admin group (LATCHKEY_DIRECTORY_ADMIN_GROUP); change the membership there",
        )
        .into());
    }
    if body.disabled == Some(true) && id == caller.user.id {
        return Err(crate::domain::Invalid::new("disabled", "you cannot disable yourself").into());
    }
    // As in the console: an administrator who drops their own role may leave none.
    if body.is_admin == Some(false) && id == caller.user.id {
        return Err(crate::domain::Invalid::new(
            "is_admin",
            "you cannot remove your own administrator role; ask another administrator",
        )
        .into());
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
    Ok(Json(user))
}

/// Delete a user, with their sessions, passkeys, keys and tokens.
#[utoipa::path(
    delete, path = "/api/v1/users/{id}", tag = "users",
    operation_id = "delete_user",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The key's owner cannot delete themself", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
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
        json!({"before": user}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An email-policy refusal as a problem (the store's errors as usual).
pub(super) fn auth_problem(e: crate::auth::AuthError) -> Problem {
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
