//! The forward-auth check: what the proxy forwards in, a status and headers out.
//!
//! - `200` with `Remote-User`, `Remote-Groups`, `Remote-Name`, `Remote-Email`: let
//!   the request through (a public path: `200` without them).
//! - not signed in: forward-auth redirects a browser to the sign-in page (`302` for
//!   GET and HEAD, `303` otherwise) and answers `401` to a script; auth-request
//!   always answers `401` with `Location` (nginx redirects by itself).
//! - signed in, but too weakly or too long ago: the same, to the step-up.
//! - signed in and not allowed, or a host no application covers: `403` with the
//!   "no access" page.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::COOKIE;
use crate::app::AppState;
use crate::audit;
use crate::auth::{AuthError, Client};
use crate::crypto::hash_secret;
use crate::domain::access::Verdict;
use crate::domain::proxy_app::{Needs, ProxyApp, RemoteHeader};
use crate::domain::session::AuthMethod;
use crate::http::ClientInfo;
use crate::store::now;

/// The original request, as the proxy describes it.
#[derive(Debug)]
pub(super) struct Original {
    pub method: String,
    /// `https://app.example.org/path?query`.
    pub url: String,
    pub host: String,
    /// Path and query.
    pub uri: String,
}

/// Which endpoint answers: they differ only in how "sign in first" is said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    ForwardAuth,
    AuthRequest,
}

fn text_header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

impl Original {
    /// Traefik, Caddy, HAProxy: `X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri`.
    fn from_forwarded(headers: &HeaderMap) -> Result<Original, &'static str> {
        let host = text_header(headers, "x-forwarded-host").ok_or("X-Forwarded-Host is missing")?;
        // A list when several proxies appended to it: the first is the client's.
        let host = host.split(',').next().unwrap_or(host).trim();
        let proto = text_header(headers, "x-forwarded-proto")
            .map(|p| p.split(',').next().unwrap_or(p).trim())
            .unwrap_or("https");
        if !matches!(proto, "http" | "https") {
            return Err("X-Forwarded-Proto is neither http nor https");
        }
        let uri = text_header(headers, "x-forwarded-uri").unwrap_or("/");
        if !uri.starts_with('/') {
            return Err("X-Forwarded-Uri does not start with /");
        }
        let method = text_header(headers, "x-forwarded-method").unwrap_or("GET");
        Original::new(method, &format!("{proto}://{host}{uri}"))
    }

    /// nginx: `X-Original-Method` and `X-Original-URL`.
    fn from_original(headers: &HeaderMap) -> Result<Original, &'static str> {
        let url = text_header(headers, "x-original-url").ok_or("X-Original-URL is missing")?;
        let method = text_header(headers, "x-original-method").unwrap_or("GET");
        Original::new(method, url)
    }

    pub fn new(method: &str, url: &str) -> Result<Original, &'static str> {
        if url.len() > 4096 {
            return Err("the original URL is longer than 4096 bytes");
        }
        let parsed = url::Url::parse(url).map_err(|_| "the original URL is not a URL")?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err("the original URL is neither http nor https");
        }
        let host = parsed.host_str().ok_or("the original URL has no host")?;
        let host = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        // The path as the client sent it (not re-encoded): it is what is matched.
        let uri = match url
            .find("://")
            .and_then(|i| url[i + 3..].find('/').map(|j| i + 3 + j))
        {
            Some(start) => url[start..].to_string(),
            None => "/".to_string(),
        };
        Ok(Original {
            method: method.to_ascii_uppercase(),
            url: parsed.to_string(),
            host,
            uri,
        })
    }
}

pub async fn forward_auth(
    State(state): State<AppState>,
    info: ClientInfo,
    headers: HeaderMap,
) -> Response {
    match Original::from_forwarded(&headers) {
        Ok(original) => check(&state, &info, &headers, &original, Flavor::ForwardAuth).await,
        Err(why) => bad_request(why),
    }
}

pub async fn auth_request(
    State(state): State<AppState>,
    info: ClientInfo,
    headers: HeaderMap,
) -> Response {
    match Original::from_original(&headers) {
        Ok(original) => check(&state, &info, &headers, &original, Flavor::AuthRequest).await,
        Err(why) => bad_request(why),
    }
}

