//! Service accounts and app passwords made through the REST API and the real
//! binary's command line, and how soon a search sees a change. As in `manage.rs`,
//! each secret handed out is proven with a real bind by `ldapwhoami`.

use latchkey::audit::Origin;
use serde_json::{Value, json};

use super::manage::{ORIGIN, people_seen, person};
use super::{BASE, Ldap, dns, run};
use crate::admin::user_with_password;
use crate::support::{free_port, http, latchkey, run as run_cli, stderr, stdout, test_pki};

/// A change this server makes is seen by the very next search: the in-memory
/// directory knows the store wrote.
#[tokio::test]
async fn the_next_search_sees_a_change_made_here() {
    let l = Ldap::start(&[]).await;
    let search = |filter: &'static str| {
        let mut cmd = l.tool("ldapsearch");
        cmd.args([
            "-x",
            "-LLL",
            "-H",
            &l.tls_url(),
            "-D",
            &l.service_dn,
            "-w",
            &l.service_password,
            "-b",
            BASE,
            filter,
            "1.1",
        ]);
        async move { dns(&run(cmd).await.out) }
    };
    assert_eq!(search("(uid=alice)").await, [person("alice")]);
    assert_eq!(
        search("(cn=devs)").await,
        [format!("cn=devs,ou=groups,{BASE}")]
    );
    let store = &l.server.running().state.store;
    store.set_user_disabled(&l.alice.id, true).await.unwrap();
    assert!(
        search("(uid=alice)").await.is_empty(),
        "disabled: gone at once"
    );
    store.set_user_disabled(&l.alice.id, false).await.unwrap();
    assert_eq!(search("(uid=alice)").await, [person("alice")]);
    let group = store.group_by_name("devs").await.unwrap().unwrap();
    store
        .remove_group_member(&group.id, &l.alice.id)
        .await
        .unwrap();
    assert!(
        search("(memberOf=cn=devs,ou=groups,dc=example,dc=org)")
            .await
            .is_empty()
    );
    store.rename_group(&group.id, "builders", "").await.unwrap();
    assert!(search("(cn=devs)").await.is_empty());
    assert_eq!(
        search("(cn=builders)").await,
        [format!("cn=builders,ou=groups,{BASE}")]
    );
    l.stop().await;
}

