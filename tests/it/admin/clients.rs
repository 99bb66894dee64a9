//! OIDC clients in the admin console.

use super::{APP, World, audit, events_starting, input_value, ok, signed_in};
use crate::support::assert_no_inline_script;

#[tokio::test]
async fn a_new_client_shows_its_secret_once_and_can_rotate_and_be_deleted() {
    let w = World::new().await;
    let b = signed_in(&w.server, "root").await;
    ok(&b.get("/admin/clients").await, "clients");
    let form = b.get("/admin/clients/new").await;
    ok(&form, "new client form");
    assert!(
        form.body.contains("value=\"staff\""),
        "groups to choose from"
    );
    let count = w.store().list_clients().await.unwrap().len();

    for (fields, field) in [
        (
            vec![("name", "Grafana"), ("redirect_uris", "")],
            "redirect-error",
        ),
        (
            vec![("name", "Grafana"), ("redirect_uris", "data:text/html,hi")],
            "redirect-error",
        ),
        (
            vec![
                ("name", "Grafana"),
                ("redirect_uris", "https://grafana.example.org/cb"),
                ("post_logout_redirect_uris", "not a url"),
            ],
            "logout-error",
        ),
        (
            vec![
                ("name", " "),
                ("redirect_uris", "https://grafana.example.org/cb"),
            ],
            "name-error",
        ),
        (
            vec![
                ("name", "Grafana"),
                ("redirect_uris", "https://grafana.example.org/cb"),
                ("signing_alg", "HS256"),
            ],
            "alg-error",
        ),
        (
            vec![
                ("name", "Grafana"),
                ("redirect_uris", "https://grafana.example.org/cb"),
                ("allowed_group", "ghosts"),
            ],
            "groups-error",
        ),
    ] {
        let page = b.submit("/admin/clients/new", &fields).await;
        assert_eq!(page.status, 422, "{fields:?}");
        assert_no_inline_script(&page.body);
        assert!(page.body.contains(&format!("id=\"{field}\"")), "{fields:?}");
    }
    assert_eq!(w.store().list_clients().await.unwrap().len(), count);
    assert!(events_starting(&w.server, "admin.client").await.is_empty());

    let page = b
        .submit(
            "/admin/clients/new",
            &[
                ("name", "Grafana"),
                (
                    "redirect_uris",
                    "https://grafana.example.org/login/generic_oauth\r\n\r\nhttp://127.0.0.1/cb\r\n",
                ),
                (
                    "post_logout_redirect_uris",
                    "https://grafana.example.org/login",
                ),
                ("signing_alg", "ES256"),
                ("skip_consent", "on"),
                ("allowed_group", "staff"),
            ],
        )
        .await;
    ok(&page, "client created");
    assert!(page.body.contains("shown only now"));
    assert!(
        page.body
            .contains(&format!("value=\"{APP}/.well-known/openid-configuration\""))
    );
    let id = input_value(&page.body, "data-client-id");
    let secret = input_value(&page.body, "data-client-secret");
    let client = w.store().client_by_id(&id).await.unwrap().unwrap();
    assert_eq!(client.name, "Grafana");
    assert_eq!(
        client.redirect_uris,
        [
            "https://grafana.example.org/login/generic_oauth",
            "http://127.0.0.1/cb"
        ]
    );
    assert_eq!(client.signing_alg, "ES256");
    assert!(client.skip_consent && !client.is_public);
    assert_eq!(client.allowed_groups, ["staff"]);
    assert_eq!(
        client.secret_hash.as_deref(),
        Some(latchkey::crypto::hash_secret(&secret).as_str()),
        "only the hash is stored"
    );
    let events = audit(&w.server, "admin.client.created").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].subject.as_deref(), Some(id.as_str()));
    assert!(!events[0].details.to_string().contains(&secret));

    let path = format!("/admin/clients/{id}");
    let detail = b.get(&path).await;
    ok(&detail, "client page");
    assert!(
        !detail.body.contains(&secret),
        "the secret is never shown again"
    );
    assert!(detail.body.contains("Rotate secret"));
    assert!(
        detail
            .body
            .contains("access tokens 1h · refresh tokens 30days")
    );

    let rotated = b.submit(&format!("{path}/rotate-secret"), &[]).await;
    ok(&rotated, "rotated");
    let new_secret = input_value(&rotated.body, "data-client-secret");
    assert_ne!(new_secret, secret);
    let client = w.store().client_by_id(&id).await.unwrap().unwrap();
    assert_eq!(
        client.secret_hash.as_deref(),
        Some(latchkey::crypto::hash_secret(&new_secret).as_str())
    );
    assert_eq!(
        audit(&w.server, "admin.client.secret_rotated").await.len(),
        1
    );
    assert!(
        b.get(&path)
            .await
            .body
            .contains("previous secret still works")
    );

    let confirm = b.get(&format!("{path}/delete")).await;
    ok(&confirm, "delete confirmation");
    assert!(confirm.body.contains("Delete the client Grafana?"));
    let res = b.submit(&format!("{path}/delete"), &[]).await;
    assert_eq!(
        res.location.as_deref(),
        Some("/admin/clients?done=client_deleted")
    );
    assert!(w.store().client_by_id(&id).await.unwrap().is_none());
    assert_eq!(audit(&w.server, "admin.client.deleted").await.len(), 1);
    w.server.stop().await;
}

