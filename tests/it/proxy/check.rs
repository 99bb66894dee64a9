//! The checks: who gets through, who is sent to sign in, who is refused, and how
//! quickly a sign-out, a revoked session or a disabled user closes the door.

use latchkey::domain::access::Strength;
use latchkey::domain::proxy_app::AppSpec;

use super::*;
use crate::browser::Browser;
use crate::support::http;

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn sonarr() -> AppSpec {
    AppSpec {
        name: "Sonarr".into(),
        hosts: vec!["sonarr.example.test".into(), "*.media.example.test".into()],
        groups: vec!["media".into()],
        public_paths: vec!["/ping".into()],
        ..AppSpec::default()
    }
}

async fn audit(server: &TestServer, event: &str) -> Vec<latchkey::store::AuditRecord> {
    server
        .running()
        .state
        .store
        .list_audit(&latchkey::store::AuditFilter {
            event: Some(event.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
}

async fn audit_rows(server: &TestServer, event: &str) -> Vec<serde_json::Value> {
    audit(server, event)
        .await
        .into_iter()
        .map(|r| r.details)
        .collect()
}

#[tokio::test]
async fn a_browser_is_sent_to_sign_in_comes_back_with_a_proxy_cookie_and_is_let_in() {
    let server = server(&[]).await;
    let ada = member(&server, "ada", &["media"]).await;
    app(&server, sonarr()).await;
    let b = Browser::new(&server.base, APP);
    let target = "http://sonarr.example.test:8080/calendar?week=1";

    // Not signed in: a page is redirected with rd, a script gets 401, a form post 303.
    let res = forward_auth(&b, "GET", target, HTML).await;
    assert_eq!(res.status, 302, "{}", res.body);
    let login = res.location.clone().unwrap();
    assert_eq!(login, format!("{APP}/login?rd={}", enc(target)));
    assert_eq!(forward_auth(&b, "HEAD", target, HTML).await.status, 302);
    assert_eq!(forward_auth(&b, "POST", target, HTML).await.status, 303);
    let script = forward_auth(&b, "GET", target, "application/json").await;
    assert_eq!(
        (script.status, script.location.as_deref()),
        (401, Some(login.as_str()))
    );
    let nginx = auth_request(&b, target).await;
    assert_eq!(
        (nginx.status, nginx.location.as_deref()),
        (401, Some(login.as_str()))
    );
    // A public path passes without a session, and says nobody.
    let public = forward_auth(&b, "GET", "http://sonarr.example.test/ping", HTML).await;
    assert_eq!(public.status, 200);
    assert_eq!(header(&public, "remote-user"), None);
    // But not when written so that the backend would serve something else.
    let trick = forward_auth(&b, "GET", "http://sonarr.example.test/ping/../api", HTML).await;
    assert_eq!(trick.status, 302);

    // Signing in on the page with rd comes back through /proxy/return.
    let back = sign_in_from(&b, &login, "ada").await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(back.location.as_deref(), Some(target));
    let cookie = header(&back, "set-cookie").unwrap();
    assert!(cookie.starts_with("latchkey_proxy="), "{cookie}");
    for attr in ["Domain=example.test", "Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "no Secure over http: {cookie}");
    let row = audit_rows(&server, "proxy.signin").await;
    assert_eq!(row[0]["method"], "password");

    // Now the check lets the request through with who it is.
    for res in [
        forward_auth(&b, "GET", target, HTML).await,
        auth_request(&b, target).await,
        forward_auth(&b, "GET", "http://tv.media.example.test/", "*/*").await,
    ] {
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(header(&res, "remote-user"), Some("ada"));
        assert_eq!(header(&res, "remote-groups"), Some("media"));
        assert_eq!(header(&res, "remote-email"), Some("ada@example.org"));
        assert_eq!(header(&res, "remote-name"), Some(ada.display_name.as_str()));
    }
    // The session cookie alone opens nothing at the check (it never reaches the
    // apps' hosts), and the proxy cookie alone opens no page of Latchkey.
    let session_only = Browser::new(&server.base, APP);
    session_only.set_cookie("latchkey_session", &b.cookie("latchkey_session").unwrap());
    assert_eq!(
        forward_auth(&session_only, "GET", target, HTML)
            .await
            .status,
        302
    );
    let proxy_only = Browser::new(&server.base, APP);
    proxy_only.set_cookie("latchkey_proxy", &b.cookie("latchkey_proxy").unwrap());
    assert_eq!(proxy_only.get("/account").await.status, 303);

    // Already signed in, the sign-in page with rd goes straight back, without a new
    // cookie when the one the browser has is this session's.
    let again = b.get(&format!("/login?rd={}", enc(target))).await;
    assert_eq!(again.status, 303);
    let back = b.get(again.location.as_deref().unwrap()).await;
    assert_eq!(back.location.as_deref(), Some(target));
    assert_eq!(header(&back, "set-cookie"), None);

    // Signing out closes the application at the next request.
    assert_eq!(b.submit("/logout", &[]).await.status, 303);
    b.set_cookie(
        "latchkey_proxy",
        &proxy_only.cookie("latchkey_proxy").unwrap(),
    );
    assert_eq!(forward_auth(&b, "GET", target, HTML).await.status, 302);
    server.stop().await;
}

#[tokio::test]
async fn outsiders_unknown_hosts_and_foreign_redirects_are_refused() {
    let server = server(&[]).await;
    member(&server, "bob", &["family"]).await;
    member(&server, "ada", &["media"]).await;
    app(&server, sonarr()).await;
    app(
        &server,
        AppSpec {
            name: "Wiki".into(),
            hosts: vec!["wiki.example.test".into()],
            ..AppSpec::default()
        },
    )
    .await;
    let b = Browser::new(&server.base, APP);
    // Bob gets a proxy cookie through the wiki, which admits everyone …
    let login = forward_auth(&b, "GET", "http://wiki.example.test/", HTML)
        .await
        .location
        .unwrap();
    assert_eq!(sign_in_from(&b, &login, "bob").await.status, 303);
    assert_eq!(
        forward_auth(&b, "GET", "http://wiki.example.test/", HTML)
            .await
            .status,
        200
    );
    // … and Sonarr, which only the media group may use, says no, with a page.
    let no = forward_auth(&b, "GET", "http://sonarr.example.test/series", HTML).await;
    assert_eq!(no.status, 403);
    assert!(
        no.body.contains("No access") && no.body.contains("Sonarr"),
        "{}",
        no.body
    );
    let back = b
        .get(&format!(
            "/proxy/return?rd={}",
            enc("http://sonarr.example.test/series")
        ))
        .await;
    assert_eq!(back.status, 403);
    let denied = audit_rows(&server, "proxy.access.denied").await;
    assert!(
        denied.iter().any(|d| d["reason"] == "not_in_group"
            && d["host"] == "sonarr.example.test"
            && d["path"] == "/series"),
        "{denied:?}"
    );
    // A host no application covers: refused and recorded; many refusals, one row.
    for _ in 0..5 {
        let res = forward_auth(&b, "GET", "http://nas.example.test/", HTML).await;
        assert_eq!(res.status, 403);
    }
    // Made-up host names from one address, sent at the same instant: still that one row.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (barrier, url) = (barrier.clone(), server.url("/api/authz/forward-auth"));
        tasks.push(tokio::spawn(async move {
            let req = http()
                .get(url)
                .header("x-forwarded-host", format!("made-up-{i}.example.test"))
                .header("accept", "text/html");
            barrier.wait().await;
            req.send().await.unwrap().status().as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 403);
    }
    let unknown: Vec<_> = audit_rows(&server, "proxy.access.denied")
        .await
        .into_iter()
        .filter(|d| d["reason"] == "unknown_host")
        .collect();
    assert_eq!(unknown.len(), 1, "folded: {unknown:?}");
    // rd may only lead to a covered host: no open redirect, before or after sign-in.
    for rd in [
        "https://evil.example/",
        "https://sonarr.example.test.evil.example/",
        "javascript:alert(1)",
        "//evil.example/",
        "https://user@sonarr.example.test/",
    ] {
        let login = b.get(&format!("/login?rd={}", enc(rd))).await;
        assert_eq!(login.status, 400, "{rd}: {}", login.body);
        let back = b.get(&format!("/proxy/return?rd={}", enc(rd))).await;
        assert_eq!(back.status, 400, "{rd}");
        assert_eq!(back.location, None);
    }
    // Malformed checks are a clear 400, not a redirect.
    let bare = b.get("/api/authz/forward-auth").await;
    assert_eq!(bare.status, 400);
    assert!(bare.body.contains("X-Forwarded-Host"), "{}", bare.body);
    server.stop().await;
}

#[tokio::test]
async fn revoking_the_session_or_disabling_the_user_closes_the_app_at_once() {
    let server = server(&[]).await;
    let ada = member(&server, "ada", &["media"]).await;
    app(&server, sonarr()).await;
    let state = &server.running().state;
    let target = "http://sonarr.example.test/";
    let signed_in = || async {
        let b = Browser::new(&server.base, APP);
        let login = forward_auth(&b, "GET", target, HTML)
            .await
            .location
            .unwrap();
        sign_in_from(&b, &login, "ada").await;
        assert_eq!(forward_auth(&b, "GET", target, HTML).await.status, 200);
        b
    };
    // Revoked at /account/security (from another browser of hers).
    let b = signed_in().await;
    let other = signed_in().await;
    let sessions = state.store.sessions_of_user(&ada.id).await.unwrap();
    assert_eq!(sessions.len(), 2);
    let session_of_b = latchkey::crypto::hash_secret(&b.cookie("latchkey_session").unwrap());
    other.get("/account/security").await;
    let res = other
        .submit("/account/sessions/revoke", &[("session", &session_of_b)])
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(forward_auth(&b, "GET", target, HTML).await.status, 302);
    assert_eq!(forward_auth(&other, "GET", target, HTML).await.status, 200);
    // Disabled by an admin: every browser is out at the next request.
    state.store.set_user_disabled(&ada.id, true).await.unwrap();
    assert_eq!(forward_auth(&other, "GET", target, HTML).await.status, 302);
    server.stop().await;
}

#[tokio::test]
async fn a_weak_or_old_sign_in_is_sent_to_step_up_and_then_let_in() {
    let server = server(&[]).await;
    let ada = member(&server, "ada", &[]).await;
    let state = &server.running().state;
    let (secret, _) = people::enrol_totp(state, &ada.id).await;
    app(
        &server,
        AppSpec {
            name: "Admin panel".into(),
            hosts: vec!["panel.example.test".into()],
            require: Strength::TwoFactor,
            max_age_hours: Some(1),
            ..AppSpec::default()
        },
    )
    .await;
    let target = "http://panel.example.test/settings";
    let b = Browser::new(&server.base, APP);
    // Password and TOTP meet "two-factor".
    let login = forward_auth(&b, "GET", target, HTML)
        .await
        .location
        .unwrap();
    let page = b.get(login.strip_prefix(APP).unwrap()).await;
    let next = next_of(&page.body);
    let res = b
        .submit(
            "/login/password",
            &[
                ("login", "ada"),
                ("password", people::PASSWORD),
                ("next", &next),
            ],
        )
        .await;
    assert_eq!(res.location.as_deref(), Some("/login/second-factor"));
    let code = latchkey::auth::totp::code_at(&secret, latchkey::store::now() as u64);
    let res = b.submit("/login/second-factor", &[("code", &code)]).await;
    let back = b.get(res.location.as_deref().unwrap()).await;
    assert_eq!(back.location.as_deref(), Some(target), "{}", back.body);
    assert_eq!(forward_auth(&b, "GET", target, HTML).await.status, 200);

    // A sign-in older than the maximum age: sent back through the step-up.
    let session = latchkey::crypto::hash_secret(&b.cookie("latchkey_session").unwrap());
    state
        .store
        .reauthenticate_session(&session, latchkey::store::now() - 2 * 3600)
        .await
        .unwrap();
    let old = forward_auth(&b, "GET", target, HTML).await;
    assert_eq!(old.status, 302);
    let step_up = old.location.unwrap();
    assert!(
        step_up.starts_with(&format!("{APP}/proxy/return?rd=")),
        "{step_up}"
    );
    let again = b.get(step_up.strip_prefix(APP).unwrap()).await;
    assert!(
        again
            .location
            .as_deref()
            .unwrap()
            .starts_with("/login?reauth=1&next="),
        "{:?}",
        again.location
    );
    assert_eq!(audit_rows(&server, "proxy.step_up").await.len(), 1);

    // A passkey-only app tells a password + TOTP session why it must sign in again.
    app(
        &server,
        AppSpec {
            name: "Vault".into(),
            hosts: vec!["vault.example.test".into()],
            require: Strength::Passkey,
            ..AppSpec::default()
        },
    )
    .await;
    state
        .store
        .reauthenticate_session(&session, latchkey::store::now())
        .await
        .unwrap();
    let res = b
        .get(&format!(
            "/proxy/return?rd={}",
            enc("http://vault.example.test/")
        ))
        .await;
    let login = res.location.unwrap();
    assert!(
        login.starts_with("/login?reauth=1&require=passkey&next="),
        "{login}"
    );
    let page = b.get(&login).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("needs a passkey"), "{}", page.body);
    assert!(!page.body.contains("/login/password"), "no password form");
    server.stop().await;
}

#[tokio::test]
async fn basic_callers_use_app_passwords_where_allowed_and_are_throttled() {
    let server = server(&[]).await;
    let ada = member(&server, "ada", &["media"]).await;
    let state = &server.running().state;
    let (_, password) = latchkey::auth::ldap::create_app_password(
        &state.store,
        &ada,
        "sync script",
        None,
        &latchkey::audit::Origin::cli(),
    )
    .await
    .unwrap();
    app(
        &server,
        AppSpec {
            allow_basic: true,
            ..sonarr()
        },
    )
    .await;
    app(
        &server,
        AppSpec {
            name: "Wiki".into(),
            hosts: vec!["wiki.example.test".into()],
            ..AppSpec::default()
        },
    )
    .await;
    let check_as = |scheme: &'static str, host: &'static str, user: &'static str, pass: String| {
        let base = server.base.clone();
        async move {
            let token = base64_encode(&format!("{user}:{pass}"));
            http()
                .get(format!("{base}/api/authz/forward-auth"))
                .header("x-forwarded-host", host)
                .header("x-forwarded-uri", "/api/v3/series")
                .header("authorization", format!("{scheme} {token}"))
                .send()
                .await
                .unwrap()
        }
    };
    let check = |host, user, pass| check_as("Basic", host, user, pass);
    let ok = check("sonarr.example.test", "ada", password.clone()).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["remote-user"], "ada");
    let wrong = check("sonarr.example.test", "ada", "wrong-password".into()).await;
    assert_eq!(wrong.status(), 401);
    assert!(
        wrong.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    // Where Basic is not allowed, the header is not even looked at.
    let wiki = check("wiki.example.test", "ada", password.clone()).await;
    assert_eq!(wiki.status(), 401, "a script without a session");

    // Guesses sent at the same instant: each is counted (an app password is 128+
    // random bits, so the ones in flight together cannot find it), and once the
    // account is locked even the right password is refused until the lock ends.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(30));
    let mut tasks = Vec::new();
    for i in 0..30 {
        let barrier = barrier.clone();
        let fut = check("sonarr.example.test", "ada", format!("guess-{i}"));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await.status().as_u16()
        }));
    }
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            401 => refused += 1,
            429 => {}
            other => panic!("a guess answered {other}"),
        }
    }
    // Every guess that was checked is a failed attempt on record.
    let failed = audit_rows(&server, "proxy.basic.failed").await.len();
    assert_eq!(failed, refused + 1);
    // (The same header found right a moment ago is not checked again for a few
    // seconds; written with another case of `Basic`, it is.)
    let locked = check_as("BASIC", "sonarr.example.test", "ada", password.clone()).await;
    assert_eq!(locked.status(), 429);
    assert!(locked.headers().contains_key("retry-after"));
    server.stop().await;
}

fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn the_client_address_comes_from_the_forwarded_header_only_from_a_trusted_proxy() {
    for (trust, expected) in [("", "127.0.0.1"), ("127.0.0.1", "203.0.113.9")] {
        let server = server(&[("LATCHKEY_TRUST_PROXY", trust)]).await;
        let res = http()
            .get(server.url("/api/authz/forward-auth"))
            .header("x-forwarded-host", "nas.example.test")
            .header("x-forwarded-for", "203.0.113.9")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        let rows = audit(&server, "proxy.access.denied").await;
        assert_eq!(rows[0].ip.as_deref(), Some(expected), "trusting `{trust}`");
        server.stop().await;
    }
}
