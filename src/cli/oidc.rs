//! `latchkey clients …` and `latchkey keys …`.

use crate::domain::access::Strength;
use clap::{Args, Subcommand};
use serde_json::json;

use super::Failure;
use crate::app;
use crate::audit::{self, Origin};
use crate::config::Config;
use crate::crypto::EncryptionKey;
use crate::crypto::keys::Algorithm;
use crate::oidc::keys::{ALGORITHMS, rotate};
use crate::oidc::registration::{ClientSpec, register, rotate_secret};
use crate::store::{Store, StoreError};

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register an OIDC client; prints JSON with client_id and client_secret (null for public).
    Create(Box<CreateClient>),
    /// Print every client as JSON.
    List,
    /// Print one client as JSON.
    Show { client_id: String },
    /// Delete a client; its codes and tokens stop working.
    Delete { client_id: String },
    /// Make a new secret (printed once); the old one keeps working for 24 hours.
    RotateSecret { client_id: String },
}

#[derive(Debug, Args)]
pub struct CreateClient {
    #[arg(long)]
    pub name: String,
    /// Where the client may receive codes (repeat for several).
    #[arg(long = "redirect-uri", required = true)]
    pub redirect_uris: Vec<String>,
    /// Where the client may send people after signing out (repeat for several).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (a SPA or native app): no secret, PKCE required.
    #[arg(long)]
    pub public: bool,
    /// Require PKCE from a confidential client too.
    #[arg(long)]
    pub require_pkce: bool,
    /// Let the client use the `plain` PKCE method.
    #[arg(long)]
    pub allow_plain_pkce: bool,
    /// Token signing algorithm: RS256 (default), ES256 or EdDSA.
    #[arg(long)]
    pub signing_alg: Option<String>,
    /// Access token lifetime, e.g. 1h.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub access_token_ttl: Option<std::time::Duration>,
    /// Refresh token lifetime, e.g. 30d.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub refresh_token_ttl: Option<std::time::Duration>,
    /// Trusted first-party app: no consent page.
    #[arg(long)]
    pub skip_consent: bool,
    /// Issue a refresh token even without the offline_access scope.
    #[arg(long)]
    pub always_refresh: bool,
    /// Only members of this group may use the client (repeat for several).
    #[arg(long = "allowed-group")]
    pub allowed_groups: Vec<String>,
    #[arg(long)]
    pub launch_url: Option<String>,
    /// How strongly people must have signed in: any, two-factor or passkey.
    #[arg(long, default_value = "any", value_parser = ["any", "two-factor", "passkey"])]
    pub require: String,
    /// Sign in again for the client after this long, e.g. 8h.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub max_session_age: Option<std::time::Duration>,
    /// A grant type it may use, by its RFC name (repeat; default: every one its type allows).
    #[arg(long = "grant-type", value_name = "GRANT_TYPE")]
    pub grant_types: Vec<String>,
    /// A scope it may be given (repeat; default: every standard scope).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys (newest first).
    List,
    /// Make a new active key; the old one stays published until its tokens expire.
    Rotate {
        /// RS256, ES256 or EdDSA (default: all three).
        #[arg(long)]
        alg: Option<String>,
    },
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("serialisable")
}

fn client_json(
    client: &crate::domain::client::Client,
    secret: Option<&str>,
    config: &Config,
) -> serde_json::Value {
    let mut v = serde_json::to_value(client).expect("serialisable");
    v["client_id"] = json!(client.id);
    if let Some(s) = secret {
        v["client_secret"] = json!(s);
    } else if client.is_public {
        v["client_secret"] = serde_json::Value::Null;
    }
    v["discovery_url"] = json!(config.app_url.join("/.well-known/openid-configuration"));
    v
}

pub async fn clients(config: &Config, command: ClientsCommand) -> Result<(), Failure> {
    let store = app::open_store(config).await?;
    let result = run_clients(config, &store, command).await;
    store.close().await;
    result
}

