//! Passkeys (WebAuthn credentials) and the state of WebAuthn ceremonies in flight.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, conflict_as, flag, now};

/// A registered passkey. `credential` is the library's serialised credential
/// (public key, counter, flags) that verification needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PasskeyRow {
    pub id: String,
    pub user_id: String,
    /// The WebAuthn credential id, base64url.
    pub credential_id: String,
    pub name: String,
    pub aaguid: String,
    pub backup_eligible: bool,
    pub backup_state: bool,
    /// JSON array of transport hints.
    pub transports: String,
    #[serde(skip)]
    pub credential: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

macro_rules! columns {
    () => {
        "id, user_id, credential_id, name, aaguid, backup_eligible, backup_state, transports, credential, created_at, last_used_at"
    };
}

fn passkey_from_row(row: &AnyRow) -> Result<PasskeyRow, sqlx::Error> {
    Ok(PasskeyRow {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        credential_id: row.try_get("credential_id")?,
        name: row.try_get("name")?,
        aaguid: row.try_get("aaguid")?,
        backup_eligible: row.try_get::<i64, _>("backup_eligible")? != 0,
        backup_state: row.try_get::<i64, _>("backup_state")? != 0,
        transports: row.try_get("transports")?,
        credential: row.try_get("credential")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

impl Store {
    pub async fn insert_passkey(&self, p: &PasskeyRow) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO passkeys (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&p.id)
        .bind(&p.user_id)
        .bind(&p.credential_id)
        .bind(&p.name)
        .bind(&p.aaguid)
        .bind(flag(p.backup_eligible))
        .bind(flag(p.backup_state))
        .bind(&p.transports)
        .bind(&p.credential)
        .bind(p.created_at)
        .bind(p.last_used_at)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(conflict_as(|_| "this passkey is already registered".into()))?;
        Ok(())
    }

    pub async fn passkeys_of_user(&self, user_id: &str) -> Result<Vec<PasskeyRow>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM passkeys WHERE user_id = $1 ORDER BY created_at, id"
        ))
        .bind(user_id)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        Ok(rows
            .iter()
            .map(passkey_from_row)
            .collect::<Result<_, _>>()?)
    }

    pub async fn passkey_by_credential_id(
        &self,
        credential_id: &str,
    ) -> Result<Option<PasskeyRow>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM passkeys WHERE credential_id = $1"
        ))
        .bind(credential_id)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        Ok(row.as_ref().map(passkey_from_row).transpose()?)
    }

    /// After a successful use: the new counter state and flags, and the time.
    pub async fn record_passkey_use(
        &self,
        id: &str,
        credential: &str,
        backup_state: bool,
        backup_eligible: bool,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE passkeys SET credential = $2, backup_state = $3, backup_eligible = $4, last_used_at = $5 WHERE id = $1")
            .bind(id)
            .bind(credential)
            .bind(flag(backup_state))
            .bind(flag(backup_eligible))
            .bind(now())
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    pub async fn rename_passkey(
        &self,
        user_id: &str,
        id: &str,
        name: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .bind(name)
            .execute(&mut *self.writer().await?)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn delete_passkey(&self, user_id: &str, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *self.writer().await?)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Remember a WebAuthn ceremony's state until the browser answers.
    pub async fn insert_ceremony(
        &self,
        id: &str,
        kind: &str,
        user_id: Option<&str>,
        state: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO webauthn_ceremonies (id, kind, user_id, state, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(kind)
            .bind(user_id)
            .bind(state)
            .bind(expires_at)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    /// Take a ceremony's state exactly once: (user id, state) if it exists, is of
    /// `kind` and has not expired.
    pub async fn take_ceremony(
        &self,
        id: &str,
        kind: &str,
    ) -> Result<Option<(Option<String>, String)>, StoreError> {
        let row = sqlx::query("DELETE FROM webauthn_ceremonies WHERE id = $1 AND kind = $2 RETURNING user_id, state, expires_at")
            .bind(id)
            .bind(kind)
            .fetch_optional(&mut *self.writer().await?)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: i64 = row.try_get("expires_at")?;
        if expires_at <= now() {
            return Ok(None);
        }
        Ok(Some((row.try_get("user_id")?, row.try_get("state")?)))
    }
}
