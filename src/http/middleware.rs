//! The one middleware every request passes: request id, client info, security
//! headers and the request log line. One layer instead of four keeps the hot path short.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use super::ClientInfo;
use super::server::TlsConnection;
use crate::config::TrustedProxies;

/// The id of one request, echoed as `x-request-id` and in every log line about it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// What the middleware needs to know about the deployment.
#[derive(Debug, Clone)]
pub struct HttpPolicy {
    pub trusted_proxies: TrustedProxies,
    /// Send HSTS: the public URL is https.
    pub hsts: bool,
}

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

pub async fn common(
    State(policy): State<Arc<HttpPolicy>>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_acceptable_request_id(id))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let tls = req.extensions().get::<TlsConnection>().is_some();
    let client = ClientInfo::resolve(peer, tls, req.headers(), &policy.trusted_proxies);
    let method = req.method().clone();
    // The path only: query strings carry codes and tokens and are never logged.
    let path = redact_path(req.uri().path());
    let ip = client.ip;
    req.extensions_mut().insert(client);
    req.extensions_mut().insert(RequestId(request_id.clone()));

    let mut res = next.run(req).await;

    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(X_REQUEST_ID.clone(), v);
    }
    set_default(headers, header::CONTENT_SECURITY_POLICY, CSP);
    set_default(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set_default(headers, header::X_FRAME_OPTIONS, "DENY");
    // `no-referrer` would make browsers send `Origin: null` with our own forms.
    set_default(headers, header::REFERRER_POLICY, "same-origin");
    set_default(
        headers,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set_default(
        headers,
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=()",
    );
    set_default(headers, header::CACHE_CONTROL, "no-store");
    if policy.hsts {
        set_default(
            headers,
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000",
        );
    }

    let status = res.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        target: "http",
        request_id = %request_id,
        method = %method,
        path = %path,
        status,
        latency_ms = format_args!("{latency_ms:.2}"),
        ip = %ip,
        "request"
    );
    res
}

fn set_default(headers: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str) {
    headers
        .entry(name)
        .or_insert(HeaderValue::from_static(value));
}

/// A proxy's request id is kept when it is short and plain; anything else is replaced.
fn is_acceptable_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Replace path segments that look like bearer secrets (long random strings such as
/// login-link tokens) so that the request log never holds one.
pub fn redact_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if looks_like_secret(segment) {
            out.push_str("***");
        } else {
            out.push_str(segment);
        }
    }
    out
}

fn looks_like_secret(segment: &str) -> bool {
    segment.len() >= 24
        && segment.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'%' | b'.' | b'~' | b'=')
        })
        && uuid::Uuid::parse_str(segment).is_err()
        && !segment.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_paths_are_redacted() {
        assert_eq!(
            redact_path("/login/code/Zk3v9Q0xw2mX8YtR5uLp7aBcDeFgHiJkLmNoPqRsTuV"),
            "/login/code/***"
        );
        assert_eq!(redact_path("/healthz"), "/healthz");
        assert_eq!(
            redact_path("/.well-known/openid-configuration"),
            "/.well-known/openid-configuration"
        );
        assert_eq!(
            redact_path("/api/v1/users/0190b6b2-3c4d-7e8f-9a0b-1c2d3e4f5a6b"),
            "/api/v1/users/0190b6b2-3c4d-7e8f-9a0b-1c2d3e4f5a6b"
        );
    }

    #[test]
    fn request_ids_from_proxies_are_checked() {
        assert!(is_acceptable_request_id("abc-123"));
        assert!(!is_acceptable_request_id(""));
        assert!(!is_acceptable_request_id("a b"));
        assert!(!is_acceptable_request_id(&"x".repeat(65)));
    }
}
