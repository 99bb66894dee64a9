//! The LDAP server face, driven by clients nobody here wrote: OpenLDAP's ldap-utils
//! (`ldapsearch`, `ldapwhoami`, `ldapcompare`) against the real server, over StartTLS
//! and LDAPS, with a throwaway CA.

mod clients;
mod manage;
mod manage_api;
mod peers;

use std::path::PathBuf;

use latchkey::audit::Origin;
use latchkey::auth::ldap as rules;
use latchkey::domain::user::User;
use tempfile::TempDir;

use crate::people;
use crate::support::{TestServer, test_pki};

pub const BASE: &str = "dc=example,dc=org";

/// A server with both LDAP listeners, users alice (in `devs`), bob (in `admins`) and
/// carol (disabled, in `devs`), a service account and an app password for alice.
pub struct Ldap {
    pub server: TestServer,
    pub pki: TempDir,
    pub ca: PathBuf,
    pub plain: u16,
    pub tls: u16,
    pub service_dn: String,
    pub service_password: String,
    pub alice: User,
    pub alice_app_password: String,
    pub carol_app_password: String,
}

impl Ldap {
    pub async fn start(extra: &[(&str, &str)]) -> Ldap {
        let pki = tempfile::tempdir().unwrap();
        let (ca, cert, key) = test_pki(pki.path());
        let (cert, key) = (
            cert.to_str().unwrap().to_string(),
            key.to_str().unwrap().to_string(),
        );
        let mut settings = vec![
            ("LATCHKEY_APP_URL", "https://sso.example.org"),
            ("LATCHKEY_LDAP_BASE_DN", BASE),
            ("LATCHKEY_LDAP_LISTEN", "127.0.0.1:0"),
            ("LATCHKEY_LDAPS_LISTEN", "127.0.0.1:0"),
            ("LATCHKEY_LDAP_TLS_CERT_FILE", cert.as_str()),
            ("LATCHKEY_LDAP_TLS_KEY_FILE", key.as_str()),
        ];
        settings.extend_from_slice(extra);
        let server = TestServer::start(&settings).await;
        let state = &server.running().state;
        let store = &state.store;
        let mut alice = people::named("alice");
        alice.first_name = "Alice".into();
        alice.last_name = "Liddell".into();
        let alice = people::with_password(state, alice).await;
        let bob = people::with_password(state, people::named("bob")).await;
        let carol = people::with_password(state, people::named("carol")).await;
        let devs = store.create_group("devs", "Developers").await.unwrap();
        let admins = store.create_group("admins", "").await.unwrap();
        store.add_group_member(&devs.id, &alice.id).await.unwrap();
        store.add_group_member(&devs.id, &carol.id).await.unwrap();
        store.add_group_member(&admins.id, &bob.id).await.unwrap();
        let (account, service_password) =
            rules::create_ldap_account(store, "jellyfin", &[], &Origin::cli())
                .await
                .unwrap();
        let (_, alice_app_password) =
            rules::create_app_password(store, &alice, "Jellyfin", None, &Origin::cli())
                .await
                .unwrap();
        let (_, carol_app_password) =
            rules::create_app_password(store, &carol, "TV", None, &Origin::cli())
                .await
                .unwrap();
        store.set_user_disabled(&carol.id, true).await.unwrap();
        let (plain, tls) = server.running().ldap_addrs;
        Ldap {
            plain: plain.unwrap().port(),
            tls: tls.unwrap().port(),
            service_dn: format!("cn={},ou=services,{BASE}", account.name),
            service_password,
            alice,
            alice_app_password,
            carol_app_password,
            ca,
            pki,
            server,
        }
    }

    /// By address: libldap checks a `localhost` URL against the machine's host name.
    pub fn plain_url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.plain)
    }

    pub fn tls_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.tls)
    }

    /// An ldap-utils command with the test CA trusted and demanded.
    pub fn tool(&self, program: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        cmd.env("LDAPTLS_CACERT", &self.ca)
            .env("LDAPTLS_REQCERT", "demand")
            .env("LDAPCONF", "/dev/null")
            .env("LDAPRC", "/dev/null")
            .env("HOME", self.pki.path());
        cmd
    }

    /// `ldapwhoami` over LDAPS as `dn` with `password`: its exit status (0, or the
    /// LDAP result code) and what it printed.
    pub async fn whoami(&self, dn: &str, password: &str) -> Ran {
        let mut cmd = self.tool("ldapwhoami");
        cmd.args(["-x", "-H", &self.tls_url(), "-D", dn, "-w", password]);
        run(cmd).await
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// What a client command printed and how it ended.
pub struct Ran {
    pub code: i32,
    pub out: String,
    pub err: String,
}

pub async fn run(mut cmd: tokio::process::Command) -> Ran {
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), cmd.output())
        .await
        .expect("the client finished within 30 s")
        .expect("the client runs (ldap-utils installed by scripts/test)");
    Ran {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The DNs of an LDIF answer, in order.
pub fn dns(ldif: &str) -> Vec<String> {
    ldif.lines()
        .filter_map(|l| l.strip_prefix("dn: "))
        .map(str::to_string)
        .collect()
}

/// The values of `attr` in an LDIF answer (plain values only).
pub fn values(ldif: &str, attr: &str) -> Vec<String> {
    let prefix = format!("{attr}: ");
    ldif.lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .map(str::to_string)
        .collect()
}
