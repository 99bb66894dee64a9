//! Every setting of Latchkey, declared once.
//!
//! A setting is read, in order of precedence, from its environment variable
//! (`LATCHKEY_*`), from `<VAR>_FILE` when the setting is a secret, from the optional
//! TOML file (`--config FILE` / `LATCHKEY_CONFIG`, keys are the field names), and
//! finally from its default. The `settings!` table below is the only place a setting
//! is named; the loader, the `--help` text of `latchkey config` and the README table
//! all come from it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

mod values;
pub use values::*;

/// A setting that could not be used; `Display` gives the one line a user sees.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    /// The environment variable (or file) that names the setting.
    pub setting: String,
    /// What is wrong with it.
    pub problem: String,
}

impl ConfigError {
    pub fn new(setting: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError {
            setting: setting.into(),
            problem: problem.into(),
        }
    }
}

/// Where the value of a setting came from; the admin UI shows env-given ones read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Env,
    File,
    Default,
    Unset,
}

/// A value type a setting can have: parsed from the text of an env var or TOML value.
pub trait SettingValue: Sized {
    fn parse_setting(text: &str) -> Result<Self, String>;
}

/// The static description of one setting, for docs and `latchkey config`.
#[derive(Debug, Clone, Copy)]
pub struct SettingSpec {
    pub key: &'static str,
    pub env: &'static str,
    pub default: Option<&'static str>,
    pub secret: bool,
    pub help: &'static str,
}

