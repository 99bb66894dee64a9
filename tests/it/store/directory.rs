//! The rows of the upstream-directory sync: what it reads (synced and local users and
//! groups), its one-transaction application, and the record of its runs.

use latchkey::domain::session::{AuthMethod, Session};
use latchkey::store::directory::{
    DirectoryRun, GroupFields, RUNS_KEPT, SyncChanges, Synced, UserFields,
};
use latchkey::store::{Store, StoreError, now};

use super::users::alice;
use crate::on_both_backends;

fn person(ext: &str, username: &str, admin: Option<bool>) -> UserFields {
    UserFields {
        external_id: ext.into(),
        dn: format!("uid={username},ou=people,dc=example,dc=org"),
        username: username.into(),
        email: Some(format!("{username}@example.org")),
        first_name: username.into(),
        last_name: "Synced".into(),
        display_name: format!("{username} Synced"),
        is_admin: admin,
    }
}

fn group(ext: &str, name: &str) -> GroupFields {
    GroupFields {
        external_id: ext.into(),
        dn: format!("cn={name},ou=groups,dc=example,dc=org"),
        name: name.into(),
        display_name: name.to_uppercase(),
    }
}

fn run(id: &str, started_at: i64) -> DirectoryRun {
    DirectoryRun {
        id: id.into(),
        started_at,
        finished_at: started_at + 1,
        cause: "cli".into(),
        outcome: "applied".into(),
        summary: serde_json::json!({"created": 0}),
        error: None,
    }
}

fn session(user_id: &str, hash: &str) -> Session {
    let t = now();
    Session {
        id_hash: hash.into(),
        user_id: user_id.into(),
        created_at: t,
        last_seen_at: t,
        expires_at: t + 3600,
        auth_time: t,
        auth_method: AuthMethod::Password,
        ip: None,
        user_agent: None,
        new_device: false,
    }
}

