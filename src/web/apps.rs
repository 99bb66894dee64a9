//! `/account/apps` (the applications a user may open, OIDC clients and proxied
//! applications alike, and the ones they allowed) and
//! `/account/activity` (their own recent security events).

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::pictures::client_owner;
use super::{Chrome, Page, SignedIn, WebError, when};
use crate::app::AppState;

/// One tile: a client with a launch URL that the user may use.
struct Tile {
    name: String,
    launch_url: String,
    /// The logo's address, or none for a letter tile.
    logo: Option<String>,
    initial: String,
}

/// The letter of a tile without a logo.
fn initial(name: &str) -> String {
    name.chars()
        .find(|ch| ch.is_alphanumeric())
        .map(|ch| ch.to_uppercase().collect())
        .unwrap_or_else(|| "?".into())
}

struct Allowed {
    client_id: String,
    name: String,
    scope: String,
    granted: String,
}

#[derive(Template)]
#[template(path = "account_apps.html")]
struct AppsPage<'a> {
    chrome: &'a Chrome,
    tiles: Vec<Tile>,
    allowed: Vec<Allowed>,
}

pub async fn apps(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
) -> Result<Response, WebError> {
    let user = &signed_in.user;
    let groups = state.store.groups_of_user(&user.id).await?;
    let logos = state.store.image_etags("client:").await?;
    let tiles = state
        .store
        .list_clients()
        .await?
        .into_iter()
        .filter(|c| c.admits(groups.iter().map(|g| g.name.as_str())))
        .filter_map(|c| {
            let launch_url = c.launch_url.clone().filter(|u| !u.is_empty())?;
            Some(Tile {
                logo: logos
                    .get(&client_owner(&c.id))
                    .map(|v| format!("/pictures/clients/{}?v={v}", c.id)),
                initial: initial(&c.name),
                name: c.name,
                launch_url,
            })
        })
        .collect::<Vec<_>>();
    // Proxied applications that admit the user at their root (their own rule).
    let scheme = if state.config.app_url.is_https() {
        "https"
    } else {
        "http"
    };
    let snapshot = state.store.directory_snapshot().await?;
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    let mut tiles = tiles;
    for app in snapshot.apps().all() {
        let admitted = crate::domain::access::admits(&app.access.groups, names.iter().copied());
        if let (true, Some(launch_url)) = (admitted, app.launch_url(scheme)) {
            tiles.push(Tile {
                logo: None,
                initial: initial(&app.name),
                name: app.name.clone(),
                launch_url,
            });
        }
    }
    tiles.sort_by_key(|t| t.name.to_lowercase());
    let allowed = state
        .store
        .consents_of_user(&user.id)
        .await?
        .into_iter()
        .map(|(client_id, name, scope, granted_at)| Allowed {
            client_id,
            name,
            scope,
            granted: when(granted_at),
        })
        .collect();
    let page = Page::for_user(&state, &headers, &signed_in);
    Ok(page.render(
        StatusCode::OK,
        &AppsPage {
            chrome: &page.chrome,
            tiles,
            allowed,
        },
    ))
}

struct Event {
    when: String,
    what: String,
    from: String,
}

#[derive(Template)]
#[template(path = "account_activity.html")]
struct ActivityPage<'a> {
    chrome: &'a Chrome,
    events: Vec<Event>,
}

/// The most recent events shown.
const RECENT: i64 = 50;

pub async fn activity(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
) -> Result<Response, WebError> {
    let events = state
        .store
        .audit_of_user(&signed_in.user.id, RECENT)
        .await?
        .into_iter()
        .map(|r| Event {
            when: when(r.created_at),
            what: describe(&r.event, &r.details),
            from: [
                r.ip.unwrap_or_default(),
                crate::auth::device::describe(r.user_agent.as_deref()),
            ]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" · "),
        })
        .collect();
    let page = Page::for_user(&state, &headers, &signed_in);
    Ok(page.render(
        StatusCode::OK,
        &ActivityPage {
            chrome: &page.chrome,
            events,
        },
    ))
}

/// Words for an event a person reads about themself.
fn describe(event: &str, details: &serde_json::Value) -> String {
    let method = details
        .get("method")
        .and_then(|m| m.as_str())
        .unwrap_or_default();
    let client = details
        .get("client_id")
        .and_then(|c| c.as_str())
        .unwrap_or_default();
    match event {
        "auth.login.succeeded" => format!("Signed in ({})", method.replace('_', " ")),
        "auth.login.failed" => format!("A sign-in failed ({})", method.replace('_', " ")),
        "auth.rate_limited" => "Sign-in attempts were slowed down".into(),
        "auth.logout" | "session.ended" => "Signed out".into(),
        "oidc.consent.granted" => format!("Allowed an application ({client})"),
        "oidc.consent.revoked" => format!("Withdrew an application's access ({client})"),
        "oidc.consent.declined" => format!("Declined an application ({client})"),
        "oidc.authorize.denied" => format!("An application was refused ({client})"),
        "user.signed_up" => "Created this account".into(),
        "api_key.created" => "An API key was made".into(),
        "api_key.revoked" => "An API key was revoked".into(),
        "user.picture.updated" => "Changed the profile picture".into(),
        "user.picture.removed" => "Removed the profile picture".into(),
        other => other.replace(['.', '_'], " "),
    }
}
