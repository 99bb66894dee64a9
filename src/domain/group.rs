//! A named set of users; a group's name appears in the `groups` claim.

use serde::Serialize;

use super::Invalid;

/// A group as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Group {
    pub id: String,
    /// Machine name, used in the `groups` claim and LDAP `cn`.
    pub name: String,
    /// Human name shown in the UI.
    pub display_name: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Made here, or synced from the upstream directory (then its name and members are
    /// read-only here).
    pub source: super::user::Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

impl Group {
    pub fn is_synced(&self) -> bool {
        self.source == super::user::Source::Directory
    }

    /// A synced group's name, members and existence are the directory's: a change here
    /// would be undone by the next sync.
    pub fn check_managed_here(&self, field: &'static str) -> Result<(), Invalid> {
        if self.is_synced() {
            Err(Invalid::new(
                field,
                "this group is synced from the directory; change it there",
            ))
        } else {
            Ok(())
        }
    }
}

/// Group names follow the username rules: lower case, `[a-z0-9_.@-]`, 1–64 characters.
pub fn normalize_group_name(input: &str) -> Result<String, Invalid> {
    super::user::normalize_username(input).map_err(|e| Invalid::new("name", e.message))
}

/// The longest display name of a group, in characters.
pub const DISPLAY_NAME_MAX: usize = 100;

/// The name people see: trimmed, at most 100 characters, no control characters; empty
/// means "the same as the name".
pub fn check_group_display_name(input: &str) -> Result<&str, Invalid> {
    let display = input.trim();
    if display.chars().count() > DISPLAY_NAME_MAX || display.chars().any(char::is_control) {
        return Err(Invalid::new(
            "display_name",
            format!("must be at most {DISPLAY_NAME_MAX} characters, without control characters"),
        ));
    }
    Ok(display)
}

#[cfg(test)]
mod tests {
    #[test]
    fn group_names_follow_username_rules() {
        assert_eq!(super::normalize_group_name("Admins").unwrap(), "admins");
        assert_eq!(
            super::normalize_group_name("a b").unwrap_err().field,
            "name"
        );
    }
}
