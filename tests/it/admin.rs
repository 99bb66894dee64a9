//! The admin console over HTTP: only administrators get in, every form needs its CSRF
//! token, validation errors save nothing, and every change is an audit event.

mod api_keys;
mod audit_log;
mod claims;
mod clients;
mod groups;
mod invites;
mod pictures;
mod settings;
mod users;

use latchkey::domain::client::Client;
use latchkey::domain::group::Group;
use latchkey::domain::user::{NewUser, User};
use latchkey::oidc::registration::{ClientSpec, register};
use latchkey::store::{AuditFilter, AuditRecord, PasskeyRow, Store};

use crate::browser::{Browser, Page};
use crate::people;
use crate::support::{TestServer, assert_no_inline_script};

pub const APP: &str = "http://localhost:1411";

pub async fn user_with_password(server: &TestServer, username: &str, is_admin: bool) -> User {
    let new = NewUser {
        is_admin,
        ..people::named(username)
    };
    people::with_password(&server.running().state, new).await
}

/// A browser signed in as `username` with the password.
pub async fn signed_in(server: &TestServer, username: &str) -> Browser {
    let b = Browser::new(&server.base, APP);
    people::sign_in(&b, username).await;
    b
}

pub fn store(server: &TestServer) -> &Store {
    &server.running().state.store
}

pub async fn audit(server: &TestServer, event: &str) -> Vec<AuditRecord> {
    let filter = AuditFilter {
        event: Some(event.into()),
        limit: 100,
        ..Default::default()
    };
    store(server).list_audit(&filter).await.unwrap()
}

/// The events written so far whose name starts with `prefix`.
pub async fn events_starting(server: &TestServer, prefix: &str) -> Vec<String> {
    let filter = AuditFilter {
        limit: 1000,
        ..Default::default()
    };
    store(server)
        .list_audit(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.event)
        .filter(|e| e.starts_with(prefix))
        .collect()
}

/// A page that rendered: status 200 and no inline script.
pub fn ok(page: &Page, what: &str) {
    assert_eq!(page.status, 200, "{what}: {}", page.body);
    assert_no_inline_script(&page.body);
}

/// The `value` of the `<input …>` tag that carries `marker`.
pub fn input_value(body: &str, marker: &str) -> String {
    let at = body
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in page"));
    let start = body[..at].rfind("<input").unwrap();
    let tag = &body[start..at];
    let v = tag.find("value=\"").unwrap() + "value=\"".len();
    let end = tag[v..].find('"').unwrap();
    tag[v..v + end].to_string()
}

/// Everything an admin route could change, to compare before and after.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    users: Vec<User>,
    groups: Vec<Group>,
    members: Vec<String>,
    clients: Vec<Client>,
    passkeys: usize,
    totp: bool,
    sessions: usize,
    admin_events: Vec<String>,
    links: usize,
    /// Each key's id and whether it is revoked.
    api_keys: Vec<(String, bool)>,
    /// Each service account and whether it is disabled.
    ldap_accounts: Vec<(String, bool)>,
    /// The target's app passwords and whether each is revoked.
    app_passwords: Vec<(String, bool)>,
}

/// An admin, another user with a session, a passkey and TOTP, a group with that
/// user in it, and a client.
pub struct World {
    pub server: TestServer,
    pub admin: User,
    pub target: User,
    pub target_browser: Browser,
    pub group: Group,
    pub client: Client,
    pub passkey_id: String,
    pub api_key_id: String,
    pub app_password_id: String,
}

impl World {
    pub async fn new() -> World {
        let server = TestServer::start(&[]).await;
        let admin = user_with_password(&server, "root", true).await;
        let target = user_with_password(&server, "tina", false).await;
        let target_browser = signed_in(&server, "tina").await;
        let s = store(&server);
        let group = s.create_group("staff", "Staff").await.unwrap();
        s.add_group_member(&group.id, &target.id).await.unwrap();
        let (client, _) = register(
            s,
            ClientSpec {
                name: "Wiki".into(),
                redirect_uris: vec!["https://wiki.example.org/cb".into()],
                ..ClientSpec::default()
            },
        )
        .await
        .unwrap();
        let passkey_id = "pk-1".to_string();
        s.insert_passkey(&PasskeyRow {
            id: passkey_id.clone(),
            user_id: target.id.clone(),
            credential_id: "Y3JlZA".into(),
            name: "Tina's phone".into(),
            aaguid: String::new(),
            backup_eligible: false,
            backup_state: false,
            transports: "[]".into(),
            credential: "{}".into(),
            created_at: 1,
            last_used_at: None,
        })
        .await
        .unwrap();
        let (api_key, _) = latchkey::api::issue_api_key(
            s,
            &target.id,
            "tina-script",
            3600,
            &latchkey::audit::Origin::cli(),
        )
        .await
        .unwrap();
        let origin = latchkey::audit::Origin::cli();
        latchkey::auth::ldap::create_ldap_account(s, "reader", &[], &origin)
            .await
            .unwrap();
        let (app_password, _) =
            latchkey::auth::ldap::create_app_password(s, &target, "TV", None, &origin)
                .await
                .unwrap();
        let secret = latchkey::auth::totp::new_secret();
        let state = &server.running().state;
        let sealed = state
            .encryption
            .seal(&latchkey::auth::totp_context(&target.id), &secret);
        let (_, hashes) = latchkey::auth::totp::new_recovery_codes();
        s.activate_totp(&target.id, &sealed, 0, &hashes)
            .await
            .unwrap();
        World {
            server,
            admin,
            target,
            target_browser,
            group,
            client,
            passkey_id,
            api_key_id: api_key.id,
            app_password_id: app_password.id,
        }
    }

