//! Groups and memberships.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, conflict_as, missing_as_not_found, new_id, now};
use crate::domain::group::Group;
use crate::domain::user::Source;

pub(super) fn group_from_row(row: &AnyRow) -> Result<Group, sqlx::Error> {
    let external_id: Option<String> = row.try_get("external_id")?;
    Ok(Group {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        display_name: row.try_get("display_name")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        source: Source::of(&external_id),
        external_id,
    })
}

macro_rules! columns {
    () => {
        "id, name, display_name, created_at, updated_at, external_id"
    };
}

fn name_taken(_: &str) -> String {
    "a group with this name already exists".into()
}

impl Store {
    /// Create a group; `name` must be validated (`domain::group::normalize_group_name`).
    pub async fn create_group(&self, name: &str, display_name: &str) -> Result<Group, StoreError> {
        let mut tx = self.begin().await?;
        let gid_number = Store::take_posix_id(&mut tx, super::ldap::GID).await?;
        let sql = concat!(
            "INSERT INTO user_groups (",
            columns!(),
            ", gid_number) VALUES ($1, $2, $3, $4, $4, NULL, $5) RETURNING ",
            columns!()
        );
        let row = sqlx::query(sql)
            .bind(new_id())
            .bind(name)
            .bind(display_name)
            .bind(now())
            .bind(gid_number)
            .fetch_one(&mut *tx)
            .await
            .map_err(conflict_as(name_taken))?;
        tx.commit().await?;
        Ok(group_from_row(&row)?)
    }

    pub async fn group_by_id(&self, id: &str) -> Result<Option<Group>, StoreError> {
        let sql = concat!("SELECT ", columns!(), " FROM user_groups WHERE id = $1");
        let row = sqlx::query(sql)
            .bind(id)
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        Ok(row.as_ref().map(group_from_row).transpose()?)
    }

    pub async fn group_by_name(&self, name: &str) -> Result<Option<Group>, StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM user_groups WHERE lower(name) = lower($1)"
        );
        let row = sqlx::query(sql)
            .bind(name)
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        Ok(row.as_ref().map(group_from_row).transpose()?)
    }

    pub async fn list_groups(&self) -> Result<Vec<Group>, StoreError> {
        let sql = concat!("SELECT ", columns!(), " FROM user_groups ORDER BY name");
        let rows = sqlx::query(sql)
            .fetch_all(&mut *self.reader().await?)
            .await?;
        Ok(rows.iter().map(group_from_row).collect::<Result<_, _>>()?)
    }

    pub async fn rename_group(
        &self,
        id: &str,
        name: &str,
        display_name: &str,
    ) -> Result<Group, StoreError> {
        let sql = concat!(
            "UPDATE user_groups SET name = $2, display_name = $3, updated_at = $4 WHERE id = $1 RETURNING ",
            columns!()
        );
        let row = sqlx::query(sql)
            .bind(id)
            .bind(name)
            .bind(display_name)
            .bind(now())
            .fetch_optional(&mut *self.writer().await?)
            .await
            .map_err(conflict_as(name_taken))?
            .ok_or(StoreError::NotFound)?;
        Ok(group_from_row(&row)?)
    }

    /// Delete a group; memberships and group claims go with it. A group that limits
    /// who may use a client is refused (`Conflict`): deleting it must not open the client.
    pub async fn delete_group(&self, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM user_groups WHERE id = $1")
            .bind(id)
            .execute(&mut *self.writer().await?)
            .await
            .map_err(|e| match &e {
                // SQLite reports ON DELETE RESTRICT as a trigger constraint (code 1811).
                sqlx::Error::Database(db)
                    if db.is_foreign_key_violation() || db.message().contains("FOREIGN KEY constraint failed") =>
                {
                    StoreError::Conflict(
                        "this group limits who may use an application; take it off the application first".into(),
                    )
                }
                _ => StoreError::Database(e),
            })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Add a member; adding an existing member changes nothing.
    pub async fn add_group_member(&self, group_id: &str, user_id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO group_members (group_id, user_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (group_id, user_id) DO NOTHING",
        )
        .bind(group_id)
        .bind(user_id)
        .bind(now())
        .execute(&mut *self.writer().await?)
        .await
        .map_err(missing_as_not_found)?;
        Ok(())
    }

    pub async fn remove_group_member(
        &self,
        group_id: &str,
        user_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
            .bind(group_id)
            .bind(user_id)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    /// The groups a user belongs to, by name.
    pub async fn groups_of_user(&self, user_id: &str) -> Result<Vec<Group>, StoreError> {
        let sql = "SELECT g.id, g.name, g.display_name, g.created_at, g.updated_at, g.external_id FROM user_groups g \
                   JOIN group_members m ON m.group_id = g.id WHERE m.user_id = $1 ORDER BY g.name";
        let rows = sqlx::query(sql)
            .bind(user_id)
            .fetch_all(&mut *self.reader().await?)
            .await?;
        Ok(rows.iter().map(group_from_row).collect::<Result<_, _>>()?)
    }

    /// The ids of a group's members.
    pub async fn group_member_ids(&self, group_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY created_at, user_id",
        )
        .bind(group_id)
        .fetch_all(&mut *self.reader().await?)
        .await?)
    }
}
