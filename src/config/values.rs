//! The value types settings have, each parsed from the text of an environment
//! variable or a TOML value (`SettingValue`), with the checks a wrong value fails.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use ipnet::IpNet;
use url::Url;

use super::SettingValue;

impl SettingValue for SocketAddr {
    fn parse_setting(text: &str) -> Result<Self, String> {
        text.trim()
            .parse()
            .map_err(|_| format!("`{text}` is not an address like 0.0.0.0:1411"))
    }
}

impl SettingValue for PathBuf {
    fn parse_setting(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("must not be empty".into());
        }
        Ok(PathBuf::from(text))
    }
}

/// The public URL: http(s), a host, an optional port, and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUrl(Url);

impl AppUrl {
    /// The URL as text, without a trailing slash (the OIDC issuer).
    pub fn as_str(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }
    /// An absolute URL on this server for a path starting with `/`.
    pub fn join(&self, path: &str) -> String {
        format!("{}{}", self.as_str(), path)
    }
    pub fn is_https(&self) -> bool {
        self.0.scheme() == "https"
    }
    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }
}

impl fmt::Display for AppUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl SettingValue for AppUrl {
    fn parse_setting(text: &str) -> Result<Self, String> {
        let url = Url::parse(text.trim()).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("`{text}` must start with http:// or https://"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("`{text}` has no host"));
        }
        if url.path() != "/" || text.trim().ends_with('/') {
            return Err(format!(
                "`{text}` must not have a path or a trailing slash (Latchkey serves at the root of its host)"
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("`{text}` must not have a query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("`{text}` must not contain credentials"));
        }
        Ok(AppUrl(url))
    }
}

/// Which database to use.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl fmt::Debug for DatabaseUrl {
    /// Never prints a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.redacted())
    }
}

impl DatabaseUrl {
    /// The URL with any password replaced, safe to log.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => match Url::parse(url) {
                Ok(mut u) if u.password().is_some() => {
                    let _ = u.set_password(Some("***"));
                    u.to_string()
                }
                _ => url.clone(),
            },
        }
    }
}

impl SettingValue for DatabaseUrl {
    fn parse_setting(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (scheme, rest) = text
            .split_once(':')
            .ok_or_else(|| "expected sqlite://FILE or postgres://…".to_string())?;
        match scheme {
            "sqlite" => {
                let path = rest.trim_start_matches("//");
                let path = path.split('?').next().unwrap_or_default();
                if path.is_empty() || path == ":memory:" {
                    return Err(
                        "needs a file path, e.g. sqlite:///var/lib/latchkey/latchkey.db".into(),
                    );
                }
                Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
            }
            "postgres" | "postgresql" => {
                Url::parse(text).map_err(|e| format!("not a valid PostgreSQL URL: {e}"))?;
                Ok(DatabaseUrl::Postgres(text.to_string()))
            }
            other => Err(format!(
                "unsupported database scheme `{other}` (use sqlite:// or postgres://)"
            )),
        }
    }
}

/// A secret value that never shows in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(pub String);

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

impl SettingValue for SecretString {
    fn parse_setting(text: &str) -> Result<Self, String> {
        if text.chars().count() < 32 {
            return Err("must be at least 32 characters (e.g. `openssl rand -base64 32`)".into());
        }
        Ok(SecretString(text.to_string()))
    }
}

/// A secret of any length (a password), never shown in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(pub String);

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(***)")
    }
}

impl SettingValue for SecretText {
    fn parse_setting(text: &str) -> Result<Self, String> {
        Ok(SecretText(text.to_string()))
    }
}

impl SettingValue for String {
    fn parse_setting(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(text.to_string())
    }
}

impl SettingValue for u16 {
    fn parse_setting(text: &str) -> Result<Self, String> {
        text.trim()
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("`{text}` is not a port number (1-65535)"))
    }
}

/// An email address, checked like a user's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(pub String);

