//! `/admin/ldap`: the LDAP server face at a glance (listeners, base DN, the bind
//! rules in force), copyable configurations for the common clients, and the service
//! accounts: made here (password shown once), disabled, enabled, deleted.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::{AdminSession, ConfirmPage, CsrfForm, FieldError, Flash, error_for, gone, not_found};
use crate::app::AppState;
use crate::auth::AuthError;
use crate::auth::ldap as rules;
use crate::config::LdapPasswordBind;
use crate::ldap::entry::Tree;
use crate::ldap::recipes::{Connect, Recipe, recipes};
use crate::store::{LdapAccount, StoreError};
use crate::web::security::{last_use, when};
use crate::web::{Chrome, WebError, see_other};

const HERE: &str = "/admin/ldap";

struct AccountRow {
    name: String,
    dn: String,
    groups: String,
    created: String,
    last_used: String,
    disabled: bool,
}

/// What the page says about the server face.
struct Status {
    ldap: Option<String>,
    ldaps: Option<String>,
    base: String,
    people: String,
    groups: String,
    services: String,
    insecure_bind: bool,
    any_password: bool,
    size_limit: usize,
    connect: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct AccountForm {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    /// Group names, separated by commas or spaces.
    #[serde(default)]
    groups: String,
}

#[derive(Template)]
#[template(path = "admin_ldap.html")]
struct LdapPage<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    notice: Option<&'a str>,
    alert: Option<&'a str>,
    status: Status,
    recipes: Vec<Recipe>,
    accounts: Vec<AccountRow>,
    form: &'a AccountForm,
    error: Option<FieldError>,
}

impl LdapPage<'_> {
    fn error_for(&self, field: &str) -> Option<&str> {
        error_for(&self.error, field)
    }
}

fn tree(state: &AppState) -> Tree {
    Tree::new(state.config.ldap_base(), String::new())
}

fn status(state: &AppState) -> Status {
    let config = &state.config;
    let tree = tree(state);
    Status {
        ldap: state.ldap_addrs.0.map(|a| a.to_string()),
        ldaps: state.ldap_addrs.1.map(|a| a.to_string()),
        base: tree.base.to_string(),
        people: tree.people.to_string(),
        groups: tree.groups.to_string(),
        services: tree.services.to_string(),
        insecure_bind: config.ldap_allow_insecure_bind,
        any_password: config.ldap_password_bind == LdapPasswordBind::AnyPassword,
        size_limit: config.ldap_size_limit.0,
        connect: Connect::new(config, state.ldap_addrs).map(|c| c.url()),
    }
}

fn row(tree: &Tree, a: LdapAccount) -> AccountRow {
    AccountRow {
        dn: tree.service_dn(&a.name),
        groups: if a.groups.is_empty() {
            "everyone".into()
        } else {
            a.groups.join(", ")
        },
        created: when(a.created_at),
        last_used: last_use(a.last_used_at, a.last_used_ip),
        disabled: a.disabled,
        name: a.name,
    }
}

