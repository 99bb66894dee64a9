//! The entries of the tree: how a user, a group, a service account and the fixed
//! entries look over LDAP (lldap's layout and attribute names), and which of their
//! attributes a search returns.
//!
//! Nothing secret is ever an attribute here: no password, hash, TOTP or passkey data
//! exists in an `Entry`, so no request can ask for it.

use ldap3_proto::proto::{LdapPartialAttribute, LdapSearchResultEntry};

use super::dn::Dn;
use crate::store::{DirGroup, DirUser, LdapAccount};

/// How an attribute's values are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// Case-insensitive text.
    Text,
    /// Distinguished names (also matched by a plain name: `member=alice`).
    Dn,
    Integer,
    /// GeneralizedTime, `20261203154307Z`.
    Time,
    /// Bytes, never matched.
    Binary,
}

/// Whether `*` returns an attribute, `+` does, or only a request by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Operational,
    OnRequest,
}

/// One attribute of an entry.
#[derive(Debug, Clone)]
pub struct Attr {
    /// The attribute's canonical name (`objectClass`, `uid` …).
    pub name: &'static str,
    pub values: Vec<Vec<u8>>,
}

/// One entry of the tree.
#[derive(Debug, Clone)]
pub struct Entry {
    pub dn: String,
    pub attrs: Vec<Attr>,
    /// The user behind a person entry (for attributes loaded on request).
    pub user_id: Option<String>,
}

/// Every attribute the server knows: canonical name, syntax, kind.
const SCHEMA: &[(&str, Syntax, Kind)] = &[
    ("objectClass", Syntax::Text, Kind::User),
    ("uid", Syntax::Text, Kind::User),
    ("cn", Syntax::Text, Kind::User),
    ("displayName", Syntax::Text, Kind::User),
    ("givenName", Syntax::Text, Kind::User),
    ("sn", Syntax::Text, Kind::User),
    ("mail", Syntax::Text, Kind::User),
    ("memberOf", Syntax::Dn, Kind::User),
    ("uidNumber", Syntax::Integer, Kind::User),
    ("gidNumber", Syntax::Integer, Kind::User),
    ("homeDirectory", Syntax::Text, Kind::User),
    ("loginShell", Syntax::Text, Kind::User),
    ("gecos", Syntax::Text, Kind::User),
    ("description", Syntax::Text, Kind::User),
    ("member", Syntax::Dn, Kind::User),
    ("uniqueMember", Syntax::Dn, Kind::User),
    ("memberUid", Syntax::Text, Kind::User),
    ("ou", Syntax::Text, Kind::User),
    ("dc", Syntax::Text, Kind::User),
    ("o", Syntax::Text, Kind::User),
    ("jpegPhoto", Syntax::Binary, Kind::OnRequest),
    ("entryUUID", Syntax::Text, Kind::Operational),
    ("entryDN", Syntax::Dn, Kind::Operational),
    ("createTimestamp", Syntax::Time, Kind::Operational),
    ("modifyTimestamp", Syntax::Time, Kind::Operational),
    ("subschemaSubentry", Syntax::Dn, Kind::Operational),
    // RootDSE and subschema (returned as user attributes there, as Kanidm does).
    ("namingContexts", Syntax::Dn, Kind::User),
    ("defaultNamingContext", Syntax::Dn, Kind::User),
    ("supportedLDAPVersion", Syntax::Integer, Kind::User),
    ("supportedControl", Syntax::Text, Kind::User),
    ("supportedExtension", Syntax::Text, Kind::User),
    ("supportedFeatures", Syntax::Text, Kind::User),
    ("vendorName", Syntax::Text, Kind::User),
    ("vendorVersion", Syntax::Text, Kind::User),
    ("attributeTypes", Syntax::Text, Kind::User),
    ("objectClasses", Syntax::Text, Kind::User),
];

