//! The details a careful relying party runs into (issue 25, point 7): scheme names
//! in any case, the errors for request objects, `id_token_hint` with `prompt=none`,
//! and `max_age=0`.

use super::*;

#[tokio::test]
async fn basic_and_bearer_are_accepted_in_any_case() {
    let server = TestServer::start(&[]).await;
    let (b, _) = signed_in_browser(&server, "ann").await;
    let rp = client(&server, spec("ES256")).await;
    let code = get_code(&b, &rp, "").await;
    let secret = rp.secret.clone().unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{secret}", rp.id));
    let form = serde_urlencoded::to_string([
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ])
    .unwrap();
    let res = http()
        .post(server.url("/token"))
        .header("authorization", format!("BASIC {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "BASIC at /token");
    let tokens: Value = res.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    for scheme in ["bEaReR", "bearer", "BEARER"] {
        let res = http()
            .get(server.url("/userinfo"))
            .header("authorization", format!("{scheme} {access}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{scheme} at /userinfo");
    }
    let res = http()
        .post(server.url("/introspect"))
        .header("authorization", format!("basic {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "basic at /introspect");
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["active"], true);
    // The REST API's keys too.
    let user = server
        .running()
        .state
        .store
        .user_by_login("ann")
        .await
        .unwrap()
        .unwrap();
    let (_, key) = latchkey::api::issue_api_key(
        &server.running().state.store,
        &user.id,
        "t",
        600,
        &latchkey::audit::Origin::cli(),
    )
    .await
    .unwrap();
    let res = http()
        .get(server.url("/api/v1/me"))
        .header("authorization", format!("BEARER {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "BEARER at /api/v1/me");
    server.stop().await;
}

#[tokio::test]
async fn request_and_request_uri_are_refused_each_with_its_own_error() {
    let server = TestServer::start(&[]).await;
    let (b, _) = signed_in_browser(&server, "rex").await;
    let rp = client(&server, spec("RS256")).await;
    for (extra, error) in [
        (
            "&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Ax",
            "request_uri_not_supported",
        ),
        ("&request=eyJhbGciOiJub25lIn0.e30.", "request_not_supported"),
    ] {
        let res = b.get(&authorize_path(&rp, extra)).await;
        let q = query_of(res.location.as_deref().unwrap());
        assert_eq!(q["error"], error, "{extra}");
        assert_eq!(q["state"], "st8");
    }
    let discovery: Value = http()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["request_parameter_supported"], false);
    assert_eq!(discovery["request_uri_parameter_supported"], false);
    server.stop().await;
}

#[tokio::test]
async fn prompt_none_never_answers_for_someone_the_hint_does_not_name() {
    let server = TestServer::start(&[]).await;
    let rp = client(&server, spec("RS256")).await;
    let (ann, _) = signed_in_browser(&server, "ann").await;
    let (ben, _) = signed_in_browser(&server, "ben").await;
    let code = get_code(&ann, &rp, "").await;
    let (_, t) = redeem(&server, &rp, &code).await;
    let ann_hint = t["id_token"].as_str().unwrap().to_string();
    // Ben's consent, so that only the hint can stop a code for him.
    get_code(&ben, &rp, "").await;

    let hint = |h: &str| format!("&prompt=none&id_token_hint={h}");
    // Ann's own hint: a code, silently.
    let res = ann.get(&authorize_path(&rp, &hint(&ann_hint))).await;
    let q = query_of(res.location.as_deref().unwrap());
    assert!(q.contains_key("code"), "{q:?}");
    // Ben signed in, Ann's hint: never a code for Ben.
    let res = ben.get(&authorize_path(&rp, &hint(&ann_hint))).await;
    let q = query_of(res.location.as_deref().unwrap());
    assert_eq!(
        q.get("error").map(String::as_str),
        Some("login_required"),
        "{q:?}"
    );
    assert!(!q.contains_key("code"));
    // A hint that is not an ID token of ours (altered, or garbage): the same.
    let mut parts: Vec<String> = ann_hint.split('.').map(str::to_string).collect();
    parts[1] =
        URL_SAFE_NO_PAD.encode(json!({"iss": APP, "sub": "someone", "aud": rp.id}).to_string());
    for bad in [parts.join("."), "not-a-token".to_string()] {
        let res = ann.get(&authorize_path(&rp, &hint(&bad))).await;
        let q = query_of(res.location.as_deref().unwrap());
        assert_eq!(
            q.get("error").map(String::as_str),
            Some("login_required"),
            "{bad}"
        );
    }
    // Without prompt=none the person the hint does not name is asked to sign in.
    let res = ben
        .get(&authorize_path(&rp, &format!("&id_token_hint={ann_hint}")))
        .await;
    let login = res.location.unwrap();
    assert!(
        login.starts_with("/login?next=") && login.ends_with("&reauth=1"),
        "{login}"
    );
    server.stop().await;
}

#[tokio::test]
async fn max_age_zero_asks_for_a_sign_in_even_in_the_same_second() {
    let server = TestServer::start(&[]).await;
    let rp = client(&server, spec("RS256")).await;
    let (b, _) = signed_in_browser(&server, "max").await;
    get_code(&b, &rp, "").await;
    // Signed in a moment ago, most likely in this very second.
    let res = b.get(&authorize_path(&rp, "&max_age=0")).await;
    let login = res.location.unwrap();
    assert!(login.starts_with("/login?next="), "{login}");
    assert!(login.contains("reauth=1"), "{login}");
    // The way back does not ask again (max_age is dropped from it).
    let next = query_of(&login)["next"].clone();
    assert!(!next.contains("max_age"), "{next}");
    let res = b.get(&authorize_path(&rp, "&prompt=none&max_age=0")).await;
    let q = query_of(res.location.as_deref().unwrap());
    assert_eq!(q["error"], "login_required");
    server.stop().await;
}

async fn webfinger(server: &TestServer, query: &str) -> (u16, Value, reqwest::header::HeaderMap) {
    let res = http()
        .get(server.url(&format!("/.well-known/webfinger?{query}")))
        .header("origin", "https://login.tailscale.com")
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, res.json().await.unwrap_or(Value::Null), headers)
}

#[tokio::test]
async fn webfinger_names_the_issuer_for_existing_accounts_at_its_own_domain() {
    let issuer = "http://sso.example.org";
    for (mode, gmail_found) in [("own-domain", false), ("any", true), ("off", false)] {
        let server =
            TestServer::start(&[("LATCHKEY_APP_URL", issuer), ("LATCHKEY_WEBFINGER", mode)]).await;
        let state = &server.running().state;
        people::with_password(state, people::named("ann")).await;
        let gone = people::with_password(state, people::named("dis")).await;
        state.store.set_user_disabled(&gone.id, true).await.unwrap();
        people::with_password(
            state,
            NewUser {
                email: Some("eve@gmail.com".into()),
                ..people::named("eve")
            },
        )
        .await;
        let rel = "&rel=http%3A%2F%2Fopenid.net%2Fspecs%2Fconnect%2F1.0%2Fissuer";
        let (status, jrd, headers) =
            webfinger(&server, &format!("resource=acct%3Aann%40example.org{rel}")).await;
        if mode == "off" {
            assert_eq!(status, 404);
            server.stop().await;
            continue;
        }
        assert_eq!(status, 200, "{mode}: {jrd}");
        assert_eq!(headers["content-type"], "application/jrd+json");
        assert_eq!(headers["access-control-allow-origin"], "*");
        assert_eq!(jrd["subject"], "acct:ann@example.org");
        assert_eq!(
            jrd["links"][0]["rel"],
            "http://openid.net/specs/connect/1.0/issuer"
        );
        assert_eq!(jrd["links"][0]["href"], issuer);
        // Unknown and disabled accounts look alike: 404.
        for who in ["nobody%40example.org", "dis%40example.org"] {
            let (status, _, _) = webfinger(&server, &format!("resource=acct%3A{who}")).await;
            assert_eq!(status, 404, "{mode}: {who}");
        }
        // An address elsewhere only when the admin allows any.
        let (status, _, _) = webfinger(&server, "resource=acct%3Aeve%40gmail.com").await;
        assert_eq!(status == 200, gmail_found, "{mode}: gmail");
        let (status, _, _) = webfinger(&server, "").await;
        assert_eq!(status, 400);
        server.stop().await;
    }
}