macro_rules! settings {
    ($(
        #[doc = $help:literal]
        $key:ident : $ty:ty = $env:literal $(, default $default:literal)? $([$secret:ident])? ;
    )*) => {
        /// The resolved configuration of one Latchkey process.
        #[derive(Debug, Clone)]
        pub struct Config {
            $( #[doc = $help] pub $key: $ty, )*
            /// Where each setting's value came from, by key.
            pub sources: BTreeMap<&'static str, Source>,
            /// The text each non-secret setting was given, by key (for `latchkey config`).
            pub texts: BTreeMap<&'static str, String>,
        }

        /// Every setting, in declaration order.
        pub const SETTINGS: &[SettingSpec] = &[
            $( SettingSpec {
                key: stringify!($key),
                env: $env,
                default: settings!(@default $($default)?),
                secret: settings!(@secret $($secret)?),
                help: $help,
            }, )*
        ];

        impl Config {
            /// Resolve every setting from the environment, the TOML file and defaults.
            pub fn resolve(raw: &RawSettings) -> Result<Config, ConfigError> {
                let mut sources = BTreeMap::new();
                let mut texts = BTreeMap::new();
                $(
                    let spec = SETTINGS.iter().find(|s| s.key == stringify!($key)).expect("declared");
                    let (text, source) = raw.lookup(spec)?;
                    sources.insert(spec.key, source);
                    if let (false, Some(t)) = (spec.secret, &text) {
                        texts.insert(spec.key, t.clone());
                    }
                    let $key: $ty = <$ty as OptionalSetting>::from_text(text.as_deref())
                        .map_err(|problem| ConfigError::new(spec.env, problem))?;
                )*
                let config = Config { $( $key, )* sources, texts };
                config.validate()?;
                Ok(config)
            }
        }
    };
    (@default $d:literal) => { Some($d) };
    (@default) => { None };
    (@secret secret) => { true };
    (@secret) => { false };
}

settings! {
    /// Public URL of Latchkey and its OIDC issuer: scheme, host and port, no path.
    app_url: AppUrl = "LATCHKEY_APP_URL", default "http://localhost:1411";
    /// Address and port to listen on.
    listen: SocketAddr = "LATCHKEY_LISTEN", default "0.0.0.0:1411";
    /// Directory for the SQLite database and the generated encryption key.
    data_dir: PathBuf = "LATCHKEY_DATA_DIR", default "./data";
    /// Database URL: `sqlite://FILE` or `postgres://…` (default: SQLite file in the data dir).
    database_url: Option<DatabaseUrl> = "LATCHKEY_DATABASE_URL" [secret];
    /// Master key for secrets at rest (any string of 32+ characters); generated into the data dir when unset.
    encryption_key: Option<SecretString> = "LATCHKEY_ENCRYPTION_KEY" [secret];
    /// Comma-separated proxy CIDRs whose X-Forwarded-For / X-Forwarded-Proto are believed.
    trust_proxy: TrustedProxies = "LATCHKEY_TRUST_PROXY", default "";
    /// The domain of the proxy cookie that forward-auth reads on the proxied hosts (e.g. `example.org`; must contain the host of LATCHKEY_APP_URL); unset: no proxy cookie.
    proxy_cookie_domain: Option<CookieDomain> = "LATCHKEY_PROXY_COOKIE_DOMAIN";
    /// Which addresses WebFinger (`/.well-known/webfinger`, OIDC issuer discovery) answers for: `own-domain` (existing accounts at the domain of LATCHKEY_APP_URL), `any` (every existing account) or `off`.
    webfinger: WebfingerMode = "LATCHKEY_WEBFINGER", default "own-domain";
    /// How long a client has to send a request's line and headers, and how long an idle keep-alive connection stays open (e.g. `10s`).
    header_read_timeout: Timeout = "LATCHKEY_HEADER_READ_TIMEOUT", default "10s";
    /// The longest a request may take, its body upload included; later it is answered 408 (e.g. `60s`).
    request_timeout: Timeout = "LATCHKEY_REQUEST_TIMEOUT", default "60s";
    /// Open connections the server keeps at most; more are refused until some close.
    max_connections: Count = "LATCHKEY_MAX_CONNECTIONS", default "1024";
    /// Open connections one client address keeps at most (IPv6: per /64); trusted proxies count only against LATCHKEY_MAX_CONNECTIONS.
    max_connections_per_address: Count = "LATCHKEY_MAX_CONNECTIONS_PER_ADDRESS", default "64";
    /// PEM certificate chain for native HTTPS (with LATCHKEY_TLS_KEY_FILE).
    tls_cert_file: Option<PathBuf> = "LATCHKEY_TLS_CERT_FILE";
    /// PEM private key for native HTTPS (with LATCHKEY_TLS_CERT_FILE).
    tls_key_file: Option<PathBuf> = "LATCHKEY_TLS_KEY_FILE";
    /// Log level or filter: error, warn, info, debug, trace, or a tracing filter.
    log_level: LogLevel = "LATCHKEY_LOG_LEVEL", default "info";
    /// Log format: `text` for people, `json` for a log collector or SIEM.
    log_format: LogFormat = "LATCHKEY_LOG_FORMAT", default "text";
    /// The name people see on every page and in emails.
    app_name: AppName = "LATCHKEY_APP_NAME", default "Latchkey";
    /// Who may create an account: `disabled` (only admins create users), `invite` (with an invite link) or `open`.
    signup_mode: SignupMode = "LATCHKEY_SIGNUP_MODE", default "disabled";
    /// Sign-in with username and password (+ TOTP): `enabled` or `disabled` (passkeys and links only).
    password_login: Toggle = "LATCHKEY_PASSWORD_LOGIN", default "enabled";
    /// Require a TOTP code (or recovery code) for every password sign-in: `true` or `false`.
    totp_required: bool = "LATCHKEY_TOTP_REQUIRED", default "false";
    /// Passkey user verification (PIN or biometrics): `required` or `preferred`.
    passkey_user_verification: UserVerification = "LATCHKEY_PASSKEY_USER_VERIFICATION", default "required";
    /// A session not used for this long ends (e.g. `7d`, `12h`).
    session_idle_timeout: DurationSetting = "LATCHKEY_SESSION_IDLE_TIMEOUT", default "7d";
    /// A session ends this long after sign-in, used or not (e.g. `30d`).
    session_lifetime: DurationSetting = "LATCHKEY_SESSION_LIFETIME", default "30d";
    /// SMTP server for outgoing email (else the admin console's value; no email when neither).
    smtp_host: Option<String> = "LATCHKEY_SMTP_HOST";
    /// SMTP port (default by security: 587 starttls, 465 tls, 25 none).
    smtp_port: Option<u16> = "LATCHKEY_SMTP_PORT";
    /// SMTP security: `starttls` (required, never a plain-text fallback; default), `tls` (implicit, port 465) or `none`.
    smtp_security: Option<SmtpSecurity> = "LATCHKEY_SMTP_SECURITY";
    /// SMTP user name, when the server wants a login.
    smtp_username: Option<String> = "LATCHKEY_SMTP_USERNAME";
    /// SMTP password (stored encrypted when set in the admin console).
    smtp_password: Option<SecretText> = "LATCHKEY_SMTP_PASSWORD" [secret];
    /// The From address of every email.
    smtp_from: Option<EmailAddress> = "LATCHKEY_SMTP_FROM";
    /// The From name of every email (default: the application name).
    smtp_from_name: Option<String> = "LATCHKEY_SMTP_FROM_NAME";
    /// PEM file with a CA certificate to trust for the SMTP server, besides the system roots.
    smtp_ca_file: Option<PathBuf> = "LATCHKEY_SMTP_CA_FILE";
    /// `true` accepts any SMTP server certificate. INSECURE: anyone on the path can read the mail.
    smtp_skip_cert_verification: Option<bool> = "LATCHKEY_SMTP_SKIP_CERT_VERIFICATION";
    /// MaxMind-format GeoLite2 City database, for the approximate location in new-sign-in notices.
    geoip_db: Option<PathBuf> = "LATCHKEY_GEOIP_DB";
    /// How long audit events are kept before housekeeping deletes them (e.g. `400d`; at least a day).
    audit_retention: DurationSetting = "LATCHKEY_AUDIT_RETENTION", default "400d";
    /// Plain LDAP, with StartTLS, on this address (e.g. `0.0.0.0:3890`); unset: off.
    ldap_listen: Option<SocketAddr> = "LATCHKEY_LDAP_LISTEN";
    /// LDAP over TLS on this address (e.g. `0.0.0.0:6360`); unset: off.
    ldaps_listen: Option<SocketAddr> = "LATCHKEY_LDAPS_LISTEN";
    /// PEM certificate chain for LDAPS and StartTLS (default: LATCHKEY_TLS_CERT_FILE).
    ldap_tls_cert_file: Option<PathBuf> = "LATCHKEY_LDAP_TLS_CERT_FILE";
    /// PEM private key for LDAPS and StartTLS (default: LATCHKEY_TLS_KEY_FILE).
    ldap_tls_key_file: Option<PathBuf> = "LATCHKEY_LDAP_TLS_KEY_FILE";
    /// The directory's base DN (default: from the host of LATCHKEY_APP_URL, `sso.example.org` → `dc=sso,dc=example,dc=org`).
    ldap_base_dn: Option<BaseDn> = "LATCHKEY_LDAP_BASE_DN";
    /// Accept LDAP binds with a password on a connection without TLS (`true` only on a trusted network).
    ldap_allow_insecure_bind: bool = "LATCHKEY_LDAP_ALLOW_INSECURE_BIND", default "false";
    /// Which passwords users bind to LDAP with: `app-passwords`, or `any-password` (also the account password of users without TOTP).
    ldap_password_bind: LdapPasswordBind = "LATCHKEY_LDAP_PASSWORD_BIND", default "app-passwords";
    /// The `loginShell` of every user in LDAP.
    ldap_login_shell: String = "LATCHKEY_LDAP_LOGIN_SHELL", default "/bin/bash";
    /// Entries one LDAP search returns at most (a client may ask for fewer).
    ldap_size_limit: Count = "LATCHKEY_LDAP_SIZE_LIMIT", default "5000";
    /// The longest one LDAP search may take (a client may ask for less).
    ldap_time_limit: Timeout = "LATCHKEY_LDAP_TIME_LIMIT", default "30s";
    /// An LDAP connection with no request for this long is closed.
    ldap_idle_timeout: Timeout = "LATCHKEY_LDAP_IDLE_TIMEOUT", default "15m";
    /// The first uidNumber given to a new user (numbers are never reused).
    ldap_uid_number_start: PosixId = "LATCHKEY_LDAP_UID_NUMBER_START", default "10000";
    /// The first gidNumber given to a new group (keep it apart from the uid range: each user's own group has the gid of their uid).
    ldap_gid_number_start: PosixId = "LATCHKEY_LDAP_GID_NUMBER_START", default "50000";
    /// The upstream directory to sync users and groups from: `ldap://host[:port]` or `ldaps://host[:port]`; unset (and unset in the console): no sync.
    directory_url: Option<String> = "LATCHKEY_DIRECTORY_URL";
    /// `true`: StartTLS on an `ldap://` URL before anything else is sent.
    directory_starttls: Option<String> = "LATCHKEY_DIRECTORY_STARTTLS";
    /// PEM file with a CA certificate to trust for the directory, besides the system roots.
    directory_ca_file: Option<String> = "LATCHKEY_DIRECTORY_CA_FILE";
    /// `true` accepts any directory certificate. INSECURE: anyone on the path can read the passwords.
    directory_skip_verify: Option<String> = "LATCHKEY_DIRECTORY_SKIP_VERIFY";
    /// `true` sends passwords over plain `ldap://` to a host that is not loopback. INSECURE.
    directory_allow_unencrypted: Option<String> = "LATCHKEY_DIRECTORY_ALLOW_UNENCRYPTED";
    /// The DN Latchkey binds as to read the directory (empty: anonymous).
    directory_bind_dn: Option<String> = "LATCHKEY_DIRECTORY_BIND_DN";
    /// The password of LATCHKEY_DIRECTORY_BIND_DN (stored encrypted when set in the console).
    directory_bind_password: Option<SecretText> = "LATCHKEY_DIRECTORY_BIND_PASSWORD" [secret];
    /// The directory's base DN (e.g. `dc=example,dc=org`).
    directory_base_dn: Option<String> = "LATCHKEY_DIRECTORY_BASE_DN";
    /// Where users are searched: a DN, or an RDN under the base DN like `ou=people` (default: the base DN, or the preset's).
    directory_user_base: Option<String> = "LATCHKEY_DIRECTORY_USER_BASE";
    /// Where groups are searched (default: the base DN, or the preset's).
    directory_group_base: Option<String> = "LATCHKEY_DIRECTORY_GROUP_BASE";
    /// Which entries are users (default `(objectClass=person)`, or the preset's).
    directory_user_filter: Option<String> = "LATCHKEY_DIRECTORY_USER_FILTER";
    /// Which entries are groups (default: groupOfNames, groupOfUniqueNames or posixGroup, or the preset's).
    directory_group_filter: Option<String> = "LATCHKEY_DIRECTORY_GROUP_FILTER";
    /// Which directory the defaults of the mappings fit: `openldap` (also Synology; the default), `active-directory`, `freeipa` or `lldap`.
    directory_preset: Option<String> = "LATCHKEY_DIRECTORY_PRESET";
    /// The attribute that identifies an entry for good (default `entryUUID`; `objectGUID` on Active Directory).
    directory_attr_unique_id: Option<String> = "LATCHKEY_DIRECTORY_ATTR_UNIQUE_ID";
    /// The attribute that is the username (default `uid`; `sAMAccountName` on Active Directory).
    directory_attr_username: Option<String> = "LATCHKEY_DIRECTORY_ATTR_USERNAME";
    /// The attribute that is the email address (default `mail`).
    directory_attr_email: Option<String> = "LATCHKEY_DIRECTORY_ATTR_EMAIL";
    /// The attribute that is the first name (default `givenName`).
    directory_attr_first_name: Option<String> = "LATCHKEY_DIRECTORY_ATTR_FIRST_NAME";
    /// The attribute that is the last name (default `sn`).
    directory_attr_last_name: Option<String> = "LATCHKEY_DIRECTORY_ATTR_LAST_NAME";
    /// The attribute that is the display name (default `cn`; `displayName` on Active Directory).
    directory_attr_display_name: Option<String> = "LATCHKEY_DIRECTORY_ATTR_DISPLAY_NAME";
    /// The attribute that holds the profile picture, JPEG or PNG (default `jpegPhoto`; `thumbnailPhoto` on Active Directory; empty: none).
    directory_attr_picture: Option<String> = "LATCHKEY_DIRECTORY_ATTR_PICTURE";
    /// The attribute that is a group's name (default `cn`).
    directory_attr_group_name: Option<String> = "LATCHKEY_DIRECTORY_ATTR_GROUP_NAME";
    /// The attribute of a group that lists its members: `member` or `uniqueMember` (DNs) or `memberUid` (usernames). Default `member`; posixGroups are read by `memberUid` always.
    directory_attr_group_member: Option<String> = "LATCHKEY_DIRECTORY_ATTR_GROUP_MEMBER";
    /// Members of this directory group (its name or DN) are Latchkey administrators, and stop being when they leave it (empty: the sync leaves the admin flag alone).
    directory_admin_group: Option<String> = "LATCHKEY_DIRECTORY_ADMIN_GROUP";
    /// How often the sync runs (default `1h`; it also runs at start and on "Sync now").
    directory_interval: Option<String> = "LATCHKEY_DIRECTORY_INTERVAL";
    /// Entries asked for per page of a paged search (default 500; Active Directory gives at most 1000).
    directory_page_size: Option<String> = "LATCHKEY_DIRECTORY_PAGE_SIZE";
    /// What happens to a user gone from the directory: `disable` (the default; re-enabled when back) or `delete`.
    directory_delete_mode: Option<String> = "LATCHKEY_DIRECTORY_DELETE_MODE";
    /// A sync that would disable or delete more than this percentage of the synced users is refused (default 20).
    directory_max_disable_percent: Option<String> = "LATCHKEY_DIRECTORY_MAX_DISABLE_PERCENT";
    /// Where synced users' passwords are checked: `directory` (an LDAP bind; the default) or `local` (a password set in Latchkey).
    directory_passwords: Option<String> = "LATCHKEY_DIRECTORY_PASSWORDS";
}

impl Config {
    /// Checks that concern more than one setting.
    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(domain) = &self.proxy_cookie_domain
            && !domain.covers(self.app_url.host())
        {
            return Err(ConfigError::new(
                "LATCHKEY_PROXY_COOKIE_DOMAIN",
                format!(
                    "`{}` does not contain `{}`, the host of LATCHKEY_APP_URL: the sign-in page could not set the cookie",
                    domain.0,
                    self.app_url.host()
                ),
            ));
        }
        if self.audit_retention.secs() < 86_400 {
            return Err(ConfigError::new(
                "LATCHKEY_AUDIT_RETENTION",
                "must be at least a day (1d)",
            ));
        }
        if self.session_idle_timeout.0 > self.session_lifetime.0 {
            return Err(ConfigError::new(
                "LATCHKEY_SESSION_IDLE_TIMEOUT",
                "must not be longer than LATCHKEY_SESSION_LIFETIME",
            ));
        }
        if self.max_connections_per_address.0 > self.max_connections.0 {
            return Err(ConfigError::new(
                "LATCHKEY_MAX_CONNECTIONS_PER_ADDRESS",
                "must not be more than LATCHKEY_MAX_CONNECTIONS",
            ));
        }
        for (setting, file) in [
            ("LATCHKEY_SMTP_CA_FILE", &self.smtp_ca_file),
            ("LATCHKEY_GEOIP_DB", &self.geoip_db),
        ] {
            if let Some(path) = file
                && let Err(e) = std::fs::metadata(path)
            {
                return Err(ConfigError::new(
                    setting,
                    format!("cannot read {}: {e}", path.display()),
                ));
            }
        }
        match (&self.ldap_tls_cert_file, &self.ldap_tls_key_file) {
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "LATCHKEY_LDAP_TLS_KEY_FILE",
                    "must be set when LATCHKEY_LDAP_TLS_CERT_FILE is set",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "LATCHKEY_LDAP_TLS_CERT_FILE",
                    "must be set when LATCHKEY_LDAP_TLS_KEY_FILE is set",
                ));
            }
            _ => {}
        }
        if self.ldap_tls_cert().is_none() {
            if self.ldaps_listen.is_some() {
                return Err(ConfigError::new(
                    "LATCHKEY_LDAP_TLS_CERT_FILE",
                    "must be set (or LATCHKEY_TLS_CERT_FILE) for LATCHKEY_LDAPS_LISTEN",
                ));
            }
            if self.ldap_listen.is_some() && !self.ldap_allow_insecure_bind {
                return Err(ConfigError::new(
                    "LATCHKEY_LDAP_TLS_CERT_FILE",
                    "must be set (or LATCHKEY_TLS_CERT_FILE) for StartTLS on LATCHKEY_LDAP_LISTEN: \
                     without TLS no password bind can be accepted (unless LATCHKEY_LDAP_ALLOW_INSECURE_BIND=true)",
                ));
            }
        }
        crate::directory::settings::check_operator(self)?;
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(_), None) => Err(ConfigError::new(
                "LATCHKEY_TLS_KEY_FILE",
                "must be set when LATCHKEY_TLS_CERT_FILE is set",
            )),
            (None, Some(_)) => Err(ConfigError::new(
                "LATCHKEY_TLS_CERT_FILE",
                "must be set when LATCHKEY_TLS_KEY_FILE is set",
            )),
            _ => Ok(()),
        }
    }

    /// Load from the process environment and the TOML file it names, if any.
    pub fn load(config_file: Option<&Path>) -> Result<Config, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("LATCHKEY_"))
            .collect();
        let raw = RawSettings::new(env, config_file)?;
        Config::resolve(&raw)
    }

    /// The database to use: the configured URL or the SQLite file in the data dir.
    pub fn database(&self) -> DatabaseUrl {
        self.database_url
            .clone()
            .unwrap_or_else(|| DatabaseUrl::Sqlite(self.data_dir.join("latchkey.db")))
    }

    /// The certificate and key the LDAP listeners use, when they have one.
    pub fn ldap_tls_cert(&self) -> Option<(&Path, &Path)> {
        match (&self.ldap_tls_cert_file, &self.ldap_tls_key_file) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => match (&self.tls_cert_file, &self.tls_key_file) {
                (Some(cert), Some(key)) => Some((cert, key)),
                _ => None,
            },
            _ => None,
        }
    }

    /// The LDAP base DN: the setting, or `dc=…` from each label of the app URL's host.
    pub fn ldap_base(&self) -> crate::ldap::dn::Dn {
        match &self.ldap_base_dn {
            Some(BaseDn(dn)) => dn.clone(),
            None => crate::ldap::dn::Dn::from_host(self.app_url.host()),
        }
    }

    /// Whether native HTTPS is configured.
    pub fn tls_enabled(&self) -> bool {
        self.tls_cert_file.is_some()
    }

    /// A configuration for tests and tools: defaults plus the given overrides (by env name).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::resolve(&RawSettings::new(env, None)?)
    }
}

