//! Email: a durable outbox in the database, a worker that delivers it over SMTP with
//! verified TLS, and the messages themselves.
//!
//! A message is composed (rendered and sealed) before the transaction of the event
//! that causes it, and inserted in that same transaction, so that it exists exactly
//! when the event does. The worker claims due messages with a lease, sends them, and
//! marks them sent once the server has accepted them; failures are retried with
//! exponential back-off for at least 24 hours.

pub mod geoip;
pub mod messages;
pub mod notices;
pub mod settings;
pub mod transport;
pub mod worker;

use std::sync::Arc;

use serde_json::json;
use tokio::sync::Notify;

use crate::audit::{self, Origin};
use crate::config::Config;
use crate::crypto::EncryptionKey;
use crate::store::{NewMail, OutboxMail, Store, StoreError, Tx, new_id, now};

pub use settings::{Kind, MailSettings, Policy};

/// A worker holds a claimed message this long; sending gives up well before.
pub const LEASE_SECS: i64 = 600;
/// One delivery attempt may take at most this long.
const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);
/// Retry for at least this long before a message counts as failed.
pub const GIVE_UP_AFTER: i64 = 24 * 3600;

/// Why a message could not be composed.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("template: {0}")]
    Template(#[from] askama::Error),
    #[error("{0}")]
    Other(String),
}

/// Email for the whole server: settings, composing, the outbox worker's wake-up.
#[derive(Clone)]
pub struct Mail(Arc<MailInner>);

pub struct MailInner {
    pub store: Store,
    pub encryption: Arc<EncryptionKey>,
    pub config: Config,
    /// The name at start; the runtime settings' name wins once they are attached.
    app_name_at_start: String,
    runtime: std::sync::OnceLock<Arc<crate::settings::Settings>>,
    geoip: Option<geoip::GeoIp>,
    wake: Notify,
    /// This process's name on the leases it takes.
    owner: String,
    /// `refuses_unverified`, as last read and when (see there).
    gate: std::sync::Mutex<Option<(std::time::Instant, bool)>>,
}

impl std::ops::Deref for Mail {
    type Target = MailInner;
    fn deref(&self) -> &MailInner {
        &self.0
    }
}

/// A composed message, plus the single-use token its link carries (stored with it).
pub struct Prepared {
    pub mail: NewMail,
    pub token: Option<PreparedToken>,
}

pub struct PreparedToken {
    pub hash: String,
    pub user_id: String,
    pub purpose: &'static str,
    pub email: Option<String>,
    pub expires_at: i64,
}

impl Prepared {
    /// Insert the message (and its token) in the caller's transaction.
    pub async fn queue_in(&self, tx: &mut Tx) -> Result<(), StoreError> {
        if let Some(t) = &self.token {
            Store::insert_user_token_in(
                tx,
                &t.hash,
                &t.user_id,
                t.purpose,
                t.email.as_deref(),
                t.expires_at,
            )
            .await?;
        }
        Store::enqueue_mail_in(tx, &self.mail).await
    }
}

/// The sealed parts of a message.
#[derive(serde::Serialize, serde::Deserialize)]
struct Body {
    text: String,
    html: String,
}

fn seal_context(id: &str) -> String {
    format!("mail:{id}")
}

impl Mail {
    /// Set up email; a GeoIP database that cannot be read is a setting error.
    pub fn new(
        config: &Config,
        store: Store,
        encryption: Arc<EncryptionKey>,
        app_name: &str,
    ) -> Result<Mail, crate::config::ConfigError> {
        let geoip = match &config.geoip_db {
            Some(path) => Some(
                geoip::GeoIp::open(path)
                    .map_err(|e| crate::config::ConfigError::new("LATCHKEY_GEOIP_DB", e))?,
            ),
            None => None,
        };
        Ok(Mail(Arc::new(MailInner {
            store,
            encryption,
            config: config.clone(),
            app_name_at_start: app_name.to_string(),
            runtime: std::sync::OnceLock::new(),
            geoip,
            wake: Notify::new(),
            owner: new_id(),
            gate: std::sync::Mutex::new(None),
        })))
    }

