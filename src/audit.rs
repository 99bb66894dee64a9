//! Every security event: one audit row and one structured log line with a stable
//! `event` name, so a SIEM can follow the JSON log and an admin the audit page.

use crate::store::{AuditRecord, NewAuditRecord, Store, StoreError, Together};

/// Who caused an event, from where.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub actor_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Origin {
    /// An event caused on the command line by whoever runs `latchkey`.
    pub fn cli() -> Origin {
        Origin {
            user_agent: Some(format!("latchkey-cli/{}", env!("CARGO_PKG_VERSION"))),
            ..Origin::default()
        }
    }
}

/// Record `event` about `subject` with `details`, then log it.
pub async fn record(
    store: &Store,
    event: &str,
    origin: &Origin,
    subject: Option<&str>,
    details: serde_json::Value,
) -> Result<AuditRecord, StoreError> {
    record_with(store, Together::new(), event, origin, subject, details).await
}

/// Record `event` in one commit with the rows it is about (the code an authorization
/// hands out, say): both are written, or neither. Then log it.
pub async fn record_with(
    store: &Store,
    rows: Together,
    event: &str,
    origin: &Origin,
    subject: Option<&str>,
    details: serde_json::Value,
) -> Result<AuditRecord, StoreError> {
    let stored = store
        .insert_audit_with(
            rows,
            &NewAuditRecord {
                event: event.to_string(),
                actor_id: origin.actor_id.clone(),
                subject: subject.map(str::to_string),
                ip: origin.ip.clone(),
                user_agent: origin.user_agent.clone(),
                details,
            },
        )
        .await?;
    tracing::info!(
        target: "audit",
        event = %stored.event,
        actor = stored.actor_id.as_deref().unwrap_or("-"),
        subject = stored.subject.as_deref().unwrap_or("-"),
        ip = stored.ip.as_deref().unwrap_or("-"),
        user_agent = stored.user_agent.as_deref().unwrap_or("-"),
        details = %stored.details,
        audit_id = %stored.id,
        "audit"
    );
    Ok(stored)
}
