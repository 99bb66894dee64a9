//! Test helpers: fresh databases on both backends, an in-process server, and the
//! real `latchkey` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use latchkey::config::{Config, DatabaseUrl};
use latchkey::store::Store;
use sqlx::Connection;
use tempfile::TempDir;

/// The PostgreSQL server the tests use: `LATCHKEY_TEST_DATABASE_URL`, else the local one.
pub fn postgres_base_url() -> String {
    std::env::var("LATCHKEY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A fresh, empty database of one backend. PostgreSQL tests each get their own schema.
pub struct TestDb {
    pub store: Store,
    /// Keeps the SQLite file's directory alive as long as the store.
    _dir: Option<TempDir>,
    schema: Option<String>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::Sqlite(dir.path().join("latchkey.db"));
        let store = Store::open(&url).await.expect("open SQLite");
        TestDb {
            store,
            _dir: Some(dir),
            schema: None,
        }
    }

    pub async fn postgres() -> TestDb {
        let (url, schema) = new_postgres_schema().await;
        let url = DatabaseUrl::Postgres(url);
        let store = Store::open(&url).await.expect("open PostgreSQL");
        TestDb {
            store,
            _dir: None,
            schema: Some(schema),
        }
    }

    /// Close the store and drop the PostgreSQL schema.
    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some(schema) = self.schema {
            drop_postgres_schema(&schema).await;
        }
    }
}

/// Make a new schema and return a URL whose connections use it.
pub async fn new_postgres_schema() -> (String, String) {
    let base = postgres_base_url();
    let schema = format!("lk_test_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {base} is not reachable ({e}); set LATCHKEY_TEST_DATABASE_URL")
        });
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    (
        format!("{base}{sep}options=-c%20search_path%3D{schema}"),
        schema,
    )
}

pub async fn drop_postgres_schema(schema: &str) {
    if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_base_url()).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE"
        )))
        .execute(&mut conn)
        .await;
        let _ = conn.close().await;
    }
}

/// Generate two tests, `NAME::sqlite` and `NAME::postgres`, running `async fn NAME(&Store)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let db = $crate::support::TestDb::sqlite().await;
                super::$name(&db.store).await;
                db.cleanup().await;
            }
            #[tokio::test]
            async fn postgres() {
                let db = $crate::support::TestDb::postgres().await;
                super::$name(&db.store).await;
                db.cleanup().await;
            }
        }
    )* };
}

/// A server running in this process on an ephemeral port.
pub struct TestServer {
    pub running: Option<latchkey::app::Running>,
    pub base: String,
    _data_dir: TempDir,
}

