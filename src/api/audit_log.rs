//! `/api/v1/audit`: the audit log, filtered and paged; `format=csv` exports it.
//! Administrators see everything; others only events they caused.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{Caller, Problem};
use crate::app::AppState;
use crate::store::{AuditFilter, AuditRecord};

#[derive(Deserialize)]
pub struct AuditQuery {
    event: Option<String>,
    actor: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    before: Option<String>,
    limit: Option<i64>,
    format: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<Response, Problem> {
    let actor = if caller.user.is_admin {
        q.actor
    } else {
        Some(caller.user.id.clone())
    };
    let csv = q.format.as_deref() == Some("csv");
    let filter = AuditFilter {
        event: q.event,
        actor_id: actor,
        since: q.since,
        until: q.until,
        before: q.before,
        limit: q.limit.unwrap_or(if csv { 1000 } else { 100 }),
    };
    let items = state.store.list_audit(&filter).await?;
    if csv {
        return Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            to_csv(&items),
        )
            .into_response());
    }
    let next = (items.len() as i64 == filter.limit.clamp(1, 1000))
        .then(|| items.last().map(|r| r.id.clone()))
        .flatten();
    Ok(Json(json!({ "items": items, "next": next })).into_response())
}

/// RFC 4180 CSV; cells that a spreadsheet would run as a formula are prefixed with `'`.
fn to_csv(items: &[AuditRecord]) -> String {
    fn cell(text: &str) -> String {
        let safe = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{text}")
        } else {
            text.to_string()
        };
        format!("\"{}\"", safe.replace('"', "\"\""))
    }
    let mut out = String::from("id,time,event,actor,subject,ip,user_agent,details\r\n");
    for r in items {
        let row = [
            r.id.clone(),
            r.created_at.to_string(),
            r.event.clone(),
            r.actor_id.clone().unwrap_or_default(),
            r.subject.clone().unwrap_or_default(),
            r.ip.clone().unwrap_or_default(),
            r.user_agent.clone().unwrap_or_default(),
            r.details.to_string(),
        ];
        out.push_str(&row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}
