//! Directory sync: Latchkey as an LDAP client of an upstream directory. The peer is a
//! real OpenLDAP slapd ([`slapd::Slapd`]).

pub mod slapd;

mod login;
mod sync;

use latchkey::audit::Origin;
use latchkey::directory::RunReport;
use latchkey::domain::user::{NewUser, User};

use crate::browser::{Browser, Page};
use crate::support::TestServer;

pub const APP: &str = "http://localhost:1411";

/// Latchkey's settings for this slapd: StartTLS with the test CA, the reader account,
/// users under ou=people, groups under ou=groups, admins from latchkey-admins.
pub fn directory_env(dir: &slapd::Slapd) -> Vec<(String, String)> {
    [
        ("LATCHKEY_DIRECTORY_URL", dir.ldap_url.clone()),
        ("LATCHKEY_DIRECTORY_STARTTLS", "true".into()),
        (
            "LATCHKEY_DIRECTORY_CA_FILE",
            dir.ca_file.display().to_string(),
        ),
        ("LATCHKEY_DIRECTORY_BIND_DN", slapd::READER_DN.into()),
        ("LATCHKEY_DIRECTORY_BIND_PASSWORD", slapd::READER_PW.into()),
        ("LATCHKEY_DIRECTORY_BASE_DN", slapd::BASE.into()),
        ("LATCHKEY_DIRECTORY_USER_BASE", "ou=people".into()),
        ("LATCHKEY_DIRECTORY_GROUP_BASE", "ou=groups".into()),
        ("LATCHKEY_DIRECTORY_ADMIN_GROUP", "latchkey-admins".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A server synced from `dir` (`extra` added, or replacing a directory setting).
pub async fn start(dir: &slapd::Slapd, extra: &[(&str, &str)]) -> TestServer {
    let mut env = directory_env(dir);
    env.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.extend_from_slice(extra);
    TestServer::start(&pairs).await
}

/// Sync now (after the start-up run, which this waits for).
pub async fn sync(server: &TestServer) -> RunReport {
    server
        .running()
        .state
        .directory
        .sync("test", &Origin::default())
        .await
        .unwrap()
}

pub async fn user(server: &TestServer, name: &str) -> User {
    server
        .running()
        .state
        .store
        .user_by_login(name)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no user {name}"))
}

/// One attempt through the real login form.
pub async fn password_attempt(b: &Browser, login: &str, password: &str) -> Page {
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

pub async fn password_sign_in(b: &Browser, login: &str, password: &str) {
    let res = password_attempt(b, login, password).await;
    assert_eq!(res.status, 303, "{login} signs in: {}", res.body);
}

/// A local administrator, signed in.
pub async fn signed_in_admin(server: &TestServer) -> Browser {
    let state = &server.running().state;
    if state.store.user_by_login("root").await.unwrap().is_none() {
        crate::people::with_password(
            state,
            NewUser {
                is_admin: true,
                ..crate::people::named("root")
            },
        )
        .await;
    }
    let b = Browser::new(&server.base, APP);
    crate::people::sign_in(&b, "root").await;
    b
}

/// The peer itself, checked with OpenLDAP's own tools before anything relies on it.
mod peer {
    use std::process::{Command, Output};

    use super::slapd::*;
    use crate::support;

    /// An OpenLDAP client tool trusting the peer's CA (and nothing from ldap.conf's
    /// `TLS_CACERT`): `-x`, bound as `dn`/`pw`.
    fn tool(peer: &Slapd, prog: &str, url: &str, dn: &str, pw: &str, args: &[&str]) -> Output {
        let mut cmd = Command::new(prog);
        cmd.env("LDAPTLS_CACERT", &peer.ca_file)
            .env("LDAPTLS_REQCERT", "demand")
            .args(["-x", "-H", url, "-D", dn, "-w", pw])
            .args(args);
        support::run(cmd)
    }

    fn values(out: &Output, attr: &str) -> Vec<String> {
        let prefix = format!("{attr}: ");
        support::stdout(out)
            .lines()
            .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
            .collect()
    }

    fn dns(out: &Output) -> usize {
        support::stdout(out)
            .lines()
            .filter(|l| l.starts_with("dn:"))
            .count()
    }

    #[tokio::test]
    async fn serves_the_seed_over_starttls_and_ldaps_and_keeps_changes_across_a_restart() {
        let mut peer = Slapd::start(Options::default());
        assert!(peer.ldap_url.starts_with("ldap://localhost:"));
        assert!(peer.ldaps_url.starts_with("ldaps://localhost:"));

        // StartTLS (-ZZ: required) as the reader: the five people, each with an
        // entryUUID, and no userPassword.
        let out = tool(
            &peer,
            "ldapsearch",
            &peer.ldap_ip_url,
            READER_DN,
            READER_PW,
            &[
                "-ZZ",
                "-LLL",
                "-b",
                PEOPLE_DN,
                "(objectClass=person)",
                "uid",
                "entryUUID",
                "userPassword",
            ],
        );
        assert!(out.status.success(), "{}", support::stderr(&out));
        assert_eq!(dns(&out), 5, "{}", support::stdout(&out));
        let mut uids = values(&out, "uid");
        uids.sort();
        assert_eq!(uids, ["alice", "bob", "carol", "dave", "erin"]);
        let uuids = values(&out, "entryUUID");
        assert_eq!(uuids.len(), 5);
        assert!(uuids.iter().all(|u| u.len() == 36), "{uuids:?}");
        assert!(values(&out, "userPassword").is_empty());
        assert_eq!(uuids[0], peer.entry_uuid(&values(&out, "dn")[0]));

        // LDAPS: the reader sees the groups; a person binds with her password.
        let out = tool(
            &peer,
            "ldapsearch",
            &peer.ldaps_ip_url,
            READER_DN,
            READER_PW,
            &[
                "-LLL",
                "-b",
                GROUPS_DN,
                "(|(objectClass=groupOfNames)(objectClass=posixGroup))",
                "member",
                "memberUid",
            ],
        );
        assert!(out.status.success(), "{}", support::stderr(&out));
        assert_eq!(dns(&out), 3, "{}", support::stdout(&out));
        assert_eq!(values(&out, "member").len(), 3);
        assert_eq!(values(&out, "memberUid"), ["carol", "dave"]);
        let alice = seed_user_by_uid("alice");
        let out = tool(
            &peer,
            "ldapwhoami",
            &peer.ldaps_ip_url,
            &alice.dn(),
            alice.password,
            &[],
        );
        assert!(out.status.success(), "{}", support::stderr(&out));
        assert_eq!(support::stdout(&out).trim(), format!("dn:{}", alice.dn()));

        // A wrong password: invalidCredentials (49), over either listener.
        let out = tool(
            &peer,
            "ldapwhoami",
            &peer.ldap_ip_url,
            READER_DN,
            "wrong",
            &["-ZZ"],
        );
        assert_eq!(out.status.code(), Some(49), "{}", support::stderr(&out));
        let out = tool(
            &peer,
            "ldapwhoami",
            &peer.ldaps_ip_url,
            READER_DN,
            "wrong",
            &[],
        );
        assert_eq!(out.status.code(), Some(49), "{}", support::stderr(&out));

        // The change helpers, and a restart that keeps data and entryUUIDs.
        peer.ldapadd(&format!(
            "dn: {}\nobjectClass: inetOrgPerson\nuid: frank\ncn: Frank Fisher\nsn: Fisher\n\
             mail: frank@example.org\n",
            user_dn("frank")
        ));
        assert_eq!(peer.count(PEOPLE_DN, "(objectClass=person)"), 6);
        let frank = peer.entry_uuid(&user_dn("frank"));
        peer.ldapmodify(&format!(
            "dn: {frank_dn}\nchangetype: modify\nreplace: mail\nmail: fred@example.org\n\n\
             dn: {frank_dn}\nchangetype: modrdn\nnewrdn: uid=fred\ndeleteoldrdn: 1\n\n\
             dn: {developers}\nchangetype: modify\nadd: member\nmember: {fred_dn}\n",
            frank_dn = user_dn("frank"),
            fred_dn = user_dn("fred"),
            developers = group_dn("developers"),
        ));
        peer.delete(&user_dn("erin"));
        assert_eq!(peer.count(PEOPLE_DN, "(objectClass=person)"), 5);
        assert_eq!(peer.count(PEOPLE_DN, "(uid=erin)"), 0);
        assert_eq!(peer.count(BASE, "(mail=fred@example.org)"), 1);
        assert_eq!(peer.count("ou=nowhere,dc=example,dc=org", "(uid=*)"), 0);

        let started = std::time::Instant::now();
        peer.restart();
        let took = started.elapsed();
        assert!(
            took < std::time::Duration::from_secs(8),
            "restart took {took:?}"
        );
        assert_eq!(peer.entry_uuid(&user_dn("fred")), frank);
        assert_eq!(
            peer.count(BASE, &format!("(member={})", user_dn("fred"))),
            1
        );
        let out = tool(
            &peer,
            "ldapsearch",
            &peer.ldap_ip_url,
            READER_DN,
            READER_PW,
            &[
                "-ZZ",
                "-LLL",
                "-b",
                PEOPLE_DN,
                "(objectClass=person)",
                "1.1",
            ],
        );
        assert!(out.status.success(), "{}", support::stderr(&out));
        assert_eq!(dns(&out), 5);

        peer.stop();
        assert!(std::net::TcpStream::connect(("127.0.0.1", port(&peer.ldap_url))).is_err());
    }

    fn port(url: &str) -> u16 {
        url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// `size_limit: Some(2)` imitates AD's MaxPageSize: unpaged searches of more than
    /// two entries fail with sizeLimitExceeded, paged ones return everything.
    #[tokio::test]
    async fn a_size_limit_fails_unpaged_searches_but_not_paged_ones() {
        let peer = Slapd::start(Options {
            size_limit: Some(2),
            ..Options::default()
        });
        let search = |extra: &[&str], filter: &str| {
            let mut args = vec!["-ZZ", "-LLL", "-b", PEOPLE_DN];
            args.extend_from_slice(extra);
            args.extend([filter, "uid"]);
            tool(
                &peer,
                "ldapsearch",
                &peer.ldap_ip_url,
                READER_DN,
                READER_PW,
                &args,
            )
        };

        let out = search(&[], "(objectClass=person)");
        assert_eq!(out.status.code(), Some(4), "{}", support::stderr(&out));
        assert!(
            support::stderr(&out).contains("Size limit exceeded"),
            "{}",
            support::stderr(&out)
        );
        assert!(dns(&out) <= 2);

        // Up to the limit an unpaged search is fine.
        let out = search(&[], "(|(uid=alice)(uid=bob))");
        assert!(out.status.success(), "{}", support::stderr(&out));
        assert_eq!(dns(&out), 2);

        // Paged, with pages up to the limit: all five.
        for page in ["pr=2/noprompt", "pr=1/noprompt"] {
            let out = search(&["-E", page], "(objectClass=person)");
            assert!(out.status.success(), "{page}: {}", support::stderr(&out));
            assert_eq!(dns(&out), 5, "{page}: {}", support::stdout(&out));
        }

        // The rootdn has no limit.
        assert_eq!(peer.count(PEOPLE_DN, "(objectClass=person)"), 5);
    }
}
