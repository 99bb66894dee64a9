//! A person who signs in to Latchkey.

use serde::Serialize;

use super::Invalid;

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub locale: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Where the user comes from: made here, or synced from the upstream directory.
    pub source: Source,
    /// The entry's unique id in the upstream directory (entryUUID, objectGUID…) when
    /// the user is synced from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

impl User {
    /// Synced from the upstream directory: its profile fields are read-only here.
    pub fn is_synced(&self) -> bool {
        self.source == Source::Directory
    }
}

/// Where a user or group is managed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Made in Latchkey (console, API, CLI, sign-up).
    Local,
    /// Synced from the upstream directory (`src/directory/`).
    Directory,
}

impl Source {
    pub fn of(external_id: &Option<String>) -> Source {
        if external_id.is_some() {
            Source::Directory
        } else {
            Source::Local
        }
    }
}

/// What it takes to create a user; `validate` normalises and checks it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub is_admin: bool,
    pub locale: Option<String>,
}

pub const USERNAME_MAX: usize = 64;
const NAME_MAX: usize = 100;

impl NewUser {
    /// Trim and lower-case what should be, fill the display name, and check every field.
    pub fn validate(mut self) -> Result<NewUser, Invalid> {
        self.username = normalize_username(&self.username)?;
        self.email = match self.email.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(e) => Some(normalize_email(e)?),
        };
        self.first_name = check_name("first_name", &self.first_name)?;
        self.last_name = check_name("last_name", &self.last_name)?;
        self.display_name = check_name("display_name", &self.display_name)?;
        if self.display_name.is_empty() {
            self.display_name =
                default_display_name(&self.first_name, &self.last_name, &self.username);
        }
        self.locale = match self.locale.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(l) => Some(check_locale(l)?),
        };
        Ok(self)
    }
}

/// "First Last", or the username when no name is known.
pub fn default_display_name(first: &str, last: &str, username: &str) -> String {
    let full = format!("{first} {last}");
    let full = full.trim();
    if full.is_empty() {
        username.to_string()
    } else {
        full.to_string()
    }
}

/// Usernames are lower case: letters, digits and `_ . @ -`, 1–64 characters, starting
/// with a letter or digit (they become LDAP `uid`s and `preferred_username` claims).
pub fn normalize_username(input: &str) -> Result<String, Invalid> {
    let name = input.trim().to_lowercase();
    if name.is_empty() {
        return Err(Invalid::new("username", "is required"));
    }
    if name.chars().count() > USERNAME_MAX {
        return Err(Invalid::new(
            "username",
            format!("must be at most {USERNAME_MAX} characters"),
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(Invalid::new(
            "username",
            "must start with a letter or a digit",
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-')))
    {
        return Err(Invalid::new(
            "username",
            format!("may contain only letters, digits, `_`, `.`, `@` and `-` (found `{bad}`)"),
        ));
    }
    Ok(name)
}

/// A plausible address: one `@`, a non-empty local part, a domain, no spaces.
/// Whether it really reaches its owner is what email verification is for.
pub fn normalize_email(input: &str) -> Result<String, Invalid> {
    let email = input.trim();
    let invalid = || Invalid::new("email", format!("`{email}` is not an email address"));
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
    if local.is_empty()
        || local.contains('@')
        || domain.is_empty()
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(invalid());
    }
    Ok(format!("{local}@{}", domain.to_lowercase()))
}

/// A first, last or display name, trimmed: at most 100 characters, no control
/// characters (CR/LF would reach mail headers and LDAP). Creating and changing a user
/// both check names with it.
pub fn check_name(field: &'static str, input: &str) -> Result<String, Invalid> {
    let name = input.trim();
    if name.chars().count() > NAME_MAX {
        return Err(Invalid::new(
            field,
            format!("must be at most {NAME_MAX} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Invalid::new(field, "must not contain control characters"));
    }
    Ok(name.to_string())
}

/// A BCP 47 language tag in its simple form, e.g. `en`, `de-CH`.
pub fn check_locale(input: &str) -> Result<String, Invalid> {
    let ok = !input.is_empty()
        && input.len() <= 35
        && input.split('-').all(|part| {
            (1..=8).contains(&part.len()) && part.chars().all(|c| c.is_ascii_alphanumeric())
        });
    if ok {
        Ok(input.to_string())
    } else {
        Err(Invalid::new(
            "locale",
            format!("`{input}` is not a language tag like en or de-CH"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_and_checked() {
        assert_eq!(normalize_username("  Alice.Smith ").unwrap(), "alice.smith");
        assert!(normalize_username("").is_err());
        assert!(normalize_username("-bob").is_err());
        assert!(
            normalize_username("bob smith")
                .unwrap_err()
                .message
                .contains("found ` `")
        );
        assert!(normalize_username(&"a".repeat(65)).is_err());
        assert!(normalize_username("ünï").is_err());
    }

    #[test]
    fn emails_are_checked() {
        assert_eq!(
            normalize_email("Bob@Example.COM").unwrap(),
            "Bob@example.com"
        );
        for bad in ["bob", "@x.org", "bob@", "a b@x.org", "bob@.x", "a@b@c"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_name_defaults() {
        let u = NewUser {
            username: "Ada".into(),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert_eq!(u.display_name, "Ada Lovelace");
        assert_eq!(u.username, "ada");
        let u = NewUser {
            username: "x".into(),
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert_eq!(u.display_name, "x");
        assert!(
            NewUser {
                username: "x".into(),
                locale: Some("en_US!".into()),
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}
