//! An application behind a reverse proxy that asks Latchkey on every request
//! (forward-auth), and the rules that say which request needs whom.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::Invalid;
use super::access::{Access, Strength};

/// A proxied application as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProxyApp {
    pub id: String,
    pub name: String,
    /// Exact host names (`app.example.org`) or wildcards (`*.example.org`), lower-case.
    pub hosts: Vec<String>,
    /// Who may use the application, unless a path rule says otherwise.
    #[schema(value_type = Object)]
    pub access: Access,
    /// Path prefixes with a rule of their own; the longest matching prefix wins.
    #[schema(value_type = Vec<Object>)]
    pub paths: Vec<PathRule>,
    /// Path prefixes that pass without a session (health checks, webhooks).
    pub public_paths: Vec<String>,
    /// Callers may authenticate with `Authorization: Basic` and an app password.
    pub allow_basic: bool,
    /// Which `Remote-*` headers the proxy is given for the backend.
    #[schema(value_type = Vec<String>)]
    pub headers: Vec<RemoteHeader>,
    /// Where "My apps" sends people; by default the first exact host.
    pub launch_url: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A path prefix and who may use what lies under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathRule {
    pub prefix: String,
    #[serde(flatten)]
    pub access: Access,
}

/// A header the backend can be given about the signed-in person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RemoteHeader {
    #[serde(rename = "Remote-User")]
    User,
    #[serde(rename = "Remote-Groups")]
    Groups,
    #[serde(rename = "Remote-Name")]
    Name,
    #[serde(rename = "Remote-Email")]
    Email,
}

impl RemoteHeader {
    pub const ALL: [RemoteHeader; 4] = [
        RemoteHeader::User,
        RemoteHeader::Groups,
        RemoteHeader::Name,
        RemoteHeader::Email,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RemoteHeader::User => "Remote-User",
            RemoteHeader::Groups => "Remote-Groups",
            RemoteHeader::Name => "Remote-Name",
            RemoteHeader::Email => "Remote-Email",
        }
    }

    pub fn parse(text: &str) -> Result<RemoteHeader, Invalid> {
        RemoteHeader::ALL
            .into_iter()
            .find(|h| h.name().eq_ignore_ascii_case(text))
            .ok_or_else(|| {
                Invalid::new(
                    "headers",
                    format!(
                        "`{text}` is not one of Remote-User, Remote-Groups, Remote-Name, Remote-Email"
                    ),
                )
            })
    }
}

/// What a request to an application needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs<'a> {
    /// A public path: no session needed, no identity sent.
    Nothing,
    /// A session that this rule admits.
    Access(&'a Access),
}

impl ProxyApp {
    /// What a request for `uri` (path and query, as the proxy forwards it) needs.
    pub fn needs(&self, uri: &str) -> Needs<'_> {
        let raw = uri.split(['?', '#']).next().unwrap_or("");
        let path = normalize_path(raw);
        // A public path passes only when written plainly: `/health/../admin` or
        // `/health%2F..%2Fadmin` may reach the backend as `/admin`.
        if path == raw && self.public_paths.iter().any(|p| under(&path, p)) {
            return Needs::Nothing;
        }
        let rule = self
            .paths
            .iter()
            .filter(|r| under(&path, &r.prefix))
            .max_by_key(|r| r.prefix.len());
        Needs::Access(rule.map_or(&self.access, |r| &r.access))
    }

    /// The address "My apps" opens.
    pub fn launch_url(&self, scheme: &str) -> Option<String> {
        self.launch_url.clone().or_else(|| {
            self.hosts
                .iter()
                .find(|h| !h.starts_with("*."))
                .map(|h| format!("{scheme}://{h}/"))
        })
    }
}

