//! `/admin/proxy-apps`: applications behind a reverse proxy (forward-auth). The
//! list, one form for new and existing applications, delete. The rules and their
//! checks are `proxy::apps`, shared with the API and the CLI.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{AdminSession, ConfirmPage, CsrfForm, FieldError, Flash, error_for, gone, not_found};
use crate::app::AppState;
use crate::domain::access::{Access, Strength};
use crate::domain::proxy_app::{AppSpec, PathRule, ProxyApp, RemoteHeader};
use crate::http::ClientInfo;
use crate::proxy::apps::{self, AppError};
use crate::web::{Chrome, WebError, see_other};

const BACK: &str = "/admin/proxy-apps";

/// An application as the list shows it.
struct Row {
    id: String,
    name: String,
    hosts: String,
    who: String,
    strength: &'static str,
}

fn who(access: &Access) -> String {
    if access.groups.is_empty() {
        "everyone".into()
    } else {
        access.groups.join(", ")
    }
}

#[derive(Template)]
#[template(path = "admin_proxy_apps.html")]
struct ListPage<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    notice: Option<&'a str>,
    alert: Option<&'a str>,
    apps: Vec<Row>,
    check_url: String,
    cookie_domain: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Query(flash): Query<Flash>,
) -> Result<Response, WebError> {
    let apps = state
        .store
        .proxy_apps()
        .await?
        .into_iter()
        .map(|a| Row {
            who: who(&a.access),
            strength: a.access.require.describe(),
            hosts: a.hosts.join(", "),
            id: a.id,
            name: a.name,
        })
        .collect();
    let page = admin.page(&state, &headers);
    Ok(page.render(
        StatusCode::OK,
        &ListPage {
            chrome: &page.chrome,
            section: "proxy-apps",
            notice: flash.notice(),
            alert: flash.error(),
            apps,
            check_url: state.config.app_url.join("/api/authz/forward-auth"),
            cookie_domain: state
                .config
                .proxy_cookie_domain
                .as_ref()
                .map(|d| d.0.clone()),
        },
    ))
}

/// The form as typed. Path rules are one per line: `PREFIX [any|two-factor|passkey]
/// [GROUP,GROUP…]`.
#[derive(Default)]
struct AppForm {
    csrf: Option<String>,
    name: String,
    hosts: String,
    groups: Vec<String>,
    require: String,
    max_age_hours: String,
    paths: String,
    public_paths: String,
    allow_basic: bool,
    headers: Vec<String>,
    launch_url: String,
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

impl AppForm {
    fn from_pairs(pairs: Vec<(String, String)>) -> AppForm {
        let mut form = AppForm::default();
        for (key, value) in pairs {
            match key.as_str() {
                "csrf" => form.csrf = Some(value),
                "name" => form.name = value,
                "hosts" => form.hosts = value,
                "group" => form.groups.push(value),
                "require" => form.require = value,
                "max_age_hours" => form.max_age_hours = value,
                "paths" => form.paths = value,
                "public_paths" => form.public_paths = value,
                "allow_basic" => form.allow_basic = !value.is_empty(),
                "header" => form.headers.push(value),
                "launch_url" => form.launch_url = value,
                _ => {}
            }
        }
        form
    }

    fn of(app: &ProxyApp) -> AppForm {
        AppForm {
            csrf: None,
            name: app.name.clone(),
            hosts: app.hosts.join("\n"),
            groups: app.access.groups.clone(),
            require: app.access.require.as_str().into(),
            max_age_hours: app
                .access
                .max_age
                .map(|s| (s / 3600).to_string())
                .unwrap_or_default(),
            paths: app
                .paths
                .iter()
                .map(|p| {
                    let mut line = format!("{} {}", p.prefix, p.access.require.as_str());
                    if !p.access.groups.is_empty() {
                        line.push(' ');
                        line.push_str(&p.access.groups.join(","));
                    }
                    line
                })
                .collect::<Vec<_>>()
                .join("\n"),
            public_paths: app.public_paths.join("\n"),
            allow_basic: app.allow_basic,
            headers: app.headers.iter().map(|h| h.name().to_string()).collect(),
            launch_url: app.launch_url.clone().unwrap_or_default(),
        }
    }

    fn spec(&self) -> Result<AppSpec, FieldError> {
        let bad = |field: &'static str, message: String| FieldError { field, message };
        let require = match self.require.as_str() {
            "" => Strength::Any,
            r => Strength::parse(r).map_err(FieldError::from)?,
        };
        let max_age_hours = match self.max_age_hours.trim() {
            "" => None,
            h => Some(h.parse::<i64>().map_err(|_| {
                bad(
                    "max_age_hours",
                    format!("`{h}` is not a whole number of hours"),
                )
            })?),
        };
        let mut paths = Vec::new();
        for line in lines(&self.paths) {
            let mut words = line.split_whitespace();
            let prefix = words.next().unwrap_or_default().to_string();
            let mut access = Access::default();
            for word in words {
                match Strength::parse(word) {
                    Ok(s) => access.require = s,
                    Err(_) => access.groups.extend(
                        word.split(',')
                            .filter(|g| !g.is_empty())
                            .map(str::to_string),
                    ),
                }
            }
            paths.push(PathRule { prefix, access });
        }
        Ok(AppSpec {
            name: self.name.clone(),
            hosts: lines(&self.hosts),
            groups: self.groups.clone(),
            require,
            max_age_hours,
            paths,
            public_paths: lines(&self.public_paths),
            allow_basic: self.allow_basic,
            headers: Some(self.headers.clone()),
            launch_url: Some(self.launch_url.clone()),
        })
    }

    fn sends(&self, header: &str) -> bool {
        self.headers.iter().any(|h| h == header)
    }
}

struct GroupChoice {
    name: String,
    display_name: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "admin_proxy_app.html")]
