//! An OIDC client (relying party) and the rules about where it may send people.

use serde::Serialize;
use url::Url;

use super::Invalid;
use super::access::{Access, Strength};

/// The `acr` of a phishing-resistant sign-in (a passkey), as OpenID's EAP ACR values
/// name it.
pub const PHR: &str = "phr";

/// A registered client as stored (secrets only as hashes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Client {
    pub id: String,
    pub name: String,
    #[serde(skip)]
    pub secret_hash: Option<String>,
    #[serde(skip)]
    pub previous_secret_hash: Option<String>,
    #[serde(skip)]
    pub previous_secret_expires_at: Option<i64>,
    pub is_public: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// PKCE required even though the client is confidential.
    pub require_pkce: bool,
    /// The client may use the `plain` PKCE method (S256 otherwise).
    pub allow_plain_pkce: bool,
    /// JOSE algorithm for ID and access tokens: RS256, ES256 or EdDSA.
    pub signing_alg: String,
    pub access_token_ttl: i64,
    pub refresh_token_ttl: i64,
    pub skip_consent: bool,
    /// Issue a refresh token even without `offline_access`.
    pub always_refresh: bool,
    pub launch_url: Option<String>,
    /// Groups whose members may use the client; empty = everyone.
    pub allowed_groups: Vec<String>,
    /// How strongly people must have signed in: `any`, `two-factor` or `passkey`.
    #[schema(value_type = String)]
    pub require: Strength,
    /// Sign in again when the last sign-in is older than this (seconds).
    pub max_session_age: Option<i64>,
    /// The grant types it may use, by their RFC names.
    pub grant_types: Vec<String>,
    /// The scopes it may be given; others asked for are dropped from the grant.
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Client {
    /// PKCE is required for public clients and for clients marked so.
    pub fn pkce_required(&self) -> bool {
        self.is_public || self.require_pkce
    }

    /// Is `requested` one of the registered redirect URIs? Exact string match, except
    /// that a registered loopback URI (http://127.0.0.1, http://[::1], http://localhost)
    /// matches any port (RFC 8252 §7.3).
    pub fn accepts_redirect_uri(&self, requested: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| redirect_matches(registered, requested))
    }

    /// May a member of these groups (by name) use the client? Everyone may when the
    /// client names no groups.
    pub fn admits<'a>(&self, group_names: impl Iterator<Item = &'a str>) -> bool {
        super::access::admits(&self.allowed_groups, group_names)
    }

    /// May the client use this grant type?
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }

    /// The scopes of `granted` (already the supported ones, space-separated) that
    /// the client may be given, in the same order.
    pub fn narrow_scope(&self, granted: &str) -> String {
        granted
            .split(' ')
            .filter(|s| self.scopes.iter().any(|a| a == s))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// How strongly and how lately a person must have signed in to use the client,
    /// asked as for a proxied application (`Access::judge_sign_in`). `acr_values`
    /// containing `phr` asks for a passkey whatever the client's own rule.
    pub fn sign_in_rule(&self, acr_values: Option<&str>) -> Access {
        let wants_passkey = acr_values.is_some_and(|v| v.split(' ').any(|a| a == PHR));
        Access {
            groups: Vec::new(),
            require: if wants_passkey {
                Strength::Passkey
            } else {
                self.require
            },
            max_age: self.max_session_age,
        }
    }

    pub fn accepts_post_logout_uri(&self, requested: &str) -> bool {
        self.post_logout_redirect_uris
            .iter()
            .any(|r| r == requested)
    }
}

/// Exact match, or a loopback URI equal in everything but the port.
pub fn redirect_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(reg), Ok(req)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    let loopback = |u: &Url| {
        u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"))
    };
    if !(loopback(&reg) && loopback(&req)) {
        return false;
    }
    // Everything but the port must be identical, compared on the original text so that
    // normalisation by the URL parser cannot make two different strings equal.
    let without_port = |text: &str, u: &Url| -> Option<String> {
        match u.port() {
            Some(p) => Some(text.replacen(&format!(":{p}"), "", 1)),
            None => Some(text.to_string()),
        }
    };
    reg.host_str() == req.host_str()
        && without_port(registered, &reg)
            .is_some_and(|a| without_port(requested, &req).is_some_and(|b| a == b))
}

