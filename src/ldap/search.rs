//! Searches over the tree: where a base DN points, which entries a scope covers, what
//! the bound reader may see, and which store reads answer the filter.

use std::collections::{HashMap, HashSet};

use ldap3_proto::proto::{LdapFilter, LdapResultCode, LdapSearchScope};

use super::dn::Dn;
use super::entry::{Entry, Tree};
use super::filter::{self, EntryKind};
use crate::domain::user::User;
use crate::store::snapshot::Snapshot;
use crate::store::{LdapAccount, Select, Store, StoreError};

/// Who is reading: what a bind established.
#[derive(Debug, Clone)]
pub enum Reader {
    Anonymous,
    User(User),
    Service(LdapAccount),
}

/// A search or lookup that failed, as an LDAP result.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: LdapResultCode,
    pub matched: String,
    pub message: String,
}

impl Failure {
    pub fn new(code: LdapResultCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            matched: String::new(),
            message: message.into(),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        tracing::warn!(error = %e, "LDAP: the store failed");
        Failure::new(LdapResultCode::Unavailable, "the directory is unavailable")
    }
}

/// Where a DN points in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    Root,
    Subschema,
    Base,
    People,
    Groups,
    Services,
    User(String),
    Group(String),
    Service(String),
    /// Nothing; `matched` is the nearest entry above that exists.
    Missing {
        matched: String,
    },
}

/// What a reader may see of people and groups.
struct Visibility {
    /// People: everyone, or those with these ids.
    people: Option<HashSet<String>>,
    /// Groups (and memberships shown): all, or those with these names.
    groups: Option<HashSet<String>>,
    /// The one person a user reader is.
    only_user: Option<String>,
}

impl Visibility {
    /// Nobody and no group: what an anonymous reader may see.
    fn nothing() -> Visibility {
        Visibility {
            people: Some(HashSet::new()),
            groups: Some(HashSet::new()),
            only_user: Some(String::new()),
        }
    }

    fn person(&self, user_id: &str, groups: &[String]) -> bool {
        match (&self.people, &self.groups) {
            (Some(ids), _) => ids.contains(user_id),
            (None, Some(allowed)) => groups.iter().any(|g| allowed.contains(g)),
            (None, None) => true,
        }
    }

    fn group(&self, name: &str) -> bool {
        self.groups.as_ref().is_none_or(|g| g.contains(name))
    }

    fn member(&self, username: &str) -> bool {
        self.only_user.as_deref().is_none_or(|u| u == username)
    }
}

/// What one search reads from, and for whom.
struct SeenBy<'a> {
    snapshot: &'a Snapshot,
    reader: &'a Reader,
    visible: &'a Visibility,
}

/// The directory as LDAP sees it.
#[derive(Clone)]
pub struct Directory {
    pub store: Store,
    pub tree: std::sync::Arc<Tree>,
    /// When and from where each service account was last noted as used (the
    /// in-memory directory's copy of that is not kept fresh; it is not the tree).
    pub noted: std::sync::Arc<std::sync::Mutex<HashMap<String, (i64, String)>>>,
}

/// What a search found: the entries, and whether more matched than the limit.
pub struct Found {
    pub entries: Vec<Entry>,
    pub truncated: bool,
}

impl Directory {
    pub fn new(store: Store, tree: Tree) -> Directory {
        Directory {
            store,
            tree: std::sync::Arc::new(tree),
            noted: Default::default(),
        }
    }

