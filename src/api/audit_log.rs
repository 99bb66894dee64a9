//! `/api/v1/audit`: the audit log, filtered and paged; `format=csv` exports every
//! matching event. Administrators see everything; others only events they caused.
//! The admin console's audit page uses the same filter, query and CSV.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiQuery, Caller, Problem};
use crate::app::AppState;
use crate::store::{AUDIT_PAGE_MAX, AuditFilter, AuditRecord, Store, StoreError};

/// A CSV export stops after this many rows (newest first); narrow the filter for more.
pub const CSV_MAX_ROWS: usize = 100_000;

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
    /// `csv` for every matching event as CSV (up to 100 000 rows) instead of a page.
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
        let csv = audit_csv(&state.store, filter).await?;
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
/// CSV, read page by page with the same query as a page of the log.
pub async fn audit_csv(store: &Store, mut filter: AuditFilter) -> Result<String, StoreError> {
    filter.limit = AUDIT_PAGE_MAX;
    let mut out = String::from("id,time,event,actor,subject,client,ip,user_agent,details\r\n");
    let mut rows = 0;
    loop {
        let page = store.list_audit(&filter).await?;
        for r in &page {
            push_row(&mut out, r);
        }
        rows += page.len();
        match page.last() {
            Some(last) if page.len() as i64 == AUDIT_PAGE_MAX && rows < CSV_MAX_ROWS => {
                filter.before = Some(last.id.clone());
            }
            _ => return Ok(out),
        }
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
