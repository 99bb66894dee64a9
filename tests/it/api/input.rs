//! Input that Schemathesis found the API mishandling: text with a NUL character (a 503
//! on PostgreSQL, which cannot store one) and group display names the admin console
//! refuses. Each is a clear 422 (or 404 for a path) that changes nothing.

use latchkey::store::ClaimOwner;
use serde_json::{Value, json};

use super::{call, key_for, user};
use crate::support::{TestServer, drop_postgres_schema, new_postgres_schema};

/// Run `check` against a server on SQLite, then on PostgreSQL.
async fn on_both_backends<F, Fut>(check: F)
where
    F: Fn(TestServer) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    check(TestServer::start(&[]).await).await;
    let (url, schema) = new_postgres_schema().await;
    check(TestServer::start(&[("LATCHKEY_DATABASE_URL", &url)]).await).await;
    drop_postgres_schema(&schema).await;
}

fn assert_invalid(status: u16, problem: &Value, field: &str, what: &str) {
    assert_eq!(status, 422, "{what}: {problem}");
    assert!(
        problem["errors"][field].is_string(),
        "{what}: the problem names {field}: {problem}"
    );
}

#[tokio::test]
async fn text_with_a_nul_character_is_refused_and_changes_nothing() {
    on_both_backends(|server| async move {
        let admin = user(&server, "root", true).await;
        let key = key_for(&server, &admin.id).await;
        let claim = format!("/api/v1/users/{}/claims/team", admin.id);

        // In a JSON body (the escape `\u0000`), here a claim value and a group's name.
        let (s, p, ctype) = call(&server, "PUT", &claim, Some(&key), Some(json!({"value": "a\u{0}b"}))).await;
        assert_invalid(s, &p, "value", "a claim value with a NUL");
        assert_eq!(ctype, "application/problem+json");
        let store = &server.running().state.store;
        let set = store.custom_claim(ClaimOwner::User(&admin.id), "team").await.unwrap();
        assert_eq!(set, None, "no claim was set");
        let (s, p, _) = call(
            &server,
            "POST",
            "/api/v1/groups",
            Some(&key),
            Some(json!({"name": "ci\u{0}", "display_name": "CI"})),
        )
        .await;
        assert_invalid(s, &p, "name", "a group name with a NUL");
        let (_, groups, _) = call(&server, "GET", "/api/v1/groups", Some(&key), None).await;
        assert_eq!(groups["items"], json!([]), "no group was made: {groups}");
        // Deeper in the body: the field is named with its place.
        let (s, p, _) = call(
            &server,
            "POST",
            "/api/v1/clients",
            Some(&key),
            Some(json!({"name": "App", "redirect_uris": ["https://app.example.org/cb", "https://app.example.org/\u{0}"]})),
        )
        .await;
        assert_invalid(s, &p, "redirect_uris[1]", "a redirect URI with a NUL");
        let (_, clients, _) = call(&server, "GET", "/api/v1/clients", Some(&key), None).await;
        assert_eq!(clients["items"], json!([]), "no client was made");

        // In a query string.
        for (path, param) in [
            ("/api/v1/audit?actor=%00", "actor"),
            ("/api/v1/audit?event=auth.login&user=x%00y", "user"),
            ("/api/v1/users?after=a%00", "after"),
        ] {
            let (s, p, _) = call(&server, "GET", path, Some(&key), None).await;
            assert_invalid(s, &p, param, path);
        }

        // In the path: it names nothing.
        for (method, path) in [
            ("GET", "/api/v1/groups/%00".to_string()),
            ("DELETE", format!("/api/v1/users/{}/claims/te%00am", admin.id)),
            ("DELETE", "/api/v1/groups/x%00/members/y".to_string()),
        ] {
            let (s, p, ctype) = call(&server, method, &path, Some(&key), None).await;
            assert_eq!((s, ctype.as_str()), (404, "application/problem+json"), "{method} {path}: {p}");
        }
        // A literal backslash-u is text like any other.
        let (s, _, _) = call(&server, "PUT", &claim, Some(&key), Some(json!({"value": "\\u0000"}))).await;
        assert_eq!(s, 204);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_group_display_name_follows_the_consoles_rules() {
    let server = TestServer::start(&[]).await;
    let admin = user(&server, "root", true).await;
    let key = key_for(&server, &admin.id).await;
    let (s, ops, _) = call(
        &server,
        "POST",
        "/api/v1/groups",
        Some(&key),
        Some(json!({"name": "ops"})),
    )
    .await;
    assert_eq!(s, 201);
    let ops_path = format!("/api/v1/groups/{}", ops["id"].as_str().unwrap());
    for bad in ["x".repeat(101), "Ops\nTeam".into(), "Ops\u{7}".into()] {
        let (s, p, _) = call(
            &server,
            "POST",
            "/api/v1/groups",
            Some(&key),
            Some(json!({"name": "dev", "display_name": bad})),
        )
        .await;
        assert_invalid(s, &p, "display_name", "creating");
        let (s, p, _) = call(
            &server,
            "PUT",
            &ops_path,
            Some(&key),
            Some(json!({"name": "ops", "display_name": bad})),
        )
        .await;
        assert_invalid(s, &p, "display_name", "renaming");
    }
    let (_, groups, _) = call(&server, "GET", "/api/v1/groups", Some(&key), None).await;
    let names: Vec<(&str, &str)> = groups["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["name"].as_str().unwrap(),
                g["display_name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(names, [("ops", "ops")], "nothing was made or renamed");
    // A hundred characters (not bytes) is still a name.
    let (s, g, _) = call(
        &server,
        "PUT",
        &ops_path,
        Some(&key),
        Some(json!({"name": "ops", "display_name": "é".repeat(100)})),
    )
    .await;
    assert_eq!(s, 200, "{g}");
    server.stop().await;
}
