//! Floods against the real binary: thousands of half-sent requests, 100 MB bodies, a
//! body that never finishes, and running out of file descriptors. Each time a normal
//! client still gets served, the server's memory stays bounded, and the flood's
//! connections are closed by the server. Timeouts here only say how long a test waits
//! before it gives up; nothing asserts how fast anything was.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::browser::Browser;
use crate::people;
use crate::support::{Spawned, free_port, latchkey};

const APP: &str = "http://localhost:1411";
/// Resident memory the server may reach during a flood (it idles near 15 MB; before the
/// fixes a single picture upload took 605 MB).
const RSS_BOUND_KB: u64 = 200 * 1024;
/// How long a test waits for something before it gives up.
const GIVE_UP: Duration = Duration::from_secs(60);

/// Let this process hold `n` sockets (the usual soft limit is 1024).
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not on every Unix
fn raise_fd_limit(n: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if (limit.rlim_cur as u64) < n {
            limit.rlim_cur = n.min(limit.rlim_max as u64) as libc::rlim_t;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
    }
    assert!(
        limit.rlim_cur as u64 >= n,
        "this test needs {n} open files; the hard limit is {}",
        limit.rlim_max
    );
}

/// The peak resident memory of a process, in kB.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in {status}"))
}

/// A user with `people::PASSWORD`, written to the database before the server starts.
async fn user_with_password(dir: &Path, username: &str) {
    let url = latchkey::config::DatabaseUrl::Sqlite(dir.join("data/latchkey.db"));
    let store = latchkey::store::Store::open(&url).await.unwrap();
    let user = store
        .create_user(&people::named(username).validate().unwrap())
        .await
        .unwrap();
    let hash = latchkey::auth::password::PasswordHasherPool::new()
        .hash(people::PASSWORD.into())
        .await;
    store
        .set_password_hash(&user.id, Some(&hash))
        .await
        .unwrap();
    store.close().await;
}