async fn run_clients(
    config: &Config,
    store: &Store,
    command: ClientsCommand,
) -> Result<(), Failure> {
    match command {
        ClientsCommand::Create(a) => {
            let spec = ClientSpec {
                name: a.name,
                redirect_uris: a.redirect_uris,
                post_logout_redirect_uris: a.post_logout_redirect_uris,
                public: a.public,
                require_pkce: a.require_pkce,
                allow_plain_pkce: a.allow_plain_pkce,
                signing_alg: a.signing_alg,
                access_token_ttl: a.access_token_ttl.map(|d| d.as_secs() as i64),
                refresh_token_ttl: a.refresh_token_ttl.map(|d| d.as_secs() as i64),
                skip_consent: a.skip_consent,
                always_refresh: a.always_refresh,
                launch_url: a.launch_url,
                allowed_groups: a.allowed_groups,
                require: Strength::parse(&a.require).map_err(|e| Failure::new(e.to_string()))?,
                max_session_age: a.max_session_age.map(|d| d.as_secs() as i64),
                grant_types: Some(a.grant_types).filter(|g| !g.is_empty()),
                scopes: Some(a.scopes).filter(|s| !s.is_empty()),
            };
            let (client, secret) = register(store, spec)
                .await
                .map_err(|e| Failure::new(e.to_string()))?;
            audit::record(
                store,
                "oidc.client.created",
                &Origin::cli(),
                Some(&client.id),
                json!({"name": client.name}),
            )
            .await?;
            println!(
                "{}",
                to_json(&client_json(&client, secret.as_deref(), config))
            );
        }
        ClientsCommand::List => {
            let list: Vec<_> = store
                .list_clients()
                .await?
                .iter()
                .map(|c| client_json(c, None, config))
                .collect();
            println!("{}", to_json(&list));
        }
        ClientsCommand::Show { client_id } => {
            let c = store
                .client_by_id(&client_id)
                .await?
                .ok_or_else(|| Failure::new(format!("no client `{client_id}`")))?;
            println!("{}", to_json(&client_json(&c, None, config)));
        }
        ClientsCommand::Delete { client_id } => {
            store.delete_client(&client_id).await.map_err(|e| match e {
                StoreError::NotFound => Failure::new(format!("no client `{client_id}`")),
                other => other.into(),
            })?;
            audit::record(
                store,
                "oidc.client.deleted",
                &Origin::cli(),
                Some(&client_id),
                json!({}),
            )
            .await?;
            println!("deleted {client_id}");
        }
        ClientsCommand::RotateSecret { client_id } => {
            let secret = rotate_secret(store, &client_id)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => {
                        Failure::new(format!("no confidential client `{client_id}`"))
                    }
                    other => other.into(),
                })?;
            audit::record(
                store,
                "oidc.client.secret_rotated",
                &Origin::cli(),
                Some(&client_id),
                json!({}),
            )
            .await?;
            println!(
                "{}",
                to_json(&json!({"client_id": client_id, "client_secret": secret}))
            );
        }
    }
    Ok(())
}

pub async fn keys(config: &Config, command: KeysCommand) -> Result<(), Failure> {
    let store = app::open_store(config).await?;
    let result = run_keys(config, &store, command).await;
    store.close().await;
    result
}

async fn run_keys(config: &Config, store: &Store, command: KeysCommand) -> Result<(), Failure> {
    let encryption = EncryptionKey::load_or_create(
        config.encryption_key.as_ref().map(|k| k.0.as_str()),
        &config.data_dir,
    )
    .map_err(|e| Failure::new(e.to_string()))?;
    if !store.verify_encryption_key(&encryption).await? {
        return Err(Failure { message: "LATCHKEY_ENCRYPTION_KEY: is not the key this database's secrets were encrypted with".into(), code: 2 });
    }
    match command {
        KeysCommand::List => {
            let keys: Vec<_> = store
                .all_signing_keys()
                .await?
                .into_iter()
                .map(|k| json!({"kid": k.kid, "alg": k.alg, "created_at": k.created_at, "retired_at": k.retired_at,
                    "published_until": k.expires_at, "active": k.retired_at.is_none()}))
                .collect();
            println!("{}", to_json(&keys));
        }
        KeysCommand::Rotate { alg } => {
            let algs: Vec<Algorithm> =
                match alg {
                    None => ALGORITHMS.to_vec(),
                    Some(a) => vec![Algorithm::parse(&a).ok_or_else(|| {
                        Failure::new(format!("`{a}` is not RS256, ES256 or EdDSA"))
                    })?],
                };
            // A retired key stays published while tokens it signed may still be presented.
            let longest = store
                .list_clients()
                .await?
                .iter()
                .map(|c| c.access_token_ttl)
                .max()
                .unwrap_or(3600);
            let keep_for = longest.max(crate::oidc::MAX_ID_TOKEN_TTL) + 300;
            let mut out = Vec::new();
            for alg in algs {
                let (new_kid, old_kid) = rotate(store, &encryption, alg, keep_for)
                    .await
                    .map_err(|e| Failure::new(e.to_string()))?;
                audit::record(
                    store,
                    "oidc.key.rotated",
                    &Origin::cli(),
                    Some(&new_kid),
                    json!({"alg": alg.as_str(), "retired": old_kid}),
                )
                .await?;
                out.push(json!({"alg": alg.as_str(), "kid": new_kid, "retired": old_kid}));
            }
            println!("{}", to_json(&out));
        }
    }
    Ok(())
}
