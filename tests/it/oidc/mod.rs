//! The OpenID Connect provider over HTTP: the flows end to end (`flows`) and the
//! rules of issue points 3–8 one by one (`rules`). Helpers live here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey::crypto::jws;
use latchkey::domain::user::NewUser;
use latchkey::oidc::registration::{ClientSpec, register};
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::people;
use crate::support::{TestServer, http};

const APP: &str = "http://localhost:1411";
const CB: &str = "https://app.example.com/callback";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K9qH2Yfj1t4-JW7Ux7BY9JqvdY";
pub const CHALLENGE: &str = "iL4gp1vDueMyF0ocW7BWIJ5TVO7dbKU_NB5dE2f_fFA";

pub struct Rp {
    pub id: String,
    pub secret: Option<String>,
}

pub async fn client(server: &TestServer, spec: ClientSpec) -> Rp {
    let (c, secret) = register(&server.running().state.store, spec).await.unwrap();
    Rp { id: c.id, secret }
}

pub fn spec(alg: &str) -> ClientSpec {
    ClientSpec {
        name: "Wiki".into(),
        redirect_uris: vec![CB.into()],
        post_logout_redirect_uris: vec!["https://app.example.com/bye".into()],
        signing_alg: Some(alg.into()),
        ..ClientSpec::default()
    }
}

async fn signed_in_browser(
    server: &TestServer,
    username: &str,
) -> (Browser, latchkey::domain::user::User) {
    let new = NewUser {
        // Applications refuse unverified addresses by default (tests/it/mail).
        email_verified: true,
        first_name: "Kim".into(),
        ..people::named(username)
    };
    let user = people::with_password(&server.running().state, new).await;
    let b = Browser::new(&server.base, APP);
    people::sign_in(&b, username).await;
    (b, user)
}

fn authorize_path(rp: &Rp, extra: &str) -> String {
    format!(
        "/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid%20profile%20email%20groups%20offline_access&state=st8&nonce=n0nce&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
        rp.id,
        url::form_urlencoded::byte_serialize(CB.as_bytes()).collect::<String>()
    )
}

fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    let q = location
        .split_once(['?', '#'])
        .map(|(_, q)| q)
        .unwrap_or_default();
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

/// Authorize (approving consent when asked) and return the code.
pub async fn get_code(b: &Browser, rp: &Rp, extra: &str) -> String {
    let mut res = b.get(&authorize_path(rp, extra)).await;
    if res.status == 200 && res.body.contains("Allow") {
        let fields = hidden_fields(&res.body);
        let mut form: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .filter(|(k, _)| *k != "csrf")
            .collect();
        form.push(("decision", "approve"));
        res = b.submit("/authorize/consent", &form).await;
    }
    assert_eq!(res.status, 303, "{}", res.body);
    let location = res.location.unwrap();
    assert!(location.starts_with(CB), "{location}");
    let q = query_of(&location);
    assert_eq!(q.get("state").map(String::as_str), Some("st8"));
    assert_eq!(q.get("iss").map(String::as_str), Some(APP));
    q.get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code in {location}"))
}

fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in html.split("<input type=\"hidden\" name=\"").skip(1) {
        let (name, rest) = part.split_once('"').unwrap();
        let value = rest
            .split_once("value=\"")
            .unwrap()
            .1
            .split_once('"')
            .unwrap()
            .0;
        out.push((
            name.to_string(),
            value
                .replace("&amp;", "&")
                .replace("&#x2F;", "/")
                .replace("&#x3D;", "=")
                .replace("&quot;", "\""),
        ));
    }
    out
}

pub async fn token(
    server: &TestServer,
    rp: &Rp,
    form: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = http()
        .post(server.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded");
    let mut fields: Vec<(&str, &str)> = form.to_vec();
    match &rp.secret {
        Some(s) => req = req.basic_auth(&rp.id, Some(s)),
        None => fields.push(("client_id", &rp.id)),
    }
    let res = req
        .body(serde_urlencoded::to_string(&fields).unwrap())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, res.json().await.unwrap_or(Value::Null), headers)
}

pub async fn redeem(server: &TestServer, rp: &Rp, code: &str) -> (u16, Value) {
    let (s, v, _) = token(
        server,
        rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    (s, v)
}

async fn userinfo(server: &TestServer, access: &str) -> u16 {
    http()
        .get(server.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn verify_id_token(server: &TestServer, id_token: &str) -> serde_json::Map<String, Value> {
    let verifiers = server.running().state.keys.verifiers().await.unwrap();
    jws::verify_jwt(id_token, |kid| verifiers.iter().find(|k| k.kid() == kid))
        .unwrap()
        .claims
}

mod conformance;
mod flows;
mod per_client;
mod refusals;
mod rules;
mod strength;
