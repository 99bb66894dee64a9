//! The audit log: one row per security event, append-only.

use serde::Serialize;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row as _};

use super::grouped::{Row, Together};
use super::{Store, StoreError, new_id, now};

/// An event to record. `details` is free-form JSON.
#[derive(Debug, Clone, Default)]
pub struct NewAuditRecord {
    pub event: String,
    pub actor_id: Option<String>,
    pub subject: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: serde_json::Value,
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub id: String,
    pub created_at: i64,
    pub event: String,
    pub actor_id: Option<String>,
    pub subject: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: serde_json::Value,
    /// The OIDC client the event is about: `details.client_id` when that is a string.
    pub client_id: Option<String>,
}

/// Which events to list; newest first, `before` = the id of the last row of the previous page.
/// Every filter that is set must match.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub event: Option<String>,
    /// Who caused the event.
    pub actor_id: Option<String>,
    /// Events a user caused or that are about them (actor or subject).
    pub user_id: Option<String>,
    /// Events about an OIDC client.
    pub client_id: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub before: Option<String>,
    pub limit: i64,
}

/// The most rows one page of the audit log may hold.
pub const AUDIT_PAGE_MAX: i64 = 1000;

/// The smallest UUID v7 text made at or after `unix_ms`: ids are time-ordered, so a time
/// bound becomes an id bound that the primary key (and every `(x, id)` index) can seek to.
fn uuid_v7_floor(unix_ms: i64) -> String {
    let ms = unix_ms.clamp(0, (1 << 48) - 1) as u64;
    format!("{:08x}-{:04x}", ms >> 16, ms & 0xffff)
}

macro_rules! columns {
    () => {
        "id, created_at, event, actor_id, subject, ip, user_agent, details, client_id"
    };
}

/// The columns an audit row is inserted with (grouped.rs), in the order of `AuditRow::bind`.
pub(super) const COLUMNS: &str = columns!();

fn record_from_row(row: &AnyRow) -> Result<AuditRecord, sqlx::Error> {
    let details: String = row.try_get("details")?;
    Ok(AuditRecord {
        id: row.try_get("id")?,
        created_at: row.try_get("created_at")?,
        event: row.try_get("event")?,
        actor_id: row.try_get("actor_id")?,
        subject: row.try_get("subject")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details)),
        client_id: row.try_get("client_id")?,
    })
}

/// One row as bound: `details` already serialised. Written in groups (grouped.rs).
pub(super) struct AuditRow {
    id: String,
    created_at: i64,
    event: String,
    actor_id: Option<String>,
    subject: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    details: String,
    client_id: Option<String>,
}

impl AuditRow {
    /// Bind the row's values in the order of `columns!()`.
    pub(super) fn bind<'q>(
        &'q self,
        query: Query<'q, Any, AnyArguments>,
    ) -> Query<'q, Any, AnyArguments> {
        query
            .bind(self.id.as_str())
            .bind(self.created_at)
            .bind(self.event.as_str())
            .bind(self.actor_id.as_deref())
            .bind(self.subject.as_deref())
            .bind(self.ip.as_deref())
            .bind(self.user_agent.as_deref())
            .bind(self.details.as_str())
            .bind(self.client_id.as_deref())
    }
}

impl Store {
    /// Append an event and return it as stored (once it is committed).
    pub async fn insert_audit(&self, record: &NewAuditRecord) -> Result<AuditRecord, StoreError> {
        self.insert_audit_with(Together::new(), record).await
    }

    /// Append an event together with a request's other rows: one commit for all.
    /// `StoreError::Conflict` when the rows rotate a refresh token that was already
    /// used or revoked (`Together::rotate`): then nothing is written.
    pub async fn insert_audit_with(
        &self,
        rows: Together,
        record: &NewAuditRecord,
    ) -> Result<AuditRecord, StoreError> {
        let details = if record.details.is_null() {
            serde_json::json!({})
        } else {
            record.details.clone()
        };
        let stored = AuditRecord {
            id: new_id(),
            created_at: now(),
            event: record.event.clone(),
            actor_id: record.actor_id.clone(),
            subject: record.subject.clone(),
            ip: record.ip.clone(),
            user_agent: record.user_agent.clone(),
            client_id: details["client_id"].as_str().map(str::to_string),
            details,
        };
        let row = AuditRow {
            id: stored.id.clone(),
            created_at: stored.created_at,
            event: stored.event.clone(),
            actor_id: stored.actor_id.clone(),
            subject: stored.subject.clone(),
            ip: stored.ip.clone(),
            user_agent: stored.user_agent.clone(),
            details: stored.details.to_string(),
            client_id: stored.client_id.clone(),
        };
        let mut rows = rows;
        rows.rows.push(Row::Audit(row));
        if !self.groups.write(rows).await? {
            return Err(StoreError::Conflict(
                "the refresh token was already used".into(),
            ));
        }
        Ok(stored)
    }

