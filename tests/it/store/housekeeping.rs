//! Housekeeping (`Store::prune`): every table that grows with use loses what has
//! expired or outlived its retention, and keeps the rest.

use latchkey::oidc::registration::{ClientSpec, register};
use latchkey::store::{
    AccessRecord, CodeGrant, NewAuditRecord, NewMail, PRUNED_TABLES, RefreshGrant, Retention,
    Store, ThrottleRule, VERIFY_EMAIL, now,
};

use super::auth_state::session;
use super::users::alice;
use crate::on_both_backends;

const DAY: i64 = 86_400;
const KEEP: Retention = Retention {
    session_idle: 7 * DAY,
    audit: 400 * DAY,
};

async fn rows(store: &Store, table: &str) -> i64 {
    store.count_rows(table).await.unwrap()
}

async fn expired_codes_and_tokens_are_deleted(store: &Store) {
    let user = store.create_user(&alice()).await.unwrap();
    let (client, _) = register(
        store,
        ClientSpec {
            name: "Wiki".into(),
            redirect_uris: vec!["https://wiki.example/cb".into()],
            ..ClientSpec::default()
        },
    )
    .await
    .unwrap();
    let t = now();
    for (hash, expires_at) in [("code-old", t - 2 * DAY), ("code-live", t + 60)] {
        store
            .insert_code(CodeGrant {
                code_hash: hash.into(),
                client_id: client.id.clone(),
                user_id: user.id.clone(),
                redirect_uri: "https://wiki.example/cb".into(),
                scope: "openid".into(),
                nonce: None,
                code_challenge: None,
                code_challenge_method: None,
                session_hash: "sess".into(),
                auth_time: t,
                amr: vec!["pwd".into()],
                expires_at,
            })
            .await
            .unwrap();
    }
    for (hash, expires_at) in [("refresh-old", t - 2 * DAY), ("refresh-live", t + DAY)] {
        store
            .insert_refresh(RefreshGrant {
                token_hash: hash.into(),
                family_id: hash.into(),
                client_id: client.id.clone(),
                user_id: user.id.clone(),
                scope: "openid offline_access".into(),
                nonce: None,
                session_hash: "sess".into(),
                auth_time: t,
                amr: vec!["pwd".into()],
                code_hash: None,
                expires_at,
                rotated_at: None,
                revoked_at: None,
            })
            .await
            .unwrap();
    }
    for (jti, expires_at) in [("jti-old", t - 2 * DAY), ("jti-live", t + 600)] {
        store
            .insert_access(AccessRecord {
                jti: jti.into(),
                client_id: client.id.clone(),
                user_id: Some(user.id.clone()),
                family_id: None,
                code_hash: None,
                session_hash: None,
                scope: "openid".into(),
                expires_at,
            })
            .await
            .unwrap();
    }
    // A revoked client_credentials token is on record until it expires.
    store
        .revoke_access("jti-cc-old", &client.id, t - 2 * DAY)
        .await
        .unwrap();
    store.prune(t, &KEEP).await.unwrap();
    for table in ["oidc_codes", "oidc_refresh_tokens", "oidc_access_tokens"] {
        assert_eq!(rows(store, table).await, 1, "{table}: only the live row");
    }
    assert!(
        store
            .refresh_by_hash("refresh-live")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.access_record_revoked("jti-live").await.unwrap(),
        Some(false)
    );
}

async fn expired_and_idle_sessions_are_deleted(store: &Store) {
    let user = store.create_user(&alice()).await.unwrap();
    let t = now();
    let live = session(&user.id, "live", t);
    store.insert_session(&live).await.unwrap();
    store
        .insert_session(&session(&user.id, "expired", t - 2000))
        .await
        .unwrap();
    store
        .insert_session(&latchkey::domain::session::Session {
            id_hash: "idle".into(),
            last_seen_at: t - 8 * DAY,
            expires_at: t + DAY,
            ..live.clone()
        })
        .await
        .unwrap();
    store.prune(t, &KEEP).await.unwrap();
    assert_eq!(rows(store, "sessions").await, 1);
    assert!(store.session_with_user("live").await.unwrap().is_some());
}

async fn ceremonies_pending_logins_and_login_codes_are_deleted(store: &Store) {
    let user = store.create_user(&alice()).await.unwrap();
    let t = now();
    for (id, expires_at) in [("old", t - 1), ("live", t + 300)] {
        store
            .insert_ceremony(id, "login", None, "{}", expires_at)
            .await
            .unwrap();
        store
            .insert_pending_login(id, &user.id, "/account", "totp", expires_at)
            .await
            .unwrap();
    }
    // Expired codes stay a week, so that a late click still gets a clear answer.
    for (hash, expires_at) in [
        ("code-old", t - 8 * DAY),
        ("code-late", t - DAY),
        ("code-live", t + 600),
    ] {
        store
            .insert_login_code(hash, &user.id, "login", None, expires_at)
            .await
            .unwrap();
    }
    store.prune(t, &KEEP).await.unwrap();
    assert_eq!(rows(store, "webauthn_ceremonies").await, 1);
    assert_eq!(rows(store, "pending_logins").await, 1);
    assert_eq!(rows(store, "login_codes").await, 2);
}

