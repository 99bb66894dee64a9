//! The directory in memory: every enabled user, every group, every LDAP service
//! account and every proxied application, with indexes on what LDAP filters and
//! binds ask for, so that a search, a service account's bind or a forward-auth check
//! costs a few map lookups and no database round trip (on SQLite each query is two
//! thread hops, most of a search's CPU).
//!
//! Freshness: a change made by this process is seen by the next search (the store
//! counts its writes; a count that moved makes the next search ask the database for
//! the directory's version). A change made by another process (the CLI, a second
//! instance) is seen within `RECHECK`: the version, kept by database triggers, is
//! read at least that often. The directory is loaded again only when the version
//! moved, in one pass, at most by one task at a time; nothing is loaded until the
//! first search that reads entries, so an idle server holds none of it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::{DirGroup, DirUser, LdapAccount, Select, Store, StoreError};
use crate::domain::proxy_app::ProxyApps;

/// The longest a change made elsewhere stays unseen.
pub const RECHECK: Duration = Duration::from_secs(1);

/// Every enabled user and every group, as of one directory version.
#[derive(Default)]
pub struct Snapshot {
    /// By username.
    users: Vec<DirUser>,
    /// By name.
    groups: Vec<DirGroup>,
    user_by_name: HashMap<String, usize>,
    user_by_email: HashMap<String, usize>,
    user_by_id: HashMap<String, usize>,
    user_by_number: HashMap<i64, usize>,
    users_by_display_name: HashMap<String, Vec<usize>>,
    group_by_name: HashMap<String, usize>,
    group_by_id: HashMap<String, usize>,
    group_by_number: HashMap<i64, usize>,
    /// The groups of each user (by lower-case username), by name.
    groups_of_user: HashMap<String, Vec<usize>>,
    /// Service accounts by lower-case name, with their secret's hash.
    accounts: HashMap<String, (LdapAccount, String)>,
    /// The proxied applications (forward-auth asks on every request).
    apps: Arc<ProxyApps>,
}

impl Snapshot {
    /// Index `users` and `groups` as the store returned them (ordered by name), and
    /// the service accounts.
    pub fn new(
        users: Vec<DirUser>,
        groups: Vec<DirGroup>,
        accounts: Vec<(LdapAccount, String)>,
    ) -> Snapshot {
        let mut s = Snapshot {
            accounts: accounts
                .into_iter()
                .map(|(a, hash)| (a.name.to_lowercase(), (a, hash)))
                .collect(),
            ..Snapshot::default()
        };
        for (i, u) in users.iter().enumerate() {
            s.user_by_name.insert(u.user.username.to_lowercase(), i);
            if let Some(email) = &u.user.email {
                s.user_by_email.insert(email.to_lowercase(), i);
            }
            s.user_by_id.insert(u.user.id.to_lowercase(), i);
            s.user_by_number.insert(u.uid_number, i);
            s.users_by_display_name
                .entry(u.user.display_name.to_lowercase())
                .or_default()
                .push(i);
        }
        for (i, g) in groups.iter().enumerate() {
            s.group_by_name.insert(g.group.name.to_lowercase(), i);
            s.group_by_id.insert(g.group.id.to_lowercase(), i);
            s.group_by_number.insert(g.gid_number, i);
            for member in &g.members {
                s.groups_of_user
                    .entry(member.to_lowercase())
                    .or_default()
                    .push(i);
            }
        }
        s.users = users;
        s.groups = groups;
        s
    }

    /// The same directory, with these proxied applications.
    pub fn with_apps(mut self, apps: ProxyApps) -> Snapshot {
        self.apps = Arc::new(apps);
        self
    }

    /// The proxied applications.
    pub fn apps(&self) -> &ProxyApps {
        &self.apps
    }

    /// An enabled user by id.
    pub fn user(&self, id: &str) -> Option<&DirUser> {
        self.user_by_id
            .get(&id.to_lowercase())
            .map(|&i| &self.users[i])
    }

