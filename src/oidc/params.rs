//! OAuth request parameters from a query string or a form body, with the checks the
//! specifications ask for: no parameter twice, nothing huge, valid encoding.

use std::collections::BTreeMap;

/// The longest single value accepted (a `request_uri` or `id_token_hint` fits easily).
const MAX_VALUE: usize = 8 * 1024;
/// The longest query or body accepted.
pub const MAX_TOTAL: usize = 64 * 1024;

#[derive(Debug, Default, Clone)]
pub struct Params {
    map: BTreeMap<String, String>,
    repeated: Vec<String>,
    oversized: bool,
}

impl Params {
    /// Parse `application/x-www-form-urlencoded` text. Invalid UTF-8 percent-escapes are
    /// replaced, which makes such values fail the later checks rather than crash.
    pub fn parse(raw: &str) -> Params {
        let mut p = Params {
            oversized: raw.len() > MAX_TOTAL,
            ..Params::default()
        };
        for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
            if v.len() > MAX_VALUE {
                p.oversized = true;
            }
            if p.map.contains_key(k.as_ref()) {
                p.repeated.push(k.to_string());
            } else {
                p.map.insert(k.into_owned(), v.into_owned());
            }
        }
        p
    }

    /// A parameter's value; empty values count as absent (RFC 6749 §3.1).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn is_repeated(&self, key: &str) -> bool {
        self.repeated.iter().any(|k| k == key)
    }

    /// The first problem with the request as a whole, if any.
    pub fn problem(&self) -> Option<String> {
        if self.oversized {
            return Some("a parameter is too long".into());
        }
        self.repeated
            .first()
            .map(|k| format!("the parameter `{k}` appears more than once"))
    }

    /// Encode again (to come back to the same request after signing in).
    pub fn to_query(&self, drop: &[&str]) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.map {
            if !drop.contains(&k.as_str()) {
                out.append_pair(k, v);
            }
        }
        out.finish()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.map.insert(key.to_string(), value.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_and_sizes_are_noticed() {
        let p = Params::parse("a=1&b=&a=2&c=%FF");
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert!(p.is_repeated("a"));
        assert!(p.problem().unwrap().contains("`a`"));
        assert!(p.get("c").is_some(), "bad UTF-8 is replaced, not a crash");
        assert!(
            Params::parse(&format!("x={}", "y".repeat(9000)))
                .problem()
                .is_some()
        );
        assert_eq!(Params::parse("b=2&a=1").to_query(&["b"]), "a=1");
    }
}
