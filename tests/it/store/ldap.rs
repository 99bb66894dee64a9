use latchkey::domain::user::NewUser;
use latchkey::store::snapshot::Snapshot;
use latchkey::store::{Select, Store, StoreError, UserUpdate};

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
        .insert_app_password(&u.id, "TV", "secret-hash", latchkey::store::now(), None)
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
        .insert_app_password(
            &u.id,
            "old",
            "old-hash",
            latchkey::store::now() - 10,
            Some(latchkey::store::now() - 1),
        )
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

/// What the in-memory directory answers must be what the store's queries answer,
/// for every kind of selection a filter can make.
async fn the_snapshot_answers_what_the_store_answers(store: &Store) {
    let ann = store
        .create_user(
            &NewUser {
                display_name: "Ann Archer".into(),
                ..user("ann")
            }
            .validate()
            .unwrap(),
        )
        .await
        .unwrap();
    let ben = store.create_user(&user("ben")).await.unwrap();
    let cat = store.create_user(&user("cat")).await.unwrap();
    let devs = store.create_group("devs", "Developers").await.unwrap();
    let ops = store.create_group("ops", "").await.unwrap();
    store.create_group("empty", "").await.unwrap();
    for (g, u) in [(&devs, &ann), (&devs, &ben), (&devs, &cat), (&ops, &ben)] {
        store.add_group_member(&g.id, &u.id).await.unwrap();
    }
    store.set_user_disabled(&cat.id, true).await.unwrap();
    let ann_number = store
        .directory_users(&Select::Name("ann".into()))
        .await
        .unwrap()[0]
        .uid_number;
    let ops_number = store
        .directory_groups(&Select::Name("ops".into()))
        .await
        .unwrap()[0]
        .gid_number;
    let origin = latchkey::audit::Origin::cli();
    latchkey::auth::ldap::create_ldap_account(store, "Jellyfin", &["ops".into()], &origin)
        .await
        .unwrap();
    latchkey::auth::ldap::create_ldap_account(store, "reader", &[], &origin)
        .await
        .unwrap();
    latchkey::auth::ldap::set_ldap_account_disabled(store, "reader", true, &origin)
        .await
        .unwrap();
    let snapshot = Snapshot::new(
        store.directory_users(&Select::All).await.unwrap(),
        store.directory_groups(&Select::All).await.unwrap(),
        store.ldap_accounts_with_secrets().await.unwrap(),
    );
    for name in ["JELLYFIN", "reader", "nobody"] {
        assert_eq!(
            snapshot.service_account(name).cloned(),
            store.ldap_account(name).await.unwrap(),
            "service account {name}"
        );
    }
    let selects = [
        Select::All,
        Select::Name("ANN".into()),
        Select::Name("cat".into()),
        Select::Name("nobody".into()),
        Select::Email("Ben@Example.org".into()),
        Select::Email("cat@example.org".into()),
        Select::DisplayName("ann archer".into()),
        Select::DisplayName("developers".into()),
        Select::Id(ann.id.to_uppercase()),
        Select::Id(devs.id.clone()),
        Select::Number(ann_number),
        Select::Number(ops_number),
        Select::MemberOf("DEVS".into()),
        Select::MemberOf("empty".into()),
        Select::MemberOf("ghosts".into()),
        Select::HasMember("Ben".into()),
        Select::HasMember("cat".into()),
        Select::Nothing,
    ];
    for select in &selects {
        let stored: Vec<_> = store
            .directory_users(select)
            .await
            .unwrap()
            .into_iter()
            .map(|u| (u.user.username, u.uid_number, u.groups))
            .collect();
        let held: Vec<_> = snapshot
            .users(select)
            .into_iter()
            .map(|u| (u.user.username.clone(), u.uid_number, u.groups.clone()))
            .collect();
        assert_eq!(held, stored, "users of {select:?}");
        let stored: Vec<_> = store
            .directory_groups(select)
            .await
            .unwrap()
            .into_iter()
            .map(|g| (g.group.name, g.gid_number, g.members))
            .collect();
        let held: Vec<_> = snapshot
            .groups(select)
            .into_iter()
            .map(|g| (g.group.name.clone(), g.gid_number, g.members.clone()))
            .collect();
        assert_eq!(held, stored, "groups of {select:?}");
    }
}

