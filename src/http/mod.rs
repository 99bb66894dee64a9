//! HTTP plumbing shared by every page and endpoint: the accept loop (plain or TLS,
//! timeouts, connection caps, graceful shutdown), request ids, the request log,
//! security headers, and the client's real address behind trusted proxies.

pub mod client;
pub mod limits;
pub mod middleware;
pub mod server;

pub use client::ClientInfo;

/// The credentials of an `Authorization` header value that uses `scheme`. Scheme
/// names are case-insensitive (RFC 9110 §11.1): `Basic`, `BASIC` and `bAsIc` are one.
pub fn credentials<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (name, rest) = value.trim_start().split_once([' ', '\t'])?;
    name.eq_ignore_ascii_case(scheme)
        .then(|| rest.trim())
        .filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::credentials;

    #[test]
    fn scheme_names_are_case_insensitive() {
        for v in [
            "Bearer abc",
            "bearer abc",
            "BEARER abc",
            "bEaReR   abc ",
            "Bearer\tabc",
        ] {
            assert_eq!(credentials(v, "Bearer"), Some("abc"), "{v:?}");
        }
        assert_eq!(credentials("Basic abc", "Bearer"), None);
        assert_eq!(credentials("Bearerabc", "Bearer"), None);
        assert_eq!(credentials("Bearer ", "Bearer"), None);
        assert_eq!(credentials("BASIC dTpw", "basic"), Some("dTpw"));
    }
}
