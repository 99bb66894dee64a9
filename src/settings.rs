//! Settings an admin may change while Latchkey runs (application name, sessions,
//! signup, sign-in policy).
//!
//! Each one is also an ordinary setting in `config/`: an operator who sets it by
//! environment variable or TOML file fixes it, and the admin console shows it
//! read-only. Otherwise the value stored in `app_settings` applies, else the default.
//! Values are cached in memory and re-read at most every ten seconds, so a change made
//! on another instance arrives within that time; a change made here applies at once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::config::{
    AppName, Config, DurationSetting, SETTINGS, SettingValue, SignupMode, Source, Toggle,
    UserVerification,
};
use crate::store::{Store, StoreError};

/// How long a value read from the database is trusted before it is read again.
pub const REFRESH_AFTER: Duration = Duration::from_secs(10);

/// The values in force now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeSettings {
    pub app_name: String,
    pub signup_mode: SignupMode,
    pub password_login: bool,
    pub totp_required: bool,
    pub passkey_user_verification: UserVerification,
    /// Seconds.
    pub session_idle_timeout: i64,
    /// Seconds.
    pub session_lifetime: i64,
    /// The version of the uploaded application logo, when there is one.
    pub app_logo: Option<String>,
}

/// How an editable setting is entered in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// A length of time like `12h` or `30d`.
    Duration,
    /// One of a few words; the first is what the form shows first.
    Choice(&'static [&'static str]),
}

/// One setting the admin console and the API may change.
#[derive(Debug, Clone, Copy)]
pub struct Editable {
    /// The key shared with `config/` (and the TOML file, and `app_settings`).
    pub key: &'static str,
    pub label: &'static str,
    /// One sentence for the admin console.
    pub help: &'static str,
    pub kind: Kind,
}

/// Every runtime setting, in the order the console shows them.
pub const EDITABLE: &[Editable] = &[
    Editable {
        key: "app_name",
        help: "The name people see on every page and in emails.",
        label: "Application name",
        kind: Kind::Text,
    },
    Editable {
        key: "signup_mode",
        help: "Who may create an account: disabled (only admins create users), invite (with an invite link) or open (anyone).",
        label: "Sign-up",
        kind: Kind::Choice(&["disabled", "invite", "open"]),
    },
    Editable {
        key: "password_login",
        help: "Whether people may sign in with a username and password (plus TOTP). Passkeys and login links always work.",
        label: "Password sign-in",
        kind: Kind::Choice(&["enabled", "disabled"]),
    },
    Editable {
        key: "totp_required",
        help: "When true, every password sign-in also needs an authenticator code; accounts without one must use a passkey.",
        label: "Require TOTP for password sign-ins",
        kind: Kind::Choice(&["false", "true"]),
    },
    Editable {
        key: "passkey_user_verification",
        help: "Required: every passkey use needs a PIN or biometrics. Preferred: touching the key is enough where it cannot verify.",
        label: "Passkey user verification",
        kind: Kind::Choice(&["required", "preferred"]),
    },
    Editable {
        key: "session_idle_timeout",
        help: "A session not used for this long ends (e.g. 12h, 7d).",
        label: "Session idle timeout",
        kind: Kind::Duration,
    },
    Editable {
        key: "session_lifetime",
        help: "A session ends this long after sign-in, used or not (e.g. 30d).",
        label: "Session lifetime",
        kind: Kind::Duration,
    },
];

/// Where the value in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Environment variable or TOML file: read-only here.
    Operator,
    /// Changed by an admin; stored in the database.
    Database,
    Default,
}

/// One setting as the console and the API show it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SettingView {
    pub key: &'static str,
    pub label: &'static str,
    #[serde(skip)]
    #[schema(ignore)]
    pub kind: Kind,
    pub help: &'static str,
    /// The environment variable that would fix it.
    pub env: &'static str,
    pub value: String,
    pub origin: Origin,
    pub editable: bool,
}

/// A change an admin asked for was refused; messages by key.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("some values cannot be used")]
    Invalid(BTreeMap<String, String>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The audit details of a change: `{"before": {key: text}, "after": {key: text}}`.
pub fn audit_summary(changed: &[Changed]) -> serde_json::Value {
    let side = |pick: fn(&Changed) -> &String| {
        changed
            .iter()
            .map(|c| (c.key.clone(), serde_json::Value::String(pick(c).clone())))
            .collect::<serde_json::Map<_, _>>()
    };
    serde_json::json!({ "before": side(|c| &c.before), "after": side(|c| &c.after) })
}

/// One setting that changed: for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Changed {
    pub key: String,
    pub before: String,
    pub after: String,
}

