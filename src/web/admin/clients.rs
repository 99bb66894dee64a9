//! `/admin/clients`: OIDC clients. Create (ends on a page with the settings a service
//! needs and, once, the secret), show, rotate the secret, delete.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::{AdminSession, ConfirmPage, CsrfForm, FieldError, Flash, error_for, gone, not_found};
use crate::app::AppState;
use crate::audit;
use crate::domain::client::{Client, SIGNING_ALGS, check_redirect_uri};
use crate::http::ClientInfo;
use crate::oidc::registration::{ClientSpec, RegistrationError, register};
use crate::store::StoreError;
use crate::web::security::when;
use crate::web::{Chrome, WebError, see_other};

#[derive(Template)]
#[template(path = "admin_clients.html")]
struct ClientsPage<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    notice: Option<&'a str>,
    alert: Option<&'a str>,
    clients: Vec<Client>,
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Query(flash): Query<Flash>,
) -> Result<Response, WebError> {
    let clients = state.store.list_clients().await?;
    let page = admin.page(&state, &headers);
    Ok(page.render(
        StatusCode::OK,
        &ClientsPage {
            chrome: &page.chrome,
            section: "clients",
            notice: flash.notice(),
            alert: flash.error(),
            clients,
        },
    ))
}

/// The new-client form as typed. Built from the raw pairs, because the allowed
/// groups are one checkbox each under the same name.
#[derive(Default)]
pub struct ClientForm {
    csrf: Option<String>,
    name: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    public: bool,
    signing_alg: String,
    skip_consent: bool,
    allowed_groups: Vec<String>,
}

impl ClientForm {
    fn from_pairs(pairs: Vec<(String, String)>) -> ClientForm {
        let mut form = ClientForm::default();
        for (key, value) in pairs {
            match key.as_str() {
                "csrf" => form.csrf = Some(value),
                "name" => form.name = value,
                "redirect_uris" => form.redirect_uris = value,
                "post_logout_redirect_uris" => form.post_logout_redirect_uris = value,
                "public" => form.public = !value.is_empty(),
                "signing_alg" => form.signing_alg = value,
                "skip_consent" => form.skip_consent = !value.is_empty(),
                "allowed_group" => form.allowed_groups.push(value),
                _ => {}
            }
        }
        form
    }

    /// One URI per line; blank lines do not count.
    fn lines(text: &str) -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    fn spec(&self) -> Result<ClientSpec, FieldError> {
        let post_logout = Self::lines(&self.post_logout_redirect_uris);
        for uri in &post_logout {
            check_redirect_uri(uri).map_err(|e| FieldError {
                field: "post_logout_redirect_uris",
                message: e.message,
            })?;
        }
        Ok(ClientSpec {
            name: self.name.clone(),
            redirect_uris: Self::lines(&self.redirect_uris),
            post_logout_redirect_uris: post_logout,
            public: self.public,
            signing_alg: Some(self.signing_alg.clone()).filter(|a| !a.is_empty()),
            skip_consent: self.skip_consent,
            allowed_groups: self.allowed_groups.clone(),
            ..ClientSpec::default()
        })
    }

    fn alg(&self) -> &str {
        if self.signing_alg.is_empty() {
            "RS256"
        } else {
            &self.signing_alg
        }
    }
}

struct GroupChoice {
    name: String,
    display_name: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "admin_client_new.html")]
struct NewClientPage<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    form: &'a ClientForm,
    algs: &'static [&'static str],
    groups: Vec<GroupChoice>,
    error: Option<FieldError>,
}

impl NewClientPage<'_> {
    fn error_for(&self, field: &str) -> Option<&str> {
        error_for(&self.error, field)
    }
}

async fn render_new(
    state: &AppState,
    headers: &HeaderMap,
    admin: &AdminSession,
    form: &ClientForm,
    error: Option<FieldError>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let groups = state
        .store
        .list_groups()
        .await?
        .into_iter()
        .map(|g| GroupChoice {
            checked: form.allowed_groups.contains(&g.name),
            name: g.name,
            display_name: g.display_name,
        })
        .collect();
    let page = admin.page(state, headers);
    Ok(page.render(
        status,
        &NewClientPage {
            chrome: &page.chrome,
            section: "clients",
            form,
            algs: SIGNING_ALGS,
            groups,
            error,
        },
    ))
}

pub async fn new_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
) -> Result<Response, WebError> {
    let form = ClientForm::default();
    render_new(&state, &headers, &admin, &form, None, StatusCode::OK).await
}

#[derive(Template)]
#[template(path = "admin_client_secret.html")]
struct SecretPage<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    heading: &'a str,
    client: &'a Client,
    secret: Option<&'a str>,
    issuer: &'a str,
    discovery_url: String,
}

