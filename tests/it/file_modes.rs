//! The database, its write-ahead log and backups hold password hashes and personal
//! data: only Latchkey's user may read them, whatever the umask, on a new installation
//! and on one an older version left readable.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::{Spawned, free_port, latchkey, run, stderr};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn create_user(dir: &Path, username: &str) {
    let out = run(latchkey(dir, &[]).args([
        "users",
        "create",
        "--username",
        username,
        "--email",
        &format!("{username}@example.org"),
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test]
async fn a_new_installation_and_its_backups_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Spawned::start(latchkey(dir.path(), &[]), free_port()).await;
    // A write while the server runs: the -wal and -shm files are open now.
    create_user(dir.path(), "ada");
    assert_eq!(mode(&data), 0o700, "data dir");
    for file in [
        "latchkey.db",
        "latchkey.db-wal",
        "latchkey.db-shm",
        "encryption.key",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }

    let copy = dir.path().join("backup.db");
    let out = run(latchkey(dir.path(), &[])
        .args(["backup", "--to"])
        .arg(&copy));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode(&copy), 0o600, "backup");
    assert!(std::fs::metadata(&copy).unwrap().len() > 0);
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
    assert!(
        !log.contains("storage.permissions_tightened") && !log.contains("readable by other users"),
        "nothing to tighten on a new installation: {log}"
    );
}

#[tokio::test]
async fn an_installation_left_readable_is_tightened_on_start_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    create_user(dir.path(), "ada");
    // What an older version under umask 022 left behind.
    set_mode(&data, 0o755);
    set_mode(&data.join("latchkey.db"), 0o644);
    std::fs::write(data.join("latchkey.db-wal"), b"").unwrap();
    set_mode(&data.join("latchkey.db-wal"), 0o644);

    let server = Spawned::start(latchkey(dir.path(), &[]), free_port()).await;
    let log = server.log_containing("readable by other users").await;
    assert_eq!(mode(&data), 0o700, "data dir");
    assert_eq!(mode(&data.join("latchkey.db")), 0o600);
    assert_eq!(mode(&data.join("latchkey.db-wal")), 0o600);
    for name in ["latchkey.db ", "latchkey.db-wal ", "data "] {
        assert!(
            log.lines()
                .any(|l| l.contains("readable by other users") && l.contains(name)),
            "a log line for {name}: {log}"
        );
    }
    // The data survived: the CLI still finds the user through the running server's files.
    create_user(dir.path(), "bob");
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
}
