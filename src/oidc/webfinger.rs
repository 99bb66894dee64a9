//! WebFinger (RFC 7033) for OpenID Connect Discovery §2: `acct:ann@example.org` →
//! this issuer, for clients such as Tailscale that start from an email address.
//!
//! It answers only for enabled accounts, and only for the addresses the admin lets it
//! (`LATCHKEY_WEBFINGER`): by default those at the issuer's own domain, so that it
//! cannot be asked whether someone's private address has an account here.

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;
use crate::config::WebfingerMode;
use crate::store::Select;

pub const ISSUER_REL: &str = "http://openid.net/specs/connect/1.0/issuer";

fn jrd(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/jrd+json")],
        body.to_string(),
    )
        .into_response()
}

fn not_found() -> Response {
    jrd(StatusCode::NOT_FOUND, json!({"error": "no such account"}))
}

/// Is `domain` the issuer's host or a domain it is under (`example.org` for
/// `sso.example.org`)?
fn own_domain(domain: &str, issuer_host: &str) -> bool {
    let domain = domain.to_ascii_lowercase();
    domain.contains('.') && (issuer_host == domain || issuer_host.ends_with(&format!(".{domain}")))
}

pub async fn webfinger(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let mut resource = None;
    let mut rels = Vec::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "resource" if resource.is_none() => resource = Some(v.into_owned()),
            "resource" => {
                return jrd(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "resource is given twice"}),
                );
            }
            "rel" => rels.push(v.into_owned()),
            _ => {}
        }
    }
    let Some(resource) = resource.filter(|r| !r.is_empty() && r.len() <= 320) else {
        return jrd(
            StatusCode::BAD_REQUEST,
            json!({"error": "resource is required, e.g. acct:ann@example.org"}),
        );
    };
    let mode = state.config.webfinger;
    if mode == WebfingerMode::Off {
        return not_found();
    }
    let address = resource
        .strip_prefix("acct:")
        .or_else(|| resource.strip_prefix("mailto:"))
        .unwrap_or_default();
    let Some((_, domain)) = address.rsplit_once('@') else {
        return not_found();
    };
    if mode == WebfingerMode::OwnDomain && !own_domain(domain, state.config.app_url.host()) {
        return not_found();
    }
    let exists = match state.store.directory_snapshot().await {
        Ok(directory) => !directory
            .users(&Select::Email(address.to_string()))
            .is_empty(),
        Err(_) => return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response(),
    };
    if !exists {
        return not_found();
    }
    let links = if rels.is_empty() || rels.iter().any(|r| r == ISSUER_REL) {
        json!([{"rel": ISSUER_REL, "href": state.config.app_url.as_str()}])
    } else {
        json!([])
    };
    jrd(StatusCode::OK, json!({"subject": resource, "links": links}))
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_domain_is_the_issuers_host_or_a_parent_of_it() {
        use super::own_domain;
        assert!(own_domain("example.org", "sso.example.org"));
        assert!(own_domain("SSO.example.org", "sso.example.org"));
        assert!(!own_domain("gmail.com", "sso.example.org"));
        assert!(!own_domain("ample.org", "sso.example.org"));
        assert!(!own_domain("org", "sso.example.org"), "not a whole TLD");
    }
}
