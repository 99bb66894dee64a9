//! Users in the admin console: the list, create, edit, disable, delete, and how a
//! user gets in (login links, sessions, passkeys, TOTP).

use latchkey::domain::user::NewUser;

use super::{
    APP, World, audit, events_starting, input_value, ok, signed_in, store, user_with_password,
};
use crate::browser::{Browser, Page};
use crate::support::{TestServer, assert_no_inline_script};

#[tokio::test]
async fn the_user_list_searches_by_prefix_and_pages_by_fifty() {
    let server = TestServer::start(&[]).await;
    user_with_password(&server, "admin", true).await;
    let s = store(&server);
    for i in 0..110 {
        s.create_user(
            &NewUser {
                username: format!("user{i:03}"),
                email: Some(format!("person{i:03}@example.org")),
                first_name: if i == 7 {
                    "Zelda".into()
                } else {
                    String::new()
                },
                ..NewUser::default()
            }
            .validate()
            .unwrap(),
        )
        .await
        .unwrap();
    }
    let b = signed_in(&server, "admin").await;
    let first = b.get("/admin/users").await;
    ok(&first, "first page");
    assert_eq!(first.body.matches("data-user-row").count(), 50);
    assert!(first.body.contains(">admin</strong>"));
    assert!(!first.body.contains("First page"));
    let next = |page: &Page| {
        let at = page.body.find("rel=\"next\"")?;
        let start = page.body[..at].rfind("href=\"")? + 6;
        let end = start + page.body[start..].find('"')?;
        Some(
            page.body[start..end]
                .replace("&#38;", "&")
                .replace("&amp;", "&"),
        )
    };
    let second_url = next(&first).expect("a next page");
    assert!(second_url.contains("after=user048"), "{second_url}");
    let second = b.get(&second_url).await;
    ok(&second, "second page");
    assert_eq!(second.body.matches("data-user-row").count(), 50);
    assert!(second.body.contains(">user049</strong>"), "{}", second.body);
    assert!(second.body.contains("First page"));
    let third = b.get(&next(&second).expect("a third page")).await;
    ok(&third, "third page");
    assert_eq!(third.body.matches("data-user-row").count(), 11);
    assert!(next(&third).is_none(), "the last page has no next link");

    // Prefix of a username, an email, a first name; case does not matter.
    let found = b.get("/admin/users?search=USER10").await;
    ok(&found, "search");
    assert_eq!(found.body.matches("data-user-row").count(), 10);
    let found = b.get("/admin/users?search=person00").await;
    assert_eq!(found.body.matches("data-user-row").count(), 10);
    let found = b.get("/admin/users?search=zel").await;
    assert_eq!(found.body.matches("data-user-row").count(), 1);
    assert!(found.body.contains(">user007</strong>"));
    let none = b.get("/admin/users?search=nobody").await;
    ok(&none, "empty search");
    assert!(none.body.contains("No user starts with"));
    // The search text is escaped, never markup.
    let xss = b.get("/admin/users?search=%3Cscript%3E").await;
    assert!(!xss.body.contains("<script>"));
    assert_no_inline_script(&xss.body);
    server.stop().await;
}

