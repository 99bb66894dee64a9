//! Search filters (RFC 4511 §4.5.1.7): checked once, evaluated against entries, and
//! turned into the store reads (`Select`) that can answer them from an index.
//!
//! Depth and size are bounded before this code sees a filter (the codec refuses
//! nesting deeper than its limit and requests larger than the request limit), so
//! the recursion here is bounded too.

use ldap3_proto::proto::{LdapFilter, LdapResultCode, LdapSubstringFilter};

use super::dn::Dn;
use super::entry::{Entry, IN_CHAIN, Syntax, canonical, syntax};
use crate::store::Select;

/// A filter that cannot be evaluated, with the result code it is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub code: LdapResultCode,
    pub message: String,
}

/// Refuse what the server cannot evaluate: extensible matches other than the
/// in-chain rule on membership attributes.
pub fn check(filter: &LdapFilter) -> Result<(), FilterError> {
    match filter {
        LdapFilter::And(fs) | LdapFilter::Or(fs) => fs.iter().try_for_each(check),
        LdapFilter::Not(f) => check(f),
        LdapFilter::Extensible(m) => {
            let rule_ok = m.matching_rule.as_deref() == Some(IN_CHAIN);
            let attr_ok = m
                .type_
                .as_deref()
                .and_then(canonical)
                .is_some_and(|a| matches!(a, "member" | "memberOf" | "uniqueMember"));
            if rule_ok && attr_ok {
                Ok(())
            } else {
                Err(FilterError {
                    code: LdapResultCode::InappropriateMatching,
                    message: format!(
                        "only the matching rule {IN_CHAIN} on member or memberOf is supported"
                    ),
                })
            }
        }
        _ => Ok(()),
    }
}

/// Does `entry` match `filter`? (An attribute the entry lacks makes a comparison
/// false; `check` has refused what cannot be evaluated.)
pub fn matches(filter: &LdapFilter, entry: &Entry) -> bool {
    match filter {
        LdapFilter::And(fs) => fs.iter().all(|f| matches(f, entry)),
        LdapFilter::Or(fs) => fs.iter().any(|f| matches(f, entry)),
        LdapFilter::Not(f) => !matches(f, entry),
        LdapFilter::Equality(attr, value) | LdapFilter::Approx(attr, value) => {
            compare(entry, attr, |syntax, v| equal(syntax, v, value))
        }
        LdapFilter::Substring(attr, sub) => compare(entry, attr, |syntax, v| {
            syntax != Syntax::Binary && substring(&v.to_lowercase(), sub)
        }),
        LdapFilter::GreaterOrEqual(attr, value) => compare(entry, attr, |syntax, v| {
            order(syntax, v, value).is_some_and(|o| o.is_ge())
        }),
        LdapFilter::LessOrEqual(attr, value) => compare(entry, attr, |syntax, v| {
            order(syntax, v, value).is_some_and(|o| o.is_le())
        }),
        LdapFilter::Present(attr) => match canonical(attr) {
            Some("objectClass") => true,
            Some(a) => entry.get(a).is_some(),
            None => false,
        },
        LdapFilter::Extensible(m) => match (&m.type_, check(filter)) {
            // Groups do not nest here, so "in chain" is plain membership.
            (Some(attr), Ok(())) => {
                compare(entry, attr, |syntax, v| equal(syntax, v, &m.match_value))
            }
            _ => false,
        },
    }
}

/// Whether any value of `attr` in `entry` satisfies `test`.
fn compare(entry: &Entry, attr: &str, test: impl Fn(Syntax, &str) -> bool) -> bool {
    let Some(name) = canonical(attr) else {
        return false;
    };
    let syntax = syntax(name);
    entry.get(name).is_some_and(|values| {
        values
            .iter()
            .filter_map(|v| std::str::from_utf8(v).ok())
            .any(|v| test(syntax, v))
    })
}

/// Equality under the attribute's syntax.
pub fn equal(syntax: Syntax, value: &str, asserted: &str) -> bool {
    match syntax {
        Syntax::Text => fold_eq(value, asserted),
        Syntax::Integer => match (value.trim().parse::<i64>(), asserted.trim().parse::<i64>()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        },
        Syntax::Time => normal_time(value) == normal_time(asserted),
        Syntax::Dn => dn_equal(value, asserted),
        Syntax::Binary => false,
    }
}

