//! Users for the tests: made directly in the store with a password, and signed in
//! with it through the real login form. One place, so that every test folder makes
//! its people the same way.

use latchkey::app::AppState;
use latchkey::domain::user::{NewUser, User};

use crate::browser::Browser;

/// The password of every user `with_password` makes.
pub const PASSWORD: &str = "velvet tractor ocean lamp";

/// A new user named `name` with the address `name@example.org`; the caller sets the rest.
pub fn named(name: &str) -> NewUser {
    NewUser {
        username: name.into(),
        email: Some(format!("{name}@example.org")),
        ..NewUser::default()
    }
}

/// `new`, stored, with `PASSWORD` set.
pub async fn with_password(state: &AppState, new: NewUser) -> User {
    let user = state
        .store
        .create_user(&new.validate().unwrap())
        .await
        .unwrap();
    let hash = state.auth.passwords.hash(PASSWORD.into()).await;
    state
        .store
        .set_password_hash(&user.id, Some(&hash))
        .await
        .unwrap();
    user
}

/// Sign `login` in with `PASSWORD` in browser `b`, through the login form.
pub async fn sign_in(b: &Browser, login: &str) {
    b.get("/login").await;
    let res = b
        .submit(
            "/login/password",
            &[
                ("login", login),
                ("password", PASSWORD),
                ("next", "/account"),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{login} signs in: {}", res.body);
}

/// Give the user TOTP (as finishing enrolment would); returns the secret and the
/// recovery codes.
pub async fn enrol_totp(state: &AppState, user_id: &str) -> (Vec<u8>, Vec<String>) {
    let secret = latchkey::auth::totp::new_secret();
    let sealed = state
        .encryption
        .seal(&latchkey::auth::totp_context(user_id), &secret);
    let (codes, hashes) = latchkey::auth::totp::new_recovery_codes();
    state
        .store
        .activate_totp(user_id, &sealed, 0, &hashes)
        .await
        .unwrap();
    (secret, codes)
}
