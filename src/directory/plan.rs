//! The sync's rule, without I/O: compare what the directory has with what Latchkey
//! holds and decide the changes, or refuse them (too many users would go, or no
//! administrator would be left).

use std::collections::{BTreeSet, HashMap};

use super::mapping::{Skipped, UpstreamGroup, UpstreamUser, dn_key, group_name};
use super::settings::DeleteMode;
use crate::store::directory::{SyncChanges, SyncedState};

/// What a sync did (or would have done), as `latchkey directory sync` prints it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub created: usize,
    pub updated: usize,
    /// Users back in the directory, enabled again.
    pub enabled: usize,
    pub disabled: usize,
    pub deleted: usize,
    pub groups_created: usize,
    pub groups_updated: usize,
    pub groups_deleted: usize,
    pub skipped: Vec<Skipped>,
}

/// Why a sync's result was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "refused: {would} of {of} synced users would be disabled or deleted, more than the {max} % allowed (LATCHKEY_DIRECTORY_MAX_DISABLE_PERCENT); nothing was changed"
    )]
    TooManyGone { would: usize, of: usize, max: u32 },
    #[error("refused: no enabled administrator would be left; nothing was changed")]
    NoAdminLeft,
}

/// How the directory's admin group is named: by name or by DN.
fn is_admin_group(setting: &str, group: &UpstreamGroup) -> bool {
    group_name(setting).is_some_and(|n| n == group.fields.name)
        || dn_key(setting) == dn_key(&group.fields.dn)
}

