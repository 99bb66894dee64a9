//! A client that needs a stronger or fresher sign-in (issue 25, point 5): the same
//! rule as a proxied application's, with a step-up through the sign-in page, and
//! `acr`/`amr` in the ID token saying what happened.

use latchkey::domain::access::Strength;
use latchkey::domain::session::{AuthMethod, Session};

use super::*;

fn totp_code(secret: &[u8]) -> String {
    latchkey::auth::totp::code_at(secret, latchkey::store::now() as u64)
}

#[tokio::test]
async fn a_two_factor_client_steps_a_password_session_up_and_says_so_in_the_id_token() {
    let server = TestServer::start(&[]).await;
    let state = &server.running().state;
    let rp = client(
        &server,
        ClientSpec {
            require: Strength::TwoFactor,
            ..spec("ES256")
        },
    )
    .await;
    let (b, user) = signed_in_browser(&server, "tia").await;
    // Signed in with a password alone: not enough, and never silently.
    let res = b.get(&authorize_path(&rp, "&prompt=none")).await;
    assert_eq!(
        query_of(res.location.as_deref().unwrap())["error"],
        "login_required"
    );
    let res = b.get(&authorize_path(&rp, "")).await;
    let login = res.location.unwrap();
    assert!(
        login.contains("reauth=1") && login.ends_with("&require=two-factor"),
        "{login}"
    );
    let page = b.get(&login).await;
    assert!(
        page.body
            .contains("a passkey, or a password with an authenticator code")
    );
    // With password and TOTP: the code comes, and the token says how.
    let (secret, _) = people::enrol_totp(state, &user.id).await;
    let next = query_of(&login)["next"].clone();
    let res = b
        .submit(
            "/login/password",
            &[
                ("login", "tia"),
                ("password", people::PASSWORD),
                ("next", &next),
            ],
        )
        .await;
    assert_eq!(res.location.as_deref(), Some("/login/second-factor"));
    let res = b
        .submit("/login/second-factor", &[("code", &totp_code(&secret))])
        .await;
    assert!(res.location.as_deref().unwrap().starts_with("/authorize?"));
    let code = get_code(&b, &rp, "").await;
    let (_, t) = redeem(&server, &rp, &code).await;
    let claims = verify_id_token(&server, t["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert!(claims.get("acr").is_none(), "not phishing-resistant");
    // acr_values=phr asks for a passkey, whatever the client's own rule.
    let res = b.get(&authorize_path(&rp, "&acr_values=phr")).await;
    assert!(res.location.unwrap().ends_with("&require=passkey"));
    server.stop().await;
}

#[tokio::test]
async fn a_passkey_session_is_phr_and_an_old_one_signs_in_again_for_a_client_with_a_maximum_age() {
    let server = TestServer::start(&[]).await;
    let state = &server.running().state;
    let rp = client(
        &server,
        ClientSpec {
            require: Strength::Passkey,
            max_session_age: Some(3600),
            ..spec("RS256")
        },
    )
    .await;
    let (_, user) = signed_in_browser(&server, "pat").await;
    // A session made by a passkey sign-in (the ceremony itself is tested in Chromium).
    let token = latchkey::crypto::random_token();
    let t = latchkey::store::now();
    state
        .store
        .insert_session(&Session {
            id_hash: token.hash(),
            user_id: user.id.clone(),
            created_at: t,
            last_seen_at: t,
            expires_at: t + 3600,
            auth_time: t,
            auth_method: AuthMethod::Passkey,
            ip: None,
            user_agent: None,
            new_device: false,
        })
        .await
        .unwrap();
    let b = Browser::new(&server.base, APP);
    b.set_cookie("latchkey_session", token.expose());
    let code = get_code(&b, &rp, "&acr_values=phr").await;
    let (_, tokens) = redeem(&server, &rp, &code).await;
    let claims = verify_id_token(&server, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["acr"], "phr");
    assert_eq!(claims["amr"], json!(["hwk", "user"]));
    // Two hours later the client wants a fresh sign-in.
    state
        .store
        .reauthenticate_session(&token.hash(), t - 7200)
        .await
        .unwrap();
    let res = b.get(&authorize_path(&rp, "")).await;
    let login = res.location.unwrap();
    assert!(
        login.starts_with("/login?next=") && login.ends_with("&reauth=1"),
        "{login}"
    );
    let discovery: Value = http()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["acr_values_supported"], json!(["phr"]));
    server.stop().await;
}

#[tokio::test]
async fn the_rule_is_set_and_checked_by_the_api() {
    let server = TestServer::start(&[]).await;
    let admin = crate::api::user(&server, "root", true).await;
    let key = crate::api::key_for(&server, &admin.id).await;
    let (status, c, _) = crate::api::call(
        &server,
        "POST",
        "/api/v1/clients",
        Some(&key),
        Some(json!({"name": "Vault", "redirect_uris": [CB], "require": "passkey", "max_session_age": 28800})),
    )
    .await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(
        (c["require"].as_str(), c["max_session_age"].as_i64()),
        (Some("passkey"), Some(28800))
    );
    let id = c["client_id"].as_str().unwrap();
    for (body, field) in [
        (json!({"require": "strong"}), None),
        (json!({"max_session_age": 10}), Some("max_session_age")),
    ] {
        let (status, problem, _) = crate::api::call(
            &server,
            "PATCH",
            &format!("/api/v1/clients/{id}"),
            Some(&key),
            Some(body.clone()),
        )
        .await;
        assert!(matches!(status, 400 | 422), "{body}: {status} {problem}");
        if let Some(f) = field {
            assert!(problem["errors"][f].is_string(), "{problem}");
        }
    }
    let (status, c, _) = crate::api::call(
        &server,
        "PATCH",
        &format!("/api/v1/clients/{id}"),
        Some(&key),
        Some(json!({"require": "any", "max_session_age": 0})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (c["require"].as_str(), c["max_session_age"].is_null()),
        (Some("any"), true)
    );
    server.stop().await;
}
