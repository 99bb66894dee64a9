//! Forward-auth: a reverse proxy (Traefik, Caddy, HAProxy, nginx) asks on every
//! request to a proxied application "may this person see this?", and Latchkey
//! answers from its own sessions, groups and passkeys.
//!
//! - `check.rs`: the two endpoints, compatible with Authelia's
//!   (`/api/authz/forward-auth`, `/api/authz/auth-request`).
//! - `sessions.rs`: the proxy cookie and the sessions behind it, from memory.
//! - `pages.rs`: where the sign-in page sends a person back to the application
//!   (issuing the proxy cookie, or asking for a stronger sign-in), and the
//!   "no access" page.
//!
//! Who may use which application is the rule of `domain::access`, the one the OIDC
//! side asks too; the applications are read with the directory from memory
//! (`store::snapshot`), so a check costs no database round trip.

pub mod apps;
mod check;
mod pages;
mod sessions;

use axum::Router;
use axum::routing::get;

pub use pages::step_up_notice;
pub use sessions::ProxySessions;

use crate::app::AppState;
use crate::audit::Folding;

/// The proxy cookie's name. Never `__Host-`: it carries a `Domain`.
pub const COOKIE: &str = "latchkey_proxy";

/// What forward-auth keeps in memory.
#[derive(Default)]
pub struct Proxy {
    pub sessions: ProxySessions,
    /// Denials and step-ups by (event, who, host): a browser retrying a page it may
    /// not see is one audit row a minute, not one per request.
    folded: Folding<(&'static str, String, String)>,
    /// `Basic` callers recently checked: (hash of the header, when) → user id.
    basic: sessions::BasicCache,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").finish_non_exhaustive()
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/authz/forward-auth", get(check::forward_auth))
        .route("/api/authz/auth-request", get(check::auth_request))
        .route("/proxy/return", get(pages::back_to_app))
        .route("/proxy/denied", get(pages::denied))
}

/// Is `rd` an address a proxied application covers (so that sending a browser there
/// is no open redirect)? Returns the URL as parsed.
pub async fn accepted_rd(state: &AppState, rd: &str) -> Option<url::Url> {
    if rd.len() > 2000 {
        return None;
    }
    let url = url::Url::parse(rd).ok()?;
    if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() {
        return None;
    }
    let host = url.host_str()?;
    let snapshot = state.store.directory_snapshot().await.ok()?;
    snapshot.apps().for_host(host)?;
    Some(url)
}
