//! The REST API: API-key authentication, admin-only resources, user CRUD, keys.

mod access;
mod audit;
mod clients;
mod input;
mod openapi;

use latchkey::audit::Origin;
use latchkey::domain::user::NewUser;
use serde_json::{Value, json};

use crate::support::{TestServer, http, latchkey, run, stdout};

pub async fn user(server: &TestServer, name: &str, admin: bool) -> latchkey::domain::user::User {
    let new = NewUser {
        username: name.into(),
        email: Some(format!("{name}@example.org")),
        is_admin: admin,
        ..NewUser::default()
    };
    server
        .running()
        .state
        .store
        .create_user(&new.validate().unwrap())
        .await
        .unwrap()
}

pub async fn key_for(server: &TestServer, user_id: &str) -> String {
    let (_, secret) = latchkey::api::issue_api_key(
        &server.running().state.store,
        user_id,
        "test",
        3600,
        &Origin::cli(),
    )
    .await
    .unwrap();
    secret
}

/// One request: (status, JSON body or null, content type).
pub async fn call(
    server: &TestServer,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, String) {
    let mut req = http().request(method.parse().unwrap(), server.url(path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let ctype = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        ctype,
    )
}

#[tokio::test]
async fn keys_authenticate_and_expire_and_can_be_revoked() {
    let server = TestServer::start(&[]).await;
    let admin = user(&server, "root", true).await;
    let (s, problem, ctype) = call(&server, "GET", "/api/v1/me", None, None).await;
    assert_eq!(s, 401);
    assert_eq!(ctype, "application/problem+json");
    assert_eq!(problem["status"], 401);
    assert_eq!(
        call(&server, "GET", "/api/v1/me", Some("lk_nonsense"), None)
            .await
            .0,
        401
    );
    let key = key_for(&server, &admin.id).await;
    let (s, me, _) = call(&server, "GET", "/api/v1/me", Some(&key), None).await;
    assert_eq!((s, me["username"].as_str()), (200, Some("root")));

    // An expired key is refused.
    let store = &server.running().state.store;
    store
        .insert_api_key(
            &admin.id,
            "old",
            &latchkey::crypto::hash_secret("lk_expired-key"),
            latchkey::store::now() - 1,
        )
        .await
        .unwrap();
    assert_eq!(
        call(&server, "GET", "/api/v1/me", Some("lk_expired-key"), None)
            .await
            .0,
        401
    );

    // Made (by the console or the CLI), listed (with last use), revoked.
    let (created, second) =
        latchkey::api::issue_api_key(store, &admin.id, "ci", 86400, &Origin::cli())
            .await
            .unwrap();
    assert!(second.starts_with("lk_"));
    let (_, listed, _) = call(&server, "GET", "/api/v1/api-keys", Some(&second), None).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 3);
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("key").is_none() && k.get("key_hash").is_none())
    );
    let id = &created.id;
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/api/v1/api-keys/{id}"),
            Some(&key),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        call(&server, "GET", "/api/v1/me", Some(&second), None)
            .await
            .0,
        401,
        "a revoked key stops working"
    );
    let invalid = latchkey::api::issue_api_key(store, &admin.id, "forever", 0, &Origin::cli())
        .await
        .unwrap_err();
    assert_eq!(invalid.field(), Some("expires_in"), "no key lives forever");
    server.stop().await;
}

#[tokio::test]
async fn non_admin_keys_cannot_administer() {
    let server = TestServer::start(&[]).await;
    let admin = user(&server, "root", true).await;
    let bob = user(&server, "bob", false).await;
    let key = key_for(&server, &bob.id).await;
    for (method, path, body) in [
        ("GET", "/api/v1/users".to_string(), None),
        (
            "POST",
            "/api/v1/users".to_string(),
            Some(json!({"username": "eve", "email": "eve@example.org", "is_admin": true})),
        ),
        ("GET", format!("/api/v1/users/{}", admin.id), None),
        (
            "PATCH",
            format!("/api/v1/users/{}", bob.id),
            Some(json!({"is_admin": true})),
        ),
        ("DELETE", format!("/api/v1/users/{}", admin.id), None),
        (
            "POST",
            "/api/v1/api-keys".to_string(),
            Some(json!({"name": "x", "expires_in": 600, "user_id": admin.id})),
        ),
    ] {
        let (s, p, _) = call(&server, method, &path, Some(&key), body).await;
        assert_eq!(s, 403, "{method} {path}: {p}");
    }
    let store = &server.running().state.store;
    assert!(
        !store.user_by_id(&bob.id).await.unwrap().unwrap().is_admin,
        "nothing changed"
    );
    assert!(store.user_by_login("eve").await.unwrap().is_none());
    assert_eq!(
        call(
            &server,
            "GET",
            &format!("/api/v1/users/{}", bob.id),
            Some(&key),
            None
        )
        .await
        .0,
        200,
        "a user reads themself"
    );
    let (_, listed, _) = call(&server, "GET", "/api/v1/api-keys", Some(&key), None).await;
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        1,
        "only their own keys"
    );
    server.stop().await;
}

