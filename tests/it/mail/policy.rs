//! The email policy without a mail server: an unverified address is refused at the
//! authorization step (a page, or `access_denied` with prompt=none) until verified or
//! until addresses count as verified; an account needs an address by default.

use latchkey::domain::user::NewUser;
use latchkey::oidc::registration::{ClientSpec, register};

use crate::browser::Browser;
use crate::people;
use crate::support::TestServer;

const APP: &str = "http://localhost:1411";
const CB: &str = "https://app.example.com/callback";
const CHALLENGE: &str = "iL4gp1vDueMyF0ocW7BWIJ5TVO7dbKU_NB5dE2f_fFA";

async fn signed_in(server: &TestServer, name: &str, admin: bool, verified: bool) -> Browser {
    let new = NewUser {
        email_verified: verified,
        is_admin: admin,
        ..people::named(name)
    };
    people::with_password(&server.running().state, new).await;
    let b = Browser::new(&server.base, APP);
    people::sign_in(&b, name).await;
    b
}

fn authorize(client_id: &str, extra: &str) -> String {
    format!(
        "/authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope=openid%20email&state=s&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
        url::form_urlencoded::byte_serialize(CB.as_bytes()).collect::<String>()
    )
}

#[tokio::test]
async fn an_unverified_address_is_refused_at_authorize_until_verified() {
    // Verification needs email to be set up (no message is sent in this test).
    let server = TestServer::start(&[
        ("LATCHKEY_SMTP_HOST", "localhost"),
        ("LATCHKEY_SMTP_PORT", "9"),
        ("LATCHKEY_SMTP_FROM", "sso@example.org"),
    ])
    .await;
    let state = &server.running().state;
    let (client, _) = register(
        &state.store,
        ClientSpec {
            name: "Wiki".into(),
            redirect_uris: vec![CB.into()],
            skip_consent: true,
            ..ClientSpec::default()
        },
    )
    .await
    .unwrap();
    let b = signed_in(&server, "gus", false, false).await;
    let page = b.get(&authorize(&client.id, "")).await;
    assert_eq!(page.status, 403);
    assert!(
        page.body.contains("Confirm your email address first"),
        "{}",
        page.body
    );
    assert!(page.body.contains("gus@example.org"));
    assert!(page.body.contains("Wiki"));
    let silent = b.get(&authorize(&client.id, "&prompt=none")).await;
    assert_eq!(silent.status, 303);
    assert!(silent.location.unwrap().contains("error=access_denied"));
    let account = b.get("/account").await;
    assert!(account.body.contains("data-unverified-banner"));

    // An admin turns on "addresses count as verified": the same request goes through.
    let admin = signed_in(&server, "root", true, true).await;
    admin.get("/admin/email").await;
    let res = admin
        .submit(
            "/admin/email/switches",
            &[
                ("require_email", "on"),
                ("verified_by_default", "on"),
                ("users_change_email", "on"),
            ],
        )
        .await;
    assert_eq!(res.status, 303);
    let ok = b.get(&authorize(&client.id, "")).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert!(ok.location.unwrap().starts_with(CB));
    let audit = admin.get("/admin/email").await;
    assert!(
        audit
            .body
            .contains("checked> Email addresses count as verified")
    );
}

#[tokio::test]
async fn an_account_needs_an_address_unless_the_admin_says_otherwise() {
    let server = TestServer::start(&[]).await;
    let admin = signed_in(&server, "root", true, true).await;
    admin.get("/admin/users/new").await;
    let res = admin
        .submit("/admin/users/new", &[("username", "hal"), ("email", "")])
        .await;
    assert_eq!(res.status, 422);
    assert!(res.body.contains("id=\"email-error\""), "{}", res.body);
    admin
        .submit("/admin/email/switches", &[("users_change_email", "on")])
        .await;
    let res = admin
        .submit("/admin/users/new", &[("username", "hal"), ("email", "")])
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
}

