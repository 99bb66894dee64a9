//! Service accounts and app passwords made, disabled and revoked where people make
//! them: the admin console (`/admin/ldap`, the user page), the user's own security
//! page, the REST API and the command line. Each secret handed out is proven with a
//! real bind by `ldapwhoami`, and each one taken back with a refused bind.

use latchkey::audit::Origin;
use serde_json::{Value, json};

use super::{BASE, Ldap, dns, run};
use crate::admin::{audit, input_value, ok, user_with_password};
use crate::browser::Browser;
use crate::people;
use crate::support::{
    assert_no_inline_script, free_port, http, latchkey, run as run_cli, stderr, stdout, test_pki,
};

const ORIGIN: &str = "https://sso.example.org";

async fn signed_in(l: &Ldap, username: &str) -> Browser {
    let b = Browser::new(&l.server.base, ORIGIN);
    people::sign_in(&b, username).await;
    b
}

fn person(username: &str) -> String {
    format!("uid={username},ou=people,{BASE}")
}

/// The people a service account may see.
async fn people_seen(l: &Ldap, dn: &str, password: &str) -> Vec<String> {
    let mut cmd = l.tool("ldapsearch");
    cmd.args([
        "-x",
        "-LLL",
        "-H",
        &l.tls_url(),
        "-D",
        dn,
        "-w",
        password,
        "-b",
        &format!("ou=people,{BASE}"),
        "(objectClass=person)",
        "1.1",
    ]);
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.err);
    let mut seen = dns(&r.out);
    seen.sort();
    seen
}

#[tokio::test]
async fn the_console_shows_how_to_connect_and_manages_service_accounts() {
    let l = Ldap::start(&[]).await;
    let root = user_with_password(&l.server, "root", true).await;
    let b = signed_in(&l, "root").await;

    let page = b.get("/admin/ldap").await;
    ok(&page, "LDAP page");
    assert!(
        page.body
            .contains("href=\"/admin/ldap\" aria-current=\"page\"")
    );
    let url = format!("ldaps://sso.example.org:{}", l.tls);
    assert!(
        page.body.contains(&format!("data-ldap-url>{url}<")),
        "how to connect"
    );
    assert!(page.body.contains(&format!("<code>{BASE}</code>")));
    assert!(page.body.contains("refused (confidentialityRequired)"));
    assert!(page.body.contains("app passwords only"));
    for recipe in [
        "ldapsearch",
        "sssd",
        "jellyfin",
        "nextcloud",
        "gitea",
        "grafana",
    ] {
        let at = page
            .body
            .find(&format!("data-recipe=\"{recipe}\""))
            .unwrap_or_else(|| panic!("a {recipe} snippet"));
        let snippet = &page.body[at..at + page.body[at..].find("</pre>").unwrap()];
        assert!(snippet.contains(&l.tls.to_string()), "{recipe}: {snippet}");
        assert!(
            page.body
                .contains(&format!("data-copy=\"snippet-{recipe}\"")),
            "{recipe} can be copied"
        );
    }
    let existing = "data-ldap-account=\"jellyfin\"";
    assert!(page.body.contains(existing), "the account made by the CLI");

    // Bad input makes nothing and says which field.
    let count = l
        .server
        .running()
        .state
        .store
        .list_ldap_accounts()
        .await
        .unwrap()
        .len();
    for (fields, marker) in [
        (vec![("name", " "), ("groups", "")], "name-error"),
        (vec![("name", "jellyfin"), ("groups", "")], "name-error"),
        (vec![("name", "bad name!"), ("groups", "")], "name-error"),
        (
            vec![("name", "nextcloud"), ("groups", "devs, ghosts")],
            "groups-error",
        ),
    ] {
        let page = b.submit("/admin/ldap/accounts", &fields).await;
        assert_eq!(page.status, 422, "{fields:?}: {}", page.body);
        assert_no_inline_script(&page.body);
        assert!(
            page.body.contains(&format!("id=\"{marker}\"")),
            "{fields:?}"
        );
    }
    let store = &l.server.running().state.store;
    assert_eq!(store.list_ldap_accounts().await.unwrap().len(), count);

    // Made: shown once, and it binds, reading only the members of its group.
    let made = b
        .submit(
            "/admin/ldap/accounts",
            &[("name", "Nextcloud"), ("groups", "devs")],
        )
        .await;
    ok(&made, "account made");
    assert!(made.body.contains("shown only now"));
    let dn = input_value(&made.body, "data-bind-dn");
    assert_eq!(dn, format!("cn=nextcloud,ou=services,{BASE}"));
    let password = input_value(&made.body, "data-ldap-password");
    let r = l.whoami(&dn, &password).await;
    assert_eq!(
        (r.code, r.out.trim()),
        (0, format!("dn:{dn}").as_str()),
        "{}",
        r.err
    );
    assert_eq!(people_seen(&l, &dn, &password).await, [person("alice")]);
    let list = b.get("/admin/ldap").await;
    assert!(!list.body.contains(&password), "never shown again");
    let at = list.body.find("data-ldap-account=\"nextcloud\"").unwrap();
    let row = &list.body[at..at + list.body[at..].find("</li>").unwrap()];
    assert!(
        row.contains("devs") && row.contains("from 127.0.0.1"),
        "{row}"
    );

    // Disabled: refused at once; enabled: back.
    let res = b
        .submit("/admin/ldap/accounts/nextcloud/disable", &[])
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(l.whoami(&dn, &password).await.code, 49);
    let list = b.get(res.location.as_deref().unwrap()).await;
    assert!(list.body.contains("The service account was disabled"));
    b.submit("/admin/ldap/accounts/nextcloud/enable", &[]).await;
    assert_eq!(l.whoami(&dn, &password).await.code, 0);

    // Deleted after a confirmation.
    let confirm = b.get("/admin/ldap/accounts/nextcloud/delete").await;
    ok(&confirm, "confirmation");
    assert!(confirm.body.contains(&dn));
    let res = b.submit("/admin/ldap/accounts/nextcloud/delete", &[]).await;
    assert_eq!(
        res.location.as_deref(),
        Some("/admin/ldap?done=ldap_account_deleted")
    );
    assert_eq!(l.whoami(&dn, &password).await.code, 49);
    let again = b.submit("/admin/ldap/accounts/nextcloud/delete", &[]).await;
    assert_eq!(
        again.location.as_deref(),
        Some("/admin/ldap?error=not_found")
    );
    assert_eq!(
        b.get("/admin/ldap/accounts/nextcloud/delete").await.status,
        404
    );

    for event in [
        "ldap.account.created",
        "ldap.account.disabled",
        "ldap.account.enabled",
        "ldap.account.deleted",
    ] {
        let rows = audit(&l.server, event).await;
        let by_root = rows
            .iter()
            .filter(|r| r.details["name"] == "nextcloud")
            .all(|r| r.actor_id.as_deref() == Some(root.id.as_str()));
        assert!(!rows.is_empty() && by_root, "{event}: {rows:?}");
        assert!(!format!("{rows:?}").contains(&password));
    }
    l.stop().await;
}

