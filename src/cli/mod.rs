//! The `latchkey` command line: serve (the default) and the admin commands, all on the
//! same configuration and database as the server, also while it runs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod directory;
mod ldap;
mod mail;
mod oidc;
mod proxy;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::app::{self, StartError};
use crate::audit::{self, Origin};
use crate::config::{Config, ConfigError, LogLevel, SETTINGS, Source};
use crate::domain::user::NewUser;
use crate::logging;
use crate::store::{Backend, StoreError};

#[derive(Debug, Parser)]
#[command(
    name = "latchkey",
    version,
    about = "Latchkey: a self-hosted OpenID Connect identity provider"
)]
#[command(
    after_help = "Settings come from LATCHKEY_* environment variables or the TOML file; `latchkey config` lists them."
)]
pub struct Cli {
    /// TOML file with settings (environment variables win over it).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (what `latchkey` does without a subcommand).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage OIDC clients (the services that sign people in through Latchkey).
    #[command(subcommand)]
    Clients(oidc::ClientsCommand),
    /// Applications behind a reverse proxy (forward-auth): who may use them, how strongly signed in.
    #[command(subcommand, name = "proxy-apps")]
    ProxyApps(proxy::ProxyAppsCommand),
    /// Manage token signing keys.
    #[command(subcommand)]
    Keys(oidc::KeysCommand),
    /// Manage REST API keys.
    #[command(subcommand, name = "api-keys")]
    ApiKeys(ApiKeysCommand),
    /// The LDAP server face: service accounts.
    #[command(subcommand)]
    Ldap(ldap::LdapCommand),
    /// App passwords: what users bind to LDAP with.
    #[command(subcommand, name = "app-passwords")]
    AppPasswords(ldap::AppPasswordsCommand),
    /// Exit 0 when the server answers healthy, else 1 (for container health checks).
    Healthcheck {
        /// Health URL to ask (default: this configuration's listening address).
        #[arg(long)]
        url: Option<String>,
    },
    /// Make a consistent copy of the SQLite database while the server runs.
    Backup {
        /// The new file to write.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Show every setting, its value (secrets hidden) and where it came from.
    Config,
    /// Email: send a test message.
    #[command(subcommand)]
    Mail(mail::MailCommand),
    /// The upstream directory: sync users and groups now, test the connection, past runs.
    #[command(subcommand)]
    Directory(directory::DirectoryCommand),
    /// Print a one-time sign-in link for a user (the URL is the last line).
    LoginLink {
        /// Username or email address.
        user: String,
        /// How long the link works, e.g. 15m, 2h, 7d (at most 31d).
        #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
        ttl: Duration,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user and print it as JSON.
    Create(CreateUser),
    /// Print every user as a JSON array.
    List,
}

#[derive(Debug, Subcommand)]
pub enum ApiKeysCommand {
    /// Create an API key for a user; prints JSON with the key (shown only now).
    Create {
        /// Username or email of the key's owner (the key acts with their rights).
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
        /// Lifetime, e.g. 30d (required: keys always expire).
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Duration,
    },
}

#[derive(Debug, Args)]
pub struct CreateUser {
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub email: String,
    #[arg(long, default_value = "")]
    pub first_name: String,
    #[arg(long, default_value = "")]
    pub last_name: String,
    /// Make the user an administrator.
    #[arg(long)]
    pub admin: bool,
}

/// A failed command: the message for standard error and the exit status.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl Failure {
    pub(crate) fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: 1,
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Failure {
        Failure {
            message: e.to_string(),
            code: 2,
        }
    }
}

impl From<StartError> for Failure {
    fn from(e: StartError) -> Failure {
        Failure {
            code: e.exit_code(),
            message: e.to_string(),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::new(e.to_string())
    }
}

/// Run the parsed command line to completion.
pub async fn run(cli: Cli) -> ExitCode {
    match dispatch(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

async fn dispatch(cli: Cli) -> Result<(), Failure> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        command => {
            // Admin commands log only warnings, keeping standard output for their answer.
            logging::init(&LogLevel("warn".into()), config.log_format);
            match command {
                Command::Serve => unreachable!("handled above"),
                Command::Migrate => migrate(&config).await,
                Command::Users(UsersCommand::Create(args)) => create_user(&config, args).await,
                Command::Users(UsersCommand::List) => list_users(&config).await,
                Command::Clients(c) => oidc::clients(&config, c).await,
                Command::Keys(k) => oidc::keys(&config, k).await,
                Command::ProxyApps(p) => proxy::proxy_apps(&config, p).await,
                Command::ApiKeys(ApiKeysCommand::Create {
                    user,
                    name,
                    expires_in,
                }) => create_api_key(&config, &user, &name, expires_in).await,
                Command::Ldap(c) => ldap::ldap(&config, c).await,
                Command::AppPasswords(c) => ldap::app_passwords(&config, c).await,
                Command::Healthcheck { url } => healthcheck(&config, url).await,
                Command::Backup { to } => backup(&config, &to).await,
                Command::Config => show_config(&config),
                Command::Mail(m) => mail::mail(&config, m).await,
                Command::Directory(d) => directory::directory(&config, d).await,
                Command::LoginLink { user, ttl } => login_link(&config, &user, ttl).await,
            }
        }
    }
}

async fn serve(config: Config) -> Result<(), Failure> {
    // Written when serving ends, however it ends.
    let _logs = logging::init_batched(&config.log_level, config.log_format);
    let running = app::start(config, crate::http::server::shutdown_signal()).await?;
    running.wait().await;
    Ok(())
}

async fn migrate(config: &Config) -> Result<(), Failure> {
    let store = app::open_store(config).await?;
    let applied = store.applied_migrations().await?;
    println!(
        "{} is up to date ({applied} migrations applied)",
        config.database().redacted()
    );
    store.close().await;
    Ok(())
}

async fn create_user(config: &Config, args: CreateUser) -> Result<(), Failure> {
    let new = NewUser {
        username: args.username,
        email: Some(args.email),
        first_name: args.first_name,
        last_name: args.last_name,
        is_admin: args.admin,
        ..NewUser::default()
    }
    .validate()
    .map_err(|e| Failure::new(e.to_string()))?;
    let store = app::open_store(config).await?;
    // The email policy applies: under it the address is verified, or a link is queued
    // for it (sent by the running server).
    let mail = mail::open_mail(config, &store)?;
    let user = match crate::auth::email::create_user(&mail, new).await {
        Ok(u) => u,
        Err(crate::auth::AuthError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(Failure::new(e.to_string())),
    };
    audit::record(
        &store,
        "user.created",
        &Origin::cli(),
        Some(&user.id),
        json!({"username": user.username, "is_admin": user.is_admin}),
    )
    .await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&user).expect("a user serialises")
    );
    store.close().await;
    Ok(())
}

async fn create_api_key(
    config: &Config,
    login: &str,
    name: &str,
    expires_in: Duration,
) -> Result<(), Failure> {
    let store = app::open_store(config).await?;
    let user = store
        .user_by_login(login)
        .await?
        .ok_or_else(|| Failure::new(format!("no user with username or email `{login}`")))?;
    let (key, secret) = crate::api::issue_api_key(
        &store,
        &user.id,
        name,
        expires_in.as_secs() as i64,
        &Origin::cli(),
    )
    .await
    .map_err(|p| {
        Failure::new(
            serde_json::to_value(&p)
                .map(|v| v["detail"].to_string())
                .unwrap_or_default(),
        )
    })?;
    let mut out = serde_json::to_value(&key).expect("serialisable");
    out["key"] = json!(secret);
    println!(
        "{}",
        serde_json::to_string_pretty(&out).expect("serialisable")
    );
    store.close().await;
    Ok(())
}

async fn list_users(config: &Config) -> Result<(), Failure> {
    let store = app::open_store(config).await?;
    let users = store.list_users().await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&users).expect("users serialise")
    );
    store.close().await;
    Ok(())
}

