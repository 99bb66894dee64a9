//! Crash safety: the real binary, busy with concurrent sign-ins, code redemptions,
//! refresh rotations and user creations, is killed with SIGKILL at a random moment,
//! twenty times over. After each restart every answer a client got a success for
//! still holds: sessions and access tokens work, each refresh token last handed out
//! works exactly once, created users exist; SQLite's `integrity_check` is ok. The same
//! on PostgreSQL. (A request cut off by the kill promised nothing; its token may or
//! may not have been used, but it never breaks what was acknowledged.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Connection;

use crate::browser::Browser;
use crate::oidc::{CHALLENGE, VERIFIER};
use crate::support::{
    Spawned, drop_postgres_schema, free_port, http, latchkey, new_postgres_schema, run, stderr,
    stdout,
};

const APP: &str = "http://localhost:1411";
const CB: &str = "http://app.test/callback";
const ROUNDS: usize = 20;
const SIGNERS: usize = 3;

/// One installation on disk, restarted again and again.
struct Install {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    port: u16,
    api_key: String,
    client_id: String,
    client_secret: String,
}

impl Install {
    fn command(&self) -> std::process::Command {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        latchkey(self.dir.path(), &env)
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = run(self.command().args(args));
        assert!(out.status.success(), "latchkey {args:?}: {}", stderr(&out));
        stdout(&out)
    }