/// The unparsed inputs: environment variables and the TOML file.
pub struct RawSettings {
    env: BTreeMap<String, String>,
    file: BTreeMap<String, String>,
}

impl RawSettings {
    pub fn new(
        env: BTreeMap<String, String>,
        config_file: Option<&Path>,
    ) -> Result<RawSettings, ConfigError> {
        let path = config_file
            .map(Path::to_path_buf)
            .or_else(|| env.get("LATCHKEY_CONFIG").map(PathBuf::from));
        let file = match path {
            None => BTreeMap::new(),
            Some(path) => read_toml(&path)?,
        };
        Ok(RawSettings { env, file })
    }

    /// The text of a setting and where it came from.
    fn lookup(&self, spec: &SettingSpec) -> Result<(Option<String>, Source), ConfigError> {
        if let Some(value) = self.env.get(spec.env) {
            return Ok((Some(value.clone()), Source::Env));
        }
        if spec.secret {
            let file_var = format!("{}_FILE", spec.env);
            if let Some(path) = self.env.get(&file_var) {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError::new(&file_var, format!("cannot read {path}: {e}")))?;
                return Ok((
                    Some(text.trim_end_matches(['\r', '\n']).to_string()),
                    Source::Env,
                ));
            }
        }
        if let Some(value) = self.file.get(spec.key) {
            return Ok((Some(value.clone()), Source::File));
        }
        match spec.default {
            Some(d) => Ok((Some(d.to_string()), Source::Default)),
            None => Ok((None, Source::Unset)),
        }
    }
}