async fn healthcheck(config: &Config, url: Option<String>) -> Result<(), Failure> {
    let derived = url.is_none();
    let url = url.unwrap_or_else(|| {
        let scheme = if config.tls_enabled() {
            "https"
        } else {
            "http"
        };
        let mut addr = config.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() {
                [127, 0, 0, 1].into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        format!("{scheme}://{addr}/healthz")
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        // Our own loopback address never matches the public certificate; this probe
        // sends nothing secret and only reads the status.
        .tls_danger_accept_invalid_certs(derived)
        .build()
        .map_err(|e| Failure::new(format!("cannot build an HTTP client: {e}")))?;
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| Failure::new(format!("{url}: {e}")))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if status.is_success() && body["status"] == "ok" {
        println!("healthy: {url}");
        Ok(())
    } else {
        Err(Failure::new(format!("{url} answered {status}: {body}")))
    }
}

async fn backup(config: &Config, to: &std::path::Path) -> Result<(), Failure> {
    let store = app::open_store(config).await?;
    if store.backend() == Backend::Postgres {
        return Err(Failure::new(
            "the database is PostgreSQL: back it up with pg_dump (e.g. `pg_dump -Fc DBNAME > latchkey.dump`)",
        ));
    }
    store.backup_sqlite(to).await?;
    store.close().await;
    println!(
        "backed up {} to {}",
        config.database().redacted(),
        to.display()
    );
    Ok(())
}

async fn login_link(config: &Config, login: &str, ttl: Duration) -> Result<(), Failure> {
    let store = app::open_store(config).await?;
    let user = store
        .user_by_login(login)
        .await?
        .ok_or_else(|| Failure::new(format!("no user with username or email `{login}`")))?;
    let url = crate::auth::login_link::create(&store, &config.app_url, &user, ttl, &Origin::cli())
        .await
        .map_err(|e| Failure::new(e.to_string()))?;
    store.close().await;
    println!(
        "One-time login link for {} ({}), valid for {}:",
        user.display_name,
        user.username,
        humantime::format_duration(ttl)
    );
    println!("{url}");
    Ok(())
}

fn show_config(config: &Config) -> Result<(), Failure> {
    for spec in SETTINGS {
        let source = config
            .sources
            .get(spec.key)
            .copied()
            .unwrap_or(Source::Unset);
        let shown = match (spec.secret, source) {
            (_, Source::Unset) => "(unset)".to_string(),
            (true, _) => "(set, hidden)".to_string(),
            (false, _) => config.texts.get(spec.key).cloned().unwrap_or_default(),
        };
        println!("{:<26} {:<34} {source:?}", spec.env, shown);
    }
    Ok(())
}
