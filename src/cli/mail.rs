//! `latchkey mail test --to ADDR`: send a test email with the server's settings and
//! report the mail server's answer, or the exact SMTP or TLS error (exit status 1).

use std::sync::Arc;

use clap::Subcommand;

use super::Failure;
use crate::app;
use crate::audit::Origin;
use crate::config::{Config, ConfigError};
use crate::crypto::EncryptionKey;
use crate::mail::Mail;

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Send a test email now and say whether the mail server accepted it.
    Test {
        /// The address to send to.
        #[arg(long)]
        to: String,
    },
}

/// Email as the server has it (same settings and encryption key), for commands that
/// queue or send messages. The running server's worker delivers what they queue.
pub fn open_mail(config: &Config, store: &crate::store::Store) -> Result<Mail, Failure> {
    let setting = if config.encryption_key.is_some() {
        "LATCHKEY_ENCRYPTION_KEY"
    } else {
        // The key is made there on first use, as the server does.
        crate::app::prepare_data_dir(config)?;
        "LATCHKEY_DATA_DIR"
    };
    let key = EncryptionKey::load_or_create(
        config.encryption_key.as_ref().map(|k| k.0.as_str()),
        &config.data_dir,
    )
    .map_err(|e| ConfigError::new(setting, e.to_string()))?;
    Ok(Mail::new(
        config,
        store.clone(),
        Arc::new(key),
        &config.app_name.0,
    )?)
}

pub async fn mail(config: &Config, command: MailCommand) -> Result<(), Failure> {
    let MailCommand::Test { to } = command;
    let store = app::open_store(config).await?;
    let mail = open_mail(config, &store)?;
    let settings = mail.settings().await?;
    let Some(smtp) = settings.smtp else {
        store.close().await;
        return Err(Failure::new(
            "email is not set up: set LATCHKEY_SMTP_HOST and LATCHKEY_SMTP_FROM (or the admin console's Email page)",
        ));
    };
    let outcome = mail.send_test(&to, &Origin::cli()).await;
    store.close().await;
    match outcome {
        Ok(()) => {
            println!(
                "sent: {}:{} ({}) accepted the test email to {to}",
                smtp.host,
                smtp.port,
                smtp.security.as_str()
            );
            Ok(())
        }
        Err(error) => Err(Failure::new(format!(
            "the test email to {to} was not sent: {error}"
        ))),
    }
}