fn secret_page(
    state: &AppState,
    headers: &HeaderMap,
    admin: &AdminSession,
    heading: &str,
    client: &Client,
    secret: Option<&str>,
) -> Response {
    let page = admin.page(state, headers);
    let app_url = &state.config.app_url;
    page.render(
        StatusCode::OK,
        &SecretPage {
            chrome: &page.chrome,
            section: "clients",
            heading,
            client,
            secret,
            issuer: app_url.as_str(),
            discovery_url: app_url.join("/.well-known/openid-configuration"),
        },
    )
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form = ClientForm::from_pairs(pairs);
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    let spec = match form.spec() {
        Ok(s) => s,
        Err(e) => return render_new(&state, &headers, &admin, &form, Some(e), status).await,
    };
    let (client, secret) = match register(&state.store, spec).await {
        Ok(done) => done,
        Err(RegistrationError::Invalid(e)) => {
            let field = match e.field {
                "redirect_uri" => "redirect_uris",
                "allowed_group" => "allowed_groups",
                other => other,
            };
            let e = FieldError {
                field,
                message: e.message,
            };
            return render_new(&state, &headers, &admin, &form, Some(e), status).await;
        }
        Err(RegistrationError::Store(e)) => return Err(e.into()),
    };
    audit::record(
        &state.store,
        "admin.client.created",
        &admin.origin(&state, &headers, &info),
        Some(&client.id),
        json!({
            "name": client.name, "public": client.is_public, "redirect_uris": client.redirect_uris,
            "post_logout_redirect_uris": client.post_logout_redirect_uris,
            "signing_alg": client.signing_alg, "skip_consent": client.skip_consent,
            "allowed_groups": client.allowed_groups,
        }),
    )
    .await?;
    Ok(secret_page(
        &state,
        &headers,
        &admin,
        "Client created",
        &client,
        secret.as_deref(),
    ))
}

#[derive(Template)]
#[template(path = "admin_client.html")]
struct ClientPage<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    notice: Option<&'a str>,
    alert: Option<&'a str>,
    client: &'a Client,
    discovery_url: String,
    created: String,
    access_ttl: String,
    refresh_ttl: String,
    previous_secret_until: Option<String>,
}

/// `3600` as `1h`, `2592000` as `30days`.
fn lifetime(seconds: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(seconds.max(0) as u64)).to_string()
}

pub async fn detail(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> Result<Response, WebError> {
    let Some(client) = state.store.client_by_id(&id).await? else {
        return Ok(not_found());
    };
    let page = admin.page(&state, &headers);
    Ok(page.render(
        StatusCode::OK,
        &ClientPage {
            chrome: &page.chrome,
            section: "clients",
            notice: flash.notice(),
            alert: flash.error(),
            discovery_url: state
                .config
                .app_url
                .join("/.well-known/openid-configuration"),
            created: when(client.created_at),
            access_ttl: lifetime(client.access_token_ttl),
            refresh_ttl: lifetime(client.refresh_token_ttl),
            previous_secret_until: client
                .previous_secret_expires_at
                .filter(|t| *t > crate::store::now())
                .map(when),
            client: &client,
        },
    ))
}

/// A new secret, shown once; the old one keeps working for a day so the service can
/// be switched over without an outage.
pub async fn rotate_secret(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let Some(client) = state.store.client_by_id(&id).await? else {
        return Ok(gone("/admin/clients"));
    };
    let secret = match crate::oidc::registration::rotate_secret(&state.store, &id).await {
        Ok(s) => s,
        // A public client has no secret to rotate.
        Err(StoreError::NotFound) => return Ok(gone(&format!("/admin/clients/{id}"))),
        Err(e) => return Err(e.into()),
    };
    // The token endpoint caches clients: the new secret must work at once.
    state.clients.forget(&id);
    audit::record(
        &state.store,
        "admin.client.secret_rotated",
        &admin.origin(&state, &headers, &info),
        Some(&id),
        json!({"name": client.name}),
    )
    .await?;
    Ok(secret_page(
        &state,
        &headers,
        &admin,
        "New client secret",
        &client,
        Some(&secret),
    ))
}

pub async fn delete_confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let Some(client) = state.store.client_by_id(&id).await? else {
        return Ok(not_found());
    };
    let page = admin.page(&state, &headers);
    Ok(page.render(
        StatusCode::OK,
        &ConfirmPage {
            chrome: &page.chrome,
            section: "clients",
            heading: format!("Delete the client {}?", client.name),
            message: "People can no longer sign in to it, and every token it holds stops \
                      working at once. This cannot be undone."
                .into(),
            action: format!("/admin/clients/{id}/delete"),
            button: "Delete client",
            cancel: format!("/admin/clients/{id}"),
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
    let Some(client) = state.store.client_by_id(&id).await? else {
        return Ok(gone("/admin/clients"));
    };
    match state.store.delete_client(&id).await {
        Ok(()) => state.clients.forget(&id),
        Err(StoreError::NotFound) => return Ok(gone("/admin/clients")),
        Err(e) => return Err(e.into()),
    }
    audit::record(
        &state.store,
        "admin.client.deleted",
        &admin.origin(&state, &headers, &info),
        Some(&id),
        json!({"name": client.name}),
    )
    .await?;
    Ok(see_other("/admin/clients?done=client_deleted", []))
}
