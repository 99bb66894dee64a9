//! Sign-up: with sign-up `open`, anyone may create an account; with an invite link
//! (sign-up `invite` or `open`), the person joins the invite's groups. Either way the
//! next step is adding a passkey.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::current_session;
use super::login::{auth_client, session_cookies};
use super::{Chrome, Page, WebError, error_page, see_other};
use crate::app::AppState;
use crate::audit;
use crate::auth::throttle::{Attempt, human_wait};
use crate::config::SignupMode;
use crate::crypto::hash_secret;
use crate::domain::Invalid;
use crate::domain::session::AuthMethod;
use crate::domain::user::NewUser;
use crate::http::ClientInfo;
use crate::store::{Invite, SignupRejection, StoreError, now};

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage<'a> {
    chrome: &'a Chrome,
    form: &'a SignupForm,
    invited: bool,
    error: Option<Invalid>,
    alert: Option<String>,
}

impl SignupPage<'_> {
    fn error_for(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

#[derive(Deserialize, Default)]
pub struct SignupForm {
    csrf: Option<String>,
    #[serde(default)]
    invite: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
}

#[derive(Deserialize)]
pub struct SignupQuery {
    invite: Option<String>,
}

fn closed() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "Sign-up is closed",
        "Accounts here are created by an administrator. Ask one of them for an account or an invite link.",
    )
}

fn unusable_invite() -> Response {
    error_page(
        StatusCode::GONE,
        "This invite link cannot be used",
        "It has expired, was used as often as it may be, or was withdrawn. Ask for a new one.",
    )
}

/// The invite a link names, when sign-up with it is possible now; otherwise the page
/// that says why not.
async fn admission(
    state: &AppState,
    invite: &str,
) -> Result<Result<Option<Invite>, Response>, WebError> {
    let mode = state.settings().signup_mode;
    if mode == SignupMode::Disabled {
        return Ok(Err(closed()));
    }
    if invite.is_empty() {
        return Ok(if mode == SignupMode::Open {
            Ok(None)
        } else {
            Err(error_page(
                StatusCode::FORBIDDEN,
                "Sign-up needs an invitation",
                "Open the invite link an administrator sent you.",
            ))
        });
    }
    match state.store.invite_by_token(&hash_secret(invite)).await? {
        Some(i) if i.usable(now()) => Ok(Ok(Some(i))),
        _ => Ok(Err(unusable_invite())),
    }
}

fn render(
    state: &AppState,
    headers: &HeaderMap,
    form: &SignupForm,
    error: Option<Invalid>,
    alert: Option<String>,
    status: StatusCode,
) -> Response {
    let page = Page::new(state, headers);
    page.render(
        status,
        &SignupPage {
            chrome: &page.chrome,
            form,
            invited: !form.invite.is_empty(),
            error,
            alert,
        },
    )
}

pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<SignupQuery>,
) -> Result<Response, WebError> {
    if current_session(&state, &headers).await?.is_some() {
        return Ok(see_other("/account", []));
    }
    let invite = query.invite.unwrap_or_default();
    if let Err(stop) = admission(&state, &invite).await? {
        return Ok(stop);
    }
    let form = SignupForm {
        invite,
        ..SignupForm::default()
    };
    Ok(render(&state, &headers, &form, None, None, StatusCode::OK))
}

/// What a sign-up whose address already has an account is answered with.
fn check_your_email(state: &AppState, headers: &HeaderMap, address: &str) -> Response {
    let page = Page::new(state, headers);
    let text = format!(
        "We sent a message to {address}. Follow it to continue; if it does not arrive within a few minutes, check your spam folder."
    );
    page.render(
        StatusCode::OK,
        &super::MessagePage {
            chrome: page.chrome.clone(),
            heading: "Check your email",
            message: &text,
        },
    )
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    Form(form): Form<SignupForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let invite = match admission(&state, &form.invite).await? {
        Ok(invite) => invite,
        Err(stop) => return Ok(stop),
    };
    // Every sign-up POST counts against the network before anything is checked, so
    // that neither the database nor the answers (which usernames exist) can be mined.
    let attempt = Attempt::new("signup", None, info.ip);
    if let Err(refusal) = attempt.begin(&state.store, now()).await? {
        let alert = format!(
            "Too many sign-ups were tried from your network. Try again in {}.",
            human_wait(refusal.wait)
        );
        return Ok(render(
            &state,
            &headers,
            &form,
            None,
            Some(alert),
            StatusCode::TOO_MANY_REQUESTS,
        ));
    }
    let new = NewUser {
        username: form.username.clone(),
        email: Some(form.email.clone()),
        first_name: form.first_name.clone(),
        last_name: form.last_name.clone(),
        ..NewUser::default()
    }
    .validate()
    .and_then(|u| match u.email {
        None => Err(Invalid::new("email", "is required")),
        Some(_) => Ok(u),
    });
    let new = match new {
        Ok(n) => n,
        Err(e) => {
            return Ok(render(
                &state,
                &headers,
                &form,
                Some(e),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
    };
    // A taken username is said (usernames are not secret: applications and LDAP show
    // them); a taken address is not, and is checked only once the username is free.
    if state.store.username_taken(&new.username).await? {
        let taken = Invalid::new("username", "a user with this username already exists");
        return Ok(render(
            &state,
            &headers,
            &form,
            Some(taken),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    }
    let address = new.email.clone().unwrap_or_default();
    let invite_id = invite.as_ref().map(|i| i.id.as_str());
    let signed_up = match crate::auth::email::sign_up(&state.mail, new, invite_id).await {
        Ok(result) => result,
        Err(crate::auth::AuthError::Invalid(e)) => {
            return Ok(render(
                &state,
                &headers,
                &form,
                Some(e),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
        Err(crate::auth::AuthError::Store(StoreError::Conflict(message))) => {
            Err(SignupRejection::Store(StoreError::Conflict(message)))
        }
        Err(e) => return Err(e.into()),
    };
    let user = match signed_up {
        Ok(user) => user,
        Err(SignupRejection::InviteUnusable) => return Ok(unusable_invite()),
        Err(SignupRejection::Store(StoreError::Conflict(message))) if message.contains("email") => {
            // The address has an account: its owner gets a mail, this browser the page
            // a new account with an address to confirm gets, and nothing is created.
            crate::auth::email::notify_account_exists(&state.mail, &address).await?;
            let client = auth_client(&state, &headers, &info);
            audit::record(
                &state.store,
                "user.signup_address_taken",
                &client.origin(None),
                None,
                json!({"email": address}),
            )
            .await?;
            return Ok(check_your_email(&state, &headers, &address));
        }
        Err(SignupRejection::Store(StoreError::Conflict(message))) => {
            let taken = Invalid::new("username", message);
            return Ok(render(
                &state,
                &headers,
                &form,
                Some(taken),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
        Err(SignupRejection::Store(e)) => return Err(e.into()),
    };
    let client = auth_client(&state, &headers, &info);
    audit::record(
        &state.store,
        "user.signed_up",
        &client.origin(Some(&user.id)),
        Some(&user.id),
        json!({
            "username": user.username,
            "invite_id": invite_id,
            "groups": invite.as_ref().map(|i| i.group_ids.clone()).unwrap_or_default(),
        }),
    )
    .await?;
    let session = state
        .auth
        .sign_in(&user, AuthMethod::Signup, &client)
        .await?;
    Ok(see_other(
        "/signup/credential",
        session_cookies(&state, &session),
    ))
}
