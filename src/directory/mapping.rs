//! From directory entries to Latchkey's users and groups: the attribute mappings,
//! names made valid for Latchkey, memberships resolved (nested groups included).
//! An entry that cannot be used is skipped with its reason, never guessed at.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::client::{Entry, PICTURE_MAX};
use super::settings::Attrs;
use crate::domain::user::{normalize_email, normalize_username};
use crate::ldap::dn::Dn;
use crate::store::directory::{GroupFields, UserFields};

/// An entry left out (or taken in part), and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Skipped {
    /// The entry's DN.
    pub entry: String,
    pub reason: String,
}

/// A user as the directory has it.
#[derive(Debug, Clone)]
pub struct UpstreamUser {
    pub fields: UserFields,
    pub picture: Option<Vec<u8>>,
}

/// A group as the directory has it, with its members' unique ids.
#[derive(Debug, Clone)]
pub struct UpstreamGroup {
    pub fields: GroupFields,
    pub members: BTreeSet<String>,
}

/// A DN in the form two spellings of the same name share.
pub fn dn_key(dn: &str) -> String {
    match Dn::parse(dn) {
        Ok(parsed) => parsed.to_string().to_lowercase(),
        Err(_) => dn.trim().to_lowercase(),
    }
}

/// An entry's unique id as text: `objectGUID` (16 bytes) in its usual GUID form,
/// anything else as the directory writes it.
pub fn unique_id(entry: &Entry, attr: &str) -> Option<String> {
    if attr.eq_ignore_ascii_case("objectGUID") {
        let bytes = entry.bytes(attr)?;
        return (bytes.len() == 16).then(|| guid_text(&bytes));
    }
    entry
        .first(attr)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_lowercase)
}

/// A GUID as Windows writes it: the first three fields are little-endian.
fn guid_text(b: &[u8]) -> String {
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{}",
        b[3],
        b[2],
        b[1],
        b[0],
        b[5],
        b[4],
        b[7],
        b[6],
        b[8],
        b[9],
        hex::encode(&b[10..16])
    )
}

/// A name cut to what Latchkey keeps (100 characters), without control characters.
fn name(value: Option<&str>) -> String {
    value
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect::<String>()
        .trim()
        .to_string()
}

/// A group name made valid here: lower case, spaces as dashes (`Domain Admins` →
/// `domain-admins`).
pub fn group_name(value: &str) -> Option<String> {
    let joined = value.split_whitespace().collect::<Vec<_>>().join("-");
    crate::domain::group::normalize_group_name(&joined).ok()
}

/// The users among `entries`, keyed for membership lookups.
pub struct Users {
    pub users: Vec<UpstreamUser>,
    /// DN key → unique id.
    pub by_dn: HashMap<String, String>,
    /// Username → unique id.
    pub by_username: HashMap<String, String>,
}