struct Snapshot {
    values: Arc<RuntimeSettings>,
    /// The texts in force, by key (for views and before/after summaries).
    texts: BTreeMap<&'static str, (String, Origin)>,
    loaded_at: Instant,
}

/// The runtime settings of this process.
pub struct Settings {
    config: Config,
    store: Store,
    snapshot: RwLock<Arc<Snapshot>>,
    refreshing: Arc<AtomicBool>,
}

impl Settings {
    /// Read the stored values once; fails only when the database does.
    pub async fn load(config: &Config, store: Store) -> Result<Arc<Settings>, StoreError> {
        let stored = store.all_settings().await?;
        let snapshot = resolve(config, &stored);
        Ok(Arc::new(Settings {
            config: config.clone(),
            store,
            snapshot: RwLock::new(Arc::new(snapshot)),
            refreshing: Arc::new(AtomicBool::new(false)),
        }))
    }

    /// The values in force. Starts a background re-read when the cache is old; never waits.
    pub fn get(self: &Arc<Self>) -> Arc<RuntimeSettings> {
        let snapshot = self.snapshot();
        if snapshot.loaded_at.elapsed() >= REFRESH_AFTER
            && !self.refreshing.swap(true, Ordering::AcqRel)
        {
            let this = self.clone();
            tokio::spawn(async move {
                if let Err(e) = this.reload().await {
                    tracing::warn!(error = %e, "could not re-read the settings");
                }
                this.refreshing.store(false, Ordering::Release);
            });
        }
        snapshot.values.clone()
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Read the stored values again now.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let stored = self.store.all_settings().await?;
        let fresh = Arc::new(resolve(&self.config, &stored));
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// Every editable setting with its value in force and where it comes from.
    pub fn views(&self) -> Vec<SettingView> {
        let snapshot = self.snapshot();
        EDITABLE
            .iter()
            .map(|e| {
                let spec = spec(e.key);
                let (value, origin) = snapshot.texts[e.key].clone();
                SettingView {
                    key: e.key,
                    label: e.label,
                    kind: e.kind,
                    help: e.help,
                    env: spec.env,
                    value,
                    origin,
                    editable: origin != Origin::Operator,
                }
            })
            .collect()
    }

    /// Apply the changes (key → text; an empty text returns to the default) all or
    /// nothing, and return what changed.
    pub async fn update(
        &self,
        changes: &BTreeMap<String, String>,
    ) -> Result<Vec<Changed>, UpdateError> {
        let before = self.snapshot();
        let mut stored = self.store.all_settings().await?;
        let mut errors = BTreeMap::new();
        for (key, text) in changes {
            let Some(editable) = EDITABLE.iter().find(|e| e.key == key) else {
                errors.insert(key.clone(), "is not a setting that can be changed".into());
                continue;
            };
            if before.texts[editable.key].1 == Origin::Operator {
                errors.insert(
                    key.clone(),
                    format!(
                        "is set by {} and cannot be changed here",
                        spec(editable.key).env
                    ),
                );
                continue;
            }
            let text = text.trim();
            if text.is_empty() {
                stored.remove(key);
                continue;
            }
            match check(editable.key, text) {
                Ok(normal) => {
                    stored.insert(key.clone(), normal);
                }
                Err(problem) => {
                    errors.insert(key.clone(), problem);
                }
            }
        }
        if errors.is_empty() {
            let after = resolve(&self.config, &stored);
            if after.values.session_idle_timeout > after.values.session_lifetime {
                errors.insert(
                    "session_idle_timeout".into(),
                    "must not be longer than the session lifetime".into(),
                );
            }
        }
        if !errors.is_empty() {
            return Err(UpdateError::Invalid(errors));
        }
        let writes: Vec<(String, Option<String>)> = changes
            .keys()
            .map(|k| (k.clone(), stored.get(k).cloned()))
            .collect();
        self.store.replace_settings(&writes).await?;
        self.reload().await?;
        let after = self.snapshot();
        Ok(EDITABLE
            .iter()
            .filter_map(|e| {
                let (b, _) = &before.texts[e.key];
                let (a, _) = &after.texts[e.key];
                (a != b).then(|| Changed {
                    key: e.key.to_string(),
                    before: b.clone(),
                    after: a.clone(),
                })
            })
            .collect())
    }
}

fn spec(key: &str) -> &'static crate::config::SettingSpec {
    SETTINGS
        .iter()
        .find(|s| s.key == key)
        .expect("every editable setting is declared in config/")
}

