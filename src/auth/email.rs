//! A user's email address under the email policy: a new or changed address is
//! verified by a link (unless addresses count as verified by default), the old address
//! is told of a change, and every such message is queued with the change itself.

use serde_json::json;

use super::{AuthError, throttle};
use crate::audit::{self, Origin};
use crate::domain::Invalid;
use crate::domain::user::{NewUser, User};
use crate::mail::{Mail, Policy, Prepared, notices};
use crate::store::{Store, StoreError, UserUpdate, now};

fn internal(e: crate::mail::MailError) -> AuthError {
    match e {
        crate::mail::MailError::Store(s) => AuthError::Store(s),
        other => AuthError::Internal(other.to_string()),
    }
}

/// The email policy in force.
pub async fn policy(mail: &Mail) -> Result<Policy, StoreError> {
    Ok(mail.settings().await?.policy)
}

/// May this user use applications, as far as their address goes? An unverified
/// address is refused only when the policy asks for verification and verification is
/// possible: email is set up and verification links are switched on (otherwise nobody
/// could ever get in).
pub async fn may_use_applications(mail: &Mail, user: &User) -> Result<bool, StoreError> {
    if user.email.is_none() || user.email_verified {
        return Ok(true);
    }
    Ok(!mail.refuses_unverified().await?)
}

/// Check an address against "require an email address".
pub fn check_required(policy: &Policy, email: &Option<String>) -> Result<(), Invalid> {
    if policy.require_email && email.is_none() {
        return Err(Invalid::new("email", "is required"));
    }
    Ok(())
}

async fn commit_with(
    mail: &Mail,
    mut tx: crate::store::Tx,
    prepared: &[Prepared],
) -> Result<(), StoreError> {
    for p in prepared {
        p.queue_in(&mut tx).await?;
    }
    tx.commit().await?;
    if !prepared.is_empty() {
        mail.wake();
    }
    Ok(())
}

/// Create a user; under the policy the address is verified at once or a link is
/// sent to it (in the same transaction).
pub async fn create_user(mail: &Mail, mut new: NewUser) -> Result<User, AuthError> {
    let policy = policy(mail).await?;
    check_required(&policy, &new.email)?;
    new.email_verified = new.email_verified || policy.verified_by_default;
    let mut tx = mail.store.begin().await?;
    let user = Store::create_user_in(&mut tx, &new).await?;
    let mut prepared = Vec::new();
    if let (Some(address), false) = (&user.email, user.email_verified) {
        prepared.extend(
            notices::verification(mail, &user, address)
                .await
                .map_err(internal)?,
        );
    }
    commit_with(mail, tx, &prepared).await?;
    Ok(user)
}

/// Create a user who signed up (with an invite, when given), under the same policy as
/// `create_user`: the verification link is queued with the new account.
pub async fn sign_up(
    mail: &Mail,
    mut new: NewUser,
    invite_id: Option<&str>,
) -> Result<Result<User, crate::store::SignupRejection>, AuthError> {
    let policy = policy(mail).await?;
    check_required(&policy, &new.email)?;
    new.email_verified = new.email_verified || policy.verified_by_default;
    let mut tx = mail.store.begin().await?;
    let user = match Store::sign_up_in(&mut tx, &new, invite_id).await {
        Ok(u) => u,
        Err(refused) => return Ok(Err(refused)),
    };
    let mut prepared = Vec::new();
    if let (Some(address), false) = (&user.email, user.email_verified) {
        prepared.extend(
            notices::verification(mail, &user, address)
                .await
                .map_err(internal)?,
        );
    }
    commit_with(mail, tx, &prepared).await?;
    Ok(Ok(user))
}

