//! `latchkey directory sync|test|runs`: the upstream directory from the command line,
//! with the server's settings. `sync` prints the run's JSON summary and exits 1 when
//! the run failed or was refused.

use std::sync::Arc;

use clap::Subcommand;

use super::Failure;
use crate::app;
use crate::audit::Origin;
use crate::config::{Config, ConfigError};
use crate::crypto::EncryptionKey;
use crate::directory::Directory;

#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Sync users and groups from the directory now; prints a JSON summary.
    Sync,
    /// Bind and count what the filters find, without changing anything.
    Test,
    /// The most recent runs, newest first, as JSON lines.
    Runs {
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

pub async fn directory(config: &Config, command: DirectoryCommand) -> Result<(), Failure> {
    let store = app::open_store(config).await?;
    let setting = if config.encryption_key.is_some() {
        "LATCHKEY_ENCRYPTION_KEY"
    } else {
        crate::app::prepare_data_dir(config)?;
        "LATCHKEY_DATA_DIR"
    };
    let key = EncryptionKey::load_or_create(
        config.encryption_key.as_ref().map(|k| k.0.as_str()),
        &config.data_dir,
    )
    .map_err(|e| ConfigError::new(setting, e.to_string()))?;
    let directory = Directory::new(store.clone(), config, Arc::new(key));
    let outcome = match command {
        DirectoryCommand::Sync => {
            let report = directory.sync("cli", &Origin::cli()).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            match report.outcome.as_str() {
                "applied" | "unchanged" => Ok(()),
                _ => Err(Failure::new(format!(
                    "the sync {}: {}",
                    report.outcome,
                    report.error.unwrap_or_default()
                ))),
            }
        }
        DirectoryCommand::Test => match directory.active().await {
            None => Err(no_directory(&directory).await),
            Some(c) => {
                let report = directory.test_connection(&c).await;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
                match report.error {
                    None => Ok(()),
                    Some(e) => Err(Failure::new(e)),
                }
            }
        },
        DirectoryCommand::Runs { limit } => {
            for run in store.directory_runs(limit.clamp(1, 200)).await? {
                println!("{}", serde_json::to_string(&run).unwrap_or_default());
            }
            Ok(())
        }
    };
    store.close().await;
    outcome
}

async fn no_directory(directory: &Directory) -> Failure {
    match directory.settings().await.map(|s| s.config.clone()) {
        Ok(Err(problems)) => Failure::new(format!(
            "the directory settings cannot be used: {}",
            problems
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join("; ")
        )),
        _ => Failure::new(
            "no directory is set up: set LATCHKEY_DIRECTORY_URL (or the admin console's Directory page)",
        ),
    }
}
