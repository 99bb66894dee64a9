//! Email settings: the SMTP server (environment first, else the admin console's values
//! in `app_settings` under `mail.`), which messages are sent, and the email policy.
//! The SMTP password set in the console is stored sealed with the encryption key.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::config::{Config, EmailAddress, SettingValue, SmtpSecurity};
use crate::crypto::EncryptionKey;
use crate::store::{Store, StoreError};

const PASSWORD_KEY: &str = "mail.smtp_password";

/// The kinds of message, each with its own on/off switch (the test email has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    NewDevice,
    VerifyEmail,
    EmailChanged,
    LoginCodeAdmin,
    LoginCodeSelf,
    ApiKeyExpiring,
    AccountExists,
    Test,
}

impl Kind {
    pub const SWITCHABLE: [Kind; 7] = [
        Kind::NewDevice,
        Kind::VerifyEmail,
        Kind::EmailChanged,
        Kind::LoginCodeAdmin,
        Kind::LoginCodeSelf,
        Kind::ApiKeyExpiring,
        Kind::AccountExists,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::NewDevice => "new_device",
            Kind::VerifyEmail => "verify_email",
            Kind::EmailChanged => "email_changed",
            Kind::LoginCodeAdmin => "login_code_admin",
            Kind::LoginCodeSelf => "login_code_self",
            Kind::ApiKeyExpiring => "api_key_expiring",
            Kind::AccountExists => "account_exists",
            Kind::Test => "test",
        }
    }

    /// What the switch is called in the admin console.
    pub fn label(self) -> &'static str {
        match self {
            Kind::NewDevice => "Sign-in from a new device",
            Kind::VerifyEmail => "Email address verification",
            Kind::EmailChanged => "Email address changed (to the old address)",
            Kind::LoginCodeAdmin => "Login code sent by an administrator",
            Kind::LoginCodeSelf => "Login code requested on the sign-in page",
            Kind::ApiKeyExpiring => "API key expires in seven days",
            Kind::AccountExists => "Sign-up tried with an address that has an account",
            Kind::Test => "Test email",
        }
    }

    fn key(self) -> String {
        format!("mail.notice.{}", self.as_str())
    }
}

/// Who must have an address, and whether it must be proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// No account without an email address.
    pub require_email: bool,
    /// New and changed addresses count as verified; when off, a user must click the
    /// link sent to their address before they can sign in to any application.
    pub verified_by_default: bool,
    /// Users may change their own address on their profile page.
    pub users_change_email: bool,
}

impl Policy {
    /// Must this address be verified before the user may use applications?
    pub fn needs_verification(&self) -> bool {
        !self.verified_by_default
    }
}

const POLICY_KEYS: [(&str, bool); 3] = [
    ("mail.policy.require_email", true),
    ("mail.policy.verified_by_default", false),
    ("mail.policy.users_change_email", true),
];

/// Everything needed to talk to the SMTP server.
#[derive(Clone, PartialEq, Eq)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from_address: String,
    pub from_name: String,
    pub ca_file: Option<PathBuf>,
    pub skip_verification: bool,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smtp")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("from_address", &self.from_address)
            .field("skip_verification", &self.skip_verification)
            .finish()
    }
}

/// One SMTP field as the admin page shows it.
#[derive(Debug, Clone, Default)]
pub struct Field {
    pub value: String,
    /// Set by the environment (or the TOML file): shown read-only.
    pub fixed: bool,
}

/// The SMTP fields, for the admin form.
#[derive(Debug, Clone, Default)]
pub struct SmtpForm {
    pub host: Field,
    pub port: Field,
    pub security: Field,
    pub username: Field,
    /// Whether a password is set (never its value).
    pub password_set: bool,
    pub password_fixed: bool,
    pub from_address: Field,
    pub from_name: Field,
    pub ca_file: Field,
    pub skip_verification: Field,
}

/// Email settings as they are now.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `None` until a host and a From address are set: then no email is sent.
    pub smtp: Option<Smtp>,
    pub form: SmtpForm,
    pub enabled: BTreeMap<Kind, bool>,
    pub policy: Policy,
}

impl MailSettings {
    /// Is email set up and this kind of message switched on?
    pub fn sends(&self, kind: Kind) -> bool {
        self.smtp.is_some() && self.enabled.get(&kind).copied().unwrap_or(true)
    }
}

/// A value from the admin form that cannot be used; `field` names the input.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct FormError {
    pub field: &'static str,
    pub message: String,
}

