//! Login codes by email. An admin can send one (a code to type and a one-click link);
//! a user can ask for one on the sign-in page (a code that works only in the browser
//! that asked: a cookie holds a random value whose hash is stored with the code).
//! Asking reveals nothing: the answer is the same whether or not the address exists.

use serde_json::json;

use super::{
    Auth, AuthError, Client, account_ref, begin_attempt, check_login_length, recorded_login,
    throttle,
};
use crate::audit::{self, Origin};
use crate::crypto::{hash_secret, random_token, secrets::random_bytes};
use crate::domain::user::User;
use crate::mail::{Kind, Mail, messages};
use crate::store::{CodeBinding, EmailedCode, Store, now};

/// An emailed code works this long.
pub const CODE_TTL: i64 = 15 * 60;
pub const ADMIN_PURPOSE: &str = "email_code_admin";
pub const SELF_PURPOSE: &str = "email_code_self";

/// 31 symbols that cannot be mistaken for one another (no 0/O, 1/I/L).
const ALPHABET: &[u8; 31] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// `XXXX-XXXX`: about 40 random bits, easy to read out and type. Digits of a 128-bit
/// random number in base 31, so the symbols are (all but immeasurably) uniform.
pub fn new_short_code() -> String {
    let mut n = u128::from_le_bytes(random_bytes::<16>());
    let symbols: String = (0..8)
        .map(|_| {
            let c = ALPHABET[(n % 31) as usize] as char;
            n /= 31;
            c
        })
        .collect();
    format!("{}-{}", &symbols[..4], &symbols[4..])
}

/// Upper-case, without spaces and dashes: what the user typed, as stored.
fn normalize(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn hash_short(code: &str) -> String {
    hash_secret(&format!("login-code:{}", normalize(code)))
}

/// Email `user` a code and a one-click link, on an administrator's request.
pub async fn send_by_admin(mail: &Mail, user: &User, origin: &Origin) -> Result<(), AuthError> {
    if user.disabled {
        return Err(AuthError::NotAllowed(format!(
            "{} is disabled",
            user.username
        )));
    }
    let Some(to) = user.email.as_deref() else {
        return Err(AuthError::NotAllowed(format!(
            "{} has no email address",
            user.username
        )));
    };
    if !mail.settings().await?.sends(Kind::LoginCodeAdmin) {
        return Err(AuthError::NotAllowed(
            "Email is not set up, or login codes sent by administrators are switched off.".into(),
        ));
    }
    let link_token = random_token();
    let code = new_short_code();
    let link = mail.link(&format!("/login/code/{}", link_token.expose()));
    let content = messages::login_code(
        &mail.app_name(),
        &user.display_name,
        &code,
        Some(&link),
        CODE_TTL / 60,
        true,
    );
    let message = mail
        .compose(Kind::LoginCodeAdmin, to, Some(&user.id), &content)
        .map_err(|e| AuthError::Internal(e.to_string()))?;
    let expires_at = now() + CODE_TTL;
    let mut tx = mail.store.begin().await?;
    Store::insert_emailed_code_in(
        &mut tx,
        &EmailedCode {
            code_hash: &link_token.hash(),
            short_code_hash: &hash_short(&code),
            browser_hash: None,
            user_id: &user.id,
            purpose: ADMIN_PURPOSE,
            created_by: origin.actor_id.as_deref(),
            expires_at,
        },
    )
    .await?;
    Store::enqueue_mail_in(&mut tx, &message).await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    mail.wake();
    audit::record(
        &mail.store,
        "auth.login_code.sent",
        origin,
        Some(&user.id),
        json!({"by": "admin", "mail_id": message.id, "expires_at": expires_at}),
    )
    .await?;
    Ok(())
}

/// Is asking for a code by email offered on the sign-in page?
pub async fn offered(mail: &Mail) -> bool {
    mail.settings()
        .await
        .is_ok_and(|s| s.sends(Kind::LoginCodeSelf))
}

/// A user asked for a code for `address` in the browser holding `browser_secret`.
/// Unknown, disabled and known addresses take the same path to the same answer;
/// only the throttle (keyed on what was typed) can refuse.
pub async fn send_requested(
    mail: &Mail,
    address: &str,
    browser_secret: &str,
    client: &Client,
) -> Result<(), AuthError> {
    let store = &mail.store;
    let address = address.trim();
    check_login_length(address)?;
    let found = store.user_by_login(address).await?;
    // Every request counts against the account (or the address typed) and the
    // network, sent or not: it is never given back.
    let attempt = throttle::Attempt::new(
        "email_code_request",
        Some(&account_ref(found.as_ref(), address)),
        client.ip,
    );
    begin_attempt(
        store,
        &mail.encryption,
        &attempt,
        client,
        address,
        "email_code_request",
    )
    .await?;
    let user = found.filter(|u| {
        !u.disabled
            && u.email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(address))
    });
    let Some(user) = user else {
        audit::record(
            store,
            "auth.login_code.not_sent",
            &client.origin(None),
            None,
            json!({"login": recorded_login(&mail.encryption, address), "reason": "no_such_address"}),
        )
        .await?;
        return Ok(());
    };
    if !mail.settings().await?.sends(Kind::LoginCodeSelf) {
        return Ok(());
    }
    let code = new_short_code();
    let to = user.email.as_deref().unwrap_or(address);
    let content = messages::login_code(
        &mail.app_name(),
        &user.display_name,
        &code,
        None,
        CODE_TTL / 60,
        false,
    );
    let message = mail
        .compose(Kind::LoginCodeSelf, to, Some(&user.id), &content)
        .map_err(|e| AuthError::Internal(e.to_string()))?;
    // The row needs a unique link hash, but this code has no link: nobody learns it.
    let unused_link = random_token();
    let expires_at = now() + CODE_TTL;
    let mut tx = store.begin().await?;
    Store::insert_emailed_code_in(
        &mut tx,
        &EmailedCode {
            code_hash: &unused_link.hash(),
            short_code_hash: &hash_short(&code),
            browser_hash: Some(&hash_secret(browser_secret)),
            user_id: &user.id,
            purpose: SELF_PURPOSE,
            created_by: None,
            expires_at,
        },
    )
    .await?;
    Store::enqueue_mail_in(&mut tx, &message).await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    mail.wake();
    audit::record(
        store,
        "auth.login_code.sent",
        &client.origin(None),
        Some(&user.id),
        json!({"by": "user", "mail_id": message.id, "expires_at": expires_at}),
    )
    .await?;
    Ok(())
}

