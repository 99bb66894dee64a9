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
use crate::domain::access::Strength;
use crate::domain::client::{Client, GRANT_TYPES, SIGNING_ALGS, default_grant_types};
use crate::domain::scope;
use crate::http::ClientInfo;
use crate::oidc::registration::{
    ClientSpec, RegistrationError, changes, register, update as update_client,
};
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

/// The client form (new and edit) as typed. Built from the raw pairs, because the
/// allowed groups are one checkbox each under the same name.
#[derive(Default)]
pub struct ClientForm {
    csrf: Option<String>,
    name: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    launch_url: String,
    public: bool,
    require_pkce: bool,
    allow_plain_pkce: bool,
    signing_alg: String,
    /// Lifetimes as typed: `15m`, `1h`, `30d`, or seconds; empty means the default.
    access_token_ttl: String,
    refresh_token_ttl: String,
    skip_consent: bool,
    always_refresh: bool,
    allowed_groups: Vec<String>,
    /// `any`, `two-factor` or `passkey`.
    require: String,
    /// As typed, like the lifetimes; empty: no maximum.
    max_session_age: String,
    /// Ticked grant types and scopes; on a new client, the defaults.
    grant_types: Vec<String>,
    scopes: Vec<String>,
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
                "launch_url" => form.launch_url = value,
                "public" => form.public = !value.is_empty(),
                "require_pkce" => form.require_pkce = !value.is_empty(),
                "allow_plain_pkce" => form.allow_plain_pkce = !value.is_empty(),
                "signing_alg" => form.signing_alg = value,
                "access_token_ttl" => form.access_token_ttl = value,
                "refresh_token_ttl" => form.refresh_token_ttl = value,
                "skip_consent" => form.skip_consent = !value.is_empty(),
                "always_refresh" => form.always_refresh = !value.is_empty(),
                "allowed_group" => form.allowed_groups.push(value),
                "require" => form.require = value,
                "max_session_age" => form.max_session_age = value,
                "grant_type" => form.grant_types.push(value),
                "scope" => form.scopes.push(value),
                _ => {}
            }
        }
        form
    }

    /// The form filled with a client's current settings.
    fn of(client: &Client) -> ClientForm {
        ClientForm {
            csrf: None,
            name: client.name.clone(),
            redirect_uris: client.redirect_uris.join("\n"),
            post_logout_redirect_uris: client.post_logout_redirect_uris.join("\n"),
            launch_url: client.launch_url.clone().unwrap_or_default(),
            public: client.is_public,
            require_pkce: client.require_pkce,
            allow_plain_pkce: client.allow_plain_pkce,
            signing_alg: client.signing_alg.clone(),
            access_token_ttl: lifetime(client.access_token_ttl),
            refresh_token_ttl: lifetime(client.refresh_token_ttl),
            skip_consent: client.skip_consent,
            always_refresh: client.always_refresh,
            allowed_groups: client.allowed_groups.clone(),
            require: client.require.as_str().into(),
            max_session_age: client.max_session_age.map(lifetime).unwrap_or_default(),
            grant_types: client.grant_types.clone(),
            scopes: client.scopes.clone(),
        }
    }

    /// A new client's form: the defaults ticked.
    fn new() -> ClientForm {
        ClientForm {
            grant_types: default_grant_types(false),
            scopes: scope::SUPPORTED.iter().map(|s| s.to_string()).collect(),
            ..ClientForm::default()
        }
    }

    /// Each grant type with whether it is ticked.
    fn grant_choices(&self) -> Vec<(&'static str, bool)> {
        GRANT_TYPES
            .iter()
            .map(|g| (*g, self.grant_types.iter().any(|t| t == g)))
            .collect()
    }

    /// Each scope with whether it is ticked.
    fn scope_choices(&self) -> Vec<(&'static str, bool)> {
        scope::SUPPORTED
            .iter()
            .map(|s| (*s, self.scopes.iter().any(|t| t == s)))
            .collect()
    }

    /// One URI per line; blank lines do not count.
    fn lines(text: &str) -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// `1h`, `30days`, `90` (seconds); empty is the default.
    fn seconds(field: &'static str, text: &str) -> Result<Option<i64>, FieldError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        if let Ok(n) = text.parse::<i64>() {
            return Ok(Some(n));
        }
        humantime::parse_duration(text)
            .map(|d| Some(d.as_secs().min(i64::MAX as u64) as i64))
            .map_err(|_| FieldError {
                field,
                message: format!("`{text}` is not a duration such as 15m, 1h or 30d"),
            })
    }

    fn spec(&self) -> Result<ClientSpec, FieldError> {
        Ok(ClientSpec {
            name: self.name.clone(),
            redirect_uris: Self::lines(&self.redirect_uris),
            post_logout_redirect_uris: Self::lines(&self.post_logout_redirect_uris),
            public: self.public,
            require_pkce: self.require_pkce,
            allow_plain_pkce: self.allow_plain_pkce,
            signing_alg: Some(self.signing_alg.clone()).filter(|a| !a.is_empty()),
            access_token_ttl: Self::seconds("access_token_ttl", &self.access_token_ttl)?,
            refresh_token_ttl: Self::seconds("refresh_token_ttl", &self.refresh_token_ttl)?,
            skip_consent: self.skip_consent,
            always_refresh: self.always_refresh,
            launch_url: Some(self.launch_url.trim().to_string()).filter(|u| !u.is_empty()),
            allowed_groups: self.allowed_groups.clone(),
            require: match self.require.as_str() {
                "" => Strength::Any,
                r => Strength::parse(r).map_err(FieldError::from)?,
            },
            max_session_age: Self::seconds("max_session_age", &self.max_session_age)?,
            // None ticked: what the client's type allows (a public client has no
            // client_credentials, whatever was ticked before it became public).
            grant_types: Some(
                self.grant_types
                    .iter()
                    .filter(|g| !(self.public && *g == "client_credentials"))
                    .cloned()
                    .collect::<Vec<_>>(),
            )
            .filter(|g| !g.is_empty()),
            scopes: Some(self.scopes.clone()).filter(|s| !s.is_empty()),
        })
    }

    /// The strengths to choose from, with the words the form shows.
    fn strengths(&self) -> [(&'static str, &'static str, bool); 3] {
        [Strength::Any, Strength::TwoFactor, Strength::Passkey].map(|s| {
            let chosen =
                self.require == s.as_str() || (self.require.is_empty() && s == Strength::Any);
            (s.as_str(), s.describe(), chosen)
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

async fn group_choices(state: &AppState, form: &ClientForm) -> Result<Vec<GroupChoice>, WebError> {
    Ok(state
        .store
        .list_groups()
        .await?
        .into_iter()
        .map(|g| GroupChoice {
            checked: form.allowed_groups.contains(&g.name),
            name: g.name,
            display_name: g.display_name,
        })
        .collect())
}

async fn render_new(
    state: &AppState,
    headers: &HeaderMap,
    admin: &AdminSession,
    form: &ClientForm,
    error: Option<FieldError>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let groups = group_choices(state, form).await?;
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
    let form = ClientForm::new();
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
            return render_new(&state, &headers, &admin, &form, Some(e.into()), status).await;
        }
        Err(RegistrationError::Store(e)) => return Err(e.into()),
    };
    audit::record(
        &state.store,
        "admin.client.created",
        &admin.origin(&state, &headers, &info),
        Some(&client.id),
        json!({"client_id": client.id, "name": client.name, "after": client}),
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
    form: &'a ClientForm,
    algs: &'static [&'static str],
    groups: Vec<GroupChoice>,
    error: Option<FieldError>,
    /// The logo's address, when one was uploaded.
    logo: Option<String>,
}

impl ClientPage<'_> {
    fn error_for(&self, field: &str) -> Option<&str> {
        error_for(&self.error, field)
    }
}