/// What the admin submitted for the SMTP server. Fields the environment sets are ignored.
#[derive(Debug, Clone, Default)]
pub struct SmtpInput {
    pub host: String,
    pub port: String,
    pub security: String,
    pub username: String,
    /// Empty keeps the stored password.
    pub password: String,
    pub clear_password: bool,
    pub from_address: String,
    pub from_name: String,
    pub ca_file: String,
    pub skip_verification: bool,
}

fn field(env: Option<String>, db: Option<&String>) -> Field {
    match env {
        Some(v) => Field {
            value: v,
            fixed: true,
        },
        None => Field {
            value: db.cloned().unwrap_or_default(),
            fixed: false,
        },
    }
}

fn truthy(text: Option<&String>, default: bool) -> bool {
    text.and_then(|t| bool::parse_setting(t).ok())
        .unwrap_or(default)
}

/// Read the effective settings: environment over database over defaults.
pub async fn load(
    store: &Store,
    config: &Config,
    keys: &EncryptionKey,
    app_name: &str,
) -> Result<MailSettings, StoreError> {
    let db = store.all_settings().await?;
    let get = |k: &str| db.get(&format!("mail.smtp_{k}"));
    let form = SmtpForm {
        host: field(config.smtp_host.clone(), get("host")),
        port: field(config.smtp_port.map(|p| p.to_string()), get("port")),
        security: field(
            config.smtp_security.map(|s| s.as_str().to_string()),
            get("security"),
        ),
        username: field(config.smtp_username.clone(), get("username")),
        password_set: config.smtp_password.is_some() || get("password").is_some(),
        password_fixed: config.smtp_password.is_some(),
        from_address: field(config.smtp_from.as_ref().map(|e| e.0.clone()), get("from")),
        from_name: field(config.smtp_from_name.clone(), get("from_name")),
        ca_file: field(
            config
                .smtp_ca_file
                .as_ref()
                .map(|p| p.display().to_string()),
            get("ca_file"),
        ),
        skip_verification: field(
            config.smtp_skip_cert_verification.map(|b| b.to_string()),
            get("skip_verification"),
        ),
    };
    let password = match &config.smtp_password {
        Some(p) => Some(p.0.clone()),
        None => match db.get(PASSWORD_KEY) {
            Some(sealed) => {
                let bytes = STANDARD.decode(sealed).unwrap_or_default();
                match keys.open(PASSWORD_KEY, &bytes) {
                    Ok(p) => Some(String::from_utf8_lossy(&p).into_owned()),
                    Err(e) => {
                        tracing::error!(error = %e, "the stored SMTP password cannot be decrypted");
                        None
                    }
                }
            }
            None => None,
        },
    };
    let smtp = parse_smtp(&form, password, app_name).ok().flatten();
    let enabled = Kind::SWITCHABLE
        .iter()
        .map(|k| (*k, truthy(db.get(&k.key()), true)))
        .collect();
    let p = |i: usize| truthy(db.get(POLICY_KEYS[i].0), POLICY_KEYS[i].1);
    let policy = Policy {
        require_email: p(0),
        verified_by_default: p(1),
        users_change_email: p(2),
    };
    Ok(MailSettings {
        smtp,
        form,
        enabled,
        policy,
    })
}

/// The SMTP server the fields describe; `Ok(None)` when host or From is missing.
fn parse_smtp(
    form: &SmtpForm,
    password: Option<String>,
    app_name: &str,
) -> Result<Option<Smtp>, FormError> {
    let bad = |field: &'static str, message: String| FormError { field, message };
    let host = form.host.value.trim();
    let from = form.from_address.value.trim();
    let security = match form.security.value.trim() {
        "" => SmtpSecurity::StartTls,
        s => SmtpSecurity::parse_setting(s).map_err(|m| bad("security", m))?,
    };
    let port = match form.port.value.trim() {
        "" => security.default_port(),
        p => u16::parse_setting(p).map_err(|m| bad("port", m))?,
    };
    if !from.is_empty() {
        EmailAddress::parse_setting(from).map_err(|m| bad("from_address", m))?;
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(bad("host", format!("`{host}` is not a host name")));
    }
    let skip_verification = match form.skip_verification.value.trim() {
        "" => false,
        v => bool::parse_setting(v).map_err(|m| bad("skip_verification", m))?,
    };
    if host.is_empty() || from.is_empty() {
        return Ok(None);
    }
    let username = Some(form.username.value.trim().to_string()).filter(|u| !u.is_empty());
    let from_name = match form.from_name.value.trim() {
        "" => app_name.to_string(),
        n => n.to_string(),
    };
    Ok(Some(Smtp {
        host: host.to_string(),
        port,
        security,
        username,
        password: password.filter(|p| !p.is_empty()),
        from_address: from.to_string(),
        from_name,
        ca_file: Some(form.ca_file.value.trim())
            .filter(|c| !c.is_empty())
            .map(PathBuf::from),
        skip_verification,
    }))
}

