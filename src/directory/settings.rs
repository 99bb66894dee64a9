//! The upstream directory's settings: each an environment variable
//! (`LATCHKEY_DIRECTORY_*`, declared in `config/`) that wins and shows read-only, else
//! the console's value in `app_settings` under `directory.`, else the preset's, else
//! the default. The bind password set in the console is stored sealed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::config::{Config, ConfigError, DurationSetting, SettingValue, Source};
use crate::crypto::EncryptionKey;
use crate::settings::Changed;
use crate::store::{Store, StoreError};

pub use super::fields::{FIELDS, Field, Kind, PRESETS, Section, preset_value};
use super::fields::{check_field, flag, is_loopback, split_url};

const PASSWORD_KEY: &str = "directory.bind_password";

/// Where a value in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// An environment variable (or the TOML file): read-only here.
    Operator,
    Database,
    Preset,
    Default,
}

/// One field as the console and the API show it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct FieldView {
    pub key: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    /// The variable that would fix it.
    pub env: String,
    pub value: String,
    pub origin: Origin,
    #[serde(skip)]
    #[schema(ignore)]
    pub field: &'static Field,
}

impl FieldView {
    pub fn fixed(&self) -> bool {
        self.origin == Origin::Operator
    }
    pub fn is_on(&self) -> bool {
        self.value == "true"
    }
    pub fn choices(&self) -> &'static [&'static str] {
        match self.field.kind {
            Kind::Choice(c) => c,
            _ => &[],
        }
    }
    pub fn selected(&self, choice: &str) -> bool {
        self.value.eq_ignore_ascii_case(choice)
    }
    pub fn is_flag(&self) -> bool {
        self.field.kind == Kind::Flag
    }
    pub fn in_section(&self, name: &str) -> bool {
        self.field.section.name() == name
    }
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// `ldaps://`
    Implicit,
    StartTls,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    Disable,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passwords {
    Directory,
    Local,
}

/// Which attribute holds what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attrs {
    pub unique_id: String,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub picture: Option<String>,
    pub group_name: String,
    pub group_member: String,
}

/// A usable directory configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct DirectoryConfig {
    pub url: String,
    pub host: String,
    pub tls: Tls,
    pub ca_file: Option<PathBuf>,
    pub skip_verify: bool,
    pub bind_dn: String,
    pub bind_password: Option<String>,
    pub base_dn: String,
    pub user_base: String,
    pub group_base: String,
    pub user_filter: String,
    pub group_filter: String,
    pub attrs: Attrs,
    pub admin_group: Option<String>,
    pub interval: Duration,
    pub page_size: i32,
    pub delete_mode: DeleteMode,
    pub max_disable_percent: u32,
    pub passwords: Passwords,
}

impl std::fmt::Debug for DirectoryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryConfig")
            .field("url", &self.url)
            .field("tls", &self.tls)
            .field("bind_dn", &self.bind_dn)
            .field("bind_password", &self.bind_password.as_ref().map(|_| "***"))
            .field("user_base", &self.user_base)
            .field("group_base", &self.group_base)
            .finish_non_exhaustive()
    }
}

/// The settings as they are now: every field's text, and what they make.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub fields: Vec<FieldView>,
    pub password_set: bool,
    pub password_fixed: bool,
    /// `Ok(None)`: no URL, no directory. `Err`: what is wrong, by field.
    pub config: Result<Option<DirectoryConfig>, BTreeMap<String, String>>,
}

impl Resolved {
    pub fn text(&self, key: &str) -> &str {
        self.fields
            .iter()
            .find(|v| v.key == key)
            .map(|v| v.value.as_str())
            .unwrap_or("")
    }

    /// The directory to use, when one is set up and its settings are usable.
    pub fn usable(&self) -> Option<&DirectoryConfig> {
        self.config.as_ref().ok().and_then(Option::as_ref)
    }
}

fn env_name(key: &str) -> String {
    format!("LATCHKEY_DIRECTORY_{}", key.to_ascii_uppercase())
}

