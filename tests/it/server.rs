//! The HTTP server: health, headers, pages, setup link, TLS and graceful shutdown.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use latchkey::http::server::{ServeLimits, serve};

use crate::support::{TestServer, http};

#[tokio::test]
async fn healthz_reports_database_state() {
    let server = TestServer::start(&[]).await;
    let res = http().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok", "database": "ok"}));

    // With the database gone, the same endpoint says so with 503.
    server.running().state.store.close().await;
    let res = http().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_ne!(body["database"], "ok");
    server.stop().await;
}

#[tokio::test]
async fn every_response_has_security_headers_and_a_request_id() {
    let server = TestServer::start(&[]).await;
    for path in ["/", "/healthz", "/no/such/page", "/setup?token=nope"] {
        let res = http().get(server.url(path)).send().await.unwrap();
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert!(!h["x-request-id"].is_empty(), "{path}");
        assert!(
            h.get("strict-transport-security").is_none(),
            "no HSTS for an http:// public URL"
        );
    }
    // A sane request id from a proxy is kept; a hostile one is replaced.
    let res = http()
        .get(server.url("/healthz"))
        .header("x-request-id", "proxy-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "proxy-abc-123");
    let res = http()
        .get(server.url("/healthz"))
        .header("x-request-id", "a\"b c")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "a\"b c");
    server.stop().await;
}

#[tokio::test]
async fn landing_and_not_found_pages_are_friendly_html() {
    let server = TestServer::start(&[]).await;
    let res = http().get(server.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = res.text().await.unwrap();
    assert!(body.contains("Latchkey") && body.contains("<h1>"));
    crate::support::assert_no_inline_script(&body);

    let res = http()
        .get(server.url("/definitely/missing"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body = res.text().await.unwrap();
    assert!(body.contains("Page not found"));
    let css = http()
        .get(server.url("/static/app.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    server.stop().await;
}

#[tokio::test]
async fn setup_link_is_printed_valid_and_dies_once_an_admin_exists() {
    let server = TestServer::start(&[("LATCHKEY_APP_URL", "https://sso.example.org")]).await;
    let link = server
        .running()
        .setup_url
        .clone()
        .expect("no admin yet: a setup link");
    let token = link
        .strip_prefix("https://sso.example.org/setup?token=")
        .expect("absolute link on the app URL");
    assert!(token.len() >= 43, "at least 256 bits");

    let ok = http()
        .get(server.url(&format!("/setup?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        ok.text()
            .await
            .unwrap()
            .contains("Create the first administrator")
    );
    let wrong = http()
        .get(server.url("/setup?token=guessed"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    let missing = http().get(server.url("/setup")).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    // An admin created meanwhile (e.g. with the CLI) closes setup for good.
    let admin = latchkey::domain::user::NewUser {
        username: "root".into(),
        is_admin: true,
        ..Default::default()
    }
    .validate()
    .unwrap();
    server
        .running()
        .state
        .store
        .create_user(&admin)
        .await
        .unwrap();
    let closed = http()
        .get(server.url(&format!("/setup?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), 410);
    assert!(closed.text().await.unwrap().contains("Setup is complete"));
    server.stop().await;
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(800)).await;
            "finished"
        }),
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let limits = ServeLimits::from_config(&latchkey::config::Config::from_pairs(&[]).unwrap());
    let server = tokio::spawn(serve(listener, None, app, limits, async {
        let _ = stop_rx.await;
    }));
    let in_flight =
        tokio::spawn(async move { http().get(format!("http://{addr}/slow")).send().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop_tx.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // No new connections once shutdown has begun…
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed"
    );
    // …but the request that was already running completes normally.
    let res = in_flight
        .await
        .unwrap()
        .expect("in-flight request answered");
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "finished");
    server.await.unwrap();
}

#[tokio::test]
async fn native_https_serves_with_hsts() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = crate::support::test_pki(dir.path());
    let server = TestServer::start(&[
        ("LATCHKEY_APP_URL", "https://localhost:1411"),
        ("LATCHKEY_TLS_CERT_FILE", cert.to_str().unwrap()),
        ("LATCHKEY_TLS_KEY_FILE", key.to_str().unwrap()),
    ])
    .await;
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/healthz", server.running().addr.port());
    let res = client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    // Plain HTTP on the TLS port is not served.
    assert!(
        http()
            .get(url.replace("https", "http"))
            .send()
            .await
            .is_err()
    );
    server.stop().await;
}