#[tokio::test]
async fn users_make_and_revoke_their_app_passwords_on_the_security_page() {
    let l = Ldap::start(&[]).await;
    let b = signed_in(&l, "alice").await;
    let page = b.get("/account/security").await;
    ok(&page, "security page");
    assert!(page.body.contains("id=\"app-passwords\""));
    assert!(page.body.contains(">Jellyfin<"), "the one made before");
    let store = &l.server.running().state.store;
    let count = store.list_app_passwords(&l.alice.id).await.unwrap().len();

    for (fields, code) in [
        (vec![("name", ""), ("expires", "")], "app_password_name"),
        (
            vec![("name", &*"x".repeat(65)), ("expires", "")],
            "app_password_name",
        ),
        (
            vec![("name", "TV"), ("expires", "forever")],
            "app_password_expiry",
        ),
    ] {
        let res = b.submit("/account/app-passwords", &fields).await;
        assert_eq!(
            res.location.as_deref(),
            Some(format!("/account/security?error={code}#app-passwords").as_str())
        );
    }
    assert_eq!(
        store.list_app_passwords(&l.alice.id).await.unwrap().len(),
        count
    );

    let forged = b
        .post(
            "/account/app-passwords",
            &[("name", "Forged"), ("expires", "")],
        )
        .await;
    assert_eq!(forged.status, 403, "no CSRF token, no app password");
    assert_eq!(
        store.list_app_passwords(&l.alice.id).await.unwrap().len(),
        count
    );

    let made = b
        .submit(
            "/account/app-passwords",
            &[("name", "Living-room TV"), ("expires", "30d")],
        )
        .await;
    ok(&made, "app password made");
    assert!(made.body.contains("shown only now"));
    assert!(made.body.contains(&person("alice")), "the bind DN is named");
    let password = input_value(&made.body, "data-app-password");
    assert_eq!(password.len(), 35);
    // Typed on a TV remote: capitals and spaces instead of dashes.
    let typed = password.replace('-', " ").to_uppercase();
    let r = l.whoami(&person("alice"), &typed).await;
    assert_eq!(r.code, 0, "{}", r.err);
    let row = store
        .list_app_passwords(&l.alice.id)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.name == "Living-room TV")
        .unwrap();
    assert_eq!(row.expires_at.unwrap() - row.created_at, 30 * 86_400);
    let page = b.get("/account/security").await;
    assert!(!page.body.contains(&password));
    let at = page
        .body
        .find(&format!("data-app-password-row=\"{}\"", row.id))
        .unwrap();
    let shown = &page.body[at..at + page.body[at..].find("</li>").unwrap()];
    assert!(
        shown.contains("from 127.0.0.1") && shown.contains("active"),
        "{shown}"
    );

    // Someone else's app password cannot be revoked from here.
    let carols = store.user_by_login("carol").await.unwrap().unwrap();
    let carols = store.list_app_passwords(&carols.id).await.unwrap();
    let res = b
        .submit(
            &format!("/account/app-passwords/{}/revoke", carols[0].id),
            &[],
        )
        .await;
    assert_eq!(
        res.location.as_deref(),
        Some("/account/security?error=not_found#app-passwords")
    );
    assert!(carols[0].revoked_at.is_none());
    assert!(
        store.list_app_passwords(&carols[0].user_id).await.unwrap()[0]
            .revoked_at
            .is_none()
    );

    let res = b
        .submit(&format!("/account/app-passwords/{}/revoke", row.id), &[])
        .await;
    assert_eq!(
        res.location.as_deref(),
        Some("/account/security?done=app_password_revoked#app-passwords")
    );
    assert_eq!(l.whoami(&person("alice"), &password).await.code, 49);
    let page = b.get(res.location.as_deref().unwrap()).await;
    assert!(page.body.contains("The app password was revoked"));
    assert!(
        audit(&l.server, "app_password.revoked")
            .await
            .iter()
            .any(|r| r.details["id"] == row.id.as_str())
    );

    // Making one is adding a credential: an old sign-in is asked to confirm first.
    {
        use sqlx::Connection;
        let db = l.server.data_dir().join("latchkey.db");
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::query("UPDATE sessions SET auth_time = auth_time - 3600")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let res = b
        .submit(
            "/account/app-passwords",
            &[("name", "Old session"), ("expires", "")],
        )
        .await;
    assert_eq!(
        res.location.as_deref(),
        Some("/account/reauth?next=%2Faccount%2Fsecurity")
    );
    assert!(
        !store
            .list_app_passwords(&l.alice.id)
            .await
            .unwrap()
            .iter()
            .any(|p| p.name == "Old session")
    );
    l.stop().await;
}

