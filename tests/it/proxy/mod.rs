//! Forward-auth at the HTTP level: the checks a reverse proxy makes, the sign-in
//! that comes back with a proxy cookie, and the applications managed by API and CLI.
//! (The real nginx and Caddy in front of a backend, driven by Chromium, are in
//! tests/e2e/proxy.test.mjs.)

mod check;
mod console;
mod manage;

use latchkey::audit::Origin;
use latchkey::domain::proxy_app::{AppSpec, ProxyApp};
use latchkey::domain::user::User;

use crate::browser::{Browser, Page};
use crate::people;
use crate::support::TestServer;

/// Latchkey's public address in these tests, under the proxy cookie's domain.
pub const APP: &str = "http://auth.example.test";

pub async fn server(extra: &[(&str, &str)]) -> TestServer {
    let mut env = vec![
        ("LATCHKEY_APP_URL", APP),
        ("LATCHKEY_PROXY_COOKIE_DOMAIN", "example.test"),
    ];
    env.extend_from_slice(extra);
    TestServer::start(&env).await
}

pub async fn app(server: &TestServer, spec: AppSpec) -> ProxyApp {
    latchkey::proxy::apps::create(&server.running().state.store, spec, &Origin::cli())
        .await
        .unwrap()
}

/// A user with the test password, in these groups (made when missing).
pub async fn member(server: &TestServer, name: &str, groups: &[&str]) -> User {
    let state = &server.running().state;
    let user = people::with_password(state, people::named(name)).await;
    for g in groups {
        let group = match state.store.group_by_name(g).await.unwrap() {
            Some(group) => group,
            None => state.store.create_group(g, g).await.unwrap(),
        };
        state
            .store
            .add_group_member(&group.id, &user.id)
            .await
            .unwrap();
    }
    user
}

/// What a proxy sends for a browser's request to `url` (forward-auth's headers),
/// with the browser's cookies.
pub async fn forward_auth(b: &Browser, method: &str, url: &str, accept: &str) -> Page {
    let u = url::Url::parse(url).unwrap();
    let host = match u.port() {
        Some(p) => format!("{}:{p}", u.host_str().unwrap()),
        None => u.host_str().unwrap().to_string(),
    };
    let uri = &url[url.find(u.path()).unwrap()..];
    b.get_with(
        "/api/authz/forward-auth",
        &[
            ("x-forwarded-method", method),
            ("x-forwarded-proto", u.scheme()),
            ("x-forwarded-host", &host),
            ("x-forwarded-uri", uri),
            ("accept", accept),
        ],
    )
    .await
}

/// The same for nginx's `auth_request`.
pub async fn auth_request(b: &Browser, url: &str) -> Page {
    b.get_with(
        "/api/authz/auth-request",
        &[
            ("x-original-method", "GET"),
            ("x-original-url", url),
            ("accept", "text/html"),
        ],
    )
    .await
}

pub const HTML: &str = "text/html,application/xhtml+xml,*/*;q=0.8";

/// Sign in with the password on the sign-in page a check sent the browser to, and
/// follow the way back: returns the response of `/proxy/return`.
pub async fn sign_in_from(b: &Browser, login_location: &str, login: &str) -> Page {
    let path = login_location.strip_prefix(APP).unwrap_or(login_location);
    let page = b.get(path).await;
    assert_eq!(page.status, 200, "the sign-in page: {}", page.body);
    let next = next_of(&page.body);
    let res = b
        .submit(
            "/login/password",
            &[
                ("login", login),
                ("password", people::PASSWORD),
                ("next", &next),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let back = res.location.unwrap();
    assert!(back.starts_with("/proxy/return?rd="), "{back}");
    b.get(&back).await
}

/// The `next` the sign-in page carries in its password form.
pub fn next_of(html: &str) -> String {
    let marker = "name=\"next\" value=\"";
    let start = html.find(marker).expect("a next field") + marker.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end]
        .replace("&amp;", "&")
        .replace("&#x3D;", "=")
}

/// A header of the last check (the browser keeps none; the check reports them).
pub fn header<'a>(page: &'a Page, name: &str) -> Option<&'a str> {
    page.headers.get(name).map(String::as_str)
}
