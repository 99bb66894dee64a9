//! App passwords in the browser: what a user binds to LDAP with. Listed, made and
//! revoked on `/account/security` by the user (making one, a new credential, needs a
//! sign-in within five minutes), and on the admin user page by an administrator.
//! The secret is shown once, on the page that made it. The rules are `auth::ldap`'s.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::login::auth_client;
use super::{Chrome, Page, SignedIn, WebError, see_other};
use crate::app::AppState;
use crate::audit::Origin;
use crate::auth::AuthError;
use crate::auth::ldap as rules;
use crate::domain::user::User;
use crate::http::ClientInfo;
use crate::ldap::entry::Tree;
use crate::store::{AppPassword, StoreError, now};
use crate::web::security::{last_use, when};

const HERE: &str = "/account/security";
const REAUTH: &str = "/account/reauth?next=%2Faccount%2Fsecurity";

/// The lifetimes offered, as (form value, label); the first is "until revoked".
pub const EXPIRY_CHOICES: &[(&str, &str)] = &[
    ("", "Never (until revoked)"),
    ("30d", "30 days"),
    ("90d", "90 days"),
    ("365d", "1 year"),
];

/// One app password as the lists show it.
pub struct AppPasswordView {
    pub id: String,
    pub name: String,
    pub created: String,
    pub expires: String,
    pub last_used: String,
    pub status: &'static str,
    pub live: bool,
}

/// `user_id`'s app passwords, newest first, for a list.
pub async fn views(state: &AppState, user_id: &str) -> Result<Vec<AppPasswordView>, WebError> {
    let t = now();
    Ok(state
        .store
        .list_app_passwords(user_id)
        .await?
        .into_iter()
        .map(|p: AppPassword| {
            let (status, live) = match (p.revoked_at, p.expires_at.is_some_and(|at| at <= t)) {
                (Some(_), _) => ("revoked", false),
                (None, true) => ("expired", false),
                (None, false) => ("active", true),
            };
            AppPasswordView {
                created: when(p.created_at),
                expires: p.expires_at.map(when).unwrap_or_else(|| "never".into()),
                last_used: last_use(p.last_used_at, p.last_used_ip),
                id: p.id,
                name: p.name,
                status,
                live,
            }
        })
        .collect())
}

/// The bind DN of `user`, as clients type it.
pub fn bind_dn(state: &AppState, user: &User) -> String {
    Tree::new(state.config.ldap_base(), String::new())
        .people
        .child("uid", &user.username)
        .to_string()
}

#[derive(Deserialize)]
pub struct AppPasswordForm {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    expires: String,
}

impl AppPasswordForm {
    pub fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

#[derive(Template)]
#[template(path = "app_password_created.html")]
struct CreatedPage<'a> {
    chrome: &'a Chrome,
    /// Shown inside the admin console (with its navigation) when made by an admin.
    admin: bool,
    section: &'static str,
    owner: &'a str,
    name: &'a str,
    bind_dn: String,
    expires: String,
    secret: &'a str,
    back: String,
}

/// Why a form's app password was not made, as a `?error=` code of the page it came from.
pub enum Refused {
    Name,
    Expiry,
}

impl Refused {
    pub fn code(&self) -> &'static str {
        match self {
            Refused::Name => "app_password_name",
            Refused::Expiry => "app_password_expiry",
        }
    }
}

/// Make an app password from a form; on success the page that shows it once.
pub async fn create_from_form(
    state: &AppState,
    page: &Page,
    owner: &User,
    form: &AppPasswordForm,
    origin: &Origin,
    admin: bool,
    back: String,
) -> Result<Result<Response, Refused>, WebError> {
    let Some((choice, _)) = EXPIRY_CHOICES.iter().find(|(v, _)| *v == form.expires) else {
        return Ok(Err(Refused::Expiry));
    };
    let lifetime = humantime::parse_duration(choice)
        .ok()
        .map(|d| d.as_secs() as i64);
    let (row, secret) =
        match rules::create_app_password(&state.store, owner, &form.name, lifetime, origin).await {
            Ok(made) => made,
            Err(AuthError::Invalid(_)) => return Ok(Err(Refused::Name)),
            Err(e) => return Err(e.into()),
        };
    Ok(Ok(page.render(
        StatusCode::OK,
        &CreatedPage {
            chrome: &page.chrome,
            admin,
            section: "users",
            owner: &owner.username,
            name: &row.name,
            bind_dn: bind_dn(state, owner),
            expires: row.expires_at.map(when).unwrap_or_else(|| "never".into()),
            secret: &secret,
            back,
        },
    )))
}

/// Revoke `id` of `owner`'s app passwords; `false` when it is not theirs or not live.
pub async fn revoke_of(
    state: &AppState,
    owner: &User,
    id: &str,
    origin: &Origin,
) -> Result<bool, WebError> {
    match rules::revoke_app_password(&state.store, owner, id, origin).await {
        Ok(()) => Ok(true),
        Err(AuthError::Store(StoreError::NotFound)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// `POST /account/app-passwords`: the signed-in user makes one for themself.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    signed_in: SignedIn,
    Form(form): Form<AppPasswordForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    if !signed_in.is_recent() {
        return Ok(see_other(REAUTH, []));
    }
    let origin = auth_client(&state, &headers, &info).origin(Some(&signed_in.user.id));
    let page = Page::for_user(&state, &headers, &signed_in);
    let back = format!("{HERE}#app-passwords");
    match create_from_form(&state, &page, &signed_in.user, &form, &origin, false, back).await? {
        Ok(shown) => Ok(shown),
        Err(refused) => Ok(see_other(
            &format!("{HERE}?error={}#app-passwords", refused.code()),
            [],
        )),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

/// `POST /account/app-passwords/{id}/revoke`: taking access away needs no re-auth.
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    super::verify_csrf(&state, &headers, form.csrf.as_deref())?;
    let origin = auth_client(&state, &headers, &info).origin(Some(&signed_in.user.id));
    let code = if revoke_of(&state, &signed_in.user, &id, &origin).await? {
        "done=app_password_revoked"
    } else {
        "error=not_found"
    };
    Ok(see_other(&format!("{HERE}?{code}#app-passwords"), []))
}
