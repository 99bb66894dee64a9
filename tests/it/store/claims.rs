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
    // Made last, first by name: the one-read form must put it first all the same.
    let alpha = store.create_group("alpha", "Alpha").await.unwrap();
    store.add_group_member(&alpha.id, &user.id).await.unwrap();
    let quoted = "say \"hi\", \\ — ünïcode";
    store
        .set_custom_claim(ClaimOwner::Group(&alpha.id), "motto", quoted)
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
    // The one-read form used by ID tokens and userinfo reads the same, in the same
    // order, and text comes through its JSON form unchanged.
    let subject = store.subject_by_id(&user.id).await.unwrap().unwrap();
    assert_eq!(subject.user.id, user.id);
    assert_eq!(subject.groups, ["alpha", "ops", "zeta"]);
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    // Group by group in name order (alpha, ops, zeta), by key within a group.
    assert_eq!(
        subject.custom.of_groups,
        pairs(&[
            ("motto", quoted),
            ("quota", "10"),
            ("team", "ops"),
            ("quota", "20")
        ])
    );
    assert_eq!(subject.custom.own, own);
    assert_eq!(subject.custom.merged()["team"], json!("red"));
    assert!(store.subject_by_id("missing").await.unwrap().is_none());
    let mut loner = alice();
    loner.username = "loner".into();
    loner.email = None;
    let loner = store.create_user(&loner).await.unwrap();
    let bare = store.subject_by_id(&loner.id).await.unwrap().unwrap();
    assert!(bare.groups.is_empty() && bare.custom == Default::default());
    let merged = merge_claims(subject.custom.of_groups, own);
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
        store
            .subject_by_id(&user.id)
            .await
            .unwrap()
            .unwrap()
            .custom
            .of_groups,
        pairs(&[("motto", quoted), ("quota", "20")])
    );
}

on_both_backends!(user_and_group_claims_merge);
