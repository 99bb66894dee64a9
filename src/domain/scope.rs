//! OAuth scopes Latchkey understands.

/// Scopes with a meaning here; others are ignored (RFC 6749 §3.3 lets the server
/// grant less than asked, and says so in the response's `scope`).
pub const SUPPORTED: &[&str] = &["openid", "profile", "email", "groups", "offline_access"];

/// The supported scopes of a request, de-duplicated, in a stable order.
pub fn granted(requested: &str) -> Vec<&'static str> {
    let asked: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
    SUPPORTED
        .iter()
        .copied()
        .filter(|s| asked.contains(s))
        .collect()
}

/// Does `scope` (space-separated) contain `name`?
pub fn has(scope: &str, name: &str) -> bool {
    scope.split(' ').any(|s| s == name)
}

/// Are all scopes of `wanted` within `given`?
pub fn covered(wanted: &str, given: &str) -> bool {
    wanted
        .split(' ')
        .filter(|s| !s.is_empty())
        .all(|s| has(given, s))
}

/// The scope of a client_credentials token asked for with `requested`, for a client
/// registered for the scopes `registered`: user scopes make no sense without a user
/// and are dropped; any other scope the client is not registered for is refused
/// (RFC 6749 §5.2 `invalid_scope`), and the error names it.
pub fn for_client_credentials<'a>(
    requested: &'a str,
    registered: &[&str],
) -> Result<String, &'a str> {
    let mut granted: Vec<&str> = Vec::new();
    for s in requested.split(' ').filter(|s| !s.is_empty()) {
        if SUPPORTED.contains(&s) || granted.contains(&s) {
            continue;
        }
        if !registered.contains(&s) {
            return Err(s);
        }
        granted.push(s);
    }
    Ok(granted.join(" "))
}

/// Is `s` a scope token of RFC 6749 §3.3 (printable ASCII but space, `"` and `\`)?
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// What the consent page says a scope lets the service see.
pub fn describe(scope: &str) -> Option<&'static str> {
    Some(match scope {
        "openid" => "Know who you are (your account id)",
        "profile" => "Your name, username, picture and language",
        "email" => "Your email address",
        "groups" => "The groups you belong to",
        "offline_access" => "Stay signed in to it while you are away",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_scopes_are_dropped_and_order_is_stable() {
        assert_eq!(granted("email openid foo openid"), ["openid", "email"]);
        assert!(covered("openid email", "openid profile email"));
        assert!(!covered("openid groups", "openid email"));
        assert!(has("openid email", "email") && !has("openid emails", "email"));
    }

    #[test]
    fn client_credentials_get_only_registered_scopes() {
        assert_eq!(for_client_credentials("", &[]), Ok(String::new()));
        assert_eq!(
            for_client_credentials("openid email", &[]),
            Ok(String::new())
        );
        assert_eq!(for_client_credentials("openid admin", &[]), Err("admin"));
        assert_eq!(
            for_client_credentials("backup backup openid", &["backup"]),
            Ok("backup".to_string())
        );
        assert_eq!(
            for_client_credentials("backup write", &["backup"]),
            Err("write")
        );
    }
}
