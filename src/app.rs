//! Start-up, shared state, router assembly and shutdown of the server.

use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::auth::Auth;
use crate::config::{Config, ConfigError, DatabaseUrl};
use crate::crypto::EncryptionKey;
use crate::http::middleware::{self, HttpPolicy};
use crate::http::server;
use crate::oidc::keys::KeyRing;
use crate::settings::{RuntimeSettings, Settings};
use crate::setup::{self, SetupGate};
use crate::store::{Store, StoreError};

/// Everything a request handler may use; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

pub struct AppInner {
    pub config: Config,
    pub store: Store,
    pub encryption: Arc<EncryptionKey>,
    pub setup: SetupGate,
    pub auth: Auth,
    pub keys: KeyRing,
    pub clients: crate::oidc::client_cache::ClientCache,
    /// What the admin may change while Latchkey runs.
    pub runtime: Arc<Settings>,
    pub mail: crate::mail::Mail,
    /// Decodes uploaded pictures off the async workers and counts uploads per person.
    pub pictures: crate::media::Pictures,
    /// The upstream directory users and groups are synced from (when one is set up).
    pub directory: Arc<crate::directory::Directory>,
    /// Forward-auth's sessions and folded events in memory.
    pub proxy: crate::proxy::Proxy,
    /// Where the LDAP listeners listen (plain with StartTLS, LDAPS), once bound.
    pub ldap_addrs: (Option<SocketAddr>, Option<SocketAddr>),
}

impl Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl AppState {
    /// The runtime settings in force now (cached; see `settings.rs`).
    pub fn settings(&self) -> Arc<RuntimeSettings> {
        self.runtime.get()
    }

    /// The name shown on every page, in emails and in authenticator apps.
    pub fn app_name(&self) -> String {
        self.settings().app_name.clone()
    }

    /// Cookie names and flags: `__Host-` and Secure when the public URL is https.
    pub fn cookies(&self) -> crate::web::CookiePolicy {
        crate::web::CookiePolicy {
            secure: self.config.app_url.is_https(),
        }
    }

    /// The public origin, as browsers send it in `Origin`.
    pub fn origin(&self) -> &str {
        self.config.app_url.as_str()
    }
}

/// Why the server could not start: a setting (exit status 2) or anything else (1).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Other(String),
}

impl StartError {
    pub fn exit_code(&self) -> u8 {
        match self {
            StartError::Config(_) => 2,
            StartError::Other(_) => 1,
        }
    }
}

/// Make the data directory (owner only, as it holds the key and the database), or take
/// other users' access away from one that an older version made.
pub fn prepare_data_dir(config: &Config) -> Result<(), ConfigError> {
    crate::store::files::create_private_dir(&config.data_dir).map_err(|e| {
        ConfigError::new(
            "LATCHKEY_DATA_DIR",
            format!("cannot create {}: {e}", config.data_dir.display()),
        )
    })?;
    crate::store::files::tighten(&config.data_dir);
    Ok(())
}

/// Open the database the configuration names, migrated, mapping failures to the setting.
pub async fn open_store(config: &Config) -> Result<Store, ConfigError> {
    let database = config.database();
    let setting = if config.database_url.is_some() {
        "LATCHKEY_DATABASE_URL"
    } else {
        "LATCHKEY_DATA_DIR"
    };
    Store::open(&database).await.map_err(|e| {
        let problem = match e {
            StoreError::Migrate(m) => format!("cannot migrate {}: {m}", database.redacted()),
            other => format!("cannot open {}: {other}", database.redacted()),
        };
        ConfigError::new(setting, problem)
    })
}

/// A running server; `stop` or `wait` to end it.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    /// The one-time setup link, when no administrator existed at start.
    pub setup_url: Option<String>,
    /// The LDAP listeners' addresses (plain, LDAPS), when on.
    pub ldap_addrs: (Option<SocketAddr>, Option<SocketAddr>),
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: JoinHandle<()>,
    ldap: Option<crate::ldap::Serving>,
    housekeeping: JoinHandle<()>,
    mail_stop: tokio::sync::watch::Sender<bool>,
    mail_worker: JoinHandle<()>,
}