struct AppPage<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    notice: Option<&'a str>,
    /// None: a new application.
    app: Option<&'a ProxyApp>,
    form: &'a AppForm,
    groups: Vec<GroupChoice>,
    strengths: [(&'static str, &'static str); 3],
    headers: Vec<&'static str>,
    error: Option<FieldError>,
    check_url: String,
}

impl AppPage<'_> {
    fn error_for(&self, field: &str) -> Option<&str> {
        error_for(&self.error, field)
    }
}

/// What the form page says above the form.
enum Said<'a> {
    Nothing,
    Notice(Option<&'a str>),
    Error(FieldError),
}

async fn render(
    state: &AppState,
    headers: &HeaderMap,
    admin: &AdminSession,
    app: Option<&ProxyApp>,
    form: &AppForm,
    said: Said<'_>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let (notice, error) = match said {
        Said::Nothing => (None, None),
        Said::Notice(n) => (n, None),
        Said::Error(e) => (None, Some(e)),
    };
    let groups = state
        .store
        .list_groups()
        .await?
        .into_iter()
        .map(|g| GroupChoice {
            checked: form.groups.iter().any(|n| n.eq_ignore_ascii_case(&g.name)),
            name: g.name,
            display_name: g.display_name,
        })
        .collect();
    let page = admin.page(state, headers);
    Ok(page.render(
        status,
        &AppPage {
            chrome: &page.chrome,
            section: "proxy-apps",
            notice,
            app,
            form,
            groups,
            strengths: [Strength::Any, Strength::TwoFactor, Strength::Passkey]
                .map(|s| (s.as_str(), s.describe())),
            headers: RemoteHeader::ALL.iter().map(|h| h.name()).collect(),
            error,
            check_url: state.config.app_url.join("/api/authz/forward-auth"),
        },
    ))
}

pub async fn new_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
) -> Result<Response, WebError> {
    let form = AppForm {
        headers: RemoteHeader::ALL.iter().map(|h| h.name().into()).collect(),
        ..AppForm::default()
    };
    render(
        &state,
        &headers,
        &admin,
        None,
        &form,
        Said::Nothing,
        StatusCode::OK,
    )
    .await
}

/// A failed save: the form again, with the field marked, or the error page.
async fn refused(
    state: &AppState,
    headers: &HeaderMap,
    admin: &AdminSession,
    app: Option<&ProxyApp>,
    form: &AppForm,
    e: AppError,
) -> Result<Response, WebError> {
    let error = match e {
        AppError::Invalid(i) => FieldError::from(i),
        AppError::Store(crate::store::StoreError::Conflict(m)) => FieldError {
            field: "hosts",
            message: m,
        },
        AppError::Store(e) => return Err(e.into()),
    };
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    render(state, headers, admin, app, form, Said::Error(error), status).await
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form = AppForm::from_pairs(pairs);
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    let spec = match form.spec() {
        Ok(s) => s,
        Err(e) => {
            return render(
                &state,
                &headers,
                &admin,
                None,
                &form,
                Said::Error(e),
                status,
            )
            .await;
        }
    };
    let origin = admin.origin(&state, &headers, &info);
    match apps::create(&state.store, spec, &origin).await {
        Ok(app) => Ok(see_other(
            &format!("{BACK}/{}?done=proxy_app_created", app.id),
            [],
        )),
        Err(e) => refused(&state, &headers, &admin, None, &form, e).await,
    }
}

pub async fn detail(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> Result<Response, WebError> {
    let Some(app) = state.store.proxy_app(&id).await? else {
        return Ok(not_found());
    };
    let form = AppForm::of(&app);
    let said = Said::Notice(flash.notice());
    render(
        &state,
        &headers,
        &admin,
        Some(&app),
        &form,
        said,
        StatusCode::OK,
    )
    .await
}

pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form = AppForm::from_pairs(pairs);
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let Some(before) = state.store.proxy_app(&id).await? else {
        return Ok(gone(BACK));
    };
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    let spec = match form.spec() {
        Ok(s) => s,
        Err(e) => {
            let said = Said::Error(e);
            return render(&state, &headers, &admin, Some(&before), &form, said, status).await;
        }
    };
    let origin = admin.origin(&state, &headers, &info);
    match apps::update(&state.store, &before, spec, &origin).await {
        Ok(app) => Ok(see_other(
            &format!("{BACK}/{}?done=proxy_app_updated", app.id),
            [],
        )),
        Err(e) => refused(&state, &headers, &admin, Some(&before), &form, e).await,
    }
}

pub async fn delete_confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let Some(app) = state.store.proxy_app(&id).await? else {
        return Ok(not_found());
    };
    let page = admin.page(&state, &headers);
    Ok(page.render(
        StatusCode::OK,
        &ConfirmPage {
            chrome: &page.chrome,
            section: "proxy-apps",
            heading: format!("Delete {}?", app.name),
            message: format!(
                "The proxy will be told to refuse {} from the next request on.",
                app.hosts.join(", ")
            ),
            action: format!("{BACK}/{}/delete", app.id),
            button: "Delete application",
            cancel: format!("{BACK}/{}", app.id),
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
    let Some(app) = state.store.proxy_app(&id).await? else {
        return Ok(gone(BACK));
    };
    let origin = admin.origin(&state, &headers, &info);
    match apps::delete(&state.store, &app, &origin).await {
        Ok(()) => Ok(see_other(&format!("{BACK}?done=proxy_app_deleted"), [])),
        Err(AppError::Store(crate::store::StoreError::NotFound)) => Ok(gone(BACK)),
        Err(AppError::Store(e)) => Err(e.into()),
        Err(AppError::Invalid(_)) => Ok(gone(BACK)),
    }
}
