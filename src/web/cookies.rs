//! Cookie names and attributes. Under https every cookie is `__Host-`-prefixed and
//! Secure; all are HttpOnly and SameSite=Lax, path `/`, no domain.

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

pub const SESSION: &str = "latchkey_session";
pub const CSRF: &str = "latchkey_csrf";
pub const DEVICE: &str = "latchkey_device";
pub const PENDING: &str = "latchkey_pending";
/// Binds an emailed login code to the browser that asked for it.
pub const EMAIL_CODE: &str = "latchkey_email_code";

/// How long the device cookie lives: about 400 days, the most browsers keep.
pub const DEVICE_MAX_AGE: i64 = 400 * 86_400;

/// Cookie naming and flags for this deployment.
#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    pub secure: bool,
}

impl CookiePolicy {
    /// The full cookie name: `__Host-` prefixed under https.
    pub fn name(&self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_string()
        }
    }

    /// A `Set-Cookie` value; `max_age` None makes a browser-session cookie.
    pub fn set(&self, base: &str, value: &str, max_age: Option<i64>) -> String {
        let mut c = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax",
            self.name(base)
        );
        if self.secure {
            c.push_str("; Secure");
        }
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={age}"));
        }
        c
    }

    /// A `Set-Cookie` value that deletes the cookie.
    pub fn clear(&self, base: &str) -> String {
        self.set(base, "", Some(0))
    }

    /// The value of one of our cookies in the request.
    pub fn get(&self, headers: &HeaderMap, base: &str) -> Option<String> {
        let name = self.name(base);
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim_matches('"').to_string())
            .filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_cookies_are_host_prefixed_and_secure() {
        let https = CookiePolicy { secure: true };
        assert_eq!(
            https.set(SESSION, "v", Some(60)),
            "__Host-latchkey_session=v; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=60"
        );
        let http = CookiePolicy { secure: false };
        assert_eq!(
            http.set(SESSION, "v", None),
            "latchkey_session=v; Path=/; HttpOnly; SameSite=Lax"
        );
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            "a=1; latchkey_session=abc; __Host-latchkey_session=def"
                .parse()
                .unwrap(),
        );
        assert_eq!(http.get(&h, SESSION).as_deref(), Some("abc"));
        assert_eq!(https.get(&h, SESSION).as_deref(), Some("def"));
        assert_eq!(http.get(&h, CSRF), None);
    }
}
