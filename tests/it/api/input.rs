//! Input that Schemathesis found the API mishandling: group display names the admin
//! console refuses. Each is a clear 422 that changes nothing.

use serde_json::{Value, json};

use super::{call, key_for, user};
use crate::support::TestServer;

fn assert_invalid(status: u16, problem: &Value, field: &str, what: &str) {
    assert_eq!(status, 422, "{what}: {problem}");
    assert!(
        problem["errors"][field].is_string(),
        "{what}: the problem names {field}: {problem}"
    );
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
