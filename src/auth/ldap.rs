//! Who may bind to the LDAP server face, and the secrets they bind with: service
//! accounts (`cn=<name>,ou=services,<base>`) and users' app passwords.
//!
//! Every bind is an attempt of the shared throttle (kind `ldap`, per account and per
//! address), counted before its work; unknown accounts, disabled ones and wrong
//! secrets give the same answer at the same cost.

use serde_json::json;

use super::{
    Auth, AuthError, BUSY_WAIT, Client, account_ref, begin_attempt_as, password, throttle,
};
use crate::audit::{self, Origin};
use crate::config::LdapPasswordBind;
use crate::crypto::{constant_time_eq, hash_secret, random_bytes, random_token};
use crate::domain::Invalid;
use crate::domain::user::User;
use crate::store::{AppPassword, LdapAccount, Store, StoreError, now};

/// The reason a bind could not be checked because the upstream directory is down.
const DIRECTORY_DOWN: &str = "directory_unavailable";

/// Letters of app passwords: lower case, no vowels (no words), no look-alikes
/// (`l`, `i`, `o`), easy to pick on a TV remote's keyboard.
const APP_PASSWORD_LETTERS: &[u8; 20] = b"bcdfghjkmnpqrstvwxyz";
/// Six groups of five: 30 letters of 20, 129.7 bits.
const APP_PASSWORD_GROUPS: usize = 6;
const APP_PASSWORD_GROUP: usize = 5;
/// The longest label of an app password or name of a service account.
pub const LABEL_MAX: usize = 64;

/// Who a bind names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindName {
    /// `uid=<username>,ou=people,<base>`.
    User(String),
    /// `cn=<name>,ou=services,<base>`.
    Service(String),
    /// Any other DN: no account can have it.
    Other,
}

/// What LDAP binds keep in memory between binds: the lock states their checks read,
/// and which successful binds were written to the audit log lately.
#[derive(Default)]
pub struct LdapMemory {
    pub locks: throttle::LockCache,
    binds: RecentBinds,
}