pub fn users(entries: &[Entry], attrs: &Attrs, skipped: &mut Vec<Skipped>) -> Users {
    let mut out = Users {
        users: Vec::new(),
        by_dn: HashMap::new(),
        by_username: HashMap::new(),
    };
    let mut ids = HashSet::new();
    let mut emails = HashSet::new();
    for entry in entries {
        let skip = |reason: String| Skipped {
            entry: entry.dn.clone(),
            reason,
        };
        let Some(id) = unique_id(entry, &attrs.unique_id) else {
            skipped.push(skip(format!("has no {}", attrs.unique_id)));
            continue;
        };
        let Some(raw) = entry.first(&attrs.username) else {
            skipped.push(skip(format!("has no {}", attrs.username)));
            continue;
        };
        let username = match normalize_username(raw) {
            Ok(u) => u,
            Err(e) => {
                skipped.push(skip(format!(
                    "username `{raw}` cannot be used: {}",
                    e.message
                )));
                continue;
            }
        };
        if !ids.insert(id.clone()) || out.by_username.contains_key(&username) {
            skipped.push(skip(format!(
                "username {username} or its {} is given twice",
                attrs.unique_id
            )));
            continue;
        }
        let email = match entry
            .first(&attrs.email)
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            None => None,
            Some(raw) => match normalize_email(raw) {
                Ok(e) if emails.insert(e.to_lowercase()) => Some(e),
                Ok(e) => {
                    skipped.push(skip(format!(
                        "email {e} is given twice; synced without an address"
                    )));
                    None
                }
                Err(_) => {
                    skipped.push(skip(format!(
                        "email `{raw}` is not an address; synced without one"
                    )));
                    None
                }
            },
        };
        let first_name = name(entry.first(&attrs.first_name));
        let last_name = name(entry.first(&attrs.last_name));
        let mut display_name = name(entry.first(&attrs.display_name));
        if display_name.is_empty() {
            display_name =
                crate::domain::user::default_display_name(&first_name, &last_name, &username);
        }
        let picture = attrs
            .picture
            .as_ref()
            .and_then(|a| entry.bytes(a))
            .filter(|b| b.len() <= PICTURE_MAX);
        out.by_dn.insert(dn_key(&entry.dn), id.clone());
        out.by_username.insert(username.clone(), id.clone());
        out.users.push(UpstreamUser {
            fields: UserFields {
                external_id: id,
                dn: entry.dn.clone(),
                username,
                email,
                first_name,
                last_name,
                display_name,
                is_admin: None,
            },
            picture,
        });
    }
    out
}