/// Read the TOML file into key → text, refusing keys that are not settings.
fn read_toml(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let shown = path.display();
    let problem = |what: String| ConfigError::new("LATCHKEY_CONFIG", format!("{shown}: {what}"));
    let text = std::fs::read_to_string(path).map_err(|e| problem(format!("cannot read: {e}")))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| problem(e.message().replace('\n', " ")))?;
    let mut out = BTreeMap::new();
    for (key, value) in table {
        if !SETTINGS.iter().any(|s| s.key == key) {
            return Err(problem(format!("unknown setting `{key}`")));
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect::<Vec<_>>()
                .join(","),
            other => {
                return Err(problem(format!("`{key}` has an unsupported value {other}")));
            }
        };
        out.insert(key, text);
    }
    Ok(out)
}

/// Lets `Option<T>` settings be absent while plain `T` settings must be present.
trait OptionalSetting: Sized {
    fn from_text(text: Option<&str>) -> Result<Self, String>;
}

impl<T: SettingValue> OptionalSetting for T {
    fn from_text(text: Option<&str>) -> Result<Self, String> {
        T::parse_setting(text.ok_or("is required")?)
    }
}

impl<T: SettingValue> OptionalSetting for Option<T> {
    fn from_text(text: Option<&str>) -> Result<Self, String> {
        match text {
            None => Ok(None),
            Some(t) if t.trim().is_empty() => Ok(None),
            Some(t) => T::parse_setting(t).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(pairs: &[(&str, &str)]) -> String {
        Config::from_pairs(pairs).unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_usable() {
        let c = Config::from_pairs(&[]).unwrap();
        assert_eq!(c.app_url.as_str(), "http://localhost:1411");
        assert_eq!(c.listen, "0.0.0.0:1411".parse().unwrap());
        assert_eq!(
            c.database(),
            DatabaseUrl::Sqlite(PathBuf::from("./data/latchkey.db"))
        );
        assert_eq!(c.sources["app_url"], Source::Default);
        assert_eq!(c.sources["encryption_key"], Source::Unset);
        assert_eq!(c.audit_retention.secs(), 400 * 86_400);
    }

    #[test]
    fn app_url_must_be_bare_origin() {
        assert!(
            err(&[("LATCHKEY_APP_URL", "https://id.example.com/auth")])
                .starts_with("LATCHKEY_APP_URL: ")
        );
        assert!(err(&[("LATCHKEY_APP_URL", "https://id.example.com/")]).contains("trailing slash"));
        assert!(err(&[("LATCHKEY_APP_URL", "not a url")]).contains("not a URL"));
        assert!(err(&[("LATCHKEY_APP_URL", "ftp://x")]).contains("http"));
        let c = Config::from_pairs(&[("LATCHKEY_APP_URL", "https://id.example.com:8443")]).unwrap();
        assert_eq!(
            c.app_url.join("/healthz"),
            "https://id.example.com:8443/healthz"
        );
        assert!(c.app_url.is_https());
    }

    #[test]
    fn database_scheme_is_checked() {
        assert!(
            err(&[("LATCHKEY_DATABASE_URL", "mysql://x/y")])
                .contains("unsupported database scheme `mysql`")
        );
        let c = Config::from_pairs(&[("LATCHKEY_DATABASE_URL", "postgres://u:pw@h/db")]).unwrap();
        assert_eq!(c.database().redacted(), "postgres://u:***@h/db");
        let c = Config::from_pairs(&[("LATCHKEY_DATABASE_URL", "sqlite:///tmp/x.db")]).unwrap();
        assert_eq!(c.database(), DatabaseUrl::Sqlite("/tmp/x.db".into()));
    }

    #[test]
    fn secret_from_file_and_env_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("key");
        std::fs::write(&key_file, "k".repeat(40) + "\n").unwrap();
        let file_var = key_file.to_str().unwrap();
        let c = Config::from_pairs(&[("LATCHKEY_ENCRYPTION_KEY_FILE", file_var)]).unwrap();
        assert_eq!(c.encryption_key.unwrap().0, "k".repeat(40));
        let e = err(&[("LATCHKEY_ENCRYPTION_KEY_FILE", "/nonexistent/key")]);
        assert!(
            e.starts_with("LATCHKEY_ENCRYPTION_KEY_FILE: cannot read /nonexistent/key"),
            "{e}"
        );
        assert!(err(&[("LATCHKEY_ENCRYPTION_KEY", "short")]).contains("at least 32"));
    }

    #[test]
    fn toml_file_is_below_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latchkey.toml");
        std::fs::write(
            &path,
            "app_url = \"https://sso.example.org\"\nlisten = \"127.0.0.1:9000\"\ntrust_proxy = [\"10.0.0.0/8\", \"192.168.1.1\"]\n",
        )
        .unwrap();
        let env = BTreeMap::from([("LATCHKEY_LISTEN".to_string(), "127.0.0.1:9001".to_string())]);
        let c = Config::resolve(&RawSettings::new(env, Some(&path)).unwrap()).unwrap();
        assert_eq!(c.app_url.as_str(), "https://sso.example.org");
        assert_eq!(c.sources["app_url"], Source::File);
        assert_eq!(c.listen.port(), 9001);
        assert_eq!(c.sources["listen"], Source::Env);
        assert!(c.trust_proxy.contains("10.1.2.3".parse().unwrap()));
        assert!(
            c.trust_proxy
                .contains("::ffff:192.168.1.1".parse().unwrap())
        );
        assert!(!c.trust_proxy.contains("192.168.1.2".parse().unwrap()));

        std::fs::write(&path, "no_such_setting = 1\n").unwrap();
        let e = RawSettings::new(BTreeMap::new(), Some(&path))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("unknown setting `no_such_setting`"), "{e}");
    }

