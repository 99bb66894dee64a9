//! Synced users' passwords are the directory's: `/login` and LDAP binds check them by a
//! bind to slapd, with TOTP, the throttle and the audit as for local passwords.

use latchkey::store::AuditFilter;

use super::slapd::{self, BASE, Options, Slapd};
use super::{APP, password_attempt, start, sync, user};
use crate::browser::Browser;

const ALICE_PW: &str = "alice-directory-pw";

#[tokio::test]
async fn a_synced_user_signs_in_with_the_directory_password_and_nothing_else() {
    let mut dir = Slapd::start(Options::default());
    let server = start(&dir, &[]).await;
    sync(&server).await;
    let state = &server.running().state;

    let b = Browser::new(&server.base, APP);
    let res = password_attempt(&b, "alice", ALICE_PW).await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(b.get("/account").await.status, 200);
    // The password is never stored here.
    let alice = user(&server, "alice").await;
    assert!(
        state
            .store
            .user_credentials(&alice.id)
            .await
            .unwrap()
            .password_hash
            .is_none()
    );
    // The security page says where the password lives; no local password can be set.
    let page = b.get("/account/security").await;
    assert!(
        page.body.contains("your organisation's directory"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("name=\"new_password\""));

    // Wrong, empty and filter-shaped attempts all fail the same way.
    for (login, password) in [
        ("alice", "not-her-password"),
        ("alice", ""),
        ("*)(uid=*", ALICE_PW),
        ("alice)(|(uid=*", ALICE_PW),
        ("*", ALICE_PW),
        ("nobody", ALICE_PW),
    ] {
        let b = Browser::new(&server.base, APP);
        let res = password_attempt(&b, login, password).await;
        assert_eq!(res.status, 401, "{login:?}/{password:?}: {}", res.body);
        assert!(res.body.contains("is not correct"), "{}", res.body);
    }
    let failed = state
        .store
        .list_audit(&AuditFilter {
            event: Some("auth.login.failed".into()),
            limit: 50,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert!(failed.len() >= 6, "every failure is audited: {failed:?}");

    // With TOTP on, the directory password is only the first step.
    let bob = user(&server, "bob").await;
    let (secret, _) = crate::people::enrol_totp(state, &bob.id).await;
    let b = Browser::new(&server.base, APP);
    let res = password_attempt(&b, "bob", "bob-directory-pw").await;
    assert_eq!(res.status, 303);
    assert_eq!(res.location.as_deref(), Some("/login/second-factor"));
    assert!(
        b.cookie("latchkey_session").is_none(),
        "not signed in before the code"
    );
    let code = latchkey::auth::totp::code_at(&secret, latchkey::store::now() as u64);
    let res = b.submit("/login/second-factor", &[("code", &code)]).await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(b.get("/account").await.status, 200);

    // Moved out of the user base upstream but not yet synced: the bind as the entry
    // would succeed, yet it is no longer a user of this directory.
    dir.ldapadd(&format!(
        "dn: ou=former,{BASE}\nobjectClass: organizationalUnit\nou: former\n"
    ));
    dir.ldapmodify(&format!(
        "dn: {}\nchangetype: modrdn\nnewrdn: uid=erin\ndeleteoldrdn: 1\nnewsuperior: ou=former,{BASE}\n",
        slapd::user_dn("erin")
    ));
    let b = Browser::new(&server.base, APP);
    let res = password_attempt(&b, "erin", "erin-directory-pw").await;
    assert_eq!(res.status, 401, "{}", res.body);

    // slapd down: "not answering", not a failed attempt — twenty tries lock nothing.
    dir.stop();
    for _ in 0..20 {
        let b = Browser::new(&server.base, APP);
        let res = password_attempt(&b, "alice", ALICE_PW).await;
        assert_eq!(res.status, 503);
        assert!(res.body.contains("not answering"), "{}", res.body);
    }
    dir.restart();
    let b = Browser::new(&server.base, APP);
    let res = password_attempt(&b, "alice", ALICE_PW).await;
    assert_eq!(res.status, 303, "no lockout after the outage: {}", res.body);
    server.stop().await;
}

#[tokio::test]
async fn ldap_binds_of_synced_users_take_app_passwords_and_with_any_password_the_directory_one() {
    let dir = Slapd::start(Options::default());
    let port = crate::support::free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = start(
        &dir,
        &[
            ("LATCHKEY_LDAP_LISTEN", listen.as_str()),
            ("LATCHKEY_LDAP_ALLOW_INSECURE_BIND", "true"),
            ("LATCHKEY_LDAP_PASSWORD_BIND", "any-password"),
            ("LATCHKEY_LDAP_BASE_DN", "dc=sso,dc=example,dc=org"),
        ],
    )
    .await;
    sync(&server).await;
    let state = &server.running().state;
    let alice = user(&server, "alice").await;
    let (_, app_password) = latchkey::auth::ldap::create_app_password(
        &state.store,
        &alice,
        "nextcloud",
        None,
        &latchkey::audit::Origin::default(),
    )
    .await
    .unwrap();
    // The server runs in this process: the client must not block its threads.
    let whoami = |password: &str| {
        tokio::process::Command::new("ldapwhoami")
            .env("LDAPNOINIT", "1")
            .args([
                "-x",
                "-H",
                &format!("ldap://127.0.0.1:{port}"),
                "-D",
                "uid=alice,ou=people,dc=sso,dc=example,dc=org",
                "-w",
                password,
            ])
            .output()
    };
    let out = whoami(&app_password).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = whoami(ALICE_PW).await.unwrap();
    assert!(
        out.status.success(),
        "the directory password: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = whoami("wrong").await.unwrap();
    assert_eq!(out.status.code(), Some(49), "invalidCredentials");
    server.stop().await;
}
