//! `/admin/users`: search and page through users, create, edit, disable or enable,
//! delete. Sign-in methods and sessions of a user are in `user_access.rs`.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    AdminSession, ConfirmPage, CsrfForm, FieldError, Flash, error_for, gone, not_found, ticked,
};
use crate::app::AppState;
use crate::audit;
use crate::auth::{AuthError, device};
use crate::domain::user::{NewUser, User};
use crate::http::ClientInfo;
use crate::store::{StoreError, UserUpdate};
use crate::web::security::when;
use crate::web::{Chrome, WebError, see_other};

const PAGE_SIZE: usize = 50;

fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

struct UserRow {
    id: String,
    username: String,
    display_name: String,
    email: String,
    is_admin: bool,
    disabled: bool,
    synced: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    notice: Option<&'a str>,
    search: &'a str,
    users: Vec<UserRow>,
    next: Option<String>,
    /// The link back to the first page, when this is a later one.
    first_page: Option<String>,
}

#[derive(Deserialize)]
pub struct ListQuery {
    search: Option<String>,
    after: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Query(q): Query<ListQuery>,
    Query(flash): Query<Flash>,
) -> Result<Response, WebError> {
    let search = q.search.as_deref().unwrap_or_default().trim();
    let after = q.after.as_deref().filter(|a| !a.is_empty());
    // One more than a page tells whether there is a next page.
    let mut found = state
        .store
        .search_users(search, after, PAGE_SIZE as i64 + 1)
        .await?;
    let more = found.len() > PAGE_SIZE;
    found.truncate(PAGE_SIZE);
    let next = more.then(|| found.last()).flatten().map(|u| {
        format!(
            "/admin/users?search={}&after={}",
            enc(search),
            enc(&u.username)
        )
    });
    let page = admin.page(&state, &headers);
    let view = UsersPage {
        chrome: &page.chrome,
        section: "users",
        notice: flash.notice(),
        search,
        users: found
            .into_iter()
            .map(|u| UserRow {
                synced: u.is_synced(),
                email: u.email.unwrap_or_default(),
                id: u.id,
                username: u.username,
                display_name: u.display_name,
                is_admin: u.is_admin,
                disabled: u.disabled,
            })
            .collect(),
        next,
        first_page: after.map(|_| format!("/admin/users?search={}", enc(search))),
    };
    Ok(page.render(StatusCode::OK, &view))
}

/// What the profile form holds, as typed (re-shown when it does not validate).
#[derive(Deserialize, Default)]
pub struct UserForm {
    csrf: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    display_name: String,
    is_admin: Option<String>,
}

impl UserForm {
    fn of(user: &User) -> UserForm {
        UserForm {
            csrf: None,
            username: user.username.clone(),
            email: user.email.clone().unwrap_or_default(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            display_name: user.display_name.clone(),
            is_admin: user.is_admin.then(|| "on".to_string()),
        }
    }

    fn admin(&self) -> bool {
        ticked(&self.is_admin)
    }

    /// Normalise and check every field (the display name defaults to the name).
    fn validate(&self) -> Result<NewUser, FieldError> {
        NewUser {
            username: self.username.clone(),
            email: Some(self.email.clone()),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            display_name: self.display_name.clone(),
            is_admin: self.admin(),
            ..NewUser::default()
        }
        .validate()
        .map_err(FieldError::from)
    }
}

/// A taken username or email, shown next to the field it is about.
fn conflict_field(message: String) -> FieldError {
    let field = if message.contains("email") {
        "email"
    } else {
        "username"
    };
    FieldError { field, message }
}

#[derive(Template)]
#[template(path = "admin_user_new.html")]
struct NewUserPage<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    form: &'a UserForm,
    error: Option<FieldError>,
}

impl NewUserPage<'_> {
    fn synced(&self) -> bool {
        false
    }
    fn admin_from_directory(&self) -> bool {
        false
    }
    fn error_for(&self, field: &str) -> Option<&str> {
        error_for(&self.error, field)
    }
}

