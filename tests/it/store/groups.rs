use latchkey::domain::group::normalize_group_name;
use latchkey::store::{Store, StoreError};

use super::users::alice;
use crate::on_both_backends;

async fn groups_and_members(store: &Store) {
    let name = normalize_group_name("Admins").unwrap();
    let admins = store.create_group(&name, "Administrators").await.unwrap();
    let family = store.create_group("family", "Family").await.unwrap();
    assert!(matches!(
        store.create_group("ADMINS", "again").await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.group_by_name("admins").await.unwrap().unwrap().id,
        admins.id
    );

    let user = store.create_user(&alice()).await.unwrap();
    store.add_group_member(&admins.id, &user.id).await.unwrap();
    store.add_group_member(&admins.id, &user.id).await.unwrap(); // idempotent
    store.add_group_member(&family.id, &user.id).await.unwrap();
    assert!(matches!(
        store.add_group_member(&family.id, "no-such-user").await,
        Err(StoreError::NotFound)
    ));
    let names: Vec<String> = store
        .groups_of_user(&user.id)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(names, ["admins", "family"]);
    assert_eq!(
        store.group_member_ids(&admins.id).await.unwrap(),
        [user.id.as_str()]
    );

    let renamed = store.rename_group(&family.id, "kin", "Kin").await.unwrap();
    assert_eq!(renamed.name, "kin");
    assert!(matches!(
        store.rename_group(&family.id, "admins", "x").await,
        Err(StoreError::Conflict(_))
    ));

    store
        .remove_group_member(&admins.id, &user.id)
        .await
        .unwrap();
    assert_eq!(store.groups_of_user(&user.id).await.unwrap().len(), 1);
    // Deleting a group or a user removes the memberships with it.
    store.delete_group(&family.id).await.unwrap();
    assert!(store.groups_of_user(&user.id).await.unwrap().is_empty());
    store.add_group_member(&admins.id, &user.id).await.unwrap();
    store.delete_user(&user.id).await.unwrap();
    assert!(store.group_member_ids(&admins.id).await.unwrap().is_empty());
    assert_eq!(store.list_groups().await.unwrap().len(), 1);
}

on_both_backends!(groups_and_members);
