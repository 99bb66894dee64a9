//! The LDAP listeners: plain LDAP (StartTLS offered) and LDAPS, each connection held
//! to the same caps as HTTP connections (in total and per address), an idle timeout
//! and a request size limit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::entry::Tree;
use super::search::Directory;
use super::session::{Limits, Session};
use crate::app::AppState;
use crate::config::{Config, ConfigError};
use crate::http::limits::ConnectionLimits;
use crate::http::server::{AcceptTrouble, bind_for, load_tls_config};

/// A TLS handshake not finished by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The listeners, bound at start (so that a taken port is a start-up error).
pub struct LdapListeners {
    plain: Option<TcpListener>,
    tls_listener: Option<TcpListener>,
    acceptor: Option<TlsAcceptor>,
}

impl LdapListeners {
    /// Bind what the configuration asks for; nothing when LDAP is off.
    pub async fn bind(config: &Config) -> Result<LdapListeners, ConfigError> {
        let acceptor = match config.ldap_tls_cert() {
            Some((cert, key)) => {
                let names = if config.ldap_tls_cert_file.is_some() {
                    ("LATCHKEY_LDAP_TLS_CERT_FILE", "LATCHKEY_LDAP_TLS_KEY_FILE")
                } else {
                    ("LATCHKEY_TLS_CERT_FILE", "LATCHKEY_TLS_KEY_FILE")
                };
                let tls = load_tls_config(cert, key, names)?;
                Some(TlsAcceptor::from(Arc::new(tls)))
            }
            None => None,
        };
        let plain = match config.ldap_listen {
            Some(addr) => Some(bind_for("LATCHKEY_LDAP_LISTEN", addr).await?),
            None => None,
        };
        let tls_listener = match config.ldaps_listen {
            Some(addr) => Some(bind_for("LATCHKEY_LDAPS_LISTEN", addr).await?),
            None => None,
        };
        Ok(LdapListeners {
            plain,
            tls_listener,
            acceptor,
        })
    }

    /// The bound addresses: plain, then LDAPS.
    pub fn addrs(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        (
            self.plain.as_ref().and_then(|l| l.local_addr().ok()),
            self.tls_listener.as_ref().and_then(|l| l.local_addr().ok()),
        )
    }
}

/// LDAP being served: the accept tasks, and the signal that ends open connections.
pub struct Serving {
    tasks: Vec<JoinHandle<()>>,
    closing: tokio::sync::watch::Sender<bool>,
}

impl Serving {
    /// Stop accepting and close every open LDAP connection (LDAP keeps no state a
    /// client could lose between operations).
    pub fn stop(self) {
        let _ = self.closing.send(true);
        for task in self.tasks {
            task.abort();
        }
    }
}

/// Serve LDAP on the bound listeners until `Serving::stop`.
pub fn start(listeners: LdapListeners, state: &AppState) -> Serving {
    let config = &state.config;
    let limits = Arc::new(Limits {
        size_limit: config.ldap_size_limit.0,
        time_limit: config.ldap_time_limit.0,
        idle_timeout: config.ldap_idle_timeout.0,
        allow_insecure_bind: config.ldap_allow_insecure_bind,
        password_bind: config.ldap_password_bind,
        app_url: config.app_url.to_string(),
    });
    let directory = Directory::new(
        state.store.clone(),
        Tree::new(config.ldap_base(), config.ldap_login_shell.clone()),
    );
    let connections = ConnectionLimits::new(
        config.max_connections.0,
        config.max_connections_per_address.0,
        config.trust_proxy.clone(),
    );
    let (plain_addr, tls_addr) = listeners.addrs();
    tracing::info!(
        event = "ldap.started",
        ldap = ?plain_addr,
        ldaps = ?tls_addr,
        base_dn = %directory.tree.base,
        starttls = listeners.acceptor.is_some(),
        "LDAP is serving"
    );
    let mut tasks = Vec::new();
    let (closing, closed) = tokio::sync::watch::channel(false);
    let shared = Shared {
        closed,
        directory,
        auth: state.auth.clone(),
        limits,
        connections,
        acceptor: listeners.acceptor,
    };
    if let Some(listener) = listeners.plain {
        tasks.push(tokio::spawn(accept(listener, shared.clone(), false)));
    }
    if let Some(listener) = listeners.tls_listener {
        tasks.push(tokio::spawn(accept(listener, shared, true)));
    }
    Serving { tasks, closing }
}

#[derive(Clone)]
struct Shared {
    directory: Directory,
    auth: crate::auth::Auth,
    limits: Arc<Limits>,
    connections: Arc<ConnectionLimits>,
    acceptor: Option<TlsAcceptor>,
    /// Becomes true when the server stops.
    closed: tokio::sync::watch::Receiver<bool>,
}

async fn accept(listener: TcpListener, shared: Shared, tls: bool) {
    let mut trouble = AcceptTrouble::default();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(pair) => {
                trouble.recovered();
                pair
            }
            Err(e) => {
                tokio::time::sleep(trouble.failed(&e)).await;
                continue;
            }
        };
        let Ok(slot) = shared.connections.admit(peer.ip()) else {
            tracing::debug!(%peer, "LDAP connection refused: too many open");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut closed = shared.closed.clone();
            tokio::select! {
                () = serve(stream, peer, shared, tls) => {}
                _ = closed.wait_for(|c| *c) => {}
            }
        });
    }
}

async fn serve(stream: TcpStream, peer: SocketAddr, shared: Shared, tls: bool) {
    let mut session = Session::new(
        shared.directory,
        shared.auth,
        shared.limits,
        peer,
        shared.acceptor.is_some(),
    );
    if tls {
        let Some(acceptor) = shared.acceptor else {
            return;
        };
        if let Ok(Ok(stream)) =
            tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
        {
            session.tls = true;
            let _ = session.run(stream).await;
        }
        return;
    }
    // Plain: served until the client asks for StartTLS, then served again over TLS.
    let Ok(Some(stream)) = session.run(stream).await else {
        return;
    };
    let Some(acceptor) = shared.acceptor else {
        return;
    };
    if let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        session.tls = true;
        let _ = session.run(stream).await;
    }
}
