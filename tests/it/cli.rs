//! The command line, run as the real binary on the same configuration as the server.

use crate::support::{
    TestServer, drop_postgres_schema, free_port, latchkey, new_postgres_schema, run, stderr, stdout,
};

#[test]
fn version_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(latchkey(dir.path(), &[]).arg("--version"));
    assert!(out.status.success());
    assert_eq!(
        stdout(&out).trim(),
        format!("latchkey {}", env!("CARGO_PKG_VERSION"))
    );
    let out = run(latchkey(dir.path(), &[]).arg("--help"));
    let help = stdout(&out);
    for command in [
        "serve",
        "migrate",
        "users",
        "clients",
        "keys",
        "login-link",
        "healthcheck",
        "backup",
        "config",
    ] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(command)),
            "--help lists {command}: {help}"
        );
    }
    let out = run(latchkey(dir.path(), &[]).args(["users", "--help"]));
    assert!(stdout(&out).contains("create") && stdout(&out).contains("list"));
}

#[test]
fn users_create_and_list_print_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(latchkey(dir.path(), &[]).args([
        "users",
        "create",
        "--username",
        "Ada",
        "--email",
        "ada@example.org",
        "--first-name",
        "Ada",
        "--last-name",
        "Lovelace",
        "--admin",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let user: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON on stdout");
    assert_eq!(user["username"], "ada");
    assert_eq!(user["email"], "ada@example.org");
    assert_eq!(user["display_name"], "Ada Lovelace");
    assert_eq!(user["is_admin"], true);
    assert!(user["id"].as_str().unwrap().len() == 36);

    run(latchkey(dir.path(), &[]).args([
        "users",
        "create",
        "--username",
        "bob",
        "--email",
        "bob@example.org",
    ]));
    let out = run(latchkey(dir.path(), &[]).args(["users", "list"]));
    let users: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        users
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["ada", "bob"]
    );
    assert_eq!(users[0]["id"], user["id"]);
}

#[test]
fn users_create_refuses_bad_input_and_duplicates_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let create = |args: &[&str]| {
        let mut cmd = latchkey(dir.path(), &[]);
        cmd.args(["users", "create"]).args(args);
        run(&mut cmd)
    };
    assert!(
        create(&["--username", "ada", "--email", "ada@example.org"])
            .status
            .success()
    );

    let dup = create(&["--username", "ADA", "--email", "other@example.org"]);
    assert_eq!(dup.status.code(), Some(1));
    assert_eq!(
        stderr(&dup).trim(),
        "error: a user with this username already exists"
    );
    let dup = create(&["--username", "ada2", "--email", "Ada@Example.org"]);
    assert_eq!(
        stderr(&dup).trim(),
        "error: a user with this email address already exists"
    );
    let bad = create(&["--username", "no spaces", "--email", "x@example.org"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).starts_with("error: username: "),
        "{}",
        stderr(&bad)
    );
    let bad = create(&["--username", "carol", "--email", "not-an-email"]);
    assert!(
        stderr(&bad).starts_with("error: email: "),
        "{}",
        stderr(&bad)
    );
    let missing = create(&["--username", "dave"]);
    assert_eq!(
        missing.status.code(),
        Some(2),
        "clap refuses a missing --email"
    );

    let out = run(latchkey(dir.path(), &[]).args(["users", "list"]));
    let users: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(users.len(), 1, "nothing half-written");
}

#[test]
fn migrate_reports_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(latchkey(dir.path(), &[]).arg("migrate"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("is up to date"), "{}", stdout(&out));
    assert!(dir.path().join("data/latchkey.db").exists());
    let again = run(latchkey(dir.path(), &[]).arg("migrate"));
    assert_eq!(
        stdout(&again),
        stdout(&out),
        "running it twice changes nothing"
    );
}

#[tokio::test]
async fn backup_makes_a_usable_copy() {
    let dir = tempfile::tempdir().unwrap();
    run(latchkey(dir.path(), &[]).args([
        "users",
        "create",
        "--username",
        "ada",
        "--email",
        "ada@example.org",
    ]));
    let copy = dir.path().join("backup.db");
    let out = run(latchkey(dir.path(), &[])
        .args(["backup", "--to"])
        .arg(&copy));
    assert!(out.status.success(), "{}", stderr(&out));
    let store = latchkey::store::Store::open(&latchkey::config::DatabaseUrl::Sqlite(copy.clone()))
        .await
        .unwrap();
    assert_eq!(
        store
            .user_by_login("ada")
            .await
            .unwrap()
            .unwrap()
            .email
            .as_deref(),
        Some("ada@example.org")
    );
    store.close().await;

    let again = run(latchkey(dir.path(), &[])
        .args(["backup", "--to"])
        .arg(&copy));
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already exists"),
        "never overwrites: {}",
        stderr(&again)
    );
}

