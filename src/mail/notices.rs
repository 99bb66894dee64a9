//! Composing the security notices, each ready to be queued in the transaction of the
//! event that causes it. A `None` means the message is switched off, email is not set
//! up, or the user has no address.

use serde_json::json;

use super::{Kind, Mail, MailError, Prepared, PreparedToken, messages};
use crate::audit::{self, Origin};
use crate::crypto::random_token;
use crate::domain::user::User;
use crate::store::{NOT_ME, Store, StoreError, VERIFY_EMAIL, now};

/// A verification link works this long.
pub const VERIFY_TTL: i64 = 24 * 3600;
/// A "this wasn't me" link works this long.
pub const NOT_ME_TTL: i64 = 14 * 86_400;
/// API keys are announced this long before they expire.
pub const API_KEY_NOTICE: i64 = 7 * 86_400;

/// The "new sign-in" notice with its "this wasn't me" link.
pub async fn new_device(
    mail: &Mail,
    user: &User,
    ip: std::net::IpAddr,
    user_agent: Option<&str>,
) -> Result<Option<Prepared>, MailError> {
    let Some(to) = user.email.as_deref() else {
        return Ok(None);
    };
    if !mail.settings().await?.sends(Kind::NewDevice) {
        return Ok(None);
    }
    let token = random_token();
    let url = mail.link(&format!("/account/not-me/{}", token.expose()));
    let location = mail.locate(ip);
    let sign_in = messages::SignIn {
        when: &crate::web::when(now()),
        device: &crate::auth::device::describe(user_agent),
        ip: &crate::config::canonical_ip(ip).to_string(),
        location: location.as_deref(),
    };
    let content = messages::new_device(&mail.app_name(), &user.display_name, &sign_in, &url);
    Ok(Some(Prepared {
        mail: mail.compose(Kind::NewDevice, to, Some(&user.id), &content)?,
        token: Some(PreparedToken {
            hash: token.hash(),
            user_id: user.id.clone(),
            purpose: NOT_ME,
            email: None,
            expires_at: now() + NOT_ME_TTL,
        }),
    }))
}

/// The link that verifies `address` for `user`.
pub async fn verification(
    mail: &Mail,
    user: &User,
    address: &str,
) -> Result<Option<Prepared>, MailError> {
    if !mail.settings().await?.sends(Kind::VerifyEmail) {
        return Ok(None);
    }
    let token = random_token();
    let url = mail.link(&format!("/verify-email/{}", token.expose()));
    let content = messages::verify_email(&mail.app_name(), &user.display_name, address, &url);
    Ok(Some(Prepared {
        mail: mail.compose(Kind::VerifyEmail, address, Some(&user.id), &content)?,
        token: Some(PreparedToken {
            hash: token.hash(),
            user_id: user.id.clone(),
            purpose: VERIFY_EMAIL,
            email: Some(address.to_string()),
            expires_at: now() + VERIFY_TTL,
        }),
    }))
}

/// "You already have an account": to the owner of an address someone tried to sign up
/// with. The sign-up page answers that attempt as it answers a new account, so the page
/// does not tell who has an account; the owner hears of it here.
pub async fn account_exists(
    mail: &Mail,
    owner: &User,
    address: &str,
) -> Result<Option<Prepared>, MailError> {
    if !mail.settings().await?.sends(Kind::AccountExists) {
        return Ok(None);
    }
    let url = mail.link("/login");
    let content = messages::account_exists(&mail.app_name(), &owner.display_name, address, &url);
    Ok(Some(Prepared {
        mail: mail.compose(Kind::AccountExists, address, Some(&owner.id), &content)?,
        token: None,
    }))
}

/// The notice to the old address that the account's address changed.
pub async fn email_changed(
    mail: &Mail,
    user: &User,
    old: &str,
    new: &str,
) -> Result<Option<Prepared>, MailError> {
    if !mail.settings().await?.sends(Kind::EmailChanged) {
        return Ok(None);
    }
    let content = messages::email_changed(
        &mail.app_name(),
        &user.display_name,
        old,
        new,
        &crate::web::when(now()),
    );
    Ok(Some(Prepared {
        mail: mail.compose(Kind::EmailChanged, old, Some(&user.id), &content)?,
        token: None,
    }))
}

/// Queue "your key expires in a week" for every key that needs it, once per key even
/// with several instances looking at once. Returns how many were queued.
pub async fn api_keys_expiring(mail: &Mail) -> Result<usize, MailError> {
    let settings = mail.settings().await?;
    if !settings.sends(Kind::ApiKeyExpiring) {
        return Ok(0);
    }
    let store: &Store = &mail.store;
    let mut queued = 0;
    for key in store
        .api_keys_expiring_unnoticed(now() + API_KEY_NOTICE)
        .await?
    {
        let Some(owner) = store.user_by_id(&key.user_id).await? else {
            continue;
        };
        let Some(to) = owner.email.as_deref() else {
            continue;
        };
        let content = messages::api_key_expiring(
            &mail.app_name(),
            &owner.display_name,
            &key.name,
            &crate::web::when(key.expires_at),
            &mail.link("/account"),
        );
        let message = mail.compose(Kind::ApiKeyExpiring, to, Some(&owner.id), &content)?;
        let mut tx = store.begin().await?;
        if Store::mark_api_key_expiry_noticed_in(&mut tx, &key.id).await? {
            Store::enqueue_mail_in(&mut tx, &message).await?;
            tx.commit().await.map_err(StoreError::from)?;
            queued += 1;
            audit::record(
                store,
                "mail.api_key_expiry_queued",
                &Origin::default(),
                Some(&owner.id),
                json!({"api_key_id": key.id, "name": key.name, "expires_at": key.expires_at}),
            )
            .await?;
        }
    }
    if queued > 0 {
        mail.wake();
    }
    Ok(queued)
}
