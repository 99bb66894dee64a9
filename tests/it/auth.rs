//! Authentication rules over HTTP against the real server: throttling that survives a
//! restart, no user enumeration, TOTP replay, open redirects, CSRF, login links,
//! sessions and first-admin setup.

use latchkey::auth::totp;
use latchkey::config::Config;
use latchkey::domain::user::NewUser;

use crate::browser::Browser;
use crate::people;
use crate::support::{TestServer, latchkey, run, stdout};

const APP: &str = "http://localhost:1411";
use crate::people::PASSWORD;

/// A user with a password, made directly in the store.
async fn user_with_password(server: &TestServer, username: &str) -> latchkey::domain::user::User {
    people::with_password(&server.running().state, people::named(username)).await
}

/// Give the user TOTP; returns the secret and recovery codes.
async fn enrol_totp(server: &TestServer, user_id: &str) -> (Vec<u8>, Vec<String>) {
    people::enrol_totp(&server.running().state, user_id).await
}

async fn password_login(
    b: &Browser,
    login: &str,
    password: &str,
    next: &str,
) -> crate::browser::Page {
    b.get("/login").await;
    b.submit(
        "/login/password",
        &[("login", login), ("password", password), ("next", next)],
    )
    .await
}

#[tokio::test]
async fn password_sign_in_goes_to_next_or_account_and_ignores_foreign_next() {
    let server = TestServer::start(&[]).await;
    user_with_password(&server, "alice").await;
    let b = Browser::new(&server.base, APP);
    let res = password_login(&b, "alice", PASSWORD, "/account/security").await;
    assert_eq!(res.status, 303);
    assert_eq!(res.location.as_deref(), Some("/account/security"));
    assert!(b.cookie("latchkey_session").is_some());
    assert_eq!(b.get("/account").await.status, 200);

    for evil in [
        "https://evil.example",
        "//evil.example/x",
        "/\\evil.example",
    ] {
        let b = Browser::new(&server.base, APP);
        let res = password_login(&b, "alice@example.org", PASSWORD, evil).await;
        assert_eq!(
            res.location.as_deref(),
            Some("/account"),
            "next={evil} must be ignored"
        );
    }
    // The login page itself also ignores a foreign next.
    let b2 = Browser::new(&server.base, APP);
    let page = b2.get("/login?next=https%3A%2F%2Fevil.example").await;
    assert!(!page.body.contains("evil.example"));
    server.stop().await;
}

#[tokio::test]
async fn unknown_user_and_wrong_password_look_the_same() {
    let server = TestServer::start(&[]).await;
    user_with_password(&server, "alice").await;
    let b = Browser::new(&server.base, APP);
    let wrong = password_login(&b, "alice", "not the password at all", "/account").await;
    let unknown = password_login(&b, "nobody", "not the password at all", "/account").await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, wrong.status);
    assert_eq!(
        unknown.body.replace("nobody", "LOGIN"),
        wrong.body.replace("alice", "LOGIN")
    );
    assert!(
        wrong
            .body
            .contains("The username, email or password is not correct.")
    );
    assert!(b.cookie("latchkey_session").is_none());

    let filter = latchkey::store::AuditFilter {
        event: Some("auth.login.failed".into()),
        limit: 10,
        ..Default::default()
    };
    let audit = server
        .running()
        .state
        .store
        .list_audit(&filter)
        .await
        .unwrap();
    let reasons: Vec<String> = audit
        .iter()
        .map(|r| r.details["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        reasons,
        ["unknown_user", "bad_password"],
        "the audit log knows the difference; the page does not"
    );
    server.stop().await;
}

