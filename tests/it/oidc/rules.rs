//! One rule per test: redirect URIs, code replay, PKCE, client binding, client
//! authentication, prompt=none, forged tokens, access checks, malformed input.

use super::*;

#[tokio::test]
async fn redirect_uris_must_match_exactly_and_errors_never_redirect_there() {
    let server = TestServer::start(&[]).await;
    let (b, _) = signed_in_browser(&server, "lee").await;
    let rp = client(&server, spec("RS256")).await;
    for bad in [
        "https://app.example.com/callback/",
        "https://app.example.com/CALLBACK",
        "https://app.example.com/callback?x=1",
        "https://app.example.com/callback#f",
        "https://user@app.example.com/callback",
        "https://app.example.com.evil.org/callback",
        "https://evil.org/callback",
    ] {
        let path = format!(
            "/authorize?response_type=code&client_id={}&scope=openid&redirect_uri={}",
            rp.id,
            url::form_urlencoded::byte_serialize(bad.as_bytes()).collect::<String>()
        );
        let res = b.get(&path).await;
        assert_eq!(res.status, 400, "{bad}");
        assert!(res.location.is_none(), "{bad} must not redirect");
        assert!(res.body.contains("Invalid return address"));
    }
    let res = b
        .get(&format!(
            "/authorize?response_type=code&client_id=nope&scope=openid&redirect_uri={CB}"
        ))
        .await;
    assert_eq!((res.status, res.location), (400, None));
    server.stop().await;
}

#[tokio::test]
async fn replayed_code_is_refused_and_kills_what_it_issued() {
    let server = TestServer::start(&[]).await;
    let (b, _) = signed_in_browser(&server, "max").await;
    let rp = client(&server, spec("RS256")).await;
    let code = get_code(&b, &rp, "").await;
    let (_, t) = redeem(&server, &rp, &code).await;
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&server, access).await, 200);
    let (s, again) = redeem(&server, &rp, &code).await;
    assert_eq!((s, again["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(
        userinfo(&server, access).await,
        401,
        "the first access token died"
    );
    let (s, _, _) = token(
        &server,
        &rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(s, 400, "the first refresh token died");
    server.stop().await;
}

#[tokio::test]
async fn pkce_is_enforced() {
    let server = TestServer::start(&[]).await;
    let (b, _) = signed_in_browser(&server, "nia").await;
    let public = client(
        &server,
        ClientSpec {
            public: true,
            ..spec("RS256")
        },
    )
    .await;
    // Missing challenge from a public client: an error sent back to the client.
    let path = format!(
        "/authorize?response_type=code&client_id={}&redirect_uri={CB}&scope=openid&state=st8",
        public.id
    );
    let res = b.get(&path).await;
    let q = query_of(res.location.as_deref().unwrap());
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(q["iss"], APP);
    // Downgrade to plain is refused for a client that did not opt in.
    let res = b
        .get(&format!(
            "{path}&code_challenge={VERIFIER}&code_challenge_method=plain"
        ))
        .await;
    assert_eq!(
        query_of(res.location.as_deref().unwrap())["error"],
        "invalid_request"
    );
    // Wrong or missing verifier at the token endpoint.
    for verifier in [None, Some("x".repeat(43)), Some(CHALLENGE.to_string())] {
        let code = get_code(&b, &public, "").await;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CB),
        ];
        if let Some(v) = &verifier {
            form.push(("code_verifier", v));
        }
        let (s, e, _) = token(&server, &public, &form).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (400, Some("invalid_grant")),
            "{verifier:?}"
        );
    }
    let code = get_code(&b, &public, "").await;
    assert_eq!(redeem(&server, &public, &code).await.0, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_code_is_bound_to_its_client() {
    let server = TestServer::start(&[]).await;
    let (b, _) = signed_in_browser(&server, "ola").await;
    let a = client(&server, spec("RS256")).await;
    let other = client(&server, spec("RS256")).await;
    let code = get_code(&b, &a, "").await;
    let (s, e) = redeem(&server, &other, &code).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    server.stop().await;
}

#[tokio::test]
async fn client_authentication_errors_follow_rfc6749() {
    let server = TestServer::start(&[]).await;
    let rp = client(&server, spec("RS256")).await;
    let wrong = Rp {
        id: rp.id.clone(),
        secret: Some("wrong".into()),
    };
    let (s, e, h) = token(&server, &wrong, &[("grant_type", "client_credentials")]).await;
    assert_eq!((s, e["error"].as_str()), (401, Some("invalid_client")));
    assert!(h["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    assert_eq!(h["cache-control"], "no-store");
    // client_secret_post works too; both at once is invalid_request.
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        rp.id,
        rp.secret.as_ref().unwrap()
    );
    let res = http()
        .post(server.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = http()
        .post(server.url("/token"))
        .basic_auth(&rp.id, rp.secret.as_ref())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let (s, e, _) = token(&server, &rp, &[("grant_type", "password")]).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let public = client(
        &server,
        ClientSpec {
            public: true,
            ..spec("RS256")
        },
    )
    .await;
    let (s, e, _) = token(&server, &public, &[("grant_type", "client_credentials")]).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("unauthorized_client")));
    server.stop().await;
}

#[tokio::test]
async fn prompt_none_without_a_session_says_login_required() {
    let server = TestServer::start(&[]).await;
    let rp = client(&server, spec("RS256")).await;
    let b = Browser::new(&server.base, APP);
    let res = b.get(&authorize_path(&rp, "&prompt=none")).await;
    let q = query_of(res.location.as_deref().unwrap());
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], "st8");
    assert_eq!(q["iss"], APP);
    // Without prompt=none, the sign-in page comes first, then back here.
    let res = b.get(&authorize_path(&rp, "")).await;
    assert!(
        res.location
            .unwrap()
            .starts_with("/login?next=%2Fauthorize%3F")
    );
    server.stop().await;
}