/// Use a typed code: from the browser that asked for it, or for the account named
/// (a code an admin sent). Every try is counted before it is checked, like passwords.
pub async fn redeem(
    auth: &Auth,
    code: &str,
    browser_secret: Option<&str>,
    login: Option<&str>,
    client: &Client,
) -> Result<User, AuthError> {
    let store = &auth.store;
    let login = login.map(str::trim).filter(|l| !l.is_empty());
    if let Some(login) = login {
        check_login_length(login)?;
    }
    let named = match login {
        Some(login) => store.user_by_login(login).await?,
        None => None,
    };
    let account = login.map(|l| account_ref(named.as_ref(), l));
    let attempt = throttle::Attempt::new("email_code", account.as_deref(), client.ip);
    let tried = login.unwrap_or_default();
    begin_attempt(store, &auth.keys, &attempt, client, tried, "email_code").await?;
    let short = hash_short(code);
    let mut user_id = None;
    if let Some(secret) = browser_secret {
        user_id = store
            .redeem_short_code(&short, CodeBinding::Browser(&hash_secret(secret)))
            .await?;
    }
    if user_id.is_none()
        && let Some(user) = &named
    {
        user_id = store
            .redeem_short_code(&short, CodeBinding::User(&user.id))
            .await?;
    }
    let user = match user_id {
        Some(id) => store.user_by_id(&id).await?.filter(|u| !u.disabled),
        None => None,
    };
    match user {
        Some(u) => {
            attempt.succeeded(store).await?;
            Ok(u)
        }
        None => {
            audit::record(
                store,
                "auth.login.failed",
                &client.origin(None),
                None,
                json!({"method": "email_code", "reason": "bad_code", "login": recorded_login(&auth.keys, tried)}),
            )
            .await?;
            Err(AuthError::InvalidCredentials("bad_code"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_well_and_match_however_typed() {
        let code = new_short_code();
        assert_eq!(code.len(), 9);
        assert_eq!(&code[4..5], "-");
        assert!(
            code.chars()
                .filter(|c| *c != '-')
                .all(|c| ALPHABET.contains(&(c as u8)))
        );
        assert_eq!(
            hash_short(&code),
            hash_short(&code.to_lowercase().replace('-', " "))
        );
    }
}
