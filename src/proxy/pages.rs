//! Back to the application after signing in, and the "no access" page.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::COOKIE;
use super::check::{Original, deny, no_access, step_up};
use crate::app::AppState;
use crate::audit;
use crate::crypto::random_token;
use crate::domain::access::{Strength, Verdict};
use crate::domain::proxy_app::Needs;
use crate::http::ClientInfo;
use crate::store::now;
use crate::web::{SignedIn, WebError, error_page, see_other};

#[derive(Deserialize)]
pub struct Rd {
    rd: Option<String>,
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn not_an_application() -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "This address is not protected here",
        "The link you followed leads to an address that none of the applications behind this sign-in covers, so you are not sent there.",
    )
}

/// The `Set-Cookie` value of a proxy cookie for the domain.
fn proxy_cookie(state: &AppState, domain: &str, value: &str) -> String {
    let mut c = format!(
        "{COOKIE}={value}; Domain={domain}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
        state.settings().session_lifetime
    );
    if state.config.app_url.is_https() {
        c.push_str("; Secure");
    }
    c
}

/// `/proxy/return?rd=URL`: the signed-in person is sent back to `rd` with a proxy
/// cookie, or to the sign-in page for a stronger or fresher sign-in, or shown the
/// "no access" page. The login page with `rd` lands here after any sign-in.
pub async fn back_to_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    signed_in: SignedIn,
    Query(q): Query<Rd>,
) -> Result<Response, WebError> {
    let Some(url) = super::accepted_rd(&state, q.rd.as_deref().unwrap_or_default()).await else {
        return Ok(not_an_application());
    };
    let Some(domain) = &state.config.proxy_cookie_domain else {
        tracing::warn!(
            event = "proxy.not_configured",
            "a browser came back for a proxied application, but LATCHKEY_PROXY_COOKIE_DOMAIN is not set"
        );
        return Ok(error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in for this application is not set up",
            "The administrator has to set LATCHKEY_PROXY_COOKIE_DOMAIN so that the application can see your sign-in.",
        ));
    };
    let host = url.host_str().unwrap_or_default();
    if !domain.covers(host) {
        return Ok(error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in for this application is not set up",
            &format!(
                "{host} is not under {}, the domain the sign-in cookie is issued for. The administrator can add the application under that domain.",
                domain.0
            ),
        ));
    }
    let Ok(original) = Original::new("GET", url.as_str()) else {
        return Ok(not_an_application());
    };
    let snapshot = state.store.directory_snapshot().await?;
    let Some(app) = snapshot.apps().for_host(host) else {
        return Ok(not_an_application());
    };
    let here = format!("/proxy/return?rd={}", encode(url.as_str()));
    if let Needs::Access(access) = app.needs(&original.uri) {
        let groups = snapshot
            .user(&signed_in.user.id)
            .map(|u| u.groups.clone())
            .unwrap_or_default();
        let s = &signed_in.session;
        match access.judge(
            groups.iter().map(String::as_str),
            s.auth_method,
            s.auth_time,
            now(),
        ) {
            Verdict::Allowed => {}
            Verdict::NotInGroup => {
                deny(
                    &state,
                    &info,
                    Some(&signed_in.user.id),
                    Some(app),
                    &original,
                    "not_in_group",
                )
                .await;
                return Ok(no_access(&state, Some(app)));
            }
            Verdict::TooWeak(strength) => {
                step_up(&state, &info, &signed_in.user.id, app, &original).await;
                return Ok(see_other(
                    &format!(
                        "/login?reauth=1&require={}&next={}",
                        strength.as_str(),
                        encode(&here)
                    ),
                    [],
                ));
            }
            Verdict::TooOld => {
                step_up(&state, &info, &signed_in.user.id, app, &original).await;
                return Ok(see_other(
                    &format!("/login?reauth=1&next={}", encode(&here)),
                    [],
                ));
            }
        }
    }
    // The proxy cookie this browser has may be this session's already.
    let current = match (crate::web::CookiePolicy { secure: false }).get(&headers, COOKIE) {
        Some(value) => state
            .proxy
            .sessions
            .resolve(&state.store, &value, state.auth.idle_timeout())
            .await?
            .filter(|s| s.id_hash == signed_in.session.id_hash),
        None => None,
    };
    let mut cookies = Vec::new();
    if current.is_none() {
        let token = random_token();
        state
            .store
            .set_session_proxy_hash(&signed_in.session.id_hash, &token.hash())
            .await?;
        cookies.push(proxy_cookie(&state, &domain.0, token.expose()));
        audit::record(
            &state.store,
            "proxy.signin",
            &audit::Origin {
                actor_id: Some(signed_in.user.id.clone()),
                ip: Some(info.ip.to_string()),
                user_agent: info.user_agent.clone(),
            },
            Some(&signed_in.user.id),
            json!({"app": app.id, "host": host, "method": signed_in.session.auth_method.as_str()}),
        )
        .await?;
    }
    Ok(see_other(url.as_str(), cookies))
}

/// `/proxy/denied?rd=URL`: where a proxy may send a `403` (nginx's `error_page`).
pub async fn denied(State(state): State<AppState>, Query(q): Query<Rd>) -> Response {
    let app = match super::accepted_rd(&state, q.rd.as_deref().unwrap_or_default()).await {
        Some(url) => match state.store.directory_snapshot().await {
            Ok(snapshot) => snapshot
                .apps()
                .for_host(url.host_str().unwrap_or_default())
                .cloned(),
            Err(_) => None,
        },
        None => None,
    };
    no_access(&state, app.as_ref())
}

/// What the sign-in page tells a person asked for a stronger sign-in.
pub fn step_up_notice(require: Strength) -> String {
    format!(
        "The application you are opening needs {}. Please sign in with it.",
        require.describe()
    )
}
