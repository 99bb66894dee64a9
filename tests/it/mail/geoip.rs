//! The approximate location in the new-sign-in notice, from a MaxMind-format City
//! database (`LATCHKEY_GEOIP_DB`). The database is written by mmdb-writer (PyPI) in
//! the shape of GeoLite2 City; Latchkey sits behind a trusted proxy so that the
//! sign-ins come from public addresses.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::lab::{APP, Latchkey, Mode, Pki, SmtpServer, python, sign_in, smtp_env, user};
use crate::browser::Browser;

/// The test City database (see tests/mail/write_geoip.py for what it holds).
fn city_db(dir: &Path) -> PathBuf {
    let path = dir.join("City.mmdb");
    let out = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mail/write_geoip.py"))
        .arg(&path)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "write_geoip.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// Sign in as `name` from a new browser whose proxy says it is at `ip`.
async fn sign_in_from(lk: &Latchkey, name: &str, ip: &str) {
    let b = Browser::with_headers(
        &lk.base,
        APP,
        &[
            (
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            ),
            ("x-forwarded-for", ip),
        ],
    );
    sign_in(&b, name).await;
}

#[tokio::test]
async fn a_new_sign_in_notice_names_the_place_the_database_gives() {
    let dir = tempfile::tempdir().unwrap();
    let db = city_db(dir.path());
    let pki = Pki::new();
    let smtp = SmtpServer::start(&pki, Mode::StartTls).await;
    let mut env = smtp_env(&smtp, Some(&pki.ca));
    env.push(("LATCHKEY_GEOIP_DB".into(), db.to_str().unwrap().into()));
    env.push(("LATCHKEY_TRUST_PROXY".into(), "127.0.0.1/32".into()));
    let mut lk = Latchkey::start(&env).await;

    user(&lk, "gus", false).await;

    // The first device ever is not news; each later one is, with its place.
    sign_in_from(&lk, "gus", "81.2.69.160").await;
    let cases = [
        ("81.2.69.142", "London, United Kingdom"),
        ("89.160.20.112", "Sweden"),
        ("2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6", "Oslo, Norway"),
        ("203.0.113.9", ""),
    ];
    for (n, (ip, place)) in cases.iter().enumerate() {
        sign_in_from(&lk, "gus", ip).await;
        // The Maildir does not keep the order of arrival: find this sign-in's notice.
        let mails = smtp.wait_for(n + 1).await;
        let mail = mails
            .iter()
            .find(|m| {
                m.text()
                    .lines()
                    .any(|l| l.trim_end() == format!("IP address: {ip}"))
            })
            .unwrap_or_else(|| panic!("no notice names {ip}"));
        assert!(mail.header("subject").contains("New sign-in"));
        let text = mail.text();
        if place.is_empty() {
            assert!(
                !text.contains("Approximate location"),
                "an address the database does not know has no place:\n{text}"
            );
        } else {
            assert!(
                text.contains(&format!("Approximate location: {place}")),
                "{place} in:\n{text}"
            );
            assert!(mail.html().contains(place), "{place} in the HTML part");
        }
    }
    lk.stop().await;
}