#[tokio::test]
async fn the_email_page_is_for_admins_and_keeps_environment_values_read_only() {
    let pki = super::lab::Pki::new();
    let ca = pki.ca.to_str().unwrap().to_string();
    let server = TestServer::start(&[
        ("LATCHKEY_SMTP_HOST", "smtp.example.org"),
        ("LATCHKEY_SMTP_CA_FILE", ca.as_str()),
    ])
    .await;
    let user = signed_in(&server, "ivy", false, true).await;
    assert_eq!(user.get("/admin/email").await.status, 403);
    let admin = signed_in(&server, "root", true, true).await;
    let page = admin.get("/admin/email").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("value=\"smtp.example.org\" readonly"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("data-insecure"));
    let res = admin
        .submit(
            "/admin/email/smtp",
            &[
                ("host", "evil.example.org"),
                ("port", "2525"),
                ("security", "tls"),
                ("from_address", "sso@example.org"),
                ("password", "hunter2"),
                ("skip_verification", "on"),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let s = server.running().state.mail.settings().await.unwrap();
    let smtp = s.smtp.expect("configured now");
    assert_eq!(smtp.host, "smtp.example.org", "the environment wins");
    assert_eq!(smtp.port, 2525);
    assert_eq!(smtp.password.as_deref(), Some("hunter2"));
    assert!(smtp.skip_verification);
    let stored = server
        .running()
        .state
        .store
        .setting("mail.smtp_password")
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.contains("hunter2"), "stored encrypted");
    let page = admin.get("/admin/email").await;
    assert!(page.body.contains("data-insecure"), "a loud warning");
    let bad = admin
        .submit(
            "/admin/email/smtp",
            &[("port", "99999"), ("from_address", "sso@example.org")],
        )
        .await;
    assert_eq!(bad.status, 422);
}

#[tokio::test]
async fn asking_for_codes_is_rate_limited_per_address_whether_or_not_it_exists() {
    let server = TestServer::start(&[
        ("LATCHKEY_SMTP_HOST", "localhost"),
        ("LATCHKEY_SMTP_PORT", "9"),
        ("LATCHKEY_SMTP_FROM", "sso@example.org"),
    ])
    .await;
    let b = Browser::new(&server.base, APP);
    assert!(b.get("/login").await.body.contains("data-email-code-link"));
    b.get("/login/email").await;
    let ask = || b.submit("/login/email", &[("email", "nobody@example.org")]);
    for _ in 0..6 {
        assert_eq!(ask().await.status, 303);
    }
    let limited = ask().await;
    assert_eq!(limited.status, 429);
    assert!(limited.body.contains("Too many codes"), "{}", limited.body);
    // Another address from the same browser is not limited by that one.
    let other = b
        .submit("/login/email", &[("email", "someone@example.org")])
        .await;
    assert_eq!(other.status, 303);
}

#[tokio::test]
async fn an_unreadable_geoip_database_stops_the_start_with_its_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("GeoLite2-City.mmdb");
    std::fs::write(&bogus, b"not a MaxMind database").unwrap();
    let data = dir.path().to_str().unwrap();
    let config = latchkey::config::Config::from_pairs(&[
        ("LATCHKEY_LISTEN", "127.0.0.1:0"),
        ("LATCHKEY_DATA_DIR", data),
        ("LATCHKEY_GEOIP_DB", bogus.to_str().unwrap()),
    ])
    .unwrap();
    let Err(e) = latchkey::app::start(config, std::future::pending()).await else {
        panic!("started with a bad GeoIP database");
    };
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().starts_with("LATCHKEY_GEOIP_DB: "), "{e}");
}

#[tokio::test]
async fn a_user_created_on_the_command_line_is_sent_a_verification_link() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = [
        ("LATCHKEY_SMTP_HOST", "localhost"),
        ("LATCHKEY_SMTP_PORT", "9"),
        ("LATCHKEY_SMTP_FROM", "sso@example.org"),
    ];
    let out = crate::support::run(crate::support::latchkey(dir.path(), &smtp).args([
        "users",
        "create",
        "--username",
        "kim",
        "--email",
        "kim@example.org",
    ]));
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["email_verified"], false);
    let store = latchkey::store::Store::open(&latchkey::config::DatabaseUrl::Sqlite(
        dir.path().join("data/latchkey.db"),
    ))
    .await
    .unwrap();
    let queued = store
        .list_mail(Some(latchkey::store::MailStatus::Queued), 10)
        .await
        .unwrap();
    assert_eq!(queued.len(), 1, "queued for the running server to send");
    assert_eq!(queued[0].kind, "verify_email");
    assert_eq!(queued[0].recipient, "kim@example.org");
    store.close().await;
}
