//! Proxied applications managed through the REST API and the CLI, and the start-up
//! check of the cookie domain.

use serde_json::json;

use super::*;
use crate::api::{call, key_for, user};
use crate::support::{latchkey, run, stderr, stdout};

#[tokio::test]
async fn the_api_creates_checks_changes_and_deletes_applications() {
    let server = server(&[]).await;
    let admin = user(&server, "root", true).await;
    let key = key_for(&server, &admin.id).await;
    let state = &server.running().state;
    state.store.create_group("media", "Media").await.unwrap();
    let (status, created, _) = call(
        &server,
        "POST",
        "/api/v1/proxy-apps",
        Some(&key),
        Some(json!({
            "name": "Sonarr", "hosts": ["Sonarr.example.test", "*.media.example.test"],
            "groups": ["media"], "require": "two-factor", "public_paths": ["/ping"],
            "max_age_hours": 12
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["hosts"],
        json!(["sonarr.example.test", "*.media.example.test"])
    );
    assert_eq!(created["access"]["require"], "two-factor");
    assert_eq!(created["access"]["max_age"], 12 * 3600);
    assert_eq!(created["headers"].as_array().unwrap().len(), 4);
    let id = created["id"].as_str().unwrap().to_string();

    // Invalid input is a 422 naming the field, and changes nothing.
    for (body, field) in [
        (
            json!({"name": "X", "hosts": ["a.example.test:8080"]}),
            "hosts",
        ),
        (json!({"name": "X", "hosts": ["*.test"]}), "hosts"),
        (
            json!({"name": "X", "hosts": ["x.example.test"], "groups": ["nobody"]}),
            "groups",
        ),
        (
            json!({"name": "X", "hosts": ["x.example.test"], "public_paths": ["/a/../b"]}),
            "public_paths",
        ),
        (
            json!({"name": "X", "hosts": ["x.example.test"], "launch_url": "https://evil.example/"}),
            "launch_url",
        ),
    ] {
        let (status, problem, _) = call(
            &server,
            "POST",
            "/api/v1/proxy-apps",
            Some(&key),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert!(problem["errors"][field].is_string(), "{problem}");
    }
    // A host another application covers is a conflict.
    let (status, _, _) = call(
        &server,
        "POST",
        "/api/v1/proxy-apps",
        Some(&key),
        Some(json!({"name": "Other", "hosts": ["sonarr.example.test"]})),
    )
    .await;
    assert_eq!(status, 409);
    let (_, list, _) = call(&server, "GET", "/api/v1/proxy-apps", Some(&key), None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // A change is seen by the very next check.
    let b = Browser::new(&server.base, APP);
    assert_eq!(
        forward_auth(&b, "GET", "http://sonarr.example.test/ping", HTML)
            .await
            .status,
        200
    );
    let (status, changed, _) = call(
        &server,
        "PATCH",
        &format!("/api/v1/proxy-apps/{id}"),
        Some(&key),
        Some(json!({"public_paths": [], "max_age_hours": 0})),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert!(changed["access"].get("max_age").is_none(), "{changed}");
    assert_eq!(
        forward_auth(&b, "GET", "http://sonarr.example.test/ping", HTML)
            .await
            .status,
        302
    );
    let (status, shown, _) = call(
        &server,
        "GET",
        "/api/v1/proxy-apps/sonarr",
        Some(&key),
        None,
    )
    .await;
    assert_eq!((status, shown["id"].as_str()), (200, Some(id.as_str())));
    // Not an administrator: refused.
    let plain = user(&server, "pat", false).await;
    let plain_key = key_for(&server, &plain.id).await;
    let (status, _, _) = call(&server, "GET", "/api/v1/proxy-apps", Some(&plain_key), None).await;
    assert_eq!(status, 403);
    let (status, _, _) = call(
        &server,
        "DELETE",
        &format!("/api/v1/proxy-apps/{id}"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        forward_auth(&b, "GET", "http://sonarr.example.test/", HTML)
            .await
            .status,
        403
    );
    let events: Vec<String> = state
        .store
        .list_audit(&latchkey::store::AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.event)
        .filter(|e| e.starts_with("proxy_app."))
        .collect();
    assert_eq!(
        events,
        [
            "proxy_app.deleted",
            "proxy_app.updated",
            "proxy_app.created"
        ]
    );
    server.stop().await;
}

#[test]
fn the_cli_manages_applications_with_the_same_rules() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("LATCHKEY_APP_URL", APP)];
    let created = run(latchkey(dir.path(), &env).args([
        "proxy-apps",
        "create",
        "--name",
        "Grafana",
        "--host",
        "grafana.example.test",
        "--require",
        "passkey",
        "--public-path",
        "/api/health",
    ]));
    assert!(created.status.success(), "{}", stderr(&created));
    let app: serde_json::Value = serde_json::from_str(&stdout(&created)).unwrap();
    assert_eq!(app["access"]["require"], "passkey");
    assert_eq!(app["public_paths"], json!(["/api/health"]));
    let bad = run(latchkey(dir.path(), &env).args([
        "proxy-apps",
        "create",
        "--name",
        "Bad",
        "--host",
        "bad.example.test",
        "--group",
        "nobody",
    ]));
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("no group named `nobody`"),
        "{}",
        stderr(&bad)
    );
    let updated = run(latchkey(dir.path(), &env).args([
        "proxy-apps",
        "update",
        "grafana",
        "--require",
        "two-factor",
        "--max-age-hours",
        "8",
    ]));
    assert!(updated.status.success(), "{}", stderr(&updated));
    let shown = run(latchkey(dir.path(), &env).args(["proxy-apps", "show", "Grafana"]));
    let app: serde_json::Value = serde_json::from_str(&stdout(&shown)).unwrap();
    assert_eq!(app["access"]["require"], "two-factor");
    assert_eq!(app["access"]["max_age"], 8 * 3600);
    assert_eq!(app["public_paths"], json!(["/api/health"]), "kept");
    let list = run(latchkey(dir.path(), &env).args(["proxy-apps", "list"]));
    let apps: serde_json::Value = serde_json::from_str(&stdout(&list)).unwrap();
    assert_eq!(apps.as_array().unwrap().len(), 1);
    let deleted = run(latchkey(dir.path(), &env).args(["proxy-apps", "delete", "grafana"]));
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    let list = run(latchkey(dir.path(), &env).args(["proxy-apps", "list"]));
    assert_eq!(stdout(&list).trim(), "[]");
}

#[test]
fn a_cookie_domain_that_does_not_contain_the_public_host_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(latchkey(
        dir.path(),
        &[
            ("LATCHKEY_APP_URL", "https://sso.example.org"),
            ("LATCHKEY_PROXY_COOKIE_DOMAIN", "example.net"),
        ],
    )
    .arg("serve"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("LATCHKEY_PROXY_COOKIE_DOMAIN"),
        "{}",
        stderr(&out)
    );
}
