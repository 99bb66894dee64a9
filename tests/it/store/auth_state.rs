//! Authentication state in the store: sessions, passkeys, ceremonies, credentials,
//! login codes, throttle counters and known devices.

use latchkey::domain::session::{AuthMethod, Session};
use latchkey::store::{
    CodeRejection, PasskeyRow, Refusals, Store, StoreError, ThrottleRule, ThrottleState, now,
};

use super::users::alice;
use crate::on_both_backends;

pub fn session(user_id: &str, id_hash: &str, t: i64) -> Session {
    Session {
        id_hash: id_hash.into(),
        user_id: user_id.into(),
        created_at: t,
        last_seen_at: t,
        expires_at: t + 1000,
        auth_time: t,
        auth_method: AuthMethod::PasswordTotp,
        ip: Some("192.0.2.1".into()),
        user_agent: Some("Firefox".into()),
        new_device: true,
    }
}

async fn sessions_live_and_die(store: &Store) {
    let user = store.create_user(&alice()).await.unwrap();
    let t = now();
    store
        .insert_session(&session(&user.id, "h1", t))
        .await
        .unwrap();
    store
        .insert_session(&session(&user.id, "h2", t - 10))
        .await
        .unwrap();
    let (s, u) = store.session_with_user("h1").await.unwrap().unwrap();
    assert_eq!(s, session(&user.id, "h1", t));
    assert_eq!(u, user);
    assert_eq!(store.sessions_of_user(&user.id).await.unwrap().len(), 2);

    store.touch_session("h2", t + 5).await.unwrap();
    store.reauthenticate_session("h2", t + 6).await.unwrap();
    let (s2, _) = store.session_with_user("h2").await.unwrap().unwrap();
    assert_eq!((s2.last_seen_at, s2.auth_time), (t + 6, t + 6));

    assert!(
        !store
            .delete_user_session("someone-else", "h2")
            .await
            .unwrap(),
        "only the owner revokes"
    );
    assert_eq!(
        store
            .delete_sessions_of_user(&user.id, Some("h1"))
            .await
            .unwrap(),
        1
    );
    assert!(store.session_with_user("h2").await.unwrap().is_none());
    assert_eq!(
        store
            .delete_expired_sessions(t + 2000, 1_000_000)
            .await
            .unwrap(),
        1
    );
    assert!(store.session_with_user("h1").await.unwrap().is_none());

    store
        .insert_session(&session(&user.id, "h3", t))
        .await
        .unwrap();
    store.set_user_disabled(&user.id, true).await.unwrap();
    assert!(
        store.session_with_user("h3").await.unwrap().is_none(),
        "disabling ends every session"
    );
}

fn passkey(user_id: &str, id: &str, cred: &str) -> PasskeyRow {
    PasskeyRow {
        id: id.into(),
        user_id: user_id.into(),
        credential_id: cred.into(),
        name: "Laptop".into(),
        aaguid: "00000000-0000-0000-0000-000000000000".into(),
        backup_eligible: true,
        backup_state: false,
        transports: r#"["internal"]"#.into(),
        credential: r#"{"counter":0}"#.into(),
        created_at: now(),
        last_used_at: None,
    }
}

