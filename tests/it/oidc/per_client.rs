//! Per-client grant types and scopes (issue 25, point 3): a client gets only the
//! scopes it was allowed, and a grant type it may not use is `unauthorized_client`.

use super::*;
use crate::support::{latchkey, run, stderr, stdout};

fn list(items: &[&str]) -> Option<Vec<String>> {
    Some(items.iter().map(|s| s.to_string()).collect())
}

#[tokio::test]
async fn a_client_is_given_only_its_scopes_and_grants() {
    let server = TestServer::start(&[]).await;
    let (b, _) = signed_in_browser(&server, "sam").await;
    let rp = client(
        &server,
        ClientSpec {
            scopes: list(&["openid", "email"]),
            grant_types: list(&["authorization_code"]),
            ..spec("ES256")
        },
    )
    .await;
    // The consent page shows what is left of "openid profile email groups offline_access".
    let page = b.get(&authorize_path(&rp, "")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for (scope, shown) in [
        ("openid", true),
        ("email", true),
        ("profile", false),
        ("groups", false),
    ] {
        let item = format!("data-scope=\"{scope}\"");
        assert_eq!(page.body.contains(&item), shown, "{scope}: {}", page.body);
    }
    let code = get_code(&b, &rp, "").await;
    let (status, t) = redeem(&server, &rp, &code).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["scope"], "openid email");
    assert!(
        t.get("refresh_token").is_none(),
        "no refresh_token grant: no refresh token"
    );
    let claims = verify_id_token(&server, t["id_token"].as_str().unwrap()).await;
    assert!(claims.contains_key("email") && !claims.contains_key("groups"));
    assert!(
        !claims.contains_key("preferred_username"),
        "no profile scope"
    );
    for grant in [
        vec![("grant_type", "client_credentials")],
        vec![("grant_type", "refresh_token"), ("refresh_token", "x")],
    ] {
        let (status, e, _) = token(&server, &rp, &grant).await;
        assert_eq!(
            (status, e["error"].as_str()),
            (400, Some("unauthorized_client")),
            "{grant:?}"
        );
    }
    // A client without the code flow cannot start it.
    let machine = client(
        &server,
        ClientSpec {
            grant_types: list(&["client_credentials"]),
            ..spec("RS256")
        },
    )
    .await;
    let res = b.get(&authorize_path(&machine, "")).await;
    assert_eq!(
        query_of(res.location.as_deref().unwrap())["error"],
        "unauthorized_client"
    );
    let (status, _, _) = token(&server, &machine, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test]
async fn the_api_and_the_cli_set_them_with_the_rfc_names_and_refuse_what_cannot_be() {
    let server = TestServer::start(&[]).await;
    let admin = crate::api::user(&server, "root", true).await;
    let key = crate::api::key_for(&server, &admin.id).await;
    for (body, field) in [
        (
            json!({"public": true, "grant_types": ["client_credentials"]}),
            "grant_types",
        ),
        (
            json!({"grant_types": ["urn:ietf:params:oauth:grant-type:device_code"]}),
            "grant_types",
        ),
        (json!({"grant_types": ["implicit"]}), "grant_types"),
        (json!({"scopes": ["email"]}), "scopes"),
        (json!({"scopes": ["openid", "admin"]}), "scopes"),
    ] {
        let mut b = json!({"name": "X", "redirect_uris": [CB]});
        b.as_object_mut()
            .unwrap()
            .extend(body.as_object().unwrap().clone());
        let (status, problem, _) =
            crate::api::call(&server, "POST", "/api/v1/clients", Some(&key), Some(b)).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert!(problem["errors"][field].is_string(), "{problem}");
    }
    let (status, c, _) = crate::api::call(
        &server,
        "POST",
        "/api/v1/clients",
        Some(&key),
        Some(json!({"name": "Old style", "redirect_uris": [CB]})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        c["grant_types"],
        json!(["authorization_code", "refresh_token", "client_credentials"]),
        "the defaults stay what they were"
    );
    assert_eq!(c["scopes"].as_array().unwrap().len(), 5);
    // Turning it public drops client_credentials by itself.
    let id = c["client_id"].as_str().unwrap();
    let (status, c, _) = crate::api::call(
        &server,
        "PATCH",
        &format!("/api/v1/clients/{id}"),
        Some(&key),
        Some(json!({"public": true})),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(
        c["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    server.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let out = run(latchkey(dir.path(), &[]).args([
        "clients",
        "create",
        "--name",
        "CLI",
        "--redirect-uri",
        CB,
        "--grant-type",
        "authorization_code",
        "--scope",
        "openid",
        "--scope",
        "groups",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let c: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(c["grant_types"], json!(["authorization_code"]));
    assert_eq!(c["scopes"], json!(["openid", "groups"]));
}