pub async fn new_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
) -> Response {
    let page = admin.page(&state, &headers);
    page.render(
        StatusCode::OK,
        &NewUserPage {
            chrome: &page.chrome,
            section: "users",
            form: &UserForm::default(),
            error: None,
        },
    )
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Form(form): Form<UserForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let invalid = |error: FieldError| {
        let page = admin.page(&state, &headers);
        page.render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &NewUserPage {
                chrome: &page.chrome,
                section: "users",
                form: &form,
                error: Some(error),
            },
        )
    };
    let new = match form.validate() {
        Ok(n) => n,
        Err(e) => return Ok(invalid(e)),
    };
    let user = match crate::auth::email::create_user(&state.mail, new).await {
        Ok(u) => u,
        Err(AuthError::Invalid(e)) => return Ok(invalid(e.into())),
        Err(AuthError::Store(StoreError::Conflict(m))) => return Ok(invalid(conflict_field(m))),
        Err(e) => return Err(e.into()),
    };
    audit::record(
        &state.store,
        "admin.user.created",
        &admin.origin(&state, &headers, &info),
        Some(&user.id),
        json!({"username": user.username, "email": user.email, "is_admin": user.is_admin}),
    )
    .await?;
    Ok(see_other(
        &format!("/admin/users/{}?done=user_created", user.id),
        [],
    ))
}

struct SessionRow {
    id: String,
    device: String,
    ip: String,
    last_seen: String,
    method: &'static str,
}

struct PasskeyRow {
    id: String,
    name: String,
    created: String,
    last_used: String,
}

struct GroupLink {
    id: String,
    name: String,
}

#[derive(Template)]
#[template(path = "admin_user.html")]
struct UserPage<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    notice: Option<&'a str>,
    alert: Option<&'a str>,
    user: &'a User,
    is_self: bool,
    form: &'a UserForm,
    error: Option<FieldError>,
    created: String,
    groups: Vec<GroupLink>,
    sessions: Vec<SessionRow>,
    passkeys: Vec<PasskeyRow>,
    has_password: bool,
    totp_enabled: bool,
    app_passwords: Vec<crate::web::app_passwords::AppPasswordView>,
    app_password_base: String,
    expiry_choices: &'static [(&'static str, &'static str)],
    ldap_on: bool,
    /// The entry's DN, when the user is synced from the directory.
    directory_dn: Option<String>,
    admin_locked: bool,
}

impl UserPage<'_> {
    fn error_for(&self, field: &str) -> Option<&str> {
        error_for(&self.error, field)
    }
    fn synced(&self) -> bool {
        self.user.is_synced()
    }
    fn admin_from_directory(&self) -> bool {
        self.admin_locked
    }
}

/// Everything the user page shows; `form` and `error` after a rejected edit.
struct DetailState<'a> {
    notice: Option<&'a str>,
    alert: Option<&'a str>,
    form: Option<&'a UserForm>,
    error: Option<FieldError>,
    status: StatusCode,
}

