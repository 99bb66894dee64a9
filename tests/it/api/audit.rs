//! `GET /api/v1/audit`: filters by event, actor, user, client and time, pages by
//! keyset, and exports the same selection as CSV.

use latchkey::audit::{self, Origin};
use serde_json::{Value, json};

use super::{call, key_for, user};
use crate::support::{TestServer, http};

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_audit_log_filters_pages_and_exports_the_same_events() {
    let server = TestServer::start(&[]).await;
    let admin = user(&server, "root", true).await;
    let key = key_for(&server, &admin.id).await;
    let store = &server.running().state.store;
    let by = |who: &str| Origin {
        actor_id: Some(who.to_string()),
        ..Origin::default()
    };
    for n in 0..7 {
        audit::record(
            store,
            "oidc.token.issued",
            &by("u-1"),
            Some("u-1"),
            json!({"client_id": "c-1", "n": n}),
        )
        .await
        .unwrap();
    }
    audit::record(
        store,
        "oidc.token.issued",
        &by("u-2"),
        Some("u-2"),
        json!({"client_id": "c-2"}),
    )
    .await
    .unwrap();
    audit::record(
        store,
        "user.updated",
        &by(&admin.id),
        Some("u-1"),
        json!({}),
    )
    .await
    .unwrap();

    let get = |query: String| {
        let key = key.clone();
        let server = &server;
        async move {
            call(
                server,
                "GET",
                &format!("/api/v1/audit?{query}"),
                Some(&key),
                None,
            )
            .await
        }
    };
    let (_, c1, _) = get("client=c-1&limit=3".into()).await;
    assert_eq!(ids(&c1).len(), 3);
    let next = c1["next"].as_str().unwrap().to_string();
    let (_, c1b, _) = get(format!("client=c-1&limit=3&before={next}")).await;
    let (_, c1c, _) = get(format!(
        "client=c-1&limit=3&before={}",
        c1b["next"].as_str().unwrap()
    ))
    .await;
    let mut all: Vec<String> = [ids(&c1), ids(&c1b), ids(&c1c)].concat();
    assert_eq!(all.len(), 7, "three pages hold every event of c-1 once");
    all.dedup();
    assert_eq!(all.len(), 7);
    assert!(c1c["next"].is_null());
    assert!(
        c1["items"][0]["details"]["n"] == 6 && c1c["items"][0]["details"]["n"] == 0,
        "newest first"
    );

    // User: caused it or is about them.
    let (_, u1, _) = get("user=u-1&limit=100".into()).await;
    assert_eq!(ids(&u1).len(), 8);
    let (_, actor, _) = get("actor=u-1&limit=100".into()).await;
    assert_eq!(ids(&actor).len(), 7);
    let (_, both, _) = get("user=u-1&event=user.updated".into()).await;
    assert_eq!(both["items"][0]["actor_id"], json!(admin.id));
    assert_eq!(ids(&both).len(), 1);
    let now = latchkey::store::now();
    let (_, later, _) = get(format!("since={}", now + 5)).await;
    assert!(ids(&later).is_empty());
    let (_, window, _) = get(format!("since={}&until={}&client=c-2", now - 60, now + 1)).await;
    assert_eq!(ids(&window).len(), 1);

    let (s, problem, ctype) = get("event=x&since=yesterday".into()).await;
    assert_eq!((s, ctype.as_str()), (422, "application/problem+json"));
    assert!(problem["errors"]["since"].is_string(), "{problem}");

    // The CSV export: the same filter, every page, formulas defused.
    audit::record(
        store,
        "oidc.token.issued",
        &by("u-3"),
        Some("=HYPERLINK(\"x\")"),
        json!({"client_id": "c-1"}),
    )
    .await
    .unwrap();
    let res = http()
        .get(server.url("/api/v1/audit?format=csv&client=c-1&limit=2"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
    assert_eq!(
        lines[0],
        "id,time,event,actor,subject,client,ip,user_agent,details"
    );
    assert_eq!(lines.len(), 1 + 8, "every event of c-1, not one page");
    assert!(
        lines[1].contains("\"'=HYPERLINK(\"\"x\"\")\""),
        "{}",
        lines[1]
    );
    assert!(lines[1..].iter().all(|l| l.contains(",\"c-1\",")));
    server.stop().await;
}

/// An export larger than a page of the log (1 000 events) is written page by page as
/// the client reads it, and holds every event once, newest first.
#[tokio::test]
async fn the_csv_export_streams_every_page() {
    let server = TestServer::start(&[]).await;
    let admin = user(&server, "root", true).await;
    let key = key_for(&server, &admin.id).await;
    let store = &server.running().state.store;
    const EVENTS: usize = 2_345;
    for n in 0..EVENTS {
        audit::record(
            store,
            "oidc.token.issued",
            &Origin::default(),
            None,
            json!({"client_id": "c-many", "n": n}),
        )
        .await
        .unwrap();
    }
    let res = http()
        .get(server.url("/api/v1/audit?format=csv&client=c-many"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let csv = res.text().await.unwrap();
    let rows: Vec<&str> = csv.trim_end().split("\r\n").skip(1).collect();
    assert_eq!(rows.len(), EVENTS, "every event, across three pages");
    let ids: Vec<&str> = rows.iter().map(|r| &r[1..37]).collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "newest first, each once"
    );
    let mut numbers: Vec<usize> = rows
        .iter()
        .map(|r| {
            let n = r.rsplit("\"\"n\"\":").next().unwrap();
            n[..n.find('}').unwrap()].parse().unwrap()
        })
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..EVENTS).collect::<Vec<_>>());
    server.stop().await;
}