    #[test]
    fn ldap_listeners_need_tls_and_the_base_comes_from_the_app_url() {
        let c = Config::from_pairs(&[("LATCHKEY_APP_URL", "https://sso.example.org")]).unwrap();
        assert_eq!(c.ldap_base().to_string(), "dc=sso,dc=example,dc=org");
        assert!(
            c.ldap_listen.is_none() && c.ldaps_listen.is_none(),
            "off by default"
        );
        assert!(
            err(&[("LATCHKEY_LDAPS_LISTEN", "127.0.0.1:6360")])
                .starts_with("LATCHKEY_LDAP_TLS_CERT_FILE: ")
        );
        assert!(
            err(&[("LATCHKEY_LDAP_LISTEN", "127.0.0.1:3890")])
                .starts_with("LATCHKEY_LDAP_TLS_CERT_FILE: ")
        );
        // Plain LDAP without TLS only when insecure binds are chosen knowingly.
        let c = Config::from_pairs(&[
            ("LATCHKEY_LDAP_LISTEN", "127.0.0.1:3890"),
            ("LATCHKEY_LDAP_ALLOW_INSECURE_BIND", "true"),
        ])
        .unwrap();
        assert!(c.ldap_tls_cert().is_none());
        assert!(
            err(&[("LATCHKEY_LDAP_TLS_CERT_FILE", "/x.pem")])
                .starts_with("LATCHKEY_LDAP_TLS_KEY_FILE: ")
        );
        // The HTTPS certificate serves LDAP too unless LDAP has its own.
        let c = Config::from_pairs(&[
            ("LATCHKEY_TLS_CERT_FILE", "/a.pem"),
            ("LATCHKEY_TLS_KEY_FILE", "/a.key"),
            ("LATCHKEY_LDAPS_LISTEN", "127.0.0.1:6360"),
        ])
        .unwrap();
        assert_eq!(
            c.ldap_tls_cert(),
            Some((Path::new("/a.pem"), Path::new("/a.key")))
        );
        let c = Config::from_pairs(&[("LATCHKEY_LDAP_BASE_DN", "DC=Corp, DC=Example")]).unwrap();
        assert_eq!(c.ldap_base().to_string(), "dc=Corp,dc=Example");
        assert!(
            err(&[("LATCHKEY_LDAP_BASE_DN", "not a dn")]).starts_with("LATCHKEY_LDAP_BASE_DN: ")
        );
        assert!(
            err(&[("LATCHKEY_LDAP_PASSWORD_BIND", "everything")])
                .starts_with("LATCHKEY_LDAP_PASSWORD_BIND: ")
        );
        assert!(
            err(&[("LATCHKEY_LDAP_UID_NUMBER_START", "0")])
                .starts_with("LATCHKEY_LDAP_UID_NUMBER_START: ")
        );
    }

