//! One LDAP connection: reading messages (bounded), answering each operation, the
//! StartTLS upgrade, controls, and the paged-results cursor.
//!
//! Operations are answered in order, one at a time. A malformed message ends this
//! connection only (with a notice of disconnection); no input reaches a panic.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use ldap3_proto::LdapCodec;
use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{
    LdapBindCred, LdapBindRequest, LdapBindResponse, LdapCompareRequest, LdapExtendedRequest,
    LdapExtendedResponse, LdapMsg, LdapOp, LdapResult, LdapResultCode, LdapSearchRequest,
    LdapSearchResultEntry,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::{Decoder, Encoder};

use super::dn::Dn;
use super::entry::{PASSWORD_MODIFY, START_TLS, Selection, WHO_AM_I, syntax};
use super::filter::equal;
use super::paging::{Page, Pager, PagingError};
use super::search::{Directory, Failure, Reader};
use crate::auth::ldap::{BindName, Bound};
use crate::auth::{Auth, AuthError, Client};
use crate::config::LdapPasswordBind;

/// The largest request accepted, in bytes (a search with a long filter fits easily).
pub const REQUEST_MAX: usize = 64 * 1024;
/// Deeper nesting than this (filters inside filters) is refused by the codec.
pub const DEPTH_MAX: usize = 32;
/// RFC 4511 §4.4.1: the unsolicited notice sent before closing on a protocol error.
const NOTICE_OF_DISCONNECTION: &str = "1.3.6.1.4.1.1466.20036";

/// The limits and switches every session shares (from the configuration).
#[derive(Debug)]
pub struct Limits {
    pub size_limit: usize,
    pub time_limit: Duration,
    pub idle_timeout: Duration,
    pub allow_insecure_bind: bool,
    pub password_bind: LdapPasswordBind,
    pub app_url: String,
}

/// What the connection does after an operation.
enum Next {
    Continue,
    Close,
    StartTls,
}

/// The state of one connection.
pub struct Session {
    directory: Directory,
    auth: Auth,
    limits: Arc<Limits>,
    peer: SocketAddr,
    /// Whether StartTLS can be offered on this connection.
    can_start_tls: bool,
    /// Whether the connection is encrypted now.
    pub tls: bool,
    reader: Reader,
    bind_dn: String,
    pages: Pager<LdapSearchResultEntry>,
    codec: LdapCodec,
}

fn result(code: LdapResultCode, message: impl Into<String>) -> LdapResult {
    LdapResult {
        code,
        matcheddn: String::new(),
        message: message.into(),
        referral: Vec::new(),
    }
}

fn success() -> LdapResult {
    result(LdapResultCode::Success, "")
}

impl From<Failure> for LdapResult {
    fn from(f: Failure) -> LdapResult {
        LdapResult {
            code: f.code,
            matcheddn: f.matched,
            message: f.message,
            referral: Vec::new(),
        }
    }
}

/// The response an operation gets, carrying `res` (none for abandon and unbind).
fn response_to(op: &LdapOp, res: LdapResult) -> Option<LdapOp> {
    Some(match op {
        LdapOp::BindRequest(_) => LdapOp::BindResponse(LdapBindResponse {
            res,
            saslcreds: None,
        }),
        LdapOp::SearchRequest(_) => LdapOp::SearchResultDone(res),
        LdapOp::ModifyRequest(_) => LdapOp::ModifyResponse(res),
        LdapOp::AddRequest(_) => LdapOp::AddResponse(res),
        LdapOp::DelRequest(_) => LdapOp::DelResponse(res),
        LdapOp::ModifyDNRequest(_) => LdapOp::ModifyDNResponse(res),
        LdapOp::CompareRequest(_) => LdapOp::CompareResult(res),
        LdapOp::ExtendedRequest(_) => LdapOp::ExtendedResponse(LdapExtendedResponse {
            res,
            name: None,
            value: None,
        }),
        _ => return None,
    })
}

/// Whether a control is one this server must refuse: marked critical and not known.
fn refused_control(control: &LdapControl) -> Option<String> {
    match control {
        LdapControl::SimplePagedResults { .. } => None,
        LdapControl::Unknown {
            oid,
            criticality: true,
            ..
        } => Some(oid.clone()),
        LdapControl::SyncRequest {
            criticality: true, ..
        } => Some("1.3.6.1.4.1.4203.1.9.1.1 (sync)".into()),
        LdapControl::SearchOptions {
            criticality: true, ..
        }
        | LdapControl::ShowDeleted { criticality: true }
        | LdapControl::SdFlags {
            criticality: true, ..
        }
        | LdapControl::ExtendedDn {
            criticality: true, ..
        } => Some("an Active Directory control".into()),
        _ => None,
    }
}

impl Session {
    pub fn new(
        directory: Directory,
        auth: Auth,
        limits: Arc<Limits>,
        peer: SocketAddr,
        can_start_tls: bool,
    ) -> Session {
        Session {
            directory,
            auth,
            limits,
            peer,
            can_start_tls,
            tls: false,
            reader: Reader::Anonymous,
            bind_dn: String::new(),
            pages: Pager::default(),
            codec: LdapCodec::new(Some(REQUEST_MAX), Some(DEPTH_MAX)),
        }
    }

    /// Serve `stream` until the client leaves, idles out or breaks the protocol; when
    /// it asks for StartTLS (and nothing else waits to be read), the stream is
    /// returned for the upgrade.
    pub async fn run<S>(&mut self, mut stream: S) -> std::io::Result<Option<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut input = BytesMut::with_capacity(4096);
        let mut output = BytesMut::with_capacity(4096);
        loop {
            let msg = match self.codec.decode(&mut input) {
                Ok(Some(msg)) => msg,
                Ok(None) => {
                    let read =
                        tokio::time::timeout(self.limits.idle_timeout, stream.read_buf(&mut input))
                            .await;
                    match read {
                        Ok(Ok(0)) | Err(_) => return Ok(None),
                        Ok(Ok(_)) => continue,
                        Ok(Err(e)) => return Err(e),
                    }
                }
                Err(e) => {
                    tracing::debug!(peer = %self.peer, error = %e, "LDAP: malformed request");
                    let notice = LdapMsg::new(
                        0,
                        LdapOp::ExtendedResponse(LdapExtendedResponse {
                            res: result(
                                LdapResultCode::ProtocolError,
                                "the request could not be read",
                            ),
                            name: Some(NOTICE_OF_DISCONNECTION.into()),
                            value: None,
                        }),
                    );
                    output.clear();
                    self.codec.encode(notice, &mut output)?;
                    let _ = stream.write_all(&output).await;
                    let _ = stream.shutdown().await;
                    return Ok(None);
                }
            };
            let mut replies = Vec::new();
            let next = self.handle(msg, &mut replies, !input.is_empty()).await;
            output.clear();
            for reply in replies {
                self.codec.encode(reply, &mut output)?;
            }
            if !output.is_empty() {
                stream.write_all(&output).await?;
                stream.flush().await?;
            }
            match next {
                Next::Continue => {}
                Next::Close => {
                    let _ = stream.shutdown().await;
                    return Ok(None);
                }
                Next::StartTls => return Ok(Some(stream)),
            }
        }
    }

    /// Answer one message into `out`. `pending` says bytes beyond it were already read.
    async fn handle(&mut self, msg: LdapMsg, out: &mut Vec<LdapMsg>, pending: bool) -> Next {
        let id = msg.msgid;
        if let Some(oid) = msg.ctrl.iter().find_map(refused_control) {
            if let Some(op) = response_to(
                &msg.op,
                result(
                    LdapResultCode::UnavailableCriticalExtension,
                    format!("the critical control {oid} is not supported"),
                ),
            ) {
                out.push(LdapMsg::new(id, op));
            }
            return Next::Continue;
        }
        let reply = |op: LdapOp| LdapMsg::new(id, op);
        match msg.op {
            LdapOp::BindRequest(req) => {
                let res = self.bind(&req).await;
                out.push(reply(LdapOp::BindResponse(LdapBindResponse {
                    res,
                    saslcreds: None,
                })));
            }
            LdapOp::SearchRequest(req) => self.search(id, &req, &msg.ctrl, out).await,
            LdapOp::CompareRequest(req) => {
                out.push(reply(LdapOp::CompareResult(self.compare(&req).await)));
            }
            LdapOp::ExtendedRequest(req) => {
                let (response, next) = self.extended(&req, pending);
                out.push(reply(LdapOp::ExtendedResponse(response)));
                return next;
            }
            LdapOp::AbandonRequest(_) => self.pages.clear(),
            LdapOp::UnbindRequest => return Next::Close,
            op @ (LdapOp::AddRequest(_)
            | LdapOp::ModifyRequest(_)
            | LdapOp::DelRequest(_)
            | LdapOp::ModifyDNRequest(_)) => {
                let message = format!(
                    "this directory is read-only over LDAP: change users and groups in the \
                     admin console ({}/admin) or with the API",
                    self.limits.app_url
                );
                if let Some(op) =
                    response_to(&op, result(LdapResultCode::UnwillingToPerform, message))
                {
                    out.push(reply(op));
                }
            }
            // A response sent to a server: the client is confused; end the connection.
            _ => return Next::Close,
        }
        Next::Continue
    }

    async fn bind(&mut self, req: &LdapBindRequest) -> LdapResult {
        // Whatever happens next, the connection is no longer bound as before.
        self.reader = Reader::Anonymous;
        self.bind_dn.clear();
        self.pages.clear();
        if req.version != 3 {
            return result(
                LdapResultCode::ProtocolError,
                "only LDAP version 3 is supported",
            );
        }
        let password = match &req.cred {
            LdapBindCred::Simple(password) => password,
            _ => {
                return result(
                    LdapResultCode::AuthMethodNotSupported,
                    "only simple binds are supported (over TLS)",
                );
            }
        };
        if req.dn.is_empty() && password.is_empty() {
            return success();
        }
        if password.is_empty() {
            return result(
                LdapResultCode::UnwillingToPerform,
                "a bind with a DN and no password is not accepted (unauthenticated bind)",
            );
        }
        if !self.tls && !self.limits.allow_insecure_bind {
            return result(
                LdapResultCode::ConfidentialityRequired,
                "a password bind needs TLS: use StartTLS or LDAPS",
            );
        }
        let Ok(dn) = Dn::parse(&req.dn) else {
            return result(
                LdapResultCode::InvalidDNSyntax,
                "the bind DN is not a valid DN",
            );
        };
        let name = self.bind_name(&dn);
        let client = Client {
            ip: self.peer.ip(),
            user_agent: Some("ldap".into()),
            device_cookie: None,
        };
        match self
            .auth
            .ldap_bind(&name, &req.dn, password, self.limits.password_bind, &client)
            .await
        {
            Ok(bound) => {
                self.bind_dn = dn.to_string();
                self.reader = match bound {
                    Bound::User(user) => {
                        self.bind_dn = self.directory.tree.user_dn(&user.username);
                        Reader::User(user)
                    }
                    Bound::Service(account) => {
                        if let Err(e) = self
                            .directory
                            .note_use(&account, &client.ip.to_string())
                            .await
                        {
                            tracing::warn!(error = %e, "LDAP: cannot note a service account's use");
                        }
                        self.bind_dn = self.directory.tree.service_dn(&account.name);
                        Reader::Service(account)
                    }
                };
                success()
            }
            Err(AuthError::RateLimited(wait)) => result(
                LdapResultCode::InvalidCredentials,
                format!(
                    "too many attempts; try again in {}",
                    crate::auth::throttle::human_wait(wait)
                ),
            ),
            Err(AuthError::InvalidCredentials(_)) => {
                result(LdapResultCode::InvalidCredentials, "invalid credentials")
            }
            Err(e) => {
                tracing::warn!(error = %e, "LDAP: bind failed");
                result(LdapResultCode::Unavailable, "the directory is unavailable")
            }
        }
    }

    /// Which account a bind DN names.
    fn bind_name(&self, dn: &Dn) -> BindName {
        let tree = &self.directory.tree;
        let parent = |unit: &Dn| {
            dn.strip_suffix(unit)
                .filter(|above| above.len() == 1 && above[0].len() == 1)
                .map(|above| (above[0][0].attr.clone(), above[0][0].folded().to_string()))
        };
        match (parent(&tree.people), parent(&tree.services)) {
            (Some((attr, name)), _) if attr == "uid" => BindName::User(name),
            (_, Some((attr, name))) if attr == "cn" => BindName::Service(name),
            _ => BindName::Other,
        }
    }

    async fn search(
        &mut self,
        id: i32,
        req: &LdapSearchRequest,
        controls: &[LdapControl],
        out: &mut Vec<LdapMsg>,
    ) {
        let paged = controls.iter().find_map(|c| match c {
            LdapControl::SimplePagedResults { size, cookie } => Some((*size, cookie.clone())),
            _ => None,
        });
        let done = |res: LdapResult, cookie: Option<Vec<u8>>| {
            let op = LdapOp::SearchResultDone(res);
            match cookie {
                Some(cookie) => LdapMsg::new_with_ctrls(
                    id,
                    op,
                    vec![LdapControl::SimplePagedResults { size: 0, cookie }],
                ),
                None => LdapMsg::new(id, op),
            }
        };
        // What a page continues: the whole request, written out only for paged searches.
        let key = || {
            format!(
                "{}|{:?}|{:?}|{:?}|{}",
                req.base, req.scope, req.filter, req.attrs, req.typesonly
            )
        };
        // A page of a search in progress.
        if let Some((size, cookie)) = &paged
            && !cookie.is_empty()
        {
            match self.pages.next(&key(), cookie, *size) {
                Ok(page) => self.page(id, page, out),
                Err(e) => out.push(done(
                    result(
                        LdapResultCode::UnwillingToPerform,
                        match e {
                            PagingError::UnknownCookie => {
                                "the paged results cookie is not valid here (start the search again)"
                            }
                            PagingError::OtherSearch => {
                                "a paged search must be continued with the same request"
                            }
                        },
                    ),
                    None,
                )),
            }
            return;
        }
        let Ok(base) = Dn::parse(&req.base) else {
            out.push(done(
                result(
                    LdapResultCode::InvalidDNSyntax,
                    "the search base is not a valid DN",
                ),
                None,
            ));
            return;
        };
        let mut limit = self.limits.size_limit;
        if req.sizelimit > 0 {
            limit = limit.min(req.sizelimit as usize);
        }
        let mut time = self.limits.time_limit;
        if req.timelimit > 0 {
            time = time.min(Duration::from_secs(req.timelimit as u64));
        }
        let selection = Selection::new(&req.attrs);
        let found = tokio::time::timeout(
            time,
            self.directory
                .search(&self.reader, &base, &req.scope, &req.filter, limit),
        )
        .await;
        let found = match found {
            Err(_) => {
                out.push(done(
                    result(
                        LdapResultCode::TimeLimitExceeded,
                        "the search took too long",
                    ),
                    None,
                ));
                return;
            }
            Ok(Err(failure)) => {
                out.push(done(failure.into(), None));
                return;
            }
            Ok(Ok(found)) => found,
        };
        let mut entries = VecDeque::with_capacity(found.entries.len());
        for mut entry in found.entries {
            if selection.names("jpegPhoto")
                && let Some(user_id) = &entry.user_id
                && let Some(photo) = self.photo(user_id).await
            {
                entry.put("jpegPhoto", photo);
            }
            entries.push_back(entry.into_result(&selection, req.typesonly));
        }
        match paged {
            Some((size, _)) => {
                let page = self.pages.start(key(), entries, size, found.truncated);
                self.page(id, page, out);
            }
            None => {
                out.extend(
                    entries
                        .into_iter()
                        .map(|e| LdapMsg::new(id, LdapOp::SearchResultEntry(e))),
                );
                out.push(done(self.limit_result(found.truncated), None));
            }
        }
    }

    /// A page's entries and its done message with the paged-results control.
    fn page(&self, id: i32, page: Page<LdapSearchResultEntry>, out: &mut Vec<LdapMsg>) {
        out.extend(
            page.entries
                .into_iter()
                .map(|e| LdapMsg::new(id, LdapOp::SearchResultEntry(e))),
        );
        out.push(LdapMsg::new_with_ctrls(
            id,
            LdapOp::SearchResultDone(self.limit_result(page.truncated)),
            vec![LdapControl::SimplePagedResults {
                size: 0,
                cookie: page.cookie,
            }],
        ));
    }

    fn limit_result(&self, truncated: bool) -> LdapResult {
        if truncated {
            result(
                LdapResultCode::SizeLimitExceeded,
                "more entries match than one search returns (narrow the filter or page)",
            )
        } else {
            success()
        }
    }

    /// The user's profile picture as JPEG, when they have one.
    async fn photo(&self, user_id: &str) -> Option<Vec<u8>> {
        let image = self
            .directory
            .store
            .image(&format!("user:{user_id}"))
            .await
            .ok()??;
        tokio::task::spawn_blocking(move || crate::media::to_jpeg(&image.bytes))
            .await
            .ok()?
    }

    async fn compare(&self, req: &LdapCompareRequest) -> LdapResult {
        let Ok(dn) = Dn::parse(&req.dn) else {
            return result(LdapResultCode::InvalidDNSyntax, "the DN is not a valid DN");
        };
        let Some(attr) = super::entry::canonical(&req.atype) else {
            return result(
                LdapResultCode::UndefinedAttributeType,
                format!("no attribute is called {}", req.atype),
            );
        };
        let entry = match self.directory.lookup(&self.reader, &dn).await {
            Ok(entry) => entry,
            Err(failure) => return failure.into(),
        };
        let asserted = String::from_utf8_lossy(&req.val);
        let syntax = syntax(attr);
        let found = entry.get(attr).is_some_and(|values| {
            values
                .iter()
                .filter_map(|v| std::str::from_utf8(v).ok())
                .any(|v| equal(syntax, v, &asserted))
        });
        if found {
            result(LdapResultCode::CompareTrue, "")
        } else {
            result(LdapResultCode::CompareFalse, "")
        }
    }

    fn extended(
        &mut self,
        req: &LdapExtendedRequest,
        pending: bool,
    ) -> (LdapExtendedResponse, Next) {
        let answer =
            |res: LdapResult, name: Option<&str>, value: Option<Vec<u8>>| LdapExtendedResponse {
                res,
                name: name.map(str::to_string),
                value,
            };
        match req.name.as_str() {
            START_TLS if self.tls => (
                answer(
                    result(LdapResultCode::OperationsError, "TLS is already on"),
                    Some(START_TLS),
                    None,
                ),
                Next::Continue,
            ),
            START_TLS if !self.can_start_tls => (
                answer(
                    result(
                        LdapResultCode::UnavailableCriticalExtension,
                        "StartTLS is not available: no certificate is configured",
                    ),
                    Some(START_TLS),
                    None,
                ),
                Next::Continue,
            ),
            // Bytes sent after the request, before the handshake, would be read as if
            // they came over TLS: refuse and close (no plaintext injection).
            START_TLS if pending => (
                answer(
                    result(
                        LdapResultCode::OperationsError,
                        "data followed the StartTLS request before the TLS handshake",
                    ),
                    Some(START_TLS),
                    None,
                ),
                Next::Close,
            ),
            START_TLS => (answer(success(), Some(START_TLS), None), Next::StartTls),
            WHO_AM_I => {
                let value = if self.bind_dn.is_empty() {
                    Vec::new()
                } else {
                    format!("dn:{}", self.bind_dn).into_bytes()
                };
                (answer(success(), None, Some(value)), Next::Continue)
            }
            PASSWORD_MODIFY => (
                answer(
                    result(
                        LdapResultCode::UnwillingToPerform,
                        format!(
                            "passwords are not changed over LDAP: make an app password at {}/account/security",
                            self.limits.app_url
                        ),
                    ),
                    None,
                    None,
                ),
                Next::Continue,
            ),
            other => (
                answer(
                    result(
                        LdapResultCode::ProtocolError,
                        format!("the extended operation {other} is not supported"),
                    ),
                    None,
                    None,
                ),
                Next::Continue,
            ),
        }
    }
}
