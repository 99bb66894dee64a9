//! `/admin/audit`: every audit event, newest first, filtered by event, user, client
//! and dates, a page at a time (keyset), and exported as CSV with the same filters.
//! It reads the log through the same filter and query as `GET /api/v1/audit`.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AdminSession;
use crate::api::{AuditQuery, audit_csv};
use crate::app::AppState;
use crate::store::AuditFilter;
use crate::web::security::when;
use crate::web::{Chrome, WebError};

const PAGE_SIZE: i64 = 50;

/// The filters as typed into the form.
#[derive(Deserialize, Default)]
pub struct AuditForm {
    #[serde(default)]
    event: String,
    /// A username, an email or a user id.
    #[serde(default)]
    user: String,
    #[serde(default)]
    client: String,
    /// `YYYY-MM-DD`, from the start of the day (UTC).
    #[serde(default)]
    from: String,
    /// `YYYY-MM-DD`, to the end of the day (UTC).
    #[serde(default)]
    to: String,
    #[serde(default)]
    before: String,
}

fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Unix seconds of a `YYYY-MM-DD` day at `time` (UTC).
fn day(text: &str, time: &str) -> Result<Option<i64>, ()> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() != 10 {
        return Err(());
    }
    humantime::parse_rfc3339(&format!("{text}T{time}Z"))
        .map(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        })
        .map(Some)
        .map_err(|_| ())
}

impl AuditForm {
    /// The query these filters make, or the field that is wrong and why.
    async fn query(&self, state: &AppState) -> Result<AuditQuery, (&'static str, String)> {
        let user = match self.user.trim() {
            "" => None,
            login => match state.store.user_by_login(login).await {
                Ok(Some(u)) => Some(u.id),
                Ok(None) => match state.store.user_by_id(login).await {
                    Ok(Some(u)) => Some(u.id),
                    _ => return Err(("user", "No user has this username, email or id.".into())),
                },
                Err(_) => return Err(("user", "The database does not answer.".into())),
            },
        };
        let since = day(&self.from, "00:00:00")
            .map_err(|_| ("from", "Give a date as YYYY-MM-DD.".to_string()))?;
        let until = day(&self.to, "23:59:59")
            .map_err(|_| ("to", "Give a date as YYYY-MM-DD.".to_string()))?;
        if let (Some(s), Some(u)) = (since, until)
            && s > u
        {
            return Err(("to", "The end is before the start.".into()));
        }
        Ok(AuditQuery {
            event: Some(self.event.clone()),
            user,
            client: Some(self.client.clone()),
            since,
            until,
            before: Some(self.before.clone()),
            ..AuditQuery::default()
        })
    }

    /// The filters as a query string, without the page cursor.
    fn query_string(&self) -> String {
        format!(
            "event={}&user={}&client={}&from={}&to={}",
            enc(self.event.trim()),
            enc(self.user.trim()),
            enc(self.client.trim()),
            enc(self.from.trim()),
            enc(self.to.trim())
        )
    }
}

struct EventRow {
    id: String,
    time: String,
    event: String,
    actor: Option<(String, String)>,
    /// The subject as a user's name and id when it is a user, else as stored.
    subject: Option<(String, Option<String>)>,
    client: Option<(String, String)>,
    ip: String,
    details: String,
}

struct Choice {
    value: String,
    label: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPageView<'a> {
    chrome: &'a Chrome,
    section: &'static str,
    form: &'a AuditForm,
    events: Vec<Choice>,
    clients: Vec<Choice>,
    rows: Vec<EventRow>,
    error: Option<(&'static str, String)>,
    next: Option<String>,
    first_page: Option<String>,
    csv: String,
}

impl AuditPageView<'_> {
    fn error_for(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: AdminSession,
    Query(form): Query<AuditForm>,
) -> Result<Response, WebError> {
    let events = state
        .store
        .audit_event_names()
        .await?
        .into_iter()
        .map(|e| Choice {
            label: e.clone(),
            value: e,
        })
        .collect();
    let all_clients = state.store.list_clients().await?;
    let client_names: HashMap<String, String> = all_clients
        .iter()
        .map(|c| (c.id.clone(), c.name.clone()))
        .collect();
    let clients = all_clients
        .into_iter()
        .map(|c| Choice {
            value: c.id,
            label: c.name,
        })
        .collect();
    let (mut rows, mut error, mut next) = (Vec::new(), None, None);
    match form.query(&state).await {
        Err(e) => error = Some(e),
        Ok(q) => {
            // One more than a page tells whether there is a next one.
            let filter = q.filter(PAGE_SIZE + 1);
            let mut found = state.store.list_audit(&filter).await?;
            let more = found.len() as i64 > PAGE_SIZE;
            found.truncate(PAGE_SIZE as usize);
            if more && let Some(last) = found.last() {
                next = Some(format!(
                    "/admin/audit?{}&before={}",
                    form.query_string(),
                    enc(&last.id)
                ));
            }
            // Ids of users become their names (one look-up per user on the page).
            let mut users: HashMap<String, Option<String>> = HashMap::new();
            for r in &found {
                for id in r.actor_id.iter().chain(r.subject.iter()) {
                    if !users.contains_key(id) {
                        let name = state.store.user_by_id(id).await?.map(|u| u.username);
                        users.insert(id.clone(), name);
                    }
                }
            }
            for r in found {
                let actor = r.actor_id.map(|id| {
                    let name = users[&id].clone().unwrap_or_else(|| id.clone());
                    (name, id)
                });
                let subject = r.subject.map(|id| match users[&id].clone() {
                    Some(name) => (name, Some(id)),
                    None => (id, None),
                });
                rows.push(EventRow {
                    time: when(r.created_at),
                    event: r.event,
                    actor,
                    subject,
                    client: r.client_id.map(|id| {
                        let name = client_names.get(&id).cloned().unwrap_or_else(|| id.clone());
                        (name, id)
                    }),
                    ip: r.ip.unwrap_or_default(),
                    details: r.details.to_string(),
                    id: r.id,
                });
            }
        }
    }
    let first_page =
        (!form.before.trim().is_empty()).then(|| format!("/admin/audit?{}", form.query_string()));
    let csv = format!("/admin/audit.csv?{}", form.query_string());
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = admin.page(&state, &headers);
    Ok(page.render(
        status,
        &AuditPageView {
            chrome: &page.chrome,
            section: "audit",
            form: &form,
            events,
            clients,
            rows,
            error,
            next,
            first_page,
            csv,
        },
    ))
}

/// Every event the filters match, as CSV (the same export as the API's).
pub async fn export_csv(
    State(state): State<AppState>,
    _admin: AdminSession,
    Query(form): Query<AuditForm>,
) -> Result<Response, WebError> {
    let filter: AuditFilter = match form.query(&state).await {
        Ok(q) => q.filter(crate::store::AUDIT_PAGE_MAX),
        Err((_, message)) => {
            return Ok(crate::web::error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Nothing to export",
                &message,
            ));
        }
    };
    let csv = audit_csv(state.store.clone(), filter).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"latchkey-audit.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}