    #[test]
    fn readme_documents_every_setting() {
        let readme = include_str!("../../README.md");
        for spec in SETTINGS {
            let row = format!("| `{}` | `{}` |", spec.env, spec.key);
            assert!(
                readme.contains(&row),
                "README.md lacks the row for {}",
                spec.env
            );
        }
    }

    #[test]
    fn connection_limits_and_timeouts_have_safe_defaults_and_bounds() {
        let c = Config::from_pairs(&[]).unwrap();
        assert_eq!(c.header_read_timeout.0, std::time::Duration::from_secs(10));
        assert_eq!(c.request_timeout.0, std::time::Duration::from_secs(60));
        assert_eq!(
            (c.max_connections.0, c.max_connections_per_address.0),
            (1024, 64)
        );
        let c = Config::from_pairs(&[("LATCHKEY_HEADER_READ_TIMEOUT", "2s")]).unwrap();
        assert_eq!(c.header_read_timeout.0, std::time::Duration::from_secs(2));
        assert!(err(&[("LATCHKEY_HEADER_READ_TIMEOUT", "0s")]).contains("at least 1s"));
        assert!(err(&[("LATCHKEY_REQUEST_TIMEOUT", "2h")]).contains("at most 1h"));
        assert!(err(&[("LATCHKEY_REQUEST_TIMEOUT", "soon")]).contains("not a duration"));
        assert!(
            err(&[("LATCHKEY_MAX_CONNECTIONS", "0")]).starts_with("LATCHKEY_MAX_CONNECTIONS: ")
        );
        assert!(
            err(&[("LATCHKEY_MAX_CONNECTIONS", "10")])
                .starts_with("LATCHKEY_MAX_CONNECTIONS_PER_ADDRESS: must not be more")
        );
    }

    #[test]
    fn bad_values_name_their_setting() {
        assert!(err(&[("LATCHKEY_LISTEN", "localhost")]).starts_with("LATCHKEY_LISTEN: "));
        assert!(
            err(&[("LATCHKEY_TRUST_PROXY", "10.0.0.0/33")]).starts_with("LATCHKEY_TRUST_PROXY: ")
        );
        assert!(err(&[("LATCHKEY_LOG_FORMAT", "xml")]).starts_with("LATCHKEY_LOG_FORMAT: "));
        assert!(
            err(&[("LATCHKEY_AUDIT_RETENTION", "12h")]).starts_with("LATCHKEY_AUDIT_RETENTION: ")
        );
        assert!(
            err(&[("LATCHKEY_TLS_CERT_FILE", "/x.pem")]).starts_with("LATCHKEY_TLS_KEY_FILE: ")
        );
    }
}
