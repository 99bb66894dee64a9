//! May this person use this application, with the sign-in they have? One rule for
//! every way in: an OIDC client and a proxied application both ask it.

use serde::{Deserialize, Serialize};

use super::Invalid;
use super::session::AuthMethod;

/// How strongly the person must have signed in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strength {
    /// Any sign-in Latchkey accepts.
    #[default]
    Any,
    /// A passkey, or a password with a second factor (TOTP or a recovery code).
    TwoFactor,
    /// A passkey only.
    Passkey,
}

impl Strength {
    pub fn as_str(self) -> &'static str {
        match self {
            Strength::Any => "any",
            Strength::TwoFactor => "two-factor",
            Strength::Passkey => "passkey",
        }
    }

    pub fn parse(text: &str) -> Result<Strength, Invalid> {
        match text {
            "any" => Ok(Strength::Any),
            "two-factor" => Ok(Strength::TwoFactor),
            "passkey" => Ok(Strength::Passkey),
            other => Err(Invalid::new(
                "require",
                format!("`{other}` is not one of any, two-factor, passkey"),
            )),
        }
    }

    /// What a person reads on the sign-in page when a stronger sign-in is needed.
    pub fn describe(self) -> &'static str {
        match self {
            Strength::Any => "any sign-in",
            Strength::TwoFactor => "a passkey, or a password with an authenticator code",
            Strength::Passkey => "a passkey",
        }
    }

    /// The strength a sign-in by `method` has.
    pub fn of(method: AuthMethod) -> Strength {
        match method {
            AuthMethod::Passkey => Strength::Passkey,
            AuthMethod::PasswordTotp | AuthMethod::PasswordRecoveryCode => Strength::TwoFactor,
            AuthMethod::Password
            | AuthMethod::LoginLink
            | AuthMethod::EmailCode
            | AuthMethod::Setup
            | AuthMethod::Signup => Strength::Any,
        }
    }

    /// Does a sign-in by `method` meet this requirement?
    pub fn met_by(self, method: AuthMethod) -> bool {
        Strength::of(method) >= self
    }
}

/// Who may use an application and how they must have signed in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// Group names whose members are admitted; empty admits everyone.
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub require: Strength,
    /// Sign in again when the last sign-in is older than this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
}

/// The answer for one person and one sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Not a member of any allowed group: signing in again does not help.
    NotInGroup,
    /// A member, but the sign-in is weaker than required: a step-up helps.
    TooWeak(Strength),
    /// A member, but the sign-in is older than the maximum age: sign in again.
    TooOld,
}

/// The group rule alone: may a member of `user_groups` use an application that
/// admits `allowed`? Everyone may when `allowed` is empty.
pub fn admits<'a>(allowed: &[String], mut user_groups: impl Iterator<Item = &'a str>) -> bool {
    allowed.is_empty() || user_groups.any(|g| allowed.iter().any(|a| a == g))
}

impl Access {
    /// Judge a person who is a member of `user_groups` (by name) and signed in by
    /// `method` at `auth_time`, at `now`.
    pub fn judge<'a>(
        &self,
        user_groups: impl Iterator<Item = &'a str>,
        method: AuthMethod,
        auth_time: i64,
        now: i64,
    ) -> Verdict {
        if !admits(&self.groups, user_groups) {
            return Verdict::NotInGroup;
        }
        self.judge_sign_in(method, auth_time, now)
    }

    /// The sign-in part of the rule alone (strength and age), for a caller that
    /// checked the groups already.
    pub fn judge_sign_in(&self, method: AuthMethod, auth_time: i64, now: i64) -> Verdict {
        if !self.require.met_by(method) {
            return Verdict::TooWeak(self.require);
        }
        if self.max_age.is_some_and(|age| now - auth_time > age) {
            return Verdict::TooOld;
        }
        Verdict::Allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(names: &'static [&'static str]) -> impl Iterator<Item = &'static str> {
        names.iter().copied()
    }

    #[test]
    fn strength_is_ordered_and_met_by_the_methods_it_names() {
        assert!(Strength::Any.met_by(AuthMethod::LoginLink));
        assert!(!Strength::TwoFactor.met_by(AuthMethod::Password));
        assert!(Strength::TwoFactor.met_by(AuthMethod::PasswordTotp));
        assert!(Strength::TwoFactor.met_by(AuthMethod::PasswordRecoveryCode));
        assert!(Strength::TwoFactor.met_by(AuthMethod::Passkey));
        assert!(!Strength::Passkey.met_by(AuthMethod::PasswordTotp));
        assert!(Strength::Passkey.met_by(AuthMethod::Passkey));
        // A link or an emailed code proves the mailbox, not a second factor.
        assert!(!Strength::TwoFactor.met_by(AuthMethod::EmailCode));
        for s in [Strength::Any, Strength::TwoFactor, Strength::Passkey] {
            assert_eq!(Strength::parse(s.as_str()), Ok(s));
        }
        assert_eq!(Strength::parse("strong").unwrap_err().field, "require");
    }

    #[test]
    fn groups_come_before_strength_and_strength_before_age() {
        let access = Access {
            groups: vec!["media".into()],
            require: Strength::Passkey,
            max_age: Some(3600),
        };
        let now = 100_000;
        assert_eq!(
            access.judge(groups(&["family"]), AuthMethod::Passkey, now, now),
            Verdict::NotInGroup
        );
        assert_eq!(
            access.judge(groups(&["media"]), AuthMethod::PasswordTotp, now, now),
            Verdict::TooWeak(Strength::Passkey)
        );
        assert_eq!(
            access.judge(groups(&["media"]), AuthMethod::Passkey, now - 3601, now),
            Verdict::TooOld
        );
        assert_eq!(
            access.judge(
                groups(&["x", "media"]),
                AuthMethod::Passkey,
                now - 3600,
                now
            ),
            Verdict::Allowed
        );
    }

    #[test]
    fn no_groups_admit_everyone_and_no_age_never_expires() {
        let access = Access::default();
        assert_eq!(
            access.judge(groups(&[]), AuthMethod::Password, 0, i64::MAX / 2),
            Verdict::Allowed
        );
        assert!(admits(&[], groups(&[])));
        assert!(!admits(&["a".to_string()], groups(&[])));
    }
}
