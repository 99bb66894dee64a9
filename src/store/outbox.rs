//! The mail outbox: a message is a row from the transaction that causes it until the
//! mail server accepted it. Workers claim a row with a lease, so that two instances on
//! one PostgreSQL never send the same message at the same time.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, Tx, now};

/// A message to queue. `id` is chosen by the caller: the sealed body is bound to it.
#[derive(Debug, Clone)]
pub struct NewMail {
    pub id: String,
    pub kind: String,
    pub recipient: String,
    pub user_id: Option<String>,
    pub subject: String,
    pub body_sealed: Vec<u8>,
    pub message_id: String,
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MailStatus {
    Queued,
    Sent,
    Failed,
}

impl MailStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MailStatus::Queued => "queued",
            MailStatus::Sent => "sent",
            MailStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<MailStatus> {
        [MailStatus::Queued, MailStatus::Sent, MailStatus::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// A message as stored.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxMail {
    pub id: String,
    pub kind: String,
    pub recipient: String,
    pub user_id: Option<String>,
    pub subject: String,
    #[serde(skip)]
    pub body_sealed: Option<Vec<u8>>,
    pub message_id: String,
    pub status: MailStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

macro_rules! columns {
    () => {
        "id, kind, recipient, user_id, subject, body_sealed, message_id, status, attempts, \
         next_attempt_at, last_error, created_at, sent_at"
    };
}

fn mail_from_row(row: &AnyRow) -> Result<OutboxMail, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(OutboxMail {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        recipient: row.try_get("recipient")?,
        user_id: row.try_get("user_id")?,
        subject: row.try_get("subject")?,
        body_sealed: row.try_get("body_sealed")?,
        message_id: row.try_get("message_id")?,
        status: MailStatus::parse(&status)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown mail status {status}").into()))?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        sent_at: row.try_get("sent_at")?,
    })
}

impl Store {
    /// Queue a message inside the caller's transaction: it exists exactly when the
    /// event that caused it was committed.
    pub async fn enqueue_mail_in(tx: &mut Tx, mail: &NewMail) -> Result<(), StoreError> {
        let t = now();
        sqlx::query(
            "INSERT INTO mail_outbox (id, kind, recipient, user_id, subject, body_sealed, message_id, status, \
             attempts, next_attempt_at, lease_until, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', 0, $8, 0, $8)",
        )
        .bind(&mail.id)
        .bind(&mail.kind)
        .bind(&mail.recipient)
        .bind(&mail.user_id)
        .bind(&mail.subject)
        .bind(&mail.body_sealed)
        .bind(&mail.message_id)
        .bind(t)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Queue a message that no other row depends on.
    pub async fn enqueue_mail(&self, mail: &NewMail) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        Store::enqueue_mail_in(&mut tx, mail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Queue a message already leased to `owner` (to send it at once, e.g. a test
    /// email): no other worker can take it before the lease ends.
    pub async fn enqueue_mail_leased(
        &self,
        mail: &NewMail,
        owner: &str,
        lease_until: i64,
    ) -> Result<OutboxMail, StoreError> {
        let t = now();
        let row = sqlx::query(concat!(
            "INSERT INTO mail_outbox (id, kind, recipient, user_id, subject, body_sealed, message_id, status, \
             attempts, next_attempt_at, lease_owner, lease_until, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', 1, $8, $9, $10, $8) RETURNING ",
            columns!()
        ))
        .bind(&mail.id)
        .bind(&mail.kind)
        .bind(&mail.recipient)
        .bind(&mail.user_id)
        .bind(&mail.subject)
        .bind(&mail.body_sealed)
        .bind(&mail.message_id)
        .bind(t)
        .bind(owner)
        .bind(lease_until)
        .fetch_one(&mut *self.writer().await?)
        .await?;
        Ok(mail_from_row(&row)?)
    }

    /// Take the next due message for `owner` until `lease_until`; `None` when nothing
    /// is due. Of several workers racing for one row, exactly one gets it.
    pub async fn claim_due_mail(
        &self,
        owner: &str,
        at: i64,
        lease_until: i64,
    ) -> Result<Option<OutboxMail>, StoreError> {
        let row = sqlx::query(concat!(
            "UPDATE mail_outbox SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM mail_outbox WHERE status = 'queued' AND next_attempt_at <= $3 \
             AND lease_until <= $3 ORDER BY next_attempt_at, id LIMIT 1) \
             AND status = 'queued' AND lease_until <= $3 RETURNING ",
            columns!()
        ))
        .bind(owner)
        .bind(lease_until)
        .bind(at)
        .fetch_optional(&mut *self.writer().await?)
        .await?;
        Ok(row.as_ref().map(mail_from_row).transpose()?)
    }

    /// The server accepted the message: mark it sent and drop its sealed parts.
    pub async fn mark_mail_sent(&self, id: &str, owner: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE mail_outbox SET status = 'sent', sent_at = $3, body_sealed = NULL, last_error = NULL, \
             lease_owner = NULL, lease_until = 0 WHERE id = $1 AND lease_owner = $2 AND status = 'queued'",
        )
        .bind(id)
        .bind(owner)
        .bind(now())
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// An attempt failed: try again at `retry_at`, or give up (`None`: status failed).
    pub async fn mark_mail_attempt_failed(
        &self,
        id: &str,
        owner: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let (status, next) = match retry_at {
            Some(at) => (MailStatus::Queued, at),
            None => (MailStatus::Failed, now()),
        };
        let done = sqlx::query(
            "UPDATE mail_outbox SET status = $3, next_attempt_at = $4, last_error = $5, \
             lease_owner = NULL, lease_until = 0 WHERE id = $1 AND lease_owner = $2 AND status = 'queued'",
        )
        .bind(id)
        .bind(owner)
        .bind(status.as_str())
        .bind(next)
        .bind(error)
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Make a queued or failed message due now. False when it was sent or is unknown.
    pub async fn retry_mail_now(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE mail_outbox SET status = 'queued', next_attempt_at = $2 \
             WHERE id = $1 AND status IN ('queued', 'failed') AND body_sealed IS NOT NULL",
        )
        .bind(id)
        .bind(now())
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn mail_by_id(&self, id: &str) -> Result<Option<OutboxMail>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM mail_outbox WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        Ok(row.as_ref().map(mail_from_row).transpose()?)
    }

    /// Messages newest first, all or of one status.
    pub async fn list_mail(
        &self,
        status: Option<MailStatus>,
        limit: i64,
    ) -> Result<Vec<OutboxMail>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM mail_outbox WHERE ($1 IS NULL OR status = $1) ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .bind(status.map(MailStatus::as_str))
        .bind(limit.clamp(1, 1000))
        .fetch_all(&mut *self.reader().await?)
        .await?;
        Ok(rows.iter().map(mail_from_row).collect::<Result<_, _>>()?)
    }

    /// How many messages are in each status.
    pub async fn count_mail(&self) -> Result<Vec<(MailStatus, i64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM mail_outbox GROUP BY status")
                .fetch_all(&mut *self.reader().await?)
                .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(s, n)| MailStatus::parse(&s).map(|s| (s, n)))
            .collect())
    }

    /// Forget sent and failed messages older than `before` (the history the admin sees).
    pub async fn delete_old_mail(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM mail_outbox WHERE status IN ('sent', 'failed') AND created_at < $1",
        )
        .bind(before)
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(done.rows_affected())
    }
}