    /// Follow the admin's runtime settings (application name and logo) from now on.
    pub fn with_settings(self, runtime: Arc<crate::settings::Settings>) -> Mail {
        let _ = self.runtime.set(runtime);
        self
    }

    /// The application name messages are signed with.
    pub fn app_name(&self) -> String {
        match self.runtime.get() {
            Some(r) => r.get().app_name.clone(),
            None => self.app_name_at_start.clone(),
        }
    }

    /// The absolute address of the application logo, when one was uploaded.
    fn logo_url(&self) -> Option<String> {
        let version = self.runtime.get()?.get().app_logo.clone()?;
        Some(self.link(&format!("/pictures/app?v={version}")))
    }

    /// The settings in force now (environment over the admin console's values).
    pub async fn settings(&self) -> Result<MailSettings, StoreError> {
        settings::load(
            &self.store,
            &self.config,
            &self.encryption,
            &self.app_name(),
        )
        .await
    }

    /// Whether a user whose address is unverified is kept from applications: the
    /// policy asks for verification and a verification mail can be sent. Asked at every
    /// authorization, so it is cached like the runtime settings: re-read at most every
    /// `crate::settings::REFRESH_AFTER` (other instances follow within it), and at once
    /// after a change on this instance (`settings_changed`).
    pub async fn refuses_unverified(&self) -> Result<bool, StoreError> {
        let cached = *self.gate.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((read_at, refuses)) = cached
            && read_at.elapsed() < crate::settings::REFRESH_AFTER
        {
            return Ok(refuses);
        }
        let settings = self.settings().await?;
        let refuses = settings.policy.needs_verification() && settings.sends(Kind::VerifyEmail);
        *self.gate.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((std::time::Instant::now(), refuses));
        Ok(refuses)
    }