#[tokio::test]
async fn backoff_after_repeated_failures_survives_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap().to_string();
    let settings = [
        ("LATCHKEY_DATA_DIR", dir.as_str()),
        ("LATCHKEY_LISTEN", "127.0.0.1:0"),
    ];
    let start = || async {
        let running = latchkey::app::start(
            Config::from_pairs(&settings).unwrap(),
            std::future::pending(),
        )
        .await
        .unwrap();
        let base = format!("http://localhost:{}", running.addr.port());
        (running, base)
    };
    let (running, base) = start().await;
    let user = NewUser {
        username: "carol".into(),
        ..NewUser::default()
    }
    .validate()
    .unwrap();
    let user = running.state.store.create_user(&user).await.unwrap();
    let hash = running.state.auth.passwords.hash(PASSWORD.into()).await;
    running
        .state
        .store
        .set_password_hash(&user.id, Some(&hash))
        .await
        .unwrap();
    let b = Browser::new(&base, APP);
    for _ in 0..5 {
        assert_eq!(password_login(&b, "carol", "guess", "/").await.status, 401);
    }
    let locked = password_login(&b, "carol", "guess", "/").await;
    assert_eq!(
        locked.status, 401,
        "the sixth failure is counted and starts the back-off"
    );
    let locked = password_login(&b, "carol", PASSWORD, "/").await;
    assert_eq!(
        locked.status, 429,
        "even the right password waits during the back-off"
    );
    assert!(locked.body.contains("Too many attempts"));
    running.stop().await;

    let (running, base) = start().await;
    let b = Browser::new(&base, APP);
    let still = password_login(&b, "carol", PASSWORD, "/").await;
    assert_eq!(still.status, 429, "a restart does not reset the back-off");
    let limited = running
        .state
        .store
        .list_audit(&latchkey::store::AuditFilter {
            event: Some("auth.rate_limited".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!limited.is_empty());
    running.stop().await;
}

#[tokio::test]
async fn totp_codes_work_once_and_recovery_codes_once() {
    let server = TestServer::start(&[]).await;
    let user = user_with_password(&server, "dave").await;
    let (secret, recovery) = enrol_totp(&server, &user.id).await;

    let b = Browser::new(&server.base, APP);
    let res = password_login(&b, "dave", PASSWORD, "/account").await;
    assert_eq!(res.location.as_deref(), Some("/login/second-factor"));
    assert!(
        b.cookie("latchkey_session").is_none(),
        "no session before the second factor"
    );
    let code = totp::code_at(&secret, latchkey::store::now() as u64);
    let res = b.submit("/login/second-factor", &[("code", &code)]).await;
    assert_eq!(res.location.as_deref(), Some("/account"));
    assert!(b.cookie("latchkey_session").is_some());

    // The same code again, in a new sign-in within its window: refused.
    let b2 = Browser::new(&server.base, APP);
    password_login(&b2, "dave", PASSWORD, "/account").await;
    let replay = b2.submit("/login/second-factor", &[("code", &code)]).await;
    assert_eq!(replay.status, 401);
    assert!(replay.body.contains("can be used only once"));
    assert!(b2.cookie("latchkey_session").is_none());

    // A recovery code works once (any case, any dashes).
    let res = b2
        .submit(
            "/login/second-factor",
            &[("code", &recovery[0].to_lowercase())],
        )
        .await;
    assert_eq!(res.location.as_deref(), Some("/account"));
    let b3 = Browser::new(&server.base, APP);
    password_login(&b3, "dave", PASSWORD, "/account").await;
    let again = b3
        .submit("/login/second-factor", &[("code", &recovery[0])])
        .await;
    assert_eq!(again.status, 401);
    server.stop().await;
}

#[tokio::test]
async fn posts_without_csrf_or_from_another_origin_are_refused() {
    let server = TestServer::start(&[]).await;
    user_with_password(&server, "erin").await;
    let b = Browser::new(&server.base, APP);
    b.get("/login").await;
    let fields = [
        ("login", "erin"),
        ("password", PASSWORD),
        ("next", "/account"),
    ];
    let no_token = b.post("/login/password", &fields).await;
    assert_eq!(no_token.status, 403);
    assert!(no_token.body.contains("This form has expired"));
    let wrong = b
        .post(
            "/login/password",
            &[
                ("csrf", "x".repeat(43).as_str()),
                ("login", "erin"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(wrong.status, 403);
    let evil = Browser::new(&server.base, "https://evil.example");
    evil.get("/login").await;
    assert_eq!(
        evil.submit("/login/password", &fields).await.status,
        403,
        "cross-origin form"
    );
    assert!(b.cookie("latchkey_session").is_none() && evil.cookie("latchkey_session").is_none());
    // JSON endpoints want the header.
    let res = crate::support::http()
        .post(server.url("/webauthn/login/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // With the token, the same form works.
    assert_eq!(b.submit("/login/password", &fields).await.status, 303);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn login_links_from_the_cli_work_once() {
    let server = TestServer::start(&[]).await;
    let user = user_with_password(&server, "frank").await;
    let dir = server.data_dir();
    let out = run(latchkey(
        dir.parent().unwrap(),
        &[("LATCHKEY_DATA_DIR", dir.to_str().unwrap())],
    )
    .args(["login-link", "frank", "--ttl", "10m"]));
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let url = stdout(&out).lines().last().unwrap().to_string();
    let path = url.strip_prefix(APP).expect("absolute URL on the app URL");
    assert!(path.starts_with("/login/code/") && path.len() > "/login/code/".len() + 40);

    let b = Browser::new(&server.base, APP);
    let confirm = b.get(path).await;
    assert_eq!(confirm.status, 200, "looking at the link does not use it");
    assert!(confirm.body.contains("Continue as frank"));
    let res = b.submit(path, &[]).await;
    assert_eq!(res.location.as_deref(), Some("/account"));
    assert_eq!(b.get("/account").await.status, 200);

    let other = Browser::new(&server.base, APP);
    let used = other.get(path).await;
    assert_eq!(used.status, 410);
    assert!(used.body.contains("expired or was already used"));
    other.get("/login").await;
    assert_eq!(other.submit(path, &[]).await.status, 410);
    assert!(other.cookie("latchkey_session").is_none());

    let bad = run(latchkey(
        dir.parent().unwrap(),
        &[("LATCHKEY_DATA_DIR", dir.to_str().unwrap())],
    )
    .args(["login-link", "frank", "--ttl", "32d"]));
    assert_eq!(bad.status.code(), Some(1));
    let sessions = server
        .running()
        .state
        .store
        .sessions_of_user(&user.id)
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].auth_method.as_str(), "login_link");
    server.stop().await;
}

#[tokio::test]
async fn revoked_and_disabled_sessions_end_on_the_next_request() {
    let server = TestServer::start(&[]).await;
    let user = user_with_password(&server, "gina").await;
    let laptop = Browser::new(&server.base, APP);
    let phone = Browser::new(&server.base, APP);
    password_login(&laptop, "gina", PASSWORD, "/account").await;
    password_login(&phone, "gina", PASSWORD, "/account").await;
    let page = laptop.get("/account/security").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body.matches("data-session-row").count(), 2);
    assert!(page.body.contains("This session"));

    let res = laptop.submit("/account/sessions/revoke-others", &[]).await;
    assert_eq!(
        res.location.as_deref(),
        Some("/account/security?done=others_revoked")
    );
    let gone = phone.get("/account").await;
    assert_eq!(gone.status, 303);
    assert_eq!(gone.location.as_deref(), Some("/login?next=%2Faccount"));
    assert!(
        phone.cookie("latchkey_session").is_none(),
        "the stale cookie is cleared"
    );

    server
        .running()
        .state
        .store
        .set_user_disabled(&user.id, true)
        .await
        .unwrap();
    assert_eq!(
        laptop.get("/account").await.status,
        303,
        "disabling a user ends their sessions"
    );
    assert_eq!(
        password_login(&laptop, "gina", PASSWORD, "/account")
            .await
            .status,
        401
    );
    server.stop().await;
}

#[tokio::test]
async fn sign_out_ends_the_session() {
    let server = TestServer::start(&[]).await;
    user_with_password(&server, "hank").await;
    let b = Browser::new(&server.base, APP);
    password_login(&b, "hank", PASSWORD, "/account").await;
    let cookie = b.cookie("latchkey_session").unwrap();
    let res = b.submit("/logout", &[]).await;
    assert_eq!(res.location.as_deref(), Some("/login"));
    b.set_cookie("latchkey_session", &cookie);
    assert_eq!(
        b.get("/account").await.status,
        303,
        "the old cookie no longer works"
    );
    server.stop().await;
}

#[tokio::test]
async fn first_admin_setup_creates_an_admin_once() {
    let server = TestServer::start(&[]).await;
    let link = server.running().setup_url.clone().unwrap();
    let path = link.strip_prefix(APP).unwrap();
    let token = path.strip_prefix("/setup?token=").unwrap();
    let b = Browser::new(&server.base, APP);
    let form = b.get(path).await;
    assert!(form.body.contains("Create the first administrator"));
    let bad = b
        .submit(
            "/setup",
            &[
                ("token", token),
                ("username", "bad name"),
                ("email", "root@example.org"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("username"));
    let res = b
        .submit(
            "/setup",
            &[
                ("token", token),
                ("username", "root"),
                ("email", "root@example.org"),
                ("first_name", "Ro"),
            ],
        )
        .await;
    assert_eq!(res.location.as_deref(), Some("/setup/credential"));
    let page = b.get("/setup/credential").await;
    assert!(page.body.contains("Add a passkey"));
    // A password as the first credential, right after setup (recent sign-in).
    let weak = b
        .submit(
            "/account/password",
            &[
                ("new_password", "password1"),
                ("confirm", "password1"),
                ("next", "/account"),
            ],
        )
        .await;
    assert_eq!(weak.status, 400);
    assert!(weak.body.contains("at least 10") || weak.body.contains("too easy"));
    let ok = b
        .submit(
            "/account/password",
            &[
                ("new_password", PASSWORD),
                ("confirm", PASSWORD),
                ("next", "/account"),
            ],
        )
        .await;
    assert_eq!(ok.location.as_deref(), Some("/account"));
    let admin = server
        .running()
        .state
        .store
        .user_by_login("root")
        .await
        .unwrap()
        .unwrap();
    assert!(admin.is_admin);

    let again = Browser::new(&server.base, APP);
    assert_eq!(again.get(path).await.status, 410, "the setup link is dead");
    again.get("/login").await;
    let res = again
        .submit(
            "/setup",
            &[
                ("token", token),
                ("username", "intruder"),
                ("email", "i@example.org"),
            ],
        )
        .await;
    assert_eq!(res.status, 410);
    assert!(
        server
            .running()
            .state
            .store
            .user_by_login("intruder")
            .await
            .unwrap()
            .is_none()
    );
    server.stop().await;
}

#[tokio::test]
async fn credential_changes_need_a_recent_sign_in() {
    let server = TestServer::start(&[]).await;
    let user = user_with_password(&server, "ivy").await;
    let b = Browser::new(&server.base, APP);
    password_login(&b, "ivy", PASSWORD, "/account").await;
    // Age the session's authentication past the five-minute window.
    let hash = latchkey::crypto::hash_secret(&b.cookie("latchkey_session").unwrap());
    server
        .running()
        .state
        .store
        .reauthenticate_session(&hash, latchkey::store::now() - 600)
        .await
        .unwrap();

    let res = b.submit("/account/totp/start", &[]).await;
    assert_eq!(
        res.location.as_deref(),
        Some("/account/reauth?next=%2Faccount%2Fsecurity")
    );
    let res = b
        .submit(
            "/account/reauth",
            &[("password", "wrong"), ("next", "/account/security")],
        )
        .await;
    assert_eq!(res.status, 401);
    let res = b
        .submit(
            "/account/reauth",
            &[("password", PASSWORD), ("next", "/account/security")],
        )
        .await;
    assert_eq!(res.location.as_deref(), Some("/account/security"));
    let page = b.submit("/account/totp/start", &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("data:image/svg+xml;base64,"));
    // The last sign-in method cannot be removed.
    let res = b.submit("/account/password/remove", &[]).await;
    assert_eq!(
        res.location.as_deref(),
        Some("/account/security?error=last_method")
    );
    assert!(
        server
            .running()
            .state
            .store
            .user_credentials(&user.id)
            .await
            .unwrap()
            .password_hash
            .is_some()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_sign_in_from_a_new_device_is_marked_and_audited() {
    let server = TestServer::start(&[]).await;
    let user = user_with_password(&server, "jade").await;
    let store = &server.running().state.store;
    let new_device_events = || async {
        let filter = latchkey::store::AuditFilter {
            event: Some("auth.new_device".into()),
            limit: 10,
            ..Default::default()
        };
        store.list_audit(&filter).await.unwrap().len()
    };
    let laptop = Browser::new(&server.base, APP);
    password_login(&laptop, "jade", PASSWORD, "/account").await;
    assert!(
        laptop.cookie("latchkey_device").is_some(),
        "the browser gets a device id"
    );
    assert_eq!(
        new_device_events().await,
        0,
        "an account's first sign-in is not news"
    );

    let phone = Browser::new(&server.base, APP);
    password_login(&phone, "jade", PASSWORD, "/account").await;
    assert_eq!(new_device_events().await, 1, "a browser never seen before");
    laptop.submit("/logout", &[]).await;
    password_login(&laptop, "jade", PASSWORD, "/account").await;
    assert_eq!(
        new_device_events().await,
        1,
        "a known browser on a known network"
    );
    let sessions = store.sessions_of_user(&user.id).await.unwrap();
    assert_eq!(sessions.iter().filter(|s| s.new_device).count(), 1);
    server.stop().await;
}
