use latchkey::domain::claims::merge_claims;
use latchkey::store::{ClaimOwner, Store, StoreError};
use serde_json::json;

use super::users::alice;
use crate::on_both_backends;

async fn user_and_group_claims_merge(store: &Store) {
    let user = store.create_user(&alice()).await.unwrap();
    let ops = store.create_group("ops", "Ops").await.unwrap();
    let zeta = store.create_group("zeta", "Zeta").await.unwrap();
    store.add_group_member(&ops.id, &user.id).await.unwrap();
    store.add_group_member(&zeta.id, &user.id).await.unwrap();

    store
        .set_custom_claim(ClaimOwner::Group(&ops.id), "team", "ops")
        .await
        .unwrap();
    store
        .set_custom_claim(ClaimOwner::Group(&ops.id), "quota", "10")
        .await
        .unwrap();
    store
        .set_custom_claim(ClaimOwner::Group(&zeta.id), "quota", "20")
        .await
        .unwrap();
    store
        .set_custom_claim(ClaimOwner::User(&user.id), "team", "blue")
        .await
        .unwrap();
    store
        .set_custom_claim(ClaimOwner::User(&user.id), "team", "red")
        .await
        .unwrap(); // replaces
    store
        .set_custom_claim(ClaimOwner::User(&user.id), "roles", r#"["a","b"]"#)
        .await
        .unwrap();

    let own = store
        .custom_claims(ClaimOwner::User(&user.id))
        .await
        .unwrap();
    assert_eq!(
        own,
        [
            ("roles".to_string(), r#"["a","b"]"#.to_string()),
            ("team".into(), "red".into())
        ]
    );
    // The one-query form used by ID tokens and userinfo reads the same.
    let (groups, own_again) = store.claims_of_user(&user.id).await.unwrap();
    assert_eq!(groups, store.group_claims_of_user(&user.id).await.unwrap());
    assert_eq!(own_again, own);
    let merged = merge_claims(store.group_claims_of_user(&user.id).await.unwrap(), own);
    assert_eq!(merged["team"], json!("red"));
    assert_eq!(
        merged["quota"],
        json!(20),
        "the later group (by name) wins among groups"
    );
    assert_eq!(merged["roles"], json!(["a", "b"]));

    store
        .remove_custom_claim(ClaimOwner::User(&user.id), "team")
        .await
        .unwrap();
    assert_eq!(
        store
            .custom_claims(ClaimOwner::User(&user.id))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        store
            .set_custom_claim(ClaimOwner::User("missing"), "k", "v")
            .await,
        Err(StoreError::NotFound)
    ));
    store.delete_group(&ops.id).await.unwrap();
    assert_eq!(
        store.group_claims_of_user(&user.id).await.unwrap(),
        [("quota".to_string(), "20".to_string())]
    );
}

on_both_backends!(user_and_group_claims_merge);