/// Services bind again and again (Nextcloud binds for each request it checks): a
/// successful bind is an audit row the first time in a minute for its account,
/// method and address, and a log line every time (see `audit::Folding`).
type RecentBinds = audit::Folding<(String, &'static str, String)>;

/// Who is bound, after a successful bind.
#[derive(Debug, Clone)]
pub enum Bound {
    User(User),
    Service(LdapAccount),
}

/// A new app password: `abcde-fghij-…`, shown once.
pub fn generate_app_password() -> String {
    let mut letters = Vec::with_capacity(APP_PASSWORD_GROUPS * APP_PASSWORD_GROUP);
    while letters.len() < APP_PASSWORD_GROUPS * APP_PASSWORD_GROUP {
        for b in random_bytes::<32>() {
            // 240 = 12 × 20: below it each letter is equally likely.
            if b < 240 && letters.len() < APP_PASSWORD_GROUPS * APP_PASSWORD_GROUP {
                letters.push(APP_PASSWORD_LETTERS[usize::from(b % 20)]);
            }
        }
    }
    letters
        .chunks(APP_PASSWORD_GROUP)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// What an app password is stored and compared as: lower case, without the dashes
/// and spaces people type between groups.
pub fn app_password_hash(typed: &str) -> String {
    let letters: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    hash_secret(&letters)
}

/// A label: trimmed, 1–64 characters, no control characters.
pub fn check_label(field: &'static str, label: &str) -> Result<String, Invalid> {
    let label = label.trim();
    if label.is_empty() {
        return Err(Invalid::new(field, "is required"));
    }
    if label.chars().count() > LABEL_MAX || label.chars().any(char::is_control) {
        return Err(Invalid::new(
            field,
            format!("must be at most {LABEL_MAX} characters, without control characters"),
        ));
    }
    Ok(label.to_string())
}

/// Where a bind-like check came from: its throttle and its events.
#[derive(Debug, Clone, Copy)]
pub struct Channel {
    /// The throttle's kind, shared by every check that guesses the same secrets.
    kind: &'static str,
    rate_limited: &'static str,
    succeeded: &'static str,
    failed: &'static str,
}

impl Channel {
    pub const LDAP: Channel = Channel {
        kind: "ldap",
        rate_limited: "ldap.rate_limited",
        succeeded: "ldap.bind.succeeded",
        failed: "ldap.bind.failed",
    };
    /// `Authorization: Basic` with an app password at the forward-auth check.
    pub const PROXY_BASIC: Channel = Channel {
        kind: "ldap",
        rate_limited: "proxy.basic.rate_limited",
        succeeded: "proxy.basic.succeeded",
        failed: "proxy.basic.failed",
    };
}

impl Auth {
    /// Check a simple bind. `dn` is what the client sent (for the audit log).
    pub async fn ldap_bind(
        &self,
        name: &BindName,
        dn: &str,
        secret: &str,
        mode: LdapPasswordBind,
        client: &Client,
    ) -> Result<Bound, AuthError> {
        self.bind_as(Channel::LDAP, name, dn, secret, mode, client)
            .await
    }

    /// A username and an app password, checked (and throttled, and audited) as an
    /// LDAP bind with app passwords is: the forward-auth check's `Basic` callers.
    pub async fn app_password_check(
        &self,
        username: &str,
        secret: &str,
        client: &Client,
    ) -> Result<User, AuthError> {
        let name = BindName::User(username.to_string());
        match self
            .bind_as(
                Channel::PROXY_BASIC,
                &name,
                "",
                secret,
                LdapPasswordBind::AppPasswords,
                client,
            )
            .await?
        {
            Bound::User(user) => Ok(user),
            Bound::Service(_) => Err(AuthError::InvalidCredentials("bad_password")),
        }
    }

    async fn bind_as(
        &self,
        channel: Channel,
        name: &BindName,
        dn: &str,
        secret: &str,
        mode: LdapPasswordBind,
        client: &Client,
    ) -> Result<Bound, AuthError> {
        let (typed, user, account) = match name {
            BindName::User(username) => (
                username.as_str(),
                self.store
                    .user_by_login(username)
                    .await?
                    .filter(|u| u.username == *username),
                None,
            ),
            BindName::Service(service) => (
                service.as_str(),
                None,
                self.store
                    .directory_snapshot()
                    .await?
                    .service_account(service)
                    .cloned(),
            ),
            BindName::Other => (dn, None, None),
        };
        let reference = match (name, &user, &account) {
            (_, Some(u), _) => account_ref(Some(u), ""),
            (_, _, Some((a, _))) => format!("ldap_account:{}", a.id),
            (BindName::Service(s), _, _) => format!("ldap_account_name:{s}"),
            _ => account_ref(None, typed),
        };
        let attempt = throttle::Attempt::new(channel.kind, Some(&reference), client.ip);
        // Only the account password (argon2, guessable) is counted before its check;
        // service-account secrets and app passwords are one hash of 128+ random bits.
        let counted_first =
            matches!(name, BindName::User(_)) && mode == LdapPasswordBind::AnyPassword;
        let (store, keys) = (&self.store, &self.keys);
        if counted_first {
            begin_attempt_as(
                store,
                keys,
                channel.rate_limited,
                &attempt,
                client,
                typed,
                channel.kind,
            )
            .await?;
        } else {
            self.check_unlocked_as(channel.rate_limited, &attempt, client, typed, channel.kind)
                .await?;
        }
        let outcome = match name {
            BindName::Service(_) => match &account {
                Some((a, hash))
                    if constant_time_eq(hash.as_bytes(), hash_secret(secret).as_bytes()) =>
                {
                    if a.disabled {
                        Err("disabled")
                    } else {
                        Ok((Bound::Service(a.clone()), "service_account"))
                    }
                }
                Some(_) => Err("bad_password"),
                None => Err("unknown_account"),
            },
            _ => {
                match self
                    .check_user_secret(user.as_ref(), secret, mode, client)
                    .await
                {
                    Ok(result) => result,
                    Err(password::Busy) => {
                        attempt.abandoned(&self.store).await?;
                        return Err(AuthError::RateLimited(BUSY_WAIT));
                    }
                }
            }
        };
        if matches!(outcome, Err(reason) if reason == DIRECTORY_DOWN) {
            // Not a failed attempt: the directory could not say.
            attempt.abandoned(&self.store).await?;
            return Err(AuthError::Unavailable(
                "the upstream directory is not answering".into(),
            ));
        }
        match outcome {
            Ok((bound, method)) => {
                if counted_first {
                    attempt.succeeded(&self.store).await?;
                } else {
                    attempt.succeeded_after_check(&self.store).await?;
                }
                let (actor, subject, who) = match &bound {
                    Bound::User(u) => (Some(u.id.as_str()), Some(u.id.as_str()), u.id.as_str()),
                    Bound::Service(a) => (None, None, a.id.as_str()),
                };
                let origin = client.origin(actor);
                let ip = client.ip.to_string();
                match self.ldap.binds.note((who.to_string(), method, ip.clone())) {
                    Some(folded) => {
                        audit::record(
                            &self.store,
                            channel.succeeded,
                            &origin,
                            subject,
                            json!({"dn": dn, "method": method, "folded_since_last_row": folded}),
                        )
                        .await?;
                    }
                    None => tracing::info!(
                        target: "audit",
                        event = channel.succeeded,
                        actor = actor.unwrap_or("-"),
                        subject = subject.unwrap_or("-"),
                        ip = %ip,
                        details = %json!({"dn": dn, "method": method}),
                        "audit (folded into the account's next row)"
                    ),
                }
                Ok(bound)
            }
            Err(reason) => {
                if !counted_first {
                    attempt.failed_after_check(&self.store, now()).await?;
                }
                let subject = user.as_ref().map(|u| u.id.as_str());
                audit::record(
                    &self.store,
                    channel.failed,
                    &client.origin(subject),
                    subject,
                    json!({
                        "reason": reason,
                        "login": super::recorded_login(&self.keys, typed),
                        "service_account": matches!(name, BindName::Service(_)),
                    }),
                )
                .await?;
                Err(AuthError::InvalidCredentials(reason))
            }
        }
    }

    /// A user's app password, or (with `any-password`) their account password when
    /// they have no TOTP. Unknown users cost what known ones do.
    async fn check_user_secret(
        &self,
        user: Option<&User>,
        secret: &str,
        mode: LdapPasswordBind,
        client: &Client,
    ) -> Result<Result<(Bound, &'static str), &'static str>, password::Busy> {
        let Some(user) = user else {
            if mode == LdapPasswordBind::AnyPassword {
                self.passwords.verify(secret.to_string(), None).await?;
            }
            return Ok(Err("unknown_user"));
        };
        let app = self
            .store
            .use_app_password(&user.id, &app_password_hash(secret), &client.ip.to_string())
            .await;
        let found = match app {
            Ok(found) => found.is_some(),
            Err(e) => {
                tracing::warn!(error = %e, "app password lookup failed");
                false
            }
        };
        let verdict = if found {
            Ok("app_password")
        } else if mode == LdapPasswordBind::AnyPassword {
            let creds = self.store.user_credentials(&user.id).await.ok();
            let has_totp = creds
                .as_ref()
                .is_none_or(|c| c.totp_secret_sealed.is_some());
            let directory = match has_totp {
                false => self.directory.checks_password_of(user).await,
                true => None,
            };
            if let Some(config) = directory {
                // A synced user's password is the directory's to check.
                return Ok(
                    match self.directory.check_password(&config, user, secret).await {
                        crate::directory::PasswordCheck::Correct { .. } if user.disabled => {
                            Err("disabled")
                        }
                        crate::directory::PasswordCheck::Correct { .. } => {
                            Ok((Bound::User(user.clone()), "directory_password"))
                        }
                        crate::directory::PasswordCheck::Unavailable(why) => {
                            tracing::warn!(event = "directory.unavailable", user = %user.id, error = %why, "an LDAP bind could not be checked: the directory did not answer");
                            Err(DIRECTORY_DOWN)
                        }
                        _ => Err("bad_password"),
                    },
                );
            }
            let hash = creds.and_then(|c| c.password_hash).filter(|_| !has_totp);
            let real = hash.is_some();
            if self.passwords.verify(secret.to_string(), hash).await? && real {
                Ok("password")
            } else if has_totp {
                Err("password_bind_needs_app_password")
            } else {
                Err("bad_password")
            }
        } else {
            Err("bad_password")
        };
        Ok(match verdict {
            Ok(_) if user.disabled => Err("disabled"),
            Ok(method) => Ok((Bound::User(user.clone()), method)),
            Err(reason) => Err(reason),
        })
    }
}

/// Make an app password for `user`; the secret is returned once, never stored.
pub async fn create_app_password(
    store: &Store,
    user: &User,
    label: &str,
    lifetime: Option<i64>,
    origin: &Origin,
) -> Result<(AppPassword, String), AuthError> {
    let label = check_label("name", label)?;
    if lifetime.is_some_and(|secs| secs <= 0) {
        return Err(Invalid::new("expires", "must be in the future").into());
    }
    // One instant for both, so that a 90-day password lasts exactly 90 days.
    let t = now();
    let secret = generate_app_password();
    let row = store
        .insert_app_password(
            &user.id,
            &label,
            &app_password_hash(&secret),
            t,
            lifetime.map(|secs| t + secs),
        )
        .await?;
    audit::record(
        store,
        "app_password.created",
        origin,
        Some(&user.id),
        json!({"id": row.id, "name": row.name, "expires_at": row.expires_at, "after": row}),
    )
    .await?;
    Ok((row, secret))
}

/// Revoke one of `user`'s app passwords: binds with it fail from now on.
pub async fn revoke_app_password(
    store: &Store,
    user: &User,
    id: &str,
    origin: &Origin,
) -> Result<(), AuthError> {
    store.revoke_app_password(&user.id, id).await?;
    audit::record(
        store,
        "app_password.revoked",
        origin,
        Some(&user.id),
        json!({"id": id, "before": {"revoked_at": null}, "after": {"revoked_at": now()}}),
    )
    .await?;
    Ok(())
}

/// Make a service account, limited to the members of `groups` when any are named.
pub async fn create_ldap_account(
    store: &Store,
    name: &str,
    groups: &[String],
    origin: &Origin,
) -> Result<(LdapAccount, String), AuthError> {
    let name = crate::domain::group::normalize_group_name(name)?;
    let mut ids = Vec::new();
    for group in groups {
        let found = store
            .group_by_name(&group.trim().to_lowercase())
            .await?
            .ok_or_else(|| Invalid::new("groups", format!("no group is named {group}")))?;
        if !ids.contains(&found.id) {
            ids.push(found.id);
        }
    }
    let secret = random_token().expose().to_string();
    let account = store
        .create_ldap_account(&name, &hash_secret(&secret), &ids)
        .await?;
    audit::record(
        store,
        "ldap.account.created",
        origin,
        Some(&account.id),
        json!({"name": account.name, "groups": account.groups, "after": account}),
    )
    .await?;
    Ok((account, secret))
}

/// Delete a service account: its binds fail from now on.
pub async fn delete_ldap_account(
    store: &Store,
    name: &str,
    origin: &Origin,
) -> Result<(), AuthError> {
    let (before, _) = store
        .ldap_account(name)
        .await?
        .ok_or(AuthError::Store(StoreError::NotFound))?;
    store.delete_ldap_account(&before.name).await?;
    audit::record(
        store,
        "ldap.account.deleted",
        origin,
        Some(&before.id),
        json!({"name": before.name, "before": before}),
    )
    .await?;
    Ok(())
}

/// Switch a service account off or on.
pub async fn set_ldap_account_disabled(
    store: &Store,
    name: &str,
    disabled: bool,
    origin: &Origin,
) -> Result<(), AuthError> {
    let (before, _) = store
        .ldap_account(name)
        .await?
        .ok_or(AuthError::Store(StoreError::NotFound))?;
    store
        .set_ldap_account_disabled(&before.name, disabled)
        .await?;
    let event = if disabled {
        "ldap.account.disabled"
    } else {
        "ldap.account.enabled"
    };
    audit::record(
        store,
        event,
        origin,
        Some(&before.id),
        json!({
            "name": before.name,
            "before": {"disabled": before.disabled},
            "after": {"disabled": disabled},
        }),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_passwords_are_long_typeable_and_forgiving() {
        let p = generate_app_password();
        assert_eq!(p.len(), 35);
        assert_eq!(p.split('-').count(), 6);
        assert!(
            p.chars()
                .all(|c| c == '-' || APP_PASSWORD_LETTERS.contains(&(c as u8)))
        );
        assert_ne!(p, generate_app_password());
        let typed = p.replace('-', " ").to_uppercase();
        assert_eq!(app_password_hash(&typed), app_password_hash(&p));
        assert_ne!(app_password_hash("bcdfg"), app_password_hash(&p));
    }

    #[test]
    fn labels_are_checked() {
        assert_eq!(check_label("name", " Jellyfin ").unwrap(), "Jellyfin");
        assert!(check_label("name", "").is_err());
        assert!(check_label("name", &"x".repeat(65)).is_err());
        assert!(check_label("name", "a\u{7}").is_err());
    }
}
