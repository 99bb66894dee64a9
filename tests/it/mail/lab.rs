//! A real SMTP server for the email tests: aiosmtpd (from the virtualenv scripts/test
//! makes) with a certificate from a throwaway CA made with openssl, delivering into a
//! Maildir that the tests read with Python's email package. And a Latchkey server that
//! can be stopped and started again on the same data directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use latchkey::config::Config;
use tempfile::TempDir;

use crate::people;
use crate::support::{free_port, test_pki};

/// The Python of the test virtualenv; the tests fail (never pass quietly) without it.
pub fn python() -> PathBuf {
    let Ok(path) = std::env::var("LATCHKEY_TEST_MAIL_PYTHON") else {
        panic!(
            "LATCHKEY_TEST_MAIL_PYTHON is not set: the email tests need the aiosmtpd virtualenv. \
             Run scripts/test, which installs tests/mail/requirements.txt and sets it."
        );
    };
    let path = PathBuf::from(path);
    assert!(
        path.exists(),
        "LATCHKEY_TEST_MAIL_PYTHON={} does not exist: run scripts/test",
        path.display()
    );
    path
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// How the SMTP server secures its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// STARTTLS offered and required before MAIL.
    StartTls,
    /// TLS from the first byte (port-465 style).
    Implicit,
    /// No TLS offered at all.
    Plain,
}

/// A message as received, parts decoded.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Received {
    pub headers: std::collections::BTreeMap<String, String>,
    pub content_type: String,
    pub text: Option<String>,
    pub html: Option<String>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    pub fn text(&self) -> &str {
        self.text.as_deref().expect("a text/plain part")
    }

    pub fn html(&self) -> &str {
        self.html.as_deref().expect("a text/html part")
    }

    /// The first link in the text part that starts with `prefix`.
    pub fn link(&self, prefix: &str) -> String {
        let text = self.text();
        let start = text
            .find(prefix)
            .unwrap_or_else(|| panic!("no link {prefix}… in:\n{text}"));
        text[start..]
            .split(|c: char| c.is_whitespace())
            .next()
            .unwrap()
            .to_string()
    }

    /// The login code (XXXX-XXXX) in the text part.
    pub fn code(&self) -> String {
        self.text()
            .split_whitespace()
            .find(|w| {
                w.len() == 9
                    && w.as_bytes()[4] == b'-'
                    && w.chars()
                        .all(|c| c == '-' || c.is_ascii_uppercase() || c.is_ascii_digit())
            })
            .unwrap_or_else(|| panic!("no code in:\n{}", self.text()))
            .to_string()
    }
}

/// A throwaway CA and a certificate for localhost / 127.0.0.1.
pub struct Pki {
    _dir: TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = test_pki(dir.path());
        Pki {
            _dir: dir,
            ca,
            cert,
            key,
        }
    }
}

/// aiosmtpd delivering into a Maildir.
pub struct SmtpServer {
    child: Option<Child>,
    pub port: u16,
    pub mode: Mode,
    maildir: PathBuf,
    _dir: TempDir,
}