async fn passkeys_and_ceremonies(store: &Store) {
    let user = store.create_user(&alice()).await.unwrap();
    store
        .insert_passkey(&passkey(&user.id, "p1", "cred-1"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .insert_passkey(&passkey(&user.id, "p2", "cred-1"))
            .await,
        Err(StoreError::Conflict(_))
    ));
    store
        .insert_passkey(&passkey(&user.id, "p2", "cred-2"))
        .await
        .unwrap();
    assert_eq!(
        store
            .passkey_by_credential_id("cred-2")
            .await
            .unwrap()
            .unwrap()
            .id,
        "p2"
    );

    store
        .record_passkey_use("p1", r#"{"counter":7}"#, true, true)
        .await
        .unwrap();
    let p1 = store
        .passkey_by_credential_id("cred-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p1.credential, r#"{"counter":7}"#);
    assert!(p1.backup_state && p1.last_used_at.is_some());

    store.rename_passkey(&user.id, "p1", "Phone").await.unwrap();
    assert!(matches!(
        store.rename_passkey("other", "p1", "x").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_passkey("other", "p1").await,
        Err(StoreError::NotFound)
    ));
    store.delete_passkey(&user.id, "p1").await.unwrap();
    let names: Vec<String> = store
        .passkeys_of_user(&user.id)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["Laptop"]);

    store
        .insert_ceremony("c1", "authenticate", None, "{state}", now() + 60)
        .await
        .unwrap();
    assert!(
        store
            .take_ceremony("c1", "register")
            .await
            .unwrap()
            .is_none(),
        "kind must match"
    );
    store
        .insert_ceremony("c2", "register", Some(&user.id), "{s2}", now() + 60)
        .await
        .unwrap();
    assert_eq!(
        store.take_ceremony("c2", "register").await.unwrap(),
        Some((Some(user.id.clone()), "{s2}".into()))
    );
    assert!(
        store
            .take_ceremony("c2", "register")
            .await
            .unwrap()
            .is_none(),
        "a ceremony is taken once"
    );
    store
        .insert_ceremony("c3", "register", None, "{}", now() - 1)
        .await
        .unwrap();
    assert!(
        store
            .take_ceremony("c3", "register")
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
}

async fn totp_steps_and_recovery_codes(store: &Store) {
    let user = store.create_user(&alice()).await.unwrap();
    store
        .set_pending_totp(&user.id, Some(b"sealed"))
        .await
        .unwrap();
    assert_eq!(
        store
            .user_credentials(&user.id)
            .await
            .unwrap()
            .totp_pending_sealed
            .as_deref(),
        Some(&b"sealed"[..])
    );
    store
        .activate_totp(&user.id, b"sealed", 100, &["r1".into(), "r2".into()])
        .await
        .unwrap();
    let creds = store.user_credentials(&user.id).await.unwrap();
    assert_eq!(
        (
            creds.totp_secret_sealed.as_deref(),
            creds.totp_pending_sealed,
            creds.totp_last_step
        ),
        (Some(&b"sealed"[..]), None, 100)
    );
    assert!(
        !store.advance_totp_step(&user.id, 100).await.unwrap(),
        "same step: replay"
    );
    assert!(store.advance_totp_step(&user.id, 101).await.unwrap());
    assert!(
        !store.advance_totp_step(&user.id, 100).await.unwrap(),
        "older step"
    );
    assert!(store.use_recovery_code(&user.id, "r1").await.unwrap());
    assert!(
        !store.use_recovery_code(&user.id, "r1").await.unwrap(),
        "once"
    );
    assert!(!store.use_recovery_code(&user.id, "nope").await.unwrap());
    assert_eq!(store.unused_recovery_codes(&user.id).await.unwrap(), 1);
    store
        .set_password_hash(&user.id, Some("$argon2id$..."))
        .await
        .unwrap();
    store.remove_totp(&user.id).await.unwrap();
    let creds = store.user_credentials(&user.id).await.unwrap();
    assert!(creds.totp_secret_sealed.is_none() && creds.password_hash.is_some());
    assert_eq!(store.unused_recovery_codes(&user.id).await.unwrap(), 0);
}

async fn login_codes_are_single_use(store: &Store) {
    let user = store.create_user(&alice()).await.unwrap();
    store
        .insert_login_code("code-a", &user.id, "login_link", None, now() + 60)
        .await
        .unwrap();
    store
        .insert_login_code("code-old", &user.id, "login_link", Some("admin"), now() - 1)
        .await
        .unwrap();
    assert_eq!(
        store.peek_login_code("code-a").await.unwrap(),
        Ok(user.id.clone())
    );
    assert_eq!(
        store.redeem_login_code("code-a").await.unwrap(),
        Ok(user.id.clone())
    );
    assert_eq!(
        store.redeem_login_code("code-a").await.unwrap(),
        Err(CodeRejection::Used)
    );
    assert_eq!(
        store.redeem_login_code("code-old").await.unwrap(),
        Err(CodeRejection::Expired)
    );
    assert_eq!(
        store.redeem_login_code("missing").await.unwrap(),
        Err(CodeRejection::Unknown)
    );

    store
        .insert_pending_login("p1", &user.id, "/next", "second_factor", now() + 60)
        .await
        .unwrap();
    assert_eq!(
        store.pending_login("p1", "second_factor").await.unwrap(),
        Some((user.id.clone(), "/next".into()))
    );
    assert_eq!(store.pending_login("p1", "other").await.unwrap(), None);
    store.delete_pending_login("p1").await.unwrap();
    assert_eq!(
        store.pending_login("p1", "second_factor").await.unwrap(),
        None
    );
}

/// Two failures free, then 30 s, 60 s (held beyond).
const LOCKS: [i64; 4] = [0, 0, 30, 60];

fn rule(key: &str) -> ThrottleRule<'_> {
    ThrottleRule {
        key,
        locks: &LOCKS,
        forget_after: 3600,
    }
}

async fn throttle_and_devices(store: &Store) {
    assert_eq!(
        store.throttle_state("k").await.unwrap(),
        ThrottleState::default()
    );
    let t = 1_000_000;
    // Two free, the third counted and locking for 30 s, the fourth refused.
    for _ in 0..3 {
        assert_eq!(store.reserve_attempt(&[rule("k")], t).await.unwrap(), None);
    }
    let state = store.throttle_state("k").await.unwrap();
    assert_eq!((state.failures, state.locked_until), (3, t + 30));
    assert_eq!(
        store.reserve_attempt(&[rule("k")], t + 1).await.unwrap(),
        Some(0)
    );
    assert_eq!(
        store.note_refusal("k").await.unwrap(),
        Some(Refusals {
            locked_until: t + 30,
            refused: 1
        })
    );
    assert_eq!(
        store.throttle_state("k").await.unwrap().failures,
        3,
        "a refusal is not counted"
    );
    // After the lock, one more, which locks for 60 s.
    assert_eq!(
        store.reserve_attempt(&[rule("k")], t + 30).await.unwrap(),
        None
    );
    assert_eq!(
        store.throttle_state("k").await.unwrap().locked_until,
        t + 90
    );
    // A key locked refuses the attempt on every key: the other is not counted.
    assert_eq!(
        store
            .reserve_attempt(&[rule("other"), rule("k")], t + 31)
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(store.throttle_state("other").await.unwrap().failures, 0);
    // Giving an attempt back under the locking count unlocks.
    store.release_attempt("k", 3).await.unwrap();
    store.release_attempt("k", 3).await.unwrap();
    let state = store.throttle_state("k").await.unwrap();
    assert_eq!((state.failures, state.locked_until), (2, 0));
    // Quiet for longer than `forget_after`: the count starts again.
    assert_eq!(
        store.reserve_attempt(&[rule("k")], t + 7200).await.unwrap(),
        None
    );
    assert_eq!(store.throttle_state("k").await.unwrap().failures, 1);
    store.clear_throttle("k").await.unwrap();
    assert_eq!(
        store.throttle_state("k").await.unwrap(),
        ThrottleState::default()
    );

    let user = store.create_user(&alice()).await.unwrap();
    assert_eq!(store.known_device_count(&user.id).await.unwrap(), 0);
    assert!(
        store
            .remember_device(&user.id, "device:x", 1)
            .await
            .unwrap()
    );
    assert!(
        !store
            .remember_device(&user.id, "device:x", 2)
            .await
            .unwrap()
    );
    assert!(
        store
            .remember_device(&user.id, "network:10.0.0.0/24", 2)
            .await
            .unwrap()
    );
    assert_eq!(store.known_device_count(&user.id).await.unwrap(), 2);
    store.delete_expired_auth_state(now(), 3600).await.unwrap();
}

/// 100 attempts on one key at the same instant: exactly the free ones and the one that
/// locks are counted, every other is refused, and no update is lost.
async fn concurrent_attempts_are_each_counted_once(store: &Store) {
    let t = now();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(100));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let store = store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store.reserve_attempt(&[rule("race")], t).await.unwrap()
            })
        })
        .collect();
    let mut counted = 0;
    for task in tasks {
        if task.await.unwrap().is_none() {
            counted += 1;
        }
    }
    assert_eq!(counted, 3, "two free and the one that locks");
    let state = store.throttle_state("race").await.unwrap();
    assert_eq!((state.failures, state.locked_until), (3, t + 30));
}

on_both_backends!(
    concurrent_attempts_are_each_counted_once,
    sessions_live_and_die,
    passkeys_and_ceremonies,
    totp_steps_and_recovery_codes,
    login_codes_are_single_use,
    throttle_and_devices,
);
