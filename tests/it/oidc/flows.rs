//! Whole flows: discovery, code + refresh + revocation, consent and response modes,
//! logout, client credentials, key rotation.

use super::*;

#[tokio::test]
async fn discovery_and_jwks_are_complete() {
    let server = TestServer::start(&[]).await;
    let d: Value = http()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], APP);
    for key in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
        "scopes_supported",
        "claims_supported",
        "response_types_supported",
        "response_modes_supported",
        "grant_types_supported",
        "code_challenge_methods_supported",
        "token_endpoint_auth_methods_supported",
        "id_token_signing_alg_values_supported",
        "subject_types_supported",
    ] {
        assert!(!d[key].is_null(), "{key}");
    }
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    assert_eq!(d["response_types_supported"], json!(["code"]));
    let rfc8414: Value = http()
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rfc8414["issuer"], APP);
    let res = http()
        .get(server.url("/.well-known/jwks.json"))
        .header("origin", "https://spa.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let jwks: Value = res.json().await.unwrap();
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs.len(), 3);
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert!(algs.contains(&alg), "{alg}");
    }
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("d").is_none()),
        "no private parts"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_whole_code_flow_with_refresh_rotation_and_revocation() {
    let server = TestServer::start(&[]).await;
    let (b, user) = signed_in_browser(&server, "kim").await;
    let rp = client(&server, spec("ES256")).await;
    let code = get_code(&b, &rp, "").await;
    let (status, t) = redeem(&server, &rp, &code).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["token_type"], "Bearer");
    let claims = verify_id_token(&server, t["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["iss"], APP);
    assert_eq!(claims["sub"], json!(user.id));
    assert_eq!(claims["aud"], json!(rp.id));
    assert_eq!(claims["nonce"], "n0nce");
    assert_eq!(claims["email"], "kim@example.org");
    assert_eq!(claims["preferred_username"], "kim");
    assert_eq!(
        claims["at_hash"],
        json!(jws::half_hash(
            t["access_token"].as_str().unwrap(),
            latchkey::crypto::keys::Algorithm::ES256
        ))
    );
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());

    let access = t["access_token"].as_str().unwrap();
    let info: Value = http()
        .get(server.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], json!(user.id));
    assert_eq!(info["email"], claims["email"]);
    assert_eq!(info["groups"], json!([]));
    // `picture` is the user's public picture URL (an initials avatar until one is
    // uploaded), the same in the ID token and at /userinfo, and needs no session.
    let picture = format!("/pictures/users/{}", user.id);
    assert_eq!(claims["picture"], json!(format!("{APP}{picture}")));
    assert_eq!(info["picture"], claims["picture"]);
    let avatar = http().get(server.url(&picture)).send().await.unwrap();
    assert_eq!(avatar.status(), 200);
    assert!(
        avatar.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("image/")
    );

    // Refresh rotates; the old refresh token then kills the family.
    let r1 = t["refresh_token"].as_str().unwrap();
    let (s, t2, _) = token(
        &server,
        &rp,
        &[("grant_type", "refresh_token"), ("refresh_token", r1)],
    )
    .await;
    assert_eq!(s, 200, "{t2}");
    let r2 = t2["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2);
    assert!(t2["id_token"].is_string());
    let (s, reuse, _) = token(
        &server,
        &rp,
        &[("grant_type", "refresh_token"), ("refresh_token", r1)],
    )
    .await;
    assert_eq!((s, reuse["error"].as_str()), (400, Some("invalid_grant")));
    let (s, _, _) = token(
        &server,
        &rp,
        &[("grant_type", "refresh_token"), ("refresh_token", r2)],
    )
    .await;
    assert_eq!(s, 400, "reuse of an old token revoked the whole family");
    assert_eq!(
        userinfo(&server, t2["access_token"].as_str().unwrap()).await,
        401
    );

    // A fresh grant: revoke the access token, introspection says inactive.
    let code = get_code(&b, &rp, "").await;
    let (_, t3) = redeem(&server, &rp, &code).await;
    let a3 = t3["access_token"].as_str().unwrap();
    let intro = |tok: String| {
        let rp_id = rp.id.clone();
        let secret = rp.secret.clone();
        let url = server.url("/introspect");
        async move {
            let res = http()
                .post(url)
                .basic_auth(rp_id, secret)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("token={tok}"))
                .send()
                .await
                .unwrap();
            res.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(intro(a3.to_string()).await["active"], true);
    assert_eq!(
        intro(t3["refresh_token"].as_str().unwrap().to_string()).await["active"],
        true
    );
    let res = http()
        .post(server.url("/revoke"))
        .basic_auth(&rp.id, rp.secret.as_ref())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={a3}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(intro(a3.to_string()).await, json!({"active": false}));
    assert_eq!(userinfo(&server, a3).await, 401);
    server.stop().await;
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_verifiable() {
    let server = TestServer::start(&[]).await;
    let state = &server.running().state;
    let (b, _) = signed_in_browser(&server, "ray").await;
    let rp = client(&server, spec("EdDSA")).await;
    let (_, t) = redeem(&server, &rp, &get_code(&b, &rp, "").await).await;
    let before: Value = http()
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    latchkey::oidc::keys::rotate(
        &state.store,
        &state.encryption,
        latchkey::crypto::keys::Algorithm::EdDSA,
        7200,
    )
    .await
    .unwrap();
    state.keys.reload().await.unwrap();
    let after: Value = http()
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        after["keys"].as_array().unwrap().len(),
        4,
        "old and new EdDSA keys are both published"
    );
    for k in before["keys"].as_array().unwrap() {
        assert!(after["keys"].as_array().unwrap().contains(k));
    }
    assert_eq!(
        userinfo(&server, t["access_token"].as_str().unwrap()).await,
        200,
        "tokens of the retired key still verify"
    );
    verify_id_token(&server, t["id_token"].as_str().unwrap()).await;
    let (_, t2) = redeem(&server, &rp, &get_code(&b, &rp, "").await).await;
    let kid = |tok: &str| {
        serde_json::from_slice::<Value>(
            &URL_SAFE_NO_PAD
                .decode(tok.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap()["kid"]
            .clone()
    };
    assert_ne!(
        kid(t["id_token"].as_str().unwrap()),
        kid(t2["id_token"].as_str().unwrap()),
        "new tokens use the new key"
    );
    server.stop().await;
}

#[tokio::test]
async fn consent_is_asked_once_and_response_modes_work() {
    let server = TestServer::start(&[]).await;
    let (b, _) = signed_in_browser(&server, "sam").await;
    let rp = client(&server, spec("RS256")).await;
    let first = b.get(&authorize_path(&rp, "")).await;
    assert!(first.body.contains("Allow Wiki to sign you in?"));
    get_code(&b, &rp, "").await;
    let again = b.get(&authorize_path(&rp, "")).await;
    assert_eq!(again.status, 303, "consent remembered");
    assert!(
        b.get(&authorize_path(&rp, "&prompt=consent"))
            .await
            .body
            .contains("Allow Wiki")
    );
    let res = b.get(&authorize_path(&rp, "&response_mode=fragment")).await;
    assert!(res.location.unwrap().starts_with(&format!("{CB}#code=")));
    let res = b
        .get(&authorize_path(&rp, "&response_mode=form_post"))
        .await;
    assert_eq!(res.status, 200);
    assert!(
        res.body.contains(&format!("action=\"{CB}\""))
            || res
                .body
                .contains("action=\"https:&#x2F;&#x2F;app.example.com&#x2F;callback\"")
    );
    assert!(
        res.body.contains("name=\"code\"") && res.body.contains("src=\"/static/form_post.js\"")
    );
    crate::support::assert_no_inline_script(&res.body);
    // The user withdraws the approval on the security page: asked again, tokens dead.
    let (_, live) = redeem(&server, &rp, &get_code(&b, &rp, "").await).await;
    let page = b.get("/account/security").await;
    assert!(page.body.contains("data-consent-row") && page.body.contains("Wiki"));
    let res = b
        .submit(&format!("/account/consents/{}/revoke", rp.id), &[])
        .await;
    assert_eq!(
        res.location.as_deref(),
        Some("/account/security?done=consent_revoked")
    );
    assert_eq!(
        userinfo(&server, live["access_token"].as_str().unwrap()).await,
        401
    );
    let refresh = live["refresh_token"].as_str().unwrap();
    let (s, _, _) = token(
        &server,
        &rp,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(s, 400);
    // Declining sends access_denied.
    let page = b.get(&authorize_path(&rp, "")).await;
    let fields = hidden_fields(&page.body);
    let mut form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .filter(|(k, _)| *k != "csrf")
        .collect();
    form.push(("decision", "deny"));
    let res = b.submit("/authorize/consent", &form).await;
    assert_eq!(
        query_of(res.location.as_deref().unwrap())["error"],
        "access_denied"
    );
    let skip = client(
        &server,
        ClientSpec {
            skip_consent: true,
            ..spec("RS256")
        },
    )
    .await;
    assert_eq!(b.get(&authorize_path(&skip, "")).await.status, 303);
    server.stop().await;
}

#[tokio::test]
async fn rp_initiated_logout() {
    let server = TestServer::start(&[]).await;
    let (b, _) = signed_in_browser(&server, "tia").await;
    let rp = client(&server, spec("RS256")).await;
    let (_, t) = redeem(&server, &rp, &get_code(&b, &rp, "").await).await;
    let hint = t["id_token"].as_str().unwrap();
    let bad = b
        .get(&format!(
            "/logout?id_token_hint={hint}&post_logout_redirect_uri=https://evil.example/"
        ))
        .await;
    assert_eq!((bad.status, bad.location), (400, None));
    let res = b.get(&format!("/logout?id_token_hint={hint}&post_logout_redirect_uri=https://app.example.com/bye&state=s1")).await;
    assert_eq!(
        res.location.as_deref(),
        Some("https://app.example.com/bye?state=s1")
    );
    assert_eq!(b.get("/account").await.status, 303, "signed out");
    let (s, _, _) = token(
        &server,
        &rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(s, 400, "logout revoked the session's refresh tokens");
    // Without a hint, a signed-in user is asked first.
    let (b2, _) = signed_in_browser(&server, "uma").await;
    let ask = b2
        .get(&format!(
            "/logout?client_id={}&post_logout_redirect_uri=https://app.example.com/bye",
            rp.id
        ))
        .await;
    assert_eq!(ask.status, 200);
    assert!(ask.body.contains("Sign out?"));
    server.stop().await;
}

#[tokio::test]
async fn client_credentials_give_a_jwt_access_token() {
    let server = TestServer::start(&[]).await;
    let rp = client(&server, spec("ES256")).await;
    let (s, t, _) = token(
        &server,
        &rp,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "openid profile"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{t}");
    let access = t["access_token"].as_str().unwrap();
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(access.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (header["typ"].as_str(), header["alg"].as_str()),
        (Some("at+jwt"), Some("ES256"))
    );
    assert!(
        t.get("scope").is_none(),
        "user scopes make no sense without a user: {t}"
    );
    assert!(t.get("refresh_token").is_none() && t.get("id_token").is_none());
    server.stop().await;
}

#[tokio::test]
async fn client_credentials_tokens_can_be_introspected_and_revoked() {
    let server = TestServer::start(&[]).await;
    let rp = client(&server, spec("ES256")).await;
    let (_, t, _) = token(&server, &rp, &[("grant_type", "client_credentials")]).await;
    let access = t["access_token"].as_str().unwrap().to_string();
    let introspect = || async {
        http()
            .post(server.url("/introspect"))
            .basic_auth(&rp.id, rp.secret.as_ref())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={access}"))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    assert_eq!(introspect().await["active"], true);
    let res = http()
        .post(server.url("/revoke"))
        .basic_auth(&rp.id, rp.secret.as_ref())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(introspect().await, json!({"active": false}));
    server.stop().await;
}