    pub fn store(&self) -> &Store {
        store(&self.server)
    }

    pub async fn snapshot(&self) -> Snapshot {
        let s = self.store();
        Snapshot {
            users: s.list_users().await.unwrap(),
            groups: s.list_groups().await.unwrap(),
            members: s.group_member_ids(&self.group.id).await.unwrap(),
            clients: s.list_clients().await.unwrap(),
            passkeys: s.passkeys_of_user(&self.target.id).await.unwrap().len(),
            totp: s
                .user_credentials(&self.target.id)
                .await
                .unwrap()
                .totp_secret_sealed
                .is_some(),
            sessions: s.sessions_of_user(&self.target.id).await.unwrap().len(),
            admin_events: events_starting(&self.server, "admin.")
                .await
                .into_iter()
                .filter(|e| e != "admin.access_denied")
                .collect(),
            links: audit(&self.server, "auth.login_link.created").await.len(),
            api_keys: s
                .list_api_keys(None)
                .await
                .unwrap()
                .into_iter()
                .map(|k| (k.id, k.revoked_at.is_some()))
                .collect(),
            ldap_accounts: s
                .list_ldap_accounts()
                .await
                .unwrap()
                .into_iter()
                .map(|a| (a.name, a.disabled))
                .collect(),
            app_passwords: s
                .list_app_passwords(&self.target.id)
                .await
                .unwrap()
                .into_iter()
                .map(|p| (p.id, p.revoked_at.is_some()))
                .collect(),
        }
    }

    /// Every admin page, as GET paths.
    fn get_routes(&self) -> Vec<String> {
        let (t, g, c) = (&self.target.id, &self.group.id, &self.client.id);
        vec![
            "/admin".into(),
            "/admin/users".into(),
            "/admin/users?search=ti".into(),
            "/admin/users/new".into(),
            format!("/admin/users/{t}"),
            format!("/admin/users/{t}/delete"),
            "/admin/groups".into(),
            format!("/admin/groups/{g}"),
            format!("/admin/groups/{g}/delete"),
            "/admin/clients".into(),
            "/admin/clients/new".into(),
            format!("/admin/clients/{c}"),
            format!("/admin/clients/{c}/delete"),
            "/admin/api-keys".into(),
            format!("/admin/api-keys/{}/revoke", self.api_key_id),
            "/admin/ldap".into(),
            "/admin/ldap/accounts/reader/delete".into(),
            "/admin/audit".into(),
            "/admin/audit?event=auth.login.succeeded&user=tina".into(),
            "/admin/audit.csv".into(),
        ]
    }

