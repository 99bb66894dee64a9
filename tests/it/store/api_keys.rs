use latchkey::store::{Store, now};

use super::users::alice;
use crate::on_both_backends;

/// A live key is found and marked used; using it again within the minute changes
/// nothing (no write per API request); revoked and expired keys are not found.
async fn keys_are_used_revoked_and_expire(store: &Store) {
    let user = store.create_user(&alice()).await.unwrap();
    let key = store
        .insert_api_key(&user.id, "scripts", "hash-1", now() + 3600)
        .await
        .unwrap();
    assert_eq!(key.last_used_at, None);

    let used = store
        .use_api_key("hash-1")
        .await
        .unwrap()
        .expect("live key");
    assert_eq!(used.id, key.id);
    let first_use = used.last_used_at.expect("marked used");
    let stored = store.api_key_by_id(&key.id).await.unwrap().unwrap();
    assert_eq!(stored.last_used_at, Some(first_use));
    let again = store.use_api_key("hash-1").await.unwrap().unwrap();
    assert_eq!(again.last_used_at, Some(first_use));

    assert!(store.use_api_key("no-such-hash").await.unwrap().is_none());
    store.revoke_api_key(&key.id).await.unwrap();
    assert!(store.use_api_key("hash-1").await.unwrap().is_none());

    store
        .insert_api_key(&user.id, "old", "hash-2", now() - 1)
        .await
        .unwrap();
    assert!(store.use_api_key("hash-2").await.unwrap().is_none());
}

on_both_backends!(keys_are_used_revoked_and_expire);
