//! The outbox and mailed tokens in the store, on SQLite and PostgreSQL.

use latchkey::domain::user::NewUser;
use latchkey::store::{
    CodeBinding, EmailedCode, MailStatus, NOT_ME, NewMail, Store, VERIFY_EMAIL, Verification, now,
};

use crate::on_both_backends;

fn mail(id: &str) -> NewMail {
    NewMail {
        id: id.into(),
        kind: "test".into(),
        recipient: "ann@example.org".into(),
        user_id: None,
        subject: format!("message {id}"),
        body_sealed: vec![1, 2, 3],
        message_id: format!("<{id}@localhost>"),
    }
}

async fn a_user(store: &Store, name: &str) -> latchkey::domain::user::User {
    store
        .create_user(
            &NewUser {
                username: name.into(),
                email: Some(format!("{name}@example.org")),
                ..NewUser::default()
            }
            .validate()
            .unwrap(),
        )
        .await
        .unwrap()
}

async fn claims_are_exclusive_and_sent_is_final(store: &Store) {
    store.enqueue_mail(&mail("m1")).await.unwrap();
    let t = now();
    let first = store.claim_due_mail("worker-a", t, t + 600).await.unwrap();
    let first = first.expect("a due message");
    assert_eq!(first.id, "m1");
    assert_eq!(first.attempts, 1);
    assert!(
        store
            .claim_due_mail("worker-b", t, t + 600)
            .await
            .unwrap()
            .is_none(),
        "leased to worker-a"
    );
    assert!(
        !store.mark_mail_sent("m1", "worker-b").await.unwrap(),
        "not b's lease"
    );
    assert!(store.mark_mail_sent("m1", "worker-a").await.unwrap());
    let sent = store.mail_by_id("m1").await.unwrap().unwrap();
    assert_eq!(sent.status, MailStatus::Sent);
    assert!(sent.body_sealed.is_none());
    assert!(
        !store.retry_mail_now("m1").await.unwrap(),
        "a sent message is not sent again"
    );
    // An expired lease lets another worker take a message whose worker died.
    store.enqueue_mail(&mail("m2")).await.unwrap();
    let t = now();
    store
        .claim_due_mail("worker-a", t, t + 1)
        .await
        .unwrap()
        .unwrap();
    let retaken = store
        .claim_due_mail("worker-b", t + 2, t + 600)
        .await
        .unwrap();
    assert_eq!(retaken.unwrap().attempts, 2);
}

async fn a_message_queued_leased_is_not_taken_by_a_worker(store: &Store) {
    let t = now();
    let held = store
        .enqueue_mail_leased(&mail("t1"), "sender", t + 600)
        .await
        .unwrap();
    assert_eq!((held.status, held.attempts), (MailStatus::Queued, 1));
    assert!(
        store
            .claim_due_mail("worker", t, t + 600)
            .await
            .unwrap()
            .is_none(),
        "the sender holds it"
    );
    assert!(store.mark_mail_sent("t1", "sender").await.unwrap());
}