/// Every username and every group with its members, as the cache holds them now.
async fn names(store: &Store) -> (Vec<String>, Vec<(String, Vec<String>)>) {
    let snapshot = store.directory_snapshot().await.unwrap();
    let users = snapshot
        .users(&Select::All)
        .into_iter()
        .map(|u| u.user.username.clone())
        .collect();
    let groups = snapshot
        .groups(&Select::All)
        .into_iter()
        .map(|g| (g.group.name.clone(), g.members.clone()))
        .collect();
    (users, groups)
}

/// The directory's version moves with every change the directory shows, and not with
/// writes it does not show; the cache sees this process's changes at once.
async fn the_directory_version_follows_every_change(store: &Store) {
    let version = || async { store.directory_version().await.unwrap() };
    let mut last = version().await;
    let mut moved = |now: i64, what: &str| {
        assert!(now > last, "{what} moves the version ({last} → {now})");
        last = now;
    };
    let ann = store.create_user(&user("ann")).await.unwrap();
    moved(version().await, "a new user");
    assert_eq!(names(store).await.0, ["ann"]);
    let g = store.create_group("devs", "").await.unwrap();
    moved(version().await, "a new group");
    store.add_group_member(&g.id, &ann.id).await.unwrap();
    moved(version().await, "a membership");
    assert_eq!(
        names(store).await.1,
        [("devs".to_string(), vec!["ann".to_string()])]
    );
    store
        .update_user(
            &ann.id,
            &UserUpdate {
                display_name: Some("Ann A.".into()),
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap();
    moved(version().await, "a changed name");
    let held = store.directory_snapshot().await.unwrap();
    assert_eq!(held.users(&Select::All)[0].user.display_name, "Ann A.");
    store.rename_group(&g.id, "developers", "").await.unwrap();
    moved(version().await, "a renamed group");
    assert_eq!(names(store).await.1[0].0, "developers");
    store.set_user_disabled(&ann.id, true).await.unwrap();
    moved(version().await, "a disabled user");
    assert_eq!(
        names(store).await,
        (vec![], vec![("developers".to_string(), vec![])])
    );
    store.set_user_disabled(&ann.id, false).await.unwrap();
    moved(version().await, "an enabled user");
    store.remove_group_member(&g.id, &ann.id).await.unwrap();
    moved(version().await, "a membership ended");
    store.delete_group(&g.id).await.unwrap();
    moved(version().await, "a deleted group");
    store.delete_user(&ann.id).await.unwrap();
    moved(version().await, "a deleted user");
    assert_eq!(names(store).await, (vec![], vec![]));
    let origin = latchkey::audit::Origin::cli();
    latchkey::auth::ldap::create_ldap_account(store, "reader", &[], &origin)
        .await
        .unwrap();
    moved(version().await, "a new service account");
    let snapshot = store.directory_snapshot().await.unwrap();
    assert!(snapshot.service_account("READER").is_some());
    latchkey::auth::ldap::set_ldap_account_disabled(store, "reader", true, &origin)
        .await
        .unwrap();
    moved(version().await, "a disabled service account");
    let snapshot = store.directory_snapshot().await.unwrap();
    assert!(snapshot.service_account("reader").unwrap().0.disabled);
    // What the directory does not show leaves it alone.
    let ben = store.create_user(&user("ben")).await.unwrap();
    let before = version().await;
    store
        .insert_app_password(&ben.id, "TV", "hash", latchkey::store::now(), None)
        .await
        .unwrap();
    let (account, _) = store.ldap_account("reader").await.unwrap().unwrap();
    store
        .note_ldap_account_used(&account, "192.0.2.1")
        .await
        .unwrap();
    assert_eq!(
        version().await,
        before,
        "an app password, or a service account's use, is not the tree"
    );
    latchkey::auth::ldap::delete_ldap_account(store, "reader", &origin)
        .await
        .unwrap();
    moved(version().await, "a deleted service account");
    let snapshot = store.directory_snapshot().await.unwrap();
    assert!(snapshot.service_account("reader").is_none());
}

on_both_backends!(
    posix_numbers_are_stored_and_never_reused,
    service_accounts_and_app_passwords,
    the_snapshot_answers_what_the_store_answers,
    the_directory_version_follows_every_change
);
