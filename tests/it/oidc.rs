//! The OpenID Connect provider over HTTP, rule by rule (issue points 3–8).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey::crypto::jws;
use latchkey::domain::user::NewUser;
use latchkey::oidc::registration::{ClientSpec, register};
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::support::{TestServer, http};

const APP: &str = "http://localhost:1411";
const PASSWORD: &str = "velvet tractor ocean lamp";
const CB: &str = "https://app.example.com/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K9qH2Yfj1t4-JW7Ux7BY9JqvdY";
const CHALLENGE: &str = "iL4gp1vDueMyF0ocW7BWIJ5TVO7dbKU_NB5dE2f_fFA";

struct Rp {
    id: String,
    secret: Option<String>,
}

async fn client(server: &TestServer, spec: ClientSpec) -> Rp {
    let (c, secret) = register(&server.running().state.store, spec).await.unwrap();
    Rp { id: c.id, secret }
}

fn spec(alg: &str) -> ClientSpec {
    ClientSpec {
        name: "Wiki".into(),
        redirect_uris: vec![CB.into()],
        post_logout_redirect_uris: vec!["https://app.example.com/bye".into()],
        signing_alg: Some(alg.into()),
        ..ClientSpec::default()
    }
}

async fn signed_in_browser(
    server: &TestServer,
    username: &str,
) -> (Browser, latchkey::domain::user::User) {
    let state = &server.running().state;
    let user = state
        .store
        .create_user(
            &NewUser {
                username: username.into(),
                email: Some(format!("{username}@example.org")),
                first_name: "Kim".into(),
                ..NewUser::default()
            }
            .validate()
            .unwrap(),
        )
        .await
        .unwrap();
    let hash = state.auth.passwords.hash(PASSWORD.into()).await;
    state
        .store
        .set_password_hash(&user.id, Some(&hash))
        .await
        .unwrap();
    let b = Browser::new(&server.base, APP);
    b.get("/login").await;
    let res = b
        .submit(
            "/login/password",
            &[
                ("login", username),
                ("password", PASSWORD),
                ("next", "/account"),
            ],
        )
        .await;
    assert_eq!(res.status, 303);
    (b, user)
}

fn authorize_path(rp: &Rp, extra: &str) -> String {
    format!(
        "/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid%20profile%20email%20groups%20offline_access&state=st8&nonce=n0nce&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
        rp.id,
        url::form_urlencoded::byte_serialize(CB.as_bytes()).collect::<String>()
    )
}

fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    let q = location
        .split_once(['?', '#'])
        .map(|(_, q)| q)
        .unwrap_or_default();
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

/// Authorize (approving consent when asked) and return the code.
async fn get_code(b: &Browser, rp: &Rp, extra: &str) -> String {
    let mut res = b.get(&authorize_path(rp, extra)).await;
    if res.status == 200 && res.body.contains("Allow") {
        let fields = hidden_fields(&res.body);
        let mut form: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .filter(|(k, _)| *k != "csrf")
            .collect();
        form.push(("decision", "approve"));
        res = b.submit("/authorize/consent", &form).await;
    }
    assert_eq!(res.status, 303, "{}", res.body);
    let location = res.location.unwrap();
    assert!(location.starts_with(CB), "{location}");
    let q = query_of(&location);
    assert_eq!(q.get("state").map(String::as_str), Some("st8"));
    assert_eq!(q.get("iss").map(String::as_str), Some(APP));
    q.get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code in {location}"))
}

fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in html.split("<input type=\"hidden\" name=\"").skip(1) {
        let (name, rest) = part.split_once('"').unwrap();
        let value = rest
            .split_once("value=\"")
            .unwrap()
            .1
            .split_once('"')
            .unwrap()
            .0;
        out.push((
            name.to_string(),
            value
                .replace("&amp;", "&")
                .replace("&#x2F;", "/")
                .replace("&#x3D;", "=")
                .replace("&quot;", "\""),
        ));
    }
    out
}

async fn token(
    server: &TestServer,
    rp: &Rp,
    form: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = http()
        .post(server.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded");
    let mut fields: Vec<(&str, &str)> = form.to_vec();
    match &rp.secret {
        Some(s) => req = req.basic_auth(&rp.id, Some(s)),
        None => fields.push(("client_id", &rp.id)),
    }
    let res = req
        .body(serde_urlencoded::to_string(&fields).unwrap())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, res.json().await.unwrap_or(Value::Null), headers)
}

async fn redeem(server: &TestServer, rp: &Rp, code: &str) -> (u16, Value) {
    let (s, v, _) = token(
        server,
        rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    (s, v)
}

async fn userinfo(server: &TestServer, access: &str) -> u16 {
    http()
        .get(server.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn verify_id_token(server: &TestServer, id_token: &str) -> serde_json::Map<String, Value> {
    let verifiers = server.running().state.keys.verifiers().await.unwrap();
    jws::verify_jwt(id_token, |kid| verifiers.iter().find(|k| k.kid() == kid))
        .unwrap()
        .claims
}

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

#[tokio::test]
async fn client_credentials_give_a_jwt_access_token() {
    let server = TestServer::start(&[]).await;
    let rp = client(&server, spec("ES256")).await;
    let (s, t, _) = token(
        &server,
        &rp,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "api:read openid"),
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
    assert_eq!(
        t["scope"], "api:read",
        "user scopes make no sense without a user"
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
