//! `/admin/groups`: list, create, rename, delete, and members.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{AdminSession, ConfirmPage, CsrfForm, FieldError, Flash, error_for, gone, not_found};
use crate::app::AppState;
use crate::audit;
use crate::domain::group::{Group, check_group_display_name, normalize_group_name};
use crate::http::ClientInfo;
use crate::store::StoreError;
use crate::web::{Chrome, WebError, see_other};

#[derive(Deserialize, Default)]
pub struct GroupForm {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    display_name: String,
}

impl GroupForm {
    /// The machine name and the display name (which defaults to the machine name).
    fn validate(&self) -> Result<(String, String), FieldError> {
        let name = normalize_group_name(&self.name)?;
        let display = check_group_display_name(&self.display_name)?;
        let display = if display.is_empty() {
            name.clone()
        } else {
            display.to_string()
        };
        Ok((name, display))
    }
}

#[derive(Template)]
#[template(path = "admin_groups.html")]
struct GroupsPage<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    notice: Option<&'a str>,
    alert: Option<&'a str>,
    groups: Vec<Group>,
    form: &'a GroupForm,
    error: Option<FieldError>,
}

impl GroupsPage<'_> {
    fn error_for(&self, field: &str) -> Option<&str> {
        error_for(&self.error, field)
    }
}

async fn render_list(
    state: &AppState,
    headers: &HeaderMap,
    admin: &AdminSession,
    flash: &Flash,
    form: &GroupForm,
    error: Option<FieldError>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let groups = state.store.list_groups().await?;
    let page = admin.page(state, headers);
    Ok(page.render(
        status,
        &GroupsPage {
            chrome: &page.chrome,
            section: "groups",
            notice: flash.notice(),
            alert: flash.error(),
            groups,
            form,
            error,
        },
    ))
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Query(flash): Query<Flash>,
) -> Result<Response, WebError> {
    let form = GroupForm::default();
    render_list(
        &state,
        &headers,
        &admin,
        &flash,
        &form,
        None,
        StatusCode::OK,
    )
    .await
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Form(form): Form<GroupForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    let none = Flash::default();
    let (name, display) = match form.validate() {
        Ok(v) => v,
        Err(e) => {
            return render_list(&state, &headers, &admin, &none, &form, Some(e), status).await;
        }
    };
    let group = match state.store.create_group(&name, &display).await {
        Ok(g) => g,
        Err(StoreError::Conflict(message)) => {
            let e = FieldError {
                field: "name",
                message,
            };
            return render_list(&state, &headers, &admin, &none, &form, Some(e), status).await;
        }
        Err(e) => return Err(e.into()),
    };
    audit::record(
        &state.store,
        "admin.group.created",
        &admin.origin(&state, &headers, &info),
        Some(&group.id),
        json!({"name": group.name, "display_name": group.display_name}),
    )
    .await?;
    Ok(see_other(
        &format!("/admin/groups/{}?done=group_created", group.id),
        [],
    ))
}

struct MemberRow {
    id: String,
    username: String,
    display_name: String,
}

#[derive(Template)]
#[template(path = "admin_group.html")]
struct GroupPage<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    notice: Option<&'a str>,
    alert: Option<&'a str>,
    group: &'a Group,
    form: &'a GroupForm,
    member: &'a str,
    members: Vec<MemberRow>,
    /// Clients only this group's members may use (id, name).
    clients: Vec<(String, String)>,
    /// The entry's DN, when the group is synced from the directory.
    directory_dn: Option<String>,
    error: Option<FieldError>,
}

impl GroupPage<'_> {
    fn error_for(&self, field: &str) -> Option<&str> {
        error_for(&self.error, field)
    }
}

/// What a rejected form on the group page puts back on it.
#[derive(Default)]
struct Rejected<'a> {
    form: Option<&'a GroupForm>,
    member: &'a str,
    error: Option<FieldError>,
}

async fn render_detail(
    state: &AppState,
    headers: &HeaderMap,
    admin: &AdminSession,
    group: &Group,
    flash: &Flash,
    rejected: Rejected<'_>,
) -> Result<Response, WebError> {
    let members = state.store.members_of_group(&group.id).await?;
    let clients = state.store.clients_limited_to_group(&group.id).await?;
    let directory_dn = match group.is_synced() {
        true => {
            state
                .store
                .external_dn(crate::store::directory::Synced::Group, &group.id)
                .await?
        }
        false => None,
    };
    let current = GroupForm {
        csrf: None,
        name: group.name.clone(),
        display_name: group.display_name.clone(),
    };
    let status = if rejected.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = admin.page(state, headers);
    Ok(page.render(
        status,
        &GroupPage {
            chrome: &page.chrome,
            section: "groups",
            notice: flash.notice(),
            alert: flash.error(),
            group,
            form: rejected.form.unwrap_or(&current),
            member: rejected.member,
            members: members
                .into_iter()
                .map(|u| MemberRow {
                    id: u.id,
                    username: u.username,
                    display_name: u.display_name,
                })
                .collect(),
            clients,
            directory_dn,
            error: rejected.error,
        },
    ))
}