#[tokio::test]
async fn backup_on_postgres_points_to_pg_dump() {
    let (url, schema) = new_postgres_schema().await;
    let dir = tempfile::tempdir().unwrap();
    let out =
        run(latchkey(dir.path(), &[("LATCHKEY_DATABASE_URL", &url)])
            .args(["backup", "--to", "x.db"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("pg_dump"), "{}", stderr(&out));
    drop_postgres_schema(&schema).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn healthcheck_exit_status_follows_the_server() {
    let server = TestServer::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let out =
        run(latchkey(dir.path(), &[]).args(["healthcheck", "--url", &server.url("/healthz")]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Derived from LATCHKEY_LISTEN when no URL is given.
    let port = server.running().addr.port().to_string();
    let out = run(latchkey(
        dir.path(),
        &[("LATCHKEY_LISTEN", &format!("0.0.0.0:{port}"))],
    )
    .arg("healthcheck"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    server.running().state.store.close().await;
    let out =
        run(latchkey(dir.path(), &[]).args(["healthcheck", "--url", &server.url("/healthz")]));
    assert_eq!(out.status.code(), Some(1), "503 is unhealthy");
    server.stop().await;
    let url = format!("http://127.0.0.1:{}/healthz", free_port());
    let out = run(latchkey(dir.path(), &[]).args(["healthcheck", "--url", &url]));
    assert_eq!(out.status.code(), Some(1), "nobody listening is unhealthy");
}

#[test]
fn config_lists_settings_and_hides_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(latchkey(
        dir.path(),
        &[
            ("LATCHKEY_APP_URL", "https://sso.example.org"),
            (
                "LATCHKEY_ENCRYPTION_KEY",
                "a-very-secret-value-that-is-long-enough",
            ),
        ],
    )
    .arg("config"));
    let text = stdout(&out);
    assert!(
        text.contains("LATCHKEY_APP_URL")
            && text.contains("https://sso.example.org")
            && text.contains("Env")
    );
    assert!(
        text.contains("LATCHKEY_LISTEN")
            && text.contains("0.0.0.0:1411")
            && text.contains("Default")
    );
    assert!(!text.contains("a-very-secret-value"), "{text}");
    assert!(text.contains("(set, hidden)"));
}

#[test]
fn clients_and_keys_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(latchkey(dir.path(), &[]).args([
        "clients",
        "create",
        "--name",
        "Immich",
        "--redirect-uri",
        "https://photos.example/auth/login",
        "--redirect-uri",
        "app.immich:///oauth-callback",
        "--signing-alg",
        "ES256",
        "--skip-consent",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let client: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let id = client["client_id"].as_str().unwrap().to_string();
    assert_eq!(client["client_secret"].as_str().unwrap().len(), 43);
    assert_eq!(client["signing_alg"], "ES256");
    assert!(
        client.get("secret_hash").is_none(),
        "the hash is never printed"
    );
    let public = run(latchkey(dir.path(), &[]).args([
        "clients",
        "create",
        "--name",
        "SPA",
        "--redirect-uri",
        "http://127.0.0.1/cb",
        "--public",
    ]));
    let public: serde_json::Value = serde_json::from_str(&stdout(&public)).unwrap();
    assert!(public["client_secret"].is_null());

    let bad = run(latchkey(dir.path(), &[]).args([
        "clients",
        "create",
        "--name",
        "X",
        "--redirect-uri",
        "javascript:alert(1)",
    ]));
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("redirect_uri"), "{}", stderr(&bad));
    let bad = run(latchkey(dir.path(), &[]).args([
        "clients",
        "create",
        "--name",
        "X",
        "--redirect-uri",
        "https://x/cb",
        "--allowed-group",
        "ghosts",
    ]));
    assert!(stderr(&bad).contains("no group named `ghosts`"));

    let list: Vec<serde_json::Value> =
        serde_json::from_str(&stdout(&run(
            latchkey(dir.path(), &[]).args(["clients", "list"])
        )))
        .unwrap();
    assert_eq!(list.len(), 2);
    let rotated = run(latchkey(dir.path(), &[]).args(["clients", "rotate-secret", &id]));
    let rotated: serde_json::Value = serde_json::from_str(&stdout(&rotated)).unwrap();
    assert_ne!(rotated["client_secret"], client["client_secret"]);
    assert!(
        run(latchkey(dir.path(), &[]).args(["clients", "delete", &id]))
            .status
            .success()
    );
    assert_eq!(
        run(latchkey(dir.path(), &[]).args(["clients", "show", &id]))
            .status
            .code(),
        Some(1)
    );

    // Keys are made on first server start or, as here, on the first rotation.
    let out = run(latchkey(dir.path(), &[]).args(["keys", "rotate", "--alg", "EdDSA"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(latchkey(dir.path(), &[]).args(["keys", "rotate", "--alg", "EdDSA"]));
    let rotation: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(rotation[0]["retired"].is_string());
    let keys: Vec<serde_json::Value> =
        serde_json::from_str(&stdout(&run(
            latchkey(dir.path(), &[]).args(["keys", "list"])
        )))
        .unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys.iter().filter(|k| k["active"] == true).count(), 1);
    assert!(
        keys.iter().any(|k| k["published_until"].is_i64()),
        "the retired key stays published for a while"
    );
    assert_eq!(
        run(latchkey(dir.path(), &[]).args(["keys", "rotate", "--alg", "HS256"]))
            .status
            .code(),
        Some(1)
    );
}