    /// Delete the events from before `before` (unix seconds), a batch at a time so
    /// that the writer is never held for long; how many were deleted. Ids are UUID v7,
    /// in time order, so the primary key finds them: no index on time is needed.
    pub async fn delete_old_audit(&self, before: i64) -> Result<u64, StoreError> {
        const BATCH: i64 = 5_000;
        let bound = uuid_v7_floor(before.saturating_mul(1000));
        let mut deleted = 0;
        loop {
            let done = sqlx::query(
                "DELETE FROM audit_log WHERE id IN \
                 (SELECT id FROM audit_log WHERE id < $1 ORDER BY id LIMIT $2)",
            )
            .bind(bound.as_str())
            .bind(BATCH)
            .execute(&mut *self.writer().await?)
            .await?;
            deleted += done.rows_affected();
            if done.rows_affected() < BATCH as u64 {
                return Ok(deleted);
            }
        }
    }

    /// A page of events matching `filter`, newest first. The admin page, the API and
    /// both CSV exports all read the log through this one query.
    pub async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        // Only the filters in use become conditions: a `$1 IS NULL OR event = $1` form
        // would be planned once for all values and could use no index.
        let mut conditions: Vec<String> = Vec::new();
        let mut texts: Vec<String> = Vec::new();
        let mut text_condition = |template: &str, value: String, texts: &mut Vec<String>| {
            texts.push(value);
            conditions.push(template.replace('?', &format!("${}", texts.len())));
        };
        if let Some(v) = &filter.event {
            text_condition("event = ?", v.clone(), &mut texts);
        }
        if let Some(v) = &filter.actor_id {
            text_condition("actor_id = ?", v.clone(), &mut texts);
        }
        if let Some(v) = &filter.user_id {
            text_condition("(actor_id = ? OR subject = ?)", v.clone(), &mut texts);
        }
        if let Some(v) = &filter.client_id {
            text_condition("client_id = ?", v.clone(), &mut texts);
        }
        // A second of slack either way: the id and created_at of a row are read from
        // the clock one after the other. created_at below keeps the bounds exact.
        if let Some(since) = filter.since {
            text_condition(
                "id >= ?",
                uuid_v7_floor(since.saturating_sub(1).saturating_mul(1000)),
                &mut texts,
            );
        }
        if let Some(until) = filter.until {
            text_condition(
                "id < ?",
                uuid_v7_floor(until.saturating_add(2).saturating_mul(1000)),
                &mut texts,
            );
        }
        if let Some(v) = &filter.before {
            text_condition("id < ?", v.clone(), &mut texts);
        }
        let mut numbers: Vec<i64> = Vec::new();
        if let Some(since) = filter.since {
            numbers.push(since);
            conditions.push(format!("created_at >= ${}", texts.len() + numbers.len()));
        }
        if let Some(until) = filter.until {
            numbers.push(until);
            conditions.push(format!("created_at <= ${}", texts.len() + numbers.len()));
        }
        numbers.push(filter.limit.clamp(1, AUDIT_PAGE_MAX));
        let limit_param = texts.len() + numbers.len();
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        // Built only from the fixed fragments above; every value is a bind parameter.
        let sql = format!(
            "SELECT {} FROM audit_log{where_clause} ORDER BY id DESC LIMIT ${limit_param}",
            columns!()
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for t in texts {
            query = query.bind(t);
        }
        for n in numbers {
            query = query.bind(n);
        }
        let rows = query.fetch_all(&mut *self.reader().await?).await?;
        Ok(rows.iter().map(record_from_row).collect::<Result<_, _>>()?)
    }

    /// Every event name in the log, sorted: one index seek per name (a loose index
    /// scan), not a read of the whole table.
    pub async fn audit_event_names(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "WITH RECURSIVE names(event) AS ( \
               SELECT MIN(event) FROM audit_log \
               UNION ALL \
               SELECT (SELECT MIN(event) FROM audit_log WHERE event > names.event) \
               FROM names WHERE names.event IS NOT NULL) \
             SELECT event FROM names WHERE event IS NOT NULL",
        )
        .fetch_all(&mut *self.reader().await?)
        .await?)
    }
}

impl Store {
    /// The latest events a user did or that were about them, newest first.
    pub async fn audit_of_user(
        &self,
        user_id: &str,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM audit_log WHERE actor_id = $1 OR subject = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(user_id)
        .bind(limit)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        Ok(rows.iter().map(record_from_row).collect::<Result<_, _>>()?)
    }
}