fn config_key(key: &str) -> String {
    format!("directory_{key}")
}

/// The texts the operator set, by field key.
fn operator_texts(config: &Config) -> BTreeMap<&'static str, String> {
    FIELDS
        .iter()
        .filter_map(|f| {
            let ck = config_key(f.key);
            let operator = matches!(
                config.sources.get(ck.as_str()),
                Some(Source::Env) | Some(Source::File)
            );
            operator
                .then(|| config.texts.get(ck.as_str()).cloned())
                .flatten()
                .map(|t| (f.key, t))
        })
        .collect()
}

/// Every field's text: operator's, else stored, else the preset's, else the default.
fn resolve_texts(
    operator: &BTreeMap<&'static str, String>,
    stored: &BTreeMap<String, String>,
) -> Vec<FieldView> {
    let pick = |f: &Field, preset: &str| -> (String, Origin) {
        if let Some(t) = operator.get(f.key) {
            return (t.trim().to_string(), Origin::Operator);
        }
        if let Some(t) = stored.get(&format!("directory.{}", f.key)) {
            return (t.clone(), Origin::Database);
        }
        if let Some(t) = preset_value(preset, f.key) {
            return (t.to_string(), Origin::Preset);
        }
        (f.default.to_string(), Origin::Default)
    };
    let preset_field = FIELDS.iter().find(|f| f.key == "preset").expect("declared");
    let (preset, _) = pick(preset_field, "");
    FIELDS
        .iter()
        .map(|f| {
            let (value, origin) = pick(f, &preset);
            FieldView {
                key: f.key,
                label: f.label,
                help: f.help,
                env: env_name(f.key),
                value,
                origin,
                field: f,
            }
        })
        .collect()
}

/// Read the settings in force.
pub async fn load(
    store: &Store,
    config: &Config,
    keys: &EncryptionKey,
) -> Result<Resolved, StoreError> {
    let stored = store.all_settings().await?;
    Ok(resolved(
        config,
        &stored,
        bind_password(config, keys, &stored),
    ))
}

/// The bind password in force: the operator's, else the console's (unsealed).
fn bind_password(
    config: &Config,
    keys: &EncryptionKey,
    stored: &BTreeMap<String, String>,
) -> Option<String> {
    if let Some(p) = &config.directory_bind_password {
        return Some(p.0.clone());
    }
    let sealed = stored.get(PASSWORD_KEY)?;
    let bytes = STANDARD.decode(sealed).unwrap_or_default();
    match keys.open(PASSWORD_KEY, &bytes) {
        Ok(p) => Some(String::from_utf8_lossy(&p).into_owned()),
        Err(e) => {
            tracing::error!(error = %e, "the stored directory bind password cannot be decrypted");
            None
        }
    }
}

/// What the stored texts and this password make.
fn resolved(
    config: &Config,
    stored: &BTreeMap<String, String>,
    password: Option<String>,
) -> Resolved {
    let fields = resolve_texts(&operator_texts(config), stored);
    let texts: BTreeMap<&str, &str> = fields.iter().map(|v| (v.key, v.value.as_str())).collect();
    Resolved {
        password_set: password.is_some(),
        password_fixed: config.directory_bind_password.is_some(),
        config: parse(&texts, password),
        fields,
    }
}

/// Start-up check: what the operator set must be usable on its own terms.
pub fn check_operator(config: &Config) -> Result<(), ConfigError> {
    let operator = operator_texts(config);
    for (key, text) in &operator {
        if let Err(problem) = check_field(key, text) {
            return Err(ConfigError::new(env_name(key), problem));
        }
    }
    Ok(())
}

/// A DN, or an RDN sequence under the base DN.
fn under_base(text: &str, base: &str) -> String {
    if text.is_empty() {
        return base.to_string();
    }
    let (Ok(dn), Ok(base_dn)) = (
        crate::ldap::dn::Dn::parse(text),
        crate::ldap::dn::Dn::parse(base),
    ) else {
        return text.to_string();
    };
    if base.is_empty() || dn.strip_suffix(&base_dn).is_some() {
        text.to_string()
    } else {
        format!("{text},{base}")
    }
}