/// Is `path` at or below `prefix`? `/app` covers `/app` and `/app/x`, not `/apple`.
fn under(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

/// The path a backend most likely serves for `raw`: percent-decoded, `.` and `..`
/// segments resolved, repeated slashes collapsed, always starting with `/`.
pub fn normalize_path(raw: &str) -> String {
    let decoded: String =
        String::from_utf8_lossy(&percent_decode(raw.as_bytes())).replace('\\', "/");
    let mut segments: Vec<&str> = Vec::new();
    let trailing = decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() || (trailing && !segments.is_empty()) {
        out.push('/');
    }
    out
}

fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// The host of a forwarded request as it is matched: lower-case, without the port
/// and without a trailing dot.
pub fn normalize_host(host: &str) -> String {
    let host = host.trim();
    let without_port = if host.starts_with('[') {
        host.split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default()
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(host, |(h, _)| h)
            .to_string()
    };
    without_port.trim_end_matches('.').to_ascii_lowercase()
}

/// Every application, indexed by the hosts they cover.
#[derive(Debug, Default)]
pub struct ProxyApps {
    apps: Vec<ProxyApp>,
    exact: HashMap<String, usize>,
    /// `(".example.org", app)`, longest suffix first.
    wildcards: Vec<(String, usize)>,
}

impl ProxyApps {
    pub fn new(apps: Vec<ProxyApp>) -> ProxyApps {
        let mut exact = HashMap::new();
        let mut wildcards = Vec::new();
        for (i, app) in apps.iter().enumerate() {
            for host in &app.hosts {
                match host.strip_prefix('*') {
                    Some(suffix) => wildcards.push((suffix.to_string(), i)),
                    None => {
                        exact.insert(host.clone(), i);
                    }
                }
            }
        }
        wildcards.sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
        ProxyApps {
            apps,
            exact,
            wildcards,
        }
    }

    /// The application covering `host` (as forwarded: any case, maybe with a port).
    /// An exact name wins over a wildcard, a longer wildcard over a shorter one.
    pub fn for_host(&self, host: &str) -> Option<&ProxyApp> {
        let host = normalize_host(host);
        if let Some(&i) = self.exact.get(&host) {
            return Some(&self.apps[i]);
        }
        self.wildcards
            .iter()
            .find(|(suffix, _)| host.len() > suffix.len() && host.ends_with(suffix.as_str()))
            .map(|&(_, i)| &self.apps[i])
    }

    pub fn all(&self) -> &[ProxyApp] {
        &self.apps
    }
}

/// A host pattern as an admin typed it, checked and lower-cased.
pub fn check_host(host: &str) -> Result<String, Invalid> {
    let h = host.trim().trim_end_matches('.').to_ascii_lowercase();
    let bad = |why: &str| Invalid::new("hosts", format!("`{host}` {why}"));
    let name = h.strip_prefix("*.").unwrap_or(&h);
    if name.is_empty() || name.len() > 253 {
        return Err(bad("is not a host name"));
    }
    if h.contains(':') || h.contains('/') {
        return Err(bad(
            "is a host name without a port or path (the port is ignored when matching)",
        ));
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !label.starts_with('-');
        if !ok {
            return Err(bad(
                "is not a host name (letters, digits and hyphens; `*.` only at the start)",
            ));
        }
    }
    if h.starts_with("*.") && !name.contains('.') {
        return Err(bad("covers a whole top-level domain"));
    }
    Ok(h)
}

/// A path prefix as an admin typed it.
pub fn check_path(field: &'static str, path: &str) -> Result<String, Invalid> {
    let p = path.trim();
    if !p.starts_with('/') || p.len() > 512 {
        return Err(Invalid::new(
            field,
            format!("`{path}` is a path starting with /"),
        ));
    }
    if normalize_path(p) != p || p.contains(['?', '#', '%']) {
        return Err(Invalid::new(
            field,
            format!("`{path}` is written plainly: no `.`, `..`, `//`, `%`, `?` or `#`"),
        ));
    }
    Ok(p.to_string())
}

/// An application as an admin describes it (console, API, CLI), before checks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Sonarr", "hosts": ["sonarr.example.org"], "groups": ["staff"],
    "require": "two-factor", "public_paths": ["/ping"]
}))]
pub struct AppSpec {
    pub name: String,
    /// `app.example.org` or `*.example.org`.
    pub hosts: Vec<String>,
    /// Names of the groups whose members may use it; none: everyone.
    #[serde(default)]
    pub groups: Vec<String>,
    /// `any` (default), `two-factor` or `passkey`.
    #[serde(default)]
    #[schema(value_type = String)]
    pub require: Strength,
    /// Sign in again after this many hours.
    #[serde(default)]
    pub max_age_hours: Option<i64>,
    /// Path prefixes with a rule of their own.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub paths: Vec<PathRule>,
    /// Path prefixes that pass without a session.
    #[serde(default)]
    pub public_paths: Vec<String>,
    /// Accept `Authorization: Basic` with a username and an app password.
    #[serde(default)]
    pub allow_basic: bool,
    /// The `Remote-*` headers to send (default: all four).
    #[serde(default)]
    pub headers: Option<Vec<String>>,
    pub launch_url: Option<String>,
}

