//! A minimal browser for HTTP-level tests: keeps cookies, sends the Origin header a
//! real browser sends with a form, never follows redirects (tests look at them).

use std::collections::BTreeMap;
use std::sync::Mutex;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

pub struct Browser {
    base: String,
    origin: String,
    client: reqwest::Client,
    cookies: Mutex<BTreeMap<String, String>>,
}

/// A response, read completely.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
    /// Every response header by lower-case name (repeated ones joined by `, `),
    /// `set-cookie` lines by `\n`.
    pub headers: BTreeMap<String, String>,
}

impl Browser {
    /// A browser talking to `base` whose pages believe they are served at `origin`.
    pub fn new(base: &str, origin: &str) -> Browser {
        Browser {
            base: base.to_string(),
            origin: origin.to_string(),
            client: crate::support::http(),
            cookies: Mutex::new(BTreeMap::new()),
        }
    }

    /// A browser whose connections come from `local` (another loopback address is
    /// another client as far as per-address limits go).
    pub fn from_address(base: &str, origin: &str, local: std::net::IpAddr) -> Browser {
        Browser {
            base: base.to_string(),
            origin: origin.to_string(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .local_address(local)
                .build()
                .unwrap(),
            cookies: Mutex::new(BTreeMap::new()),
        }
    }

    /// A browser that names itself with `user_agent` (as a real one does).
    pub fn with_user_agent(base: &str, origin: &str, user_agent: &str) -> Browser {
        Browser::with_headers(base, origin, &[("user-agent", user_agent)])
    }

    /// A browser that sends these headers with every request (a user agent, or the
    /// `X-Forwarded-For` a reverse proxy in front of Latchkey adds).
    pub fn with_headers(base: &str, origin: &str, headers: &[(&str, &str)]) -> Browser {
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        Browser {
            base: base.to_string(),
            origin: origin.to_string(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .default_headers(map)
                .build()
                .unwrap(),
            cookies: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies
            .lock()
            .unwrap()
            .insert(name.into(), value.into());
    }

    /// The CSRF token the pages gave this browser (visit a page first); under https
    /// its cookie is `__Host-` prefixed.
    pub fn csrf(&self) -> String {
        self.cookie("latchkey_csrf")
            .or_else(|| self.cookie("__Host-latchkey_csrf"))
            .expect("a page set the CSRF cookie")
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn read(&self, res: reqwest::Response) -> Result<Page, reqwest::Error> {
        for value in res.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, attrs) = text.split_once(';').unwrap_or((text, ""));
            let (name, v) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.lock().unwrap().remove(name);
            } else {
                self.cookies
                    .lock()
                    .unwrap()
                    .insert(name.to_string(), v.to_string());
            }
        }
        let mut headers = BTreeMap::<String, String>::new();
        for (name, value) in res.headers() {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            let joiner = if name == SET_COOKIE { "\n" } else { ", " };
            headers
                .entry(name.as_str().to_string())
                .and_modify(|v| {
                    v.push_str(joiner);
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        Ok(Page {
            headers,
            status: res.status().as_u16(),
            location: res
                .headers()
                .get(LOCATION)
                .map(|l| l.to_str().unwrap().to_string()),
            body: res.text().await?,
        })
    }

    /// A GET with extra headers (what a reverse proxy adds to a forward-auth check).
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Page {
        let mut req = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header());
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = req.send().await.unwrap();
        self.read(res).await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Page {
        self.try_get(path).await.unwrap()
    }

    /// `get`, for a server that may go away mid-request (tests/it/crash.rs).
    pub async fn try_get(&self, path: &str) -> Result<Page, reqwest::Error> {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await?;
        self.read(res).await
    }

    /// Submit a form the way a browser does (with this browser's cookies and Origin).
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.try_post(path, form).await.unwrap()
    }

    /// `post`, for a server that may go away mid-request.
    pub async fn try_post(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<Page, reqwest::Error> {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .header("origin", &self.origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap())
            .send()
            .await?;
        self.read(res).await
    }

    /// Call a JSON endpoint the way the pages' scripts do: cookies, Origin and the
    /// CSRF token in `x-csrf-token`, no body.
    pub async fn call(&self, path: &str) -> Page {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .header("origin", &self.origin)
            .header("x-csrf-token", self.csrf())
            .send()
            .await
            .unwrap();
        self.read(res).await.unwrap()
    }

    /// A form post with the page's CSRF token added.
    pub async fn submit(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let csrf = self.csrf();
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        self.post(path, &fields).await
    }

    /// Upload a file the way a `multipart/form-data` form does, with the CSRF token.
    pub async fn upload(&self, path: &str, field: &str, file: &[u8]) -> Page {
        self.upload_with_token(path, field, file, &self.csrf())
            .await
    }

    /// An upload carrying `csrf` as its token (to test what a forged form gets).
    pub async fn upload_with_token(
        &self,
        path: &str,
        field: &str,
        file: &[u8],
        csrf: &str,
    ) -> Page {
        let boundary = "latchkey-test-boundary-7d1f";
        let mut body = Vec::new();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"upload\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .header("origin", &self.origin)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        self.read(res).await.unwrap()
    }
}
