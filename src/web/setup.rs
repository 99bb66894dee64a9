//! First-admin setup at the one-time link printed on first start: a form for the
//! admin's details, then a page to add a passkey (or a password).

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::login::{auth_client, session_cookies};
use super::{Chrome, Page, SignedIn, WebError, error_page, see_other};
use crate::app::AppState;
use crate::audit;
use crate::domain::session::AuthMethod;
use crate::domain::user::NewUser;
use crate::http::ClientInfo;
use crate::store::StoreError;

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage<'a> {
    chrome: &'a Chrome,
    token: &'a str,
    username: &'a str,
    email: &'a str,
    first_name: &'a str,
    last_name: &'a str,
    error: Option<&'a str>,
}

#[derive(Deserialize, Default)]
pub struct SetupForm {
    csrf: Option<String>,
    token: Option<String>,
    username: Option<String>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

fn complete() -> Response {
    error_page(
        StatusCode::GONE,
        "Setup is complete",
        "An administrator already exists. Sign in with your account instead.",
    )
}

fn invalid_link() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "This setup link is not valid",
        "Use the setup link printed in the server log. A link stops working when the server restarts; the new one is in the log.",
    )
}

/// Is setup still open for this token? Closes the gate when an admin appeared meanwhile.
async fn check(state: &AppState, token: Option<&str>) -> Result<Option<Response>, WebError> {
    if state.store.has_admin().await? {
        state.setup.close();
        return Ok(Some(complete()));
    }
    if !token.is_some_and(|t| state.setup.accepts(t)) {
        return Ok(Some(invalid_link()));
    }
    Ok(None)
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Result<Response, WebError> {
    if let Some(stop) = check(&state, q.token.as_deref()).await? {
        return Ok(stop);
    }
    let page = Page::new(&state, &headers);
    let view = SetupPage {
        chrome: &page.chrome,
        token: q.token.as_deref().unwrap_or_default(),
        username: "",
        email: "",
        first_name: "",
        last_name: "",
        error: None,
    };
    Ok(page.render(StatusCode::OK, &view))
}

pub async fn create_admin(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    Form(form): Form<SetupForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    if let Some(stop) = check(&state, form.token.as_deref()).await? {
        return Ok(stop);
    }
    let new = NewUser {
        username: form.username.clone().unwrap_or_default(),
        email: form.email.clone(),
        first_name: form.first_name.clone().unwrap_or_default(),
        last_name: form.last_name.clone().unwrap_or_default(),
        is_admin: true,
        email_verified: true,
        ..NewUser::default()
    }
    .validate()
    .and_then(|u| {
        if u.email.is_none() {
            Err(crate::domain::Invalid::new("email", "is required"))
        } else {
            Ok(u)
        }
    });
    let created = match new {
        Ok(new) => state.store.create_user(&new).await.map_err(|e| match e {
            StoreError::Conflict(m) => m,
            other => other.to_string(),
        }),
        Err(e) => Err(e.to_string()),
    };
    let user = match created {
        Ok(user) => user,
        Err(message) => {
            let page = Page::new(&state, &headers);
            let view = SetupPage {
                chrome: &page.chrome,
                token: form.token.as_deref().unwrap_or_default(),
                username: form.username.as_deref().unwrap_or_default(),
                email: form.email.as_deref().unwrap_or_default(),
                first_name: form.first_name.as_deref().unwrap_or_default(),
                last_name: form.last_name.as_deref().unwrap_or_default(),
                error: Some(&message),
            };
            return Ok(page.render(StatusCode::BAD_REQUEST, &view));
        }
    };
    state.setup.close();
    let client = auth_client(&state, &headers, &info);
    audit::record(
        &state.store,
        "setup.completed",
        &client.origin(Some(&user.id)),
        Some(&user.id),
        json!({"username": user.username}),
    )
    .await?;
    let new = state
        .auth
        .sign_in(&user, AuthMethod::Setup, &client)
        .await?;
    Ok(see_other(
        "/setup/credential",
        session_cookies(&state, &new),
    ))
}

#[derive(Template)]
#[template(path = "setup_credential.html")]
struct CredentialPage<'a> {
    chrome: &'a Chrome,
    password_login: bool,
}

/// Right after setup: add the first passkey, or a password where passkeys are not possible.
pub async fn credential(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
) -> Result<Response, WebError> {
    let page = Page::for_user(&state, &headers, &signed_in);
    let view = CredentialPage {
        chrome: &page.chrome,
        password_login: state.auth.password_login_enabled(),
    };
    Ok(page.render(StatusCode::OK, &view))
}
