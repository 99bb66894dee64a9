//! Real LDAP consumers against the server: SSSD (NSS and PAM, as a Linux host uses
//! it), Apache httpd's mod_authnz_ldap (`Require ldap-group`), and Python ldap3
//! scripts that send what Nextcloud, Gitea and Jellyfin send (tests/ldap/clients.py).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::{BASE, Ldap, run};

async fn sh(program: &str, args: &[&str]) -> super::Ran {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args);
    run(cmd).await
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// SSSD in the foreground, gone when dropped (its caches with it).
struct Sssd(tokio::process::Child);

impl Drop for Sssd {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
        clear_sssd_caches();
    }
}

fn clear_sssd_caches() {
    for dir in ["/var/lib/sss/db", "/var/lib/sss/mc"] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

#[tokio::test]
async fn sssd_resolves_users_and_groups_and_authenticates_with_an_app_password() {
    let l = Ldap::start(&[]).await;
    let dir = l.pki.path();
    let conf = dir.join("sssd.conf");
    write_private(
        &conf,
        &format!(
            "[sssd]\nconfig_file_version = 2\nservices = nss, pam\ndomains = latchkey\n\n[nss]\n\n[pam]\n\n\
             [domain/latchkey]\nid_provider = ldap\nauth_provider = ldap\nldap_schema = rfc2307bis\n\
             ldap_group_object_class = groupOfNames\nldap_group_member = member\nsudo_provider = none\n\
             ldap_uri = {}\nldap_search_base = {BASE}\nldap_default_bind_dn = {}\nldap_default_authtok = {}\n\
             ldap_tls_reqcert = demand\nldap_tls_cacert = {}\nauto_private_groups = true\n\
             cache_credentials = false\nenumerate = false\nentry_cache_timeout = 1\n",
            l.tls_url(),
            l.service_dn,
            l.service_password,
            l.ca.display()
        ),
    );
    clear_sssd_caches();
    let child = tokio::process::Command::new("sssd")
        .args(["-i", "--logger=stderr", "-d", "2", "-c"])
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("sssd.log")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("sssd runs (installed by scripts/test)");
    let _sssd = Sssd(child);
    let mut passwd = None;
    for _ in 0..60 {
        let r = sh("getent", &["passwd", "alice"]).await;
        if r.code == 0 {
            passwd = Some(r.out);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let log = || std::fs::read_to_string(dir.join("sssd.log")).unwrap_or_default();
    let passwd = passwd.unwrap_or_else(|| panic!("getent passwd alice never answered:\n{}", log()));
    let fields: Vec<&str> = passwd.trim().split(':').collect();
    assert_eq!(fields[0], "alice", "{passwd}");
    let uid: u32 = fields[2].parse().unwrap();
    assert!(uid >= 10000, "{passwd}");
    assert_eq!(
        fields[3], fields[2],
        "the user's own group has their uid: {passwd}"
    );
    assert_eq!(fields[4], "Alice Liddell");
    assert_eq!(fields[5], "/home/alice");
    assert_eq!(fields[6], "/bin/bash");

    let group = sh("getent", &["group", "devs"]).await;
    assert_eq!(group.code, 0, "{}", log());
    assert!(group.out.starts_with("devs:"), "{}", group.out);
    assert!(
        group.out.trim().ends_with(":alice"),
        "carol is disabled: {}",
        group.out
    );

    let id = sh("id", &["alice"]).await;
    assert_eq!(id.code, 0, "{}", id.err);
    assert!(id.out.contains(&format!("uid={uid}(alice)")), "{}", id.out);
    assert!(id.out.contains("(devs)"), "{}", id.out);
    assert!(!id.out.contains("admins"), "{}", id.out);
    assert_eq!(
        sh("getent", &["passwd", "carol"]).await.code,
        2,
        "disabled users vanish"
    );

    // PAM: pam_sss binds as alice over LDAPS with her app password.
    let service = "latchkey-test";
    std::fs::write(
        format!("/etc/pam.d/{service}"),
        "auth required pam_sss.so\naccount required pam_sss.so\n",
    )
    .unwrap();
    let pam = |password: String| {
        let mut cmd = tokio::process::Command::new("pamtester");
        cmd.args([service, "alice", "authenticate"])
            .stdin(std::process::Stdio::piped());
        async move {
            let mut child = cmd
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("pamtester runs");
            use tokio::io::AsyncWriteExt;
            let mut stdin = child.stdin.take().unwrap();
            stdin
                .write_all(format!("{password}\n").as_bytes())
                .await
                .unwrap();
            drop(stdin);
            let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
                .await
                .unwrap()
                .unwrap();
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let (code, err) = pam(l.alice_app_password.clone()).await;
    assert_eq!(code, 0, "{err}\n{}", log());
    let (code, _) = pam("not-her-password".into()).await;
    assert_ne!(code, 0);
    let _ = std::fs::remove_file(format!("/etc/pam.d/{service}"));
    l.stop().await;
}

#[tokio::test]
async fn apache_lets_group_members_in_and_keeps_others_out() {
    use std::os::unix::fs::PermissionsExt;
    let l = Ldap::start(&[]).await;
    let dir = l.pki.path();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let www = dir.join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("index.html"), "inside\n").unwrap();
    let port = crate::support::free_port();
    let modules = "/usr/lib/apache2/modules";
    let conf = dir.join("httpd.conf");
    std::fs::write(
        &conf,
        format!(
            "ServerName localhost\nListen 127.0.0.1:{port}\nPidFile {d}/httpd.pid\nErrorLog {d}/error.log\n\
             LogLevel warn ldap:debug authnz_ldap:debug\nDefaultRuntimeDir {d}\nMutex file:{d} default\n\
             User nobody\nGroup nogroup\n\
             LoadModule mpm_event_module {modules}/mod_mpm_event.so\n\
             LoadModule authn_core_module {modules}/mod_authn_core.so\n\
             LoadModule authz_core_module {modules}/mod_authz_core.so\n\
             LoadModule auth_basic_module {modules}/mod_auth_basic.so\n\
             LoadModule ldap_module {modules}/mod_ldap.so\n\
             LoadModule authnz_ldap_module {modules}/mod_authnz_ldap.so\n\
             LDAPTrustedGlobalCert CA_BASE64 {ca}\nLDAPVerifyServerCert on\n\
             DocumentRoot {www}\n<Directory {www}>\n  AuthType Basic\n  AuthName latchkey\n\
             AuthBasicProvider ldap\n\
             AuthLDAPURL \"{url}/ou=people,{BASE}?uid?sub?(objectClass=person)\"\n\
             AuthLDAPBindDN \"{bind}\"\n  AuthLDAPBindPassword \"{pw}\"\n\
             AuthLDAPGroupAttribute member\n  AuthLDAPGroupAttributeIsDN on\n\
             Require ldap-group cn=devs,ou=groups,{BASE}\n</Directory>\n",
            d = dir.display(),
            ca = l.ca.display(),
            www = www.display(),
            url = l.tls_url(),
            bind = l.service_dn,
            pw = l.service_password,
        ),
    )
    .unwrap();
    let mut apache = tokio::process::Command::new("apache2")
        .arg("-f")
        .arg(&conf)
        .arg("-X")
        .kill_on_drop(true)
        .spawn()
        .expect("apache2 runs (installed by scripts/test)");
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/index.html");
    let mut up = false;
    for _ in 0..50 {
        if http.get(&url).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = || std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    assert!(up, "apache did not start:\n{}", log());
    let get = |user: &str, password: &str| http.get(&url).basic_auth(user, Some(password)).send();
    let alice = get("alice", &l.alice_app_password).await.unwrap();
    assert_eq!(alice.status(), 200, "{}", log());
    assert_eq!(alice.text().await.unwrap(), "inside\n");
    // Bob is somebody, but not in devs; so is a wrong password.
    let state = &l.server.running().state;
    let bob = state.store.user_by_login("bob").await.unwrap().unwrap();
    let (_, bob_password) = latchkey::auth::ldap::create_app_password(
        &state.store,
        &bob,
        "web",
        None,
        &latchkey::audit::Origin::cli(),
    )
    .await
    .unwrap();
    assert_eq!(
        get("bob", &bob_password).await.unwrap().status(),
        401,
        "{}",
        log()
    );
    assert_eq!(get("alice", "wrong").await.unwrap().status(), 401);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let _ = apache.start_kill();
    l.stop().await;
}

async fn client(l: &Ldap, kind: &str, args: &[&str]) -> Value {
    let python = std::env::var("LATCHKEY_TEST_LDAP_PYTHON")
        .expect("LATCHKEY_TEST_LDAP_PYTHON names a Python with ldap3 (scripts/test sets it)");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ldap/clients.py");
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(script)
        .arg(kind)
        .arg(l.tls_url())
        .arg(&l.ca)
        .args(args);
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{kind}: {}", r.err);
    serde_json::from_str(&r.out).unwrap_or_else(|e| panic!("{kind}: {e}: {}", r.out))
}

#[tokio::test]
async fn nextcloud_gitea_and_jellyfin_as_they_ask() {
    let l = Ldap::start(&[]).await;
    let svc = [l.service_dn.as_str(), l.service_password.as_str(), BASE];

    let nc = client(&l, "nextcloud", &[svc[0], svc[1], svc[2], "alice"]).await;
    let users = nc["users"].as_object().unwrap();
    assert_eq!(users.keys().collect::<Vec<_>>(), ["alice", "bob"], "{nc}");
    assert_eq!(users["alice"]["entryuuid"], l.alice.id.as_str());
    assert_eq!(users["alice"]["mail"][0], "alice@example.org");
    assert_eq!(
        users["alice"]["memberof"][0],
        format!("cn=devs,ou=groups,{BASE}")
    );

    let gitea = client(
        &l,
        "gitea",
        &[svc[0], svc[1], svc[2], "alice", &l.alice_app_password],
    )
    .await;
    assert_eq!(
        gitea["found"][0],
        format!("uid=alice,ou=people,{BASE}"),
        "{gitea}"
    );
    assert_eq!(gitea["dev"], true);
    assert_eq!(gitea["admin"], false);

    let jf = client(
        &l,
        "jellyfin",
        &[svc[0], svc[1], svc[2], "alice", &l.alice_app_password],
    )
    .await;
    assert_eq!(jf["allowed"], true, "{jf}");
    assert_eq!(jf["authenticated"], true, "{jf}");
    let jf = client(&l, "jellyfin", &[svc[0], svc[1], svc[2], "alice", "wrong"]).await;
    assert_eq!(jf["authenticated"], false, "{jf}");
    let jf = client(&l, "jellyfin", &[svc[0], svc[1], svc[2], "bob", "whatever"]).await;
    assert_eq!(jf["allowed"], false, "bob is not in devs: {jf}");
    l.stop().await;
}
