//! The audit log in the admin console: every event, filtered by event, user, client
//! and dates, a page at a time, and exported as CSV with the same filters.

use latchkey::audit::{self, Origin};
use serde_json::json;

use super::{World, ok, signed_in};

fn rows(body: &str) -> usize {
    body.matches("data-audit-row=").count()
}

fn next_link(body: &str) -> Option<String> {
    let at = body.find("rel=\"next\"")?;
    let start = body[..at].rfind("href=\"")? + 6;
    let end = start + body[start..].find('"')?;
    Some(body[start..end].replace("&#38;", "&").replace("&amp;", "&"))
}

#[tokio::test]
async fn admins_filter_page_and_export_the_audit_log() {
    let w = World::new().await;
    let store = w.store();
    let tina = Origin {
        actor_id: Some(w.target.id.clone()),
        ip: Some("192.0.2.9".into()),
        ..Origin::default()
    };
    for n in 0..60 {
        audit::record(
            store,
            "oidc.token.issued",
            &tina,
            Some(&w.target.id),
            json!({"client_id": w.client.id, "n": n}),
        )
        .await
        .unwrap();
    }
    let b = signed_in(&w.server, "root").await;

    let all = b.get("/admin/audit").await;
    ok(&all, "audit log");
    assert!(
        all.body
            .contains("href=\"/admin/audit\" aria-current=\"page\"")
    );
    assert_eq!(rows(&all.body), 50, "a page");
    assert!(
        all.body.contains("<option value=\"oidc.token.issued\">"),
        "event names to pick"
    );
    assert!(
        all.body
            .contains(&format!("<option value=\"{}\">Wiki</option>", w.client.id))
    );

    let filtered = format!(
        "/admin/audit?event=oidc.token.issued&user=tina&client={}",
        w.client.id
    );
    let first = b.get(&filtered).await;
    ok(&first, "filtered");
    assert_eq!(rows(&first.body), 50);
    assert!(
        first
            .body
            .contains(&format!("href=\"/admin/clients/{}\">Wiki</a>", w.client.id))
    );
    assert!(
        first
            .body
            .contains(&format!("href=\"/admin/users/{}\">tina</a>", w.target.id))
    );
    let next = next_link(&first.body).expect("a next page");
    let second = b.get(&next).await;
    ok(&second, "second page");
    assert_eq!(rows(&second.body), 10, "the rest, none twice");
    assert!(next_link(&second.body).is_none());
    assert!(second.body.contains(">Newest</a>"));

    let today =
        humantime::format_rfc3339(std::time::SystemTime::now()).to_string()[..10].to_string();
    let dated = b
        .get(&format!(
            "/admin/audit?event=oidc.token.issued&from={today}&to={today}"
        ))
        .await;
    assert_eq!(rows(&dated.body), 50);
    let past = b
        .get("/admin/audit?event=oidc.token.issued&to=2001-01-01")
        .await;
    ok(&past, "nothing then");
    assert_eq!(rows(&past.body), 0);
    assert!(past.body.contains("No events match."));
    let other = b.get("/admin/audit?event=admin.client.deleted").await;
    assert_eq!(rows(&other.body), 0);

    let bad = b.get("/admin/audit?from=yesterday").await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("id=\"from-error\""));
    let nobody = b.get("/admin/audit?user=nobody").await;
    assert_eq!(nobody.status, 422);
    assert!(nobody.body.contains("id=\"user-error\""));
    let reversed = b.get("/admin/audit?from=2030-01-02&to=2030-01-01").await;
    assert!(reversed.body.contains("id=\"to-error\""));

    // The export link carries the filters, and the file holds every match.
    assert!(first.body.replace("&#38;", "&").contains(&format!(
        "href=\"/admin/audit.csv?event=oidc.token.issued&user=tina&client={}&from=&to=\"",
        w.client.id
    )));
    let csv = b
        .get(&format!(
            "/admin/audit.csv?event=oidc.token.issued&user=tina&client={}",
            w.client.id
        ))
        .await;
    assert_eq!(csv.status, 200);
    let lines: Vec<&str> = csv.body.trim_end().split("\r\n").collect();
    assert_eq!(
        lines[0],
        "id,time,event,actor,subject,client,ip,user_agent,details"
    );
    assert_eq!(lines.len(), 61);
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.contains("\"oidc.token.issued\""))
    );
    w.server.stop().await;
}