fn bad_request(why: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        format!(
            "{why}: this endpoint is for a reverse proxy's forward-auth check (see the README)\n"
        ),
    )
        .into_response()
}

/// Who made the request, if anyone: by the proxy cookie or, where the application
/// allows it, `Authorization: Basic` with an app password.
enum Caller {
    Session(crate::domain::session::Session),
    Basic(String),
    Nobody,
    /// Basic credentials that were wrong, or throttled.
    BasicRefused(AuthError),
}

async fn caller(
    state: &AppState,
    info: &ClientInfo,
    headers: &HeaderMap,
    app: &ProxyApp,
) -> Caller {
    if app.allow_basic
        && let Some(basic) = basic_credentials(headers)
    {
        let (username, password, header_hash) = basic;
        if let Some(user_id) = state.proxy.basic.get(&header_hash) {
            return Caller::Basic(user_id);
        }
        let client = Client {
            ip: info.ip,
            user_agent: info.user_agent.clone(),
            device_cookie: None,
        };
        return match state
            .auth
            .app_password_check(&username, &password, &client)
            .await
        {
            Ok(user) => {
                state.proxy.basic.put(header_hash, user.id.clone());
                Caller::Basic(user.id)
            }
            Err(e) => Caller::BasicRefused(e),
        };
    }
    let Some(value) = crate::web::CookiePolicy { secure: false }.get(headers, COOKIE) else {
        return Caller::Nobody;
    };
    match state
        .proxy
        .sessions
        .resolve(&state.store, &value, state.auth.idle_timeout())
        .await
    {
        Ok(Some(session)) => Caller::Session(session),
        Ok(None) => Caller::Nobody,
        Err(e) => {
            tracing::warn!(error = %e, "forward-auth could not read a session");
            Caller::Nobody
        }
    }
}

/// `Authorization: Basic` (any case) as username, password and a hash of the header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String, String)> {
    use base64::Engine;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = crate::http::credentials(value, "Basic")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    if user.is_empty() || user.len() > 256 || password.len() > 1024 {
        return None;
    }
    Some((user.to_string(), password.to_string(), hash_secret(value)))
}

async fn check(
    state: &AppState,
    info: &ClientInfo,
    headers: &HeaderMap,
    original: &Original,
    flavor: Flavor,
) -> Response {
    let snapshot = match state.store.directory_snapshot().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "forward-auth could not read the applications");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again in a moment\n").into_response();
        }
    };
    let Some(app) = snapshot.apps().for_host(&original.host) else {
        deny(state, info, None, None, original, "unknown_host").await;
        return no_access(state, None);
    };
    let access = match app.needs(&original.uri) {
        Needs::Nothing => return StatusCode::OK.into_response(),
        Needs::Access(access) => access,
    };
    let t = now();
    let (user_id, method, auth_time, basic) = match caller(state, info, headers, app).await {
        Caller::Session(s) => (s.user_id, s.auth_method, s.auth_time, false),
        // An app password is a password: it meets "any" and no stronger rule.
        Caller::Basic(user_id) => (user_id, AuthMethod::Password, t, true),
        Caller::BasicRefused(AuthError::RateLimited(wait)) => {
            let mut r = (StatusCode::TOO_MANY_REQUESTS, "too many attempts\n").into_response();
            if let Ok(v) = HeaderValue::from_str(&wait.max(1).to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return r;
        }
        Caller::BasicRefused(AuthError::Unavailable(_)) => {
            return (StatusCode::SERVICE_UNAVAILABLE, "try again in a moment\n").into_response();
        }
        Caller::BasicRefused(_) => return basic_challenge(),
        Caller::Nobody => return sign_in_first(state, original, flavor, headers, "/login"),
    };
    let Some(user) = snapshot.user(&user_id) else {
        // Disabled or deleted since: as if signed out.
        return sign_in_first(state, original, flavor, headers, "/login");
    };
    let groups = user.groups.iter().map(String::as_str);
    let reason = match access.judge(groups, method, auth_time, t) {
        Verdict::Allowed => return allowed(app, user),
        Verdict::NotInGroup => "not_in_group",
        // A `Basic` caller cannot sign in again.
        Verdict::TooWeak(_) | Verdict::TooOld if basic => "basic_too_weak",
        Verdict::TooWeak(_) | Verdict::TooOld => {
            step_up(state, info, &user.user.id, app, original).await;
            return sign_in_first(state, original, flavor, headers, "/proxy/return");
        }
    };
    deny(
        state,
        info,
        Some(&user.user.id),
        Some(app),
        original,
        reason,
    )
    .await;
    no_access(state, Some(app))
}