async fn a_sync_is_applied_whole_and_keeps_ids_across_renames(store: &Store) {
    // Made here: left alone, and reported as what a synced entry must not collide with.
    let carol = store.create_user(&alice()).await.unwrap();
    store.create_group("family", "Family").await.unwrap();

    let first = SyncChanges {
        create_users: vec![
            person("e-ada", "ada", None),
            person("e-bob", "bob", Some(true)),
        ],
        create_groups: vec![group("g-devs", "devs")],
        add_members: vec![("g-devs".into(), "e-ada".into())],
        ..SyncChanges::default()
    };
    store.apply_sync(&first, &run("r1", 100)).await.unwrap();
    let state = store.synced_state().await.unwrap();
    assert_eq!(state.users.len(), 2);
    assert!(state.local_usernames.contains("alice"));
    assert!(state.local_emails.contains("alice@example.org"));
    assert!(state.local_groups.contains("family"));
    assert_eq!(state.local_admins, 0);
    let ada = state
        .users
        .iter()
        .find(|u| u.user.username == "ada")
        .unwrap()
        .clone();
    let bob = state
        .users
        .iter()
        .find(|u| u.user.username == "bob")
        .unwrap()
        .clone();
    assert!(bob.user.is_admin && !ada.user.is_admin);
    assert!(
        ada.user.email_verified,
        "the directory vouches for its addresses"
    );
    assert_eq!(
        ada.dn.as_deref(),
        Some("uid=ada,ou=people,dc=example,dc=org")
    );
    let devs = &state.groups[0];
    assert_eq!((devs.group.name.as_str(), devs.in_use), ("devs", false));
    assert_eq!(devs.members.iter().collect::<Vec<_>>(), [&ada.user.id]);
    assert_eq!(
        store
            .external_dn(Synced::Group, &devs.group.id)
            .await
            .unwrap()
            .as_deref(),
        Some("cn=devs,ou=groups,dc=example,dc=org")
    );
    assert_eq!(
        store.external_dn(Synced::User, &carol.id).await.unwrap(),
        None
    );

    // Ada and Bob swap usernames in one run (the sync frees both names first); Bob
    // leaves: disabled, his sessions ended; the group is renamed and loses Ada.
    store
        .insert_session(&session(&bob.user.id, "bob-session"))
        .await
        .unwrap();
    let second = SyncChanges {
        update_users: vec![
            (ada.user.id.clone(), person("e-ada", "bob", None)),
            (bob.user.id.clone(), person("e-bob", "ada", Some(false))),
        ],
        disable_users: vec![bob.user.id.clone()],
        update_groups: vec![(devs.group.id.clone(), group("g-devs", "developers"))],
        remove_members: vec![("g-devs".into(), "e-ada".into())],
        ..SyncChanges::default()
    };
    store.apply_sync(&second, &run("r2", 200)).await.unwrap();
    let renamed = store.user_by_id(&ada.user.id).await.unwrap().unwrap();
    assert_eq!(renamed.username, "bob", "same row, same id, new name");
    let gone = store.user_by_id(&bob.user.id).await.unwrap().unwrap();
    assert_eq!(gone.username, "ada");
    assert!(
        gone.disabled && !gone.is_admin,
        "the admin flag is taken back"
    );
    assert!(
        store
            .sessions_of_user(&bob.user.id)
            .await
            .unwrap()
            .is_empty()
    );
    let state = store.synced_state().await.unwrap();
    let devs = &state.groups[0];
    assert_eq!(devs.group.name, "developers");
    assert!(devs.members.is_empty());
    assert!(
        state
            .users
            .iter()
            .any(|u| u.user.id == bob.user.id && u.directory_disabled)
    );

    // One colliding change fails the whole run: nothing of it is applied or recorded.
    let colliding = SyncChanges {
        create_users: vec![person("e-dan", "dan", None)],
        update_users: vec![(ada.user.id.clone(), person("e-ada", "Alice", None))],
        enable_users: vec![bob.user.id.clone()],
        ..SyncChanges::default()
    };
    assert!(matches!(
        store.apply_sync(&colliding, &run("r3", 300)).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store.user_by_login("dan").await.unwrap().is_none());
    assert!(
        store
            .user_by_id(&bob.user.id)
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert_eq!(
        store
            .user_by_id(&ada.user.id)
            .await
            .unwrap()
            .unwrap()
            .username,
        "bob"
    );
    assert_eq!(store.directory_runs(10).await.unwrap().len(), 2);

    // Back upstream: enabled again. An admin's own "disable" is not the sync's to undo.
    store.set_user_disabled(&ada.user.id, true).await.unwrap();
    let third = SyncChanges {
        enable_users: vec![bob.user.id.clone(), ada.user.id.clone()],
        ..SyncChanges::default()
    };
    store.apply_sync(&third, &run("r4", 400)).await.unwrap();
    assert!(
        !store
            .user_by_id(&bob.user.id)
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert!(
        store
            .user_by_id(&ada.user.id)
            .await
            .unwrap()
            .unwrap()
            .disabled
    );

    // Deleted when the setting says so, groups too; the local ones stay.
    let fourth = SyncChanges {
        delete_users: vec![bob.user.id.clone()],
        delete_groups: vec![devs.group.id.clone()],
        ..SyncChanges::default()
    };
    store.apply_sync(&fourth, &run("r5", 500)).await.unwrap();
    assert!(store.user_by_id(&bob.user.id).await.unwrap().is_none());
    let state = store.synced_state().await.unwrap();
    assert_eq!((state.users.len(), state.groups.len()), (1, 0));
    assert!(store.group_by_name("family").await.unwrap().is_some());
    assert!(store.user_by_id(&carol.id).await.unwrap().is_some());
}

async fn runs_are_listed_newest_first_and_only_the_newest_are_kept(store: &Store) {
    let total = RUNS_KEPT + 5;
    for i in 0..total {
        store
            .record_directory_run(&run(&format!("run-{i:04}"), 1_000 + i))
            .await
            .unwrap();
    }
    let runs = store.directory_runs(1_000).await.unwrap();
    assert_eq!(runs.len() as i64, RUNS_KEPT);
    assert_eq!(runs[0].id, format!("run-{:04}", total - 1));
    assert_eq!(runs.last().unwrap().id, "run-0005");
    assert_eq!(runs[0].summary["created"], 0);
    assert_eq!(store.directory_runs(3).await.unwrap().len(), 3);
}

on_both_backends!(
    a_sync_is_applied_whole_and_keeps_ids_across_renames,
    runs_are_listed_newest_first_and_only_the_newest_are_kept
);