impl Running {
    /// Ask the server to stop, and wait until open requests have finished.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.stop_ldap();
        let _ = (&mut self.task).await;
        self.housekeeping.abort();
        self.stop_mail().await;
        self.state.store.close().await;
    }

    /// LDAP keeps no state a client could lose: its listeners and connections end.
    fn stop_ldap(&mut self) {
        if let Some(ldap) = self.ldap.take() {
            ldap.stop();
        }
    }

    /// Let the outbox worker finish the message it is sending (so that it is marked
    /// sent, not sent again after a restart), but not wait for ever.
    async fn stop_mail(&mut self) {
        let _ = self.mail_stop.send(true);
        let finished =
            tokio::time::timeout(std::time::Duration::from_secs(10), &mut self.mail_worker).await;
        if finished.is_err() {
            self.mail_worker.abort();
            tracing::warn!("the outbox worker did not stop within 10 s");
        }
    }

    /// Wait until the shutdown future given to `start` resolves and the server has drained.
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
        self.stop_ldap();
        self.housekeeping.abort();
        self.stop_mail().await;
        self.state.store.close().await;
    }
}

/// Check every setting, prepare storage and keys, bind the socket and start serving.
/// Nothing is served unless everything is in order.
pub async fn start(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, StartError> {
    let needs_data_dir =
        config.encryption_key.is_none() || matches!(config.database(), DatabaseUrl::Sqlite(_));
    if needs_data_dir {
        prepare_data_dir(&config)?;
    }
    let key_setting = if config.encryption_key.is_some() {
        "LATCHKEY_ENCRYPTION_KEY"
    } else {
        "LATCHKEY_DATA_DIR"
    };
    let encryption = EncryptionKey::load_or_create(
        config.encryption_key.as_ref().map(|k| k.0.as_str()),
        &config.data_dir,
    )
    .map_err(|e| ConfigError::new(key_setting, e.to_string()))?;
    let tls = match (&config.tls_cert_file, &config.tls_key_file) {
        (Some(cert), Some(key)) => Some(server::load_tls(cert, key)?),
        _ => None,
    };
    let store = open_store(&config).await?;
    match store.verify_encryption_key(&encryption).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(ConfigError::new(
                key_setting,
                "is not the key this database's secrets were encrypted with (restore the original key)",
            )
            .into());
        }
        Err(e) => {
            return Err(StartError::Other(format!(
                "cannot check the encryption key: {e}"
            )));
        }
    }
    let has_admin = store
        .has_admin()
        .await
        .map_err(|e| StartError::Other(format!("cannot read users: {e}")))?;
    crate::http::limits::ensure_open_file_limit(config.max_connections.0);
    let listener: TcpListener = server::bind(config.listen).await?;
    let ldap_listeners = crate::ldap::LdapListeners::bind(&config).await?;
    store
        .raise_posix_ids(
            config.ldap_uid_number_start.0,
            config.ldap_gid_number_start.0,
        )
        .await
        .map_err(|e| StartError::Other(format!("cannot prepare POSIX ids: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Other(format!("cannot read the listening address: {e}")))?;

    let (gate, setup_url) = if has_admin {
        (SetupGate::closed(), None)
    } else {
        let (gate, token) = SetupGate::open();
        let url = config
            .app_url
            .join(&format!("/setup?token={}", token.expose()));
        (gate, Some(url))
    };
    let encryption = Arc::new(encryption);
    let keys = KeyRing::open(store.clone(), encryption.clone())
        .await
        .map_err(|e| StartError::Other(format!("cannot prepare the signing keys: {e}")))?;
    let runtime = Settings::load(&config, store.clone())
        .await
        .map_err(|e| StartError::Other(format!("cannot read the settings: {e}")))?;
    let mail = crate::mail::Mail::new(
        &config,
        store.clone(),
        encryption.clone(),
        &config.app_name.0,
    )?
    .with_settings(runtime.clone());
    let directory = crate::directory::Directory::new(store.clone(), &config, encryption.clone());
    let auth = Auth::new(
        &config,
        store.clone(),
        encryption.clone(),
        runtime.clone(),
        mail.clone(),
        directory.clone(),
    );
    let state = AppState(Arc::new(AppInner {
        config,
        store,
        encryption,
        setup: gate,
        auth,
        keys,
        clients: Default::default(),
        runtime,
        mail,
        pictures: Default::default(),
        directory,
        proxy: Default::default(),
        ldap_addrs: ldap_listeners.addrs(),
    }));
    let app = router(state.clone());
    let limits = server::ServeLimits::from_config(&state.config);

    if let Some(url) = &setup_url {
        tracing::info!(event = "setup.pending", setup_url = %url, "{}", setup::announcement(state.config.app_url.as_str(), url));
    }
    // Logged last: once this line is out, the setup block above is too.
    tracing::info!(
        event = "server.started",
        listen = %addr,
        app_url = %state.config.app_url,
        database = %state.config.database().redacted(),
        tls = tls.is_some(),
        version = env!("CARGO_PKG_VERSION"),
        "Latchkey is serving"
    );

    // Before serving: at start one database connection is open, and a query made
    // alongside the first requests would make the pool open another (on PostgreSQL a
    // new server process) while a health check waits.
    warn_if_mail_insecure(&state).await;

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let stop = async move {
            tokio::select! {
                () = shutdown => {},
                _ = stop_rx => {},
            }
        };
        server::serve(listener, tls, app, limits, stop).await;
        tracing::info!(event = "server.stopped", "Latchkey has stopped");
    });
    let ldap_addrs = ldap_listeners.addrs();
    let ldap = (ldap_addrs.0.is_some() || ldap_addrs.1.is_some())
        .then(|| crate::ldap::start(ldap_listeners, &state));
    let housekeeping = tokio::spawn(housekeeping(state.clone()));
    let (mail_stop, mail_stop_rx) = tokio::sync::watch::channel(false);
    state.directory.spawn_schedule(mail_stop_rx.clone());
    let mail_worker = tokio::spawn(crate::mail::worker::run(state.mail.clone(), mail_stop_rx));
    Ok(Running {
        addr,
        state,
        setup_url,
        ldap_addrs,
        stop: Some(stop_tx),
        task,
        ldap,
        housekeeping,
        mail_stop,
        mail_worker,
    })
}

