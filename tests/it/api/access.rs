//! Who may call what, driven by the OpenAPI document so that a new route cannot be
//! missed: every route that needs a key refuses none, an expired, a revoked one and a
//! disabled owner's; every route documented as admin-only (403) refuses a user's key
//! and changes nothing; and every change an administrator makes is an audit event
//! naming who, what, the target and a before/after summary.

use latchkey::audit::Origin;
use latchkey::domain::client::Client;
use latchkey::domain::group::Group;
use latchkey::domain::user::User;
use latchkey::oidc::registration::{ClientSpec, register};
use latchkey::store::{AuditFilter, ClaimOwner, Store};
use serde_json::{Value, json};

use super::openapi::{fetch_document, operations};
use super::{call, key_for, user};
use crate::support::TestServer;

struct World {
    server: TestServer,
    admin: User,
    admin_key: String,
    nora_key: String,
    target: User,
    group: Group,
    client: Client,
    spare_key_id: String,
    app_password_id: String,
    proxy_app_id: String,
    expired_key: String,
    revoked_key: String,
    disabled_key: String,
}

impl World {
    async fn new() -> World {
        let server = TestServer::start(&[]).await;
        let admin = user(&server, "root", true).await;
        let admin_key = key_for(&server, &admin.id).await;
        let nora = user(&server, "nora", false).await;
        let nora_key = key_for(&server, &nora.id).await;
        let target = user(&server, "tess", false).await;
        let store = &server.running().state.store;
        let group = store.create_group("staff", "Staff").await.unwrap();
        store.add_group_member(&group.id, &target.id).await.unwrap();
        store
            .set_custom_claim(ClaimOwner::Group(&group.id), "team", "blue")
            .await
            .unwrap();
        let (client, _) = register(
            store,
            ClientSpec {
                name: "Wiki".into(),
                redirect_uris: vec!["https://wiki.example.org/cb".into()],
                ..ClientSpec::default()
            },
        )
        .await
        .unwrap();
        let (spare, _) =
            latchkey::api::issue_api_key(store, &admin.id, "spare", 3600, &Origin::cli())
                .await
                .unwrap();
        // An admin's keys that must not work: expired, revoked, owner disabled.
        let expired_key = "lk_expired-admin-key".to_string();
        store
            .insert_api_key(
                &admin.id,
                "old",
                &latchkey::crypto::hash_secret(&expired_key),
                latchkey::store::now() - 1,
            )
            .await
            .unwrap();
        let revoked_key = key_for(&server, &admin.id).await;
        let revoked = store
            .use_api_key(&latchkey::crypto::hash_secret(&revoked_key))
            .await
            .unwrap()
            .unwrap();
        store.revoke_api_key(&revoked.id).await.unwrap();
        let origin = Origin::cli();
        latchkey::auth::ldap::create_ldap_account(store, "reader", &[], &origin)
            .await
            .unwrap();
        let (app_password, _) =
            latchkey::auth::ldap::create_app_password(store, &target, "TV", None, &origin)
                .await
                .unwrap();
        let app_password_id = app_password.id;
        let proxy_app = latchkey::proxy::apps::create(
            store,
            latchkey::domain::proxy_app::AppSpec {
                name: "Dashboard".into(),
                hosts: vec!["dash.example.org".into()],
                ..Default::default()
            },
            &origin,
        )
        .await
        .unwrap();
        let gone = user(&server, "gone", true).await;
        let disabled_key = key_for(&server, &gone.id).await;
        store.set_user_disabled(&gone.id, true).await.unwrap();
        World {
            server,
            admin,
            admin_key,
            nora_key,
            target,
            group,
            client,
            spare_key_id: spare.id,
            app_password_id,
            proxy_app_id: proxy_app.id,
            expired_key,
            revoked_key,
            disabled_key,
        }
    }

    fn store(&self) -> &Store {
        &self.server.running().state.store
    }