/// What the texts make, or every problem by field.
fn parse(
    texts: &BTreeMap<&str, &str>,
    password: Option<String>,
) -> Result<Option<DirectoryConfig>, BTreeMap<String, String>> {
    let mut errors = BTreeMap::new();
    for (key, text) in texts {
        if let Err(e) = check_field(key, text) {
            errors.insert(key.to_string(), e);
        }
    }
    let t = |k: &str| texts.get(k).copied().unwrap_or("").to_string();
    if t("url").is_empty() {
        return if errors.is_empty() {
            Ok(None)
        } else {
            Err(errors)
        };
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let (scheme_tls, host) =
        split_url(&t("url")).map_err(|e| BTreeMap::from([("url".to_string(), e)]))?;
    let starttls = flag(&t("starttls")).unwrap_or(false);
    let tls = match (scheme_tls, starttls) {
        (Tls::Implicit, true) => {
            errors.insert(
                "starttls".into(),
                "is for ldap:// URLs; ldaps:// is TLS already".into(),
            );
            Tls::Implicit
        }
        (Tls::None, true) => Tls::StartTls,
        (tls, _) => tls,
    };
    let passwords = if t("passwords").eq_ignore_ascii_case("local") {
        Passwords::Local
    } else {
        Passwords::Directory
    };
    let sends_passwords = password.is_some() || passwords == Passwords::Directory;
    if tls == Tls::None
        && sends_passwords
        && !is_loopback(&host)
        && !flag(&t("allow_unencrypted")).unwrap_or(false)
    {
        errors.insert(
            "url".into(),
            "would send passwords unencrypted: use ldaps://, turn on StartTLS, or tick \"Allow unencrypted\"".into(),
        );
    }
    if t("base_dn").is_empty() {
        errors.insert("base_dn".into(), "must be set".into());
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let base = t("base_dn");
    let opt = |k: &str| Some(t(k)).filter(|v| !v.is_empty());
    Ok(Some(DirectoryConfig {
        url: t("url"),
        host,
        tls,
        ca_file: opt("ca_file").map(PathBuf::from),
        skip_verify: flag(&t("skip_verify")).unwrap_or(false),
        bind_dn: t("bind_dn"),
        bind_password: password.filter(|p| !p.is_empty()),
        user_base: under_base(&t("user_base"), &base),
        group_base: under_base(&t("group_base"), &base),
        base_dn: base,
        user_filter: t("user_filter"),
        group_filter: t("group_filter"),
        attrs: Attrs {
            unique_id: t("attr_unique_id"),
            username: t("attr_username"),
            email: t("attr_email"),
            first_name: t("attr_first_name"),
            last_name: t("attr_last_name"),
            display_name: t("attr_display_name"),
            picture: opt("attr_picture"),
            group_name: t("attr_group_name"),
            group_member: t("attr_group_member"),
        },
        admin_group: opt("admin_group"),
        interval: Duration::from_secs(
            DurationSetting::parse_setting(&t("interval"))
                .map(|d| d.secs() as u64)
                .unwrap_or(3600),
        ),
        page_size: t("page_size").parse().unwrap_or(500),
        delete_mode: if t("delete_mode").eq_ignore_ascii_case("delete") {
            DeleteMode::Delete
        } else {
            DeleteMode::Disable
        },
        max_disable_percent: t("max_disable_percent").parse().unwrap_or(20),
        passwords,
    }))
}

/// What the admin submitted.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// Field key → text; a flag missing from a form is `false`.
    pub values: BTreeMap<String, String>,
    /// Empty keeps the stored password.
    pub password: String,
    pub clear_password: bool,
}

/// The bind password's change, in words (never its value).
fn secret_change(before: &str, after: &str) -> Changed {
    Changed {
        key: "bind_password".into(),
        before: before.into(),
        after: after.into(),
    }
}

/// Check and store what the admin submitted, all or nothing; returns the keys that
/// changed (never a password's value). A value equal to what the preset or the default
/// gives is not stored, so a later change of preset still applies to it.
pub async fn save(
    store: &Store,
    config: &Config,
    keys: &EncryptionKey,
    input: &Input,
) -> Result<Result<Vec<Changed>, BTreeMap<String, String>>, StoreError> {
    let mut stored = store.all_settings().await?;
    let password_now = bind_password(config, keys, &stored);
    let current = resolved(config, &stored, password_now.clone());
    let mut errors = BTreeMap::new();
    for (key, text) in &input.values {
        let Some(view) = current.fields.iter().find(|v| v.key == key) else {
            errors.insert(key.clone(), "is not a directory setting".into());
            continue;
        };
        if view.fixed() {
            if text.trim() != view.value {
                errors.insert(
                    key.clone(),
                    format!("is set by {} and cannot be changed here", view.env),
                );
            }
            continue;
        }
        let text = text.trim();
        let text = match view.field.kind {
            Kind::Choice(choices) => choices
                .iter()
                .find(|c| c.eq_ignore_ascii_case(text))
                .map(|c| c.to_string())
                .unwrap_or_else(|| text.to_string()),
            _ => text.to_string(),
        };
        if let Err(e) = check_field(key, &text) {
            errors.insert(key.clone(), e);
            continue;
        }
        stored.insert(format!("directory.{key}"), text);
    }
    // Values equal to what they would be anyway are not stored.
    let proposed = resolve_texts(&operator_texts(config), &stored);
    let preset = proposed
        .iter()
        .find(|v| v.key == "preset")
        .map(|v| v.value.clone())
        .unwrap_or_default();
    for view in &proposed {
        let k = format!("directory.{}", view.key);
        let fallback = preset_value(&preset, view.key).unwrap_or(view.field.default);
        if view.origin == Origin::Database && view.value == fallback {
            stored.remove(&k);
        }
    }
    let proposed = resolve_texts(&operator_texts(config), &stored);
    // The operator's password wins over whatever the form says about it.
    let password = match (&config.directory_bind_password, input.clear_password) {
        (Some(p), _) => Some(p.0.clone()),
        (None, true) => None,
        (None, false) if !input.password.is_empty() => Some(input.password.clone()),
        (None, false) => password_now,
    };
    if errors.is_empty() {
        let texts: BTreeMap<&str, &str> =
            proposed.iter().map(|v| (v.key, v.value.as_str())).collect();
        if let Err(problems) = parse(&texts, password) {
            errors.extend(problems);
        }
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let mut changed = Vec::new();
    let mut writes = Vec::new();
    for (before, after) in current.fields.iter().zip(&proposed) {
        let k = format!("directory.{}", after.key);
        if before.value != after.value || before.origin != after.origin {
            writes.push((k.clone(), stored.get(&k).cloned()));
            if before.value != after.value {
                changed.push(Changed {
                    key: after.key.to_string(),
                    before: before.value.clone(),
                    after: after.value.clone(),
                });
            }
        }
    }
    if !current.password_fixed {
        if input.clear_password && current.password_set {
            writes.push((PASSWORD_KEY.to_string(), None));
            changed.push(secret_change("set", "removed"));
        } else if !input.password.is_empty() {
            let sealed = keys.seal(PASSWORD_KEY, input.password.as_bytes());
            writes.push((PASSWORD_KEY.to_string(), Some(STANDARD.encode(sealed))));
            let before = if current.password_set { "set" } else { "none" };
            changed.push(secret_change(before, "changed"));
        }
    }
    store.replace_settings(&writes).await?;
    Ok(Ok(changed))
}

/// Store the preset and forget every value of the fields a preset fills, so that the
/// preset's values apply.
pub async fn apply_preset(
    store: &Store,
    config: &Config,
    preset: &str,
) -> Result<Result<Vec<String>, BTreeMap<String, String>>, StoreError> {
    let operator = operator_texts(config);
    if operator.contains_key("preset") {
        return Ok(Err(BTreeMap::from([(
            "preset".to_string(),
            format!(
                "is set by {} and cannot be changed here",
                env_name("preset")
            ),
        )])));
    }
    let Some(preset) = PRESETS.iter().find(|p| p.eq_ignore_ascii_case(preset)) else {
        return Ok(Err(BTreeMap::from([(
            "preset".to_string(),
            format!("must be one of {}", PRESETS.join(", ")),
        )])));
    };
    let mut writes = vec![(
        "directory.preset".to_string(),
        (*preset != "openldap").then(|| preset.to_string()),
    )];
    let filled = FIELDS.iter().filter(|f| {
        f.section == Section::Mapping
            || matches!(
                f.key,
                "user_filter" | "group_filter" | "user_base" | "group_base"
            )
    });
    for f in filled {
        writes.push((format!("directory.{}", f.key), None));
    }
    store.replace_settings(&writes).await?;
    Ok(Ok(vec!["preset".to_string()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(
        stored: &[(&str, &str)],
        password: Option<&str>,
    ) -> Result<Option<DirectoryConfig>, BTreeMap<String, String>> {
        let stored = stored
            .iter()
            .map(|(k, v)| (format!("directory.{k}"), v.to_string()))
            .collect();
        let fields = resolve_texts(&BTreeMap::new(), &stored);
        let texts = fields.iter().map(|v| (v.key, v.value.as_str())).collect();
        parse(&texts, password.map(str::to_string))
    }

    #[test]
    fn nothing_set_is_no_directory() {
        assert_eq!(resolved(&[], None), Ok(None));
    }

    #[test]
    fn the_preset_fills_the_mappings_and_an_admin_value_wins() {
        let c = resolved(
            &[
                ("url", "ldaps://dc1.corp.example"),
                ("base_dn", "dc=corp,dc=example"),
                ("preset", "active-directory"),
                ("attr_email", "userPrincipalName"),
            ],
            Some("pw"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.attrs.unique_id, "objectGUID");
        assert_eq!(c.attrs.username, "sAMAccountName");
        assert_eq!(c.attrs.email, "userPrincipalName");
        assert_eq!(c.group_filter, "(objectClass=group)");
        assert_eq!(c.tls, Tls::Implicit);
        assert_eq!(c.user_base, "dc=corp,dc=example");
        let c = resolved(
            &[
                ("url", "ldap://127.0.0.1:3890"),
                ("base_dn", "dc=example,dc=org"),
                ("preset", "lldap"),
            ],
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.user_base, "ou=people,dc=example,dc=org");
        assert_eq!(c.attrs.username, "uid");
    }

    #[test]
    fn passwords_never_go_unencrypted_to_another_host_unless_allowed() {
        let base = [("base_dn", "dc=example,dc=org")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            resolved(&all, Some("secret"))
        };
        let refused = with(&[("url", "ldap://dir.example.org")]).unwrap_err();
        assert!(refused["url"].contains("unencrypted"), "{refused:?}");
        assert!(with(&[("url", "ldap://dir.example.org"), ("starttls", "true")]).is_ok());
        assert!(with(&[("url", "ldap://127.0.0.1:389")]).is_ok());
        assert!(
            with(&[
                ("url", "ldap://dir.example.org"),
                ("allow_unencrypted", "true")
            ])
            .is_ok()
        );
        assert!(with(&[("url", "ldaps://dir.example.org"), ("starttls", "true")]).is_err());
        assert!(with(&[("url", "http://dir.example.org")]).is_err());
        assert!(with(&[("url", "ldaps://dir.example.org/dc=x")]).is_err());
        assert!(with(&[("url", "ldaps://dir.example.org"), ("user_filter", "(uid=")]).is_err());
        assert!(with(&[("url", "ldaps://dir.example.org"), ("page_size", "0")]).is_err());
    }
}
