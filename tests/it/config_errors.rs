//! A bad setting stops `latchkey` before it serves: one line naming the setting and
//! what is wrong, exit status 2, no panic and no backtrace.

use crate::support::{free_port, latchkey, run, stderr};

/// Run `latchkey` with `env` and check the one-line error.
fn refuses(env: &[(&str, &str)], setting: &str, says: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = run(latchkey(dir.path(), env).env("RUST_BACKTRACE", "1"));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{env:?}: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{env:?}: exactly one line, got {err:?}");
    assert!(
        lines[0].starts_with(&format!("error: {setting}: ")),
        "{env:?}: {err}"
    );
    assert!(lines[0].contains(says), "{env:?}: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

#[test]
fn unparseable_app_url() {
    refuses(
        &[("LATCHKEY_APP_URL", "::not a url::")],
        "LATCHKEY_APP_URL",
        "not a URL",
    );
}

#[test]
fn app_url_with_a_path() {
    refuses(
        &[("LATCHKEY_APP_URL", "https://example.org/sso")],
        "LATCHKEY_APP_URL",
        "must not have a path",
    );
}

#[test]
fn unknown_database_scheme() {
    refuses(
        &[("LATCHKEY_DATABASE_URL", "mysql://db/latchkey")],
        "LATCHKEY_DATABASE_URL",
        "unsupported database scheme `mysql`",
    );
}

#[test]
fn unreachable_database() {
    let port = free_port();
    let url = format!("postgres://latchkey:secretpw@127.0.0.1:{port}/latchkey");
    refuses(
        &[("LATCHKEY_DATABASE_URL", &url)],
        "LATCHKEY_DATABASE_URL",
        "cannot open postgres://latchkey:***@",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = run(latchkey(dir.path(), &[("LATCHKEY_DATABASE_URL", &url)]));
    assert!(
        !stderr(&out).contains("secretpw"),
        "the password is never printed"
    );
}

#[test]
fn unreadable_key_files() {
    refuses(
        &[("LATCHKEY_ENCRYPTION_KEY_FILE", "/nonexistent/latchkey.key")],
        "LATCHKEY_ENCRYPTION_KEY_FILE",
        "cannot read /nonexistent/latchkey.key",
    );
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, _) = crate::support::test_pki(dir.path());
    refuses(
        &[
            ("LATCHKEY_TLS_CERT_FILE", cert.to_str().unwrap()),
            ("LATCHKEY_TLS_KEY_FILE", "/nonexistent/tls.key"),
        ],
        "LATCHKEY_TLS_KEY_FILE",
        "cannot read /nonexistent/tls.key",
    );
    refuses(
        &[("LATCHKEY_TLS_CERT_FILE", cert.to_str().unwrap())],
        "LATCHKEY_TLS_KEY_FILE",
        "must be set",
    );
}

#[test]
fn port_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    refuses(
        &[("LATCHKEY_LISTEN", &addr)],
        "LATCHKEY_LISTEN",
        &format!("cannot listen on {addr}"),
    );
}

#[test]
fn malformed_values() {
    refuses(
        &[("LATCHKEY_LISTEN", "everywhere")],
        "LATCHKEY_LISTEN",
        "not an address",
    );
    refuses(
        &[("LATCHKEY_TRUST_PROXY", "10.0.0.0/8,nonsense")],
        "LATCHKEY_TRUST_PROXY",
        "`nonsense`",
    );
    refuses(
        &[("LATCHKEY_LOG_FORMAT", "xml")],
        "LATCHKEY_LOG_FORMAT",
        "text or json",
    );
    refuses(
        &[("LATCHKEY_ENCRYPTION_KEY", "too-short")],
        "LATCHKEY_ENCRYPTION_KEY",
        "at least 32",
    );
}

#[test]
fn bad_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latchkey.toml");
    std::fs::write(
        &file,
        "app_url = \"https://x.example\"\nlisten = 1411\nsurprise = true\n",
    )
    .unwrap();
    refuses(
        &[("LATCHKEY_CONFIG", file.to_str().unwrap())],
        "LATCHKEY_CONFIG",
        "unknown setting `surprise`",
    );
    std::fs::write(&file, "app_url = \"https://x.example/path\"\n").unwrap();
    refuses(
        &[("LATCHKEY_CONFIG", file.to_str().unwrap())],
        "LATCHKEY_APP_URL",
        "must not have a path",
    );
}

#[test]
fn a_different_encryption_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = "k".repeat(40);
    let out = run(latchkey(dir.path(), &[("LATCHKEY_ENCRYPTION_KEY", &first)]).arg("migrate"));
    assert!(out.status.success(), "{}", stderr(&out));
    // The check value is written by the first server start, so start one briefly.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let spawned = crate::support::Spawned::start(
            latchkey(dir.path(), &[("LATCHKEY_ENCRYPTION_KEY", &first)]),
            free_port(),
        )
        .await;
        spawned.terminate();
    });
    let out = run(latchkey(
        dir.path(),
        &[("LATCHKEY_ENCRYPTION_KEY", &"x".repeat(40))],
    ));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("error: LATCHKEY_ENCRYPTION_KEY: is not the key"),
        "{}",
        stderr(&out)
    );
}
