//! The accept loop: plain HTTP or native HTTPS (rustls), HTTP/1.1 and HTTP/2, held to
//! a header timeout and connection caps (a client sending half requests, or one address
//! opening many, cannot keep others out), and a graceful shutdown that lets in-flight
//! requests finish.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::limits::{ConnectionLimits, Refused};
use crate::config::{Config, ConfigError};

/// Marks a request that arrived over native TLS.
#[derive(Debug, Clone, Copy)]
pub struct TlsConnection;

/// How long in-flight requests get to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Load the certificate chain and key for native HTTPS.
pub fn load_tls(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, ConfigError> {
    let mut config = load_tls_config(
        cert_file,
        key_file,
        ("LATCHKEY_TLS_CERT_FILE", "LATCHKEY_TLS_KEY_FILE"),
    )?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A TLS server configuration from PEM files; errors name `settings` (cert, key).
pub fn load_tls_config(
    cert_file: &Path,
    key_file: &Path,
    settings: (&str, &str),
) -> Result<rustls::ServerConfig, ConfigError> {
    let (cert_setting, key_setting) = settings;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            ConfigError::new(
                cert_setting,
                format!("cannot read {}: {e}", cert_file.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(ConfigError::new(
            cert_setting,
            format!("{} holds no PEM certificate", cert_file.display()),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
        ConfigError::new(
            key_setting,
            format!("cannot read {}: {e}", key_file.display()),
        )
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::new(cert_setting, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ConfigError::new(key_setting, format!("does not fit the certificate: {e}")))
}

/// The limits every connection is held to.
#[derive(Debug, Clone)]
pub struct ServeLimits {
    /// A client gets this long for a request's line and headers (and for the first
    /// request after connecting); an idle keep-alive connection is closed after it.
    pub header_read_timeout: Duration,
    /// How many connections may be open, in total and per address.
    pub connections: Arc<ConnectionLimits>,
}

impl ServeLimits {
    /// The limits the configuration asks for.
    pub fn from_config(config: &Config) -> ServeLimits {
        ServeLimits {
            header_read_timeout: config.header_read_timeout.0,
            connections: ConnectionLimits::new(
                config.max_connections.0,
                config.max_connections_per_address.0,
                config.trust_proxy.clone(),
            ),
        }
    }
}

/// The first pause after an accept failed for lack of file descriptors; it doubles
/// up to `ACCEPT_BACKOFF_MAX` while the shortage lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Refused connections are logged at most this often (with a count), not one by one.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

/// What a refused plain-HTTP client reads before the connection closes.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n\
retry-after: 10\r\nconnection: close\r\ncontent-length: 36\r\n\r\n\
Too many connections; try again soon";

/// Serve `router` on `listener` until `shutdown` resolves, then stop accepting and
/// wait (up to 30 s) for open requests to finish.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
) {
    let (closing, closing_rx) = tokio::sync::watch::channel(false);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let mut accept_trouble = AcceptTrouble::default();
    let mut refusals = Refusals::default();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => {
                    accept_trouble.recovered();
                    pair
                }
                Err(e) => {
                    tokio::time::sleep(accept_trouble.failed(&e)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let slot = match limits.connections.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                if tls.is_none() {
                    // Best effort and never waiting: the socket has room for this.
                    let _ = stream.try_write(REFUSAL);
                }
                refusals.count(why, &limits);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            router: router.clone(),
            builder: builder.clone(),
            peer,
            closing: closing_rx.clone(),
            header_read_timeout: limits.header_read_timeout,
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            connection.run(stream, tls).await;
        });
    }
    drop(listener);
    tracing::info!(
        open_connections = limits.connections.open(),
        "shutting down: no new connections, finishing open requests"
    );
    let _ = closing.send(true);
    let drained = async {
        while limits.connections.open() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    if tokio::time::timeout(DRAIN_TIMEOUT, drained).await.is_err() {
        tracing::warn!(
            "requests still open after {}s; closing them",
            DRAIN_TIMEOUT.as_secs()
        );
    }
}

/// Accept failures: out of file descriptors is said once per shortage, not fifty times
/// a second, and waited out with a growing pause while open connections finish. A
/// shortage that comes and goes (the first accepts after it fill the table again) is
/// warned about at most once per `WARN_EVERY`; each recovery is an info line.
#[derive(Default)]
pub(crate) struct AcceptTrouble {
    failures: u64,
    pause: Duration,
    warned_at: Option<std::time::Instant>,
}

const WARN_EVERY: Duration = Duration::from_secs(60);

impl AcceptTrouble {
    pub(crate) fn failed(&mut self, e: &std::io::Error) -> Duration {
        if !is_resource_shortage(e) {
            // A client that gave up during the handshake and the like: nothing to wait for.
            tracing::debug!(error = %e, "accept failed");
            return Duration::from_millis(1);
        }
        if self.failures == 0 {
            if self.warned_at.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
                tracing::warn!(
                    event = "server.accept_paused",
                    error = %e,
                    "cannot accept connections: {e}; pausing until connections close \
                     (raise the open-file limit or lower LATCHKEY_MAX_CONNECTIONS)"
                );
                self.warned_at = Some(std::time::Instant::now());
            }
            self.pause = ACCEPT_BACKOFF;
        } else {
            self.pause = (self.pause * 2).min(ACCEPT_BACKOFF_MAX);
        }
        self.failures += 1;
        self.pause
    }

    pub(crate) fn recovered(&mut self) {
        if self.failures > 0 {
            tracing::info!(
                event = "server.accept_resumed",
                failed_accepts = self.failures,
                "accepting connections again"
            );
            self.failures = 0;
            self.pause = Duration::ZERO;
        }
    }
}

/// Whether accepting failed for lack of file descriptors or socket memory.
fn is_resource_shortage(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    return matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    );
    #[cfg(not(unix))]
    return false;
}

/// Counts refused connections and logs them in summary.
#[derive(Default)]
struct Refusals {
    full: u64,
    address_full: u64,
    logged: Option<std::time::Instant>,
}

impl Refusals {
    fn count(&mut self, why: Refused, limits: &ServeLimits) {
        match why {
            Refused::Full => self.full += 1,
            Refused::AddressFull => self.address_full += 1,
        }
        if self
            .logged
            .is_some_and(|at| at.elapsed() < REFUSAL_LOG_EVERY)
        {
            return;
        }
        tracing::warn!(
            event = "server.connections_refused",
            refused_server_full = self.full,
            refused_address_full = self.address_full,
            open_connections = limits.connections.open(),
            "refusing connections: too many open (LATCHKEY_MAX_CONNECTIONS, \
             LATCHKEY_MAX_CONNECTIONS_PER_ADDRESS)"
        );
        *self = Refusals {
            logged: Some(std::time::Instant::now()),
            ..Refusals::default()
        };
    }
}

/// A stream, plain or TLS, as one type for hyper.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Stream for T {}

/// One accepted connection and what it needs to be served.
struct Connection {
    router: Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    peer: SocketAddr,
    closing: tokio::sync::watch::Receiver<bool>,
    header_read_timeout: Duration,
}

impl Connection {
    async fn run(mut self, stream: TcpStream, tls: Option<TlsAcceptor>) {
        let peer = self.peer;
        let is_tls = tls.is_some();
        let io: Box<dyn Stream> = match tls {
            None => Box::new(stream),
            Some(acceptor) => {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls_stream)) => Box::new(tls_stream),
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                }
            }
        };
        let activity = Arc::new(Activity::default());
        let service = {
            let activity = activity.clone();
            let router = self.router.clone();
            tower::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                if is_tls {
                    req.extensions_mut().insert(TlsConnection);
                }
                let in_flight = activity.begin();
                let answer = router.clone().oneshot(req);
                async move {
                    let res = answer.await;
                    drop(in_flight);
                    res
                }
            })
        };
        let conn = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
        tokio::pin!(conn);
        // hyper's header timeout covers each request's head on HTTP/1; this covers what
        // comes before it (the protocol sniff, the HTTP/2 preface and first stream) and
        // idle HTTP/2 connections, checked once a period.
        let period = self.header_read_timeout;
        let mut check = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        let mut seen = 0;
        let mut finishing = false;
        let result = loop {
            tokio::select! {
                result = conn.as_mut() => break result,
                _ = self.closing.changed(), if !finishing => {
                    finishing = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ = check.tick(), if !finishing => {
                    let started = activity.started();
                    if started == 0 {
                        tracing::debug!(%peer, "no request within the header timeout; closing");
                        return;
                    }
                    if started == seen && activity.in_flight() == 0 {
                        finishing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                    seen = started;
                }
            }
        };
        if let Err(e) = result {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}

/// Requests on one connection: how many began, and how many await their answer.
#[derive(Default)]
struct Activity {
    started: AtomicU64,
    in_flight: AtomicUsize,
}

/// One request awaiting its answer; counted out when dropped.
struct InFlight(Arc<Activity>);

impl Activity {
    fn begin(self: &Arc<Self>) -> InFlight {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }
    fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }
    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Bind the listening socket, naming the setting when the address is taken.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ConfigError> {
    bind_for("LATCHKEY_LISTEN", addr).await
}

/// Bind a listening socket for `setting`, naming it when the address is taken.
pub async fn bind_for(setting: &str, addr: SocketAddr) -> Result<TcpListener, ConfigError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| ConfigError::new(setting, format!("cannot listen on {addr}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shortage_that_comes_and_goes_is_warned_about_once() {
        let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
        let mut trouble = AcceptTrouble::default();
        assert_eq!(trouble.failed(&emfile), ACCEPT_BACKOFF);
        assert_eq!(trouble.failed(&emfile), ACCEPT_BACKOFF * 2);
        let warned = trouble.warned_at.expect("warned");
        trouble.recovered();
        // The first accepts after it fill the table again: no second warning.
        assert_eq!(
            trouble.failed(&emfile),
            ACCEPT_BACKOFF,
            "the pause starts over"
        );
        assert_eq!(trouble.warned_at, Some(warned));
        // A client that gave up mid-handshake is not a shortage.
        let reset = std::io::Error::from_raw_os_error(libc::ECONNABORTED);
        assert_eq!(trouble.failed(&reset), Duration::from_millis(1));
    }
}