/// A DN value equals a DN, or (`member=alice`) a plain name equals its first value.
fn dn_equal(value: &str, asserted: &str) -> bool {
    let Ok(value) = Dn::parse(value) else {
        return false;
    };
    if asserted.contains('=') {
        Dn::parse(asserted).is_ok_and(|a| a == value)
    } else {
        value
            .leaf()
            .is_some_and(|leaf| fold_eq(leaf.folded(), asserted))
    }
}

fn fold_eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.trim().to_lowercase()
}

fn order(syntax: Syntax, value: &str, asserted: &str) -> Option<std::cmp::Ordering> {
    match syntax {
        Syntax::Integer => Some(
            value
                .trim()
                .parse::<i64>()
                .ok()?
                .cmp(&asserted.trim().parse::<i64>().ok()?),
        ),
        Syntax::Time => Some(normal_time(value)?.cmp(&normal_time(asserted)?)),
        Syntax::Text => Some(value.to_lowercase().cmp(&asserted.to_lowercase())),
        Syntax::Dn | Syntax::Binary => None,
    }
}

/// GeneralizedTime as `YYYYMMDDHHMMSS` in UTC (fractions dropped, minutes and seconds
/// filled), so that times compare as strings; `None` when it is not a time.
fn normal_time(text: &str) -> Option<String> {
    let text = text.trim();
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    if digits.len() < 10 || digits.len() > 14 || !digits.len().is_multiple_of(2) {
        return None;
    }
    let rest = &text[digits.len()..];
    let rest = rest
        .strip_prefix(['.', ','])
        .map_or(rest, |r| r.trim_start_matches(|c: char| c.is_ascii_digit()));
    if rest != "Z" && !rest.is_empty() {
        // Offsets other than Z are not worth the complexity here: a client that sends
        // one gets no match rather than a wrong one.
        return None;
    }
    Some(format!("{digits:0<14}"))
}

fn substring(value: &str, sub: &LdapSubstringFilter) -> bool {
    let mut rest = value;
    if let Some(initial) = &sub.initial {
        let initial = initial.to_lowercase();
        let Some(after) = rest.strip_prefix(initial.as_str()) else {
            return false;
        };
        rest = after;
    }
    for any in &sub.any {
        let any = any.to_lowercase();
        match rest.find(any.as_str()) {
            Some(at) => rest = &rest[at + any.len()..],
            None => return false,
        }
    }
    match &sub.final_ {
        Some(last) => rest.ends_with(last.to_lowercase().as_str()),
        None => true,
    }
}

/// The kinds of entry, for deciding which a filter can match at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Person,
    Group,
}

impl EntryKind {
    fn object_classes(self) -> &'static [&'static str] {
        match self {
            EntryKind::Person => &[
                "top",
                "person",
                "organizationalperson",
                "inetorgperson",
                "posixaccount",
            ],
            EntryKind::Group => &["top", "groupofnames", "groupofuniquenames", "posixgroup"],
        }
    }
}

/// Could `filter` match some entry of `kind`? Answers no only where the filter's
/// `objectClass` tests rule the kind out (`(objectClass=posixGroup)` never reads users).
pub fn may_match(filter: &LdapFilter, kind: EntryKind) -> bool {
    match filter {
        LdapFilter::And(fs) => fs.iter().all(|f| may_match(f, kind)),
        LdapFilter::Or(fs) => fs.iter().any(|f| may_match(f, kind)),
        LdapFilter::Equality(attr, value) if canonical(attr) == Some("objectClass") => kind
            .object_classes()
            .contains(&value.trim().to_lowercase().as_str()),
        _ => true,
    }
}

/// The store reads whose union holds every entry of `kind` that `filter` can match;
/// `[Select::All]` when no indexed attribute narrows it.
pub fn plan(filter: &LdapFilter, kind: EntryKind) -> Vec<Select> {
    narrow(filter, kind).unwrap_or_else(|| vec![Select::All])
}

fn narrow(filter: &LdapFilter, kind: EntryKind) -> Option<Vec<Select>> {
    match filter {
        LdapFilter::And(fs) => fs
            .iter()
            .filter_map(|f| narrow(f, kind))
            .min_by_key(Vec::len),
        LdapFilter::Or(fs) => {
            let mut all = Vec::new();
            for f in fs {
                all.extend(narrow(f, kind)?);
            }
            Some(all)
        }
        LdapFilter::Equality(attr, value) | LdapFilter::Approx(attr, value) => {
            indexed(kind, canonical(attr)?, value)
        }
        LdapFilter::Extensible(m) => indexed(kind, canonical(m.type_.as_deref()?)?, &m.match_value),
        _ => None,
    }
}