async fn failures_back_off_then_give_up(store: &Store) {
    store.enqueue_mail(&mail("f1")).await.unwrap();
    let t = now();
    store
        .claim_due_mail("w", t, t + 600)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .mark_mail_attempt_failed("f1", "w", "connection refused", Some(t + 3600))
            .await
            .unwrap()
    );
    let m = store.mail_by_id("f1").await.unwrap().unwrap();
    assert_eq!(
        (m.status, m.next_attempt_at),
        (MailStatus::Queued, t + 3600)
    );
    assert_eq!(m.last_error.as_deref(), Some("connection refused"));
    assert!(
        store
            .claim_due_mail("w", t, t + 600)
            .await
            .unwrap()
            .is_none(),
        "not due yet"
    );
    assert!(store.retry_mail_now("f1").await.unwrap());
    store
        .claim_due_mail("w", now(), now() + 600)
        .await
        .unwrap()
        .unwrap();
    store
        .mark_mail_attempt_failed("f1", "w", "still refused", None)
        .await
        .unwrap();
    let m = store.mail_by_id("f1").await.unwrap().unwrap();
    assert_eq!(m.status, MailStatus::Failed);
    assert_eq!(
        store
            .list_mail(Some(MailStatus::Failed), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.count_mail().await.unwrap(),
        vec![(MailStatus::Failed, 1)]
    );
    assert!(
        store.retry_mail_now("f1").await.unwrap(),
        "an admin may retry a failed message"
    );
    assert_eq!(
        store
            .list_mail(Some(MailStatus::Queued), 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn a_rolled_back_event_leaves_no_message(store: &Store) {
    let mut tx = store.begin().await.unwrap();
    Store::enqueue_mail_in(&mut tx, &mail("r1")).await.unwrap();
    drop(tx);
    assert!(store.mail_by_id("r1").await.unwrap().is_none());
}

async fn mailed_tokens_verify_once_and_sign_out_everywhere(store: &Store) {
    let ann = a_user(store, "ann").await;
    let mut tx = store.begin().await.unwrap();
    let t = now();
    Store::insert_user_token_in(
        &mut tx,
        "v1",
        &ann.id,
        VERIFY_EMAIL,
        Some("ann@example.org"),
        t + 60,
    )
    .await
    .unwrap();
    Store::insert_user_token_in(
        &mut tx,
        "v2",
        &ann.id,
        VERIFY_EMAIL,
        Some("old@example.org"),
        t + 60,
    )
    .await
    .unwrap();
    Store::insert_user_token_in(&mut tx, "n1", &ann.id, NOT_ME, None, t + 60)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.verify_email_with_token("n1").await.unwrap(),
        Verification::Unusable,
        "a not-me token does not verify"
    );
    assert_eq!(
        store.verify_email_with_token("v2").await.unwrap(),
        Verification::AddressChanged
    );
    assert_eq!(
        store.verify_email_with_token("v1").await.unwrap(),
        Verification::Verified(ann.id.clone())
    );
    assert_eq!(
        store.verify_email_with_token("v1").await.unwrap(),
        Verification::Unusable
    );
    assert!(
        store
            .user_by_id(&ann.id)
            .await
            .unwrap()
            .unwrap()
            .email_verified
    );
    assert_eq!(
        store.peek_user_token("n1", NOT_ME).await.unwrap(),
        Some(ann.id.clone())
    );
    assert_eq!(
        store.peek_user_token("n1", VERIFY_EMAIL).await.unwrap(),
        None
    );
    let (who, ended) = store
        .sign_out_everywhere_with_token("n1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((who, ended), (ann.id.clone(), 0));
    assert!(
        store
            .sign_out_everywhere_with_token("n1")
            .await
            .unwrap()
            .is_none()
    );
}

async fn typed_codes_keep_to_their_binding(store: &Store) {
    let bob = a_user(store, "bob").await;
    let t = now();
    let mut tx = store.begin().await.unwrap();
    for (link, short, browser) in [("l1", "s1", Some("b1")), ("l2", "s2", None)] {
        Store::insert_emailed_code_in(
            &mut tx,
            &EmailedCode {
                code_hash: link,
                short_code_hash: short,
                browser_hash: browser,
                user_id: &bob.id,
                purpose: "email_code",
                created_by: None,
                expires_at: t + 60,
            },
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(
        store
            .redeem_short_code("s1", CodeBinding::User(&bob.id))
            .await
            .unwrap(),
        None,
        "a browser-bound code needs its browser"
    );
    assert_eq!(
        store
            .redeem_short_code("s1", CodeBinding::Browser("b2"))
            .await
            .unwrap(),
        None
    );
    assert!(
        store.peek_login_code("l1").await.unwrap().is_err(),
        "no link for a bound code"
    );
    assert_eq!(
        store
            .redeem_short_code("s1", CodeBinding::Browser("b1"))
            .await
            .unwrap(),
        Some(bob.id.clone())
    );
    assert_eq!(
        store
            .redeem_short_code("s1", CodeBinding::Browser("b1"))
            .await
            .unwrap(),
        None,
        "once"
    );
    // The link of an admin-sent code and its typed code are one: using one spends both.
    assert_eq!(
        store.redeem_login_code("l2").await.unwrap(),
        Ok(bob.id.clone())
    );
    assert_eq!(
        store
            .redeem_short_code("s2", CodeBinding::User(&bob.id))
            .await
            .unwrap(),
        None
    );
}

async fn api_key_notices_are_marked_once(store: &Store) {
    let cy = a_user(store, "cy").await;
    let t = now();
    let soon = store
        .insert_api_key(&cy.id, "soon", "h1", t + 86_400)
        .await
        .unwrap();
    store
        .insert_api_key(&cy.id, "late", "h2", t + 30 * 86_400)
        .await
        .unwrap();
    let due = store
        .api_keys_expiring_unnoticed(t + 7 * 86_400)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
        [soon.id.as_str()]
    );
    let mut tx = store.begin().await.unwrap();
    assert!(
        Store::mark_api_key_expiry_noticed_in(&mut tx, &soon.id)
            .await
            .unwrap()
    );
    assert!(
        !Store::mark_api_key_expiry_noticed_in(&mut tx, &soon.id)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    assert!(
        store
            .api_keys_expiring_unnoticed(t + 7 * 86_400)
            .await
            .unwrap()
            .is_empty()
    );
}

on_both_backends!(
    claims_are_exclusive_and_sent_is_final,
    a_message_queued_leased_is_not_taken_by_a_worker,
    failures_back_off_then_give_up,
    a_rolled_back_event_leaves_no_message,
    mailed_tokens_verify_once_and_sign_out_everywhere,
    typed_codes_keep_to_their_binding,
    api_key_notices_are_marked_once,
);