    /// Every admin action, as POST paths with fields that would change something.
    fn post_routes(&self, me: &str) -> Vec<(String, Vec<(&'static str, String)>)> {
        let (t, g, c, pk) = (
            &self.target.id,
            &self.group.id,
            &self.client.id,
            &self.passkey_id,
        );
        let session = "x".repeat(64);
        vec![
            (
                "/admin/users/new".into(),
                vec![("username", "intruder".into()), ("is_admin", "on".into())],
            ),
            (
                format!("/admin/users/{t}"),
                vec![("username", "renamed".into()), ("is_admin", "on".into())],
            ),
            (
                format!("/admin/users/{me}"),
                vec![
                    ("username", "selfpromoted".into()),
                    ("is_admin", "on".into()),
                ],
            ),
            (format!("/admin/users/{t}/disable"), vec![]),
            (format!("/admin/users/{t}/enable"), vec![]),
            (format!("/admin/users/{t}/delete"), vec![]),
            (format!("/admin/users/{t}/login-link"), vec![]),
            (
                format!("/admin/users/{t}/sessions/revoke"),
                vec![("session", session)],
            ),
            (format!("/admin/users/{t}/passkeys/{pk}/delete"), vec![]),
            (format!("/admin/users/{t}/totp/reset"), vec![]),
            ("/admin/groups".into(), vec![("name", "intruders".into())]),
            (
                format!("/admin/groups/{g}"),
                vec![("name", "renamed".into())],
            ),
            (format!("/admin/groups/{g}/delete"), vec![]),
            (
                format!("/admin/groups/{g}/members"),
                vec![("username", "root".into())],
            ),
            (format!("/admin/groups/{g}/members/{t}/remove"), vec![]),
            (
                "/admin/clients/new".into(),
                vec![
                    ("name", "Evil".into()),
                    ("redirect_uris", "https://evil.example/cb".into()),
                ],
            ),
            (
                format!("/admin/clients/{c}"),
                vec![
                    ("name", "Evil".into()),
                    ("redirect_uris", "https://evil.example/cb".into()),
                ],
            ),
            (format!("/admin/clients/{c}/rotate-secret"), vec![]),
            (format!("/admin/clients/{c}/delete"), vec![]),
            (
                "/admin/api-keys".into(),
                vec![
                    ("name", "backdoor".into()),
                    ("owner", "root".into()),
                    ("expires_in", "730d".into()),
                ],
            ),
            (
                format!("/admin/api-keys/{}/revoke", self.api_key_id),
                vec![],
            ),
            (
                "/admin/ldap/accounts".into(),
                vec![("name", "backdoor".into())],
            ),
            ("/admin/ldap/accounts/reader/disable".into(), vec![]),
            ("/admin/ldap/accounts/reader/enable".into(), vec![]),
            ("/admin/ldap/accounts/reader/delete".into(), vec![]),
            (
                format!("/admin/users/{t}/app-passwords"),
                vec![("name", "backdoor".into()), ("expires", "".into())],
            ),
            (
                format!(
                    "/admin/users/{t}/app-passwords/{}/revoke",
                    self.app_password_id
                ),
                vec![],
            ),
        ]
    }
}

fn pairs<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}
#[tokio::test]
async fn non_admins_get_403_on_every_admin_route_and_nothing_changes() {
    let w = World::new().await;
    let mallory = user_with_password(&w.server, "mallory", false).await;
    let b = signed_in(&w.server, "mallory").await;
    // The session of the target is the one the revoke route names.
    let before = w.snapshot().await;

    for path in w.get_routes() {
        let page = b.get(&path).await;
        assert_eq!(page.status, 403, "GET {path}");
        assert!(page.body.contains("Administrators only"), "GET {path}");
        assert_no_inline_script(&page.body);
    }
    for (path, fields) in w.post_routes(&mallory.id) {
        let page = b.submit(&path, &pairs(&fields)).await;
        assert_eq!(page.status, 403, "POST {path}");
        assert!(page.body.contains("Administrators only"), "POST {path}");
    }
    assert_eq!(w.snapshot().await, before, "a non-admin changed nothing");
    let denied = audit(&w.server, "admin.access_denied").await;
    assert_eq!(
        denied.len(),
        w.get_routes().len() + w.post_routes(&mallory.id).len(),
        "every refusal is an audit event"
    );
    assert!(
        denied
            .iter()
            .all(|r| r.actor_id.as_deref() == Some(mallory.id.as_str()))
    );
    assert!(
        denied
            .iter()
            .any(|r| r.details["method"] == "POST" && r.details["path"] == "/admin/groups")
    );
    assert!(
        !store(&w.server)
            .user_by_id(&mallory.id)
            .await
            .unwrap()
            .unwrap()
            .is_admin
    );

    // Without a session: the sign-in page, and back afterwards.
    let anonymous = Browser::new(&w.server.base, APP);
    let res = anonymous.get("/admin/users").await;
    assert_eq!(res.status, 303);
    assert_eq!(
        res.location.as_deref(),
        Some("/login?next=%2Fadmin%2Fusers")
    );
    anonymous.get("/login").await;
    let res = anonymous
        .submit(&format!("/admin/users/{}/disable", w.target.id), &[])
        .await;
    assert_eq!(res.status, 303);
    assert!(res.location.unwrap().starts_with("/login"));
    assert_eq!(w.snapshot().await, before);
    w.server.stop().await;
}

#[tokio::test]
async fn admin_posts_without_csrf_are_refused() {
    let w = World::new().await;
    let b = signed_in(&w.server, "root").await;
    b.get("/admin/users").await;
    let before = w.snapshot().await;
    for (path, fields) in w.post_routes(&w.admin.id) {
        let page = b.post(&path, &pairs(&fields)).await;
        assert_eq!(page.status, 403, "POST {path} without a token");
        assert!(page.body.contains("This form has expired"), "POST {path}");
        let mut wrong = pairs(&fields);
        let token = "x".repeat(43);
        wrong.push(("csrf", &token));
        assert_eq!(b.post(&path, &wrong).await.status, 403, "POST {path}");
    }
    // A form from another site, even with a token, is refused.
    let evil = Browser::new(&w.server.base, "https://evil.example");
    evil.set_cookie("latchkey_session", &b.cookie("latchkey_session").unwrap());
    evil.set_cookie("latchkey_csrf", &b.csrf());
    let res = evil
        .submit(&format!("/admin/users/{}/disable", w.target.id), &[])
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(w.snapshot().await, before, "nothing changed");
    w.server.stop().await;
}

#[tokio::test]
async fn the_admin_link_shows_for_admins_only_and_admin_goes_to_users() {
    let w = World::new().await;
    let admin = signed_in(&w.server, "root").await;
    let page = admin.get("/account").await;
    assert!(page.body.contains("<a href=\"/admin\">Admin</a>"));
    let home = admin.get("/admin").await;
    assert_eq!(home.status, 303);
    assert_eq!(home.location.as_deref(), Some("/admin/users"));
    let page = w.target_browser.get("/account").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("href=\"/admin\""));
    w.server.stop().await;
}
