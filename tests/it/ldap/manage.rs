//! Service accounts and app passwords made, disabled and revoked in the browser: the
//! admin console (`/admin/ldap`, the user page) and the user's own security page
//! (the REST API and the command line: `manage_api.rs`). Each secret handed out is proven with a
//! real bind by `ldapwhoami`, and each one taken back with a refused bind.

use super::{BASE, Ldap, dns, run};
use crate::admin::{audit, input_value, ok, user_with_password};
use crate::browser::Browser;
use crate::people;
use crate::support::assert_no_inline_script;

pub const ORIGIN: &str = "https://sso.example.org";

pub async fn signed_in(l: &Ldap, username: &str) -> Browser {
    let b = Browser::new(&l.server.base, ORIGIN);
    people::sign_in(&b, username).await;
    b
}

pub fn person(username: &str) -> String {
    format!("uid={username},ou=people,{BASE}")
}

/// The people a service account may see.
pub async fn people_seen(l: &Ldap, dn: &str, password: &str) -> Vec<String> {
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
