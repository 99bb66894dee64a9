//! Latchkey as a client of an upstream directory (OpenLDAP, Synology Directory Server,
//! Active Directory, FreeIPA, lldap): users and groups synced from it, synced users'
//! passwords checked by a bind to it. Beside `ldap/`, where Latchkey is the server.
//!
//! - `settings`: what to connect to and how entries map (env, console, preset).
//! - `client`: the connection, paged searches and the password bind (`ldap3`, rustls).
//! - `mapping`: entries into users and groups, skipped ones with their reason.
//! - `plan`: the rule that decides the changes or refuses them.
//! - this file: the runs (at start, on the interval, on demand), one at a time.

pub mod client;
pub mod fields;
pub mod mapping;
pub mod plan;
pub mod settings;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::audit::{self, Origin};
use crate::config::Config;
use crate::crypto::EncryptionKey;
use crate::domain::user::User;
use crate::store::directory::DirectoryRun;
use crate::store::{Store, StoreError, new_id, now};

pub use client::PasswordCheck;
use plan::Summary;
use settings::{DirectoryConfig, Resolved};

/// How long the settings read from the database are trusted.
const SETTINGS_FRESH: Duration = Duration::from_secs(10);
/// How often the schedule looks whether a run is due (settings may change the interval).
const TICK: Duration = Duration::from_secs(30);

/// What one run did.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RunReport {
    pub id: String,
    /// `applied`, `unchanged`, `refused` or `failed`.
    pub outcome: String,
    #[serde(flatten)]
    pub summary: Summary,
    pub error: Option<String>,
}

/// What "Test connection" found.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TestReport {
    pub ok: bool,
    pub users: usize,
    pub groups: usize,
    pub error: Option<String>,
}

/// The directory client of this process.
pub struct Directory {
    store: Store,
    config: Config,
    keys: Arc<EncryptionKey>,
    cached: RwLock<Option<(Instant, Arc<Resolved>)>>,
    /// One run at a time in this process.
    running: tokio::sync::Mutex<()>,
    last_run: std::sync::Mutex<Option<Instant>>,
    pictures: crate::media::Pictures,
}

impl Directory {
    pub fn new(store: Store, config: &Config, keys: Arc<EncryptionKey>) -> Arc<Directory> {
        Arc::new(Directory {
            store,
            config: config.clone(),
            keys,
            cached: RwLock::new(None),
            running: tokio::sync::Mutex::new(()),
            last_run: std::sync::Mutex::new(None),
            pictures: Default::default(),
        })
    }

    /// The settings in force (read again when older than ten seconds).
    pub async fn settings(&self) -> Result<Arc<Resolved>, StoreError> {
        if let Some((at, r)) = self
            .cached
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            && at.elapsed() < SETTINGS_FRESH
        {
            return Ok(r.clone());
        }
        self.reload().await
    }