#[tokio::test]
async fn admins_manage_users() {
    let server = TestServer::start(&[]).await;
    let admin = user(&server, "root", true).await;
    let key = key_for(&server, &admin.id).await;
    let (s, created, _) = call(
        &server,
        "POST",
        "/api/v1/users",
        Some(&key),
        Some(json!({"username": "Carol", "email": "carol@example.org", "first_name": "Carol"})),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["username"], "carol");
    let id = created["id"].as_str().unwrap().to_string();
    let (s, dup, ctype) = call(
        &server,
        "POST",
        "/api/v1/users",
        Some(&key),
        Some(json!({"username": "carol", "email": "c2@example.org"})),
    )
    .await;
    assert_eq!((s, ctype.as_str()), (409, "application/problem+json"));
    assert!(dup["detail"].as_str().unwrap().contains("username"));
    let (s, bad, _) = call(
        &server,
        "POST",
        "/api/v1/users",
        Some(&key),
        Some(json!({"username": "no spaces", "email": "x@example.org"})),
    )
    .await;
    assert_eq!(s, 422);
    assert!(bad["errors"]["username"].is_string());
    assert_eq!(
        call(
            &server,
            "POST",
            "/api/v1/users",
            Some(&key),
            Some(json!({"nonsense": true}))
        )
        .await
        .0,
        400
    );

    for n in 0..5 {
        user(&server, &format!("carl{n}"), false).await;
    }
    let (_, page1, _) = call(
        &server,
        "GET",
        "/api/v1/users?search=car&limit=4",
        Some(&key),
        None,
    )
    .await;
    let names: Vec<&str> = page1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["carl0", "carl1", "carl2", "carl3"]);
    let next = page1["next"].as_str().unwrap();
    let (_, page2, _) = call(
        &server,
        "GET",
        &format!("/api/v1/users?search=car&limit=4&after={next}"),
        Some(&key),
        None,
    )
    .await;
    let names: Vec<&str> = page2["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["carl4", "carol"]);
    assert!(page2["next"].is_null());

    let (s, patched, _) = call(
        &server,
        "PATCH",
        &format!("/api/v1/users/{id}"),
        Some(&key),
        Some(json!({"display_name": "C.", "disabled": true})),
    )
    .await;
    assert_eq!(s, 200, "{patched}");
    assert_eq!(
        (
            patched["display_name"].as_str(),
            patched["disabled"].as_bool()
        ),
        (Some("C."), Some(true))
    );
    let (s, _, _) = call(
        &server,
        "PATCH",
        &format!("/api/v1/users/{id}"),
        Some(&key),
        Some(json!({"email": "not-an-email", "display_name": "half"})),
    )
    .await;
    assert_eq!(s, 422);
    let (_, unchanged, _) = call(
        &server,
        "GET",
        &format!("/api/v1/users/{id}"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(unchanged["display_name"], "C.", "nothing half-saved");
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/api/v1/users/{id}"),
            Some(&key),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        call(
            &server,
            "GET",
            &format!("/api/v1/users/{id}"),
            Some(&key),
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/api/v1/users/{}", admin.id),
            Some(&key),
            None
        )
        .await
        .0,
        422,
        "not yourself"
    );

    let events: Vec<String> = server
        .running()
        .state
        .store
        .list_audit(&latchkey::store::AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.event)
        .collect();
    for e in [
        "user.created",
        "user.updated",
        "user.deleted",
        "api_key.created",
    ] {
        assert!(events.iter().any(|x| x == e), "{e} audited");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_from_the_cli_work() {
    let server = TestServer::start(&[]).await;
    user(&server, "ops", true).await;
    let dir = server.data_dir();
    let out = run(latchkey(
        dir.parent().unwrap(),
        &[("LATCHKEY_DATA_DIR", dir.to_str().unwrap())],
    )
    .args([
        "api-keys",
        "create",
        "--user",
        "ops",
        "--name",
        "terraform",
        "--expires-in",
        "30d",
    ]));
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let created: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let key = created["key"].as_str().unwrap();
    assert!(created["expires_at"].as_i64().unwrap() > latchkey::store::now() + 29 * 86400);
    assert_eq!(
        call(&server, "GET", "/api/v1/users", Some(key), None)
            .await
            .0,
        200
    );
    server.stop().await;
}

#[tokio::test]
async fn groups_members_claims_clients_and_audit() {
    let server = TestServer::start(&[]).await;
    let admin = user(&server, "root", true).await;
    let dana = user(&server, "dana", false).await;
    let key = key_for(&server, &admin.id).await;
    let dana_key = key_for(&server, &dana.id).await;

    let (s, g, _) = call(
        &server,
        "POST",
        "/api/v1/groups",
        Some(&key),
        Some(json!({"name": "Ops", "display_name": "Operations"})),
    )
    .await;
    assert_eq!(s, 201, "{g}");
    let gid = g["id"].as_str().unwrap().to_string();
    assert_eq!(
        call(
            &server,
            "POST",
            "/api/v1/groups",
            Some(&key),
            Some(json!({"name": "ops"}))
        )
        .await
        .0,
        409
    );
    assert_eq!(
        call(
            &server,
            "POST",
            "/api/v1/groups",
            Some(&key),
            Some(json!({"name": "bad name"}))
        )
        .await
        .0,
        422
    );
    assert_eq!(
        call(
            &server,
            "PUT",
            &format!("/api/v1/groups/{gid}/members/{}", dana.id),
            Some(&key),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        call(
            &server,
            "PUT",
            &format!("/api/v1/groups/{gid}/members/nobody"),
            Some(&key),
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        call(
            &server,
            "PUT",
            &format!("/api/v1/groups/{gid}/claims/team"),
            Some(&key),
            Some(json!({"value": "blue"}))
        )
        .await
        .0,
        204
    );
    let (s, bad, _) = call(
        &server,
        "PUT",
        &format!("/api/v1/users/{}/claims/email", dana.id),
        Some(&key),
        Some(json!({"value": "x"})),
    )
    .await;
    assert_eq!(s, 422, "reserved claim names are refused: {bad}");
    assert_eq!(
        call(
            &server,
            "PUT",
            &format!("/api/v1/users/{}/claims/quota", dana.id),
            Some(&key),
            Some(json!({"value": "5"}))
        )
        .await
        .0,
        204
    );
    let (_, shown, _) = call(
        &server,
        "GET",
        &format!("/api/v1/groups/{gid}"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(shown["members"], json!([dana.id]));
    assert_eq!(shown["claims"]["team"], "blue");
    let (s, renamed, _) = call(
        &server,
        "PUT",
        &format!("/api/v1/groups/{gid}"),
        Some(&key),
        Some(json!({"name": "ops-team"})),
    )
    .await;
    assert_eq!((s, renamed["name"].as_str()), (200, Some("ops-team")));
    assert_eq!(
        call(&server, "GET", "/api/v1/groups", Some(&dana_key), None)
            .await
            .0,
        403
    );

    let (s, c, _) = call(&server, "POST", "/api/v1/clients", Some(&key), Some(json!({
        "name": "Grafana", "redirect_uris": ["https://grafana.example/cb"], "allowed_groups": ["ops-team"], "signing_alg": "ES256"
    }))).await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["client_secret"].as_str().unwrap().len(), 43);
    assert_eq!(c["allowed_groups"], json!(["ops-team"]));
    let cid = c["client_id"].as_str().unwrap().to_string();
    let (s, bad, _) = call(
        &server,
        "POST",
        "/api/v1/clients",
        Some(&key),
        Some(json!({"name": "x", "redirect_uris": ["javascript:x"]})),
    )
    .await;
    assert_eq!((s, bad["errors"]["redirect_uris"].is_string()), (422, true));
    let (_, rotated, _) = call(
        &server,
        "POST",
        &format!("/api/v1/clients/{cid}/rotate-secret"),
        Some(&key),
        None,
    )
    .await;
    assert_ne!(rotated["client_secret"], c["client_secret"]);
    assert_eq!(
        call(
            &server,
            "POST",
            "/api/v1/clients",
            Some(&dana_key),
            Some(json!({"name": "x", "redirect_uris": ["https://x/cb"]}))
        )
        .await
        .0,
        403
    );
    let (s, conflict, _) = call(
        &server,
        "DELETE",
        &format!("/api/v1/groups/{gid}"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(
        s, 409,
        "a group limiting a client cannot be deleted: {conflict}"
    );
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/api/v1/clients/{cid}"),
            Some(&key),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        call(
            &server,
            "GET",
            &format!("/api/v1/clients/{cid}"),
            Some(&key),
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/api/v1/groups/{gid}"),
            Some(&key),
            None
        )
        .await
        .0,
        204
    );

    let (_, log, _) = call(
        &server,
        "GET",
        "/api/v1/audit?event=group.created",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(log["items"].as_array().unwrap().len(), 1);
    let (_, own, _) = call(&server, "GET", "/api/v1/audit", Some(&dana_key), None).await;
    assert!(
        own["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["actor_id"] == json!(dana.id)),
        "users see only their own events"
    );
    let res = http()
        .get(server.url("/api/v1/audit?format=csv"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    assert!(csv.starts_with("id,time,event,actor,subject,client,ip,user_agent,details\r\n"));
    assert!(csv.contains("\"client.secret_rotated\""));
    server.stop().await;
}

/// The console refuses it too: an administrator who drops their own role may leave none.
#[tokio::test]
async fn an_administrator_cannot_drop_their_own_role() {
    let server = TestServer::start(&[]).await;
    let admin = user(&server, "root", true).await;
    let key = key_for(&server, &admin.id).await;
    let path = format!("/api/v1/users/{}", admin.id);
    let (s, problem, _) = call(
        &server,
        "PATCH",
        &path,
        Some(&key),
        Some(json!({"is_admin": false})),
    )
    .await;
    assert_eq!(s, 422, "{problem}");
    assert!(problem["errors"]["is_admin"].is_string(), "{problem}");
    let still = server
        .running()
        .state
        .store
        .user_by_id(&admin.id)
        .await
        .unwrap()
        .unwrap();
    assert!(still.is_admin, "nothing changed");
    // Another administrator may.
    let other = user(&server, "second", true).await;
    let path = format!("/api/v1/users/{}", other.id);
    let (s, changed, _) = call(
        &server,
        "PATCH",
        &path,
        Some(&key),
        Some(json!({"is_admin": false})),
    )
    .await;
    assert_eq!(s, 200, "{changed}");
    assert_eq!(changed["is_admin"], false);
    server.stop().await;
}

/// Security review #15: `PATCH /api/v1/users/{id}` stored names that creating a user
/// refuses (CR/LF, control characters, any length). It checks them as creation does:
/// 422 naming the field, and nothing changes.
#[tokio::test]
async fn a_patch_checks_names_as_creation_does() {
    let server = TestServer::start(&[]).await;
    let admin = user(&server, "root", true).await;
    let bob = user(&server, "bob", false).await;
    let key = key_for(&server, &admin.id).await;
    let path = format!("/api/v1/users/{}", bob.id);
    let long = "x".repeat(101);
    for (field, value) in [
        ("display_name", "Bob\r\nBcc: eve@example.org"),
        ("first_name", "Bo\u{7}b"),
        ("last_name", long.as_str()),
    ] {
        let (s, problem, _) = call(
            &server,
            "PATCH",
            &path,
            Some(&key),
            Some(json!({field: value})),
        )
        .await;
        assert_eq!(s, 422, "{field}: {problem}");
        assert!(problem["errors"][field].is_string(), "{field}: {problem}");
        let (s, created, _) = call(
            &server,
            "POST",
            "/api/v1/users",
            Some(&key),
            Some(json!({"username": "newbie", field: value})),
        )
        .await;
        assert_eq!(
            (s, &created["errors"][field]),
            (422, &problem["errors"][field]),
            "the same rule as creation"
        );
    }
    let stored = server
        .running()
        .state
        .store
        .user_by_id(&bob.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, bob, "nothing changed");
    // Names are trimmed, as at creation.
    let (s, patched, _) = call(
        &server,
        "PATCH",
        &path,
        Some(&key),
        Some(json!({"display_name": "  Bob B.  "})),
    )
    .await;
    assert_eq!((s, patched["display_name"].as_str()), (200, Some("Bob B.")));
    server.stop().await;
}