#[tokio::test]
async fn forged_tokens_are_never_accepted() {
    let server = TestServer::start(&[]).await;
    let (b, _) = signed_in_browser(&server, "pia").await;
    let rp = client(&server, spec("RS256")).await;
    let code = get_code(&b, &rp, "").await;
    let (_, t) = redeem(&server, &rp, &code).await;
    let genuine = t["access_token"].as_str().unwrap();
    let payload = genuine.split('.').nth(1).unwrap();
    let none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#)
    );
    let jwks: Value = http()
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = jwks["keys"][0]["kid"].as_str().unwrap();
    let header =
        URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}).to_string());
    let signing_input = format!("{header}.{payload}");
    let key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        jwks["keys"][0].to_string().as_bytes(),
    );
    let hs256 = format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(&key, signing_input.as_bytes()))
    );
    for forged in [&none, &hs256] {
        assert_eq!(userinfo(&server, forged).await, 401);
        let res = http()
            .post(server.url("/introspect"))
            .basic_auth(&rp.id, rp.secret.as_ref())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={forged}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"active": false}));
        let res = b.get(&format!("/logout?id_token_hint={forged}&post_logout_redirect_uri=https://app.example.com/bye")).await;
        assert_eq!(res.status, 400, "a forged hint is refused");
    }
    assert_eq!(userinfo(&server, genuine).await, 200);
    server.stop().await;
}

#[tokio::test]
async fn disabled_users_and_non_members_get_nothing() {
    let server = TestServer::start(&[]).await;
    let store = &server.running().state.store;
    let (b, user) = signed_in_browser(&server, "quin").await;
    let staff = store.create_group("staff", "Staff").await.unwrap();
    let rp = client(
        &server,
        ClientSpec {
            allowed_groups: vec!["staff".into()],
            ..spec("RS256")
        },
    )
    .await;
    let res = b.get(&authorize_path(&rp, "")).await;
    let q = query_of(res.location.as_deref().unwrap());
    assert_eq!(q["error"], "access_denied");
    store.add_group_member(&staff.id, &user.id).await.unwrap();
    let code = get_code(&b, &rp, "").await;
    let (_, t) = redeem(&server, &rp, &code).await;
    store.set_user_disabled(&user.id, true).await.unwrap();
    let (s, e, _) = token(
        &server,
        &rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(
        userinfo(&server, t["access_token"].as_str().unwrap()).await,
        401
    );
    server.stop().await;
}

#[tokio::test]
async fn malformed_requests_never_cause_a_500() {
    let server = TestServer::start(&[]).await;
    let (b, _) = signed_in_browser(&server, "val").await;
    let rp = client(&server, spec("RS256")).await;
    let huge = "a".repeat(9_000);
    let enormous = "a".repeat(70_000);
    let queries = [
        String::new(),
        "client_id=%FF%FE&redirect_uri=%C0".into(),
        format!("client_id={}&client_id={}", rp.id, rp.id),
        format!(
            "client_id={}&redirect_uri={CB}&response_type=code&response_type=token&scope=openid",
            rp.id
        ),
        format!(
            "client_id={}&redirect_uri={CB}&response_type=code&scope=openid&max_age=-1",
            rp.id
        ),
        format!(
            "client_id={}&redirect_uri={CB}&response_type=code&scope=openid&prompt=none%20login",
            rp.id
        ),
        format!(
            "client_id={}&redirect_uri={CB}&response_type=code&scope=openid&code_challenge=%00%01",
            rp.id
        ),
        format!(
            "client_id={}&redirect_uri={CB}&response_type=code&scope={huge}",
            rp.id
        ),
        "%%%&&&===".into(),
    ];
    for q in &queries {
        for path in ["/authorize", "/logout"] {
            let res = b.get(&format!("{path}?{q}")).await;
            assert!(
                res.status < 500,
                "{path}?{}: {}",
                &q[..q.len().min(80)],
                res.status
            );
        }
    }
    let bodies = [
        String::new(),
        "grant_type=authorization_code".into(),
        "grant_type=authorization_code&code=x&code=y".into(),
        format!("grant_type=refresh_token&refresh_token={enormous}"),
        "grant_type=%FF".into(),
        "token=%E0%80".into(),
        "\u{0}\u{1}binary".into(),
    ];
    for body in &bodies {
        for path in [
            "/token",
            "/introspect",
            "/revoke",
            "/userinfo",
            "/authorize",
            "/authorize/consent",
            "/logout",
        ] {
            let res = http()
                .post(server.url(path))
                .basic_auth(&rp.id, rp.secret.as_ref())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert!(
                res.status().as_u16() < 500,
                "POST {path} {}: {}",
                &body[..body.len().min(60)],
                res.status()
            );
        }
    }
    for auth in [
        "Bearer",
        "Bearer a.b.c",
        "Bearer ....",
        "Basic !!!",
        "Basic Og==",
        "Bearer eyJhbGciOiJub25lIn0.e30.",
    ] {
        for path in ["/userinfo", "/token", "/introspect"] {
            let res = http()
                .post(server.url(path))
                .header("authorization", auth)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials")
                .send()
                .await
                .unwrap();
            assert!(
                res.status().as_u16() < 500,
                "{path} with {auth}: {}",
                res.status()
            );
        }
    }
    server.stop().await;
}