/// Decide the changes. `admin_group`: `None` leaves the admin flag alone.
pub fn plan(
    mut users: Vec<UpstreamUser>,
    groups: Vec<UpstreamGroup>,
    state: &SyncedState,
    admin_group: Option<&str>,
    delete_mode: DeleteMode,
    max_percent: u32,
    mut skipped: Vec<Skipped>,
) -> Result<(SyncChanges, Summary), (Refusal, Summary)> {
    let mut changes = SyncChanges::default();
    let mut summary = Summary::default();
    let admins: Option<BTreeSet<String>> = admin_group.map(|setting| {
        groups
            .iter()
            .filter(|g| is_admin_group(setting, g))
            .flat_map(|g| g.members.iter().cloned())
            .collect()
    });
    let current: HashMap<&str, &crate::store::directory::SyncedUser> = state
        .users
        .iter()
        .filter_map(|u| Some((u.user.external_id.as_deref()?, u)))
        .collect();
    let synced_names: HashMap<String, &str> = state
        .users
        .iter()
        .map(|u| {
            (
                u.user.username.to_lowercase(),
                u.user.external_id.as_deref().unwrap_or(""),
            )
        })
        .collect();
    let mut kept = BTreeSet::new();
    let mut admins_after = state.local_admins;
    for up in &mut users {
        let f = &mut up.fields;
        f.is_admin = admins.as_ref().map(|a| a.contains(&f.external_id));
        let skip = |reason: String| Skipped {
            entry: f.dn.clone(),
            reason,
        };
        if state.local_usernames.contains(&f.username) {
            skipped.push(skip(format!(
                "username {} is taken by a user made here",
                f.username
            )));
            continue;
        }
        if let Some(email) = &f.email
            && state.local_emails.contains(&email.to_lowercase())
        {
            skipped.push(skip(format!("email {email} is taken by a user made here")));
            continue;
        }
        match current.get(f.external_id.as_str()) {
            None => {
                if let Some(owner) = synced_names.get(&f.username)
                    && *owner != f.external_id
                {
                    skipped.push(skip(format!(
                        "username {} belongs to another synced user (an entry that was removed or replaced in the directory); delete that user to let this one in",
                        f.username
                    )));
                    continue;
                }
                kept.insert(f.external_id.clone());
                if f.is_admin == Some(true) {
                    admins_after += 1;
                }
                changes.create_users.push(f.clone());
                summary.created += 1;
            }
            Some(have) => {
                kept.insert(f.external_id.clone());
                let u = &have.user;
                let is_admin = f.is_admin.unwrap_or(u.is_admin);
                let enabled_after = !u.disabled || have.directory_disabled;
                if is_admin && enabled_after {
                    admins_after += 1;
                }
                let differs = u.username != f.username
                    || u.email != f.email
                    || u.first_name != f.first_name
                    || u.last_name != f.last_name
                    || u.display_name != f.display_name
                    || u.is_admin != is_admin
                    || have.dn.as_deref() != Some(f.dn.as_str());
                if differs {
                    changes.update_users.push((u.id.clone(), f.clone()));
                    summary.updated += 1;
                }
                if u.disabled && have.directory_disabled {
                    changes.enable_users.push(u.id.clone());
                    summary.enabled += 1;
                }
            }
        }
    }
    // Users gone from the directory.
    let enabled_synced = state.users.iter().filter(|u| !u.user.disabled).count();
    let mut gone = 0;
    for have in &state.users {
        let id = have.user.external_id.as_deref().unwrap_or("");
        if kept.contains(id) {
            continue;
        }
        match delete_mode {
            DeleteMode::Delete => {
                changes.delete_users.push(have.user.id.clone());
                summary.deleted += 1;
                gone += usize::from(!have.user.disabled);
            }
            DeleteMode::Disable if !have.user.disabled => {
                changes.disable_users.push(have.user.id.clone());
                summary.disabled += 1;
                gone += 1;
            }
            DeleteMode::Disable => {}
        }
    }
    // Groups.
    let ext_of: HashMap<&str, &str> = state
        .users
        .iter()
        .filter_map(|u| Some((u.user.id.as_str(), u.user.external_id.as_deref()?)))
        .collect();
    let current_groups: HashMap<&str, &crate::store::directory::SyncedGroup> = state
        .groups
        .iter()
        .filter_map(|g| Some((g.group.external_id.as_deref()?, g)))
        .collect();
    let mut kept_groups = BTreeSet::new();
    for up in &groups {
        let f = &up.fields;
        if state.local_groups.contains(&f.name) {
            skipped.push(Skipped {
                entry: f.dn.clone(),
                reason: format!("group name {} is taken by a group made here", f.name),
            });
            continue;
        }
        kept_groups.insert(f.external_id.clone());
        let want: BTreeSet<&String> = up.members.iter().filter(|m| kept.contains(*m)).collect();
        match current_groups.get(f.external_id.as_str()) {
            None => {
                changes.create_groups.push(f.clone());
                summary.groups_created += 1;
                for m in want {
                    changes.add_members.push((f.external_id.clone(), m.clone()));
                }
            }
            Some(have) => {
                let g = &have.group;
                let now: BTreeSet<&str> = have
                    .members
                    .iter()
                    .filter_map(|id| ext_of.get(id.as_str()).copied())
                    .collect();
                let mut changed = g.name != f.name
                    || g.display_name != f.display_name
                    || have.dn.as_deref() != Some(f.dn.as_str());
                if changed {
                    changes.update_groups.push((g.id.clone(), f.clone()));
                }
                for m in &want {
                    if !now.contains(m.as_str()) {
                        changes
                            .add_members
                            .push((f.external_id.clone(), (*m).clone()));
                        changed = true;
                    }
                }
                for m in &now {
                    if !want.iter().any(|w| w.as_str() == *m) {
                        changes
                            .remove_members
                            .push((f.external_id.clone(), m.to_string()));
                        changed = true;
                    }
                }
                summary.groups_updated += usize::from(changed);
            }
        }
    }
    for have in &state.groups {
        let Some(id) = have.group.external_id.as_deref() else {
            continue;
        };
        if kept_groups.contains(id) {
            continue;
        }
        if have.in_use {
            let mut emptied = false;
            for m in &have.members {
                if let Some(ext) = ext_of.get(m.as_str()) {
                    changes
                        .remove_members
                        .push((id.to_string(), ext.to_string()));
                    emptied = true;
                }
            }
            summary.groups_updated += usize::from(emptied);
            skipped.push(Skipped {
                entry: have.dn.clone().unwrap_or_else(|| have.group.name.clone()),
                reason: format!(
                    "group {} is gone from the directory but limits an OIDC client or LDAP service account: kept, without members",
                    have.group.name
                ),
            });
        } else {
            changes.delete_groups.push(have.group.id.clone());
            summary.groups_deleted += 1;
        }
    }
    summary.skipped = skipped;
    if gone > 0 && gone * 100 > max_percent as usize * enabled_synced {
        return Err((
            Refusal::TooManyGone {
                would: gone,
                of: enabled_synced,
                max: max_percent,
            },
            summary,
        ));
    }
    let admins_before = state.local_admins
        + state
            .users
            .iter()
            .filter(|u| u.user.is_admin && !u.user.disabled)
            .count();
    if admins_before > 0 && admins_after == 0 {
        return Err((Refusal::NoAdminLeft, summary));
    }
    Ok((changes, summary))
}