async fn render_detail(
    state: &AppState,
    headers: &HeaderMap,
    admin: &AdminSession,
    user: &User,
    shown: DetailState<'_>,
) -> Result<Response, WebError> {
    let creds = state.store.user_credentials(&user.id).await?;
    let groups = state.store.groups_of_user(&user.id).await?;
    let sessions = state.store.sessions_of_user(&user.id).await?;
    let passkeys = state.store.passkeys_of_user(&user.id).await?;
    let current = UserForm::of(user);
    let page = admin.page(state, headers);
    let view = UserPage {
        chrome: &page.chrome,
        section: "users",
        notice: shown.notice,
        alert: shown.alert,
        user,
        is_self: user.id == admin.user().id,
        form: shown.form.unwrap_or(&current),
        error: shown.error,
        created: when(user.created_at),
        groups: groups
            .into_iter()
            .map(|g| GroupLink {
                id: g.id,
                name: g.name,
            })
            .collect(),
        sessions: sessions
            .into_iter()
            .map(|s| SessionRow {
                device: device::describe(s.user_agent.as_deref()),
                ip: s.ip.unwrap_or_default(),
                last_seen: when(s.last_seen_at),
                method: s.auth_method.label(),
                id: s.id_hash,
            })
            .collect(),
        passkeys: passkeys
            .into_iter()
            .map(|p| PasskeyRow {
                created: when(p.created_at),
                last_used: p.last_used_at.map(when).unwrap_or_else(|| "never".into()),
                id: p.id,
                name: p.name,
            })
            .collect(),
        has_password: creds.password_hash.is_some(),
        totp_enabled: creds.totp_secret_sealed.is_some(),
        app_passwords: crate::web::app_passwords::views(state, &user.id).await?,
        app_password_base: format!("/admin/users/{}/app-passwords", user.id),
        expiry_choices: crate::web::app_passwords::EXPIRY_CHOICES,
        ldap_on: crate::ldap::recipes::Connect::new(&state.config, state.ldap_addrs).is_some(),
        directory_dn: match user.is_synced() {
            true => state
                .store
                .external_dn(crate::store::directory::Synced::User, &user.id)
                .await?
                .or_else(|| user.external_id.clone()),
            false => None,
        },
        admin_locked: state.directory.manages_admin_flag(user).await,
    };
    Ok(page.render(shown.status, &view))
}

pub async fn detail(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> Result<Response, WebError> {
    let Some(user) = state.store.user_by_id(&id).await? else {
        return Ok(not_found());
    };
    let shown = DetailState {
        notice: flash.notice(),
        alert: flash.error(),
        form: None,
        error: None,
        status: StatusCode::OK,
    };
    render_detail(&state, &headers, &admin, &user, shown).await
}

/// The fields that differ, as `{"before": {…}, "after": {…}}` for the audit log.
fn changes(before: &User, after: &User) -> Value {
    let (mut old, mut new) = (Map::new(), Map::new());
    let mut diff = |field: &str, a: Value, b: Value| {
        if a != b {
            old.insert(field.into(), a);
            new.insert(field.into(), b);
        }
    };
    diff("username", json!(before.username), json!(after.username));
    diff("email", json!(before.email), json!(after.email));
    diff(
        "first_name",
        json!(before.first_name),
        json!(after.first_name),
    );
    diff("last_name", json!(before.last_name), json!(after.last_name));
    diff(
        "display_name",
        json!(before.display_name),
        json!(after.display_name),
    );
    diff("is_admin", json!(before.is_admin), json!(after.is_admin));
    json!({"before": old, "after": new})
}

pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path(id): Path<String>,
    Form(form): Form<UserForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let Some(before) = state.store.user_by_id(&id).await? else {
        return Ok(not_found());
    };
    let rejected = |error: FieldError| DetailState {
        notice: None,
        alert: None,
        form: Some(&form),
        error: Some(error),
        status: StatusCode::UNPROCESSABLE_ENTITY,
    };
    let valid = match form.validate() {
        Ok(v) => v,
        Err(e) => return render_detail(&state, &headers, &admin, &before, rejected(e)).await,
    };
    let mut valid = valid;
    if state.directory.manages_admin_flag(&before).await {
        // The checkbox is disabled (not sent): the directory's admin group decides.
        valid.is_admin = before.is_admin;
    }
    if before.id == admin.user().id && !valid.is_admin {
        let e = FieldError {
            field: "is_admin",
            message: "You cannot remove your own administrator role. Ask another administrator."
                .into(),
        };
        return render_detail(&state, &headers, &admin, &before, rejected(e)).await;
    }
    // A changed address is verified again (or not) as the email policy says.
    let change = UserUpdate {
        email_verified: None,
        username: Some(valid.username),
        email: Some(valid.email),
        first_name: Some(valid.first_name),
        last_name: Some(valid.last_name),
        display_name: Some(valid.display_name),
        is_admin: Some(valid.is_admin),
        locale: None,
    };
    let after = match crate::auth::email::update_user(&state.mail, &before, change).await {
        Ok(u) => u,
        Err(AuthError::Invalid(e)) => {
            return render_detail(&state, &headers, &admin, &before, rejected(e.into())).await;
        }
        Err(AuthError::Store(StoreError::Conflict(m))) => {
            let e = conflict_field(m);
            return render_detail(&state, &headers, &admin, &before, rejected(e)).await;
        }
        Err(AuthError::Store(StoreError::NotFound)) => return Ok(not_found()),
        Err(e) => return Err(e.into()),
    };
    let summary = changes(&before, &after);
    if summary["after"].as_object().is_some_and(|m| !m.is_empty()) {
        audit::record(
            &state.store,
            "admin.user.updated",
            &admin.origin(&state, &headers, &info),
            Some(&id),
            summary,
        )
        .await?;
    }
    Ok(see_other(
        &format!("/admin/users/{id}?done=user_updated"),
        [],
    ))
}