async fn render(
    state: &AppState,
    headers: &HeaderMap,
    admin: &AdminSession,
    flash: &Flash,
    form: &AccountForm,
    error: Option<FieldError>,
    status_code: StatusCode,
) -> Result<Response, WebError> {
    let tree = tree(state);
    let accounts = state
        .store
        .list_ldap_accounts()
        .await?
        .into_iter()
        .map(|a| row(&tree, a))
        .collect();
    let page = admin.page(state, headers);
    Ok(page.render(
        status_code,
        &LdapPage {
            chrome: &page.chrome,
            section: "ldap",
            notice: flash.notice(),
            alert: flash.error(),
            status: status(state),
            recipes: Connect::new(&state.config, state.ldap_addrs)
                .map(|c| recipes(&c))
                .unwrap_or_default(),
            accounts,
            form,
            error,
        },
    ))
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Query(flash): Query<Flash>,
) -> Result<Response, WebError> {
    let form = AccountForm::default();
    render(
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

#[derive(Template)]
#[template(path = "admin_ldap_account_created.html")]
struct CreatedPage<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    name: &'a str,
    dn: String,
    groups: String,
    secret: &'a str,
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: crate::http::ClientInfo,
    admin: AdminSession,
    Form(form): Form<AccountForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let groups: Vec<String> = form
        .groups
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect();
    let origin = admin.origin(&state, &headers, &info);
    let refused = |field: &'static str, message: String| Some(FieldError { field, message });
    let error = match rules::create_ldap_account(&state.store, &form.name, &groups, &origin).await {
        Ok((account, secret)) => {
            let tree = tree(&state);
            let shown = row(&tree, account);
            let page = admin.page(&state, &headers);
            return Ok(page.render(
                StatusCode::OK,
                &CreatedPage {
                    chrome: &page.chrome,
                    section: "ldap",
                    name: &shown.name,
                    dn: shown.dn.clone(),
                    groups: shown.groups.clone(),
                    secret: &secret,
                },
            ));
        }
        Err(AuthError::Invalid(e)) if e.field == "groups" => refused("groups", e.message),
        Err(AuthError::Invalid(e)) => refused("name", format!("The name {}.", e.message)),
        Err(AuthError::Store(StoreError::Conflict(_))) => refused(
            "name",
            "A service account has this name already.".to_string(),
        ),
        Err(e) => return Err(e.into()),
    };
    let flash = Flash::default();
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    render(&state, &headers, &admin, &flash, &form, error, status).await
}

async fn set_disabled(
    state: &AppState,
    headers: &HeaderMap,
    info: &crate::http::ClientInfo,
    admin: &AdminSession,
    name: &str,
    form: &CsrfForm,
    disabled: bool,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(state, headers, form.csrf.as_deref())?;
    let origin = admin.origin(state, headers, info);
    match rules::set_ldap_account_disabled(&state.store, name, disabled, &origin).await {
        Ok(()) => {}
        Err(AuthError::Store(StoreError::NotFound)) => return Ok(gone(HERE)),
        Err(e) => return Err(e.into()),
    }
    let done = if disabled {
        "ldap_account_disabled"
    } else {
        "ldap_account_enabled"
    };
    Ok(see_other(&format!("{HERE}?done={done}#accounts"), []))
}

pub async fn disable(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: crate::http::ClientInfo,
    admin: AdminSession,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    set_disabled(&state, &headers, &info, &admin, &name, &form, true).await
}

pub async fn enable(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: crate::http::ClientInfo,
    admin: AdminSession,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    set_disabled(&state, &headers, &info, &admin, &name, &form, false).await
}

pub async fn delete_confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Path(name): Path<String>,
) -> Result<Response, WebError> {
    let Some((account, _)) = state.store.ldap_account(&name).await? else {
        return Ok(not_found());
    };
    let page = admin.page(&state, &headers);
    Ok(page.render(
        StatusCode::OK,
        &ConfirmPage {
            chrome: &page.chrome,
            section: "ldap",
            heading: format!("Delete the service account {}?", account.name),
            message: format!(
                "Services that bind as {} are refused from now on. This cannot be undone; \
                 disable it instead to keep the name.",
                tree(&state).service_dn(&account.name)
            ),
            action: format!("{HERE}/accounts/{}/delete", account.name),
            button: "Delete service account",
            cancel: HERE.into(),
        },
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: crate::http::ClientInfo,
    admin: AdminSession,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let origin = admin.origin(&state, &headers, &info);
    match rules::delete_ldap_account(&state.store, &name, &origin).await {
        Ok(()) => Ok(see_other(&format!("{HERE}?done=ldap_account_deleted"), [])),
        Err(AuthError::Store(StoreError::NotFound)) => Ok(gone(HERE)),
        Err(e) => Err(e.into()),
    }
}