/// Parse a value the way the setting's own type does; give its normal text form.
fn check(key: &str, text: &str) -> Result<String, String> {
    Ok(match key {
        "app_name" => AppName::parse_setting(text)?.0,
        "signup_mode" => SignupMode::parse_setting(text)?.as_str().to_string(),
        "password_login" => match Toggle::parse_setting(text)? {
            Toggle::Enabled => "enabled".into(),
            Toggle::Disabled => "disabled".into(),
        },
        "totp_required" => bool::parse_setting(text)?.to_string(),
        "passkey_user_verification" => match UserVerification::parse_setting(text)? {
            UserVerification::Required => "required".into(),
            UserVerification::Preferred => "preferred".into(),
        },
        "session_idle_timeout" | "session_lifetime" => {
            DurationSetting::parse_setting(text)?;
            text.to_string()
        }
        _ => return Err("is not a setting that can be changed".into()),
    })
}

/// The value in force for each runtime setting: operator's, else stored, else default.
fn resolve(config: &Config, stored: &BTreeMap<String, String>) -> Snapshot {
    let mut texts = BTreeMap::new();
    for e in EDITABLE {
        let operator = matches!(
            config.sources.get(e.key),
            Some(Source::Env) | Some(Source::File)
        );
        let (text, origin) = if operator {
            (config_text(config, e.key), Origin::Operator)
        } else {
            match stored.get(e.key) {
                // A stored value that no longer parses (older version, hand edit) is ignored.
                Some(t) if check(e.key, t).is_ok() => (t.clone(), Origin::Database),
                Some(t) => {
                    tracing::warn!(setting = e.key, value = %t, "ignoring a stored setting that cannot be used");
                    (config_text(config, e.key), Origin::Default)
                }
                None => (config_text(config, e.key), Origin::Default),
            }
        };
        texts.insert(e.key, (text, origin));
    }
    let text = |key: &str| texts[key].0.as_str();
    let values = RuntimeSettings {
        app_name: AppName::parse_setting(text("app_name"))
            .map(|n| n.0)
            .unwrap_or_else(|_| config.app_name.0.clone()),
        signup_mode: SignupMode::parse_setting(text("signup_mode")).unwrap_or(config.signup_mode),
        password_login: Toggle::parse_setting(text("password_login"))
            .unwrap_or(config.password_login)
            .is_enabled(),
        totp_required: bool::parse_setting(text("totp_required")).unwrap_or(config.totp_required),
        passkey_user_verification: UserVerification::parse_setting(text(
            "passkey_user_verification",
        ))
        .unwrap_or(config.passkey_user_verification),
        session_idle_timeout: DurationSetting::parse_setting(text("session_idle_timeout"))
            .unwrap_or(config.session_idle_timeout)
            .secs(),
        session_lifetime: DurationSetting::parse_setting(text("session_lifetime"))
            .unwrap_or(config.session_lifetime)
            .secs(),
        app_logo: stored.get("app_logo").filter(|v| !v.is_empty()).cloned(),
    };
    Snapshot {
        values: Arc::new(values),
        texts,
        loaded_at: Instant::now(),
    }
}

/// The text a setting was configured with, or its default.
fn config_text(config: &Config, key: &str) -> String {
    config
        .texts
        .get(key)
        .cloned()
        .or_else(|| spec(key).default.map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(env: &[(&str, &str)], stored: &[(&str, &str)]) -> Snapshot {
        let config = Config::from_pairs(env).unwrap();
        let stored = stored
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve(&config, &stored)
    }

    #[test]
    fn the_operator_wins_over_the_database_which_wins_over_the_default() {
        let s = snapshot(
            &[("LATCHKEY_APP_NAME", "Home SSO")],
            &[("app_name", "Ignored"), ("signup_mode", "invite")],
        );
        assert_eq!(s.values.app_name, "Home SSO");
        assert_eq!(s.texts["app_name"].1, Origin::Operator);
        assert_eq!(s.values.signup_mode, SignupMode::Invite);
        assert_eq!(s.texts["signup_mode"].1, Origin::Database);
        assert!(s.values.password_login);
        assert_eq!(s.texts["password_login"].1, Origin::Default);
        assert_eq!(s.values.session_lifetime, 30 * 24 * 3600);
    }

    #[test]
    fn a_stored_value_that_cannot_be_used_falls_back_to_the_default() {
        let s = snapshot(&[], &[("session_lifetime", "soon")]);
        assert_eq!(s.values.session_lifetime, 30 * 24 * 3600);
        assert_eq!(s.texts["session_lifetime"].1, Origin::Default);
    }

    #[test]
    fn every_editable_setting_is_declared_and_checked() {
        for e in EDITABLE {
            let default = spec(e.key)
                .default
                .expect("editable settings have defaults");
            assert!(check(e.key, default).is_ok(), "{}", e.key);
        }
    }
}