impl TestServer {
    /// Start with a temp data dir (SQLite) plus the given settings.
    pub async fn start(extra: &[(&str, &str)]) -> TestServer {
        let data_dir = tempfile::tempdir().unwrap();
        let dir = data_dir.path().to_str().unwrap().to_string();
        let mut pairs = vec![
            ("LATCHKEY_LISTEN", "127.0.0.1:0"),
            ("LATCHKEY_DATA_DIR", dir.as_str()),
        ];
        pairs.extend_from_slice(extra);
        let config = Config::from_pairs(&pairs).expect("valid test config");
        let running = latchkey::app::start(config, std::future::pending())
            .await
            .expect("server starts");
        let base = format!("http://localhost:{}", running.addr.port());
        TestServer {
            running: Some(running),
            base,
            _data_dir: data_dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self._data_dir.path().to_path_buf()
    }

    pub fn running(&self) -> &latchkey::app::Running {
        self.running.as_ref().unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}

/// An HTTP client that does not follow redirects (tests look at them).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `latchkey` binary built for this test run.
pub fn latchkey_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_latchkey"))
}

/// A `latchkey` command with a clean environment: only the given settings apply.
pub fn latchkey(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(latchkey_bin());
    cmd.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("LATCHKEY_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("LATCHKEY_DATA_DIR", dir.join("data"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Run a command to completion and return its output.
/// Run a command to completion, killing it (and failing the test) after a minute, so
/// that a hung command fails one test instead of hanging the whole run.
pub fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> Output {
    use std::process::Stdio;
    let cmd = cmd.borrow_mut();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("latchkey runs");
    // Read both pipes on threads so that a chatty child cannot block on a full pipe.
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut out_pipe, &mut buf).ok();
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut err_pipe, &mut buf).ok();
        buf
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A throwaway CA and a server certificate for `localhost` and `127.0.0.1`, made with
/// the `openssl` command. Returns (CA certificate, server certificate, server key).
pub fn test_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = dir.join("ca.key");
    let ca = dir.join("ca.pem");
    let key = dir.join("server.key");
    let csr = dir.join("server.csr");
    let cert = dir.join("server.pem");
    let ext = dir.join("server.ext");
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let openssl = |args: &[&std::ffi::OsStr]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {:?}: {}",
            args,
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let s = |p: &Path| p.as_os_str().to_owned();
    let a = |t: &str| std::ffi::OsString::from(t);
    openssl(&[
        &a("req"),
        &a("-x509"),
        &a("-newkey"),
        &a("ec"),
        &a("-pkeyopt"),
        &a("ec_paramgen_curve:P-256"),
        &a("-nodes"),
        &a("-days"),
        &a("2"),
        &a("-subj"),
        &a("/CN=Latchkey Test CA"),
        &a("-keyout"),
        &s(&ca_key),
        &a("-out"),
        &s(&ca),
    ]);
    openssl(&[
        &a("req"),
        &a("-new"),
        &a("-newkey"),
        &a("ec"),
        &a("-pkeyopt"),
        &a("ec_paramgen_curve:P-256"),
        &a("-nodes"),
        &a("-subj"),
        &a("/CN=localhost"),
        &a("-keyout"),
        &s(&key),
        &a("-out"),
        &s(&csr),
    ]);
    openssl(&[
        &a("x509"),
        &a("-req"),
        &a("-in"),
        &s(&csr),
        &a("-CA"),
        &s(&ca),
        &a("-CAkey"),
        &s(&ca_key),
        &a("-CAcreateserial"),
        &a("-days"),
        &a("2"),
        &a("-extfile"),
        &s(&ext),
        &a("-out"),
        &s(&cert),
    ]);
    (ca, cert, key)
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `latchkey` server process whose log (standard error) is collected as it runs.
pub struct Spawned {
    child: std::process::Child,
    log: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
    pub base: String,
}

impl Spawned {
    /// Start `cmd` as a server listening on `port`, and wait until `/healthz` is 200.
    pub async fn start(mut cmd: Command, port: u16) -> Spawned {
        cmd.env("LATCHKEY_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("latchkey starts");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = log.clone();
        let mut stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let base = format!("http://localhost:{port}");
        let mut spawned = Spawned {
            child,
            log,
            reader: Some(reader),
            base,
        };
        let client = http();
        for _ in 0..200 {
            if let Ok(res) = client.get(format!("{}/healthz", spawned.base)).send().await
                && res.status() == 200
            {
                return spawned;
            }
            if let Ok(Some(status)) = spawned.child.try_wait() {
                panic!("latchkey exited with {status}: {}", spawned.log());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("latchkey did not become healthy: {}", spawned.log());
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The server's process id (to read its memory use from /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log once it contains `needle` (the reader thread may lag behind the server).
    pub async fn log_containing(&self, needle: &str) -> String {
        for _ in 0..100 {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("`{needle}` never appeared in the log: {}", self.log());
    }

    /// Send SIGTERM and wait for the process to exit.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        // The pipe closes with the process: once the reader ends, the log is complete.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        (status, self.log())
    }
}

impl Spawned {
    /// `kill -9`: no shutdown, no flush, whatever was in flight is cut off.
    pub fn kill_hard(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.log()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Every `<script>` of a page loads a file: CSP `script-src 'self'` forbids inline code,
/// and no `on…=` handler attributes either.
pub fn assert_no_inline_script(html: &str) {
    for (i, _) in html.match_indices("<script") {
        let tag_end = html[i..].find('>').map(|e| i + e).unwrap();
        assert!(
            html[i..tag_end].contains(" src=\"/static/"),
            "inline script: {}",
            &html[i..tag_end]
        );
        assert!(
            html[tag_end..].starts_with("></script>"),
            "script with a body"
        );
    }
    for attr in [
        " onclick=",
        " onload=",
        " onsubmit=",
        " onerror=",
        "javascript:",
    ] {
        assert!(!html.contains(attr), "inline handler {attr}");
    }
}
