//! `/api/v1/audit`: the audit log, filtered and paged; `format=csv` exports every
//! matching event. Administrators see everything; others only events they caused.
//! The admin console's audit page uses the same filter, query and CSV.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

use super::{ApiQuery, Caller, Problem};
use crate::app::AppState;
use crate::store::{AUDIT_PAGE_MAX, AuditFilter, AuditRecord, Store, StoreError};

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this event, e.g. `auth.login.failed`.
    pub event: Option<String>,
    /// Only events this user (id) caused.
    pub actor: Option<String>,
    /// Only events this user (id) caused or that are about them.
    pub user: Option<String>,
    /// Only events about this OIDC client (id).
    pub client: Option<String>,
    /// Only events at or after this time (unix seconds).
    pub since: Option<i64>,
    /// Only events at or before this time (unix seconds).
    pub until: Option<i64>,
    /// The `next` value of the previous page.
    pub before: Option<String>,
    /// At most this many events (1–1000, default 100). Ignored by the CSV export.
    pub limit: Option<i64>,
    /// `csv` for every matching event as CSV instead of a page.
    pub format: Option<String>,
}

impl AuditQuery {
    /// The filter for a page; empty values count as absent (a form sends them so).
    pub fn filter(&self, limit: i64) -> AuditFilter {
        let text = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        AuditFilter {
            event: text(&self.event),
            actor_id: text(&self.actor),
            user_id: text(&self.user),
            client_id: text(&self.client),
            since: self.since,
            until: self.until,
            before: text(&self.before),
            limit,
        }
    }
}

/// A page of events, newest first; `next` is the `before` of the next page.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    items: Vec<AuditRecord>,
    next: Option<String>,
}

/// Audit events, newest first (administrators: all; others: their own).
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit",
    operation_id = "list_audit_events",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of events, or with `format=csv` every matching event",
         content(
            (AuditPage = "application/json"),
            (String = "text/csv", example = "id,time,event,actor,subject,client,ip,user_agent,details\r\n")
         )),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Response, Problem> {
    let mut filter = q.filter(q.limit.unwrap_or(100).clamp(1, AUDIT_PAGE_MAX));
    if !caller.user.is_admin {
        filter.actor_id = Some(caller.user.id.clone());
    }
    if q.format.as_deref() == Some("csv") {
        let csv = audit_csv(state.store.clone(), filter).await?;
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"audit.csv\"",
                ),
            ],
            csv,
        )
            .into_response());
    }
    let items = state.store.list_audit(&filter).await?;
    let next = (items.len() as i64 == filter.limit)
        .then(|| items.last().map(|r| r.id.clone()))
        .flatten();
    Ok(Json(AuditPage { items, next }).into_response())
}

/// Every event `filter` matches (from `filter.before` on), newest first, as RFC 4180
/// CSV, read page by page with the same query as a page of the log. The first page is
/// read before the answer starts, so a database that fails then gives an error
/// answer; the rest is written as the client reads it, a page at a time, so an export
/// of any size holds one page in memory. Should the database fail midway, the answer
/// ends without its final chunk: the client sees a broken transfer, never a short file
/// that looks whole.
pub async fn audit_csv(store: Store, mut filter: AuditFilter) -> Result<Body, StoreError> {
    filter.limit = AUDIT_PAGE_MAX;
    let mut page = store.list_audit(&filter).await?;
    let mut chunk = String::from("id,time,event,actor,subject,client,ip,user_agent,details\r\n");
    // Two chunks ahead at most: the database is read as fast as the client takes it.
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        loop {
            for r in &page {
                push_row(&mut chunk, r);
            }
            // The client went away: stop reading.
            if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                return;
            }
            chunk = String::new();
            match page.last() {
                Some(last) if page.len() as i64 == AUDIT_PAGE_MAX => {
                    filter.before = Some(last.id.clone());
                }
                _ => return,
            }
            page = match store.list_audit(&filter).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "the audit CSV export stopped: the database failed");
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
        }
    });
    Ok(Body::new(Chunks(rx)))
}

/// A response body whose chunks come through a channel.
struct Chunks(mpsc::Receiver<Result<Bytes, StoreError>>);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = StoreError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, StoreError>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| c.map(http_body::Frame::data)))
    }
}

/// One CSV row; cells that a spreadsheet would run as a formula are prefixed with `'`.
fn push_row(out: &mut String, r: &AuditRecord) {
    fn cell(text: &str) -> String {
        let safe = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{text}")
        } else {
            text.to_string()
        };
        format!("\"{}\"", safe.replace('"', "\"\""))
    }
    let row = [
        r.id.clone(),
        r.created_at.to_string(),
        r.event.clone(),
        r.actor_id.clone().unwrap_or_default(),
        r.subject.clone().unwrap_or_default(),
        r.client_id.clone().unwrap_or_default(),
        r.ip.clone().unwrap_or_default(),
        r.user_agent.clone().unwrap_or_default(),
        r.details.to_string(),
    ];
    out.push_str(&row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
    out.push_str("\r\n");
}
