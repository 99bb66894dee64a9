//! The directory's settings one by one: how each is entered, its default, what a
//! preset gives it, and the rule its text must follow.

use super::settings::Tls;
use crate::config::{DurationSetting, SettingValue};

/// How a field is entered in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// `true` or `false`, a checkbox.
    Flag,
    Choice(&'static [&'static str]),
}

/// Where a field is shown on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Connection,
    Search,
    Mapping,
    Sync,
}

impl Section {
    /// The name the console's template groups fields by.
    pub fn name(self) -> &'static str {
        match self {
            Section::Connection => "connection",
            Section::Search => "search",
            Section::Mapping => "mapping",
            Section::Sync => "sync",
        }
    }
}

/// One setting of the upstream directory.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// `url`: the environment variable is `LATCHKEY_DIRECTORY_URL`, the stored key `directory.url`.
    pub key: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    /// Without a preset's value or an admin's.
    pub default: &'static str,
    pub section: Section,
}

pub const PRESETS: &[&str] = &["openldap", "active-directory", "freeipa", "lldap"];

const fn f(
    key: &'static str,
    label: &'static str,
    kind: Kind,
    default: &'static str,
    section: Section,
    help: &'static str,
) -> Field {
    Field {
        key,
        label,
        help,
        kind,
        default,
        section,
    }
}

use Kind::{Choice, Flag, Text};
use Section::{Connection, Mapping, Search, Sync};

/// Every field, in the order the console shows them (the bind password is apart).
pub const FIELDS: &[Field] = &[
    f(
        "url",
        "Directory URL",
        Text,
        "",
        Connection,
        "ldap://host:389 or ldaps://host:636. Empty: no directory.",
    ),
    f(
        "starttls",
        "StartTLS",
        Flag,
        "false",
        Connection,
        "Upgrade an ldap:// connection to TLS before anything else is sent.",
    ),
    f(
        "ca_file",
        "CA certificate file",
        Text,
        "",
        Connection,
        "A PEM file with the CA that signed the directory's certificate, trusted besides the system's.",
    ),
    f(
        "skip_verify",
        "Skip certificate verification",
        Flag,
        "false",
        Connection,
        "INSECURE: accepts any certificate, so anyone on the path can read every password.",
    ),
    f(
        "allow_unencrypted",
        "Allow unencrypted",
        Flag,
        "false",
        Connection,
        "INSECURE: send passwords over plain ldap:// to a host that is not this machine.",
    ),
    f(
        "bind_dn",
        "Bind DN",
        Text,
        "",
        Connection,
        "The account Latchkey reads the directory as, e.g. cn=latchkey,ou=services,dc=example,dc=org.",
    ),
    f(
        "preset",
        "Preset",
        Choice(PRESETS),
        "openldap",
        Search,
        "Which directory the mappings and filters below default to.",
    ),
    f(
        "base_dn",
        "Base DN",
        Text,
        "",
        Search,
        "e.g. dc=example,dc=org.",
    ),
    f(
        "user_base",
        "User base",
        Text,
        "",
        Search,
        "Where users are: a DN, or an RDN under the base DN such as ou=people. Empty: the base DN.",
    ),
    f(
        "group_base",
        "Group base",
        Text,
        "",
        Search,
        "Where groups are: a DN, or an RDN under the base DN such as ou=groups. Empty: the base DN.",
    ),
    f(
        "user_filter",
        "User filter",
        Text,
        "(objectClass=person)",
        Search,
        "An LDAP filter for the entries that are users.",
    ),
    f(
        "group_filter",
        "Group filter",
        Text,
        "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))",
        Search,
        "An LDAP filter for the entries that are groups.",
    ),
    f(
        "attr_unique_id",
        "Unique id",
        Text,
        "entryUUID",
        Mapping,
        "Never changes for an entry, even when it is renamed (objectGUID on Active Directory).",
    ),
    f(
        "attr_username",
        "Username",
        Text,
        "uid",
        Mapping,
        "sAMAccountName on Active Directory.",
    ),
    f("attr_email", "Email", Text, "mail", Mapping, ""),
    f(
        "attr_first_name",
        "First name",
        Text,
        "givenName",
        Mapping,
        "",
    ),
    f("attr_last_name", "Last name", Text, "sn", Mapping, ""),
    f("attr_display_name", "Display name", Text, "cn", Mapping, ""),
    f(
        "attr_picture",
        "Picture",
        Text,
        "jpegPhoto",
        Mapping,
        "A JPEG or PNG. Empty: no pictures.",
    ),
    f("attr_group_name", "Group name", Text, "cn", Mapping, ""),
    f(
        "attr_group_member",
        "Group member",
        Choice(&["member", "uniqueMember", "memberUid"]),
        "member",
        Mapping,
        "member and uniqueMember list DNs, memberUid usernames (posixGroups are read by memberUid).",
    ),
    f(
        "admin_group",
        "Admin group",
        Text,
        "",
        Sync,
        "Members of this group (its name or DN) are Latchkey admins, and stop being when they leave it. Empty: the sync leaves the admin flag alone.",
    ),
    f(
        "interval",
        "Interval",
        Text,
        "1h",
        Sync,
        "How often the sync runs (e.g. 15m, 1h). It also runs at start.",
    ),
    f(
        "page_size",
        "Page size",
        Text,
        "500",
        Sync,
        "Entries per page of a paged search (Active Directory gives at most 1000).",
    ),
    f(
        "delete_mode",
        "Users gone from the directory",
        Choice(&["disable", "delete"]),
        "disable",
        Sync,
        "disable: they cannot sign in and are enabled again when they come back; delete: removed with their passkeys and app passwords.",
    ),
    f(
        "max_disable_percent",
        "Refuse above (percent)",
        Text,
        "20",
        Sync,
        "A sync that would disable or delete more than this share of the synced users is refused, and nothing changes.",
    ),
    f(
        "passwords",
        "Passwords",
        Choice(&["directory", "local"]),
        "directory",
        Sync,
        "directory: a synced user's password is checked by a bind to the directory; local: they set a password in Latchkey.",
    ),
];