/// The name in a membership value: `cn=admins,ou=groups,…` or just `admins`.
fn member_name(value: &str) -> Option<String> {
    if value.contains('=') {
        Dn::parse(value)
            .ok()?
            .leaf()
            .map(|l| l.folded().to_string())
    } else {
        Some(value.trim().to_lowercase())
    }
}

fn indexed(kind: EntryKind, attr: &str, value: &str) -> Option<Vec<Select>> {
    let select = match (kind, attr) {
        (EntryKind::Person, "uid") => Select::Name(value.trim().to_string()),
        (EntryKind::Person, "mail") => Select::Email(value.trim().to_string()),
        (EntryKind::Person, "cn" | "displayName") => Select::DisplayName(value.trim().to_string()),
        (_, "entryUUID") => Select::Id(value.trim().to_string()),
        (EntryKind::Person, "uidNumber") | (EntryKind::Group, "gidNumber") => {
            value.trim().parse().map_or(Select::Nothing, Select::Number)
        }
        (EntryKind::Person, "memberOf") => {
            member_name(value).map_or(Select::Nothing, Select::MemberOf)
        }
        (EntryKind::Group, "cn") => Select::Name(value.trim().to_string()),
        (EntryKind::Group, "member" | "uniqueMember") => {
            member_name(value).map_or(Select::Nothing, Select::HasMember)
        }
        (EntryKind::Group, "memberUid") => Select::HasMember(value.trim().to_string()),
        // Attributes one kind does not have: nothing of that kind can match.
        (EntryKind::Group, "uid" | "mail" | "memberOf" | "uidNumber")
        | (EntryKind::Person, "member" | "uniqueMember" | "memberUid") => Select::Nothing,
        _ => return None,
    };
    Some(vec![select])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ldap::entry::Tree;
    use crate::store::{DirGroup, DirUser};
    use ldap3_proto::parse_ldap_filter_str;

    fn tree() -> Tree {
        Tree::new(Dn::parse("dc=example,dc=org").unwrap(), "/bin/bash".into())
    }

    fn alice() -> Entry {
        let user = crate::domain::user::User {
            id: "0190e4a6-0000-7000-8000-000000000001".into(),
            username: "alice".into(),
            email: Some("Alice@Example.org".into()),
            email_verified: true,
            first_name: "Alice".into(),
            last_name: "Liddell".into(),
            display_name: "Alice Liddell".into(),
            is_admin: false,
            disabled: false,
            locale: None,
            created_at: 1_700_000_000,
            updated_at: 1_796_312_587,
            source: crate::domain::user::Source::Local,
            external_id: None,
        };
        tree().user(
            &DirUser {
                user,
                uid_number: 10001,
                groups: vec!["devs".into(), "secret".into()],
            },
            |g| g != "secret",
        )
    }

    /// A filter from its text; ldap3_proto's text parser refuses `=` inside values,
    /// so a single `(attr=value)` or `(attr:rule:=value)` with one is built here.
    fn f(text: &str) -> LdapFilter {
        parse_ldap_filter_str(text).unwrap_or_else(|e| {
            let inner = text
                .strip_prefix('(')
                .and_then(|t| t.strip_suffix(')'))
                .unwrap_or_else(|| panic!("{text}: {e:?}"));
            if let Some((lhs, value)) = inner.split_once(":=") {
                let mut parts = lhs.split(':');
                return LdapFilter::Extensible(ldap3_proto::proto::LdapMatchingRuleAssertion {
                    type_: parts.next().map(str::to_string),
                    matching_rule: parts.next().map(str::to_string),
                    match_value: value.to_string(),
                    dn_attributes: false,
                });
            }
            let (attr, value) = inner.split_once('=').expect("attr=value");
            LdapFilter::Equality(attr.to_string(), value.to_string())
        })
    }

    #[test]
    fn every_filter_kind_is_evaluated() {
        let e = alice();
        for yes in [
            "(uid=ALICE)",
            "(objectClass=inetOrgPerson)",
            "(OBJECTCLASS=posixaccount)",
            "(mail=alice@example.org)",
            "(cn=alice*)",
            "(cn=*lid*l)",
            "(sn=Liddell)",
            "(uidNumber>=10001)",
            "(uidNumber<=10001)",
            "(!(uidNumber>=10002))",
            "(&(uid=alice)(|(uid=bob)(mail=*)))",
            "(memberOf=cn=devs,ou=groups,dc=example,dc=org)",
            "(memberOf=CN=Devs, OU=Groups, DC=Example, DC=Org)",
            "(memberOf=devs)",
            "(memberOf:1.2.840.113556.1.4.1941:=cn=devs,ou=groups,dc=example,dc=org)",
            "(modifyTimestamp>=20261201000000Z)",
            "(createTimestamp<=20231114221321.5Z)",
            "(uid~=alice)",
            "(displayName=*)",
        ] {
            assert!(matches(&f(yes), &e), "{yes}");
        }
        for no in [
            "(uid=bob)",
            "(objectClass=posixGroup)",
            "(memberOf=secret)",
            "(userPassword=*)",
            "(jpegPhoto=*)",
            "(uidNumber>=x)",
            "(cn=bob*)",
            "(!(uid=alice))",
            "(modifyTimestamp<=20260101000000Z)",
        ] {
            assert!(!matches(&f(no), &e), "{no}");
        }
    }

    #[test]
    fn unsupported_matching_is_refused() {
        assert!(check(&f("(uid:caseExactMatch:=alice)")).is_err());
        assert!(check(&f("(memberOf:1.2.840.113556.1.4.1941:=x)")).is_ok());
        let err = check(&f("(|(uid=a)(cn:1.2.3:=x))")).unwrap_err();
        assert_eq!(err.code, LdapResultCode::InappropriateMatching);
    }

    #[test]
    fn indexed_attributes_narrow_the_reads() {
        use EntryKind::*;
        assert_eq!(
            plan(&f("(uid=alice)"), Person),
            vec![Select::Name("alice".into())]
        );
        assert_eq!(
            plan(&f("(&(objectClass=person)(mail=a@b.c))"), Person),
            vec![Select::Email("a@b.c".into())]
        );
        assert_eq!(
            plan(&f("(|(uid=a)(uid=b))"), Person),
            vec![Select::Name("a".into()), Select::Name("b".into())]
        );
        assert_eq!(plan(&f("(|(uid=a)(sn=b))"), Person), vec![Select::All]);
        assert_eq!(
            plan(&f("(memberOf=cn=devs,ou=groups,dc=x)"), Person),
            vec![Select::MemberOf("devs".into())]
        );
        assert_eq!(
            plan(&f("(member=uid=alice,ou=people,dc=x)"), Group),
            vec![Select::HasMember("alice".into())]
        );
        assert_eq!(plan(&f("(uid=alice)"), Group), vec![Select::Nothing]);
        assert!(!may_match(&f("(objectClass=posixGroup)"), Person));
        assert!(may_match(&f("(|(objectClass=posixGroup)(uid=a))"), Person));
        let group = tree().group(
            &DirGroup {
                group: crate::domain::group::Group {
                    id: "g1".into(),
                    name: "devs".into(),
                    display_name: "Developers".into(),
                    created_at: 0,
                    updated_at: 0,
                    source: crate::domain::user::Source::Local,
                    external_id: None,
                },
                gid_number: 50000,
                members: vec!["alice".into(), "bob".into()],
            },
            |m| m == "alice",
        );
        assert!(matches(&f("(member=alice)"), &group));
        assert!(matches(&f("(memberUid=alice)"), &group));
        assert!(!matches(&f("(memberUid=bob)"), &group), "hidden member");
    }

    #[test]
    fn hostile_filters_do_not_panic() {
        let e = alice();
        let deep = format!("{}(uid=a){}", "(!".repeat(50), ")".repeat(50));
        if let Ok(filter) = parse_ldap_filter_str(&deep) {
            let _ = matches(&filter, &e);
        }
        let huge = format!("(cn=*{}*)", "a".repeat(100_000));
        assert!(!matches(&f(&huge), &e));
        for odd in [
            "(uidNumber>=99999999999999999999)",
            "(createTimestamp>=2)",
            "(memberOf=,,,)",
        ] {
            let _ = matches(&f(odd), &e);
            let _ = plan(&f(odd), EntryKind::Person);
        }
    }
}
