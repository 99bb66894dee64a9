//! CSRF protection for every state-changing request: a random token in a cookie that
//! must come back in the form (`csrf` field) or, from JavaScript, in `x-csrf-token`
//! (double submit). A request whose Origin is not ours is refused as well.

use axum::http::HeaderMap;

use super::WebError;
use super::cookies::{CSRF, CookiePolicy};
use crate::crypto::random_token;
use crate::crypto::secrets::constant_time_eq;

/// The token for the page being rendered, and a cookie to set if the browser had none.
pub struct CsrfToken {
    pub token: String,
    pub set_cookie: Option<String>,
}

pub fn token_for(policy: CookiePolicy, headers: &HeaderMap) -> CsrfToken {
    match policy.get(headers, CSRF).filter(|t| t.len() == 43) {
        Some(token) => CsrfToken {
            token,
            set_cookie: None,
        },
        None => {
            let token = random_token().expose().to_string();
            let set_cookie = Some(policy.set(CSRF, &token, None));
            CsrfToken { token, set_cookie }
        }
    }
}

/// Check a submitted token against the cookie, and the Origin header against ours.
pub fn verify(
    policy: CookiePolicy,
    headers: &HeaderMap,
    submitted: Option<&str>,
    app_origin: &str,
) -> Result<(), WebError> {
    if headers
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|origin| origin != app_origin)
    {
        return Err(WebError::Csrf);
    }
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
        return Err(WebError::Csrf);
    }
    let cookie = policy.get(headers, CSRF).ok_or(WebError::Csrf)?;
    let submitted = submitted
        .map(str::to_string)
        .or_else(|| {
            headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .ok_or(WebError::Csrf)?;
    if constant_time_eq(cookie.as_bytes(), submitted.as_bytes()) {
        Ok(())
    } else {
        Err(WebError::Csrf)
    }
}