pub async fn detail(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> Result<Response, WebError> {
    let Some(group) = state.store.group_by_id(&id).await? else {
        return Ok(not_found());
    };
    render_detail(
        &state,
        &headers,
        &admin,
        &group,
        &flash,
        Rejected::default(),
    )
    .await
}

pub async fn rename(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path(id): Path<String>,
    Form(form): Form<GroupForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let Some(before) = state.store.group_by_id(&id).await? else {
        return Ok(not_found());
    };
    if before.is_synced() {
        return Ok(see_other(
            &format!("/admin/groups/{id}?error=group_synced"),
            [],
        ));
    }
    let none = Flash::default();
    let reject = |error: FieldError| Rejected {
        form: Some(&form),
        member: "",
        error: Some(error),
    };
    let (name, display) = match form.validate() {
        Ok(v) => v,
        Err(e) => return render_detail(&state, &headers, &admin, &before, &none, reject(e)).await,
    };
    let after = match state.store.rename_group(&id, &name, &display).await {
        Ok(g) => g,
        Err(StoreError::Conflict(message)) => {
            let e = FieldError {
                field: "name",
                message,
            };
            return render_detail(&state, &headers, &admin, &before, &none, reject(e)).await;
        }
        Err(StoreError::NotFound) => return Ok(not_found()),
        Err(e) => return Err(e.into()),
    };
    if (&before.name, &before.display_name) != (&after.name, &after.display_name) {
        audit::record(
            &state.store,
            "admin.group.updated",
            &admin.origin(&state, &headers, &info),
            Some(&id),
            json!({
                "before": {"name": before.name, "display_name": before.display_name},
                "after": {"name": after.name, "display_name": after.display_name},
            }),
        )
        .await?;
    }
    Ok(see_other(
        &format!("/admin/groups/{id}?done=group_updated"),
        [],
    ))
}

/// Does a client let in only this group's members? Deleting the group would drop the
/// limit and open the client to everyone, so it is refused while that is so.
async fn in_use(state: &AppState, group_id: &str) -> Result<bool, WebError> {
    Ok(!state
        .store
        .clients_limited_to_group(group_id)
        .await?
        .is_empty())
}

pub async fn delete_confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let Some(group) = state.store.group_by_id(&id).await? else {
        return Ok(not_found());
    };
    if in_use(&state, &id).await? {
        return Ok(see_other(
            &format!("/admin/groups/{id}?error=group_in_use"),
            [],
        ));
    }
    let members = state.store.group_member_ids(&id).await?.len();
    let page = admin.page(&state, &headers);
    Ok(page.render(
        StatusCode::OK,
        &ConfirmPage {
            chrome: &page.chrome,
            section: "groups",
            heading: format!("Delete the group {}?", group.name),
            message: format!(
                "Its {members} member(s) keep their accounts but leave the group. \
                 This cannot be undone."
            ),
            action: format!("/admin/groups/{id}/delete"),
            button: "Delete group",
            cancel: format!("/admin/groups/{id}"),
        },
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let Some(group) = state.store.group_by_id(&id).await? else {
        return Ok(gone("/admin/groups"));
    };
    if group.is_synced() {
        return Ok(see_other(
            &format!("/admin/groups/{id}?error=group_synced"),
            [],
        ));
    }
    if in_use(&state, &id).await? {
        return Ok(see_other(
            &format!("/admin/groups/{id}?error=group_in_use"),
            [],
        ));
    }
    match state.store.delete_group(&id).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Ok(gone("/admin/groups")),
        Err(e) => return Err(e.into()),
    }
    audit::record(
        &state.store,
        "admin.group.deleted",
        &admin.origin(&state, &headers, &info),
        Some(&id),
        json!({"name": group.name}),
    )
    .await?;
    Ok(see_other("/admin/groups?done=group_deleted", []))
}

#[derive(Deserialize)]
pub struct MemberForm {
    csrf: Option<String>,
    #[serde(default)]
    username: String,
}

pub async fn add_member(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path(id): Path<String>,
    Form(form): Form<MemberForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let Some(group) = state.store.group_by_id(&id).await? else {
        return Ok(not_found());
    };
    if group.is_synced() {
        return Ok(see_other(
            &format!("/admin/groups/{id}?error=group_synced"),
            [],
        ));
    }
    let login = form.username.trim();
    let user = if login.is_empty() {
        None
    } else {
        state.store.user_by_login(login).await?
    };
    let Some(user) = user else {
        let message = if login.is_empty() {
            "is required".to_string()
        } else {
            format!("there is no user `{login}`")
        };
        let rejected = Rejected {
            form: None,
            member: login,
            error: Some(FieldError {
                field: "username",
                message,
            }),
        };
        let none = Flash::default();
        return render_detail(&state, &headers, &admin, &group, &none, rejected).await;
    };
    match state.store.add_group_member(&id, &user.id).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Ok(gone(&format!("/admin/groups/{id}"))),
        Err(e) => return Err(e.into()),
    }
    audit::record(
        &state.store,
        "admin.group.member_added",
        &admin.origin(&state, &headers, &info),
        Some(&id),
        json!({"group": group.name, "user_id": user.id, "username": user.username}),
    )
    .await?;
    Ok(see_other(
        &format!("/admin/groups/{id}?done=member_added"),
        [],
    ))
}

pub async fn remove_member(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path((id, user_id)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let here = format!("/admin/groups/{id}");
    let Some(group) = state.store.group_by_id(&id).await? else {
        return Ok(gone("/admin/groups"));
    };
    if group.is_synced() {
        return Ok(see_other(
            &format!("/admin/groups/{id}?error=group_synced"),
            [],
        ));
    }
    if !state.store.group_member_ids(&id).await?.contains(&user_id) {
        return Ok(gone(&here));
    }
    state.store.remove_group_member(&id, &user_id).await?;
    let username = state.store.user_by_id(&user_id).await?.map(|u| u.username);
    audit::record(
        &state.store,
        "admin.group.member_removed",
        &admin.origin(&state, &headers, &info),
        Some(&id),
        json!({"group": group.name, "user_id": user_id, "username": username}),
    )
    .await?;
    Ok(see_other(&format!("{here}?done=member_removed"), []))
}