/// Other names clients use for the same attributes.
const ALIASES: &[(&str, &str)] = &[
    ("commonName", "cn"),
    ("surname", "sn"),
    ("userid", "uid"),
    ("gn", "givenName"),
    ("rfc822Mailbox", "mail"),
    ("2.5.4.0", "objectClass"),
    ("2.5.4.3", "cn"),
    ("0.9.2342.19200300.100.1.1", "uid"),
    ("0.9.2342.19200300.100.1.3", "mail"),
];

/// The canonical name of `name`, when the server knows the attribute.
pub fn canonical(name: &str) -> Option<&'static str> {
    let name = ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
        .map_or(name, |(_, to)| to);
    SCHEMA
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
        .map(|(n, _, _)| *n)
}

pub fn syntax(canonical: &str) -> Syntax {
    SCHEMA
        .iter()
        .find(|(n, _, _)| *n == canonical)
        .map_or(Syntax::Text, |(_, s, _)| *s)
}

fn kind(canonical: &str) -> Kind {
    SCHEMA
        .iter()
        .find(|(n, _, _)| *n == canonical)
        .map_or(Kind::User, |(_, _, k)| *k)
}

/// The OIDs the RootDSE announces.
pub const PAGED_RESULTS: &str = "1.2.840.113556.1.4.319";
pub const START_TLS: &str = "1.3.6.1.4.1.1466.20037";
pub const WHO_AM_I: &str = "1.3.6.1.4.1.4203.1.11.3";
pub const PASSWORD_MODIFY: &str = "1.3.6.1.4.1.4203.1.11.1";
/// RFC 3673: `+` asks for every operational attribute.
const ALL_OPERATIONAL: &str = "1.3.6.1.4.1.4203.1.5.1";
/// The in-chain matching rule (nested membership), LDAP_MATCHING_RULE_IN_CHAIN.
pub const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";