/// `3600` as `1h`, `2592000` as `30days`.
fn lifetime(seconds: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(seconds.max(0) as u64)).to_string()
}

#[allow(clippy::too_many_arguments)]
async fn render_detail(
    state: &AppState,
    headers: &HeaderMap,
    admin: &AdminSession,
    client: &Client,
    flash: &Flash,
    form: &ClientForm,
    error: Option<FieldError>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let groups = group_choices(state, form).await?;
    let logo = state
        .store
        .image(&crate::web::pictures::client_owner(&client.id))
        .await?
        .map(|i| i.etag);
    let page = admin.page(state, headers);
    Ok(page.render(
        status,
        &ClientPage {
            chrome: &page.chrome,
            section: "clients",
            logo: logo.map(|v| format!("/pictures/clients/{}?v={v}", client.id)),
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
            client,
            form,
            algs: SIGNING_ALGS,
            groups,
            error,
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
    let Some(client) = state.store.client_by_id(&id).await? else {
        return Ok(not_found());
    };
    let form = ClientForm::of(&client);
    render_detail(
        &state,
        &headers,
        &admin,
        &client,
        &flash,
        &form,
        None,
        StatusCode::OK,
    )
    .await
}

/// Save the edit form: every field is checked first, then all of it is saved in one
/// transaction, or nothing. A client made confidential gets a secret, shown once.
pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    admin: AdminSession,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form = ClientForm::from_pairs(pairs);
    crate::web::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let Some(client) = state.store.client_by_id(&id).await? else {
        return Ok(gone("/admin/clients"));
    };
    let no_flash = Flash::default();
    let invalid = |e: FieldError| {
        render_detail(
            &state,
            &headers,
            &admin,
            &client,
            &no_flash,
            &form,
            Some(e),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    let spec = match form.spec() {
        Ok(s) => s,
        Err(e) => return invalid(e).await,
    };
    let updated = match update_client(&state.store, &id, spec).await {
        Ok(u) => u,
        Err(RegistrationError::Invalid(e)) => return invalid(e.into()).await,
        Err(RegistrationError::Store(StoreError::NotFound)) => return Ok(gone("/admin/clients")),
        Err(RegistrationError::Store(e)) => return Err(e.into()),
    };
    // The token endpoint caches clients: the change must count at once.
    state.clients.forget(&id);
    let mut details = changes(&updated.before, &updated.after);
    details["client_id"] = json!(id);
    details["secret_created"] = json!(updated.secret.is_some());
    audit::record(
        &state.store,
        "admin.client.updated",
        &admin.origin(&state, &headers, &info),
        Some(&id),
        details,
    )
    .await?;
    if let Some(secret) = updated.secret {
        return Ok(secret_page(
            &state,
            &headers,
            &admin,
            "Client secret",
            &updated.after,
            Some(&secret),
        ));
    }
    Ok(see_other(
        &format!("/admin/clients/{id}?done=client_updated"),
        [],
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
        json!({"client_id": id, "name": client.name}),
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
        json!({"client_id": id, "name": client.name, "before": client}),
    )
    .await?;
    Ok(see_other("/admin/clients?done=client_deleted", []))
}
