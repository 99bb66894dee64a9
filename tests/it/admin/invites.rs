//! Sign-up: closed by default, open to anyone in `open` mode, by invite link in
//! `invite` mode; invited users join the invite's groups; used-up, expired and
//! withdrawn links stop working; bad input creates nothing and spends nothing.

use super::{APP, World, audit, input_value, ok, signed_in};
use crate::browser::Browser;
use crate::support::assert_no_inline_script;

async fn set_signup(w: &World, admin: &Browser, mode: &str) {
    let res = admin
        .submit("/admin/settings", &[("signup_mode", mode)])
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(
        w.server.running().state.settings().signup_mode.as_str(),
        mode
    );
}

#[tokio::test]
async fn invited_people_sign_up_and_join_the_invites_groups() {
    let w = World::new().await;
    let admin = signed_in(&w.server, "root").await;
    let visitor = Browser::new(&w.server.base, APP);
    let closed = visitor.get("/signup").await;
    assert_eq!(closed.status, 403);
    assert!(closed.body.contains("Sign-up is closed"));

    set_signup(&w, &admin, "invite").await;
    let needs = visitor.get("/signup").await;
    assert_eq!(needs.status, 403);
    assert!(needs.body.contains("needs an invitation"));

    ok(&admin.get("/admin/invites").await, "invites");
    let bad = admin
        .submit(
            "/admin/invites",
            &[("expires_in", "forever"), ("max_uses", "1")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("id=\"expires-error\""));
    assert!(w.store().list_invites().await.unwrap().is_empty());

    let created = admin
        .submit(
            "/admin/invites",
            &[
                ("note", "For Sam"),
                ("expires_in", "7d"),
                ("max_uses", "1"),
                ("group", &w.group.id),
            ],
        )
        .await;
    ok(&created, "invite created");
    let link = input_value(&created.body, "data-invite-link");
    let path = link
        .strip_prefix(APP)
        .expect("an absolute link on the app URL");
    let token = path.split("invite=").nth(1).unwrap().to_string();
    let event = &audit(&w.server, "admin.invite.created").await[0];
    assert_eq!(event.details["groups"][0], w.group.id.as_str());
    assert!(
        !event.details.to_string().contains(&token),
        "the secret is not in the log"
    );

    // The form keeps the invite; a bad field creates nothing and spends nothing.
    let form = visitor.get(path).await;
    ok(&form, "sign-up form");
    assert!(form.body.contains(&format!("value=\"{token}\"")));
    let bad = visitor
        .submit(
            "/signup",
            &[
                ("invite", &token),
                ("username", "sam smith"),
                ("email", "sam@example.org"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_no_inline_script(&bad.body);
    assert!(bad.body.contains("id=\"username-error\""));
    let taken = visitor
        .submit(
            "/signup",
            &[
                ("invite", &token),
                ("username", "sam"),
                ("email", "TINA@example.org"),
            ],
        )
        .await;
    // A taken address is answered like a new account (no oracle of who has one).
    assert_eq!(taken.status, 200, "{}", taken.body);
    assert!(taken.body.contains("Check your email"));
    assert!(!taken.body.contains("already exists"));
    assert!(w.store().user_by_login("sam").await.unwrap().is_none());
    assert_eq!(w.store().list_invites().await.unwrap()[0].uses, 0);

    let res = visitor
        .submit(
            "/signup",
            &[
                ("invite", &token),
                ("username", "sam"),
                ("email", "sam@example.org"),
                ("first_name", "Sam"),
                ("last_name", "Jones"),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.location.as_deref(), Some("/signup/credential"));
    let sam = w.store().user_by_login("sam").await.unwrap().unwrap();
    assert_eq!(sam.display_name, "Sam Jones");
    assert!(!sam.is_admin);
    assert!(!sam.email_verified);
    assert!(
        w.store()
            .group_member_ids(&w.group.id)
            .await
            .unwrap()
            .contains(&sam.id)
    );
    let next = visitor.get("/signup/credential").await;
    ok(&next, "add a passkey");
    assert!(next.body.contains("data-passkey-register"));
    let signed_up = audit(&w.server, "user.signed_up").await;
    assert_eq!(signed_up[0].subject.as_deref(), Some(sam.id.as_str()));

    // Used up: a second person is refused.
    let other = Browser::new(&w.server.base, APP);
    assert_eq!(other.get(path).await.status, 410);
    // Signed-in people are sent to their account instead of a form.
    assert_eq!(visitor.get(path).await.status, 303);
}

#[tokio::test]
async fn open_sign_up_needs_no_invite_and_withdrawn_links_stop_working() {
    let w = World::new().await;
    let admin = signed_in(&w.server, "root").await;
    set_signup(&w, &admin, "open").await;
    let created = admin
        .submit("/admin/invites", &[("expires_in", "1d"), ("max_uses", "5")])
        .await;
    let link = input_value(&created.body, "data-invite-link");
    let token = link.split("invite=").nth(1).unwrap().to_string();
    let invite = w.store().list_invites().await.unwrap().remove(0);
    let res = admin
        .submit(&format!("/admin/invites/{}/revoke", invite.id), &[])
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(audit(&w.server, "admin.invite.revoked").await.len(), 1);

    let visitor = Browser::new(&w.server.base, APP);
    let gone = visitor.get(&format!("/signup?invite={token}")).await;
    assert_eq!(gone.status, 410);
    assert!(gone.body.contains("cannot be used"));
    // Posting with the withdrawn invite is refused too, even in open mode.
    visitor.get("/signup").await;
    let res = visitor
        .submit(
            "/signup",
            &[
                ("invite", &token),
                ("username", "ann"),
                ("email", "ann@example.org"),
            ],
        )
        .await;
    assert_eq!(res.status, 410);
    assert!(w.store().user_by_login("ann").await.unwrap().is_none());

    let form = visitor.get("/signup").await;
    ok(&form, "open sign-up");
    let res = visitor
        .submit(
            "/signup",
            &[
                ("invite", ""),
                ("username", "ann"),
                ("email", "ann@example.org"),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let ann = w.store().user_by_login("ann").await.unwrap().unwrap();
    assert!(
        w.store()
            .group_member_ids(&w.group.id)
            .await
            .unwrap()
            .iter()
            .all(|m| m != &ann.id)
    );
}