async fn call(l: &Ldap, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = http()
        .request(method.parse().unwrap(), l.server.url(path))
        .bearer_auth(key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_api_manages_service_accounts_and_app_passwords() {
    let l = Ldap::start(&[]).await;
    let root = user_with_password(&l.server, "root", true).await;
    let store = &l.server.running().state.store;
    let (_, admin_key) = latchkey::api::issue_api_key(store, &root.id, "ops", 3600, &Origin::cli())
        .await
        .unwrap();
    let (_, alice_key) =
        latchkey::api::issue_api_key(store, &l.alice.id, "mine", 3600, &Origin::cli())
            .await
            .unwrap();

    let (status, list) = call(&l, "GET", "/api/v1/ldap/accounts", &admin_key, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        list["items"][0]["dn"],
        format!("cn=jellyfin,ou=services,{BASE}")
    );
    assert!(list.to_string().find("secret").is_none());
    for (method, body) in [("GET", None), ("POST", Some(json!({"name": "x"})))] {
        let (status, _) = call(&l, method, "/api/v1/ldap/accounts", &alice_key, body).await;
        assert_eq!(status, 403, "{method}: not an administrator");
    }

    let (status, made) = call(
        &l,
        "POST",
        "/api/v1/ldap/accounts",
        &admin_key,
        Some(json!({"name": "Gitea", "groups": ["admins"]})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let dn = made["dn"].as_str().unwrap().to_string();
    assert_eq!(dn, format!("cn=gitea,ou=services,{BASE}"));
    assert_eq!(made["groups"], json!(["admins"]));
    let password = made["password"].as_str().unwrap().to_string();
    assert_eq!(people_seen(&l, &dn, &password).await, [person("bob")]);
    for (body, status, field) in [
        (json!({"name": "gitea"}), 409, None),
        (
            json!({"name": "x", "groups": ["ghosts"]}),
            422,
            Some("groups"),
        ),
        (json!({"name": ""}), 422, Some("name")),
        (json!({"name": "x", "extra": 1}), 400, None),
    ] {
        let (got, problem) = call(
            &l,
            "POST",
            "/api/v1/ldap/accounts",
            &admin_key,
            Some(body.clone()),
        )
        .await;
        assert_eq!(got, status, "{body}: {problem}");
        if let Some(field) = field {
            assert!(problem["errors"].get(field).is_some(), "{problem}");
        }
    }

    let path = "/api/v1/ldap/accounts/GITEA";
    let (status, patched) = call(
        &l,
        "PATCH",
        path,
        &admin_key,
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(
        (status, &patched["disabled"]),
        (200, &json!(true)),
        "{patched}"
    );
    assert_eq!(l.whoami(&dn, &password).await.code, 49);
    let (status, _) = call(
        &l,
        "PATCH",
        path,
        &admin_key,
        Some(json!({"disabled": false})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(l.whoami(&dn, &password).await.code, 0);
    let (status, _) = call(&l, "DELETE", path, &admin_key, None).await;
    assert_eq!(status, 204);
    assert_eq!(l.whoami(&dn, &password).await.code, 49);
    for method in ["DELETE", "PATCH"] {
        let body = (method == "PATCH").then(|| json!({"disabled": true}));
        let (status, _) = call(&l, method, path, &admin_key, body).await;
        assert_eq!(status, 404, "{method} of a deleted account");
    }

    // App passwords: a user's own key manages their own, an admin's anyone's.
    let mine = format!("/api/v1/users/{}/app-passwords", l.alice.id);
    let (status, made) = call(
        &l,
        "POST",
        &mine,
        &alice_key,
        Some(json!({"name": "Kodi", "expires_in": 86_400})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let app_password = made["password"].as_str().unwrap().to_string();
    assert_eq!(
        made["expires_at"].as_i64().unwrap() - made["created_at"].as_i64().unwrap(),
        86_400
    );
    assert_eq!(l.whoami(&person("alice"), &app_password).await.code, 0);
    let (status, list) = call(&l, "GET", &mine, &alice_key, None).await;
    assert_eq!(status, 200);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items[0]["name"], "Kodi", "newest first");
    assert_eq!(items[0]["last_used_ip"], "127.0.0.1");
    assert!(!list.to_string().contains(&app_password));
    for body in [json!({"name": "x", "expires_in": 10}), json!({"name": " "})] {
        let (status, _) = call(&l, "POST", &mine, &alice_key, Some(body)).await;
        assert_eq!(status, 422);
    }
    let bobs = store.user_by_login("bob").await.unwrap().unwrap();
    let theirs = format!("/api/v1/users/{}/app-passwords", bobs.id);
    for (method, body) in [("GET", None), ("POST", Some(json!({"name": "x"})))] {
        let (status, _) = call(&l, method, &theirs, &alice_key, body).await;
        assert_eq!(status, 403, "{method} of another user's");
    }
    let (status, made) = call(
        &l,
        "POST",
        &theirs,
        &admin_key,
        Some(json!({"name": "Shell"})),
    )
    .await;
    assert_eq!((status, &made["expires_at"]), (201, &Value::Null));
    let bob_password = made["password"].as_str().unwrap();
    assert_eq!(l.whoami(&person("bob"), bob_password).await.code, 0);
    let one = format!("{mine}/{}", items[0]["id"].as_str().unwrap());
    let (status, _) = call(&l, "DELETE", &one, &admin_key, None).await;
    assert_eq!(status, 204);
    assert_eq!(l.whoami(&person("alice"), &app_password).await.code, 49);
    let (status, _) = call(&l, "DELETE", &one, &alice_key, None).await;
    assert_eq!(status, 404, "already revoked");
    let wrong_owner = format!("{theirs}/{}", items[0]["id"].as_str().unwrap());
    let (status, _) = call(&l, "DELETE", &wrong_owner, &admin_key, None).await;
    assert_eq!(status, 404, "not bob's");
    let (status, _) = call(
        &l,
        "GET",
        "/api/v1/users/nobody/app-passwords",
        &admin_key,
        None,
    )
    .await;
    assert_eq!(status, 404);
    l.stop().await;
}

#[tokio::test]
async fn the_command_line_makes_what_the_running_server_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_pki(dir.path());
    let ldaps = free_port();
    let ldaps_addr = format!("127.0.0.1:{ldaps}");
    let env = [
        ("LATCHKEY_APP_URL", ORIGIN),
        ("LATCHKEY_LDAP_BASE_DN", BASE),
        ("LATCHKEY_LDAPS_LISTEN", ldaps_addr.as_str()),
        ("LATCHKEY_LDAP_TLS_CERT_FILE", cert.to_str().unwrap()),
        ("LATCHKEY_LDAP_TLS_KEY_FILE", key.to_str().unwrap()),
    ];
    let cli = |args: &[&str]| run_cli(latchkey(dir.path(), &env).args(args));
    let out = cli(&[
        "users",
        "create",
        "--username",
        "dora",
        "--email",
        "dora@example.org",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    let bad = cli(&[
        "ldap", "accounts", "create", "--name", "jf", "--group", "ghosts",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("ghosts"), "{}", stderr(&bad));
    let out = cli(&["ldap", "accounts", "create", "--name", "jf"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let account: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let dn = account["dn"].as_str().unwrap().to_string();
    assert_eq!(dn, format!("cn=jf,ou=services,{BASE}"));
    let service_password = account["password"].as_str().unwrap().to_string();
    let dup = cli(&["ldap", "accounts", "create", "--name", "JF"]);
    assert_eq!(dup.status.code(), Some(1), "a second jf");
    let list: Vec<Value> =
        serde_json::from_str(&stdout(&cli(&["ldap", "accounts", "list"]))).unwrap();
    assert_eq!((list.len(), list[0]["dn"].as_str()), (1, Some(dn.as_str())));
    assert!(list[0].get("password").is_none());

    let out = cli(&[
        "app-passwords",
        "create",
        "--user",
        "dora",
        "--name",
        "TV",
        "--expires",
        "90d",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let made: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let app_password = made["password"].as_str().unwrap().to_string();
    assert_eq!(
        made["expires_at"].as_i64().unwrap() - made["created_at"].as_i64().unwrap(),
        90 * 86_400
    );
    let bad = cli(&[
        "app-passwords",
        "create",
        "--user",
        "nobody",
        "--name",
        "TV",
    ]);
    assert!(stderr(&bad).contains("nobody"), "{}", stderr(&bad));
    let bad = cli(&["app-passwords", "create", "--user", "dora", "--name", ""]);
    assert_eq!(bad.status.code(), Some(1));

    // The real server takes what the command line made.
    let server = crate::support::Spawned::start(latchkey(dir.path(), &env), free_port()).await;
    let whoami = |dn: String, password: String| {
        let ca = ca.clone();
        async move {
            let mut cmd = tokio::process::Command::new("ldapwhoami");
            cmd.env("LDAPTLS_CACERT", &ca)
                .env("LDAPTLS_REQCERT", "demand")
                .env("LDAPCONF", "/dev/null")
                .env("LDAPRC", "/dev/null")
                .args([
                    "-x",
                    "-H",
                    &format!("ldaps://127.0.0.1:{ldaps}"),
                    "-D",
                    &dn,
                    "-w",
                    &password,
                ]);
            run(cmd).await.code
        }
    };
    assert_eq!(whoami(dn.clone(), service_password.clone()).await, 0);
    assert_eq!(whoami(person("dora"), app_password.clone()).await, 0);
    // A service binding again and again: every bind is a log line, the first in a
    // minute per account and address an audit row.
    for _ in 0..3 {
        assert_eq!(whoami(dn.clone(), service_password.clone()).await, 0);
    }
    let log = server.log_containing("ldap.bind.succeeded").await;
    let mut lines = 0;
    for _ in 0..100 {
        lines = server
            .log()
            .lines()
            .filter(|l| l.contains("ldap.bind.succeeded") && l.contains("service_account"))
            .count();
        if lines >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(lines, 4, "a log line for each bind: {log}");
    let rows: Vec<String> = {
        use sqlx::Connection;
        let db = dir.path().join("data").join("latchkey.db");
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::query_scalar(
            "SELECT details FROM audit_log WHERE event = 'ldap.bind.succeeded' ORDER BY created_at",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap()
    };
    let service_rows = rows
        .iter()
        .filter(|r| r.contains("service_account"))
        .count();
    assert_eq!(
        (service_rows, rows.len()),
        (1, 2),
        "one row for the service account, one for dora: {rows:?}"
    );

    // A user the command line makes while the server runs (another process) shows
    // in searches within the cache's recheck time (a second); waited for, not timed.
    let search_for = |uid: &'static str| {
        let (ca, dn, password) = (ca.clone(), dn.clone(), service_password.clone());
        async move {
            let mut cmd = tokio::process::Command::new("ldapsearch");
            cmd.env("LDAPTLS_CACERT", &ca)
                .env("LDAPTLS_REQCERT", "demand")
                .env("LDAPCONF", "/dev/null")
                .env("LDAPRC", "/dev/null")
                .args([
                    "-x",
                    "-LLL",
                    "-H",
                    &format!("ldaps://127.0.0.1:{ldaps}"),
                    "-D",
                    &dn,
                    "-w",
                    &password,
                    "-b",
                    BASE,
                    &format!("(uid={uid})"),
                    "1.1",
                ]);
            dns(&run(cmd).await.out)
        }
    };
    assert!(search_for("erin").await.is_empty());
    let out = cli(&[
        "users",
        "create",
        "--username",
        "erin",
        "--email",
        "erin@example.org",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut seen = false;
    for _ in 0..100 {
        if search_for("erin").await == [person("erin")] {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen, "a user made by another process shows in searches");

    let listed: Vec<Value> =
        serde_json::from_str(&stdout(&cli(&["app-passwords", "list", "--user", "dora"]))).unwrap();
    assert_eq!(listed[0]["last_used_ip"], "127.0.0.1", "the bind was noted");
    let id = listed[0]["id"].as_str().unwrap();
    let out = cli(&["app-passwords", "revoke", "--user", "dora", id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(whoami(person("dora"), app_password).await, 49);
    let again = cli(&["app-passwords", "revoke", "--user", "dora", id]);
    assert_eq!(again.status.code(), Some(1));
    let out = cli(&["ldap", "accounts", "delete", "jf"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(whoami(dn, service_password).await, 49);
    let again = cli(&["ldap", "accounts", "delete", "jf"]);
    assert_eq!(again.status.code(), Some(1));
    server.terminate();
}
