//! `PATCH /api/v1/clients/{id}`: every setting can be changed, every field is checked
//! before anything is saved, the change counts at once at the token endpoint (which
//! caches clients), and it is an audit event with what changed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::{call, key_for, user};
use crate::support::{TestServer, http};

/// A client_credentials grant: (status, the access token's JOSE `alg`).
async fn client_credentials(server: &TestServer, id: &str, secret: &str) -> (u16, Option<String>) {
    let res = http()
        .post(server.url("/token"))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    let alg = body["access_token"].as_str().map(|t| {
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(t.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        header["alg"].as_str().unwrap().to_string()
    });
    (status, alg)
}

#[tokio::test]
async fn patch_changes_every_setting_checks_all_first_and_counts_at_once() {
    let server = TestServer::start(&[]).await;
    let admin = user(&server, "root", true).await;
    let key = key_for(&server, &admin.id).await;
    for g in ["ops", "dev"] {
        let (s, _, _) = call(
            &server,
            "POST",
            "/api/v1/groups",
            Some(&key),
            Some(json!({"name": g})),
        )
        .await;
        assert_eq!(s, 201);
    }
    let (s, created, _) = call(
        &server,
        "POST",
        "/api/v1/clients",
        Some(&key),
        Some(json!({"name": "Grafana", "redirect_uris": ["https://grafana.example.org/cb"], "allowed_groups": ["ops"]})),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    let path = format!("/api/v1/clients/{id}");
    // The token endpoint now holds the client in its cache.
    assert_eq!(
        client_credentials(&server, &id, &secret).await,
        (200, Some("RS256".into()))
    );

    let change = json!({
        "name": "Grafana (prod)",
        "redirect_uris": ["https://grafana.example.org/login/generic_oauth", "http://127.0.0.1/cb"],
        "post_logout_redirect_uris": ["https://grafana.example.org/login"],
        "require_pkce": true,
        "allow_plain_pkce": true,
        "signing_alg": "ES256",
        "access_token_ttl": 900,
        "refresh_token_ttl": 86400,
        "skip_consent": true,
        "always_refresh": true,
        "launch_url": "https://grafana.example.org/",
        "allowed_groups": ["dev", "ops"],
    });
    let (s, patched, _) = call(&server, "PATCH", &path, Some(&key), Some(change.clone())).await;
    assert_eq!(s, 200, "{patched}");
    assert!(patched.get("client_secret").is_none(), "no new secret");
    let (_, shown, _) = call(&server, "GET", &path, Some(&key), None).await;
    for (field, value) in change.as_object().unwrap() {
        assert_eq!(&shown[field], value, "{field} saved");
    }
    assert_eq!(
        client_credentials(&server, &id, &secret).await,
        (200, Some("ES256".into())),
        "the new algorithm counts at once, not after the cache's ten seconds"
    );

    let events = crate::admin::audit(&server, "client.updated").await;
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.actor_id.as_deref(), Some(admin.id.as_str()));
    assert_eq!(e.subject.as_deref(), Some(id.as_str()));
    assert_eq!(e.client_id.as_deref(), Some(id.as_str()));
    assert_eq!(e.details["before"]["name"], "Grafana");
    assert_eq!(e.details["after"]["name"], "Grafana (prod)");
    assert_eq!(e.details["before"]["signing_alg"], "RS256");
    assert_eq!(e.details["after"]["allowed_groups"], json!(["dev", "ops"]));
    assert!(e.details["before"].get("id").is_none(), "only what changed");

    // Each invalid field is named; nothing at all is saved, not even the valid name.
    for (bad, field) in [
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "redirect_uris",
        ),
        (json!({"redirect_uris": []}), "redirect_uris"),
        (
            json!({"post_logout_redirect_uris": ["/relative"]}),
            "post_logout_redirect_uris",
        ),
        (json!({"signing_alg": "HS256"}), "signing_alg"),
        (json!({"access_token_ttl": 10}), "access_token_ttl"),
        (
            json!({"refresh_token_ttl": 999_999_999}),
            "refresh_token_ttl",
        ),
        (json!({"allowed_groups": ["ghosts"]}), "allowed_groups"),
        (
            json!({"launch_url": "ftp://grafana.example.org/"}),
            "launch_url",
        ),
        (json!({"name": "  "}), "name"),
    ] {
        let mut body = bad.clone();
        if field != "name" {
            body["name"] = json!("Half saved");
        }
        let (s, problem, ctype) = call(&server, "PATCH", &path, Some(&key), Some(body)).await;
        assert_eq!(
            (s, ctype.as_str()),
            (422, "application/problem+json"),
            "{bad}"
        );
        assert!(problem["errors"][field].is_string(), "{bad}: {problem}");
    }
    let (_, unchanged, _) = call(&server, "GET", &path, Some(&key), None).await;
    assert_eq!(unchanged, shown, "nothing half-saved");
    let (s, _, _) = call(
        &server,
        "PATCH",
        &path,
        Some(&key),
        Some(json!({"secret": "x"})),
    )
    .await;
    assert_eq!(s, 400, "unknown fields are refused");
    assert_eq!(
        call(
            &server,
            "PATCH",
            "/api/v1/clients/nope",
            Some(&key),
            Some(json!({"name": "x"}))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        crate::admin::audit(&server, "client.updated").await.len(),
        1
    );

    // An empty launch URL removes it.
    let (_, cleared, _) = call(
        &server,
        "PATCH",
        &path,
        Some(&key),
        Some(json!({"launch_url": ""})),
    )
    .await;
    assert!(cleared["launch_url"].is_null(), "{cleared}");

    // Public: the secret stops working at once. Confidential again: a new secret, once.
    let (s, public, _) = call(
        &server,
        "PATCH",
        &path,
        Some(&key),
        Some(json!({"public": true})),
    )
    .await;
    assert_eq!((s, public["is_public"].as_bool()), (200, Some(true)));
    assert_eq!(client_credentials(&server, &id, &secret).await.0, 401);
    let (s, back, _) = call(
        &server,
        "PATCH",
        &path,
        Some(&key),
        Some(json!({"public": false})),
    )
    .await;
    assert_eq!(s, 200);
    let new_secret = back["client_secret"]
        .as_str()
        .expect("a new secret")
        .to_string();
    assert_ne!(new_secret, secret);
    assert_eq!(client_credentials(&server, &id, &secret).await.0, 401);
    assert_eq!(client_credentials(&server, &id, &new_secret).await.0, 200);
    let last = &crate::admin::audit(&server, "client.updated").await[0];
    assert_eq!(last.details["secret_created"], true);
    assert!(!last.details.to_string().contains(&new_secret));
    server.stop().await;
}