    /// The users `select` picks, by username: what `Store::directory_users` returns.
    pub fn users(&self, select: &Select) -> Vec<&DirUser> {
        let one = |i: Option<&usize>| i.map(|&i| vec![&self.users[i]]).unwrap_or_default();
        match select {
            Select::All => self.users.iter().collect(),
            Select::Name(n) => one(self.user_by_name.get(&n.to_lowercase())),
            Select::Email(e) => one(self.user_by_email.get(&e.to_lowercase())),
            Select::Id(id) => one(self.user_by_id.get(&id.to_lowercase())),
            Select::Number(n) => one(self.user_by_number.get(n)),
            Select::DisplayName(n) => self
                .users_by_display_name
                .get(&n.to_lowercase())
                .map(|found| found.iter().map(|&i| &self.users[i]).collect())
                .unwrap_or_default(),
            Select::MemberOf(g) => {
                let Some(&group) = self.group_by_name.get(&g.to_lowercase()) else {
                    return Vec::new();
                };
                // Members are kept by username, as users are.
                self.groups[group]
                    .members
                    .iter()
                    .filter_map(|m| self.user_by_name.get(&m.to_lowercase()))
                    .map(|&i| &self.users[i])
                    .collect()
            }
            Select::HasMember(_) | Select::Nothing => Vec::new(),
        }
    }

    /// A service account by name (case-insensitive), with its secret's hash: what
    /// `Store::ldap_account` returns, but for the time of its last use.
    pub fn service_account(&self, name: &str) -> Option<&(LdapAccount, String)> {
        self.accounts.get(&name.to_lowercase())
    }

    /// The groups `select` picks, by name: what `Store::directory_groups` returns.
    pub fn groups(&self, select: &Select) -> Vec<&DirGroup> {
        let one = |i: Option<&usize>| i.map(|&i| vec![&self.groups[i]]).unwrap_or_default();
        match select {
            Select::All => self.groups.iter().collect(),
            Select::Name(n) | Select::DisplayName(n) => {
                one(self.group_by_name.get(&n.to_lowercase()))
            }
            Select::Id(id) => one(self.group_by_id.get(&id.to_lowercase())),
            Select::Number(n) => one(self.group_by_number.get(n)),
            Select::HasMember(u) => self
                .groups_of_user
                .get(&u.to_lowercase())
                .map(|found| found.iter().map(|&i| &self.groups[i]).collect())
                .unwrap_or_default(),
            Select::Email(_) | Select::MemberOf(_) | Select::Nothing => Vec::new(),
        }
    }
}

struct Cached {
    snapshot: Arc<Snapshot>,
    version: i64,
    /// The store's write count when the version was last read.
    writes: u64,
    checked: Instant,
}

/// The snapshot in force, and how it is kept fresh (see the module's notes).
#[derive(Default)]
pub struct Cache {
    current: RwLock<Option<Cached>>,
    /// One task at a time reads the version and, when it moved, loads the directory.
    refresh: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").finish_non_exhaustive()
    }
}

impl Cache {
    fn fresh(&self, writes: u64) -> Option<Arc<Snapshot>> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current
            .as_ref()
            .filter(|c| c.writes == writes && c.checked.elapsed() < RECHECK)
            .map(|c| c.snapshot.clone())
    }

    /// The directory of `store` as it is now.
    pub(super) async fn get(&self, store: &Store) -> Result<Arc<Snapshot>, StoreError> {
        if let Some(snapshot) = self.fresh(store.write_count()) {
            return Ok(snapshot);
        }
        let _one = self.refresh.lock().await;
        // Read before the version: a write counted here has committed, so the
        // version read next includes it.
        let writes = store.write_count();
        if let Some(snapshot) = self.fresh(writes) {
            return Ok(snapshot);
        }
        let checked = Instant::now();
        let version = store.directory_version().await?;
        let known = {
            let current = self.current.read().unwrap_or_else(|e| e.into_inner());
            current
                .as_ref()
                .filter(|c| c.version == version)
                .map(|c| c.snapshot.clone())
        };
        // Loaded after the version was read: at least as new as it, never older.
        let snapshot = match known {
            Some(snapshot) => snapshot,
            None => Arc::new(
                Snapshot::new(
                    store.directory_users(&Select::All).await?,
                    store.directory_groups(&Select::All).await?,
                    store.ldap_accounts_with_secrets().await?,
                )
                .with_apps(ProxyApps::new(store.proxy_apps().await?)),
            ),
        };
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(Cached {
            snapshot: snapshot.clone(),
            version,
            writes,
            checked,
        });
        Ok(snapshot)
    }
}
