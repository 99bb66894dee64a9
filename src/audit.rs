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

/// The most bytes of JSON details one audit row keeps.
pub const DETAILS_MAX: usize = 8 * 1024;
/// Strings in the details of an oversized row are cut to this many characters.
const STRING_MAX: usize = 256;

/// `details`, cut down when it would make a row larger than `DETAILS_MAX`: long
/// strings are shortened (marked with `…`), and what is still too large is replaced by
/// its size. Nothing that reaches the audit log can make one row large.
pub fn bounded(details: serde_json::Value) -> serde_json::Value {
    let size = details.to_string().len();
    if size <= DETAILS_MAX {
        return details;
    }
    fn shorten(v: serde_json::Value, depth: usize) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::String(s) if s.chars().count() > STRING_MAX => {
                let mut cut: String = s.chars().take(STRING_MAX).collect();
                cut.push('…');
                Value::String(cut)
            }
            Value::Array(items) if depth < 4 => Value::Array(
                items
                    .into_iter()
                    .take(32)
                    .map(|i| shorten(i, depth + 1))
                    .collect(),
            ),
            Value::Object(map) if depth < 4 => Value::Object(
                map.into_iter()
                    .take(32)
                    .map(|(k, v)| (k.chars().take(64).collect(), shorten(v, depth + 1)))
                    .collect(),
            ),
            Value::Array(_) | Value::Object(_) => Value::String("…".into()),
            other => other,
        }
    }
    let short = shorten(details, 0);
    if short.to_string().len() <= DETAILS_MAX {
        short
    } else {
        serde_json::json!({"truncated": true, "bytes": size})
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
    let details = bounded(details);
    let stored = store
        .insert_audit_with(
            rows,
            &NewAuditRecord {
                event: event.to_string(),
                actor_id: origin.actor_id.clone(),
                subject: subject.map(str::to_string),
                ip: origin.ip.clone(),
                // A User-Agent is whatever the client sends: keep a useful prefix.
                user_agent: origin
                    .user_agent
                    .as_ref()
                    .map(|ua| ua.chars().take(512).collect()),
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

/// Events that happen again and again (a service binding for every request it
/// checks, a denied browser retrying): the first of a key in `WINDOW` is a row, the
/// ones after it only a log line, and the next row says how many it stands for. At
/// most `HELD` keys are remembered; past that, new keys are log lines only.
pub struct Folding<K> {
    seen: std::sync::Mutex<std::collections::HashMap<K, Folded>>,
}

struct Folded {
    row_at: std::time::Instant,
    folded: u64,
}

impl<K> Default for Folding<K> {
    fn default() -> Self {
        Folding {
            seen: Default::default(),
        }
    }
}

impl<K: std::hash::Hash + Eq> Folding<K> {
    pub const WINDOW: std::time::Duration = std::time::Duration::from_secs(60);
    const HELD: usize = 10_000;

    /// `Some(n)`: write a row, standing also for `n` events folded since the last
    /// one; `None`: folded into the next row.
    pub fn note(&self, key: K) -> Option<u64> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(recent) = seen.get_mut(&key) {
            if recent.row_at.elapsed() < Self::WINDOW {
                recent.folded += 1;
                return None;
            }
            let folded = recent.folded;
            *recent = Folded {
                row_at: std::time::Instant::now(),
                folded: 0,
            };
            return Some(folded);
        }
        if seen.len() >= Self::HELD {
            seen.retain(|_, r| r.row_at.elapsed() < Self::WINDOW);
        }
        if seen.len() >= Self::HELD {
            // Full of keys seen this minute (a flood of different ones): a log line
            // only, so that no flood can turn every request into a row.
            return None;
        }
        seen.insert(
            key,
            Folded {
                row_at: std::time::Instant::now(),
                folded: 0,
            },
        );
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn small_details_are_kept_and_large_ones_cut() {
        let small = json!({"method": "password", "login": "bob"});
        assert_eq!(bounded(small.clone()), small);
        let big = bounded(json!({"login": "A".repeat(1_500_000), "reason": "bad_password"}));
        assert!(big.to_string().len() <= DETAILS_MAX);
        assert_eq!(big["reason"], "bad_password");
        assert!(big["login"].as_str().unwrap().ends_with('…'));
        let many: serde_json::Map<String, serde_json::Value> =
            (0..5000).map(|i| (format!("k{i}"), json!(i))).collect();
        let cut = bounded(serde_json::Value::Object(many));
        assert!(cut.to_string().len() <= DETAILS_MAX);
    }
}
