//! API keys in the admin console: made for any user with a required expiry and
//! shown once, listed with owner and last use, revoked after a confirmation.

use super::{World, audit, input_value, ok, signed_in};
use crate::support::{assert_no_inline_script, http};

async fn me_status(w: &World, key: &str) -> (u16, serde_json::Value) {
    let res = http()
        .get(w.server.url("/api/v1/me"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or_default())
}

#[tokio::test]
async fn admins_make_list_and_revoke_api_keys() {
    let w = World::new().await;
    let b = signed_in(&w.server, "root").await;
    let page = b.get("/admin/api-keys").await;
    ok(&page, "API keys");
    assert!(
        page.body
            .contains("href=\"/admin/api-keys\" aria-current=\"page\"")
    );
    assert!(page.body.contains("tina-script"));
    assert!(page.body.contains(">tina</a>"), "the owner is named");
    assert!(page.body.contains("never"), "not used yet");
    let count = w.store().list_api_keys(None).await.unwrap().len();

    for (fields, marker) in [
        (
            vec![("name", "ci"), ("owner", "tina"), ("expires_in", "")],
            "expiry-error",
        ),
        (
            vec![("name", "ci"), ("owner", "tina"), ("expires_in", "forever")],
            "expiry-error",
        ),
        (
            vec![("name", "ci"), ("owner", "nobody"), ("expires_in", "30d")],
            "owner-error",
        ),
        (
            vec![("name", " "), ("owner", "tina"), ("expires_in", "30d")],
            "name-error",
        ),
    ] {
        let page = b.submit("/admin/api-keys", &fields).await;
        assert_eq!(page.status, 422, "{fields:?}");
        assert_no_inline_script(&page.body);
        assert!(
            page.body.contains(&format!("id=\"{marker}\"")),
            "{fields:?}"
        );
    }
    assert_eq!(
        w.store().list_api_keys(None).await.unwrap().len(),
        count,
        "nothing made"
    );

    let made = b
        .submit(
            "/admin/api-keys",
            &[
                ("name", "backup job"),
                ("owner", "tina@example.org"),
                ("expires_in", "30d"),
            ],
        )
        .await;
    ok(&made, "key made");
    assert!(made.body.contains("shown only now"));
    assert!(
        made.body
            .contains("<script src=\"/static/copy.js\" defer></script>")
    );
    assert!(made.body.contains("data-copy=\"api-key\""), "a copy button");
    let key = input_value(&made.body, "data-api-key");
    assert!(key.starts_with("lk_"));
    let (status, me) = me_status(&w, &key).await;
    assert_eq!(
        (status, me["username"].as_str()),
        (200, Some("tina")),
        "it acts as its owner"
    );
    let stored = w
        .store()
        .list_api_keys(Some(&w.target.id))
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.name == "backup job")
        .unwrap();
    let lifetime = stored.expires_at - stored.created_at;
    assert_eq!(lifetime, 30 * 86_400);
    let created = audit(&w.server, "api_key.created").await;
    let event = created
        .iter()
        .find(|e| e.details["key_id"] == stored.id.as_str())
        .unwrap();
    assert_eq!(event.actor_id.as_deref(), Some(w.admin.id.as_str()));
    assert_eq!(event.subject.as_deref(), Some(w.target.id.as_str()));
    assert!(
        !event.details.to_string().contains(&key),
        "never the key itself"
    );

    let list = b.get("/admin/api-keys").await;
    assert!(!list.body.contains(&key), "the key is not shown again");
    let row_start = list
        .body
        .find(&format!("data-key-row=\"{}\"", stored.id))
        .unwrap();
    let row = &list.body[row_start..row_start + list.body[row_start..].find("</tr>").unwrap()];
    assert!(row.contains("backup job") && row.contains("active"));
    assert!(!row.contains("never"), "last use is shown: {row}");
    let js = http()
        .get(w.server.url("/static/copy.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);

    let revoke = format!("/admin/api-keys/{}/revoke", stored.id);
    let confirm = b.get(&revoke).await;
    ok(&confirm, "revoke confirmation");
    assert!(confirm.body.contains("Revoke the API key backup job?"));
    assert_eq!(me_status(&w, &key).await.0, 200, "asking changes nothing");
    let done = b.submit(&revoke, &[]).await;
    assert_eq!(
        done.location.as_deref(),
        Some("/admin/api-keys?done=api_key_revoked")
    );
    assert_eq!(
        me_status(&w, &key).await.0,
        401,
        "a revoked key stops working"
    );
    let revoked = audit(&w.server, "api_key.revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].actor_id.as_deref(), Some(w.admin.id.as_str()));
    assert_eq!(revoked[0].details["key_id"], stored.id.as_str());
    let again = b.submit(&revoke, &[]).await;
    assert_eq!(
        again.location.as_deref(),
        Some("/admin/api-keys?error=not_found")
    );
    assert_eq!(audit(&w.server, "api_key.revoked").await.len(), 1);
    let list = b.get("/admin/api-keys").await;
    assert!(list.body.contains("revoked"));
    w.server.stop().await;
}