    /// Note a service account's successful bind from `ip` (written to the minute).
    pub async fn note_use(&self, account: &LdapAccount, ip: &str) -> Result<(), StoreError> {
        let last = self
            .noted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&account.id)
            .cloned();
        let seen = LdapAccount {
            last_used_at: last.as_ref().map(|(at, _)| *at).or(account.last_used_at),
            last_used_ip: last.map(|(_, ip)| ip).or(account.last_used_ip.clone()),
            ..account.clone()
        };
        if let Some(at) = self.store.note_ldap_account_used(&seen, ip).await? {
            self.noted
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(account.id.clone(), (at, ip.to_string()));
        }
        Ok(())
    }

    fn locate(&self, dn: &Dn) -> Place {
        if dn.is_root() {
            return Place::Root;
        }
        if dn.rdns().len() == 1
            && dn
                .leaf()
                .is_some_and(|a| a.attr == "cn" && a.folded() == "subschema")
        {
            return Place::Subschema;
        }
        let tree = &self.tree;
        let Some(above) = dn.strip_suffix(&tree.base) else {
            return Place::Missing {
                matched: String::new(),
            };
        };
        let base = tree.base.to_string();
        let single = |i: usize| match above.get(i) {
            Some(rdn) if rdn.len() == 1 => Some((rdn[0].attr.as_str(), rdn[0].folded())),
            _ => None,
        };
        match above.len() {
            0 => Place::Base,
            1 => match single(0) {
                Some(("ou", "people")) => Place::People,
                Some(("ou", "groups")) => Place::Groups,
                Some(("ou", "services")) => Place::Services,
                _ => Place::Missing { matched: base },
            },
            2 => match (single(1), single(0)) {
                (Some(("ou", "people")), Some(("uid", name))) => Place::User(name.to_string()),
                (Some(("ou", "groups")), Some(("cn", name))) => Place::Group(name.to_string()),
                (Some(("ou", "services")), Some(("cn", name))) => Place::Service(name.to_string()),
                (Some(("ou", unit)), _) if ["people", "groups", "services"].contains(&unit) => {
                    Place::Missing {
                        matched: tree.base.child("ou", unit).to_string(),
                    }
                }
                _ => Place::Missing { matched: base },
            },
            _ => Place::Missing { matched: base },
        }
    }

    fn visibility(snapshot: &Snapshot, reader: &Reader) -> Visibility {
        match reader {
            Reader::Anonymous => Visibility::nothing(),
            Reader::Service(a) if a.groups.is_empty() => Visibility {
                people: None,
                groups: None,
                only_user: None,
            },
            Reader::Service(a) => Visibility {
                people: None,
                groups: Some(a.groups.iter().cloned().collect()),
                only_user: None,
            },
            Reader::User(u) => {
                let own = snapshot.groups(&Select::HasMember(u.username.clone()));
                Visibility {
                    people: Some(HashSet::from([u.id.clone()])),
                    groups: Some(own.into_iter().map(|g| g.group.name.clone()).collect()),
                    only_user: Some(u.username.clone()),
                }
            }
        }
    }

    /// The entries under `base` within `scope` that match `filter` and that `reader`
    /// may see; at most `limit` (then `truncated`).
    pub async fn search(
        &self,
        reader: &Reader,
        base: &Dn,
        scope: &LdapSearchScope,
        filter: &LdapFilter,
        limit: usize,
    ) -> Result<Found, Failure> {
        filter::check(filter).map_err(|e| Failure::new(e.code, e.message))?;
        let mut found = Found {
            entries: Vec::new(),
            truncated: false,
        };
        let place = self.locate(base);
        let tree = self.tree.clone();
        let mut push = |entry: Entry, found: &mut Found| {
            if filter::matches(filter, &entry) {
                if found.entries.len() >= limit {
                    found.truncated = true;
                } else {
                    found.entries.push(entry);
                }
            }
        };
        use LdapSearchScope::{Base, Children, OneLevel, Subtree};
        let anonymous = matches!(reader, Reader::Anonymous);
        // Read once per search (for a user reader it is a query of their groups).
        let reads_entries = !anonymous
            && !matches!(
                place,
                Place::Root | Place::Subschema | Place::Missing { .. }
            );
        let snapshot = if reads_entries {
            self.store.directory_snapshot().await?
        } else {
            Default::default()
        };
        let snap = &*snapshot;
        let visible = if reads_entries {
            Self::visibility(snap, reader)
        } else {
            Visibility::nothing()
        };
        let seen_by = SeenBy {
            snapshot: snap,
            reader,
            visible: &visible,
        };
        match (&place, scope) {
            (Place::Root, Base) => push(tree.root_dse(), &mut found),
            (Place::Root, _) => {}
            (Place::Subschema, Base) if !anonymous => push(tree.subschema(), &mut found),
            (Place::Subschema, _) => {}
            (Place::Missing { matched }, _) => {
                return Err(Failure {
                    matched: if anonymous {
                        String::new()
                    } else {
                        matched.clone()
                    },
                    ..Failure::new(LdapResultCode::NoSuchObject, "no such entry")
                });
            }
            // Anonymous readers see the RootDSE only.
            _ if anonymous => {}
            (Place::Base, _) => {
                if matches!(scope, Base | Subtree) {
                    push(tree.base_entry(), &mut found);
                }
                if matches!(scope, OneLevel | Subtree | Children) {
                    for unit in [&tree.people, &tree.groups, &tree.services] {
                        push(tree.unit(unit), &mut found);
                    }
                }
                if matches!(scope, Subtree | Children) {
                    self.people(&seen_by, filter, None, &mut found, &mut push);
                    self.groups(&seen_by, filter, None, &mut found, &mut push);
                    self.services(reader, None, &mut found, &mut push);
                }
            }
            (Place::People | Place::Groups | Place::Services, _) => {
                let unit = match place {
                    Place::People => &tree.people,
                    Place::Groups => &tree.groups,
                    _ => &tree.services,
                };
                if matches!(scope, Base | Subtree) {
                    push(tree.unit(unit), &mut found);
                }
                if !matches!(scope, Base) {
                    match place {
                        Place::People => self.people(&seen_by, filter, None, &mut found, &mut push),
                        Place::Groups => self.groups(&seen_by, filter, None, &mut found, &mut push),
                        _ => self.services(reader, None, &mut found, &mut push),
                    }
                }
            }
            (Place::User(name) | Place::Group(name) | Place::Service(name), _) => {
                let mut one = Found {
                    entries: Vec::new(),
                    truncated: false,
                };
                let mut keep = |e: Entry, f: &mut Found| f.entries.push(e);
                match &place {
                    Place::User(_) => {
                        self.people(&seen_by, &all(), Some(name), &mut one, &mut keep)
                    }
                    Place::Group(_) => {
                        self.groups(&seen_by, &all(), Some(name), &mut one, &mut keep)
                    }
                    _ => self.services(reader, Some(name), &mut one, &mut keep),
                }
                let Some(entry) = one.entries.pop() else {
                    let unit = match place {
                        Place::User(_) => &tree.people,
                        Place::Group(_) => &tree.groups,
                        _ => &tree.services,
                    };
                    return Err(Failure {
                        matched: unit.to_string(),
                        ..Failure::new(LdapResultCode::NoSuchObject, "no such entry")
                    });
                };
                if matches!(scope, Base | Subtree) {
                    push(entry, &mut found);
                }
            }
        }
        Ok(found)
    }

    /// The entry at `dn`, when it exists and `reader` may see it.
    pub async fn lookup(&self, reader: &Reader, dn: &Dn) -> Result<Entry, Failure> {
        let mut found = self
            .search(reader, dn, &LdapSearchScope::Base, &all(), 1)
            .await?;
        found
            .entries
            .pop()
            .ok_or_else(|| Failure::new(LdapResultCode::NoSuchObject, "no such entry"))
    }

    fn people(
        &self,
        seen_by: &SeenBy<'_>,
        filter: &LdapFilter,
        named: Option<&str>,
        found: &mut Found,
        push: &mut impl FnMut(Entry, &mut Found),
    ) {
        if !filter::may_match(filter, EntryKind::Person) {
            return;
        }
        let SeenBy {
            snapshot,
            reader,
            visible,
        } = seen_by;
        let selects = match (named, *reader) {
            (Some(name), _) => vec![Select::Name(name.to_string())],
            (None, Reader::User(u)) => vec![Select::Id(u.id.clone())],
            (None, _) => filter::plan(filter, EntryKind::Person),
        };
        let mut seen = HashSet::new();
        for select in dedupe(selects) {
            for user in snapshot.users(&select) {
                if !seen.insert(user.user.id.clone())
                    || !visible.person(&user.user.id, &user.groups)
                {
                    continue;
                }
                push(self.tree.user(user, |g| visible.group(g)), found);
                if found.truncated {
                    return;
                }
            }
        }
    }

    fn groups(
        &self,
        seen_by: &SeenBy<'_>,
        filter: &LdapFilter,
        named: Option<&str>,
        found: &mut Found,
        push: &mut impl FnMut(Entry, &mut Found),
    ) {
        if !filter::may_match(filter, EntryKind::Group) {
            return;
        }
        let SeenBy {
            snapshot,
            reader,
            visible,
        } = seen_by;
        let selects = match (named, *reader) {
            (Some(name), _) => vec![Select::Name(name.to_string())],
            (None, Reader::User(u)) => vec![Select::HasMember(u.username.clone())],
            (None, _) => filter::plan(filter, EntryKind::Group),
        };
        let mut seen = HashSet::new();
        for select in dedupe(selects) {
            for group in snapshot.groups(&select) {
                if !seen.insert(group.group.id.clone()) || !visible.group(&group.group.name) {
                    continue;
                }
                push(self.tree.group(group, |m| visible.member(m)), found);
                if found.truncated {
                    return;
                }
            }
        }
    }

    /// Service accounts see their own entry, nobody else's.
    fn services(
        &self,
        reader: &Reader,
        named: Option<&str>,
        found: &mut Found,
        push: &mut impl FnMut(Entry, &mut Found),
    ) {
        if let Reader::Service(account) = reader
            && named.is_none_or(|n| n == account.name.to_lowercase())
        {
            push(self.tree.service(account), found);
        }
    }
}

/// `(objectClass=*)`.
fn all() -> LdapFilter {
    LdapFilter::Present("objectClass".into())
}

fn dedupe(selects: Vec<Select>) -> Vec<Select> {
    if selects.contains(&Select::All) {
        return vec![Select::All];
    }
    let mut out: Vec<Select> = Vec::new();
    for s in selects {
        if s != Select::Nothing && !out.contains(&s) {
            out.push(s);
        }
    }
    out
}
