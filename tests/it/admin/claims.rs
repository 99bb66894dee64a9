//! Custom claims of users and groups in the admin console: set, change, remove, each
//! an audit event with before/after; a bad name saves nothing.

use latchkey::store::ClaimOwner;

use super::{World, audit, ok, signed_in};

#[tokio::test]
async fn admins_set_and_remove_custom_claims_of_users_and_groups() {
    let w = World::new().await;
    let b = signed_in(&w.server, "root").await;
    for (kind, id, owner) in [
        ("users", w.target.id.clone(), ClaimOwner::User(&w.target.id)),
        ("groups", w.group.id.clone(), ClaimOwner::Group(&w.group.id)),
    ] {
        let path = format!("/admin/{kind}/{id}/claims");
        ok(&b.get(&path).await, "claims page");
        let bad = b.submit(&path, &[("key", "sub"), ("value", "x")]).await;
        assert_eq!(bad.status, 422, "{kind}: a reserved claim name");
        assert!(bad.body.contains("id=\"key-error\""));
        assert!(w.store().custom_claims(owner).await.unwrap().is_empty());

        let res = b
            .submit(&path, &[("key", "department"), ("value", "research")])
            .await;
        assert_eq!(res.status, 303, "{}", res.body);
        b.submit(&path, &[("key", "department"), ("value", "physics")])
            .await;
        assert_eq!(
            w.store().custom_claims(owner).await.unwrap(),
            [("department".to_string(), "physics".to_string())]
        );
        let page = b.get(&path).await;
        assert!(page.body.contains("physics"));
        let res = b.submit(&format!("{path}/department/delete"), &[]).await;
        assert_eq!(res.status, 303);
        assert!(w.store().custom_claims(owner).await.unwrap().is_empty());
    }
    let set = audit(&w.server, "admin.claim.set").await;
    assert_eq!(set.len(), 4);
    assert!(
        set.iter()
            .any(|e| e.details["before"] == "research" && e.details["after"] == "physics")
    );
    assert_eq!(audit(&w.server, "admin.claim.removed").await.len(), 2);
    // Not for anyone else.
    let res = w
        .target_browser
        .submit(
            &format!("/admin/users/{}/claims", w.target.id),
            &[("key", "a"), ("value", "b")],
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(b.get("/admin/clients/x/claims").await.status, 404);
}