/// The preset's value for a field, when it has one.
pub fn preset_value(preset: &str, key: &str) -> Option<&'static str> {
    let table: &[(&str, &str)] = match preset {
        "active-directory" => &[
            (
                "user_filter",
                "(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))",
            ),
            ("group_filter", "(objectClass=group)"),
            ("attr_unique_id", "objectGUID"),
            ("attr_username", "sAMAccountName"),
            ("attr_display_name", "displayName"),
            ("attr_picture", "thumbnailPhoto"),
        ],
        "freeipa" => &[
            ("user_base", "cn=users,cn=accounts"),
            ("group_base", "cn=groups,cn=accounts"),
            ("user_filter", "(objectClass=posixAccount)"),
            ("group_filter", "(objectClass=groupOfNames)"),
            ("attr_unique_id", "ipaUniqueID"),
            ("attr_display_name", "displayName"),
        ],
        "lldap" => &[
            ("user_base", "ou=people"),
            ("group_base", "ou=groups"),
            ("group_filter", "(objectClass=groupOfUniqueNames)"),
            ("attr_unique_id", "entryUUID"),
            ("attr_picture", "jpegPhoto"),
        ],
        _ => &[],
    };
    table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

pub(super) fn flag(text: &str) -> Result<bool, String> {
    match text {
        "" => Ok(false),
        t => bool::parse_setting(t),
    }
}

/// One field's own rule (those that concern several fields are in `parse`).
pub(super) fn check_field(key: &str, text: &str) -> Result<(), String> {
    let field = FIELDS
        .iter()
        .find(|f| f.key == key)
        .ok_or("is not a directory setting")?;
    match field.kind {
        Kind::Flag => flag(text).map(|_| ()),
        Kind::Choice(choices) => {
            if text.is_empty() || choices.iter().any(|c| c.eq_ignore_ascii_case(text)) {
                Ok(())
            } else {
                Err(format!("must be one of {}", choices.join(", ")))
            }
        }
        Kind::Text => match key {
            "url" if !text.is_empty() => split_url(text).map(|_| ()),
            "ca_file" if !text.is_empty() => std::fs::metadata(text)
                .map(|_| ())
                .map_err(|e| format!("cannot read {text}: {e}")),
            "base_dn" | "bind_dn" | "user_base" | "group_base" if !text.is_empty() => {
                crate::ldap::dn::Dn::parse(text)
                    .map(|_| ())
                    .map_err(|e| format!("is not a DN: {e}"))
            }
            "user_filter" | "group_filter" => ldap3_proto::parse_ldap_filter_str(text)
                .map(|_| ())
                .map_err(|_| "is not an LDAP filter".to_string()),
            "interval" => {
                let d = DurationSetting::parse_setting(text)?;
                if d.secs() < 60 {
                    Err("must be at least a minute".into())
                } else {
                    Ok(())
                }
            }
            "page_size" => match text.parse::<i32>() {
                Ok(n) if (1..=10_000).contains(&n) => Ok(()),
                _ => Err("must be a number from 1 to 10000".into()),
            },
            "max_disable_percent" => match text.parse::<u32>() {
                Ok(n) if n <= 100 => Ok(()),
                _ => Err("must be a number from 0 to 100".into()),
            },
            k if k.starts_with("attr_") => {
                let ok = text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ';');
                if ok && (k == "attr_picture" || !text.is_empty()) {
                    Ok(())
                } else {
                    Err("is not an attribute name".into())
                }
            }
            _ => Ok(()),
        },
    }
}

/// (TLS, host) of an `ldap://` or `ldaps://` URL.
pub(super) fn split_url(text: &str) -> Result<(Tls, String), String> {
    let url = url::Url::parse(text).map_err(|e| format!("is not a URL: {e}"))?;
    let tls = match url.scheme() {
        "ldaps" => Tls::Implicit,
        "ldap" => Tls::None,
        _ => return Err("must start with ldap:// or ldaps://".into()),
    };
    if url.path().len() > 1 || url.query().is_some() || !url.username().is_empty() {
        return Err(
            "must be only ldap[s]://host[:port] (the base DN is a setting of its own)".into(),
        );
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    Ok((tls, host))
}

pub(super) fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