/// The real binary with `env`, and a user `ada` who signs in with a password.
async fn server(dir: &Path, env: &[(&str, &str)], open_files: Option<u64>) -> (Spawned, u16) {
    user_with_password(dir, "ada").await;
    let mut cmd = latchkey(dir, env);
    if let Some(n) = open_files {
        use std::os::unix::process::CommandExt;
        // SAFETY: only setrlimit, which is async-signal-safe, runs in the child.
        unsafe {
            cmd.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: n as libc::rlim_t,
                    rlim_max: n as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    let port = free_port();
    (Spawned::start(cmd, port).await, port)
}

/// A normal visit from `from`: the health check and a password sign-in.
async fn normal_client_signs_in(port: u16, from: IpAddr) {
    let base = format!("http://127.0.0.1:{port}");
    let b = Browser::from_address(&base, APP, from);
    let health = tokio::time::timeout(GIVE_UP, b.get("/healthz"))
        .await
        .expect("gave up waiting for /healthz");
    assert_eq!(health.status, 200, "{}", health.body);
    tokio::time::timeout(GIVE_UP, people::sign_in(&b, "ada"))
        .await
        .expect("gave up waiting for the sign-in");
    let account = b.get("/account").await;
    assert_eq!(account.status, 200, "signed in");
}

/// How a flood connection ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The server answered this status, then closed.
    Answered(u16),
    /// The server closed (or reset) the connection without an answer.
    Closed,
}

/// Read until the server closes `stream`; fails the test if it stays open.
async fn wait_until_closed(mut stream: impl AsyncReadExt + Unpin) -> Ended {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(GIVE_UP, read_all)
        .await
        .expect("the server left a flood connection open");
    let text = String::from_utf8_lossy(&got);
    match text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
    {
        Some(status) => Ended::Answered(status),
        None => Ended::Closed,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_slow_connections_do_not_keep_another_client_out() {
    const FLOOD: usize = 2000;
    raise_fd_limit(FLOOD as u64 + 512);
    let dir = tempfile::tempdir().unwrap();
    // The defaults: 64 connections per address, a 10 s header timeout.
    let (server, port) = server(dir.path(), &[], None).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    // Each sends the start of a request and then nothing.
    let mut flood = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        let mut stream = tokio::time::timeout(GIVE_UP, TcpStream::connect(addr))
            .await
            .expect("gave up connecting")
            .unwrap();
        // A refused connection may already be closed: then the write fails, which is fine.
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            .await;
        flood.push(stream);
    }

    // Meanwhile another client (another address) is served as usual.
    normal_client_signs_in(port, "127.0.0.2".parse().unwrap()).await;

    // The server closes every flood connection: most at once (the per-address cap,
    // answered 503), the few it took when their headers do not come in time.
    let mut refused = 0;
    let mut timed_out = 0;
    let ends = futures_join_all(flood.into_iter().map(wait_until_closed)).await;
    for end in ends {
        match end {
            Ended::Answered(503) => refused += 1,
            Ended::Closed => timed_out += 1,
            other => panic!("a flood connection ended with {other:?}"),
        }
    }
    let rss = peak_rss_kb(server.pid());
    eprintln!(
        "{refused} refused at once, {timed_out} closed by the header timeout, peak RSS {rss} kB"
    );
    assert!(
        refused >= FLOOD / 2,
        "the per-address cap refused {refused} of {FLOOD}"
    );
    assert!(timed_out >= 1, "the header timeout closed the rest");
    assert!(
        refused + timed_out == FLOOD,
        "{refused} + {timed_out} != {FLOOD}"
    );
    assert!(rss < RSS_BOUND_KB, "peak RSS {rss} kB");
    // And the address that flooded is served again once its connections are gone.
    normal_client_signs_in(port, "127.0.0.1".parse().unwrap()).await;
    let log = server.log();
    assert!(
        log.contains("refusing connections: too many open"),
        "refusals are logged: {log}"
    );
    assert!(
        log.matches("refusing connections").count() <= 2,
        "in summary, not one line per connection: {log}"
    );
}

/// Send a request with a 100 MB body to `path` on one connection, reading the answer
/// as it goes: how the connection ended, and how much of the body the server took.
async fn hundred_megabyte_body(
    addr: SocketAddr,
    path: &str,
    content_type: &str,
    chunked: bool,
) -> (Ended, usize) {
    const TOTAL: usize = 100 * 1024 * 1024;
    let stream = TcpStream::connect(addr).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    let answer = tokio::spawn(wait_until_closed(reader));
    let length = if chunked {
        "transfer-encoding: chunked".to_string()
    } else {
        format!("content-length: {TOTAL}")
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: localhost:1411\r\norigin: {APP}\r\n\
         content-type: {content_type}\r\n{length}\r\n\r\n"
    );
    let mut sent = 0;
    if writer.write_all(head.as_bytes()).await.is_ok() {
        let chunk = vec![b'a'; 1024 * 1024];
        while sent < TOTAL {
            let written = if chunked {
                let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                framed.extend_from_slice(&chunk);
                framed.extend_from_slice(b"\r\n");
                writer.write_all(&framed).await
            } else {
                writer.write_all(&chunk).await
            };
            if written.is_err() {
                break;
            }
            sent += chunk.len();
        }
    }
    let ended = answer.await.unwrap();
    (ended, sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_megabyte_bodies_are_refused_without_being_read() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port) = server(dir.path(), &[], None).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let form = "application/x-www-form-urlencoded";
    let json = "application/json";
    let floods = [
        ("/login/password", form, false),
        ("/login/password", form, true),
        ("/api/v1/users", json, false),
        ("/api/v1/users", json, true),
    ];
    let running: Vec<_> = floods
        .iter()
        .map(|&(path, ctype, chunked)| {
            tokio::spawn(hundred_megabyte_body(addr, path, ctype, chunked))
        })
        .collect();
    normal_client_signs_in(port, "127.0.0.1".parse().unwrap()).await;
    for ((path, _, chunked), flood) in floods.iter().zip(running) {
        let (ended, sent) = tokio::time::timeout(GIVE_UP, flood)
            .await
            .expect("gave up waiting for a 100 MB flood")
            .unwrap();
        assert!(
            sent < 100 * 1024 * 1024,
            "{path} (chunked: {chunked}) read the whole 100 MB body"
        );
        match ended {
            Ended::Answered(status) => assert!(
                (400..500).contains(&status),
                "{path} (chunked: {chunked}) answered {status}"
            ),
            // A reset can overtake the answer; the server closed the connection either way.
            Ended::Closed => {}
        }
    }
    let rss = peak_rss_kb(server.pid());
    eprintln!("peak RSS {rss} kB after four 100 MB bodies");
    assert!(rss < RSS_BOUND_KB, "peak RSS {rss} kB");
    normal_client_signs_in(port, "127.0.0.1".parse().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_finishes_is_answered_408_and_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = server(dir.path(), &[("LATCHKEY_REQUEST_TIMEOUT", "2s")], None).await;
    let mut stream = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .unwrap();
    stream
        .write_all(
            b"POST /login/password HTTP/1.1\r\nhost: localhost:1411\r\n\
              content-type: application/x-www-form-urlencoded\r\ncontent-length: 1000\r\n\r\nlogin=ada",
        )
        .await
        .unwrap();
    assert_eq!(wait_until_closed(stream).await, Ended::Answered(408));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_file_descriptors_is_logged_once_and_survived() {
    let dir = tempfile::tempdir().unwrap();
    // Few files for the server, no connection cap below that, and connections held
    // for the whole test.
    let (server, port) = server(
        dir.path(),
        &[
            ("LATCHKEY_MAX_CONNECTIONS_PER_ADDRESS", "1000"),
            ("LATCHKEY_MAX_CONNECTIONS", "1000"),
            ("LATCHKEY_HEADER_READ_TIMEOUT", "10m"),
        ],
        Some(96),
    )
    .await;
    server.log_containing("open-file limit").await;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut flood = Vec::new();
    for _ in 0..150 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        flood.push(stream);
    }
    server.log_containing("cannot accept connections").await;
    drop(flood);
    // Once the flood is gone, the server serves again.
    normal_client_signs_in(port, "127.0.0.1".parse().unwrap()).await;
    let log = server.log_containing("accepting connections again").await;
    assert_eq!(
        log.matches("cannot accept connections").count(),
        1,
        "said once, not for every failed accept: {log}"
    );
}

/// Await every future, in order (without a `futures` dependency).
async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
