//! bench/ldap's load: `ldap-load --port P --scenario search|bind-search --base DN
//! --bind-dn DN --password PW --users N --connections C --duration S [--threads T]`.
//! search: each connection binds once, then searches `(uid=benchNNNNN)` for a random
//! user, one request at a time; bind-search: each operation opens a connection,
//! binds, searches, unbinds. Prints one JSON line: ops, seconds, rate, errors and the
//! process's own CPU in cores (from /proc/self/stat).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match body.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(body);
    out
}

fn msg(id: u8, op: &[u8]) -> Vec<u8> {
    tlv(0x30, &[tlv(0x02, &[id]), op.to_vec()].concat())
}

fn bind(dn: &str, password: &str) -> Vec<u8> {
    let op = [
        tlv(0x02, &[3]),
        tlv(0x04, dn.as_bytes()),
        tlv(0x80, password.as_bytes()),
    ]
    .concat();
    msg(1, &tlv(0x60, &op))
}

fn search(base: &str, uid: &str) -> Vec<u8> {
    let filter = tlv(
        0xa3,
        &[tlv(0x04, b"uid"), tlv(0x04, uid.as_bytes())].concat(),
    );
    let attrs = tlv(
        0x30,
        &[
            tlv(0x04, b"uid"),
            tlv(0x04, b"cn"),
            tlv(0x04, b"mail"),
            tlv(0x04, b"memberOf"),
        ]
        .concat(),
    );
    let op = [
        tlv(0x04, base.as_bytes()),
        tlv(0x0a, &[2]),
        tlv(0x0a, &[0]),
        tlv(0x02, &[0]),
        tlv(0x02, &[0]),
        tlv(0x01, &[0]),
        filter,
        attrs,
    ]
    .concat();
    msg(2, &tlv(0x63, &op))
}

const UNBIND: [u8; 7] = [0x30, 0x05, 0x02, 0x01, 0x03, 0x42, 0x00];

/// Reads whole messages; returns (op tag, result code) of each, in order.
struct Reader {
    buf: Vec<u8>,
}

impl Reader {
    async fn next(&mut self, s: &mut TcpStream) -> Option<(u8, Option<u8>)> {
        loop {
            if let Some((len, head)) = frame(&self.buf)
                && self.buf.len() >= head + len
            {
                let m = self.buf[head..head + len].to_vec();
                self.buf.drain(..head + len);
                let op_at = 2 + m[1] as usize;
                let tag = m[op_at];
                let code = (tag == 0x61 || tag == 0x65).then(|| {
                    let mut p = op_at + 1;
                    p += if m[p] & 0x80 != 0 {
                        1 + (m[p] & 0x7f) as usize
                    } else {
                        1
                    };
                    m[p + 2]
                });
                return Some((tag, code));
            }
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn frame(buf: &[u8]) -> Option<(usize, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let l = buf[1];
    if l & 0x80 == 0 {
        return Some((l as usize, 2));
    }
    let k = (l & 0x7f) as usize;
    if buf.len() < 2 + k {
        return None;
    }
    let len = buf[2..2 + k]
        .iter()
        .fold(0usize, |a, b| a * 256 + *b as usize);
    Some((len, 2 + k))
}

struct Args {
    port: u16,
    scenario: String,
    base: String,
    bind_dn: String,
    password: String,
    users: u64,
    connections: usize,
    duration: u64,
    threads: usize,
}

fn args() -> Args {
    let mut a = Args {
        port: 0,
        scenario: "search".into(),
        base: String::new(),
        bind_dn: String::new(),
        password: String::new(),
        users: 1000,
        connections: 8,
        duration: 10,
        threads: 1,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    for pair in v.chunks(2) {
        let (k, val) = (pair[0].as_str(), pair.get(1).cloned().unwrap_or_default());
        match k {
            "--port" => a.port = val.parse().expect("port"),
            "--scenario" => a.scenario = val,
            "--base" => a.base = val,
            "--bind-dn" => a.bind_dn = val,
            "--password" => a.password = val,
            "--users" => a.users = val.parse().expect("users"),
            "--connections" => a.connections = val.parse().expect("connections"),
            "--duration" => a.duration = val.parse().expect("duration"),
            "--threads" => a.threads = val.parse().expect("threads"),
            other => panic!("unknown option {other}"),
        }
    }
    a
}

/// A small xorshift: random users without a dependency.
fn next_user(state: &mut u64, users: u64) -> String {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    format!("bench{:05}", 1 + *state % users)
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|u| u.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

async fn one_bind_search(a: &Args, seed: &mut u64) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", a.port)).await else {
        return false;
    };
    let _ = s.set_nodelay(true);
    let mut r = Reader { buf: Vec::new() };
    if s.write_all(&bind(&a.bind_dn, &a.password)).await.is_err() {
        return false;
    }
    if r.next(&mut s).await != Some((0x61, Some(0))) {
        return false;
    }
    if s.write_all(&search(&a.base, &next_user(seed, a.users)))
        .await
        .is_err()
    {
        return false;
    }
    let mut entries = 0;
    let ok = loop {
        match r.next(&mut s).await {
            Some((0x64, _)) => entries += 1,
            Some((0x65, code)) => break code == Some(0) && entries == 1,
            _ => break false,
        }
    };
    let _ = s.write_all(&UNBIND).await;
    ok
}

async fn search_loop(
    a: &Args,
    seed: &mut u64,
    deadline: Instant,
    ops: &AtomicU64,
    errors: &AtomicU64,
) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", a.port)).await else {
        errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let _ = s.set_nodelay(true);
    let mut r = Reader { buf: Vec::new() };
    let _ = s.write_all(&bind(&a.bind_dn, &a.password)).await;
    if r.next(&mut s).await != Some((0x61, Some(0))) {
        errors.fetch_add(1, Ordering::Relaxed);
        return;
    }
    while Instant::now() < deadline {
        if s.write_all(&search(&a.base, &next_user(seed, a.users)))
            .await
            .is_err()
        {
            errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut entries = 0;
        loop {
            match r.next(&mut s).await {
                Some((0x64, _)) => entries += 1,
                Some((0x65, code)) => {
                    if code == Some(0) && entries == 1 {
                        ops.fetch_add(1, Ordering::Relaxed);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    break;
                }
                _ => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    }
    let _ = s.write_all(&UNBIND).await;
}

fn main() {
    let a = Arc::new(args());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.threads)
        .enable_all()
        .build()
        .expect("runtime");
    let ops = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    runtime.block_on(async {
        let deadline = started + Duration::from_secs(a.duration);
        let mut tasks = Vec::new();
        for i in 0..a.connections {
            let (a, ops, errors) = (a.clone(), ops.clone(), errors.clone());
            tasks.push(tokio::spawn(async move {
                let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ ((i as u64 + 1) * 0x1000_0001);
                if a.scenario == "search" {
                    search_loop(&a, &mut seed, deadline, &ops, &errors).await;
                } else {
                    while Instant::now() < deadline {
                        if one_bind_search(&a, &mut seed).await {
                            ops.fetch_add(1, Ordering::Relaxed);
                        } else {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    let ops = ops.load(Ordering::Relaxed);
    let cores = (cpu_seconds() - cpu_before) / seconds;
    println!(
        "{{\"ops\":{ops},\"seconds\":{seconds:.2},\"rate\":{},\"errors\":{},\"clientCores\":{:.2}}}",
        (ops as f64 / seconds).round(),
        errors.load(Ordering::Relaxed),
        cores
    );
}