    fn base(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    async fn start(&self) -> Spawned {
        Spawned::start(self.command(), self.port).await
    }
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

async fn install(database_url: Option<&str>) -> Install {
    let dir = tempfile::tempdir().unwrap();
    let mut env = vec![("LATCHKEY_APP_URL".to_string(), APP.to_string())];
    if let Some(url) = database_url {
        env.push(("LATCHKEY_DATABASE_URL".into(), url.into()));
    }
    let mut install = Install {
        dir,
        env,
        port: free_port(),
        api_key: String::new(),
        client_id: String::new(),
        client_secret: String::new(),
    };
    install.cli(&[
        "users",
        "create",
        "--username",
        "owner",
        "--email",
        "owner@example.org",
        "--admin",
    ]);
    let key = json_of(&install.cli(&[
        "api-keys",
        "create",
        "--user",
        "owner",
        "--name",
        "crash",
        "--expires-in",
        "1d",
    ]));
    install.api_key = key["key"].as_str().expect("the key").to_string();
    let client = json_of(&install.cli(&[
        "clients",
        "create",
        "--name",
        "App",
        "--redirect-uri",
        CB,
        "--skip-consent",
        "--always-refresh",
    ]));
    install.client_id = client["client_id"].as_str().unwrap().to_string();
    install.client_secret = client["client_secret"].as_str().unwrap().to_string();
    install
}

/// What the server acknowledged during one round.
#[derive(Default)]
struct Acks {
    sessions: Vec<String>,
    access_tokens: Vec<String>,
    /// Per sign-in: the refresh token last handed out, and whether a rotation of it
    /// was sent and not answered when the server died.
    chains: Vec<(Option<String>, bool)>,
    users: Vec<String>,
}

type Shared = Arc<Mutex<Acks>>;

/// A request the server did not answer (it was killed): the worker stops.
struct Cut;

impl From<reqwest::Error> for Cut {
    fn from(_: reqwest::Error) -> Cut {
        Cut
    }
}

async fn token_request(install: &Install, form: &[(&str, &str)]) -> Result<(u16, Value), Cut> {
    let res = http()
        .post(format!("{}/token", install.base()))
        .basic_auth(&install.client_id, Some(&install.client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await?;
    let status = res.status().as_u16();
    let body = res.bytes().await?;
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// Sign in with a login link, get a code, redeem it, then rotate the refresh token
/// until the server dies.
async fn sign_in_and_rotate(install: &Install, acks: &Shared, link: &str) -> Result<(), Cut> {
    let b = Browser::new(&install.base(), APP);
    b.try_get(link).await?;
    let csrf = b.csrf();
    let res = b.try_post(link, &[("csrf", &csrf)]).await?;
    assert_eq!(res.status, 303, "the link signs in: {}", res.body);
    let session = b.cookie("latchkey_session").expect("a session cookie");
    acks.lock().unwrap().sessions.push(session);

    let authorize = format!(
        "/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid%20email&code_challenge={CHALLENGE}&code_challenge_method=S256",
        install.client_id,
        url::form_urlencoded::byte_serialize(CB.as_bytes()).collect::<String>()
    );
    let res = b.try_get(&authorize).await?;
    let location = res
        .location
        .unwrap_or_else(|| panic!("a redirect: {}", res.body));
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("a code in {location}"));
    let (status, body) = token_request(
        install,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ],
    )
    .await?;
    assert_eq!(status, 200, "the code is redeemed: {body}");
    let chain = {
        let mut acks = acks.lock().unwrap();
        acks.access_tokens
            .push(body["access_token"].as_str().unwrap().to_string());
        acks.chains.push((
            Some(body["refresh_token"].as_str().unwrap().to_string()),
            false,
        ));
        acks.chains.len() - 1
    };
    loop {
        let current = {
            let mut acks = acks.lock().unwrap();
            acks.chains[chain].1 = true;
            acks.chains[chain].0.clone().unwrap()
        };
        let (status, body) = token_request(
            install,
            &[("grant_type", "refresh_token"), ("refresh_token", &current)],
        )
        .await?;
        assert_eq!(status, 200, "the refresh token rotates: {body}");
        let mut acks = acks.lock().unwrap();
        acks.access_tokens
            .push(body["access_token"].as_str().unwrap().to_string());
        acks.chains[chain] = (
            Some(body["refresh_token"].as_str().unwrap().to_string()),
            false,
        );
    }
}

async fn create_users(install: &Install, acks: &Shared, round: usize) -> Result<(), Cut> {
    for i in 0.. {
        let name = format!("r{round}u{i}");
        let res = http()
            .post(format!("{}/api/v1/users", install.base()))
            .bearer_auth(&install.api_key)
            .json(&json!({"username": name, "email": format!("{name}@example.org"), "email_verified": true}))
            .send()
            .await?;
        let status = res.status().as_u16();
        let body: Value = serde_json::from_slice(&res.bytes().await?).unwrap_or(Value::Null);
        assert_eq!(status, 201, "{name} is created: {body}");
        acks.lock()
            .unwrap()
            .users
            .push(body["id"].as_str().unwrap().to_string());
    }
    Ok(())
}

/// Everything acknowledged in a round, checked against the restarted server.
async fn check(install: &Install, acks: &Acks) {
    for session in &acks.sessions {
        let b = Browser::new(&install.base(), APP);
        b.set_cookie("latchkey_session", session);
        assert_eq!(
            b.get("/account").await.status,
            200,
            "an acknowledged session holds"
        );
    }
    for access in &acks.access_tokens {
        let res = http()
            .get(format!("{}/userinfo", install.base()))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "an acknowledged access token holds");
    }
    for (refresh, cut_off) in &acks.chains {
        let Some(refresh) = refresh else { continue };
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ];
        let (first, body) = token_request(install, &form).await.ok().unwrap();
        if *cut_off {
            // Its rotation may have committed before the kill: used, or still good.
            assert!(first == 200 || first == 400, "{first}: {body}");
            if first == 400 {
                assert_eq!(body["error"], "invalid_grant");
            }
            continue;
        }
        assert_eq!(
            first, 200,
            "the last refresh token handed out works: {body}"
        );
        let (again, body) = token_request(install, &form).await.ok().unwrap();
        assert_eq!(again, 400, "and only once: {body}");
        assert_eq!(body["error"], "invalid_grant");
    }
    for id in &acks.users {
        let res = http()
            .get(format!("{}/api/v1/users/{id}", install.base()))
            .bearer_auth(&install.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "an acknowledged user exists");
    }
}

async fn sqlite_is_intact(install: &Install) {
    let path = install.dir.path().join("data/latchkey.db");
    let url = format!("sqlite://{}", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let verdict: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(verdict, "ok");
    conn.close().await.unwrap();
}

/// A small generator for the kill moments; the seed is printed to replay a failure.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

async fn killed_again_and_again(database_url: Option<&str>) {
    let install = Arc::new(install(database_url).await);
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed: {seed}");
    // The people who sign in, verified so that the client admits them.
    let server = install.start().await;
    for i in 0..SIGNERS {
        let name = format!("signer{i}");
        let res = http()
            .post(format!("{}/api/v1/users", install.base()))
            .bearer_auth(&install.api_key)
            .json(&json!({"username": name, "email": format!("{name}@example.org"), "email_verified": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    server.kill_hard();

    let mut acknowledged_users = Vec::new();
    for round in 0..ROUNDS {
        let links: Vec<String> = (0..SIGNERS)
            .map(|i| {
                let out = install.cli(&["login-link", &format!("signer{i}")]);
                let url = out.lines().last().unwrap().to_string();
                url.strip_prefix(APP).unwrap().to_string()
            })
            .collect();
        let server = install.start().await;
        let acks: Shared = Arc::default();
        let mut workers = tokio::task::JoinSet::new();
        for link in links {
            let (install, acks) = (install.clone(), acks.clone());
            workers.spawn(async move {
                let _ = sign_in_and_rotate(&install, &acks, &link).await;
            });
        }
        {
            let (install, acks) = (install.clone(), acks.clone());
            workers.spawn(async move {
                let _ = create_users(&install, &acks, round).await;
            });
        }
        let delay = 150 + next(&mut seed) % 1500;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let log = server.kill_hard();
        while let Some(done) = workers.join_next().await {
            if let Err(e) = done {
                panic!("round {round}: a client saw something wrong: {e}\n{log}");
            }
        }
        if database_url.is_none() {
            sqlite_is_intact(&install).await;
        }
        let server = install.start().await;
        let acks = std::mem::take(&mut *acks.lock().unwrap());
        eprintln!(
            "round {round}: killed after {delay} ms; {} sessions, {} access tokens, {} refresh chains, {} users acknowledged",
            acks.sessions.len(),
            acks.access_tokens.len(),
            acks.chains.len(),
            acks.users.len()
        );
        check(&install, &acks).await;
        acknowledged_users.extend(acks.users);
        server.kill_hard();
    }
    assert!(
        acknowledged_users.len() >= ROUNDS,
        "the rounds did work before each kill: {}",
        acknowledged_users.len()
    );
    // Nothing acknowledged in an earlier round went missing in a later one.
    let server = install.start().await;
    check(
        &install,
        &Acks {
            users: acknowledged_users,
            ..Acks::default()
        },
    )
    .await;
    server.kill_hard();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_every_acknowledged_answer_across_kill_9() {
    killed_again_and_again(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_every_acknowledged_answer_across_kill_9() {
    let (url, schema) = new_postgres_schema().await;
    killed_again_and_again(Some(&url)).await;
    drop_postgres_schema(&schema).await;
}
