//! `latchkey ldap accounts …` (service accounts that read the directory) and
//! `latchkey app-passwords …` (what users bind to LDAP with).

use std::time::Duration;

use clap::Subcommand;
use serde_json::json;

use super::Failure;
use crate::app;
use crate::audit::Origin;
use crate::auth::AuthError;
use crate::auth::ldap as rules;
use crate::config::Config;
use crate::store::{Store, StoreError};

#[derive(Debug, Subcommand)]
pub enum LdapCommand {
    /// Service accounts: `cn=<name>,ou=services,<base>`.
    #[command(subcommand)]
    Accounts(AccountsCommand),
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Create a service account; prints JSON with its `dn` and `password` (shown only now).
    Create {
        #[arg(long)]
        name: String,
        /// Limit it to the members of this group (repeat for several).
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
    },
    /// Print every service account as a JSON array.
    List,
    /// Delete a service account: its binds fail from now on.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum AppPasswordsCommand {
    /// Create an app password for a user; prints JSON with the `password` (shown only now).
    Create {
        /// Username or email of the owner.
        #[arg(long)]
        user: String,
        /// A label saying where it is used, e.g. Jellyfin.
        #[arg(long)]
        name: String,
        /// Lifetime, e.g. 90d (default: until revoked).
        #[arg(long, value_parser = humantime::parse_duration)]
        expires: Option<Duration>,
    },
    /// Print a user's app passwords as a JSON array.
    List {
        #[arg(long)]
        user: String,
    },
    /// Revoke one of a user's app passwords by id.
    Revoke {
        #[arg(long)]
        user: String,
        id: String,
    },
}

fn failure(e: AuthError) -> Failure {
    match e {
        AuthError::Store(StoreError::NotFound) => Failure::new("not found"),
        other => Failure::new(other.to_string()),
    }
}

fn print(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("serialisable")
    );
}

pub async fn ldap(config: &Config, command: LdapCommand) -> Result<(), Failure> {
    let store = app::open_store(config).await?;
    let outcome = accounts(config, &store, command).await;
    store.close().await;
    outcome
}

async fn accounts(config: &Config, store: &Store, command: LdapCommand) -> Result<(), Failure> {
    let LdapCommand::Accounts(command) = command;
    let tree = crate::ldap::entry::Tree::new(config.ldap_base(), String::new());
    match command {
        AccountsCommand::Create { name, groups } => {
            let (account, secret) =
                rules::create_ldap_account(store, &name, &groups, &Origin::cli())
                    .await
                    .map_err(failure)?;
            let mut out = serde_json::to_value(&account).expect("serialisable");
            out["dn"] = json!(tree.service_dn(&account.name));
            out["password"] = json!(secret);
            print(&out);
        }
        AccountsCommand::List => {
            let accounts: Vec<serde_json::Value> = store
                .list_ldap_accounts()
                .await?
                .into_iter()
                .map(|a| {
                    let mut v = serde_json::to_value(&a).expect("serialisable");
                    v["dn"] = json!(tree.service_dn(&a.name));
                    v
                })
                .collect();
            print(&accounts);
        }
        AccountsCommand::Delete { name } => {
            rules::delete_ldap_account(store, &name, &Origin::cli())
                .await
                .map_err(failure)?;
            println!("deleted the service account {name}");
        }
    }
    Ok(())
}

pub async fn app_passwords(config: &Config, command: AppPasswordsCommand) -> Result<(), Failure> {
    let store = app::open_store(config).await?;
    let outcome = app_passwords_in(&store, command).await;
    store.close().await;
    outcome
}

async fn app_passwords_in(store: &Store, command: AppPasswordsCommand) -> Result<(), Failure> {
    let owner = |login: String| async move {
        store
            .user_by_login(&login)
            .await?
            .ok_or_else(|| Failure::new(format!("no user with username or email `{login}`")))
    };
    match command {
        AppPasswordsCommand::Create {
            user,
            name,
            expires,
        } => {
            let user = owner(user).await?;
            let lifetime = expires.map(|d| d.as_secs() as i64);
            let (row, secret) =
                rules::create_app_password(store, &user, &name, lifetime, &Origin::cli())
                    .await
                    .map_err(failure)?;
            let mut out = serde_json::to_value(&row).expect("serialisable");
            out["password"] = json!(secret);
            print(&out);
        }
        AppPasswordsCommand::List { user } => {
            let user = owner(user).await?;
            print(&store.list_app_passwords(&user.id).await?);
        }
        AppPasswordsCommand::Revoke { user, id } => {
            let user = owner(user).await?;
            rules::revoke_app_password(store, &user, &id, &Origin::cli())
                .await
                .map_err(failure)?;
            println!("revoked the app password {id}");
        }
    }
    Ok(())
}
