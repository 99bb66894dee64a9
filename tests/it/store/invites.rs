use latchkey::domain::user::NewUser;
use latchkey::store::{NewInvite, SignupRejection, Store, now};

use crate::on_both_backends;

fn person(name: &str) -> NewUser {
    NewUser {
        username: name.into(),
        email: Some(format!("{name}@example.org")),
        ..NewUser::default()
    }
    .validate()
    .unwrap()
}

async fn sign_up(
    store: &Store,
    name: &str,
    invite: Option<&str>,
) -> Result<String, SignupRejection> {
    let mut tx = store.begin().await.unwrap();
    let user = Store::sign_up_in(&mut tx, &person(name), invite).await?;
    tx.commit().await.unwrap();
    Ok(user.id)
}

/// An invite's uses run out, its groups are joined, and a refused sign-up (spent,
/// withdrawn or expired invite) creates nobody.
async fn invites_are_spent_once_per_use_and_join_their_groups(store: &Store) {
    let group = store.create_group("family", "Family").await.unwrap();
    let invite = store
        .create_invite(&NewInvite {
            token_hash: "hash-1",
            note: "cousins",
            created_by: None,
            expires_at: now() + 3600,
            max_uses: 1,
            group_ids: std::slice::from_ref(&group.id),
        })
        .await
        .unwrap();
    assert_eq!(
        store.invite_by_token("hash-1").await.unwrap().unwrap().id,
        invite.id
    );
    assert_eq!(invite.group_ids, std::slice::from_ref(&group.id));

    let ann = sign_up(store, "ann", Some(&invite.id)).await.unwrap();
    assert_eq!(store.group_member_ids(&group.id).await.unwrap(), [ann]);
    assert!(matches!(
        sign_up(store, "bob", Some(&invite.id)).await,
        Err(SignupRejection::InviteUnusable)
    ));
    assert!(store.user_by_login("bob").await.unwrap().is_none());
    assert_eq!(
        store.invite_by_id(&invite.id).await.unwrap().unwrap().uses,
        1
    );

    let expired = store
        .create_invite(&NewInvite {
            token_hash: "hash-2",
            note: "",
            created_by: None,
            expires_at: now() - 1,
            max_uses: 5,
            group_ids: &[],
        })
        .await
        .unwrap();
    assert!(sign_up(store, "cy", Some(&expired.id)).await.is_err());
    let open = store
        .create_invite(&NewInvite {
            token_hash: "hash-3",
            note: "",
            created_by: None,
            expires_at: now() + 60,
            max_uses: 5,
            group_ids: &[],
        })
        .await
        .unwrap();
    store.revoke_invite(&open.id).await.unwrap();
    assert!(sign_up(store, "cy", Some(&open.id)).await.is_err());
    assert!(store.user_by_login("cy").await.unwrap().is_none());
    assert_eq!(store.list_invites().await.unwrap().len(), 3);
}

/// Pictures are stored, replaced, listed by owner prefix and go with their user.
async fn pictures_are_replaced_and_deleted_with_their_owner(store: &Store) {
    let user = store.create_user(&person("dora")).await.unwrap();
    let owner = format!("user:{}", user.id);
    store
        .put_image(&owner, "image/png", &[1, 2, 3], "v1")
        .await
        .unwrap();
    store
        .put_image(&owner, "image/png", &[4, 5], "v2")
        .await
        .unwrap();
    let image = store.image(&owner).await.unwrap().unwrap();
    assert_eq!((image.bytes, image.etag), (vec![4, 5], "v2".to_string()));
    assert_eq!(store.image_etags("user:").await.unwrap()[&owner], "v2");
    store.delete_user(&user.id).await.unwrap();
    assert!(store.image(&owner).await.unwrap().is_none());
}

on_both_backends!(
    invites_are_spent_once_per_use_and_join_their_groups,
    pictures_are_replaced_and_deleted_with_their_owner
);
