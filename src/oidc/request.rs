//! What an authorization request asks for, checked before anything is read from the
//! store: response type and mode, PKCE (RFC 7636), scope, `prompt` and `max_age`
//! (OIDC Core §3.1.2.1). A failure here goes back to the client as an OAuth error.
//!
//! Kept apart from the handler so that it is a plain function of the parameters: the
//! fuzz target `authorize` drives it with arbitrary query strings.

use super::params::Params;
use crate::domain::scope;

/// A request that passed the checks: what the rest of the flow needs from it.
#[derive(Debug, PartialEq, Eq)]
pub struct AuthorizeRequest<'a> {
    /// The scopes granted (those asked for that exist), space-separated; never empty.
    pub scope: String,
    /// The `prompt` values, each one of `none`, `login`, `consent`, `select_account`.
    pub prompts: Vec<&'a str>,
    /// The oldest sign-in the client accepts, in seconds.
    pub max_age: Option<i64>,
}

/// Why a request was refused: an RFC 6749 §4.1.2.1 error code and a description.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub error: &'static str,
    pub description: String,
}

fn refuse(error: &'static str, description: &str) -> Refused {
    Refused {
        error,
        description: description.to_string(),
    }
}

/// The client's PKCE rules.
#[derive(Debug, Clone, Copy)]
pub struct Pkce {
    pub required: bool,
    pub allow_plain: bool,
}

/// Check an authorization request whose client and redirect URI are already known.
pub fn check<'a>(params: &'a Params, pkce: Pkce) -> Result<AuthorizeRequest<'a>, Refused> {
    if params
        .get("response_mode")
        .is_some_and(|m| !matches!(m, "query" | "fragment" | "form_post"))
    {
        return Err(refuse("invalid_request", "unsupported response_mode"));
    }
    if let Some(problem) = params.problem() {
        return Err(Refused {
            error: "invalid_request",
            description: problem,
        });
    }
    // OpenID Connect Core §6: each has its own error when not supported.
    if params.get("request_uri").is_some() {
        return Err(refuse(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    if params.get("request").is_some() {
        return Err(refuse(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    match params.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(refuse(
                "unsupported_response_type",
                "only response_type=code is supported",
            ));
        }
        None => return Err(refuse("invalid_request", "response_type is missing")),
    }
    check_pkce(params, pkce)?;
    let granted = scope::granted(params.get("scope").unwrap_or_default()).join(" ");
    if granted.is_empty() {
        return Err(refuse("invalid_scope", "request at least the openid scope"));
    }
    let prompts: Vec<&str> = params
        .get("prompt")
        .unwrap_or_default()
        .split(' ')
        .filter(|p| !p.is_empty())
        .collect();
    if prompts
        .iter()
        .any(|p| !matches!(*p, "none" | "login" | "consent" | "select_account"))
    {
        return Err(refuse("invalid_request", "unknown prompt value"));
    }
    if prompts.contains(&"none") && prompts.len() > 1 {
        return Err(refuse(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match params.get("max_age").map(str::parse::<i64>) {
        None => None,
        Some(Ok(v)) if v >= 0 => Some(v),
        Some(_) => {
            return Err(refuse(
                "invalid_request",
                "max_age must be a non-negative integer",
            ));
        }
    };
    Ok(AuthorizeRequest {
        scope: granted,
        prompts,
        max_age,
    })
}

fn check_pkce(params: &Params, pkce: Pkce) -> Result<(), Refused> {
    match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, _) if pkce.required => Err(refuse(
            "invalid_request",
            "PKCE is required: send code_challenge with method S256",
        )),
        (None, Some(_)) => Err(refuse(
            "invalid_request",
            "code_challenge_method without code_challenge",
        )),
        (None, None) => Ok(()),
        (Some(challenge), method) => {
            let method = method.unwrap_or("plain");
            if method == "plain" && !pkce.allow_plain {
                return Err(refuse("invalid_request", "use code_challenge_method=S256"));
            }
            if !matches!(method, "S256" | "plain") {
                return Err(refuse(
                    "invalid_request",
                    "unsupported code_challenge_method",
                ));
            }
            if !is_pkce_string(challenge) {
                return Err(refuse("invalid_request", "code_challenge is malformed"));
            }
            Ok(())
        }
    }
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]` (verifier and challenge).
pub fn is_pkce_string(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: Pkce = Pkce {
        required: true,
        allow_plain: false,
    };

    fn checked(query: &str) -> Result<(String, Vec<String>, Option<i64>), &'static str> {
        let params = Params::parse(query);
        check(&params, STRICT)
            .map(|r| {
                let prompts = r.prompts.iter().map(|p| p.to_string()).collect();
                (r.scope, prompts, r.max_age)
            })
            .map_err(|e| e.error)
    }

    #[test]
    fn each_rule_has_its_error() {
        let ok =
            "response_type=code&scope=openid+email+nope&code_challenge_method=S256&code_challenge=";
        let challenge = "a".repeat(43);
        let good = format!("{ok}{challenge}");
        assert_eq!(checked(&good), Ok(("openid email".into(), vec![], None)));
        let cases: &[(&str, &str)] = &[
            ("&response_mode=web_message", "invalid_request"),
            ("&request=x", "request_not_supported"),
            ("&request_uri=urn%3Ax", "request_uri_not_supported"),
            ("&response_type=token", "invalid_request"),
            ("&max_age=-1", "invalid_request"),
            ("&prompt=none+login", "invalid_request"),
            ("&prompt=maybe", "invalid_request"),
        ];
        for (extra, error) in cases {
            assert_eq!(
                checked(&format!("{good}{extra}")).err(),
                Some(*error),
                "{extra}"
            );
        }
        assert_eq!(
            checked(&good.replace("response_type=code", "response_type=token")).err(),
            Some("unsupported_response_type")
        );
        assert_eq!(
            checked(&good.replace("scope=openid+email+nope", "scope=nope")).err(),
            Some("invalid_scope")
        );
        assert_eq!(
            checked(&good.replace("S256", "plain")).err(),
            Some("invalid_request"),
            "plain PKCE is off for this client"
        );
        assert_eq!(
            checked(&format!("{ok}short")).err(),
            Some("invalid_request")
        );
        assert_eq!(
            checked("response_type=code&scope=openid").err(),
            Some("invalid_request"),
            "PKCE is required"
        );
        assert_eq!(
            checked(&format!("{good}&prompt=login+consent&max_age=0")),
            Ok((
                "openid email".into(),
                vec!["login".into(), "consent".into()],
                Some(0)
            ))
        );
    }
}
