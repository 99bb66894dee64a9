//! Runtime settings: the admin page, the API, and that a change takes effect at once
//! while an operator-given value stays fixed.

use latchkey::audit::Origin;
use serde_json::{Value, json};

use super::{World, audit, ok, signed_in, user_with_password};
use crate::support::{TestServer, assert_no_inline_script, http};

#[tokio::test]
async fn an_admin_changes_settings_and_they_apply_at_once() {
    let w = World::new().await;
    let b = signed_in(&w.server, "root").await;
    let page = b.get("/admin/settings").await;
    ok(&page, "settings");
    assert!(page.body.contains("data-setting=\"app_name\""));
    assert!(page.body.contains("value=\"Latchkey\""));

    // A bad value saves nothing, not even the good values next to it.
    let bad = b
        .submit(
            "/admin/settings",
            &[("app_name", "Home SSO"), ("session_idle_timeout", "soon")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_no_inline_script(&bad.body);
    assert!(bad.body.contains("id=\"error-session_idle_timeout\""));
    assert!(
        bad.body.contains("value=\"soon\""),
        "the typed text is kept"
    );
    assert_eq!(w.server.running().state.app_name(), "Latchkey");
    let longer = b
        .submit(
            "/admin/settings",
            &[("session_idle_timeout", "60d"), ("session_lifetime", "30d")],
        )
        .await;
    assert_eq!(longer.status, 422);
    assert!(
        longer
            .body
            .contains("must not be longer than the session lifetime")
    );
    assert!(audit(&w.server, "admin.settings.updated").await.is_empty());

    let res = b
        .submit(
            "/admin/settings",
            &[
                ("app_name", "Home SSO"),
                ("password_login", "disabled"),
                ("signup_mode", "invite"),
                ("session_idle_timeout", "7d"),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let events = audit(&w.server, "admin.settings.updated").await;
    assert_eq!(events.len(), 1);
    let details = &events[0].details;
    let mut keys: Vec<&String> = details["after"].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["app_name", "password_login", "signup_mode"],
        "unchanged values are not changes"
    );
    assert_eq!(details["before"]["app_name"], "Latchkey");
    assert_eq!(details["after"]["app_name"], "Home SSO");
    assert_eq!(events[0].actor_id.as_deref(), Some(w.admin.id.as_str()));

    // A passkey made from now on carries the new name, which authenticators show.
    let start = b.call("/webauthn/register/start").await;
    assert_eq!(start.status, 200, "{}", start.body);
    let start: Value = serde_json::from_str(&start.body).unwrap();
    assert_eq!(start["options"]["publicKey"]["rp"]["name"], "Home SSO");

    // The new name is on every page, and passwords are refused from now on.
    let login = crate::browser::Browser::new(&w.server.base, super::APP);
    let page = login.get("/login").await;
    assert!(page.body.contains("Home SSO"));
    let refused = login
        .submit(
            "/login/password",
            &[("login", "tina"), ("password", "velvet tractor ocean lamp")],
        )
        .await;
    assert_ne!(refused.status, 303, "password sign-in is off");
    assert!(login.cookie("latchkey_session").is_none());
    let missing = login.get("/no-such-page").await;
    assert!(
        missing.body.contains("Home SSO"),
        "error pages carry the name too"
    );

    // Emptying a box returns to the default.
    let res = b.submit("/admin/settings", &[("app_name", "")]).await;
    assert_eq!(res.status, 303);
    assert_eq!(w.server.running().state.app_name(), "Latchkey");
    let stored = w.store().all_settings().await.unwrap();
    assert!(!stored.contains_key("app_name"));
    assert_eq!(stored["password_login"], "disabled");
}

#[tokio::test]
async fn an_operator_given_setting_is_read_only() {
    let server = TestServer::start(&[("LATCHKEY_SIGNUP_MODE", "open")]).await;
    user_with_password(&server, "root", true).await;
    let b = signed_in(&server, "root").await;
    let page = b.get("/admin/settings").await;
    ok(&page, "settings");
    let at = page.body.find("data-setting=\"signup_mode\"").unwrap();
    let row = &page.body[at..at + page.body[at..].find("</div>").unwrap()];
    assert!(row.contains(" disabled"), "{row}");
    assert!(row.contains("LATCHKEY_SIGNUP_MODE"));

    let res = b
        .submit("/admin/settings", &[("signup_mode", "disabled")])
        .await;
    assert_eq!(res.status, 422);
    assert!(res.body.contains("is set by LATCHKEY_SIGNUP_MODE"));
    assert!(
        server
            .running()
            .state
            .store
            .all_settings()
            .await
            .unwrap()
            .is_empty()
    );
    server.stop().await;
}

async fn api(server: &TestServer, method: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = http()
        .request(method.parse().unwrap(), server.url("/api/v1/settings"))
        .bearer_auth(key);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn settings_over_the_api_are_admin_only_and_all_or_nothing() {
    let server = TestServer::start(&[("LATCHKEY_TOTP_REQUIRED", "true")]).await;
    let admin = user_with_password(&server, "root", true).await;
    let someone = user_with_password(&server, "tina", false).await;
    let store = &server.running().state.store;
    let issue = |id: String| async move {
        latchkey::api::issue_api_key(store, &id, "test", 3600, &Origin::cli())
            .await
            .unwrap()
            .1
    };
    let admin_key = issue(admin.id.clone()).await;
    let user_key = issue(someone.id.clone()).await;

    let (status, _) = api(&server, "GET", &user_key, None).await;
    assert_eq!(status, 403);
    let (status, _) = api(&server, "PATCH", &user_key, Some(json!({"app_name": "X"}))).await;
    assert_eq!(status, 403);

    let (status, body) = api(&server, "GET", &admin_key, None).await;
    assert_eq!(status, 200);
    let totp = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == "totp_required")
        .unwrap()
        .clone();
    assert_eq!(totp["origin"], "operator");
    assert_eq!(totp["editable"], false);
    assert_eq!(totp["env"], "LATCHKEY_TOTP_REQUIRED");

    let (status, body) = api(
        &server,
        "PATCH",
        &admin_key,
        Some(json!({"app_name": "Ours", "totp_required": "false", "signup_mode": "sometimes"})),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body["errors"]["totp_required"]
            .as_str()
            .unwrap()
            .contains("LATCHKEY_TOTP_REQUIRED")
    );
    assert!(
        body["errors"]["signup_mode"]
            .as_str()
            .unwrap()
            .contains("sometimes")
    );
    assert!(body["errors"].get("app_name").is_none());
    assert_eq!(
        server.running().state.app_name(),
        "Latchkey",
        "nothing was saved"
    );

    let (status, body) = api(
        &server,
        "PATCH",
        &admin_key,
        Some(json!({"app_name": "Ours", "signup_mode": "open"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.running().state.app_name(), "Ours");
    let events = audit(&server, "admin.settings.updated").await;
    assert_eq!(events[0].details["after"].as_object().unwrap().len(), 2);
    server.stop().await;
}