    /// The path with each `{param}` filled with a real id of this world.
    fn fill(&self, path: &str) -> String {
        let resource = path.split('/').nth(3).unwrap_or_default();
        path.split('/')
            .map(|seg| match (resource, seg) {
                ("users", "{id}") => self.target.id.clone(),
                ("groups", "{id}") => self.group.id.clone(),
                ("clients", "{id}") => self.client.id.clone(),
                ("api-keys", "{id}") => self.spare_key_id.clone(),
                ("proxy-apps", "{id}") => self.proxy_app_id.clone(),
                ("ldap", "{name}") => "reader".into(),
                (_, "{app_password_id}") => self.app_password_id.clone(),
                (_, "{user_id}") => self.target.id.clone(),
                (_, "{key}") => "team".into(),
                (_, s) if s.starts_with('{') => {
                    panic!("teach this test what to put for {s} in {path}")
                }
                (_, s) => s.to_string(),
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Everything a refused request could have changed.
    async fn snapshot(&self) -> Value {
        let s = self.store();
        let keys: Vec<Value> = s
            .list_api_keys(None)
            .await
            .unwrap()
            .into_iter()
            .map(|k| json!([k.id, k.user_id, k.name, k.expires_at, k.revoked_at]))
            .collect();
        json!({
            "users": s.list_users().await.unwrap(),
            "groups": s.list_groups().await.unwrap(),
            "members": s.group_member_ids(&self.group.id).await.unwrap(),
            "group_claims": s.custom_claims(ClaimOwner::Group(&self.group.id)).await.unwrap(),
            "user_claims": s.custom_claims(ClaimOwner::User(&self.target.id)).await.unwrap(),
            "clients": s.list_clients().await.unwrap(),
            "keys": keys,
            "ldap_accounts": s.list_ldap_accounts().await.unwrap(),
            "app_passwords": s.list_app_passwords(&self.target.id).await.unwrap(),
            "proxy_apps": s.proxy_apps().await.unwrap(),
        })
    }

    async fn events_by_admin(&self) -> Vec<latchkey::store::AuditRecord> {
        self.store()
            .list_audit(&AuditFilter {
                actor_id: Some(self.admin.id.clone()),
                limit: 1000,
                ..AuditFilter::default()
            })
            .await
            .unwrap()
    }
}

/// The documented example of an operation's request body, with ids made real.
fn example_body(doc: &Value, op: &Value, w: &World) -> Option<Value> {
    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
    let name = schema["$ref"].as_str()?.rsplit('/').next()?;
    let mut example = doc["components"]["schemas"][name]["example"].clone();
    assert!(
        example.is_object(),
        "the request body {name} needs an example in the document"
    );
    if example.get("user_id").is_some() {
        example["user_id"] = json!(w.target.id);
    }
    Some(example)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_refuses_bad_keys_and_users_and_audits_admins() {
    let probe = TestServer::start(&[]).await;
    let doc = fetch_document(&probe).await;
    probe.stop().await;
    let mut checked_403 = 0;
    let mut checked_audit = 0;
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        if op.get("security").is_none() {
            continue;
        }
        let w = World::new().await;
        let concrete = w.fill(&path);
        let body = example_body(&doc, op, &w);
        let what = format!("{method} {path}");

        for (bad, why) in [
            (None, "no key"),
            (Some(w.expired_key.as_str()), "an expired key"),
            (Some(w.revoked_key.as_str()), "a revoked key"),
            (Some(w.disabled_key.as_str()), "a disabled owner's key"),
            (Some("lk_made-up"), "an unknown key"),
        ] {
            let (status, problem, ctype) =
                call(&w.server, &method, &concrete, bad, body.clone()).await;
            assert_eq!(status, 401, "{what} with {why}");
            assert_eq!(ctype, "application/problem+json", "{what} with {why}");
            assert_eq!(problem["status"], 401);
        }

        if op["responses"].get("403").is_some() {
            let before = w.snapshot().await;
            let (status, problem, ctype) = call(
                &w.server,
                &method,
                &concrete,
                Some(&w.nora_key),
                body.clone(),
            )
            .await;
            assert_eq!(status, 403, "{what} with a user's key: {problem}");
            assert_eq!(ctype, "application/problem+json");
            assert_eq!(
                w.snapshot().await,
                before,
                "{what}: a refusal changes nothing"
            );
            checked_403 += 1;
        }

        // An operation documented with no success (making API keys with a key) refuses
        // an administrator's key too, and changes nothing.
        let succeeds = op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .any(|code| code.starts_with('2'));
        if !succeeds {
            let before = w.snapshot().await;
            let (status, problem, _) = call(
                &w.server,
                &method,
                &concrete,
                Some(&w.admin_key),
                body.clone(),
            )
            .await;
            assert_eq!(status, 403, "{what} as an administrator: {problem}");
            assert_eq!(w.snapshot().await, before, "{what}: changes nothing");
            w.server.stop().await;
            continue;
        }
        let before = w.events_by_admin().await.len();
        let (status, answer, _) = call(
            &w.server,
            &method,
            &concrete,
            Some(&w.admin_key),
            body.clone(),
        )
        .await;
        assert!(
            (200..300).contains(&status),
            "{what} as an administrator with the documented example: {status} {answer}"
        );
        if method != "GET" {
            let events = w.events_by_admin().await;
            assert!(events.len() > before, "{what} is an audit event");
            let newest = &events[0];
            assert!(
                newest.subject.is_some(),
                "{what}: {} names its target",
                newest.event
            );
            assert!(
                newest.details.get("before").is_some() || newest.details.get("after").is_some(),
                "{what}: {} has a before/after summary: {}",
                newest.event,
                newest.details
            );
            assert!(newest.ip.is_some(), "{what}: from where");
            checked_audit += 1;
        }
        w.server.stop().await;
    }
    assert!(checked_403 >= 20, "{checked_403} admin routes checked");
    assert!(checked_audit >= 15, "{checked_audit} changes checked");
}

#[tokio::test]
async fn a_users_key_sees_only_its_owner() {
    let w = World::new().await;
    let nora = w.store().user_by_login("nora").await.unwrap().unwrap();
    let (s, me, _) = call(&w.server, "GET", "/api/v1/me", Some(&w.nora_key), None).await;
    assert_eq!((s, me["id"].as_str()), (200, Some(nora.id.as_str())));
    let (s, _, _) = call(
        &w.server,
        "GET",
        &format!("/api/v1/users/{}", nora.id),
        Some(&w.nora_key),
        None,
    )
    .await;
    assert_eq!(s, 200, "a user reads themself");
    // Own keys: list, revoke; never anyone else's.
    let (made, _) =
        latchkey::api::issue_api_key(w.store(), &nora.id, "laptop", 3600, &Origin::cli())
            .await
            .unwrap();
    let (_, listed, _) = call(
        &w.server,
        "GET",
        "/api/v1/api-keys",
        Some(&w.nora_key),
        None,
    )
    .await;
    let owners: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(owners, [nora.id.as_str(), nora.id.as_str()]);
    let (s, _, _) = call(
        &w.server,
        "DELETE",
        &format!("/api/v1/api-keys/{}", made.id),
        Some(&w.nora_key),
        None,
    )
    .await;
    assert_eq!(s, 204, "a user revokes their own key");
    let (_, own, _) = call(
        &w.server,
        "GET",
        &format!("/api/v1/audit?actor={}", w.admin.id),
        Some(&w.nora_key),
        None,
    )
    .await;
    let items = own["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(
        items.iter().all(|r| r["actor_id"] == json!(nora.id)),
        "a user's audit log is theirs only, whatever they ask for"
    );
    w.server.stop().await;
}

/// Security review #9: a short-lived key made a two-year key for its owner that outlived
/// its revocation. A request an API key authenticates makes no keys, an administrator's
/// included: 403 with a clear reason, and no key is made.
#[tokio::test]
async fn an_api_key_cannot_make_api_keys() {
    let w = World::new().await;
    let nora = w.store().user_by_login("nora").await.unwrap().unwrap();
    let (short, short_key) =
        latchkey::api::issue_api_key(w.store(), &nora.id, "short", 120, &Origin::cli())
            .await
            .unwrap();
    let ids = || async {
        let keys = w.store().list_api_keys(None).await.unwrap();
        keys.into_iter().map(|k| k.id).collect::<Vec<_>>()
    };
    let before = ids().await;
    for (key, body) in [
        (&short_key, json!({"name": "x", "expires_in": 63_072_000})),
        (&w.admin_key, json!({"name": "x", "expires_in": 600})),
        (
            &w.admin_key,
            json!({"name": "x", "expires_in": 600, "user_id": nora.id}),
        ),
    ] {
        let (s, problem, ctype) =
            call(&w.server, "POST", "/api/v1/api-keys", Some(key), Some(body)).await;
        assert_eq!((s, ctype.as_str()), (403, "application/problem+json"));
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("an API key cannot create API keys"),
            "{problem}"
        );
    }
    assert_eq!(ids().await, before, "no key was made");
    // Revoking the short key ends everything it could do.
    latchkey::api::revoke_api_key(w.store(), &short, &Origin::cli())
        .await
        .unwrap();
    let (s, _, _) = call(&w.server, "GET", "/api/v1/me", Some(&short_key), None).await;
    assert_eq!(s, 401);
    w.server.stop().await;
}