/// Hours a maximum session age may be: up to a year.
const MAX_AGE_HOURS: i64 = 24 * 366;

fn check_access(access: &Access) -> Result<(), Invalid> {
    if access.groups.len() > 100 {
        return Err(Invalid::new("groups", "at most 100 groups"));
    }
    if let Some(age) = access.max_age
        && !(3600..=MAX_AGE_HOURS * 3600).contains(&age)
    {
        return Err(Invalid::new(
            "max_age_hours",
            format!("between 1 and {MAX_AGE_HOURS} hours"),
        ));
    }
    Ok(())
}

impl AppSpec {
    /// The spec an application was made from (to change some of it).
    pub fn of(app: &ProxyApp) -> AppSpec {
        AppSpec {
            name: app.name.clone(),
            hosts: app.hosts.clone(),
            groups: app.access.groups.clone(),
            require: app.access.require,
            max_age_hours: app.access.max_age.map(|s| s / 3600),
            paths: app.paths.clone(),
            public_paths: app.public_paths.clone(),
            allow_basic: app.allow_basic,
            headers: Some(app.headers.iter().map(|h| h.name().to_string()).collect()),
            launch_url: app.launch_url.clone(),
        }
    }

    /// Check every field and make the application `id`, created at `created_at`.
    pub fn build(self, id: String, created_at: i64, now: i64) -> Result<ProxyApp, Invalid> {
        let name = self.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(Invalid::new(
                "name",
                "1 to 100 characters, no control characters",
            ));
        }
        if self.hosts.is_empty() || self.hosts.len() > 50 {
            return Err(Invalid::new("hosts", "1 to 50 hosts"));
        }
        let mut hosts = Vec::new();
        for h in &self.hosts {
            let h = check_host(h)?;
            if !hosts.contains(&h) {
                hosts.push(h);
            }
        }
        let access = Access {
            groups: dedup(self.groups),
            require: self.require,
            max_age: self.max_age_hours.map(|h| h.saturating_mul(3600)),
        };
        check_access(&access)?;
        if self.paths.len() > 50 || self.public_paths.len() > 50 {
            return Err(Invalid::new(
                "paths",
                "at most 50 path rules and 50 public paths",
            ));
        }
        let mut paths = Vec::new();
        for rule in self.paths {
            let prefix = check_path("paths", &rule.prefix)?;
            if paths.iter().any(|p: &PathRule| p.prefix == prefix) {
                return Err(Invalid::new("paths", format!("`{prefix}` has two rules")));
            }
            check_access(&rule.access)?;
            paths.push(PathRule {
                prefix,
                access: Access {
                    groups: dedup(rule.access.groups),
                    ..rule.access
                },
            });
        }
        let public_paths = self
            .public_paths
            .iter()
            .map(|p| check_path("public_paths", p))
            .collect::<Result<Vec<_>, _>>()?;
        let headers = match self.headers {
            None => RemoteHeader::ALL.to_vec(),
            Some(list) => {
                let mut out = Vec::new();
                for h in list {
                    let h = RemoteHeader::parse(h.trim())?;
                    if !out.contains(&h) {
                        out.push(h);
                    }
                }
                out
            }
        };
        let launch_url = match self.launch_url.map(|u| u.trim().to_string()) {
            None => None,
            Some(u) if u.is_empty() => None,
            Some(u) => {
                let parsed = url::Url::parse(&u).map_err(|_| {
                    Invalid::new("launch_url", format!("`{u}` is not an absolute URL"))
                })?;
                let covered = parsed.host_str().is_some_and(|h| {
                    ProxyApps::new(vec![ProxyApp {
                        hosts: hosts.clone(),
                        ..placeholder()
                    }])
                    .for_host(h)
                    .is_some()
                });
                if !matches!(parsed.scheme(), "http" | "https") || !covered {
                    return Err(Invalid::new(
                        "launch_url",
                        format!("`{u}` is an http(s) address on one of the application's hosts"),
                    ));
                }
                Some(u)
            }
        };
        Ok(ProxyApp {
            id,
            name,
            hosts,
            access,
            paths,
            public_paths,
            allow_basic: self.allow_basic,
            headers,
            launch_url,
            created_at,
            updated_at: now,
        })
    }
}

