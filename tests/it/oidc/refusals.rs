//! Requests refused without side effects (security review #11, #12, #15): a failed
//! refresh leaves its token usable, client_credentials grants no scope it was not
//! registered for, and an access token is no `id_token_hint`.

use super::*;

async fn refresh(server: &TestServer, rp: &Rp, token: &str, scope: Option<&str>) -> (u16, Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let (s, v, _) = super::token(server, rp, &form).await;
    (s, v)
}

#[tokio::test]
async fn a_refused_refresh_leaves_the_token_and_its_family_alone() {
    let server = TestServer::start(&[]).await;
    let (b, _) = signed_in_browser(&server, "ria").await;
    let rp = client(&server, spec("ES256")).await;
    let (_, t) = redeem(&server, &rp, &get_code(&b, &rp, "").await).await;
    let r1 = t["refresh_token"].as_str().unwrap();
    let a1 = t["access_token"].as_str().unwrap();

    // Wider than granted: refused, and nothing changes.
    let (s, e) = refresh(&server, &rp, r1, Some("openid profile phone")).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_scope")),
        "{e}"
    );
    let (s, e) = refresh(&server, &rp, r1, Some("openid profile phone")).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_scope")),
        "a refused request is no use of the token: {e}"
    );
    assert_eq!(userinfo(&server, a1).await, 200, "the family is alive");

    // The token still works, once, with a narrower scope too.
    let (s, t2) = refresh(&server, &rp, r1, Some("openid offline_access")).await;
    assert_eq!(s, 200, "{t2}");
    assert_eq!(t2["scope"], "openid offline_access");
    let r2 = t2["refresh_token"].as_str().unwrap();

    // Reuse detection stays: the used token comes back and the family ends.
    let (s, e) = refresh(&server, &rp, r1, None).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{e}"
    );
    assert_eq!(
        refresh(&server, &rp, r2, None).await.0,
        400,
        "family revoked"
    );
    assert_eq!(
        userinfo(&server, t2["access_token"].as_str().unwrap()).await,
        401
    );
    let store = &server.running().state.store;
    let reused = store
        .list_audit(&latchkey::store::AuditFilter {
            event: Some("oidc.refresh.reused".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(reused.len(), 1, "one reuse, recorded once");
    server.stop().await;
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_are_one_use_and_one_reuse() {
    let server = TestServer::start(&[]).await;
    let (b, _) = signed_in_browser(&server, "rex").await;
    let rp = client(&server, spec("ES256")).await;
    let (_, t) = redeem(&server, &rp, &get_code(&b, &rp, "").await).await;
    let r1 = t["refresh_token"].as_str().unwrap();
    let (first, second) = tokio::join!(
        refresh(&server, &rp, r1, None),
        refresh(&server, &rp, r1, None)
    );
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "{first:?} {second:?}");
    // The winner's new token died with the family the reuse revoked.
    let winner = if first.0 == 200 { &first.1 } else { &second.1 };
    let r2 = winner["refresh_token"].as_str().unwrap();
    assert_eq!(refresh(&server, &rp, r2, None).await.0, 400);
    server.stop().await;
}

#[tokio::test]
async fn client_credentials_grant_no_scope_the_client_is_not_registered_for() {
    let server = TestServer::start(&[]).await;
    let rp = client(&server, spec("ES256")).await;
    for asked in ["admin write:everything", "openid admin", "api:read"] {
        let (s, e, _) = token(
            &server,
            &rp,
            &[("grant_type", "client_credentials"), ("scope", asked)],
        )
        .await;
        assert_eq!(
            (s, e["error"].as_str()),
            (400, Some("invalid_scope")),
            "{asked}: {e}"
        );
        assert!(e.get("access_token").is_none());
    }
    let (_, e, _) = token(
        &server,
        &rp,
        &[("grant_type", "client_credentials"), ("scope", "admin")],
    )
    .await;
    assert_eq!(
        e["error_description"],
        "the client is not registered for the scope `admin`"
    );
    // A scope that is not even well-formed is not echoed back.
    let (s, e, _) = token(
        &server,
        &rp,
        &[("grant_type", "client_credentials"), ("scope", "a\"b")],
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_scope")));
    assert!(!e["error_description"].as_str().unwrap().contains('"'));
    // No scope, or only user scopes (meaningless without a user): a token with none.
    for form in [vec![], vec![("scope", "openid email")]] {
        let mut fields = vec![("grant_type", "client_credentials")];
        fields.extend(form);
        let (s, t, _) = token(&server, &rp, &fields).await;
        assert_eq!(s, 200, "{t}");
        assert!(t.get("scope").is_none(), "{t}");
    }
    server.stop().await;
}

#[tokio::test]
async fn an_access_token_is_no_id_token_hint() {
    let server = TestServer::start(&[]).await;
    let (b, _) = signed_in_browser(&server, "lou").await;
    let rp = client(&server, spec("RS256")).await;
    let (_, t) = redeem(&server, &rp, &get_code(&b, &rp, "").await).await;
    let access = t["access_token"].as_str().unwrap();
    let res = b
        .get(&format!(
            "/logout?id_token_hint={access}&post_logout_redirect_uri=https://app.example.com/bye"
        ))
        .await;
    assert_eq!((res.status, res.location), (400, None), "{}", res.body);
    assert!(res.body.contains("not an ID token"), "{}", res.body);
    assert_eq!(b.get("/account").await.status, 200, "still signed in");
    assert_eq!(userinfo(&server, access).await, 200, "nothing was revoked");
    // The ID token itself still signs out without asking.
    let hint = t["id_token"].as_str().unwrap();
    let res = b
        .get(&format!(
            "/logout?id_token_hint={hint}&post_logout_redirect_uri=https://app.example.com/bye"
        ))
        .await;
    assert_eq!(res.location.as_deref(), Some("https://app.example.com/bye"));
    assert_eq!(b.get("/account").await.status, 303, "signed out");
    server.stop().await;
}