impl SmtpServer {
    pub async fn start(pki: &Pki, mode: Mode) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let mut server = SmtpServer {
            child: None,
            port: free_port(),
            mode,
            maildir: dir.path().join("Maildir"),
            _dir: dir,
        };
        server.run(pki).await;
        server
    }

    /// Start (again) on the same port and Maildir.
    pub async fn run(&mut self, pki: &Pki) {
        assert!(self.child.is_none(), "already running");
        let mut cmd = Command::new(python());
        cmd.args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port));
        match self.mode {
            Mode::StartTls => {
                cmd.arg("--tlscert")
                    .arg(&pki.cert)
                    .arg("--tlskey")
                    .arg(&pki.key);
            }
            Mode::Implicit => {
                cmd.arg("--smtpscert")
                    .arg(&pki.cert)
                    .arg("--smtpskey")
                    .arg(&pki.key);
            }
            Mode::Plain => {}
        }
        cmd.args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&self.maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.log_file())
                    .unwrap(),
            );
        self.child = Some(cmd.spawn().expect("aiosmtpd starts"));
        for _ in 0..400 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("aiosmtpd exited with {status}: {}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("aiosmtpd did not listen on {}", self.port);
    }

    fn log_file(&self) -> PathBuf {
        self.maildir.with_file_name("aiosmtpd.log")
    }

    /// What aiosmtpd wrote to standard error (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<Received> {
        if !self.maildir.join("new").exists() {
            return Vec::new();
        }
        let out = Command::new(python())
            .arg(repo_file("tests/mail/read_maildir.py"))
            .arg(&self.maildir)
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "read_maildir.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Wait (up to a minute) until `n` messages have arrived, and return them.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..600 {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "expected {n} messages, got {:?}",
            self.messages()
                .iter()
                .map(|m| m.headers.get("subject").cloned())
                .collect::<Vec<_>>()
        );
    }

    /// Wait until a message to `to` whose subject contains `subject` arrived.
    pub async fn wait_for_mail(&self, to: &str, subject: &str) -> Received {
        for _ in 0..600 {
            if let Some(m) = self.messages().into_iter().find(|m| {
                m.headers.get("to").is_some_and(|t| t.contains(to))
                    && m.headers
                        .get("subject")
                        .is_some_and(|s| s.contains(subject))
            }) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no message to {to} about {subject:?} arrived");
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Latchkey server (in this process) whose data directory outlives restarts.
pub struct Latchkey {
    pub running: Option<latchkey::app::Running>,
    pub base: String,
    dir: TempDir,
}

/// The SMTP settings for a server at `smtp` (From: sso@example.org).
pub fn smtp_env(smtp: &SmtpServer, ca: Option<&Path>) -> Vec<(String, String)> {
    let security = match smtp.mode {
        Mode::StartTls => "starttls",
        Mode::Implicit => "tls",
        Mode::Plain => "none",
    };
    let mut env = vec![
        ("LATCHKEY_SMTP_HOST".to_string(), "localhost".to_string()),
        ("LATCHKEY_SMTP_PORT".into(), smtp.port.to_string()),
        ("LATCHKEY_SMTP_SECURITY".into(), security.into()),
        ("LATCHKEY_SMTP_FROM".into(), "sso@example.org".into()),
    ];
    if let Some(ca) = ca {
        env.push((
            "LATCHKEY_SMTP_CA_FILE".into(),
            ca.to_str().unwrap().to_string(),
        ));
    }
    env
}

impl Latchkey {
    pub async fn start(env: &[(String, String)]) -> Latchkey {
        let dir = tempfile::tempdir().unwrap();
        let mut lk = Latchkey {
            running: None,
            base: String::new(),
            dir,
        };
        lk.run(env).await;
        lk
    }

    /// Start (again) on the same data directory with these settings.
    pub async fn run(&mut self, env: &[(String, String)]) {
        assert!(self.running.is_none(), "already running");
        let data = self.dir.path().to_str().unwrap().to_string();
        let mut pairs: Vec<(&str, &str)> = vec![
            ("LATCHKEY_LISTEN", "127.0.0.1:0"),
            ("LATCHKEY_DATA_DIR", data.as_str()),
            ("LATCHKEY_APP_URL", APP),
        ];
        pairs.extend(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let config = Config::from_pairs(&pairs).expect("valid test config");
        let running = latchkey::app::start(config, std::future::pending())
            .await
            .expect("server starts");
        self.base = format!("http://localhost:{}", running.addr.port());
        self.running = Some(running);
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }

    pub fn state(&self) -> &latchkey::app::AppState {
        &self.running.as_ref().expect("running").state
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The public URL every test server here believes it is served at.
pub const APP: &str = "http://localhost:1411";
pub use crate::people::{PASSWORD, sign_in};

/// A user `name` with the verified address `name@example.org` and `PASSWORD`.
pub async fn user(lk: &Latchkey, name: &str, admin: bool) -> latchkey::domain::user::User {
    let new = latchkey::domain::user::NewUser {
        email_verified: true,
        first_name: name.into(),
        is_admin: admin,
        ..people::named(name)
    };
    people::with_password(lk.state(), new).await
}