/// `200` and the headers the application wants about `user`.
fn allowed(app: &ProxyApp, user: &crate::store::DirUser) -> Response {
    let mut response = StatusCode::OK.into_response();
    let h = response.headers_mut();
    for wanted in &app.headers {
        let value = match wanted {
            RemoteHeader::User => user.user.username.clone(),
            RemoteHeader::Groups => user.groups.join(","),
            RemoteHeader::Name => user.user.display_name.clone(),
            RemoteHeader::Email => user.user.email.clone().unwrap_or_default(),
        };
        let name = HeaderName::from_static(match wanted {
            RemoteHeader::User => "remote-user",
            RemoteHeader::Groups => "remote-groups",
            RemoteHeader::Name => "remote-name",
            RemoteHeader::Email => "remote-email",
        });
        if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
            h.insert(name, v);
        }
    }
    response
}

fn basic_challenge() -> Response {
    let mut r = (StatusCode::UNAUTHORIZED, "wrong username or app password\n").into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Latchkey\", charset=\"UTF-8\""),
    );
    r
}

/// Does the original request come from a browser page (not a script)?
fn from_a_page(headers: &HeaderMap) -> bool {
    let xhr = headers
        .get("x-requested-with")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("xmlhttprequest"));
    let html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    html && !xhr
}