    /// The email settings were changed here: forget what was cached from them.
    pub fn settings_changed(&self) {
        *self.gate.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// An absolute URL on this server.
    pub fn link(&self, path: &str) -> String {
        self.config.app_url.join(path)
    }

    /// "City, Country" for an address, when a GeoIP database is configured.
    pub fn locate(&self, ip: std::net::IpAddr) -> Option<String> {
        self.geoip.as_ref().and_then(|g| g.locate(ip))
    }

    /// Render and seal a message for the outbox.
    pub fn compose(
        &self,
        kind: Kind,
        to: &str,
        user_id: Option<&str>,
        content: &messages::Content,
    ) -> Result<NewMail, MailError> {
        let app_name = self.app_name();
        let logo_url = self.logo_url();
        let brand = messages::Brand {
            app_name: &app_name,
            app_url: self.config.app_url.as_str(),
            logo_url: logo_url.as_deref(),
        };
        let (text, html) = messages::render(&brand, content)?;
        let id = new_id();
        let body = serde_json::to_vec(&Body { text, html })
            .map_err(|e| MailError::Other(e.to_string()))?;
        Ok(NewMail {
            body_sealed: self.encryption.seal(&seal_context(&id), &body),
            message_id: format!("<{id}@{}>", self.config.app_url.host()),
            kind: kind.as_str().to_string(),
            recipient: to.to_string(),
            user_id: user_id.map(str::to_string),
            subject: content.subject.clone(),
            id,
        })
    }

    /// Tell the worker that a message was queued (after the commit).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Send one claimed message. On failure it is queued again with back-off, or
    /// marked failed when `retry` is false or it has been tried for a day.
    pub async fn deliver(&self, mail: &OutboxMail, retry: bool) -> Result<(), String> {
        let outcome = match self.settings().await {
            Ok(s) => match s.smtp {
                Some(smtp) => self.attempt(&smtp, mail).await,
                None => Err("email is not set up (no SMTP host or From address)".to_string()),
            },
            Err(e) => Err(format!("cannot read the email settings: {e}")),
        };
        let origin = Origin::default();
        let details = |extra: serde_json::Value| {
            let mut d = json!({
                "mail_id": mail.id, "kind": mail.kind, "to": mail.recipient,
                "attempt": mail.attempts,
            });
            if let (Some(d), Some(e)) = (d.as_object_mut(), extra.as_object()) {
                d.extend(e.clone());
            }
            d
        };
        match &outcome {
            Ok(()) => {
                match self.store.mark_mail_sent(&mail.id, &self.owner).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(mail_id = %mail.id, "a sent message had lost its lease")
                    }
                    Err(e) => {
                        tracing::error!(mail_id = %mail.id, error = %e, "a sent message could not be marked sent; it may be sent again")
                    }
                }
                let _ = audit::record(
                    &self.store,
                    "mail.sent",
                    &origin,
                    mail.user_id.as_deref(),
                    details(json!({})),
                )
                .await;
            }
            Err(error) => {
                let t = now();
                let retry_at = (retry && t - mail.created_at < GIVE_UP_AFTER)
                    .then(|| t + backoff(mail.attempts));
                if let Err(e) = self
                    .store
                    .mark_mail_attempt_failed(&mail.id, &self.owner, error, retry_at)
                    .await
                {
                    tracing::error!(mail_id = %mail.id, error = %e, "cannot record a failed delivery");
                }
                let _ = audit::record(
                    &self.store,
                    "mail.failed",
                    &origin,
                    mail.user_id.as_deref(),
                    details(json!({"error": error, "retry_at": retry_at})),
                )
                .await;
            }
        }
        outcome
    }

    async fn attempt(&self, smtp: &settings::Smtp, mail: &OutboxMail) -> Result<(), String> {
        let sealed = mail
            .body_sealed
            .as_deref()
            .ok_or("the message has no content left")?;
        let body: Body = self
            .encryption
            .open(&seal_context(&mail.id), sealed)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("the message cannot be decrypted (was the encryption key changed?)")?;
        let envelope = transport::Envelope {
            to: &mail.recipient,
            subject: &mail.subject,
            message_id: &mail.message_id,
            text: body.text,
            html: body.html,
        };
        match tokio::time::timeout(ATTEMPT_TIMEOUT, transport::send(smtp, &envelope)).await {
            Ok(r) => r,
            Err(_) => Err("the SMTP server did not finish within 5 minutes".into()),
        }
    }

    /// Queue a message now and send it at once, reporting the exact outcome; it is
    /// not retried (a test email). It is queued already leased to this process, so the
    /// worker cannot take it first.
    pub async fn send_now(&self, mail: NewMail) -> Result<(), String> {
        let t = now();
        let claimed = self
            .store
            .enqueue_mail_leased(&mail, &self.owner, t + LEASE_SECS)
            .await
            .map_err(|e| format!("cannot queue the message: {e}"))?;
        self.deliver(&claimed, false).await
    }

    /// Send a test email to `to` and say exactly how it went.
    pub async fn send_test(&self, to: &str, origin: &Origin) -> Result<(), String> {
        let to = crate::domain::user::normalize_email(to).map_err(|e| e.message)?;
        let content = messages::test(&self.app_name(), &crate::web::when(now()));
        let mail = self
            .compose(Kind::Test, &to, origin.actor_id.as_deref(), &content)
            .map_err(|e| e.to_string())?;
        let _ = audit::record(
            &self.store,
            "mail.test_requested",
            origin,
            None,
            json!({"to": to, "mail_id": mail.id}),
        )
        .await;
        self.send_now(mail).await
    }

    /// This process's lease name (the worker's).
    pub(crate) fn owner(&self) -> &str {
        &self.owner
    }

    pub(crate) async fn woken(&self) {
        self.wake.notified().await
    }
}

/// Seconds to wait after the `attempts`-th failure: 10 s, 20 s, 40 s … at most an hour.
pub fn backoff(attempts: i64) -> i64 {
    let exp = (attempts.max(1) - 1).min(12) as u32;
    (10i64 << exp).min(3600)
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(super::backoff(1), 10);
        assert_eq!(super::backoff(2), 20);
        assert_eq!(super::backoff(9), 2560);
        assert_eq!(super::backoff(10), 3600);
        assert_eq!(super::backoff(40), 3600);
    }
}
