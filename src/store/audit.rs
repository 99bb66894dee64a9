//! The audit log: one row per security event, append-only.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub id: String,
    pub created_at: i64,
    pub event: String,
    pub actor_id: Option<String>,
    pub subject: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: serde_json::Value,
}

/// Which events to list; newest first, `before` = the id of the last row of the previous page.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub event: Option<String>,
    pub actor_id: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub before: Option<String>,
    pub limit: i64,
}

macro_rules! columns {
    () => {
        "id, created_at, event, actor_id, subject, ip, user_agent, details"
    };
}

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
    })
}

impl Store {
    /// Append an event and return it as stored.
    pub async fn insert_audit(&self, record: &NewAuditRecord) -> Result<AuditRecord, StoreError> {
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
            details,
        };
        let sql = concat!(
            "INSERT INTO audit_log (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        sqlx::query(sql)
            .bind(&stored.id)
            .bind(stored.created_at)
            .bind(&stored.event)
            .bind(&stored.actor_id)
            .bind(&stored.subject)
            .bind(&stored.ip)
            .bind(&stored.user_agent)
            .bind(stored.details.to_string())
            .execute(self.writer())
            .await?;
        Ok(stored)
    }

    /// A page of events matching `filter`, newest first.
    pub async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        // Unused filters compare a NULL parameter, so one statement serves every filter.
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM audit_log \
             WHERE ($1 IS NULL OR event = $1) AND ($2 IS NULL OR actor_id = $2) \
             AND ($3 IS NULL OR created_at >= $3) AND ($4 IS NULL OR created_at <= $4) \
             AND ($5 IS NULL OR id < $5) \
             ORDER BY id DESC LIMIT $6"
        );
        let rows = sqlx::query(sql)
            .bind(&filter.event)
            .bind(&filter.actor_id)
            .bind(filter.since)
            .bind(filter.until)
            .bind(&filter.before)
            .bind(filter.limit.clamp(1, 1000))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(record_from_row).collect::<Result<_, _>>()?)
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
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(record_from_row).collect::<Result<_, _>>()?)
    }
}