async fn set_disabled(
    state: AppState,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    id: String,
    form: CsrfForm,
    disabled: bool,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let here = format!("/admin/users/{id}");
    if id == admin.user().id {
        return Ok(see_other(&format!("{here}?error=not_yourself"), []));
    }
    let Some(user) = state.store.user_by_id(&id).await? else {
        return Ok(gone("/admin/users"));
    };
    match state.store.set_user_disabled(&id, disabled).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Ok(gone("/admin/users")),
        Err(e) => return Err(e.into()),
    }
    let (event, done) = if disabled {
        ("admin.user.disabled", "user_disabled")
    } else {
        ("admin.user.enabled", "user_enabled")
    };
    audit::record(
        &state.store,
        event,
        &admin.origin(&state, &headers, &info),
        Some(&id),
        json!({"username": user.username, "before": {"disabled": user.disabled}, "after": {"disabled": disabled}}),
    )
    .await?;
    Ok(see_other(&format!("{here}?done={done}"), []))
}

pub async fn disable(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    set_disabled(state, headers, info, admin, id, form, true).await
}

pub async fn enable(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    set_disabled(state, headers, info, admin, id, form, false).await
}

pub async fn delete_confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let Some(user) = state.store.user_by_id(&id).await? else {
        return Ok(not_found());
    };
    if user.id == admin.user().id {
        return Ok(see_other(
            &format!("/admin/users/{id}?error=not_yourself"),
            [],
        ));
    }
    let page = admin.page(&state, &headers);
    Ok(page.render(
        StatusCode::OK,
        &ConfirmPage {
            chrome: &page.chrome,
            section: "users",
            heading: format!("Delete {}?", user.username),
            message: format!(
                "{} ({}) loses their account, passkeys, sessions and group memberships. \
                 This cannot be undone. To keep the account but stop its use, disable it instead.",
                user.display_name, user.username
            ),
            action: format!("/admin/users/{id}/delete"),
            button: "Delete user",
            cancel: format!("/admin/users/{id}"),
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
    if id == admin.user().id {
        return Ok(see_other(
            &format!("/admin/users/{id}?error=not_yourself"),
            [],
        ));
    }
    let Some(user) = state.store.user_by_id(&id).await? else {
        return Ok(gone("/admin/users"));
    };
    match state.store.delete_user(&id).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Ok(gone("/admin/users")),
        Err(e) => return Err(e.into()),
    }
    audit::record(
        &state.store,
        "admin.user.deleted",
        &admin.origin(&state, &headers, &info),
        Some(&id),
        json!({"username": user.username, "email": user.email}),
    )
    .await?;
    Ok(see_other("/admin/users?done=user_deleted", []))
}