#[tokio::test]
async fn a_public_client_has_no_secret_to_show_or_rotate() {
    let w = World::new().await;
    let b = signed_in(&w.server, "root").await;
    b.get("/admin/clients/new").await;
    let page = b
        .submit(
            "/admin/clients/new",
            &[
                ("name", "Phone app"),
                ("redirect_uris", "com.example.app:/oauth"),
                ("public", "on"),
            ],
        )
        .await;
    ok(&page, "public client created");
    assert!(!page.body.contains("data-client-secret"));
    assert!(page.body.contains("public client"));
    let id = input_value(&page.body, "data-client-id");
    let client = w.store().client_by_id(&id).await.unwrap().unwrap();
    assert!(client.is_public && client.secret_hash.is_none());
    assert_eq!(client.signing_alg, "RS256", "the default");
    let detail = b.get(&format!("/admin/clients/{id}")).await;
    ok(&detail, "public client page");
    assert!(!detail.body.contains("Rotate secret"));
    let res = b
        .submit(&format!("/admin/clients/{id}/rotate-secret"), &[])
        .await;
    assert_eq!(
        res.location.as_deref(),
        Some(format!("/admin/clients/{id}?error=not_found").as_str())
    );
    assert!(
        audit(&w.server, "admin.client.secret_rotated")
            .await
            .is_empty()
    );
    w.server.stop().await;
}

#[tokio::test]
async fn the_client_page_edits_every_setting_or_nothing() {
    let w = World::new().await;
    let b = signed_in(&w.server, "root").await;
    let path = format!("/admin/clients/{}", w.client.id);
    let page = b.get(&path).await;
    ok(&page, "client page with its form");
    assert!(page.body.contains("name=\"name\" value=\"Wiki\""));
    assert!(page.body.contains("name=\"access_token_ttl\" value=\"1h\""));
    let before = w.store().client_by_id(&w.client.id).await.unwrap().unwrap();
    let good = [
        ("name", "Wiki (new)"),
        (
            "redirect_uris",
            "https://wiki.example.org/cb\r\nhttps://wiki.example.org/cb2",
        ),
        ("post_logout_redirect_uris", "https://wiki.example.org/bye"),
        ("launch_url", "https://wiki.example.org/"),
        ("signing_alg", "EdDSA"),
        ("access_token_ttl", "15m"),
        ("refresh_token_ttl", "7d"),
        ("require_pkce", "on"),
        ("always_refresh", "on"),
        ("allowed_group", "staff"),
    ];
    for (field, value, marker) in [
        ("launch_url", "ftp://wiki.example.org/", "launch-error"),
        ("access_token_ttl", "soon", "access-error"),
        ("access_token_ttl", "2d", "access-error"),
        ("refresh_token_ttl", "1m", "refresh-error"),
        ("redirect_uris", "", "redirect-error"),
        ("post_logout_redirect_uris", "data:x", "logout-error"),
        ("signing_alg", "none", "alg-error"),
        ("allowed_group", "ghosts", "groups-error"),
        ("name", "", "name-error"),
    ] {
        let mut fields: Vec<(&str, &str)> =
            good.iter().filter(|(k, _)| *k != field).copied().collect();
        fields.push((field, value));
        let page = b.submit(&path, &fields).await;
        assert_eq!(page.status, 422, "{field}={value}");
        assert_no_inline_script(&page.body);
        assert!(
            page.body.contains(&format!("id=\"{marker}\"")),
            "{field}={value}"
        );
        assert!(page.body.contains("Nothing was saved"));
        assert!(
            page.body.contains("value=\"Wiki (new)\"") || field == "name",
            "what was typed stays"
        );
    }
    assert_eq!(
        w.store().client_by_id(&w.client.id).await.unwrap().unwrap(),
        before
    );
    assert!(audit(&w.server, "admin.client.updated").await.is_empty());

    let res = b.submit(&path, &good).await;
    assert_eq!(
        res.location.as_deref(),
        Some(format!("{path}?done=client_updated").as_str())
    );
    let after = w.store().client_by_id(&w.client.id).await.unwrap().unwrap();
    assert_eq!(after.name, "Wiki (new)");
    assert_eq!(after.redirect_uris.len(), 2);
    assert_eq!(
        after.launch_url.as_deref(),
        Some("https://wiki.example.org/")
    );
    assert_eq!(
        (
            after.signing_alg.as_str(),
            after.access_token_ttl,
            after.refresh_token_ttl
        ),
        ("EdDSA", 900, 604_800)
    );
    assert!(after.require_pkce && after.always_refresh && !after.skip_consent);
    assert_eq!(after.allowed_groups, ["staff"]);
    assert_eq!(after.secret_hash, before.secret_hash, "the secret stays");
    let events = audit(&w.server, "admin.client.updated").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].details["before"]["name"], "Wiki");
    assert_eq!(events[0].details["before"]["access_token_ttl"], 3600);
    assert_eq!(events[0].details["after"]["access_token_ttl"], 900);
    assert_eq!(events[0].client_id.as_deref(), Some(w.client.id.as_str()));
    let shown = b.get(&format!("{path}?done=client_updated")).await;
    assert!(shown.body.contains("The changes were saved"));
    assert!(shown.body.contains("access tokens 15m"));

    // Public drops the secret; confidential again shows a new one, once.
    let mut public: Vec<(&str, &str)> = good.to_vec();
    public.push(("public", "on"));
    b.submit(&path, &public).await;
    let now_public = w.store().client_by_id(&w.client.id).await.unwrap().unwrap();
    assert!(now_public.is_public && now_public.secret_hash.is_none());
    let page = b.submit(&path, &good).await;
    ok(&page, "secret page");
    let secret = input_value(&page.body, "data-client-secret");
    let confidential = w.store().client_by_id(&w.client.id).await.unwrap().unwrap();
    assert_eq!(
        confidential.secret_hash.as_deref(),
        Some(latchkey::crypto::hash_secret(&secret).as_str())
    );
    w.server.stop().await;
}