#[tokio::test]
async fn an_admin_hands_out_and_revokes_app_passwords_on_the_user_page() {
    let l = Ldap::start(&[]).await;
    user_with_password(&l.server, "root", true).await;
    let b = signed_in(&l, "root").await;
    let alice = &l.alice.id;
    let page = b.get(&format!("/admin/users/{alice}")).await;
    ok(&page, "user page");
    assert!(page.body.contains("id=\"app-passwords\"") && page.body.contains(">Jellyfin<"));
    let made = b
        .submit(
            &format!("/admin/users/{alice}/app-passwords"),
            &[("name", "Printer"), ("expires", "")],
        )
        .await;
    ok(&made, "made by an admin");
    assert!(
        made.body.contains("aria-label=\"Administration\""),
        "inside the console"
    );
    let password = input_value(&made.body, "data-app-password");
    assert_eq!(l.whoami(&person("alice"), &password).await.code, 0);
    let store = &l.server.running().state.store;
    let row = store
        .list_app_passwords(alice)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.name == "Printer")
        .unwrap();
    assert_eq!(row.expires_at, None, "until revoked");
    let res = b
        .submit(
            &format!("/admin/users/{alice}/app-passwords/{}/revoke", row.id),
            &[],
        )
        .await;
    assert_eq!(
        res.location.as_deref(),
        Some(format!("/admin/users/{alice}?done=app_password_revoked").as_str())
    );
    assert_eq!(l.whoami(&person("alice"), &password).await.code, 49);
    // Revoking it again, or with another user's path, finds nothing.
    let res = b
        .submit(
            &format!("/admin/users/{alice}/app-passwords/{}/revoke", row.id),
            &[],
        )
        .await;
    assert_eq!(
        res.location.as_deref(),
        Some(format!("/admin/users/{alice}?error=not_found").as_str())
    );
    let bad = b
        .submit(
            "/admin/users/nobody/app-passwords",
            &[("name", "X"), ("expires", "")],
        )
        .await;
    assert_eq!(
        bad.location.as_deref(),
        Some("/admin/users/nobody?error=not_found")
    );
    l.stop().await;
}

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
