//! The OpenAPI document: it lists exactly the routes the server serves under
//! `/api/v1`, it is valid OpenAPI 3.1 by a validator nobody here wrote, and the
//! reference page shows every route in it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{call, key_for, user};
use crate::support::{TestServer, assert_no_inline_script, http};

pub const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Every (METHOD, path) the document lists.
pub fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if item.get(m.to_lowercase()).is_some() {
                out.insert((m.to_string(), path.clone()));
            }
        }
    }
    out
}

pub async fn fetch_document(server: &TestServer) -> Value {
    let res = http()
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the document needs no key");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    res.json().await.unwrap()
}

/// Every string literal in `src/` that starts with `/api/v1`.
fn api_paths_in_source() -> BTreeSet<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut found = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (at, _) in text.match_indices("\"/api/v1") {
            let rest = &text[at + 1..];
            let end = rest.find('"').unwrap();
            let literal = rest[..end].split('?').next().unwrap().to_string();
            found.insert((file.display().to_string(), literal));
        }
    }
    found
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_the_server_serves() {
    let server = TestServer::start(&[]).await;
    let admin = user(&server, "root", true).await;
    let key = key_for(&server, &admin.id).await;
    let doc = fetch_document(&server).await;
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    assert_eq!(
        doc,
        serde_json::to_value(latchkey::api::openapi()).unwrap(),
        "the server serves the document the code makes"
    );
    let documented = operations(&doc);
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    assert!(documented.len() >= 29, "{documented:?}");

    // A route added anywhere with a literal path must be in the document: the router
    // of /api/v1 is built from the same table as the document, and this catches a
    // route registered beside it.
    let matches = |template: &str, literal: &str| {
        let (t, l): (Vec<&str>, Vec<&str>) =
            (template.split('/').collect(), literal.split('/').collect());
        t.len() == l.len()
            && t.iter()
                .zip(&l)
                .all(|(t, l)| t == l || (t.starts_with('{') && !l.is_empty()))
    };
    for (file, literal) in api_paths_in_source() {
        assert!(
            paths.iter().any(|p| matches(p, &literal)),
            "{file} names {literal}, which the OpenAPI document does not list: \
             register the route in api::router_and_document() with #[utoipa::path]"
        );
    }

    // Every documented operation is served (a handler answers: never 405, and a 404
    // only as the handler's own problem), and no other method is served on its path.
    for path in &paths {
        let concrete = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for method in METHODS {
            let body = matches!(method, "POST" | "PUT" | "PATCH").then(|| serde_json::json!({}));
            let (status, _, ctype) = call(&server, method, &concrete, Some(&key), body).await;
            if documented.contains(&(method.to_string(), (*path).clone())) {
                assert_ne!(status, 405, "{method} {path} is documented but not served");
                assert!(
                    status != 404 || ctype == "application/problem+json",
                    "{method} {path} is documented but no handler answered"
                );
            } else {
                assert_eq!(status, 405, "{method} {path} is served but not documented");
            }
        }
    }
    // And an unknown path is not served.
    let (status, _, ctype) = call(&server, "GET", "/api/v1/nothing-here", Some(&key), None).await;
    assert_eq!(status, 404);
    assert_ne!(ctype, "application/problem+json");
    server.stop().await;
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let server = TestServer::start(&[]).await;
    let doc = fetch_document(&server).await;
    server.stop().await;
    // openapi-spec-validator (PyPI), installed by scripts/test into tests/e2e/.venv.
    let validator = std::env::var_os("LATCHKEY_OPENAPI_VALIDATOR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/.venv/bin/openapi-spec-validator")
        });
    assert!(
        validator.exists(),
        "{} is missing: run scripts/test once (it installs openapi-spec-validator), \
         or set LATCHKEY_OPENAPI_VALIDATOR",
        validator.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let out = std::process::Command::new(&validator)
        .args(["--schema", "3.1", "--validation-errors", "all"])
        .arg(&file)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "openapi-spec-validator: {said}");
    assert!(said.contains("OK"), "{said}");

    // The validator itself must be able to fail: a broken copy is refused.
    let mut broken = doc.clone();
    broken["paths"]["/api/v1/me"]["get"]["responses"] = Value::String("nonsense".into());
    std::fs::write(&file, serde_json::to_vec(&broken).unwrap()).unwrap();
    let out = std::process::Command::new(&validator)
        .args(["--schema", "3.1"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a broken document is refused");
}

#[tokio::test]
async fn every_operation_is_described_for_people() {
    let server = TestServer::start(&[]).await;
    let doc = fetch_document(&server).await;
    let scheme = &doc["components"]["securitySchemes"]["api_key"];
    assert_eq!(
        (scheme["type"].as_str(), scheme["scheme"].as_str()),
        (Some("http"), Some("bearer"))
    );
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{method} {path} has a summary"
        );
        assert!(op["tags"][0].is_string(), "{method} {path} has a tag");
        if !path.starts_with("/api/v1/openapi") && !path.starts_with("/api/v1/docs") {
            assert_eq!(
                op["security"],
                serde_json::json!([{"api_key": []}]),
                "{method} {path} needs a key"
            );
            assert!(op["responses"]["401"].is_object(), "{method} {path} 401");
            assert_eq!(
                op["responses"]["401"]["content"]["application/problem+json"]["schema"]["$ref"],
                "#/components/schemas/Problem"
            );
        }
    }

    let res = http().get(server.url("/api/v1/docs")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = res.text().await.unwrap();
    assert_no_inline_script(&html);
    assert!(
        !html.contains("src=\"http") && !html.contains("stylesheet\" href=\"http"),
        "nothing loaded from another site"
    );
    for (method, path) in operations(&doc) {
        assert!(
            html.contains(&format!("data-operation=\"{method} {path}\"")),
            "{method} {path} on the reference page"
        );
    }
    for name in doc["components"]["schemas"].as_object().unwrap().keys() {
        assert!(html.contains(&format!("id=\"schema-{name}\"")), "{name}");
    }
    // Parameters, bodies and their fields are spelled out.
    assert!(html.contains("<code>search</code>"));
    assert!(html.contains("<code>redirect_uris</code>"));
    assert!(html.contains("href=\"#schema-PatchClient\""));
    server.stop().await;
}
