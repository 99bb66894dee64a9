use latchkey::audit::{self, Origin};
use latchkey::store::{AuditFilter, Store};
use serde_json::json;

use crate::on_both_backends;

async fn audit_events_filter_and_page(store: &Store) {
    let origin = Origin {
        actor_id: Some("admin-1".into()),
        ip: Some("192.0.2.7".into()),
        user_agent: Some("Firefox".into()),
    };
    for i in 0..5 {
        audit::record(
            store,
            "auth.login.failed",
            &Origin::default(),
            Some("bob"),
            json!({"reason": "bad_password", "n": i}),
        )
        .await
        .unwrap();
    }
    let created = audit::record(
        store,
        "user.created",
        &origin,
        Some("user-9"),
        json!({"username": "carol"}),
    )
    .await
    .unwrap();

    let all = store
        .list_audit(&AuditFilter {
            limit: 100,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(all[0], created, "newest first, stored as recorded");
    assert_eq!(all[0].ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(all[0].details["username"], "carol");

    let failed = AuditFilter {
        event: Some("auth.login.failed".into()),
        limit: 2,
        ..AuditFilter::default()
    };
    let page1 = store.list_audit(&failed).await.unwrap();
    assert_eq!(page1.len(), 2);
    assert_eq!(page1[0].details["n"], 4);
    let page2 = store
        .list_audit(&AuditFilter {
            before: Some(page1[1].id.clone()),
            ..failed.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        page2
            .iter()
            .map(|r| r.details["n"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [2, 1]
    );

    let by_actor = AuditFilter {
        actor_id: Some("admin-1".into()),
        limit: 10,
        ..AuditFilter::default()
    };
    assert_eq!(store.list_audit(&by_actor).await.unwrap().len(), 1);
    let future = AuditFilter {
        since: Some(created.created_at + 10),
        limit: 10,
        ..AuditFilter::default()
    };
    assert!(store.list_audit(&future).await.unwrap().is_empty());
    let window = AuditFilter {
        since: Some(created.created_at - 60),
        until: Some(created.created_at + 1),
        limit: 10,
        ..AuditFilter::default()
    };
    assert_eq!(store.list_audit(&window).await.unwrap().len(), 6);
    let before_time = AuditFilter {
        until: Some(created.created_at - 5),
        limit: 10,
        ..AuditFilter::default()
    };
    assert!(store.list_audit(&before_time).await.unwrap().is_empty());

    // A user: events they caused or that are about them. A client: named in details.
    audit::record(
        store,
        "oidc.token.issued",
        &Origin::default(),
        Some("user-9"),
        json!({"client_id": "client-1"}),
    )
    .await
    .unwrap();
    let about_user = AuditFilter {
        user_id: Some("user-9".into()),
        limit: 10,
        ..AuditFilter::default()
    };
    assert_eq!(store.list_audit(&about_user).await.unwrap().len(), 2);
    let by_admin = AuditFilter {
        user_id: Some("admin-1".into()),
        limit: 10,
        ..AuditFilter::default()
    };
    assert_eq!(store.list_audit(&by_admin).await.unwrap().len(), 1);
    let of_client = AuditFilter {
        client_id: Some("client-1".into()),
        limit: 10,
        ..AuditFilter::default()
    };
    let found = store.list_audit(&of_client).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].client_id.as_deref(), Some("client-1"));
    let combined = AuditFilter {
        event: Some("user.created".into()),
        user_id: Some("user-9".into()),
        client_id: Some("client-1".into()),
        limit: 10,
        ..AuditFilter::default()
    };
    assert!(store.list_audit(&combined).await.unwrap().is_empty());

    assert_eq!(
        store.audit_event_names().await.unwrap(),
        ["auth.login.failed", "oidc.token.issued", "user.created"]
    );
}

on_both_backends!(audit_events_filter_and_page);

/// Rows recorded at the same moment are written together (one transaction for the
/// group); each caller's row is committed, with its own details, when its call returns.
async fn concurrent_audit_rows_are_all_committed(store: &Store) {
    let calls = (0..300).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            audit::record(
                &store,
                "oidc.token.issued",
                &Origin::default(),
                Some(&format!("subject-{i}")),
                json!({"n": i}),
            )
            .await
            .unwrap()
        })
    });
    let mut recorded = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        recorded.push(call.await.unwrap());
    }
    let stored = store
        .list_audit(&AuditFilter {
            limit: 1000,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 300);
    for row in &recorded {
        let found = stored.iter().find(|s| s.id == row.id).expect("committed");
        assert_eq!(found, row);
        assert_eq!(
            found.subject.as_deref(),
            Some(format!("subject-{}", row.details["n"]).as_str())
        );
    }
}

on_both_backends!(concurrent_audit_rows_are_all_committed);
