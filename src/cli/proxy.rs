//! `latchkey proxy-apps create|list|show|update|delete`: applications behind a
//! reverse proxy (forward-auth), with the same checks and audit as the console.

use clap::{Args, Subcommand};

use super::Failure;
use crate::app;
use crate::audit::Origin;
use crate::config::Config;
use crate::domain::access::Strength;
use crate::domain::proxy_app::{AppSpec, ProxyApp};
use crate::proxy::apps::{self, AppError};
use crate::store::{Store, StoreError};

#[derive(Debug, Subcommand)]
pub enum ProxyAppsCommand {
    /// Protect an application; prints it as JSON.
    Create(CreateArgs),
    /// Print every application as a JSON array.
    List,
    /// Print one application (by id or name) as JSON.
    Show { app: String },
    /// Change an application (by id or name): the options given replace those settings.
    Update {
        app: String,
        #[command(flatten)]
        change: Change,
    },
    /// Delete an application: its hosts are denied from the next request on.
    Delete { app: String },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[arg(long)]
    name: String,
    #[command(flatten)]
    change: Change,
}

/// Settings of an application. On `update`, a list option replaces the whole list.
#[derive(Debug, Args)]
pub struct Change {
    /// A host it answers on: `app.example.org` or `*.example.org` (repeat for several).
    #[arg(long = "host", value_name = "HOST")]
    hosts: Vec<String>,
    /// A group whose members may use it (repeat; none: everyone).
    #[arg(long = "group", value_name = "GROUP")]
    groups: Vec<String>,
    /// On `update`: admit everyone (drop every group).
    #[arg(long, conflicts_with = "groups")]
    no_groups: bool,
    /// How strongly people must have signed in.
    #[arg(long, value_parser = ["any", "two-factor", "passkey"])]
    require: Option<String>,
    /// Sign in again after this many hours (0 on `update`: no maximum).
    #[arg(long, value_name = "HOURS")]
    max_age_hours: Option<i64>,
    /// A path prefix that passes without a session, e.g. /health (repeat).
    #[arg(long = "public-path", value_name = "PATH")]
    public_paths: Vec<String>,
    /// Accept `Authorization: Basic` with a username and an app password.
    #[arg(long)]
    allow_basic: Option<bool>,
    /// A header to send: Remote-User, Remote-Groups, Remote-Name, Remote-Email (repeat; default all).
    #[arg(long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// Where "My apps" opens it (default: https:// and its first exact host).
    #[arg(long)]
    launch_url: Option<String>,
}

impl Change {
    fn apply(self, spec: &mut AppSpec) -> Result<(), Failure> {
        if !self.hosts.is_empty() {
            spec.hosts = self.hosts;
        }
        if !self.groups.is_empty() {
            spec.groups = self.groups;
        }
        if self.no_groups {
            spec.groups.clear();
        }
        if let Some(r) = self.require {
            spec.require = Strength::parse(&r).map_err(|e| Failure::new(e.to_string()))?;
        }
        if let Some(age) = self.max_age_hours {
            spec.max_age_hours = Some(age).filter(|a| *a != 0);
        }
        if !self.public_paths.is_empty() {
            spec.public_paths = self.public_paths;
        }
        if let Some(b) = self.allow_basic {
            spec.allow_basic = b;
        }
        if !self.headers.is_empty() {
            spec.headers = Some(self.headers);
        }
        if let Some(u) = self.launch_url {
            spec.launch_url = Some(u).filter(|u| !u.trim().is_empty());
        }
        Ok(())
    }
}

fn failure(e: AppError) -> Failure {
    match e {
        AppError::Invalid(i) => Failure::new(i.to_string()),
        AppError::Store(StoreError::NotFound) => Failure::new("not found"),
        AppError::Store(s) => Failure::new(s.to_string()),
    }
}

fn print(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("serialisable")
    );
}

async fn find(store: &Store, key: &str) -> Result<ProxyApp, Failure> {
    store
        .proxy_app(key)
        .await?
        .ok_or_else(|| Failure::new(format!("no application `{key}`")))
}

pub async fn proxy_apps(config: &Config, command: ProxyAppsCommand) -> Result<(), Failure> {
    let store = app::open_store(config).await?;
    let outcome = run(&store, command).await;
    store.close().await;
    outcome
}

async fn run(store: &Store, command: ProxyAppsCommand) -> Result<(), Failure> {
    match command {
        ProxyAppsCommand::Create(args) => {
            let mut spec = AppSpec {
                name: args.name,
                ..AppSpec::default()
            };
            args.change.apply(&mut spec)?;
            let app = apps::create(store, spec, &Origin::cli())
                .await
                .map_err(failure)?;
            print(&app);
        }
        ProxyAppsCommand::List => print(&store.proxy_apps().await?),
        ProxyAppsCommand::Show { app } => print(&find(store, &app).await?),
        ProxyAppsCommand::Update { app, change } => {
            let before = find(store, &app).await?;
            let mut spec = AppSpec::of(&before);
            change.apply(&mut spec)?;
            let after = apps::update(store, &before, spec, &Origin::cli())
                .await
                .map_err(failure)?;
            print(&after);
        }
        ProxyAppsCommand::Delete { app } => {
            let app = find(store, &app).await?;
            apps::delete(store, &app, &Origin::cli())
                .await
                .map_err(failure)?;
            eprintln!("deleted {}", app.name);
        }
    }
    Ok(())
}
