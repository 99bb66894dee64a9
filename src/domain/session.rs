//! A signed-in browser: a server-side row the user can see and revoke.

use serde::Serialize;

/// How a person proved who they are for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    Passkey,
    Password,
    PasswordTotp,
    PasswordRecoveryCode,
    LoginLink,
    /// The first-admin setup link; no credential existed yet.
    Setup,
    /// The person just created the account (sign-up); no credential existed yet.
    Signup,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Passkey => "passkey",
            AuthMethod::Password => "password",
            AuthMethod::PasswordTotp => "password+totp",
            AuthMethod::PasswordRecoveryCode => "password+recovery_code",
            AuthMethod::LoginLink => "login_link",
            AuthMethod::Setup => "setup",
            AuthMethod::Signup => "signup",
        }
    }

    pub fn parse(text: &str) -> Option<AuthMethod> {
        [
            AuthMethod::Passkey,
            AuthMethod::Password,
            AuthMethod::PasswordTotp,
            AuthMethod::PasswordRecoveryCode,
            AuthMethod::LoginLink,
            AuthMethod::Setup,
            AuthMethod::Signup,
        ]
        .into_iter()
        .find(|m| m.as_str() == text)
    }

    /// The `amr` values (RFC 8176) this method stands for, for ID tokens.
    pub fn amr(self) -> Vec<&'static str> {
        match self {
            AuthMethod::Passkey => vec!["hwk", "user"],
            AuthMethod::Password => vec!["pwd"],
            AuthMethod::PasswordTotp => vec!["pwd", "otp", "mfa"],
            AuthMethod::PasswordRecoveryCode => vec!["pwd", "otp", "mfa"],
            AuthMethod::LoginLink => vec!["otp"],
            AuthMethod::Setup | AuthMethod::Signup => vec![],
        }
    }

    /// A short description for the sessions list.
    pub fn label(self) -> &'static str {
        match self {
            AuthMethod::Passkey => "Passkey",
            AuthMethod::Password => "Password",
            AuthMethod::PasswordTotp => "Password and authenticator code",
            AuthMethod::PasswordRecoveryCode => "Password and recovery code",
            AuthMethod::LoginLink => "Login link",
            AuthMethod::Setup => "Setup link",
            AuthMethod::Signup => "Account creation",
        }
    }
}

/// A session as stored (its id only as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id_hash: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    /// When the user last proved who they are in this session (sign-in or re-authentication).
    pub auth_time: i64,
    pub auth_method: AuthMethod,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub new_device: bool,
}

impl Session {
    /// Has the session ended by idling or by its absolute lifetime?
    pub fn is_expired(&self, now: i64, idle_timeout: i64) -> bool {
        now >= self.expires_at || now - self.last_seen_at >= idle_timeout
    }

    /// Did the user authenticate within the last `window` seconds?
    pub fn is_recently_authenticated(&self, now: i64, window: i64) -> bool {
        now - self.auth_time <= window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_round_trip_and_map_to_amr() {
        for m in [
            AuthMethod::Passkey,
            AuthMethod::PasswordTotp,
            AuthMethod::LoginLink,
            AuthMethod::Setup,
        ] {
            assert_eq!(AuthMethod::parse(m.as_str()), Some(m));
        }
        assert_eq!(AuthMethod::PasswordTotp.amr(), ["pwd", "otp", "mfa"]);
        assert_eq!(AuthMethod::parse("magic"), None);
    }

    #[test]
    fn expiry_by_idle_and_lifetime() {
        let s = Session {
            id_hash: "h".into(),
            user_id: "u".into(),
            created_at: 1000,
            last_seen_at: 1000,
            expires_at: 5000,
            auth_time: 1000,
            auth_method: AuthMethod::Passkey,
            ip: None,
            user_agent: None,
            new_device: false,
        };
        assert!(!s.is_expired(1500, 600));
        assert!(s.is_expired(1600, 600), "idle");
        assert!(s.is_expired(5000, 100_000), "absolute");
        assert!(s.is_recently_authenticated(1300, 300));
        assert!(!s.is_recently_authenticated(1301, 300));
    }
}