    /// Read the settings now (after this process changed them).
    pub async fn reload(&self) -> Result<Arc<Resolved>, StoreError> {
        let fresh = Arc::new(settings::load(&self.store, &self.config, &self.keys).await?);
        *self.cached.write().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), fresh.clone()));
        Ok(fresh)
    }

    /// The usable directory, if one is set up.
    pub async fn active(&self) -> Option<DirectoryConfig> {
        self.settings().await.ok()?.usable().cloned()
    }

    /// Whether `user`'s password is checked by the directory.
    pub async fn checks_password_of(&self, user: &User) -> Option<DirectoryConfig> {
        if !user.is_synced() {
            return None;
        }
        self.active()
            .await
            .filter(|c| c.passwords == settings::Passwords::Directory)
    }

    /// Whether the sync decides `user`'s admin flag (a synced user, an admin group set).
    pub async fn manages_admin_flag(&self, user: &User) -> bool {
        user.is_synced() && self.active().await.is_some_and(|c| c.admin_group.is_some())
    }

    /// Check a synced user's password by a bind to the directory. The entry found must
    /// be this user's (same unique id): a username that moved to someone else upstream
    /// is not this user's password.
    pub async fn check_password(
        &self,
        config: &DirectoryConfig,
        user: &User,
        password: &str,
    ) -> PasswordCheck {
        match client::check_password(config, &user.username, password).await {
            PasswordCheck::Correct { unique_id } if unique_id != user.external_id => {
                PasswordCheck::NoSuchUser
            }
            other => other,
        }
    }

    /// Bind and count what the filters find; changes nothing.
    pub async fn test_connection(&self, config: &DirectoryConfig) -> TestReport {
        match client::fetch(config).await {
            Ok(f) => TestReport {
                ok: true,
                users: f.users.len(),
                groups: f.groups.len(),
                error: None,
            },
            Err(e) => TestReport {
                ok: false,
                users: 0,
                groups: 0,
                error: Some(e.to_string()),
            },
        }
    }

    /// Run a sync now (waiting for one already running). `cause` says what asked.
    pub async fn sync(&self, cause: &str, origin: &Origin) -> Result<RunReport, StoreError> {
        let _one = self.running.lock().await;
        let started = now();
        *self.last_run.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let settings = self.reload().await?;
        let config = match &settings.config {
            Ok(Some(c)) => c.clone(),
            Ok(None) => {
                return self
                    .finish(
                        started,
                        cause,
                        origin,
                        "failed",
                        Summary::default(),
                        Some("no directory is set up (LATCHKEY_DIRECTORY_URL and _BASE_DN, or Admin → Directory)".into()),
                        None,
                    )
                    .await;
            }
            Err(problems) => {
                let text = problems
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                return self
                    .finish(
                        started,
                        cause,
                        origin,
                        "failed",
                        Summary::default(),
                        Some(format!("the settings cannot be used: {text}")),
                        None,
                    )
                    .await;
            }
        };
        let fetched = match client::fetch(&config).await {
            Ok(f) => f,
            Err(e) => {
                return self
                    .finish(
                        started,
                        cause,
                        origin,
                        "failed",
                        Summary::default(),
                        Some(e.to_string()),
                        None,
                    )
                    .await;
            }
        };
        let mut skipped = Vec::new();
        let users = mapping::users(&fetched.users, &config.attrs, &mut skipped);
        let groups = mapping::groups(&fetched.groups, &config.attrs, &users, &mut skipped);
        let pictures: Vec<(String, Option<Vec<u8>>)> = if config.attrs.picture.is_some() {
            users
                .users
                .iter()
                .map(|u| (u.fields.external_id.clone(), u.picture.clone()))
                .collect()
        } else {
            Vec::new()
        };
        let state = self.store.synced_state().await?;
        let planned = plan::plan(
            users.users,
            groups,
            &state,
            config.admin_group.as_deref(),
            config.delete_mode,
            config.max_disable_percent,
            skipped,
        );
        match planned {
            Err((refusal, summary)) => {
                self.finish(
                    started,
                    cause,
                    origin,
                    "refused",
                    summary,
                    Some(refusal.to_string()),
                    None,
                )
                .await
            }
            Ok((changes, summary)) if changes.is_empty() => {
                let report = self
                    .finish(started, cause, origin, "unchanged", summary, None, None)
                    .await;
                self.sync_pictures(&pictures).await;
                report
            }
            Ok((changes, summary)) => {
                let report = self
                    .finish(
                        started,
                        cause,
                        origin,
                        "applied",
                        summary,
                        None,
                        Some(&changes),
                    )
                    .await;
                self.sync_pictures(&pictures).await;
                report
            }
        }
    }

    /// Record the run (with its changes, in one transaction, when there are some), then
    /// audit and log it.
    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        started: i64,
        cause: &str,
        origin: &Origin,
        outcome: &str,
        summary: Summary,
        error: Option<String>,
        changes: Option<&crate::store::directory::SyncChanges>,
    ) -> Result<RunReport, StoreError> {
        let mut run = DirectoryRun {
            id: new_id(),
            started_at: started,
            finished_at: now(),
            cause: cause.to_string(),
            outcome: outcome.to_string(),
            summary: serde_json::to_value(&summary).unwrap_or_default(),
            error,
        };
        if let Some(changes) = changes
            && let Err(e) = self.store.apply_sync(changes, &run).await
        {
            // Nothing was applied: the run failed, and says why.
            run.outcome = "failed".into();
            run.error = Some(format!(
                "the changes could not be saved, none were applied: {e}"
            ));
            run.summary = serde_json::to_value(Summary::default()).unwrap_or_default();
            self.store.record_directory_run(&run).await?;
        } else if changes.is_none() {
            self.store.record_directory_run(&run).await?;
        }
        let counts = json!({
            "outcome": run.outcome,
            "created": summary.created,
            "updated": summary.updated,
            "enabled": summary.enabled,
            "disabled": summary.disabled,
            "deleted": summary.deleted,
            "groups_created": summary.groups_created,
            "groups_updated": summary.groups_updated,
            "groups_deleted": summary.groups_deleted,
            "skipped": summary.skipped.len(),
            "error": run.error,
        });
        let details = json!({"cause": cause, "run": run.id, "after": counts});
        match run.outcome.as_str() {
            "failed" | "refused" => {
                let event = if run.outcome == "failed" {
                    "directory.sync.failed"
                } else {
                    "directory.sync.refused"
                };
                tracing::warn!(
                    event,
                    cause,
                    error = run.error.as_deref().unwrap_or(""),
                    "the directory sync did not change anything: {}",
                    run.error.as_deref().unwrap_or("")
                );
                let _ = audit::record(&self.store, event, origin, Some("directory"), details).await;
            }
            "applied" => {
                let _ = audit::record(
                    &self.store,
                    "directory.sync.applied",
                    origin,
                    Some("directory"),
                    details,
                )
                .await;
            }
            // Asked for by someone: their action is on record. On the schedule: a log line.
            _ if !matches!(cause, "start" | "interval") => {
                let _ = audit::record(
                    &self.store,
                    "directory.sync.unchanged",
                    origin,
                    Some("directory"),
                    details,
                )
                .await;
            }
            _ => tracing::info!(
                event = "directory.sync.unchanged",
                cause,
                "the directory sync found nothing to change"
            ),
        }
        if run.outcome == "failed" && changes.is_some() {
            return Ok(RunReport {
                id: run.id,
                outcome: run.outcome,
                summary: Summary::default(),
                error: run.error,
            });
        }
        Ok(RunReport {
            id: run.id,
            outcome: run.outcome,
            summary,
            error: run.error,
        })
    }

    /// Pictures from the directory: stored re-encoded, marked with the hash of the
    /// directory's bytes so that an unchanged picture is not decoded again.
    async fn sync_pictures(&self, pictures: &[(String, Option<Vec<u8>>)]) {
        if pictures.is_empty() {
            return;
        }
        let Ok(state) = self.store.synced_state().await else {
            return;
        };
        let Ok(etags) = self.store.image_etags("user:").await else {
            return;
        };
        let ids: std::collections::HashMap<&str, &str> = state
            .users
            .iter()
            .filter_map(|u| Some((u.user.external_id.as_deref()?, u.user.id.as_str())))
            .collect();
        for (external_id, bytes) in pictures {
            let Some(id) = ids.get(external_id.as_str()) else {
                continue;
            };
            let owner = format!("user:{id}");
            let have = etags.get(&owner);
            match bytes {
                Some(bytes) => {
                    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
                    let etag = format!("dir-{}", hex::encode(&digest.as_ref()[..8]));
                    if have == Some(&etag) {
                        continue;
                    }
                    match self.pictures.profile_picture(bytes.clone()).await {
                        Ok(png) => {
                            let _ = self
                                .store
                                .put_image(&owner, "image/png", &png.0, &etag)
                                .await;
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, user = id, "a directory picture cannot be used")
                        }
                    }
                }
                None if have.is_some_and(|e| e.starts_with("dir-")) => {
                    let _ = self.store.delete_image(&owner).await;
                }
                None => {}
            }
        }
    }

    /// Sync at start and then on the interval, until `shutdown` fires.
    pub fn spawn_schedule(self: &Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                if let Some(config) = this.active().await {
                    let due = this
                        .last_run
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .is_none_or(|at| at.elapsed() >= config.interval);
                    if due {
                        let first = this
                            .last_run
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .is_none();
                        let cause = if first { "start" } else { "interval" };
                        if let Err(e) = this.sync(cause, &Origin::default()).await {
                            tracing::warn!(event = "directory.sync.failed", error = %e, "the directory sync failed");
                        }
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(TICK) => {}
                    _ = shutdown.changed() => return,
                }
            }
        });
    }
}