fn placeholder() -> ProxyApp {
    ProxyApp {
        id: String::new(),
        name: String::new(),
        hosts: Vec::new(),
        access: Access::default(),
        paths: Vec::new(),
        public_paths: Vec::new(),
        allow_basic: false,
        headers: Vec::new(),
        launch_url: None,
        created_at: 0,
        updated_at: 0,
    }
}

fn dedup(names: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        let n = n.trim().to_string();
        if !n.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(&n)) {
            out.push(n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(id: &str, hosts: &[&str]) -> ProxyApp {
        ProxyApp {
            id: id.into(),
            name: id.into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            access: Access::default(),
            paths: vec![],
            public_paths: vec![],
            allow_basic: false,
            headers: RemoteHeader::ALL.to_vec(),
            launch_url: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn hosts_match_exactly_or_by_wildcard_ignoring_case_port_and_trailing_dot() {
        let apps = ProxyApps::new(vec![
            app("wild", &["*.example.org"]),
            app("deeper", &["*.lab.example.org"]),
            app("exact", &["grafana.example.org", "grafana.local"]),
        ]);
        let id = |h: &str| apps.for_host(h).map(|a| a.id.as_str());
        assert_eq!(id("Grafana.Example.org:8443"), Some("exact"));
        assert_eq!(id("grafana.local."), Some("exact"));
        assert_eq!(id("sonarr.example.org"), Some("wild"));
        assert_eq!(id("a.b.example.org"), Some("wild"));
        assert_eq!(id("x.lab.example.org"), Some("deeper"));
        // The wildcard covers subdomains, not the domain itself, nor look-alikes.
        assert_eq!(id("example.org"), None);
        assert_eq!(id("evilexample.org"), None);
        assert_eq!(id("example.org.evil.test"), None);
        assert_eq!(id("[::1]:8080"), None);
        assert_eq!(normalize_host("[::1]:8080"), "[::1]");
    }

    #[test]
    fn the_longest_path_rule_wins_and_public_paths_pass_only_when_written_plainly() {
        let admins = Access {
            groups: vec!["admins".into()],
            require: Strength::Passkey,
            max_age: None,
        };
        let mut a = app("a", &["a.example.org"]);
        a.paths = vec![
            PathRule {
                prefix: "/admin".into(),
                access: admins.clone(),
            },
            PathRule {
                prefix: "/admin/public-stats".into(),
                access: Access::default(),
            },
        ];
        a.public_paths = vec!["/health".into(), "/hooks/".into()];
        assert_eq!(a.needs("/health"), Needs::Nothing);
        assert_eq!(a.needs("/health?full=1"), Needs::Nothing);
        assert_eq!(a.needs("/health/live"), Needs::Nothing);
        assert_eq!(a.needs("/hooks/github"), Needs::Nothing);
        assert_eq!(a.needs("/healthy"), Needs::Access(&a.access));
        assert_eq!(a.needs("/admin"), Needs::Access(&admins));
        assert_eq!(a.needs("/admin/users?x=/health"), Needs::Access(&admins));
        assert_eq!(a.needs("/administrator"), Needs::Access(&a.access));
        assert_eq!(
            a.needs("/admin/public-stats/today"),
            Needs::Access(&Access::default())
        );
        // Tricks that a backend would resolve to /admin are judged as /admin.
        for trick in [
            "/health/../admin",
            "/health/%2e%2e/admin",
            "/health%2F..%2Fadmin",
            "//admin",
            "/./admin/",
            "/health\\..\\admin",
            "/%61dmin",
        ] {
            assert_eq!(a.needs(trick), Needs::Access(&admins), "{trick}");
        }
    }

    #[test]
    fn paths_normalize_like_a_backend_would() {
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("/a/b/../c/./d/"), "/a/c/d/");
        assert_eq!(normalize_path("/../../etc"), "/etc");
        assert_eq!(normalize_path("/a/.."), "/");
        assert_eq!(normalize_path("/a%zz"), "/a%zz");
        assert_eq!(normalize_path("/a%2"), "/a%2");
    }

    #[test]
    fn host_and_path_patterns_are_checked() {
        assert_eq!(check_host(" App.Example.ORG. ").unwrap(), "app.example.org");
        assert_eq!(check_host("*.example.org").unwrap(), "*.example.org");
        for bad in [
            "",
            "*",
            "*.org",
            "a.*.org",
            "app.example.org:80",
            "http://a",
            "-a.b",
            "a..b",
        ] {
            assert!(check_host(bad).is_err(), "{bad}");
        }
        assert_eq!(check_path("public_paths", "/health").unwrap(), "/health");
        for bad in ["health", "/a/../b", "/a?b", "/a%2f", "//a"] {
            assert!(check_path("public_paths", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_launch_url_defaults_to_the_first_exact_host() {
        let a = app("a", &["*.example.org", "media.example.org"]);
        assert_eq!(
            a.launch_url("https").as_deref(),
            Some("https://media.example.org/")
        );
        assert_eq!(app("w", &["*.example.org"]).launch_url("https"), None);
    }

    #[test]
    fn a_spec_is_checked_before_it_becomes_an_application() {
        let spec = AppSpec {
            name: " Media ".into(),
            hosts: vec!["Sonarr.example.org".into(), "*.media.example.org".into()],
            groups: vec!["media".into(), "Media".into()],
            require: Strength::TwoFactor,
            max_age_hours: Some(12),
            public_paths: vec!["/ping".into()],
            headers: Some(vec!["remote-user".into()]),
            ..AppSpec::default()
        };
        let app = spec.clone().build("id".into(), 1, 2).unwrap();
        assert_eq!(app.name, "Media");
        assert_eq!(app.hosts, ["sonarr.example.org", "*.media.example.org"]);
        assert_eq!(app.access.groups, ["media"]);
        assert_eq!(app.access.max_age, Some(12 * 3600));
        assert_eq!(app.headers, [RemoteHeader::User]);
        assert_eq!(AppSpec::of(&app).build("id".into(), 1, 2).unwrap(), app);
        let field = |s: AppSpec| s.build("id".into(), 0, 0).unwrap_err().field;
        assert_eq!(
            field(AppSpec {
                hosts: vec![],
                ..spec.clone()
            }),
            "hosts"
        );
        assert_eq!(
            field(AppSpec {
                name: "".into(),
                ..spec.clone()
            }),
            "name"
        );
        assert_eq!(
            field(AppSpec {
                max_age_hours: Some(0),
                ..spec.clone()
            }),
            "max_age_hours"
        );
        assert_eq!(
            field(AppSpec {
                launch_url: Some("https://evil.example/".into()),
                ..spec.clone()
            }),
            "launch_url"
        );
        assert_eq!(
            field(AppSpec {
                headers: Some(vec!["X-User".into()]),
                ..spec.clone()
            }),
            "headers"
        );
        let ok = AppSpec {
            launch_url: Some("https://tv.media.example.org/web".into()),
            ..spec
        };
        assert!(ok.build("id".into(), 0, 0).is_ok());
    }
}
