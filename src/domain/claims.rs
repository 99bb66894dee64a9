//! Custom claims set on users and groups, added to ID tokens and userinfo.

use serde_json::{Map, Value};

use super::Invalid;
use super::user::User;

/// Claims Latchkey itself sets; a custom claim may not replace them.
pub const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "c_hash",
    "sid",
    "scope",
    "client_id",
    "cnf",
    "typ",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "email_verified",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "phone_number_verified",
    "address",
    "updated_at",
    "groups",
];

const KEY_MAX: usize = 64;
const VALUE_MAX: usize = 4096;

/// Check a custom claim's key and value.
pub fn check_custom_claim(key: &str, value: &str) -> Result<(), Invalid> {
    if key.is_empty() || key.len() > KEY_MAX {
        return Err(Invalid::new(
            "key",
            format!("must be 1–{KEY_MAX} characters"),
        ));
    }
    if !key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
    {
        return Err(Invalid::new(
            "key",
            "may contain only letters, digits, `_`, `-`, `.` and `:`",
        ));
    }
    if RESERVED_CLAIMS.contains(&key) {
        return Err(Invalid::new(
            "key",
            format!("`{key}` is a standard claim and cannot be overridden"),
        ));
    }
    if value.len() > VALUE_MAX {
        return Err(Invalid::new(
            "value",
            format!("must be at most {VALUE_MAX} bytes"),
        ));
    }
    Ok(())
}

/// The value to emit: JSON when the text parses as JSON, otherwise the text as a string.
pub fn claim_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// A user as ID tokens and userinfo describe them: the user, the names of their
/// groups (in name order) and their custom claims. The store reads it in one statement.
#[derive(Debug, Clone)]
pub struct Subject {
    pub user: User,
    pub groups: Vec<String>,
    pub custom: CustomClaims,
}

/// Custom claims as stored: those of the user's groups, group by group in name order
/// and by key within a group, then the user's own, by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomClaims {
    pub of_groups: Vec<(String, String)>,
    pub own: Vec<(String, String)>,
}

impl CustomClaims {
    /// What tokens carry (see [`merge_claims`]).
    pub fn merged(&self) -> Map<String, Value> {
        merge_claims(self.of_groups.iter().cloned(), self.own.iter().cloned())
    }
}

/// Merge group claims and user claims; the user's value wins, then later groups.
pub fn merge_claims(
    group_claims: impl IntoIterator<Item = (String, String)>,
    user_claims: impl IntoIterator<Item = (String, String)>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in group_claims.into_iter().chain(user_claims) {
        out.insert(k, claim_value(&v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reserved_and_malformed_keys_are_refused() {
        assert!(check_custom_claim("department", "ops").is_ok());
        assert!(check_custom_claim("sub", "x").is_err());
        assert!(check_custom_claim("email", "x").is_err());
        assert!(check_custom_claim("bad key", "x").is_err());
        assert!(check_custom_claim("", "x").is_err());
    }

    #[test]
    fn user_claims_win_and_json_is_json() {
        let merged = merge_claims(
            [("team".into(), "blue".into()), ("quota".into(), "5".into())],
            [
                ("team".into(), "red".into()),
                ("roles".into(), "[\"a\",\"b\"]".into()),
            ],
        );
        assert_eq!(merged["team"], json!("red"));
        assert_eq!(merged["quota"], json!(5));
        assert_eq!(merged["roles"], json!(["a", "b"]));
    }
}
