//! The attacks of the December 2026 review, each as it was made: guesses sent at the
//! same instant (a barrier), oversized names, a password typed as a name, IPv6 hosts
//! rotating their addresses, a mail scanner fetching a link, and a dropped transaction
//! that held SQLite's write lock against the CLI.

use std::sync::Arc;

use latchkey::auth::totp;
use latchkey::store::AuditFilter;
use tokio::sync::Barrier;

use crate::browser::{Browser, Page};
use crate::people::{self, PASSWORD};
use crate::support::{TestServer, latchkey, run};

const APP: &str = "http://localhost:1411";

async fn audit(server: &TestServer, event: &str) -> Vec<latchkey::store::AuditRecord> {
    server
        .running()
        .state
        .store
        .list_audit(&AuditFilter {
            event: Some(event.into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
}

/// Send `n` forms at the same instant from one browser; the statuses, in any order.
async fn at_once(
    b: &Arc<Browser>,
    n: usize,
    path: &str,
    form: impl Fn(usize) -> Vec<(String, String)>,
) -> Vec<u16> {
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let b = b.clone();
            let barrier = barrier.clone();
            let path = path.to_string();
            let fields = form(i);
            tokio::spawn(async move {
                let fields: Vec<(&str, &str)> = fields
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                barrier.wait().await;
                b.submit(&path, &fields).await.status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses
}

/// A connection of our own to the server's SQLite file, to look at or age its rows.
async fn database(server: &TestServer) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let path = server.data_dir().join("latchkey.db");
    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|&&s| s == status).count()
}

async fn password_login(b: &Browser, login: &str, password: &str) -> Page {
    b.get("/login").await;
    b.submit(
        "/login/password",
        &[
            ("login", login),
            ("password", password),
            ("next", "/account"),
        ],
    )
    .await
}

/// The per-address connection cap (64) would refuse most simultaneous guesses from
/// one address before they reach the throttle; these tests are about the throttle,
/// which must hold for guesses spread over many addresses too.
const UNCAPPED: &[(&str, &str)] = &[("LATCHKEY_MAX_CONNECTIONS_PER_ADDRESS", "1024")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_simultaneous_guesses_get_no_more_tries_than_one_after_another() {
    let server = TestServer::start(UNCAPPED).await;
    people::with_password(&server.running().state, people::named("bob")).await;
    let b = Arc::new(Browser::new(&server.base, APP));
    b.get("/login").await;
    let statuses = at_once(&b, 100, "/login/password", |i| {
        vec![
            ("login".into(), "bob".into()),
            ("password".into(), format!("guess {i}")),
        ]
    })
    .await;
    let checked = count(&statuses, 401);
    assert_eq!(
        checked + count(&statuses, 429),
        100,
        "every guess is either checked or refused: {statuses:?}"
    );
    assert!(
        (1..=6).contains(&checked),
        "five free failures and the one that locks, however many are in flight: {checked} checked"
    );
    let failed = audit(&server, "auth.login.failed").await;
    assert_eq!(failed.len(), checked, "each checked guess is audited once");
    let limited = audit(&server, "auth.rate_limited").await;
    assert!(
        (1..=3).contains(&limited.len()),
        "refusals are aggregated, not one row each: {}",
        limited.len()
    );
    // Locked now, even for the right password.
    assert_eq!(password_login(&b, "bob", PASSWORD).await.status, 429);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_simultaneous_totp_guesses_after_a_right_password_are_mostly_refused() {
    let server = TestServer::start(UNCAPPED).await;
    let state = &server.running().state;
    let user = people::with_password(state, people::named("dave")).await;
    let secret = totp::new_secret();
    let sealed = state
        .encryption
        .seal(&latchkey::auth::totp_context(&user.id), &secret);
    let (_, hashes) = totp::new_recovery_codes();
    state
        .store
        .activate_totp(&user.id, &sealed, 0, &hashes)
        .await
        .unwrap();
    let b = Arc::new(Browser::new(&server.base, APP));
    let res = password_login(&b, "dave", PASSWORD).await;
    assert_eq!(res.location.as_deref(), Some("/login/second-factor"));
    let right = totp::code_at(&secret, latchkey::store::now() as u64);
    let statuses = at_once(&b, 200, "/login/second-factor", |i| {
        // Never the right code: six digits that differ from it.
        let mut guess = format!("{:06}", (i * 7919) % 1_000_000);
        if guess == right {
            guess = format!("{:06}", (i * 7919 + 1) % 1_000_000);
        }
        vec![("code".into(), guess)]
    })
    .await;
    let checked = count(&statuses, 401);
    assert_eq!(checked + count(&statuses, 429), 200, "{statuses:?}");
    assert!((1..=6).contains(&checked), "{checked} codes were checked");
    let refused = b.submit("/login/second-factor", &[("code", &right)]).await;
    assert_eq!(refused.status, 429, "the right code waits out the lock too");
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_or_implausible_login_name_stores_nothing_large_or_in_clear() {
    let server = TestServer::start(&[]).await;
    let b = Browser::new(&server.base, APP);
    // 1.5 MB is refused before it is read.
    let huge = "A".repeat(1_500_000);
    let res = password_login(&b, &huge, "x").await;
    assert_eq!(res.status, 413);
    // Over 254 characters: a clear error, nothing stored.
    let long = "a".repeat(300);
    let res = password_login(&b, &long, "x").await;
    assert_eq!(res.status, 400, "{}", res.body);
    assert!(res.body.contains("at most 254 characters"));
    assert!(audit(&server, "auth.login.failed").await.is_empty());
    // A password typed into the name field is kept only as a keyed hash; a plausible
    // name in clear, for the SIEM.
    let typed_password = "correct horse, battery staple!";
    password_login(&b, typed_password, "x").await;
    password_login(&b, "mallory@example.org", "x").await;
    let failed = audit(&server, "auth.login.failed").await;
    let logins: Vec<String> = failed
        .iter()
        .map(|r| r.details["login"].to_string())
        .collect();
    assert!(
        logins.iter().any(|l| l.contains("mallory@example.org")),
        "{logins:?}"
    );
    assert!(!logins.iter().any(|l| l.contains("battery")), "{logins:?}");
    assert!(
        failed
            .iter()
            .any(|r| r.details["login"]["hmac"].is_string())
    );
    // Throttle keys hold no typed text.
    let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM auth_throttle")
        .fetch_all(&mut database(&server).await)
        .await
        .unwrap();
    assert!(
        keys.iter()
            .all(|k| !k.contains("mallory") && !k.contains("battery")),
        "{keys:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn username_and_email_share_one_counter() {
    let server = TestServer::start(&[]).await;
    people::with_password(&server.running().state, people::named("alice")).await;
    let b = Browser::new(&server.base, APP);
    for _ in 0..6 {
        assert_eq!(password_login(&b, "alice", "guess").await.status, 401);
    }
    let res = password_login(&b, "Alice@Example.org", "guess").await;
    assert_eq!(
        res.status, 429,
        "the address names the same, locked account"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_ipv6_host_is_counted_per_64_not_per_address() {
    let server = TestServer::start(&[("LATCHKEY_TRUST_PROXY", "127.0.0.1")]).await;
    let mut statuses = Vec::new();
    for i in 1..=25 {
        let from = format!("2001:db8:1:3::{i:x}");
        let b = Browser::with_headers(&server.base, APP, &[("x-forwarded-for", &from)]);
        statuses.push(
            password_login(&b, &format!("user{i}"), "guess")
                .await
                .status,
        );
    }
    assert_eq!(count(&statuses, 401), 21, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 4, "{statuses:?}");
    // Another /64 is another household.
    let b = Browser::with_headers(&server.base, APP, &[("x-forwarded-for", "2001:db8:1:4::1")]);
    assert_eq!(password_login(&b, "user1", "guess").await.status, 401);
    server.stop().await;
}

#[tokio::test]
async fn the_current_password_on_the_security_page_is_throttled_and_audited() {
    let server = TestServer::start(&[]).await;
    let state = &server.running().state;
    let user = people::with_password(state, people::named("erin")).await;
    let b = Browser::new(&server.base, APP);
    people::sign_in(&b, "erin").await;
    // A sign-in older than the re-authentication window.
    let session = b.cookie("latchkey_session").unwrap();
    sqlx::query("UPDATE sessions SET auth_time = auth_time - 3600")
        .execute(&mut database(&server).await)
        .await
        .unwrap();
    b.get("/account/security").await;
    let change = |current: &str| {
        vec![
            ("current", current.to_string()),
            ("new_password", "orbit lantern cactus velvet".to_string()),
            ("confirm", "orbit lantern cactus velvet".to_string()),
        ]
    };
    let mut outcomes = Vec::new();
    for i in 0..8 {
        let fields = change(&format!("guess {i}"));
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        outcomes.push(
            b.submit("/account/password", &fields)
                .await
                .location
                .unwrap_or_default(),
        );
    }
    assert_eq!(
        outcomes
            .iter()
            .filter(|l| l.ends_with("error=wrong_password"))
            .count(),
        6,
        "{outcomes:?}"
    );
    assert!(
        outcomes.last().unwrap().ends_with("error=rate_limited"),
        "{outcomes:?}"
    );
    let fields = change(PASSWORD);
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let locked = b.submit("/account/password", &fields).await;
    assert!(locked.location.unwrap().ends_with("error=rate_limited"));
    let failed = audit(&server, "auth.login.failed").await;
    assert!(
        failed
            .iter()
            .all(|r| r.subject.as_deref() == Some(user.id.as_str()))
    );
    assert_eq!(failed.len(), 6);
    assert_eq!(b.cookie("latchkey_session"), Some(session));
    server.stop().await;
}

#[tokio::test]
async fn a_password_change_can_end_the_other_sessions() {
    let server = TestServer::start(&[]).await;
    people::with_password(&server.running().state, people::named("fay")).await;
    let laptop = Browser::new(&server.base, APP);
    let phone = Browser::new(&server.base, APP);
    people::sign_in(&laptop, "fay").await;
    people::sign_in(&phone, "fay").await;
    laptop.get("/account/security").await;
    let res = laptop
        .submit(
            "/account/password",
            &[
                ("new_password", "orbit lantern cactus velvet"),
                ("confirm", "orbit lantern cactus velvet"),
                ("end_other_sessions", "1"),
            ],
        )
        .await;
    assert_eq!(
        res.location.as_deref(),
        Some("/account/security?done=password_set")
    );
    assert_eq!(
        laptop.get("/account").await.status,
        200,
        "this session stays"
    );
    assert_eq!(
        phone.get("/account").await.status,
        303,
        "the other one ended"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_mail_scanner_fetching_the_verification_link_verifies_nothing() {
    let server = TestServer::start(&[]).await;
    let state = &server.running().state;
    let user = people::with_password(state, people::named("victim")).await;
    assert!(!user.email_verified);
    let token = latchkey::crypto::random_token();
    let mut tx = state.store.begin().await.unwrap();
    latchkey::store::Store::insert_user_token_in(
        &mut tx,
        &token.hash(),
        &user.id,
        latchkey::store::VERIFY_EMAIL,
        user.email.as_deref(),
        latchkey::store::now() + 3600,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let path = format!("/verify-email/{}", token.expose());
    let scanner = Browser::new(&server.base, APP);
    let page = scanner.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("victim") && page.body.contains("victim@example.org"));
    let unchanged = state.store.user_by_id(&user.id).await.unwrap().unwrap();
    assert!(!unchanged.email_verified, "a GET changes nothing");
    // Without the page's CSRF token nothing happens either.
    let forged = Browser::new(&server.base, APP).post(&path, &[]).await;
    assert_eq!(forged.status, 403);
    let done = scanner.submit(&path, &[]).await;
    assert_eq!(done.status, 200);
    assert!(
        state
            .store
            .user_by_id(&user.id)
            .await
            .unwrap()
            .unwrap()
            .email_verified
    );
    server.stop().await;
}

#[tokio::test]
async fn sign_up_counts_every_try_and_does_not_say_which_addresses_have_accounts() {
    let server = TestServer::start(&[("LATCHKEY_SIGNUP_MODE", "open")]).await;
    people::with_password(&server.running().state, people::named("alice")).await;
    let b = Browser::new(&server.base, APP);
    b.get("/signup").await;
    let taken = b
        .submit(
            "/signup",
            &[
                ("invite", ""),
                ("username", "newbie"),
                ("email", "alice@example.org"),
            ],
        )
        .await;
    assert_eq!(taken.status, 200);
    assert!(taken.body.contains("Check your email"), "{}", taken.body);
    assert!(!taken.body.contains("already exists"));
    let store = &server.running().state.store;
    assert!(
        store.user_by_login("newbie").await.unwrap().is_none(),
        "nothing created"
    );
    // A taken username is said, and names no address.
    let both = b
        .submit(
            "/signup",
            &[
                ("invite", ""),
                ("username", "alice"),
                ("email", "alice@example.org"),
            ],
        )
        .await;
    assert_eq!(both.status, 422);
    assert!(both.body.contains("username already exists"));
    assert!(!both.body.contains("email address already exists"));
    // Every try counts against the network, valid or not: 20 free, then refused.
    let mut statuses = vec![taken.status, both.status];
    for i in 0..25 {
        let name = format!("probe{i}");
        statuses.push(
            b.submit(
                "/signup",
                &[
                    ("invite", ""),
                    ("username", "alice"),
                    ("email", &format!("{name}@example.org")),
                ],
            )
            .await
            .status,
        );
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|&&s| s != 429).count(),
        21,
        "{statuses:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_dropped_transaction_does_not_keep_the_cli_from_writing() {
    let server = TestServer::start(&[]).await;
    people::with_password(&server.running().state, people::named("bob")).await;
    let b = Browser::new(&server.base, APP);
    let dir = server.data_dir();
    // Each of these returns early from inside a write transaction.
    b.get("/login").await;
    b.get("/verify-email/whatever").await;
    for path in ["/verify-email/whatever", "/account/not-me/whatever"] {
        let res = b.submit(path, &[]).await;
        assert_eq!(res.status, 410, "{path}");
        let data = [("LATCHKEY_DATA_DIR", dir.to_str().unwrap())];
        let out = run(latchkey(&dir, &data).args(["login-link", "bob"]));
        assert!(
            out.status.success(),
            "the CLI writes right after {path}: {out:?}"
        );
    }
    server.stop().await;
}