/// Someone tried to sign up with `address`, which an account has: tell its owner.
pub async fn notify_account_exists(mail: &Mail, address: &str) -> Result<(), AuthError> {
    let owner = mail.store.user_by_login(address).await?.filter(|u| {
        u.email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(address))
    });
    let Some(owner) = owner else {
        return Ok(());
    };
    let prepared = notices::account_exists(mail, &owner, address)
        .await
        .map_err(internal)?;
    let tx = mail.store.begin().await?;
    commit_with(mail, tx, prepared.as_slice()).await?;
    Ok(())
}

/// The first field of a synced user that `change` would make differ from what the
/// directory says (those fields are the directory's; the next sync would undo them).
pub fn directory_field_changed(current: &User, change: &UserUpdate) -> Option<&'static str> {
    if !current.is_synced() {
        return None;
    }
    let differs = |new: &Option<String>, have: &str| new.as_deref().is_some_and(|n| n != have);
    if differs(&change.username, &current.username) {
        return Some("username");
    }
    if change
        .email
        .as_ref()
        .is_some_and(|e| !same_address(e, &current.email))
    {
        return Some("email");
    }
    if differs(&change.first_name, &current.first_name) {
        return Some("first_name");
    }
    if differs(&change.last_name, &current.last_name) {
        return Some("last_name");
    }
    if differs(&change.display_name, &current.display_name) {
        return Some("display_name");
    }
    None
}

/// Apply a profile change. When the address changes, it is verified again (unless the
/// change says otherwise or addresses count as verified), the new address gets the link
/// and the old one a notice.
pub async fn update_user(
    mail: &Mail,
    current: &User,
    mut change: UserUpdate,
) -> Result<User, AuthError> {
    if let Some(field) = directory_field_changed(current, &change) {
        return Err(AuthError::Invalid(crate::domain::Invalid::new(
            field,
            "comes from the directory this user is synced from; change it there",
        )));
    }
    let policy = policy(mail).await?;
    let new_email = change.email.clone().unwrap_or(current.email.clone());
    check_required(&policy, &new_email)?;
    let address_changed = !same_address(&new_email, &current.email);
    if address_changed && change.email_verified.is_none() {
        change.email_verified = Some(policy.verified_by_default);
    }
    let mut prepared = Vec::new();
    if address_changed {
        let verified = change.email_verified.unwrap_or(false);
        if let (Some(address), false) = (&new_email, verified) {
            prepared.extend(
                notices::verification(mail, current, address)
                    .await
                    .map_err(internal)?,
            );
        }
        if let Some(old) = &current.email {
            let new = new_email.as_deref().unwrap_or("(none)");
            prepared.extend(
                notices::email_changed(mail, current, old, new)
                    .await
                    .map_err(internal)?,
            );
        }
    }
    let mut tx = mail.store.begin().await?;
    let user = Store::update_user_in(&mut tx, current, &change).await?;
    commit_with(mail, tx, &prepared).await?;
    Ok(user)
}

fn same_address(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        (None, None) => true,
        _ => false,
    }
}

/// Send the verification link again (throttled per account: five an hour, then back-off).
pub async fn resend_verification(
    mail: &Mail,
    user: &User,
    ip: std::net::IpAddr,
    origin: &Origin,
) -> Result<bool, AuthError> {
    let Some(address) = user.email.as_deref().filter(|_| !user.email_verified) else {
        return Ok(false);
    };
    // Every resend counts, sent or not: it is never given back.
    let attempt = throttle::Attempt::new("verify_resend", Some(&user.id), ip);
    if let Err(refusal) = attempt.begin(&mail.store, now()).await? {
        return Err(AuthError::RateLimited(refusal.wait));
    }
    let Some(prepared) = notices::verification(mail, user, address)
        .await
        .map_err(internal)?
    else {
        return Ok(false);
    };
    let tx = mail.store.begin().await?;
    commit_with(mail, tx, std::slice::from_ref(&prepared)).await?;
    audit::record(
        &mail.store,
        "user.email_verification_sent",
        origin,
        Some(&user.id),
        json!({"email": address, "mail_id": prepared.mail.id}),
    )
    .await?;
    Ok(true)
}
