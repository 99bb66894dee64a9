//! `/api/v1/ldap/accounts` (service accounts that read the LDAP directory,
//! administrators only) and `/api/v1/users/{id}/app-passwords` (what a user binds to
//! LDAP with: their own, or anyone's for an administrator). The rules are those of
//! the CLI and the console (`auth::ldap`); secrets are returned once, on creation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::users::auth_problem;
use super::{Body, Caller, Problem};
use crate::app::AppState;
use crate::auth::ldap as rules;
use crate::domain::Invalid;
use crate::domain::user::User;
use crate::ldap::entry::Tree;
use crate::store::{AppPassword, LdapAccount};

/// The longest lifetime an app password may be given (ten years); without one it
/// lives until revoked.
const APP_PASSWORD_MAX_LIFETIME: i64 = 10 * 365 * 86_400;

/// A service account and the DN it binds as.
#[derive(Serialize, ToSchema)]
pub struct ServiceAccount {
    #[serde(flatten)]
    account: LdapAccount,
    /// `cn=<name>,ou=services,<base>`: the bind DN.
    dn: String,
}

impl ServiceAccount {
    fn new(state: &AppState, account: LdapAccount) -> ServiceAccount {
        let dn = Tree::new(state.config.ldap_base(), String::new()).service_dn(&account.name);
        ServiceAccount { account, dn }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ServiceAccountList {
    items: Vec<ServiceAccount>,
}

/// A service account just made, with its secret: shown only in this answer.
#[derive(Serialize, ToSchema)]
pub struct NewServiceAccount {
    #[serde(flatten)]
    account: ServiceAccount,
    /// The bind password. Latchkey keeps only a hash of it.
    password: String,
}

/// Service accounts, by name.
#[utoipa::path(
    get, path = "/api/v1/ldap/accounts", tag = "ldap",
    operation_id = "list_ldap_accounts",
    responses(
        (status = 200, description = "Every service account (never its secret)", body = ServiceAccountList),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list_accounts(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ServiceAccountList>, Problem> {
    caller.require_admin()?;
    let items = state
        .store
        .list_ldap_accounts()
        .await?
        .into_iter()
        .map(|a| ServiceAccount::new(&state, a))
        .collect();
    Ok(Json(ServiceAccountList { items }))
}

/// A new service account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "jellyfin", "groups": ["staff"]}))]
pub struct CreateServiceAccount {
    /// Its name: `cn=<name>,ou=services,<base>`.
    name: String,
    /// Limit it to the members of these groups (by name); empty or left out: it reads
    /// every user and group.
    #[serde(default)]
    groups: Vec<String>,
}

/// Create a service account; the answer carries its password, once.
#[utoipa::path(
    post, path = "/api/v1/ldap/accounts", tag = "ldap",
    operation_id = "create_ldap_account",
    request_body = CreateServiceAccount,
    responses(
        (status = 201, description = "Created; `password` is shown only in this answer", body = NewServiceAccount),
        (status = 400, description = "The body is not JSON of this shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A service account has this name", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The name is invalid or a group does not exist", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn create_account(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<CreateServiceAccount>,
) -> Result<impl IntoResponse, Problem> {
    caller.require_admin()?;
    if body.groups.len() > 100 {
        return Err(Invalid::new("groups", "name at most 100 groups").into());
    }
    let (account, password) =
        rules::create_ldap_account(&state.store, &body.name, &body.groups, &caller.origin)
            .await
            .map_err(auth_problem)?;
    let account = ServiceAccount::new(&state, account);
    Ok((
        StatusCode::CREATED,
        Json(NewServiceAccount { account, password }),
    ))
}

/// What to change on a service account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"disabled": true}))]
pub struct PatchServiceAccount {
    /// `true`: its binds fail from now on; `false`: they work again.
    disabled: Option<bool>,
}

/// Disable or enable a service account.
#[utoipa::path(
    patch, path = "/api/v1/ldap/accounts/{name}", tag = "ldap",
    operation_id = "update_ldap_account",
    params(("name" = String, Path, description = "The service account's name (case-insensitive)")),
    request_body = PatchServiceAccount,
    responses(
        (status = 200, description = "The service account as it is now", body = ServiceAccount),
        (status = 400, description = "The body is not JSON of this shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such service account", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn update_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Body(body): Body<PatchServiceAccount>,
) -> Result<Json<ServiceAccount>, Problem> {
    caller.require_admin()?;
    let (account, _) = state
        .store
        .ldap_account(&name)
        .await?
        .ok_or_else(Problem::not_found)?;
    if let Some(disabled) = body.disabled.filter(|d| *d != account.disabled) {
        rules::set_ldap_account_disabled(&state.store, &account.name, disabled, &caller.origin)
            .await
            .map_err(auth_problem)?;
    }
    let (account, _) = state
        .store
        .ldap_account(&name)
        .await?
        .ok_or_else(Problem::not_found)?;
    Ok(Json(ServiceAccount::new(&state, account)))
}

/// Delete a service account: its binds fail from now on.
#[utoipa::path(
    delete, path = "/api/v1/ldap/accounts/{name}", tag = "ldap",
    operation_id = "delete_ldap_account",
    params(("name" = String, Path, description = "The service account's name (case-insensitive)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such service account", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn delete_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    caller.require_admin()?;
    rules::delete_ldap_account(&state.store, &name, &caller.origin)
        .await
        .map_err(auth_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct AppPasswordList {
    items: Vec<AppPassword>,
}

/// An app password just made, with its secret: shown only in this answer.
#[derive(Serialize, ToSchema)]
pub struct NewAppPassword {
    #[serde(flatten)]
    app_password: AppPassword,
    /// Six groups of five letters, e.g. `bcdfg-hjkmn-…`; case, spaces and dashes do
    /// not matter when typed. Latchkey keeps only a hash of it.
    password: String,
}

/// The user `id` names, when the caller may manage their app passwords.
async fn owner(state: &AppState, caller: &Caller, id: &str) -> Result<User, Problem> {
    if id != caller.user.id {
        caller.require_admin()?;
    }
    state
        .store
        .user_by_id(id)
        .await?
        .ok_or_else(Problem::not_found)
}

/// A user's app passwords, newest first, with their last use; revoked ones too.
#[utoipa::path(
    get, path = "/api/v1/users/{id}/app-passwords", tag = "ldap",
    operation_id = "list_app_passwords",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user's app passwords (never the password)", body = AppPasswordList),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user, and the key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list_app_passwords(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AppPasswordList>, Problem> {
    let user = owner(&state, &caller, &id).await?;
    Ok(Json(AppPasswordList {
        items: state.store.list_app_passwords(&user.id).await?,
    }))
}

/// A new app password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Jellyfin", "expires_in": 7_776_000}))]
pub struct CreateAppPassword {
    /// Where it is used (1–64 characters).
    name: String,
    /// Lifetime in seconds (a minute to ten years); left out: until revoked.
    expires_in: Option<i64>,
}

/// Make an app password for a user; the answer carries it, once.
#[utoipa::path(
    post, path = "/api/v1/users/{id}/app-passwords", tag = "ldap",
    operation_id = "create_app_password",
    params(("id" = String, Path, description = "The user's id")),
    request_body = CreateAppPassword,
    responses(
        (status = 201, description = "Created; `password` is shown only in this answer", body = NewAppPassword),
        (status = 400, description = "The body is not JSON of this shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user, and the key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn create_app_password(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<CreateAppPassword>,
) -> Result<impl IntoResponse, Problem> {
    let user = owner(&state, &caller, &id).await?;
    let lifetime = match body.expires_in {
        None => None,
        Some(secs) if (60..=APP_PASSWORD_MAX_LIFETIME).contains(&secs) => Some(secs),
        Some(_) => {
            return Err(
                Invalid::new("expires_in", "must be between a minute and ten years").into(),
            );
        }
    };
    let (app_password, password) =
        rules::create_app_password(&state.store, &user, &body.name, lifetime, &caller.origin)
            .await
            .map_err(auth_problem)?;
    Ok((
        StatusCode::CREATED,
        Json(NewAppPassword {
            app_password,
            password,
        }),
    ))
}

/// Revoke one of a user's app passwords: binds with it fail from now on.
#[utoipa::path(
    delete, path = "/api/v1/users/{id}/app-passwords/{app_password_id}", tag = "ldap",
    operation_id = "revoke_app_password",
    params(
        ("id" = String, Path, description = "The user's id"),
        ("app_password_id" = String, Path, description = "The app password's id (not the password)"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user, and the key's owner is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or no such live app password of theirs", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn revoke_app_password(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, app_password_id)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    let user = owner(&state, &caller, &id).await?;
    rules::revoke_app_password(&state.store, &user, &app_password_id, &caller.origin)
        .await
        .map_err(auth_problem)?;
    Ok(StatusCode::NO_CONTENT)
}
