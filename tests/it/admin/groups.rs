//! Groups in the admin console, and the store queries their pages use.

use latchkey::domain::user::NewUser;
use latchkey::oidc::registration::{ClientSpec, register};
use latchkey::store::Store;

use super::{World, audit, ok, signed_in};
use crate::on_both_backends;
use crate::support::assert_no_inline_script;

#[tokio::test]
async fn groups_are_created_renamed_filled_and_deleted() {
    let w = World::new().await;
    let b = signed_in(&w.server, "root").await;
    let list = b.get("/admin/groups").await;
    ok(&list, "groups");
    assert!(list.body.contains(">staff</strong>"));

    let bad = b
        .submit(
            "/admin/groups",
            &[("name", "two words"), ("display_name", "X")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_no_inline_script(&bad.body);
    assert!(bad.body.contains("id=\"name-error\""));
    assert!(bad.body.contains("value=\"two words\""));
    let taken = b.submit("/admin/groups", &[("name", "Staff")]).await;
    assert_eq!(taken.status, 422);
    assert!(taken.body.contains("already exists"));
    assert_eq!(w.store().list_groups().await.unwrap().len(), 1);

    let res = b
        .submit(
            "/admin/groups",
            &[("name", "Family"), ("display_name", "The family")],
        )
        .await;
    assert_eq!(res.status, 303);
    let family = w.store().group_by_name("family").await.unwrap().unwrap();
    assert_eq!(family.display_name, "The family");
    let path = format!("/admin/groups/{}", family.id);
    assert_eq!(
        res.location.as_deref(),
        Some(format!("{path}?done=group_created").as_str())
    );
    ok(&b.get(&path).await, "group page");
    let created = audit(&w.server, "admin.group.created").await;
    assert_eq!(created[0].details["name"], "family");

    let bad = b.submit(&path, &[("name", "")]).await;
    assert_eq!(bad.status, 422);
    assert_eq!(
        w.store().group_by_id(&family.id).await.unwrap().unwrap(),
        family
    );
    let res = b
        .submit(&path, &[("name", "kin"), ("display_name", "Kin")])
        .await;
    assert_eq!(
        res.location.as_deref(),
        Some(format!("{path}?done=group_updated").as_str())
    );
    let updated = audit(&w.server, "admin.group.updated").await;
    assert_eq!(updated[0].details["before"]["name"], "family");
    assert_eq!(updated[0].details["after"]["name"], "kin");

    let unknown = b
        .submit(&format!("{path}/members"), &[("username", "nobody")])
        .await;
    assert_eq!(unknown.status, 422);
    assert!(unknown.body.contains("id=\"member-error\""));
    assert!(unknown.body.contains("there is no user"));
    let res = b
        .submit(&format!("{path}/members"), &[("username", "TINA")])
        .await;
    assert_eq!(
        res.location.as_deref(),
        Some(format!("{path}?done=member_added").as_str())
    );
    assert_eq!(
        w.store().group_member_ids(&family.id).await.unwrap(),
        [w.target.id.as_str()]
    );
    let page = b.get(&path).await;
    assert_eq!(page.body.matches("data-member-row").count(), 1);
    assert_eq!(audit(&w.server, "admin.group.member_added").await.len(), 1);
    let res = b
        .submit(&format!("{path}/members/{}/remove", w.target.id), &[])
        .await;
    assert_eq!(
        res.location.as_deref(),
        Some(format!("{path}?done=member_removed").as_str())
    );
    assert!(
        w.store()
            .group_member_ids(&family.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        audit(&w.server, "admin.group.member_removed").await.len(),
        1
    );

    let confirm = b.get(&format!("{path}/delete")).await;
    ok(&confirm, "delete confirmation");
    assert!(confirm.body.contains("Delete the group kin?"));
    let res = b.submit(&format!("{path}/delete"), &[]).await;
    assert_eq!(
        res.location.as_deref(),
        Some("/admin/groups?done=group_deleted")
    );
    assert!(w.store().group_by_id(&family.id).await.unwrap().is_none());
    assert_eq!(audit(&w.server, "admin.group.deleted").await.len(), 1);
    w.server.stop().await;
}

#[tokio::test]
async fn a_group_that_limits_a_client_cannot_be_deleted() {
    let w = World::new().await;
    let (limited, _) = register(
        w.store(),
        ClientSpec {
            name: "Payroll".into(),
            redirect_uris: vec!["https://payroll.example.org/cb".into()],
            allowed_groups: vec!["staff".into()],
            ..ClientSpec::default()
        },
    )
    .await
    .unwrap();
    let b = signed_in(&w.server, "root").await;
    let path = format!("/admin/groups/{}", w.group.id);
    let page = b.get(&path).await;
    ok(&page, "group page");
    assert!(
        page.body
            .contains(&format!("href=\"/admin/clients/{}\"", limited.id))
    );
    assert!(!page.body.contains(&format!("{path}/delete")));
    let refused = format!("{path}?error=group_in_use");
    assert_eq!(
        b.get(&format!("{path}/delete")).await.location.as_deref(),
        Some(refused.as_str())
    );
    let res = b.submit(&format!("{path}/delete"), &[]).await;
    assert_eq!(res.location.as_deref(), Some(refused.as_str()));
    assert!(b.get(&refused).await.body.contains("would let everyone"));
    assert!(w.store().group_by_id(&w.group.id).await.unwrap().is_some());
    assert_eq!(
        w.store()
            .client_by_id(&limited.id)
            .await
            .unwrap()
            .unwrap()
            .allowed_groups,
        ["staff"],
        "the client stays limited"
    );
    assert!(audit(&w.server, "admin.group.deleted").await.is_empty());

    // Once the client is gone, so is the reason to refuse.
    w.store().delete_client(&limited.id).await.unwrap();
    ok(&b.get(&format!("{path}/delete")).await, "confirmation");
    let res = b.submit(&format!("{path}/delete"), &[]).await;
    assert_eq!(
        res.location.as_deref(),
        Some("/admin/groups?done=group_deleted")
    );
    w.server.stop().await;
}
async fn members_of_group_lists_users_by_username(store: &Store) {
    let group = store.create_group("team", "Team").await.unwrap();
    let other = store.create_group("other", "Other").await.unwrap();
    let mut ids = Vec::new();
    for name in ["zoe", "adam", "mia"] {
        let u = store
            .create_user(
                &NewUser {
                    username: name.into(),
                    ..NewUser::default()
                }
                .validate()
                .unwrap(),
            )
            .await
            .unwrap();
        ids.push(u.id);
    }
    store.add_group_member(&group.id, &ids[0]).await.unwrap();
    store.add_group_member(&group.id, &ids[1]).await.unwrap();
    store.add_group_member(&other.id, &ids[2]).await.unwrap();
    let names: Vec<String> = store
        .members_of_group(&group.id)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["adam", "zoe"]);
    assert!(store.members_of_group("nope").await.unwrap().is_empty());
}

async fn clients_limited_to_a_group_are_listed(store: &Store) {
    let staff = store.create_group("staff", "Staff").await.unwrap();
    store.create_group("other", "Other").await.unwrap();
    for (name, groups) in [
        ("Wiki", vec!["staff", "other"]),
        ("Open", vec![]),
        ("Blog", vec!["staff"]),
        ("Shop", vec!["other"]),
    ] {
        register(
            store,
            ClientSpec {
                name: name.into(),
                redirect_uris: vec!["https://app.example.org/cb".into()],
                allowed_groups: groups.into_iter().map(String::from).collect(),
                ..ClientSpec::default()
            },
        )
        .await
        .unwrap();
    }
    let names: Vec<String> = store
        .clients_limited_to_group(&staff.id)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, name)| name)
        .collect();
    assert_eq!(names, ["Blog", "Wiki"]);
}

on_both_backends!(
    members_of_group_lists_users_by_username,
    clients_limited_to_a_group_are_listed
);
