//! Proxied applications (forward-auth). (The proxy cookie of a session is in
//! sessions.rs.)
//!
//! The rules are kept as JSON with groups by id; they are read and written with
//! group names (what an admin types and what the rule compares), mapped here.

use std::collections::HashMap;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, conflict_as, flag};
use crate::domain::access::Access;
use crate::domain::proxy_app::{PathRule, ProxyApp, RemoteHeader};
use sqlx::AnyConnection;

/// What a group id that no longer exists reads as: a name no group can have, so a
/// rule that named only a deleted group admits nobody rather than everybody.
const DELETED_GROUP: &str = "(deleted group)";

/// Group names by id, or ids by lower-case name.
async fn group_names(conn: &mut AnyConnection) -> Result<HashMap<String, String>, StoreError> {
    let rows = sqlx::query("SELECT id, name FROM user_groups")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

fn to_names(access: &Access, names: &HashMap<String, String>) -> Access {
    Access {
        groups: access
            .groups
            .iter()
            .map(|id| {
                names
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| DELETED_GROUP.into())
            })
            .collect(),
        ..access.clone()
    }
}

/// The access with group ids for names; a name no group has is `NotFound`.
fn to_ids(access: &Access, names: &HashMap<String, String>) -> Result<Access, StoreError> {
    let ids: HashMap<String, &String> = names
        .iter()
        .map(|(id, name)| (name.to_lowercase(), id))
        .collect();
    Ok(Access {
        groups: access
            .groups
            .iter()
            .map(|n| ids.get(&n.to_lowercase()).map(|id| id.to_string()))
            .collect::<Option<_>>()
            .ok_or(StoreError::NotFound)?,
        ..access.clone()
    })
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn parsed<T: serde::de::DeserializeOwned>(row: &AnyRow, column: &str) -> Result<T, sqlx::Error> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(e.into()))
}

fn app_from_row(
    row: &AnyRow,
    hosts: Vec<String>,
    names: &HashMap<String, String>,
) -> Result<ProxyApp, sqlx::Error> {
    let access: Access = parsed(row, "access")?;
    let paths: Vec<PathRule> = parsed(row, "paths")?;
    Ok(ProxyApp {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        hosts,
        access: to_names(&access, names),
        paths: paths
            .into_iter()
            .map(|p| PathRule {
                access: to_names(&p.access, names),
                prefix: p.prefix,
            })
            .collect(),
        public_paths: parsed(row, "public_paths")?,
        allow_basic: row.try_get::<i64, _>("allow_basic")? != 0,
        headers: parsed::<Vec<RemoteHeader>>(row, "headers")?,
        launch_url: row.try_get("launch_url")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    /// Every proxied application, by name.
    pub async fn proxy_apps(&self) -> Result<Vec<ProxyApp>, StoreError> {
        read_apps(&mut *self.reader().await?, None).await
    }

    /// One application by id or (case-insensitive) name.
    pub async fn proxy_app(&self, id_or_name: &str) -> Result<Option<ProxyApp>, StoreError> {
        Ok(read_apps(&mut *self.reader().await?, Some(id_or_name))
            .await?
            .pop())
    }

    /// Insert a new application, or replace every setting of one with the same id,
    /// in one transaction. A group name that does not exist is `NotFound`; a name or
    /// host another application has is a `Conflict`.
    pub async fn save_proxy_app(&self, app: &ProxyApp) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let names = group_names(&mut tx).await?;
        let access = to_ids(&app.access, &names)?;
        let paths = app
            .paths
            .iter()
            .map(|p| {
                Ok(PathRule {
                    prefix: p.prefix.clone(),
                    access: to_ids(&p.access, &names)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        sqlx::query("DELETE FROM proxy_app_hosts WHERE app_id = $1")
            .bind(&app.id)
            .execute(&mut *tx)
            .await?;
        let updated = sqlx::query(
            "UPDATE proxy_apps SET name = $2, access = $3, paths = $4, public_paths = $5, \
             allow_basic = $6, headers = $7, launch_url = $8, updated_at = $9 WHERE id = $1",
        )
        .bind(&app.id)
        .bind(&app.name)
        .bind(json(&access))
        .bind(json(&paths))
        .bind(json(&app.public_paths))
        .bind(flag(app.allow_basic))
        .bind(json(&app.headers))
        .bind(&app.launch_url)
        .bind(app.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(conflict_as(|_| {
            format!("an application named `{}` exists", app.name)
        }))?;
        if updated.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO proxy_apps (id, name, access, paths, public_paths, allow_basic, headers, \
                 launch_url, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&app.id)
            .bind(&app.name)
            .bind(json(&access))
            .bind(json(&paths))
            .bind(json(&app.public_paths))
            .bind(flag(app.allow_basic))
            .bind(json(&app.headers))
            .bind(&app.launch_url)
            .bind(app.created_at)
            .bind(app.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(conflict_as(|_| format!("an application named `{}` exists", app.name)))?;
        }
        for (position, host) in app.hosts.iter().enumerate() {
            sqlx::query("INSERT INTO proxy_app_hosts (host, app_id, position) VALUES ($1, $2, $3)")
                .bind(host)
                .bind(&app.id)
                .bind(position as i64)
                .execute(&mut *tx)
                .await
                .map_err(conflict_as(|_| {
                    format!("another application already covers `{host}`")
                }))?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_proxy_app(&self, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM proxy_apps WHERE id = $1")
            .bind(id)
            .execute(&mut *self.writer().await?)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

/// Applications with their hosts: all, or the one with this id or name.
async fn read_apps(
    conn: &mut AnyConnection,
    one: Option<&str>,
) -> Result<Vec<ProxyApp>, StoreError> {
    let names = group_names(conn).await?;
    let rows = match one {
        None => {
            sqlx::query("SELECT * FROM proxy_apps ORDER BY name")
                .fetch_all(&mut *conn)
                .await?
        }
        Some(key) => {
            sqlx::query("SELECT * FROM proxy_apps WHERE id = $1 OR LOWER(name) = LOWER($1)")
                .bind(key)
                .fetch_all(&mut *conn)
                .await?
        }
    };
    let mut hosts: HashMap<String, Vec<String>> = HashMap::new();
    for row in sqlx::query("SELECT host, app_id FROM proxy_app_hosts ORDER BY app_id, position")
        .fetch_all(&mut *conn)
        .await?
    {
        hosts
            .entry(row.try_get("app_id")?)
            .or_default()
            .push(row.try_get("host")?);
    }
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("id")?;
            app_from_row(row, hosts.remove(&id).unwrap_or_default(), &names)
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}
