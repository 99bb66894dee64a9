use latchkey::domain::user::NewUser;
use latchkey::store::{Select, Store, StoreError};

use crate::on_both_backends;

fn user(name: &str) -> NewUser {
    NewUser {
        username: name.into(),
        email: Some(format!("{name}@example.org")),
        ..NewUser::default()
    }
    .validate()
    .unwrap()
}

async fn posix_numbers_are_stored_and_never_reused(store: &Store) {
    store.raise_posix_ids(20000, 70000).await.unwrap();
    let a = store.create_user(&user("ann")).await.unwrap();
    let b = store.create_user(&user("ben")).await.unwrap();
    let number = |name: &'static str| async move {
        store
            .directory_users(&Select::Name(name.into()))
            .await
            .unwrap()
            .first()
            .map(|u| u.uid_number)
    };
    let (na, nb) = (number("ann").await.unwrap(), number("ben").await.unwrap());
    assert_eq!((na, nb), (20000, 20001));
    store.delete_user(&b.id).await.unwrap();
    store.create_user(&user("cat")).await.unwrap();
    assert_eq!(
        number("cat").await,
        Some(20002),
        "ben's number is not reused"
    );
    // A lower start later does not move the counter back.
    store.raise_posix_ids(10000, 50000).await.unwrap();
    store.create_user(&user("dan")).await.unwrap();
    assert_eq!(number("dan").await, Some(20003));
    let g = store.create_group("devs", "").await.unwrap();
    store.add_group_member(&g.id, &a.id).await.unwrap();
    let groups = store
        .directory_groups(&Select::HasMember("ann".into()))
        .await
        .unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].gid_number, 70000);
    assert_eq!(groups[0].members, vec!["ann"]);
    let by_group = store
        .directory_users(&Select::MemberOf("DEVS".into()))
        .await
        .unwrap();
    assert_eq!(by_group.len(), 1);
    assert_eq!(by_group[0].groups, vec!["devs"]);
    // Disabled users are not in the directory, nor among members.
    store.set_user_disabled(&a.id, true).await.unwrap();
    assert!(number("ann").await.is_none());
    let groups = store
        .directory_groups(&Select::Name("devs".into()))
        .await
        .unwrap();
    assert!(groups[0].members.is_empty());
}

async fn service_accounts_and_app_passwords(store: &Store) {
    let g = store.create_group("media", "").await.unwrap();
    let account = store
        .create_ldap_account("jellyfin", "hash-1", std::slice::from_ref(&g.id))
        .await
        .unwrap();
    assert_eq!(account.groups, vec!["media"]);
    assert!(matches!(
        store.create_ldap_account("JELLYFIN", "hash-2", &[]).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .create_ldap_account("other", "hash-3", &["nope".into()])
            .await,
        Err(StoreError::NotFound)
    ));
    let (found, hash) = store.ldap_account("Jellyfin").await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), hash.as_str()),
        (account.id.as_str(), "hash-1")
    );
    store
        .set_ldap_account_disabled("jellyfin", true)
        .await
        .unwrap();
    assert!(
        store
            .ldap_account("jellyfin")
            .await
            .unwrap()
            .unwrap()
            .0
            .disabled
    );
    store.delete_ldap_account("jellyfin").await.unwrap();
    assert!(store.ldap_account("jellyfin").await.unwrap().is_none());

    let u = store.create_user(&user("eve")).await.unwrap();
    let p = store
        .insert_app_password(&u.id, "TV", "secret-hash", None)
        .await
        .unwrap();
    let used = store
        .use_app_password(&u.id, "secret-hash", "192.0.2.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.last_used_ip.as_deref(), Some("192.0.2.1"));
    assert!(
        store
            .use_app_password("someone-else", "secret-hash", "x")
            .await
            .unwrap()
            .is_none()
    );
    let expired = store
        .insert_app_password(&u.id, "old", "old-hash", Some(latchkey::store::now() - 1))
        .await
        .unwrap();
    assert!(
        store
            .use_app_password(&u.id, "old-hash", "x")
            .await
            .unwrap()
            .is_none()
    );
    store.revoke_app_password(&u.id, &p.id).await.unwrap();
    assert!(
        store
            .use_app_password(&u.id, "secret-hash", "x")
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store.revoke_app_password(&u.id, &p.id).await,
        Err(StoreError::NotFound)
    ));
    let listed = store.list_app_passwords(&u.id).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().any(|l| l.id == expired.id));
}

on_both_backends!(
    posix_numbers_are_stored_and_never_reused,
    service_accounts_and_app_passwords
);
