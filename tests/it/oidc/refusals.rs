//! Requests refused without side effects (security review #11, #12, #15): a failed
//! refresh leaves its token usable, client_credentials grants no scope it was not
//! registered for, and an access token is no `id_token_hint`.

use super::*;

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
