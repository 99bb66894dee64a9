//! Invite links for sign-up, and sign-up itself: the user, the invite's use and the
//! invite's group memberships are written in one transaction.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, Tx, new_id, now};
use crate::domain::user::{NewUser, User};

/// An invite link as the console lists it (the token itself is only shown once).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Invite {
    pub id: String,
    pub note: String,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub max_uses: i64,
    pub uses: i64,
    pub revoked_at: Option<i64>,
    /// Ids of the groups a new user joins.
    pub group_ids: Vec<String>,
}

impl Invite {
    /// Whether someone may still sign up with it at `t`.
    pub fn usable(&self, t: i64) -> bool {
        self.revoked_at.is_none() && t < self.expires_at && self.uses < self.max_uses
    }
}

/// What an admin asked for; `token_hash` is the SHA-256 of the secret in the link.
pub struct NewInvite<'a> {
    pub token_hash: &'a str,
    pub note: &'a str,
    pub created_by: Option<&'a str>,
    pub expires_at: i64,
    pub max_uses: i64,
    pub group_ids: &'a [String],
}

/// Why a sign-up did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SignupRejection {
    #[error("the invite link has expired, was used up or was revoked")]
    InviteUnusable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invite_from_row(row: &AnyRow) -> Result<Invite, sqlx::Error> {
    Ok(Invite {
        id: row.try_get("id")?,
        note: row.try_get("note")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        max_uses: row.try_get("max_uses")?,
        uses: row.try_get("uses")?,
        revoked_at: row.try_get("revoked_at")?,
        group_ids: Vec::new(),
    })
}

macro_rules! columns {
    () => {
        "id, note, created_by, created_at, expires_at, max_uses, uses, revoked_at"
    };
}

impl Store {
    pub async fn create_invite(&self, new: &NewInvite<'_>) -> Result<Invite, StoreError> {
        let id = new_id();
        let t = now();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO invites (id, token_hash, note, created_by, created_at, expires_at, max_uses) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(new.token_hash)
        .bind(new.note)
        .bind(new.created_by)
        .bind(t)
        .bind(new.expires_at)
        .bind(new.max_uses)
        .execute(&mut *tx)
        .await?;
        for group in new.group_ids {
            let added = sqlx::query(
                "INSERT INTO invite_groups (invite_id, group_id) \
                 SELECT $1, id FROM user_groups WHERE id = $2",
            )
            .bind(&id)
            .bind(group)
            .execute(&mut *tx)
            .await?;
            if added.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
        }
        tx.commit().await?;
        self.invite_by_id(&id).await?.ok_or(StoreError::NotFound)
    }

    async fn with_groups(&self, mut invite: Invite) -> Result<Invite, StoreError> {
        invite.group_ids = sqlx::query_scalar(
            "SELECT group_id FROM invite_groups WHERE invite_id = $1 ORDER BY group_id",
        )
        .bind(&invite.id)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        Ok(invite)
    }

    pub async fn invite_by_id(&self, id: &str) -> Result<Option<Invite>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM invites WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        match row {
            Some(r) => Ok(Some(self.with_groups(invite_from_row(&r)?).await?)),
            None => Ok(None),
        }
    }

    pub async fn invite_by_token(&self, token_hash: &str) -> Result<Option<Invite>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM invites WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        match row {
            Some(r) => Ok(Some(self.with_groups(invite_from_row(&r)?).await?)),
            None => Ok(None),
        }
    }

    /// Every invite, newest first.
    pub async fn list_invites(&self) -> Result<Vec<Invite>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM invites ORDER BY created_at DESC, id DESC"
        ))
        .fetch_all(&mut *self.reader().await?)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.with_groups(invite_from_row(r)?).await?);
        }
        Ok(out)
    }

    /// Stop an invite from being used; `NotFound` when there is no such invite.
    pub async fn revoke_invite(&self, id: &str) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE invites SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now())
                .execute(&mut *self.writer().await?)
                .await?;
        if done.rows_affected() == 0 && self.invite_by_id(id).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Create a user who signed up themselves inside `tx`, spending one use of
    /// `invite_id` (when given) and joining its groups. Two people racing for the last
    /// use of an invite cannot both get it: the use is taken by a guarded UPDATE.
    pub async fn sign_up_in(
        tx: &mut Tx,
        user: &NewUser,
        invite_id: Option<&str>,
    ) -> Result<User, SignupRejection> {
        if let Some(id) = invite_id {
            let spent = sqlx::query(
                "UPDATE invites SET uses = uses + 1 WHERE id = $1 AND revoked_at IS NULL \
                 AND expires_at > $2 AND uses < max_uses",
            )
            .bind(id)
            .bind(now())
            .execute(&mut **tx)
            .await
            .map_err(StoreError::from)?;
            if spent.rows_affected() != 1 {
                return Err(SignupRejection::InviteUnusable);
            }
        }
        let created = Store::create_user_in(tx, user).await?;
        if let Some(id) = invite_id {
            sqlx::query(
                "INSERT INTO group_members (group_id, user_id, created_at) \
                 SELECT group_id, $2, $3 FROM invite_groups WHERE invite_id = $1",
            )
            .bind(id)
            .bind(&created.id)
            .bind(now())
            .execute(&mut **tx)
            .await
            .map_err(StoreError::from)?;
        }
        Ok(created)
    }
}
