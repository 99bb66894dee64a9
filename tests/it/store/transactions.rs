//! Write transactions: what a committed one wrote stays, what one rolled back or
//! dropped unfinished (a request cancelled half-way) wrote does not, and the writer
//! (SQLite's one write connection) is free for the next write right after each.

use std::time::Duration;

use latchkey::store::Store;

use crate::on_both_backends;
use crate::people::named;

async fn exists(store: &Store, login: &str) -> bool {
    store.user_by_login(login).await.unwrap().is_some()
}

async fn transactions_commit_roll_back_and_free_the_writer(store: &Store) {
    let mut tx = store.begin().await.unwrap();
    Store::create_user_in(&mut tx, &named("kept"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(exists(store, "kept").await);

    let mut tx = store.begin().await.unwrap();
    Store::create_user_in(&mut tx, &named("undone"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert!(!exists(store, "undone").await);

    let mut tx = store.begin().await.unwrap();
    Store::create_user_in(&mut tx, &named("dropped"))
        .await
        .unwrap();
    drop(tx);
    let next = tokio::time::timeout(Duration::from_secs(3), store.create_user(&named("after")))
        .await
        .expect("the writer is free again");
    next.unwrap();
    assert!(exists(store, "after").await, "the next write is committed");
    assert!(!exists(store, "dropped").await);

    // Cancelled while waiting inside its transaction, as a dropped request would be.
    let cancelled = tokio::time::timeout(Duration::from_millis(50), async {
        let mut tx = store.begin().await.unwrap();
        Store::create_user_in(&mut tx, &named("cancelled"))
            .await
            .unwrap();
        std::future::pending::<()>().await;
    })
    .await;
    assert!(cancelled.is_err());
    let mut tx = store.begin().await.unwrap();
    Store::create_user_in(&mut tx, &named("later"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(exists(store, "later").await);
    assert!(!exists(store, "cancelled").await);
}

on_both_backends!(transactions_commit_roll_back_and_free_the_writer);