/// Check a redirect URI at registration: absolute, no fragment; https, or http only
/// for loopback; or a private-use scheme (`com.example.app:/cb`) for native apps.
pub fn check_redirect_uri(uri: &str) -> Result<(), Invalid> {
    let url = Url::parse(uri)
        .map_err(|_| Invalid::new("redirect_uri", format!("`{uri}` is not an absolute URL")))?;
    if url.fragment().is_some() {
        return Err(Invalid::new(
            "redirect_uri",
            format!("`{uri}` must not have a fragment"),
        ));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => Ok(()), // plain http is allowed for homelab services on a private network
        "javascript" | "data" | "file" | "vbscript" => Err(Invalid::new(
            "redirect_uri",
            format!("`{uri}` has a forbidden scheme"),
        )),
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(Invalid::new(
            "redirect_uri",
            format!("`{uri}` must be http(s) or a private-use scheme like com.example.app"),
        )),
    }
}

/// The grant types a client may be allowed, by their RFC names.
pub const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];

/// What a client may use when nothing narrower was set: every grant its type allows.
pub fn default_grant_types(is_public: bool) -> Vec<String> {
    GRANT_TYPES
        .iter()
        .filter(|g| !is_public || **g != "client_credentials")
        .map(|g| g.to_string())
        .collect()
}

/// Check an admin's list of grant types for a client of this type.
pub fn check_grant_types(list: &[String], is_public: bool) -> Result<Vec<String>, Invalid> {
    let mut out: Vec<String> = Vec::new();
    for g in list {
        let g = g.trim();
        if g == DEVICE_CODE {
            return Err(Invalid::new(
                "grant_types",
                "the device flow is not available yet",
            ));
        }
        if !GRANT_TYPES.contains(&g) {
            return Err(Invalid::new(
                "grant_types",
                format!("`{g}` is not one of {}", GRANT_TYPES.join(", ")),
            ));
        }
        if is_public && g == "client_credentials" {
            return Err(Invalid::new(
                "grant_types",
                "a public client cannot use client_credentials (it has no secret)",
            ));
        }
        if !out.iter().any(|o| o == g) {
            out.push(g.to_string());
        }
    }
    if out.is_empty() {
        return Err(Invalid::new("grant_types", "at least one grant type"));
    }
    Ok(out)
}