/// Send the browser to Latchkey's `page` (`/login` or, for a step-up,
/// `/proxy/return`) with `rd`; how depends on the endpoint.
fn sign_in_first(
    state: &AppState,
    original: &Original,
    flavor: Flavor,
    headers: &HeaderMap,
    page: &str,
) -> Response {
    let rd: String = url::form_urlencoded::byte_serialize(original.url.as_bytes()).collect();
    let location = state.config.app_url.join(&format!("{page}?rd={rd}"));
    let status = match flavor {
        Flavor::AuthRequest => StatusCode::UNAUTHORIZED,
        Flavor::ForwardAuth if !from_a_page(headers) => StatusCode::UNAUTHORIZED,
        Flavor::ForwardAuth if matches!(original.method.as_str(), "GET" | "HEAD") => {
            StatusCode::FOUND
        }
        Flavor::ForwardAuth => StatusCode::SEE_OTHER,
    };
    let mut r = (status, "sign in first\n").into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `403` with the "no access" page. A proxy such as Caddy or Traefik shows it at the
/// application's own host, where a relative `/static/app.css` would be the app's (and
/// refused by this very check): so every address on it is Latchkey's, and its CSP
/// allows Latchkey's origin for the stylesheet and pictures, and nothing else.
pub(super) fn no_access(state: &AppState, app: Option<&ProxyApp>) -> Response {
    let message = match app {
        Some(app) => format!(
            "Your account may not use {}. If you need it, ask your administrator to add you to one of its groups.",
            app.name
        ),
        None => "This address is not one of the applications this sign-in protects.".to_string(),
    };
    let origin = state.config.app_url.as_str();
    let page = NoAccessPage {
        app_name: state.app_name(),
        origin,
        message: &message,
    };
    let Ok(html) = page.render() else {
        return crate::web::error_page(StatusCode::FORBIDDEN, "No access", &message);
    };
    let csp = format!(
        "default-src 'none'; style-src {origin}; img-src {origin}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    let mut r = (StatusCode::FORBIDDEN, axum::response::Html(html)).into_response();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

#[derive(askama::Template)]
#[template(path = "proxy_no_access.html")]
struct NoAccessPage<'a> {
    app_name: String,
    origin: &'a str,
    message: &'a str,
}

/// Audit a denial (folded: one row a minute per reason, person and host) and log it.
pub(super) async fn deny(
    state: &AppState,
    info: &ClientInfo,
    user_id: Option<&str>,
    app: Option<&ProxyApp>,
    original: &Original,
    reason: &'static str,
) {
    let who = user_id.map_or_else(|| info.ip.to_string(), str::to_string);
    let path: String = original
        .uri
        .split('?')
        .next()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    let host: String = original.host.chars().take(200).collect();
    let details = json!({
        "reason": reason,
        "host": host,
        "path": path,
        "method": original.method,
        "app": app.map(|a| a.id.as_str()),
    });
    // An anonymous caller names the host itself: folded by address alone, so that
    // made-up host names cannot each be a row.
    let key_host = if user_id.is_some() {
        host
    } else {
        String::new()
    };
    record_folded(
        state,
        info,
        user_id,
        "proxy.access.denied",
        (reason, who, key_host),
        details,
    )
    .await;
}

/// Audit a step-up asked for (folded like denials).
pub(super) async fn step_up(
    state: &AppState,
    info: &ClientInfo,
    user_id: &str,
    app: &ProxyApp,
    original: &Original,
) {
    let host: String = original.host.chars().take(200).collect();
    let details = json!({"host": host, "app": app.id});
    record_folded(
        state,
        info,
        Some(user_id),
        "proxy.step_up",
        ("step_up", user_id.to_string(), host),
        details,
    )
    .await;
}

async fn record_folded(
    state: &AppState,
    info: &ClientInfo,
    user_id: Option<&str>,
    event: &'static str,
    key: (&'static str, String, String),
    details: serde_json::Value,
) {
    let origin = audit::Origin {
        actor_id: user_id.map(str::to_string),
        ip: Some(info.ip.to_string()),
        user_agent: info.user_agent.clone(),
    };
    match state.proxy.folded.note(key) {
        Some(folded) => {
            let mut details = details;
            details["folded_since_last_row"] = json!(folded);
            if let Err(e) = audit::record(&state.store, event, &origin, user_id, details).await {
                tracing::warn!(error = %e, event, "could not record a forward-auth event");
            }
        }
        None => tracing::info!(
            target: "audit",
            event,
            actor = user_id.unwrap_or("-"),
            ip = %info.ip,
            details = %details,
            "audit (folded into the next row)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_original_request_is_read_from_either_set_of_headers() {
        let o = Original::from_forwarded(&headers(&[
            ("x-forwarded-method", "post"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "App.example.org:8443, proxy.internal"),
            ("x-forwarded-uri", "/a/../b?x=%2F"),
        ]))
        .unwrap();
        assert_eq!(o.method, "POST");
        assert_eq!(o.host, "app.example.org:8443");
        assert_eq!(o.uri, "/a/../b?x=%2F");
        let o = Original::from_original(&headers(&[(
            "x-original-url",
            "http://grafana.example.org/d/abc?orgId=1",
        )]))
        .unwrap();
        assert_eq!(
            (o.method.as_str(), o.host.as_str()),
            ("GET", "grafana.example.org")
        );
        assert_eq!(o.uri, "/d/abc?orgId=1");
        assert_eq!(o.url, "http://grafana.example.org/d/abc?orgId=1");
        assert!(Original::from_forwarded(&headers(&[])).is_err());
        assert!(Original::from_original(&headers(&[("x-original-url", "ftp://a/")])).is_err());
        assert!(
            Original::from_forwarded(&headers(&[
                ("x-forwarded-host", "a.example.org"),
                ("x-forwarded-uri", "evil")
            ]))
            .is_err()
        );
    }

    #[test]
    fn scripts_get_401_and_pages_a_redirect() {
        assert!(from_a_page(&headers(&[(
            "accept",
            "text/html,application/xhtml+xml"
        )])));
        assert!(!from_a_page(&headers(&[("accept", "application/json")])));
        assert!(!from_a_page(&headers(&[
            ("accept", "text/html"),
            ("x-requested-with", "XMLHttpRequest")
        ])));
        assert!(!from_a_page(&headers(&[])));
    }

    #[test]
    fn basic_credentials_are_read_in_any_case() {
        let h = headers(&[("authorization", "bAsIc YWRhOmFiYy1kZWY6Z2hp")]);
        let (user, password, _) = basic_credentials(&h).unwrap();
        assert_eq!((user.as_str(), password.as_str()), ("ada", "abc-def:ghi"));
        assert!(basic_credentials(&headers(&[("authorization", "Bearer x")])).is_none());
        assert!(basic_credentials(&headers(&[("authorization", "Basic !!!")])).is_none());
    }
}
