//! Proxied applications in the admin console, and in the users' "My apps".

use latchkey::domain::user::NewUser;

use super::*;
use crate::support::assert_no_inline_script;

#[tokio::test]
async fn an_admin_protects_an_app_in_the_console_and_members_see_it_in_my_apps() {
    let server = server(&[]).await;
    let state = &server.running().state;
    people::with_password(
        state,
        NewUser {
            is_admin: true,
            ..people::named("root")
        },
    )
    .await;
    member(&server, "ada", &["media"]).await;
    member(&server, "bob", &[]).await;
    let admin = Browser::new(&server.base, APP);
    people::sign_in(&admin, "root").await;

    let list = admin.get("/admin/proxy-apps").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_no_inline_script(&list.body);
    assert!(
        list.body.contains("/api/authz/forward-auth"),
        "how to point the proxy"
    );
    let form = admin.get("/admin/proxy-apps/new").await;
    assert_eq!(form.status, 200);
    assert!(
        form.body.contains("value=\"media\""),
        "groups to choose from"
    );

    // Each bad field is marked, and nothing is saved.
    for (fields, marker) in [
        (vec![("name", "Sonarr"), ("hosts", "")], "hosts-error"),
        (
            vec![("name", "Sonarr"), ("hosts", "sonarr.example.test:8989")],
            "hosts-error",
        ),
        (
            vec![("name", ""), ("hosts", "sonarr.example.test")],
            "name-error",
        ),
        (
            vec![
                ("name", "Sonarr"),
                ("hosts", "sonarr.example.test"),
                ("max_age_hours", "soon"),
            ],
            "age-error",
        ),
        (
            vec![
                ("name", "Sonarr"),
                ("hosts", "sonarr.example.test"),
                ("public_paths", "/a/../b"),
            ],
            "public-error",
        ),
        (
            vec![
                ("name", "Sonarr"),
                ("hosts", "sonarr.example.test"),
                ("group", "ghosts"),
            ],
            "groups-error",
        ),
    ] {
        let page = admin.submit("/admin/proxy-apps/new", &fields).await;
        assert_eq!(page.status, 422, "{fields:?}: {}", page.body);
        assert!(page.body.contains(marker), "{marker} for {fields:?}");
    }
    assert!(state.store.proxy_apps().await.unwrap().is_empty());

    let created = admin
        .submit(
            "/admin/proxy-apps/new",
            &[
                ("name", "Sonarr"),
                ("hosts", "sonarr.example.test\n*.media.example.test"),
                ("group", "media"),
                ("require", "two-factor"),
                ("max_age_hours", "12"),
                ("public_paths", "/ping"),
                ("paths", "/admin passkey media"),
                ("header", "Remote-User"),
                ("header", "Remote-Groups"),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let at = created.location.unwrap();
    assert!(at.ends_with("done=proxy_app_created"), "{at}");
    let app = state.store.proxy_app("sonarr").await.unwrap().unwrap();
    assert_eq!(app.hosts, ["sonarr.example.test", "*.media.example.test"]);
    assert_eq!(app.access.max_age, Some(12 * 3600));
    assert_eq!(app.paths[0].prefix, "/admin");
    assert_eq!(app.paths[0].access.groups, ["media"]);
    assert_eq!(app.headers.len(), 2);
    let page = admin.get(&at).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("/admin passkey media"),
        "the rule reads back"
    );

    // The same host twice is refused with the field marked.
    let twice = admin
        .submit(
            "/admin/proxy-apps/new",
            &[("name", "Other"), ("hosts", "sonarr.example.test")],
        )
        .await;
    assert_eq!(twice.status, 422);
    assert!(twice.body.contains("already covers"), "{}", twice.body);

    // Edited: everyone may use it now.
    let saved = admin
        .submit(
            &format!("/admin/proxy-apps/{}", app.id),
            &[
                ("name", "Sonarr"),
                ("hosts", "sonarr.example.test"),
                ("require", "any"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let app = state.store.proxy_app(&app.id).await.unwrap().unwrap();
    assert!(app.access.groups.is_empty() && app.paths.is_empty());

    // "My apps" shows it to whoever it admits, with its launch address.
    let ada = Browser::new(&server.base, APP);
    people::sign_in(&ada, "ada").await;
    let apps = ada.get("/account/apps").await;
    assert!(
        apps.body.contains("http://sonarr.example.test/"),
        "{}",
        apps.body
    );
    admin
        .submit(
            &format!("/admin/proxy-apps/{}", app.id),
            &[
                ("name", "Sonarr"),
                ("hosts", "sonarr.example.test"),
                ("group", "media"),
            ],
        )
        .await;
    let bob = Browser::new(&server.base, APP);
    people::sign_in(&bob, "bob").await;
    assert!(
        !bob.get("/account/apps")
            .await
            .body
            .contains("sonarr.example.test")
    );
    assert!(
        ada.get("/account/apps")
            .await
            .body
            .contains("sonarr.example.test")
    );

    let confirm = admin
        .get(&format!("/admin/proxy-apps/{}/delete", app.id))
        .await;
    assert_eq!(confirm.status, 200);
    let deleted = admin
        .submit(&format!("/admin/proxy-apps/{}/delete", app.id), &[])
        .await;
    assert_eq!(deleted.status, 303);
    assert!(state.store.proxy_apps().await.unwrap().is_empty());
    // A non-admin is refused the console.
    assert_eq!(ada.get("/admin/proxy-apps").await.status, 403);
    server.stop().await;
}