/// GeneralizedTime of unix seconds.
pub fn generalized_time(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The DNs of the tree's containers, and what every person entry shares.
#[derive(Debug, Clone)]
pub struct Tree {
    pub base: Dn,
    pub people: Dn,
    pub groups: Dn,
    pub services: Dn,
    pub login_shell: String,
}

impl Tree {
    pub fn new(base: Dn, login_shell: String) -> Tree {
        Tree {
            people: base.child("ou", "people"),
            groups: base.child("ou", "groups"),
            services: base.child("ou", "services"),
            base,
            login_shell,
        }
    }

    pub fn user_dn(&self, username: &str) -> String {
        self.people.child("uid", username).to_string()
    }

    pub fn group_dn(&self, name: &str) -> String {
        self.groups.child("cn", name).to_string()
    }

    pub fn service_dn(&self, name: &str) -> String {
        self.services.child("cn", name).to_string()
    }

    /// A person. `visible_groups` says which of their groups the reader may see.
    pub fn user(&self, u: &DirUser, visible_group: impl Fn(&str) -> bool) -> Entry {
        let user = &u.user;
        let dn = self.user_dn(&user.username);
        let sn = if user.last_name.is_empty() {
            &user.username
        } else {
            &user.last_name
        };
        let mut e = EntryBuilder::new(dn.clone());
        e.add(
            "objectClass",
            [
                "top",
                "person",
                "organizationalPerson",
                "inetOrgPerson",
                "posixAccount",
            ],
        );
        e.add("uid", [&user.username]);
        e.add("cn", [&user.display_name]);
        e.add("displayName", [&user.display_name]);
        if !user.first_name.is_empty() {
            e.add("givenName", [&user.first_name]);
        }
        e.add("sn", [sn]);
        if let Some(mail) = &user.email {
            e.add("mail", [mail]);
        }
        let member_of: Vec<String> = u
            .groups
            .iter()
            .filter(|g| visible_group(g))
            .map(|g| self.group_dn(g))
            .collect();
        if !member_of.is_empty() {
            e.add("memberOf", member_of);
        }
        e.add("uidNumber", [u.uid_number.to_string()]);
        e.add("gidNumber", [u.uid_number.to_string()]);
        e.add("homeDirectory", [format!("/home/{}", user.username)]);
        e.add("loginShell", [&self.login_shell]);
        e.add("gecos", [&user.display_name]);
        e.add("entryUUID", [&user.id]);
        e.times(user.created_at, user.updated_at);
        e.add("entryDN", [dn]);
        let mut entry = e.done();
        entry.user_id = Some(user.id.clone());
        entry
    }

    /// A group. `visible_member` says which members the reader may see.
    pub fn group(&self, g: &DirGroup, visible_member: impl Fn(&str) -> bool) -> Entry {
        let group = &g.group;
        let dn = self.group_dn(&group.name);
        let members: Vec<&String> = g.members.iter().filter(|m| visible_member(m)).collect();
        let member_dns: Vec<String> = members.iter().map(|m| self.user_dn(m)).collect();
        let mut e = EntryBuilder::new(dn.clone());
        e.add(
            "objectClass",
            ["top", "groupOfNames", "groupOfUniqueNames", "posixGroup"],
        );
        e.add("cn", [&group.name]);
        if !group.display_name.is_empty() {
            e.add("description", [&group.display_name]);
        }
        if !member_dns.is_empty() {
            e.add("member", member_dns.clone());
            e.add("uniqueMember", member_dns);
            e.add("memberUid", members);
        }
        e.add("gidNumber", [g.gid_number.to_string()]);
        e.add("entryUUID", [&group.id]);
        e.times(group.created_at, group.updated_at);
        e.add("entryDN", [dn]);
        e.done()
    }

    /// A service account (only ever shown to itself).
    pub fn service(&self, a: &LdapAccount) -> Entry {
        let dn = self.service_dn(&a.name);
        let mut e = EntryBuilder::new(dn.clone());
        e.add("objectClass", ["top", "applicationProcess"]);
        e.add("cn", [&a.name]);
        e.add("entryUUID", [&a.id]);
        e.times(a.created_at, a.updated_at);
        e.add("entryDN", [dn]);
        e.done()
    }

    /// The base entry.
    pub fn base_entry(&self) -> Entry {
        let dn = self.base.to_string();
        let mut e = EntryBuilder::new(dn.clone());
        match self.base.leaf() {
            Some(ava) if ava.attr == "dc" => {
                e.add("objectClass", ["top", "domain"]);
                e.add("dc", [&ava.value]);
            }
            Some(ava) if ava.attr == "o" => {
                e.add("objectClass", ["top", "organization"]);
                e.add("o", [&ava.value]);
            }
            Some(ava) if ava.attr == "ou" => {
                e.add("objectClass", ["top", "organizationalUnit"]);
                e.add("ou", [&ava.value]);
            }
            _ => e.add("objectClass", ["top"]),
        }
        e.add("entryDN", [dn]);
        e.done()
    }

    /// `ou=people`, `ou=groups`, `ou=services`.
    pub fn unit(&self, dn: &Dn) -> Entry {
        let name = dn.leaf().map(|a| a.value.clone()).unwrap_or_default();
        let text = dn.to_string();
        let mut e = EntryBuilder::new(text.clone());
        e.add("objectClass", ["top", "organizationalUnit"]);
        e.add("ou", [name]);
        e.add("entryDN", [text]);
        e.done()
    }

    /// The RootDSE: readable by anyone, before binding.
    pub fn root_dse(&self) -> Entry {
        let base = self.base.to_string();
        let mut e = EntryBuilder::new(String::new());
        e.add("objectClass", ["top"]);
        e.add("namingContexts", [&base]);
        e.add("defaultNamingContext", [&base]);
        e.add("supportedLDAPVersion", ["3"]);
        e.add("supportedControl", [PAGED_RESULTS]);
        e.add("supportedExtension", [START_TLS, WHO_AM_I]);
        e.add("supportedFeatures", [ALL_OPERATIONAL]);
        e.add("vendorName", ["Latchkey"]);
        e.add(
            "vendorVersion",
            [concat!("Latchkey ", env!("CARGO_PKG_VERSION"))],
        );
        e.add("subschemaSubentry", ["cn=Subschema"]);
        e.done()
    }

    /// A small subschema: the attribute types and object classes entries use.
    pub fn subschema(&self) -> Entry {
        let mut e = EntryBuilder::new("cn=Subschema".into());
        e.add("objectClass", ["top", "subschema"]);
        e.add("cn", ["Subschema"]);
        e.add("attributeTypes", ATTRIBUTE_TYPES);
        e.add("objectClasses", OBJECT_CLASSES);
        e.done()
    }
}

const ATTRIBUTE_TYPES: &[&str] = &[
    "( 2.5.4.0 NAME 'objectClass' EQUALITY objectIdentifierMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.38 )",
    "( 0.9.2342.19200300.100.1.1 NAME ( 'uid' 'userid' ) EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{256} )",
    "( 2.5.4.3 NAME ( 'cn' 'commonName' ) SUP name )",
    "( 2.16.840.1.113730.3.1.241 NAME 'displayName' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )",
    "( 2.5.4.42 NAME ( 'givenName' 'gn' ) SUP name )",
    "( 2.5.4.4 NAME ( 'sn' 'surname' ) SUP name )",
    "( 0.9.2342.19200300.100.1.3 NAME ( 'mail' 'rfc822Mailbox' ) EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.26{256} )",
    "( 1.2.840.113556.1.2.102 NAME 'memberOf' EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )",
    "( 1.3.6.1.1.1.1.0 NAME 'uidNumber' EQUALITY integerMatch ORDERING integerOrderingMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )",
    "( 1.3.6.1.1.1.1.1 NAME 'gidNumber' EQUALITY integerMatch ORDERING integerOrderingMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )",
    "( 1.3.6.1.1.1.1.3 NAME 'homeDirectory' EQUALITY caseExactIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 SINGLE-VALUE )",
    "( 1.3.6.1.1.1.1.4 NAME 'loginShell' EQUALITY caseExactIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 SINGLE-VALUE )",
    "( 1.3.6.1.1.1.1.2 NAME 'gecos' EQUALITY caseIgnoreIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 SINGLE-VALUE )",
    "( 2.5.4.31 NAME 'member' SUP distinguishedName )",
    "( 2.5.4.50 NAME 'uniqueMember' EQUALITY uniqueMemberMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.34 )",
    "( 1.3.6.1.1.1.1.12 NAME 'memberUid' EQUALITY caseExactIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 )",
    "( 0.9.2342.19200300.100.1.60 NAME 'jpegPhoto' SYNTAX 1.3.6.1.4.1.1466.115.121.1.28 )",
    "( 1.3.6.1.1.16.4 NAME 'entryUUID' EQUALITY UUIDMatch ORDERING UUIDOrderingMatch SYNTAX 1.3.6.1.1.16.1 SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )",
];

const OBJECT_CLASSES: &[&str] = &[
    "( 2.5.6.6 NAME 'person' SUP top STRUCTURAL MUST ( sn $ cn ) )",
    "( 2.5.6.7 NAME 'organizationalPerson' SUP person STRUCTURAL )",
    "( 2.16.840.1.113730.3.2.2 NAME 'inetOrgPerson' SUP organizationalPerson STRUCTURAL MAY ( displayName $ givenName $ mail $ uid $ jpegPhoto ) )",
    "( 1.3.6.1.1.1.2.0 NAME 'posixAccount' SUP top AUXILIARY MUST ( cn $ uid $ uidNumber $ gidNumber $ homeDirectory ) MAY ( loginShell $ gecos ) )",
    "( 2.5.6.9 NAME 'groupOfNames' SUP top STRUCTURAL MUST cn MAY ( member $ description ) )",
    "( 2.5.6.17 NAME 'groupOfUniqueNames' SUP top STRUCTURAL MUST cn MAY ( uniqueMember $ description ) )",
    "( 1.3.6.1.1.1.2.2 NAME 'posixGroup' SUP top AUXILIARY MUST ( cn $ gidNumber ) MAY memberUid )",
    "( 2.5.6.5 NAME 'organizationalUnit' SUP top STRUCTURAL MUST ou )",
];

struct EntryBuilder(Entry);

impl EntryBuilder {
    fn new(dn: String) -> EntryBuilder {
        EntryBuilder(Entry {
            dn,
            attrs: Vec::with_capacity(20),
            user_id: None,
        })
    }

    fn add<I, V>(&mut self, name: &'static str, values: I)
    where
        I: IntoIterator<Item = V>,
        V: AsRef<str>,
    {
        self.0.attrs.push(Attr {
            name,
            values: values
                .into_iter()
                .map(|v| v.as_ref().as_bytes().to_vec())
                .collect(),
        });
    }

    fn times(&mut self, created: i64, modified: i64) {
        self.add("createTimestamp", [generalized_time(created)]);
        self.add("modifyTimestamp", [generalized_time(modified)]);
    }

    fn done(self) -> Entry {
        self.0
    }
}

impl Entry {
    /// The values of an attribute, by canonical name.
    pub fn get(&self, canonical: &str) -> Option<&[Vec<u8>]> {
        self.attrs
            .iter()
            .find(|a| a.name == canonical)
            .map(|a| a.values.as_slice())
    }

    /// Add an attribute loaded on request (`jpegPhoto`).
    pub fn put(&mut self, name: &'static str, value: Vec<u8>) {
        self.attrs.push(Attr {
            name,
            values: vec![value],
        });
    }

    /// The search result for this entry with the attributes `requested` selects:
    /// none listed or `*` for every user attribute, `+` for the operational ones,
    /// `1.1` for none, names for themselves; `types_only` leaves the values out.
    pub fn into_result(self, requested: &Selection, types_only: bool) -> LdapSearchResultEntry {
        let attributes = self
            .attrs
            .into_iter()
            .filter(|a| requested.wants(a.name))
            .map(|a| LdapPartialAttribute {
                atype: a.name.to_string(),
                vals: if types_only { Vec::new() } else { a.values },
            })
            .collect();
        LdapSearchResultEntry {
            dn: self.dn,
            attributes,
        }
    }
}

/// The attributes a search asked for.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    all_user: bool,
    all_operational: bool,
    named: Vec<&'static str>,
}

impl Selection {
    pub fn new(attrs: &[String]) -> Selection {
        let mut s = Selection::default();
        let only_none = !attrs.is_empty() && attrs.iter().all(|a| a == "1.1");
        if attrs.is_empty() {
            s.all_user = true;
        }
        for a in attrs {
            match a.as_str() {
                "*" => s.all_user = true,
                "+" => s.all_operational = true,
                "1.1" => {}
                name => {
                    if let Some(c) = canonical(name) {
                        s.named.push(c);
                    }
                }
            }
        }
        if only_none {
            s = Selection::default();
        }
        s
    }

    pub fn wants(&self, canonical: &str) -> bool {
        if self.named.contains(&canonical) {
            return true;
        }
        match kind(canonical) {
            Kind::User => self.all_user,
            Kind::Operational => self.all_operational,
            Kind::OnRequest => false,
        }
    }

    /// Whether an attribute loaded only on request was asked for by name.
    pub fn names(&self, canonical: &str) -> bool {
        self.named.contains(&canonical)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_generalized() {
        assert_eq!(generalized_time(0), "19700101000000Z");
        assert_eq!(generalized_time(1_796_312_587), "20261203154307Z");
    }

    #[test]
    fn selections_follow_rfc_4511_and_3673() {
        let all = Selection::new(&[]);
        assert!(all.wants("uid") && !all.wants("entryUUID") && !all.wants("jpegPhoto"));
        let plus = Selection::new(&["*".into(), "+".into()]);
        assert!(plus.wants("uid") && plus.wants("entryUUID") && !plus.wants("jpegPhoto"));
        let named = Selection::new(&["UID".into(), "jpegphoto".into(), "userPassword".into()]);
        assert!(named.wants("uid") && named.wants("jpegPhoto") && !named.wants("cn"));
        let none = Selection::new(&["1.1".into()]);
        assert!(!none.wants("uid") && !none.wants("objectClass"));
        assert_eq!(canonical("commonName"), Some("cn"));
        assert_eq!(canonical("userPassword"), None);
    }
}