#[tokio::test]
async fn an_admin_creates_a_user_and_invalid_input_saves_nothing() {
    let w = World::new().await;
    let b = signed_in(&w.server, "root").await;
    ok(&b.get("/admin/users/new").await, "new user form");
    let count = w.store().count_users().await.unwrap();

    let bad = b
        .submit(
            "/admin/users/new",
            &[("username", "bad name"), ("email", "ann@example.org")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_no_inline_script(&bad.body);
    assert!(bad.body.contains("id=\"username-error\""));
    assert!(bad.body.contains("may contain only letters"));
    assert!(
        bad.body.contains("value=\"ann@example.org\""),
        "what was typed is kept"
    );
    let bad_email = b
        .submit(
            "/admin/users/new",
            &[("username", "ann"), ("email", "not-an-address")],
        )
        .await;
    assert_eq!(bad_email.status, 422);
    assert!(bad_email.body.contains("id=\"email-error\""));
    let taken = b
        .submit(
            "/admin/users/new",
            &[("username", "TINA"), ("email", "other@example.org")],
        )
        .await;
    assert_eq!(taken.status, 422);
    assert!(taken.body.contains("already exists"));
    assert_eq!(w.store().count_users().await.unwrap(), count);
    assert!(events_starting(&w.server, "admin.").await.is_empty());

    let res = b
        .submit(
            "/admin/users/new",
            &[
                ("username", " Ann "),
                ("email", "ann@example.org"),
                ("first_name", "Ann"),
                ("last_name", "Lee"),
                ("is_admin", "on"),
            ],
        )
        .await;
    assert_eq!(res.status, 303);
    let ann = w.store().user_by_login("ann").await.unwrap().unwrap();
    assert_eq!(
        res.location.as_deref(),
        Some(format!("/admin/users/{}?done=user_created", ann.id).as_str())
    );
    assert!(ann.is_admin);
    assert_eq!(ann.display_name, "Ann Lee");
    let page = b.get(res.location.as_deref().unwrap()).await;
    ok(&page, "user page");
    assert!(page.body.contains("The user was created."));
    let events = audit(&w.server, "admin.user.created").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor_id.as_deref(), Some(w.admin.id.as_str()));
    assert_eq!(events[0].subject.as_deref(), Some(ann.id.as_str()));
    assert_eq!(events[0].details["username"], "ann");
    w.server.stop().await;
}

#[tokio::test]
async fn an_admin_edits_a_user_and_the_audit_says_what_changed() {
    let w = World::new().await;
    let b = signed_in(&w.server, "root").await;
    let path = format!("/admin/users/{}", w.target.id);
    let page = b.get(&path).await;
    ok(&page, "user page");
    assert!(page.body.contains("Tina&#x27;s phone") || page.body.contains("Tina&#39;s phone"));
    assert!(page.body.contains("data-session-row"));
    assert!(page.body.contains(">staff</a>"));

    let before = w.store().user_by_id(&w.target.id).await.unwrap().unwrap();
    let bad = b
        .submit(
            &path,
            &[
                ("username", "tina"),
                ("email", "tina at example"),
                ("first_name", "T"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_no_inline_script(&bad.body);
    assert!(bad.body.contains("id=\"email-error\""));
    assert!(bad.body.contains("value=\"tina at example\""));
    let unchanged = w.store().user_by_id(&w.target.id).await.unwrap().unwrap();
    assert_eq!(unchanged, before, "nothing saved");

    let taken = b
        .submit(
            &path,
            &[("username", "root"), ("email", "tina@example.org")],
        )
        .await;
    assert_eq!(taken.status, 422);
    assert!(taken.body.contains("already exists"));

    let res = b
        .submit(
            &path,
            &[
                ("username", "tina"),
                ("email", "tina@example.net"),
                ("first_name", "Tina"),
                ("last_name", "Turner"),
                ("display_name", ""),
                ("is_admin", "on"),
            ],
        )
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(
        res.location.as_deref(),
        Some(format!("{path}?done=user_updated").as_str())
    );
    let after = w.store().user_by_id(&w.target.id).await.unwrap().unwrap();
    assert_eq!(after.email.as_deref(), Some("tina@example.net"));
    assert_eq!(after.display_name, "Tina Turner");
    assert!(after.is_admin);
    let events = audit(&w.server, "admin.user.updated").await;
    assert_eq!(events.len(), 1);
    let d = &events[0].details;
    assert_eq!(d["before"]["email"], "tina@example.org");
    assert_eq!(d["after"]["email"], "tina@example.net");
    assert_eq!(d["before"]["is_admin"], false);
    assert_eq!(d["after"]["is_admin"], true);
    assert!(d["after"].get("username").is_none(), "only what changed");

    // An admin cannot take away their own admin role.
    let me = format!("/admin/users/{}", w.admin.id);
    let res = b
        .submit(&me, &[("username", "root"), ("email", "root@example.org")])
        .await;
    assert_eq!(res.status, 422);
    assert!(res.body.contains("id=\"is-admin-error\""));
    assert!(
        w.store()
            .user_by_id(&w.admin.id)
            .await
            .unwrap()
            .unwrap()
            .is_admin
    );
    w.server.stop().await;
}

#[tokio::test]
async fn disabling_a_user_signs_them_out_and_an_admin_cannot_disable_themself() {
    let w = World::new().await;
    let b = signed_in(&w.server, "root").await;
    let path = format!("/admin/users/{}", w.target.id);
    b.get(&path).await;
    assert_eq!(w.target_browser.get("/account").await.status, 200);

    let res = b.submit(&format!("{path}/disable"), &[]).await;
    assert_eq!(
        res.location.as_deref(),
        Some(format!("{path}?done=user_disabled").as_str())
    );
    assert!(
        w.store()
            .user_by_id(&w.target.id)
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert_eq!(
        w.target_browser.get("/account").await.status,
        303,
        "their session ended"
    );
    let page = b.get(&path).await;
    ok(&page, "disabled user page");
    assert!(page.body.contains("Disabled"));
    assert!(!page.body.contains("Create login link"));
    let events = audit(&w.server, "admin.user.disabled").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor_id.as_deref(), Some(w.admin.id.as_str()));
    assert_eq!(events[0].details["after"]["disabled"], true);

    let res = b.submit(&format!("{path}/enable"), &[]).await;
    assert_eq!(
        res.location.as_deref(),
        Some(format!("{path}?done=user_enabled").as_str())
    );
    assert!(
        !w.store()
            .user_by_id(&w.target.id)
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert_eq!(audit(&w.server, "admin.user.enabled").await.len(), 1);
    signed_in(&w.server, "tina").await;

    let me = format!("/admin/users/{}", w.admin.id);
    let res = b.submit(&format!("{me}/disable"), &[]).await;
    assert_eq!(
        res.location.as_deref(),
        Some(format!("{me}?error=not_yourself").as_str())
    );
    let page = b.get(res.location.as_deref().unwrap()).await;
    assert_eq!(page.status, 200, "the admin is still signed in");
    assert!(
        page.body
            .contains("You cannot disable, delete or demote yourself.")
    );
    assert!(!page.body.contains(&format!("{me}/disable")));
    assert_eq!(audit(&w.server, "admin.user.disabled").await.len(), 1);
    w.server.stop().await;
}

#[tokio::test]
async fn deleting_a_user_asks_first_and_an_admin_cannot_delete_themself() {
    let w = World::new().await;
    let b = signed_in(&w.server, "root").await;
    let path = format!("/admin/users/{}/delete", w.target.id);
    let confirm = b.get(&path).await;
    ok(&confirm, "confirmation");
    assert!(confirm.body.contains("Delete tina?"));
    assert!(confirm.body.contains(&format!("action=\"{path}\"")));
    assert!(
        w.store().user_by_id(&w.target.id).await.unwrap().is_some(),
        "looking does not delete"
    );

    let res = b.submit(&path, &[]).await;
    assert_eq!(
        res.location.as_deref(),
        Some("/admin/users?done=user_deleted")
    );
    assert!(w.store().user_by_id(&w.target.id).await.unwrap().is_none());
    let events = audit(&w.server, "admin.user.deleted").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].details["username"], "tina");
    assert_eq!(
        b.get(&format!("/admin/users/{}", w.target.id)).await.status,
        404
    );
    assert_eq!(
        b.submit(&path, &[]).await.location.as_deref(),
        Some("/admin/users?error=not_found")
    );

    let me = format!("/admin/users/{}", w.admin.id);
    for res in [
        b.get(&format!("{me}/delete")).await,
        b.submit(&format!("{me}/delete"), &[]).await,
    ] {
        assert_eq!(
            res.location.as_deref(),
            Some(format!("{me}?error=not_yourself").as_str())
        );
    }
    assert!(w.store().user_by_id(&w.admin.id).await.unwrap().is_some());
    assert_eq!(audit(&w.server, "admin.user.deleted").await.len(), 1);
    w.server.stop().await;
}

#[tokio::test]
async fn a_login_link_is_shown_once_and_signs_the_user_in_once() {
    let w = World::new().await;
    let b = signed_in(&w.server, "root").await;
    let path = format!("/admin/users/{}/login-link", w.target.id);
    b.get(&format!("/admin/users/{}", w.target.id)).await;
    let page = b.submit(&path, &[]).await;
    ok(&page, "login link page");
    assert!(page.body.contains("shown only now"));
    let url = input_value(&page.body, "data-login-link");
    let link = url.strip_prefix(APP).expect("absolute URL on the app URL");
    assert!(link.starts_with("/login/code/"));
    let events = audit(&w.server, "auth.login_link.created").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor_id.as_deref(), Some(w.admin.id.as_str()));
    assert_eq!(events[0].subject.as_deref(), Some(w.target.id.as_str()));
    let expires = events[0].details["expires_at"].as_i64().unwrap();
    let minutes = (expires - latchkey::store::now()) / 60;
    assert!((14..=15).contains(&minutes), "valid 15 minutes");

    let visitor = Browser::new(&w.server.base, APP);
    assert_eq!(visitor.get(link).await.status, 200);
    assert_eq!(
        visitor.submit(link, &[]).await.location.as_deref(),
        Some("/account")
    );
    assert_eq!(visitor.get("/account").await.status, 200);
    let again = Browser::new(&w.server.base, APP);
    assert_eq!(again.get(link).await.status, 410, "used once");

    // A disabled user gets no link.
    w.store()
        .set_user_disabled(&w.target.id, true)
        .await
        .unwrap();
    let res = b.submit(&path, &[]).await;
    assert_eq!(
        res.location.as_deref(),
        Some(format!("/admin/users/{}?error=user_is_disabled", w.target.id).as_str())
    );
    assert_eq!(audit(&w.server, "auth.login_link.created").await.len(), 1);
    w.server.stop().await;
}

#[tokio::test]
async fn an_admin_revokes_sessions_removes_passkeys_and_resets_totp() {
    let w = World::new().await;
    let b = signed_in(&w.server, "root").await;
    let path = format!("/admin/users/{}", w.target.id);
    let page = b.get(&path).await;
    ok(&page, "user page");
    assert!(page.body.contains("Reset authenticator app"));

    let session = w.store().sessions_of_user(&w.target.id).await.unwrap()[0]
        .id_hash
        .clone();
    let res = b
        .submit(
            &format!("{path}/sessions/revoke"),
            &[("session", session.as_str())],
        )
        .await;
    assert_eq!(
        res.location.as_deref(),
        Some(format!("{path}?done=session_revoked").as_str())
    );
    assert_eq!(w.target_browser.get("/account").await.status, 303);
    assert_eq!(
        audit(&w.server, "admin.user.session_revoked").await.len(),
        1
    );
    // Another user's session cannot be revoked through this user's page.
    let mine = w.store().sessions_of_user(&w.admin.id).await.unwrap()[0]
        .id_hash
        .clone();
    let res = b
        .submit(
            &format!("{path}/sessions/revoke"),
            &[("session", mine.as_str())],
        )
        .await;
    assert_eq!(
        res.location.as_deref(),
        Some(format!("{path}?error=not_found").as_str())
    );
    assert_eq!(b.get("/admin/users").await.status, 200, "still signed in");

    let res = b
        .submit(&format!("{path}/passkeys/{}/delete", w.passkey_id), &[])
        .await;
    assert_eq!(
        res.location.as_deref(),
        Some(format!("{path}?done=passkey_removed").as_str())
    );
    assert!(
        w.store()
            .passkeys_of_user(&w.target.id)
            .await
            .unwrap()
            .is_empty()
    );
    let events = audit(&w.server, "admin.user.passkey_removed").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].details["name"], "Tina's phone");

    let res = b.submit(&format!("{path}/totp/reset"), &[]).await;
    assert_eq!(
        res.location.as_deref(),
        Some(format!("{path}?done=totp_reset").as_str())
    );
    let creds = w.store().user_credentials(&w.target.id).await.unwrap();
    assert!(creds.totp_secret_sealed.is_none());
    assert_eq!(
        w.store().unused_recovery_codes(&w.target.id).await.unwrap(),
        0
    );
    let events = audit(&w.server, "admin.user.totp_reset").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor_id.as_deref(), Some(w.admin.id.as_str()));
    let page = b.get(&format!("{path}?done=totp_reset")).await;
    ok(&page, "after reset");
    assert!(
        page.body
            .contains("The authenticator app and its recovery codes were removed.")
    );
    assert!(!page.body.contains("Reset authenticator app"));
    w.server.stop().await;
}