/// The device flow's grant type (RFC 8628).
pub const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Check an admin's list of scopes: each one Latchkey knows, `openid` among them.
pub fn check_scopes(list: &[String]) -> Result<Vec<String>, Invalid> {
    let mut out: Vec<String> = Vec::new();
    for s in list {
        let s = s.trim();
        if !super::scope::SUPPORTED.contains(&s) {
            return Err(Invalid::new(
                "scopes",
                format!("`{s}` is not one of {}", super::scope::SUPPORTED.join(", ")),
            ));
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    if !out.iter().any(|s| s == "openid") {
        return Err(Invalid::new("scopes", "openid must be among them"));
    }
    Ok(out)
}

/// The algorithms a client may choose for its tokens.
pub const SIGNING_ALGS: &[&str] = &["RS256", "ES256", "EdDSA"];

#[cfg(test)]
mod tests {
    use super::*;

    fn client(uris: &[&str]) -> Client {
        Client {
            id: "c".into(),
            name: "n".into(),
            secret_hash: None,
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            is_public: false,
            redirect_uris: uris.iter().map(|s| s.to_string()).collect(),
            post_logout_redirect_uris: vec![],
            require_pkce: false,
            allow_plain_pkce: false,
            signing_alg: "RS256".into(),
            access_token_ttl: 3600,
            refresh_token_ttl: 86400,
            skip_consent: false,
            always_refresh: false,
            launch_url: None,
            allowed_groups: vec![],
            require: Strength::Any,
            max_session_age: None,
            grant_types: default_grant_types(false),
            scopes: vec!["openid".into(), "email".into()],
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn redirect_uris_match_exactly() {
        let c = client(&["https://app.example.com/callback"]);
        assert!(c.accepts_redirect_uri("https://app.example.com/callback"));
        for bad in [
            "https://app.example.com/callback/",
            "https://app.example.com/Callback",
            "https://app.example.com/callback?x=1",
            "https://app.example.com/callback#frag",
            "https://evil@app.example.com/callback",
            "https://app.example.com.evil.org/callback",
            "https://app.example.com:443/callback",
            "http://app.example.com/callback",
            "https://APP.example.com/callback",
        ] {
            assert!(!c.accepts_redirect_uri(bad), "{bad}");
        }
    }

    #[test]
    fn loopback_redirects_match_any_port() {
        let c = client(&["http://127.0.0.1/cb", "http://localhost:8080/callback"]);
        assert!(c.accepts_redirect_uri("http://127.0.0.1:53122/cb"));
        assert!(c.accepts_redirect_uri("http://localhost:9999/callback"));
        assert!(!c.accepts_redirect_uri("http://127.0.0.1:53122/cb2"));
        assert!(!c.accepts_redirect_uri("http://127.0.0.2:53122/cb"));
        assert!(!c.accepts_redirect_uri("https://127.0.0.1:53122/cb"));
        assert!(!c.accepts_redirect_uri("http://localhost:9999/callback?x"));
    }

    #[test]
    fn registration_checks() {
        assert!(check_redirect_uri("https://a.example/cb").is_ok());
        assert!(check_redirect_uri("com.example.app:/oauth").is_ok());
        assert!(check_redirect_uri("https://a.example/cb#x").is_err());
        assert!(check_redirect_uri("javascript:alert(1)").is_err());
        assert!(check_redirect_uri("/relative").is_err());
    }

    #[test]
    fn acr_values_phr_asks_for_a_passkey_whatever_the_clients_own_rule() {
        let c = Client {
            require: Strength::TwoFactor,
            max_session_age: Some(600),
            ..client(&["https://a.example/cb"])
        };
        assert_eq!(c.sign_in_rule(None).require, Strength::TwoFactor);
        assert_eq!(c.sign_in_rule(Some("urn:x phr")).require, Strength::Passkey);
        assert_eq!(c.sign_in_rule(Some("phrh")).require, Strength::TwoFactor);
        assert_eq!(c.sign_in_rule(None).max_age, Some(600));
    }

    #[test]
    fn grants_and_scopes_are_checked_and_narrowed() {
        let c = client(&["https://a.example/cb"]);
        assert!(c.allows_grant("client_credentials") && !c.allows_grant(DEVICE_CODE));
        assert_eq!(
            c.narrow_scope("openid profile email groups"),
            "openid email"
        );
        assert_eq!(
            default_grant_types(true),
            ["authorization_code", "refresh_token"]
        );
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_grant_types(&list(&["client_credentials"]), true).is_err());
        assert!(check_grant_types(&list(&[DEVICE_CODE]), false).is_err());
        assert!(check_grant_types(&list(&["implicit"]), false).is_err());
        assert!(check_grant_types(&list(&[]), false).is_err());
        assert_eq!(
            check_grant_types(
                &list(&["refresh_token", "authorization_code", "refresh_token"]),
                true
            )
            .unwrap(),
            ["refresh_token", "authorization_code"]
        );
        assert!(check_scopes(&list(&["email"])).is_err(), "openid is needed");
        assert!(check_scopes(&list(&["openid", "admin"])).is_err());
        assert_eq!(
            check_scopes(&list(&["openid", "groups"])).unwrap(),
            ["openid", "groups"]
        );
    }
}