/// Check and store what the admin submitted; returns the keys that changed (never a
/// password). Fields fixed by the environment are left alone.
pub async fn save_smtp(
    store: &Store,
    current: &SmtpForm,
    keys: &EncryptionKey,
    input: &SmtpInput,
) -> Result<Result<Vec<&'static str>, FormError>, StoreError> {
    let take = |f: &Field, typed: &str| Field {
        value: if f.fixed {
            f.value.clone()
        } else {
            typed.trim().to_string()
        },
        fixed: f.fixed,
    };
    let proposed = SmtpForm {
        host: take(&current.host, &input.host),
        port: take(&current.port, &input.port),
        security: take(&current.security, &input.security),
        username: take(&current.username, &input.username),
        from_address: take(&current.from_address, &input.from_address),
        from_name: take(&current.from_name, &input.from_name),
        ca_file: take(&current.ca_file, &input.ca_file),
        skip_verification: take(
            &current.skip_verification,
            if input.skip_verification {
                "true"
            } else {
                "false"
            },
        ),
        ..current.clone()
    };
    if let Err(e) = parse_smtp(&proposed, None, "") {
        return Ok(Err(e));
    }
    if !proposed.ca_file.fixed
        && !proposed.ca_file.value.is_empty()
        && let Err(e) = std::fs::metadata(&proposed.ca_file.value)
    {
        return Ok(Err(FormError {
            field: "ca_file",
            message: format!("cannot read {}: {e}", proposed.ca_file.value),
        }));
    }
    let mut changed = Vec::new();
    let pairs: [(&'static str, &Field, &Field); 8] = [
        ("host", &current.host, &proposed.host),
        ("port", &current.port, &proposed.port),
        ("security", &current.security, &proposed.security),
        ("username", &current.username, &proposed.username),
        ("from", &current.from_address, &proposed.from_address),
        ("from_name", &current.from_name, &proposed.from_name),
        ("ca_file", &current.ca_file, &proposed.ca_file),
        (
            "skip_verification",
            &current.skip_verification,
            &proposed.skip_verification,
        ),
    ];
    for (name, before, after) in pairs {
        if after.fixed || before.value == after.value {
            continue;
        }
        let key = format!("mail.smtp_{name}");
        if after.value.is_empty() {
            store.clear_setting(&key).await?;
        } else {
            store.set_setting(&key, &after.value).await?;
        }
        changed.push(name);
    }
    if !current.password_fixed {
        if input.clear_password && current.password_set {
            store.clear_setting(PASSWORD_KEY).await?;
            changed.push("password");
        } else if !input.password.is_empty() {
            let sealed = keys.seal(PASSWORD_KEY, input.password.as_bytes());
            store
                .set_setting(PASSWORD_KEY, &STANDARD.encode(sealed))
                .await?;
            changed.push("password");
        }
    }
    Ok(Ok(changed))
}

/// Store the message switches and the policy; returns what changed, as (key, new value).
pub async fn save_switches(
    store: &Store,
    current: &MailSettings,
    enabled: &BTreeMap<Kind, bool>,
    policy: Policy,
) -> Result<Vec<(String, bool)>, StoreError> {
    let mut changed = Vec::new();
    for kind in Kind::SWITCHABLE {
        let on = enabled.get(&kind).copied().unwrap_or(false);
        if current.enabled.get(&kind).copied() != Some(on) {
            store.set_setting(&kind.key(), &on.to_string()).await?;
            changed.push((kind.as_str().to_string(), on));
        }
    }
    let old = current.policy;
    for (i, (before, after)) in [
        (old.require_email, policy.require_email),
        (old.verified_by_default, policy.verified_by_default),
        (old.users_change_email, policy.users_change_email),
    ]
    .into_iter()
    .enumerate()
    {
        if before != after {
            store
                .set_setting(POLICY_KEYS[i].0, &after.to_string())
                .await?;
            changed.push((
                POLICY_KEYS[i].0.trim_start_matches("mail.").to_string(),
                after,
            ));
        }
    }
    Ok(changed)
}