impl SettingValue for EmailAddress {
    fn parse_setting(text: &str) -> Result<Self, String> {
        crate::domain::user::normalize_email(text)
            .map(EmailAddress)
            .map_err(|e| e.message)
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS; a server that does not offer it is an error.
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption at all (a relay on the same host).
    None,
}

impl SmtpSecurity {
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpSecurity::StartTls => "starttls",
            SmtpSecurity::Tls => "tls",
            SmtpSecurity::None => "none",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        }
    }
}

impl SettingValue for SmtpSecurity {
    fn parse_setting(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "starttls" => Ok(SmtpSecurity::StartTls),
            "tls" | "ssl" => Ok(SmtpSecurity::Tls),
            "none" => Ok(SmtpSecurity::None),
            other => Err(format!("`{other}` is not starttls, tls or none")),
        }
    }
}

/// Proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl TrustedProxies {
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// IPv4-mapped IPv6 addresses (from a dual-stack socket) compare as IPv4.
pub fn canonical_ip(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

impl SettingValue for TrustedProxies {
    fn parse_setting(text: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for part in text
            .split([',', ' '])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let net = IpNet::from_str(part)
                .or_else(|_| part.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{part}` is not an IP address or CIDR like 10.0.0.0/8"))?;
            nets.push(net);
        }
        Ok(TrustedProxies(nets))
    }
}

/// A tracing filter directive, checked at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLevel(pub String);

impl SettingValue for LogLevel {
    fn parse_setting(text: &str) -> Result<Self, String> {
        let text = text.trim().to_ascii_lowercase();
        tracing_subscriber::EnvFilter::try_new(&text).map_err(|_| {
            format!("`{text}` is not a log level (error, warn, info, debug, trace)")
        })?;
        Ok(LogLevel(text))
    }
}

impl SettingValue for bool {
    fn parse_setting(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" => Ok(false),
            other => Err(format!("`{other}` is not true or false")),
        }
    }
}

/// A feature switch: `enabled` or `disabled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toggle {
    Enabled,
    Disabled,
}

impl Toggle {
    pub fn is_enabled(self) -> bool {
        self == Toggle::Enabled
    }
}

impl SettingValue for Toggle {
    fn parse_setting(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "enabled" | "true" | "on" => Ok(Toggle::Enabled),
            "disabled" | "false" | "off" => Ok(Toggle::Disabled),
            other => Err(format!("`{other}` is not enabled or disabled")),
        }
    }
}

/// Whether passkeys must prove the user (PIN, biometrics) or only their presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserVerification {
    Required,
    Preferred,
}

impl SettingValue for UserVerification {
    fn parse_setting(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "required" => Ok(UserVerification::Required),
            "preferred" => Ok(UserVerification::Preferred),
            other => Err(format!("`{other}` is not required or preferred")),
        }
    }
}

/// The application name: 1–60 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppName(pub String);

impl SettingValue for AppName {
    fn parse_setting(text: &str) -> Result<Self, String> {
        let name = text.trim();
        if name.is_empty() {
            return Err("must not be empty".into());
        }
        if name.chars().count() > 60 {
            return Err("must be at most 60 characters".into());
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(AppName(name.to_string()))
    }
}

/// Who may create an account without an admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupMode {
    Disabled,
    Invite,
    Open,
}

impl SignupMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SignupMode::Disabled => "disabled",
            SignupMode::Invite => "invite",
            SignupMode::Open => "open",
        }
    }
}

impl SettingValue for SignupMode {
    fn parse_setting(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "disabled" => Ok(SignupMode::Disabled),
            "invite" => Ok(SignupMode::Invite),
            "open" => Ok(SignupMode::Open),
            other => Err(format!("`{other}` is not disabled, invite or open")),
        }
    }
}

/// A length of time written like `15m`, `12h` or `30d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationSetting(pub std::time::Duration);

impl DurationSetting {
    pub fn secs(self) -> i64 {
        self.0.as_secs() as i64
    }
}