/// Say loudly at start when SMTP certificates are not checked.
async fn warn_if_mail_insecure(state: &AppState) {
    if let Ok(s) = state.mail.settings().await
        && s.smtp.as_ref().is_some_and(|m| m.skip_verification)
    {
        tracing::warn!(
            event = "mail.insecure",
            "INSECURE: SMTP certificate verification is switched off; anyone between Latchkey and the mail server can read and change every email, including login codes"
        );
    }
}

/// Background upkeep for as long as the server runs. (SQLite's write-ahead log is
/// checkpointed by the store itself: store/checkpoint.rs.)
async fn housekeeping(state: AppState) {
    tokio::join!(delete_expired(state.clone()), close_idle_connections(state));
}

/// Every second, close the SQLite connections that a burst of load opened and that
/// have long been idle since.
async fn close_idle_connections(state: AppState) {
    if state.store.backend() != crate::store::Backend::Sqlite {
        return;
    }
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        state.store.close_idle_connections().await;
    }
}

/// Every ten minutes, delete what has expired or outlived its retention (every table
/// that grows with use: `Store::prune`) and queue the notices for API keys about to
/// expire.
/// The first round waits a minute: what expired keeps until then (every read checks
/// expiry itself), and a server that has just started answers its first requests
/// without this work beside them.
async fn delete_expired(state: AppState) {
    let period = std::time::Duration::from_secs(600);
    let first = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut tick = tokio::time::interval_at(first, period);
    loop {
        tick.tick().await;
        let retention = crate::store::Retention {
            session_idle: state.auth.idle_timeout(),
            audit: state.config.audit_retention.secs(),
        };
        if let Err(e) = state.store.prune(crate::store::now(), &retention).await {
            tracing::warn!(error = %e, "housekeeping failed");
        }
        if let Err(e) = crate::mail::notices::api_keys_expiring(&state.mail).await {
            tracing::warn!(error = %e, "API key expiry notices failed");
        }
    }
}

/// Every route of the server, behind the common middleware.
pub fn router(state: AppState) -> Router {
    let policy = Arc::new(HttpPolicy {
        trusted_proxies: state.config.trust_proxy.clone(),
        hsts: state.config.app_url.is_https(),
    });
    Router::new()
        .merge(crate::web::routes())
        .merge(crate::oidc::routes())
        .merge(crate::api::routes())
        .merge(crate::proxy::routes())
        .fallback(crate::web::not_found)
        // Error pages anywhere (not found included) show the application's name.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::web::with_app_name,
        ))
        .with_state(state.clone())
        // A request whose body trickles in (or a handler that hangs) ends here; inside
        // the common layer, so that the 408 carries the usual headers.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            state.config.request_timeout.0,
        ))
        .layer(axum::middleware::from_fn_with_state(
            policy,
            middleware::common,
        ))
}
