use latchkey::domain::user::NewUser;
use latchkey::store::{Store, StoreError, UserUpdate};

use crate::on_both_backends;

pub fn alice() -> NewUser {
    NewUser {
        username: "Alice".into(),
        email: Some("alice@example.org".into()),
        first_name: "Alice".into(),
        last_name: "Liddell".into(),
        ..NewUser::default()
    }
    .validate()
    .unwrap()
}

async fn create_and_find(store: &Store) {
    let created = store.create_user(&alice()).await.unwrap();
    assert_eq!(created.username, "alice");
    assert_eq!(created.display_name, "Alice Liddell");
    assert!(!created.is_admin && !created.disabled && !created.email_verified);
    assert!(created.created_at > 1_700_000_000);
    assert_eq!(
        store.user_by_id(&created.id).await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(
        store.user_by_login("ALICE").await.unwrap().unwrap().id,
        created.id
    );
    assert_eq!(
        store
            .user_by_login("Alice@Example.org")
            .await
            .unwrap()
            .unwrap()
            .id,
        created.id
    );
    assert_eq!(store.user_by_login("nobody").await.unwrap(), None);
    assert_eq!(store.count_users().await.unwrap(), 1);
    assert!(!store.has_admin().await.unwrap());
}

async fn duplicates_are_refused_and_change_nothing(store: &Store) {
    store.create_user(&alice()).await.unwrap();
    let mut same_name = alice();
    same_name.email = Some("other@example.org".into());
    match store.create_user(&same_name).await {
        Err(StoreError::Conflict(m)) => assert!(m.contains("username"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let mut same_email = alice();
    same_email.username = "alice2".into();
    same_email.email = Some("ALICE@example.org".into());
    match store.create_user(&same_email).await {
        Err(StoreError::Conflict(m)) => assert!(m.contains("email"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.count_users().await.unwrap(), 1);
}

async fn users_without_email_may_coexist(store: &Store) {
    for name in ["svc1", "svc2"] {
        let u = NewUser {
            username: name.into(),
            ..NewUser::default()
        }
        .validate()
        .unwrap();
        store.create_user(&u).await.unwrap();
    }
    let names: Vec<String> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["svc1", "svc2"]);
}

async fn update_disable_delete(store: &Store) {
    let user = store.create_user(&alice()).await.unwrap();
    let bob = store
        .create_user(
            &NewUser {
                username: "bob".into(),
                email: Some("bob@example.org".into()),
                ..NewUser::default()
            }
            .validate()
            .unwrap(),
        )
        .await
        .unwrap();
    let updated = store
        .update_user(
            &user.id,
            &UserUpdate {
                is_admin: Some(true),
                email_verified: Some(true),
                locale: Some(Some("de-CH".into())),
                display_name: Some("Al".into()),
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap();
    assert!(updated.is_admin && updated.email_verified);
    assert_eq!(updated.locale.as_deref(), Some("de-CH"));
    assert_eq!(updated.display_name, "Al");
    assert_eq!(updated.email, user.email);
    assert!(store.has_admin().await.unwrap());

    // Taking bob's email is a conflict and leaves alice as she was.
    let clash = UserUpdate {
        email: Some(Some("bob@example.org".into())),
        ..UserUpdate::default()
    };
    assert!(matches!(
        store.update_user(&user.id, &clash).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.user_by_id(&user.id).await.unwrap().unwrap().email,
        user.email
    );

    store.set_user_disabled(&bob.id, true).await.unwrap();
    assert!(store.user_by_id(&bob.id).await.unwrap().unwrap().disabled);
    store.delete_user(&bob.id).await.unwrap();
    assert_eq!(store.user_by_id(&bob.id).await.unwrap(), None);
    assert!(matches!(
        store.delete_user(&bob.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.set_user_disabled("missing", true).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.update_user("missing", &UserUpdate::default()).await,
        Err(StoreError::NotFound)
    ));
}

on_both_backends!(
    create_and_find,
    duplicates_are_refused_and_change_nothing,
    users_without_email_may_coexist,
    update_disable_delete,
);

/// A search: prefix, after, page size, the usernames it finds, and why.
type SearchCase = (
    &'static str,
    Option<&'static str>,
    i64,
    &'static [&'static str],
    &'static str,
);

async fn search_by_prefix_with_pages(store: &Store) {
    for (u, first, last) in [
        ("ann", "Ann", "Zed"),
        ("bob", "Bob", "Annex"),
        ("carl", "Carl", "Cole"),
        ("annie", "Annie", ""),
    ] {
        let new = NewUser {
            username: u.into(),
            email: Some(format!("{u}@example.org")),
            first_name: first.into(),
            last_name: last.into(),
            ..NewUser::default()
        };
        store.create_user(&new.validate().unwrap()).await.unwrap();
    }
    let cases: [SearchCase; 11] = [
        (
            "ANN",
            None,
            10,
            &["ann", "annie", "bob"],
            "username or last name",
        ),
        ("ann", None, 2, &["ann", "annie"], "a first page"),
        ("ann", Some("annie"), 2, &["bob"], "the next page"),
        // "ann" matches in four columns of one row, "annie" in four of another: pages
        // of one must still step through distinct users.
        ("ann", None, 1, &["ann"], "pages of one"),
        ("ann", Some("ann"), 1, &["annie"], "pages of one"),
        ("carl@", None, 10, &["carl"], "email"),
        // Longer than the three characters PostgreSQL's indexes lead with: the rest of
        // the prefix still counts.
        ("Annex", None, 10, &["bob"], "longer than a head"),
        ("anni", None, 10, &["annie"], "longer than a head"),
        // Shorter than three: a range of those heads, with pages too.
        ("an", None, 2, &["ann", "annie"], "shorter than a head"),
        (
            "an",
            Some("annie"),
            2,
            &["bob"],
            "shorter than a head, next page",
        ),
        ("C", None, 10, &["carl"], "one character"),
    ];
    for (prefix, after, limit, expected, why) in cases {
        let found: Vec<String> = store
            .search_users(prefix, after, limit)
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.username)
            .collect();
        assert_eq!(found, expected, "{why}: {prefix:?} after {after:?}");
    }
    assert_eq!(store.search_users("", None, 10).await.unwrap().len(), 4);
    assert!(
        store
            .search_users("zzz", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

on_both_backends!(search_by_prefix_with_pages);
