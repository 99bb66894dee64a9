//! Making, changing and deleting proxied applications: the one flow the console,
//! the API and the CLI share. Every change is audited with what it changed.

use serde_json::json;

use crate::audit::{self, Origin};
use crate::domain::Invalid;
use crate::domain::proxy_app::{AppSpec, ProxyApp};
use crate::store::{Store, StoreError, new_id, now};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every group the spec names must exist (a typo would otherwise lock everyone out,
/// or, once fixed, in).
async fn check_groups(store: &Store, spec: &AppSpec) -> Result<(), AppError> {
    let groups = store.list_groups().await?;
    let named = spec
        .groups
        .iter()
        .chain(spec.paths.iter().flat_map(|p| p.access.groups.iter()));
    for name in named {
        if !groups
            .iter()
            .any(|g| g.name.eq_ignore_ascii_case(name.trim()))
        {
            return Err(Invalid::new("groups", format!("there is no group named `{name}`")).into());
        }
    }
    Ok(())
}

pub async fn create(store: &Store, spec: AppSpec, origin: &Origin) -> Result<ProxyApp, AppError> {
    check_groups(store, &spec).await?;
    let t = now();
    let app = spec.build(new_id(), t, t)?;
    store.save_proxy_app(&app).await?;
    audit::record(
        store,
        "proxy_app.created",
        origin,
        Some(&app.id),
        json!({"name": app.name, "after": app}),
    )
    .await?;
    Ok(app)
}

/// Replace an application's settings with `spec` (made from `AppSpec::of` and
/// changed): checked first, then saved whole or not at all.
pub async fn update(
    store: &Store,
    before: &ProxyApp,
    spec: AppSpec,
    origin: &Origin,
) -> Result<ProxyApp, AppError> {
    check_groups(store, &spec).await?;
    let app = spec.build(before.id.clone(), before.created_at, now())?;
    store.save_proxy_app(&app).await?;
    audit::record(
        store,
        "proxy_app.updated",
        origin,
        Some(&app.id),
        json!({"name": app.name, "before": before, "after": app}),
    )
    .await?;
    Ok(app)
}

pub async fn delete(store: &Store, app: &ProxyApp, origin: &Origin) -> Result<(), AppError> {
    store.delete_proxy_app(&app.id).await?;
    audit::record(
        store,
        "proxy_app.deleted",
        origin,
        Some(&app.id),
        json!({"name": app.name, "before": app}),
    )
    .await?;
    Ok(())
}