async fn old_throttle_rows_and_unseen_devices_are_deleted(store: &Store) {
    let user = store.create_user(&alice()).await.unwrap();
    let t = now();
    for (key, at) in [("old", t - 2 * DAY), ("recent", t - 10)] {
        let rule = ThrottleRule {
            key,
            locks: &[0, 0, 0],
            forget_after: DAY,
        };
        for _ in 0..3 {
            let refused = store
                .reserve_attempt(std::slice::from_ref(&rule), at)
                .await
                .unwrap();
            assert_eq!(refused, None);
        }
    }
    store
        .remember_device(&user.id, "device:old", t - 401 * DAY)
        .await
        .unwrap();
    store
        .remember_device(&user.id, "device:new", t - DAY)
        .await
        .unwrap();
    store.prune(t, &KEEP).await.unwrap();
    assert_eq!(rows(store, "auth_throttle").await, 1);
    assert_eq!(store.throttle_state("recent").await.unwrap().failures, 3);
    assert_eq!(store.known_device_count(&user.id).await.unwrap(), 1);
}

async fn mailed_tokens_and_mail_history_are_deleted(store: &Store) {
    let user = store.create_user(&alice()).await.unwrap();
    let t = now();
    let mut tx = store.begin().await.unwrap();
    for (hash, expires_at) in [("old", t - 8 * DAY), ("recent", t - DAY)] {
        Store::insert_user_token_in(
            &mut tx,
            hash,
            &user.id,
            VERIFY_EMAIL,
            Some("alice@example.org"),
            expires_at,
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let mail = |id: &str| NewMail {
        id: id.into(),
        kind: "test".into(),
        recipient: "alice@example.org".into(),
        user_id: Some(user.id.clone()),
        subject: "Hello".into(),
        body_sealed: vec![1, 2, 3],
        message_id: format!("<{id}@example.org>"),
    };
    let sent = store
        .enqueue_mail_leased(&mail("sent"), "me", t + 60)
        .await
        .unwrap();
    assert!(store.mark_mail_sent(&sent.id, "me").await.unwrap());
    store.enqueue_mail(&mail("queued")).await.unwrap();

    store.prune(t, &KEEP).await.unwrap();
    assert_eq!(rows(store, "user_tokens").await, 1, "kept a week");
    assert_eq!(rows(store, "mail_outbox").await, 2, "history kept");
    store.prune(t + 31 * DAY, &KEEP).await.unwrap();
    assert_eq!(
        rows(store, "mail_outbox").await,
        1,
        "queued mail is never lost"
    );
    assert!(store.mail_by_id("queued").await.unwrap().is_some());
}

async fn audit_events_are_kept_for_the_retention(store: &Store) {
    for n in 0..3 {
        store
            .insert_audit(&NewAuditRecord {
                event: format!("test.event.{n}"),
                ..NewAuditRecord::default()
            })
            .await
            .unwrap();
    }
    let t = now();
    store.prune(t + 399 * DAY, &KEEP).await.unwrap();
    assert_eq!(rows(store, "audit_log").await, 3);
    store.prune(t + 401 * DAY, &KEEP).await.unwrap();
    assert_eq!(rows(store, "audit_log").await, 0);
    // The retention is the caller's: a shorter one deletes sooner.
    store
        .insert_audit(&NewAuditRecord::default())
        .await
        .unwrap();
    let short = Retention {
        audit: 2 * DAY,
        ..KEEP
    };
    store.prune(now() + 3 * DAY, &short).await.unwrap();
    assert_eq!(rows(store, "audit_log").await, 0);
}

async fn only_pruned_tables_are_counted(store: &Store) {
    assert!(PRUNED_TABLES.contains(&"audit_log"));
    assert!(store.count_rows("users; DROP TABLE users").await.is_err());
    assert!(store.count_rows("users").await.is_err());
}

on_both_backends!(
    expired_codes_and_tokens_are_deleted,
    expired_and_idle_sessions_are_deleted,
    ceremonies_pending_logins_and_login_codes_are_deleted,
    old_throttle_rows_and_unseen_devices_are_deleted,
    mailed_tokens_and_mail_history_are_deleted,
    audit_events_are_kept_for_the_retention,
    only_pruned_tables_are_counted,
);
