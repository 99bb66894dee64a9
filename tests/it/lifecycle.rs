//! The whole life of an installation, with the real binary: first start, setup link,
//! data on disk, an admin made by the CLI while the server runs, graceful stop, and a
//! second start on the same data.

use crate::support::{
    Spawned, drop_postgres_schema, free_port, latchkey, new_postgres_schema, run, stderr, stdout,
};

async fn first_start_then_restart(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(&str, &str)> = database_url
        .map(|u| ("LATCHKEY_DATABASE_URL", u))
        .into_iter()
        .collect();
    // The default data dir, `./data` under the working directory.
    let command = || {
        let mut cmd = latchkey(dir.path(), &env);
        cmd.env_remove("LATCHKEY_DATA_DIR");
        cmd
    };

    let port = free_port();
    let server = Spawned::start(command(), port).await;
    let log = server.log_containing("/setup?token=").await;
    let setup_line = log
        .lines()
        .find(|l| l.contains("/setup?token="))
        .unwrap_or_else(|| panic!("setup link in {log}"));
    assert!(
        setup_line.contains("http://localhost:1411/setup?token="),
        "{setup_line}"
    );
    let key_file = dir.path().join("data/encryption.key");
    let key = std::fs::read(&key_file).expect("the generated key is in ./data");
    assert_eq!(
        database_url.is_none(),
        dir.path().join("data/latchkey.db").exists()
    );

    // The CLI works on the same database while the server runs.
    let out = run(command().args([
        "users",
        "create",
        "--username",
        "owner",
        "--email",
        "owner@example.org",
        "--admin",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));

    let (status, log) = server.terminate();
    assert!(status.success(), "SIGTERM is a clean exit: {status}\n{log}");
    assert!(log.contains("Latchkey has stopped"), "{log}");

    let server = Spawned::start(command(), port).await;
    assert_eq!(
        std::fs::read(&key_file).unwrap(),
        key,
        "the same key is reused"
    );
    let out = run(command().args(["users", "list"]));
    assert!(stdout(&out).contains("\"owner\""));
    let (status, log) = server.terminate();
    assert!(status.success());
    assert!(log.contains("Latchkey is serving"), "{log}");
    assert!(
        !log.contains("/setup?token="),
        "no setup link once an admin exists: {log}"
    );
}

#[tokio::test]
async fn sqlite_installation_lifecycle() {
    first_start_then_restart(None).await;
}

#[tokio::test]
async fn postgres_installation_lifecycle() {
    let (url, schema) = new_postgres_schema().await;
    first_start_then_restart(Some(&url)).await;
    drop_postgres_schema(&schema).await;
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let server = Spawned::start(
        latchkey(dir.path(), &[("LATCHKEY_LOG_FORMAT", "json")]),
        free_port(),
    )
    .await;
    let token = "Zk3v9Q0xw2mX8YtR5uLp7aBcDeFgHiJkLmNoPqRsTuV";
    crate::support::http()
        .get(format!("{}/login/code/{token}?code=hunter2", server.base))
        .header("cookie", "latchkey_session=topsecret")
        .send()
        .await
        .unwrap();
    let (_, log) = server.terminate();
    let mut saw_request = false;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if v["message"] == "request" && v["path"] != "/healthz" {
            saw_request = true;
            assert_eq!(v["method"], "GET");
            assert_eq!(v["path"], "/login/code/***");
            assert!(v["latency_ms"].is_string() || v["latency_ms"].is_number());
            assert!(v["request_id"].is_string());
        }
    }
    assert!(saw_request, "{log}");
    for secret in [token, "hunter2", "topsecret"] {
        assert!(!log.contains(secret), "{secret} leaked into the log");
    }
    assert!(log.contains("\"event\":\"setup.pending\""));
}