impl SettingValue for DurationSetting {
    fn parse_setting(text: &str) -> Result<Self, String> {
        let d = humantime::parse_duration(text.trim())
            .map_err(|_| format!("`{text}` is not a duration like 15m, 12h or 30d"))?;
        if d.as_secs() < 60 {
            return Err(format!("`{text}` is shorter than a minute"));
        }
        Ok(DurationSetting(d))
    }
}

/// A network timeout written like `10s` or `2m`: at least a second, at most an hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout(pub std::time::Duration);

impl SettingValue for Timeout {
    fn parse_setting(text: &str) -> Result<Self, String> {
        let d = humantime::parse_duration(text.trim())
            .map_err(|_| format!("`{text}` is not a duration like 10s or 2m"))?;
        if d < std::time::Duration::from_secs(1) {
            return Err(format!("`{text}` is too short: at least 1s"));
        }
        if d > std::time::Duration::from_secs(3600) {
            return Err(format!("`{text}` is too long: at most 1h"));
        }
        Ok(Timeout(d))
    }
}

/// A count of at least one, e.g. of connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub usize);

impl SettingValue for Count {
    fn parse_setting(text: &str) -> Result<Self, String> {
        text.trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .map(Count)
            .ok_or_else(|| format!("`{text}` is not a whole number of at least 1"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl SettingValue for LogFormat {
    fn parse_setting(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("`{other}` is not a log format (text or json)")),
        }
    }
}

/// Which passwords a user may bind to LDAP with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdapPasswordBind {
    /// Only app passwords made for the purpose (`/account/security`).
    AppPasswords,
    /// App passwords, and the account password of users without TOTP.
    AnyPassword,
}

impl SettingValue for LdapPasswordBind {
    fn parse_setting(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "app-passwords" => Ok(LdapPasswordBind::AppPasswords),
            "any-password" => Ok(LdapPasswordBind::AnyPassword),
            other => Err(format!("`{other}` is not app-passwords or any-password")),
        }
    }
}

/// An LDAP distinguished name such as `dc=sso,dc=example,dc=org`, in its normal form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseDn(pub crate::ldap::dn::Dn);

impl SettingValue for BaseDn {
    fn parse_setting(text: &str) -> Result<Self, String> {
        let dn = crate::ldap::dn::Dn::parse(text.trim())
            .map_err(|e| format!("`{text}` is not a distinguished name: {e}"))?;
        if dn.is_root() {
            return Err("must not be empty".into());
        }
        Ok(BaseDn(dn))
    }
}

/// A POSIX id (uidNumber, gidNumber): 1000 to 2^31 − 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PosixId(pub i64);

impl SettingValue for PosixId {
    fn parse_setting(text: &str) -> Result<Self, String> {
        text.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (1000..=i64::from(i32::MAX)).contains(n))
            .map(PosixId)
            .ok_or_else(|| format!("`{text}` is not a number from 1000 to 2147483647"))
    }
}

/// The domain of the proxy cookie (`example.org`): lower-case, without a leading dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieDomain(pub String);

impl CookieDomain {
    /// Is `host` this domain or under it?
    pub fn covers(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        host == self.0 || host.ends_with(&format!(".{}", self.0))
    }
}

impl SettingValue for CookieDomain {
    fn parse_setting(text: &str) -> Result<Self, String> {
        let domain = text.trim().trim_start_matches('.').to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if domain.is_empty() || !domain.split('.').all(label_ok) {
            return Err(format!("`{text}` is not a domain name like example.org"));
        }
        Ok(CookieDomain(domain))
    }
}

/// Which addresses WebFinger answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebfingerMode {
    OwnDomain,
    Any,
    Off,
}

impl SettingValue for WebfingerMode {
    fn parse_setting(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "own-domain" => Ok(WebfingerMode::OwnDomain),
            "any" => Ok(WebfingerMode::Any),
            "off" => Ok(WebfingerMode::Off),
            other => Err(format!("`{other}` is not own-domain, any or off")),
        }
    }
}