/// The groups among `entries`, with members resolved to users' unique ids; a member
/// that is a group brings its own members (nesting, any depth, cycles harmless).
pub fn groups(
    entries: &[Entry],
    attrs: &Attrs,
    users: &Users,
    skipped: &mut Vec<Skipped>,
) -> Vec<UpstreamGroup> {
    struct Raw {
        fields: GroupFields,
        users: BTreeSet<String>,
        nested: Vec<String>,
    }
    let mut raws: Vec<Raw> = Vec::new();
    let mut by_dn: HashMap<String, usize> = HashMap::new();
    let mut names = HashSet::new();
    for entry in entries {
        let skip = |reason: String| Skipped {
            entry: entry.dn.clone(),
            reason,
        };
        let Some(id) = unique_id(entry, &attrs.unique_id) else {
            skipped.push(skip(format!("has no {}", attrs.unique_id)));
            continue;
        };
        let Some(raw_name) = entry.first(&attrs.group_name) else {
            skipped.push(skip(format!("has no {}", attrs.group_name)));
            continue;
        };
        let Some(group) = group_name(raw_name) else {
            skipped.push(skip(format!("group name `{raw_name}` cannot be used")));
            continue;
        };
        if !names.insert(group.clone()) {
            skipped.push(skip(format!("group name {group} is given twice")));
            continue;
        }
        let posix = entry
            .all("objectClass")
            .iter()
            .any(|c| c.eq_ignore_ascii_case("posixGroup"));
        let mut members = BTreeSet::new();
        let mut nested = Vec::new();
        let by_uid = attrs.group_member.eq_ignore_ascii_case("memberUid");
        if by_uid || posix {
            for uid in entry.all("memberUid") {
                if let Some(id) = normalize_username(uid)
                    .ok()
                    .and_then(|u| users.by_username.get(&u))
                {
                    members.insert(id.clone());
                }
            }
        }
        if !by_uid {
            for value in entry.all(&attrs.group_member) {
                // uniqueMember may carry an optional `#'…'B` uid after the DN.
                let dn = value.split('#').next().unwrap_or(value);
                let key = dn_key(dn);
                match users.by_dn.get(&key) {
                    Some(id) => {
                        members.insert(id.clone());
                    }
                    None => nested.push(key),
                }
            }
        }
        by_dn.insert(dn_key(&entry.dn), raws.len());
        raws.push(Raw {
            fields: GroupFields {
                external_id: id,
                dn: entry.dn.clone(),
                display_name: name(Some(raw_name)),
                name: group,
            },
            users: members,
            nested,
        });
    }
    (0..raws.len())
        .map(|i| {
            let mut members = BTreeSet::new();
            let mut seen = HashSet::from([i]);
            let mut todo = vec![i];
            while let Some(g) = todo.pop() {
                members.extend(raws[g].users.iter().cloned());
                for key in &raws[g].nested {
                    if let Some(&n) = by_dn.get(key)
                        && seen.insert(n)
                    {
                        todo.push(n);
                    }
                }
            }
            UpstreamGroup {
                fields: raws[i].fields.clone(),
                members,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(dn: &str, attrs: &[(&str, &[&str])]) -> Entry {
        Entry {
            dn: dn.into(),
            attrs: attrs
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_ascii_lowercase(),
                        v.iter().map(|s| s.to_string()).collect(),
                    )
                })
                .collect(),
            bin_attrs: HashMap::new(),
        }
    }

    fn attrs() -> Attrs {
        Attrs {
            unique_id: "entryUUID".into(),
            username: "uid".into(),
            email: "mail".into(),
            first_name: "givenName".into(),
            last_name: "sn".into(),
            display_name: "cn".into(),
            picture: None,
            group_name: "cn".into(),
            group_member: "member".into(),
        }
    }

    #[test]
    fn an_object_guid_reads_as_windows_writes_it() {
        let mut e = entry("cn=x", &[]);
        e.bin_attrs.insert(
            "objectguid".into(),
            vec![hex::decode("6f6a29b8ee1c4d4aa0c2a4e1d7d0f1e2").unwrap()],
        );
        assert_eq!(
            unique_id(&e, "objectGUID").unwrap(),
            "b8296a6f-1cee-4a4d-a0c2-a4e1d7d0f1e2"
        );
    }

    #[test]
    fn names_members_and_nesting_resolve_and_bad_entries_are_skipped() {
        let mut skipped = Vec::new();
        let people = [
            entry(
                "uid=Alice,ou=people,dc=x",
                &[
                    ("entryUUID", &["A"]),
                    ("uid", &["Alice"]),
                    ("mail", &["alice@x.org"]),
                ],
            ),
            entry(
                "uid=bob,ou=people,dc=x",
                &[
                    ("entryUUID", &["B"]),
                    ("uid", &["bob"]),
                    ("mail", &["not an address"]),
                ],
            ),
            entry("uid=noid,ou=people,dc=x", &[("uid", &["noid"])]),
            entry(
                "uid=bad,ou=people,dc=x",
                &[("entryUUID", &["C"]), ("uid", &["has space"])],
            ),
        ];
        let users = users(&people, &attrs(), &mut skipped);
        assert_eq!(users.users.len(), 2);
        assert_eq!(users.users[0].fields.username, "alice");
        assert_eq!(users.users[0].fields.external_id, "a");
        assert_eq!(users.users[1].fields.email, None);
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        let groups = groups(
            &[
                entry(
                    "cn=Domain Admins,ou=groups,dc=x",
                    &[
                        ("entryUUID", &["G1"]),
                        ("cn", &["Domain Admins"]),
                        ("member", &["cn=inner,ou=groups,dc=x"]),
                    ],
                ),
                entry(
                    "cn=inner,ou=groups,dc=x",
                    &[
                        ("entryUUID", &["G2"]),
                        ("cn", &["inner"]),
                        (
                            "member",
                            &[
                                "UID=alice, ou=People,dc=x",
                                "cn=Domain Admins,ou=groups,dc=x",
                            ],
                        ),
                    ],
                ),
                entry(
                    "cn=staff,ou=groups,dc=x",
                    &[
                        ("entryUUID", &["G3"]),
                        ("cn", &["staff"]),
                        ("objectClass", &["posixGroup"]),
                        ("memberUid", &["bob", "ghost"]),
                    ],
                ),
            ],
            &attrs(),
            &users,
            &mut skipped,
        );
        assert_eq!(groups[0].fields.name, "domain-admins");
        assert_eq!(groups[0].fields.display_name, "Domain Admins");
        assert_eq!(groups[0].members, BTreeSet::from(["a".to_string()]));
        assert_eq!(groups[1].members, BTreeSet::from(["a".to_string()]));
        assert_eq!(groups[2].members, BTreeSet::from(["b".to_string()]));
    }
}
