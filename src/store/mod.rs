//! The only place SQL lives. One `Store` over SQLite (default) or PostgreSQL.
//!
//! Queries are written once in the portable subset (`$1` placeholders, TEXT, BIGINT,
//! BLOB/BYTEA, unix-second times, 0/1 booleans) and run through sqlx's `Any` driver;
//! only the DDL differs, in `migrations/sqlite` and `migrations/postgres`.

mod api_keys;
mod audit;
mod checkpoint;
mod claims;
mod clients;
mod conns;
mod credentials;
pub mod directory;
pub mod files;
mod grants;
mod grouped;
mod groups;
mod housekeeping;
mod images;
mod invites;
pub mod ldap;
mod login_codes;
mod meta;
mod outbox;
mod passkeys;
mod proxy_apps;
mod sessions;
mod settings;
mod signing_keys;
pub mod snapshot;
mod throttle;
mod user_tokens;
mod users;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};

use conns::{Conn, Conns, Held, Role, Written};

use crate::config::DatabaseUrl;

pub use api_keys::ApiKey;
pub use audit::{AUDIT_PAGE_MAX, AuditFilter, AuditRecord, NewAuditRecord};
pub use claims::ClaimOwner;
pub use conns::Tx;
pub use credentials::UserCredentials;
pub use grants::{AccessRecord, CodeGrant, Redemption, RefreshGrant};
pub use grouped::Together;
pub use housekeeping::{DEVICE_MEMORY, MAIL_HISTORY, PRUNED_TABLES, Retention};
pub use images::StoredImage;
pub use invites::{Invite, NewInvite, SignupRejection};
pub use ldap::{AppPassword, DirGroup, DirUser, LdapAccount, Select};
pub use login_codes::{CodeBinding, CodeRejection, EmailedCode};
pub use outbox::{MailStatus, NewMail, OutboxMail};
pub use passkeys::PasskeyRow;
pub use signing_keys::SigningKeyRow;
pub use throttle::{Refusals, ThrottleRule, ThrottleState};
pub use user_tokens::{NOT_ME, VERIFY_EMAIL, Verification};
pub use users::UserUpdate;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// What went wrong in the store, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique value is already taken; the message says which.
    #[error("{0}")]
    Conflict(String),
    #[error("not found")]
    NotFound,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Which database engine a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the database; cheap to clone.
///
/// SQLite allows one writer at a time; concurrent writers otherwise collide and
/// back off inside SQLite's busy handler, which wrecks throughput and latency under
/// load. So on SQLite every write goes through one `writer` connection (writes queue
/// in-process, in order) while reads use up to eight others (`readers`), which WAL lets
/// run alongside the writer. These SQLite connections are held by the store itself
/// (`conns.rs` says why); on PostgreSQL all three are sqlx's one pool.
///
/// Reads that walk many rows (a user search among 100 000) use `scan`: on SQLite two
/// connections that read through a memory map of the database file, so that a page
/// costs no system call. The hot paths keep to `readers` without a map: SQLite drops a
/// connection's whole map at each read after another connection wrote, and on a
/// write-heavy path (every authorization writes) that unmap and remap cost more than
/// the reads they save.
#[derive(Clone, Debug)]
pub struct Store {
    readers: Conns,
    writer: Conns,
    scan: Conns,
    backend: Backend,
    groups: grouped::Groups,
    /// On SQLite, the connection that checkpoints the write-ahead log (checkpoint.rs).
    checkpointer: Option<Arc<Held>>,
    /// Write transactions and writer connections given back so far (see `write_count`).
    writes: Arc<std::sync::atomic::AtomicU64>,
    /// The directory in memory, for LDAP (snapshot.rs).
    directory: Arc<snapshot::Cache>,
}

impl Store {
    /// Connect (creating the SQLite file and its directory when missing). Does not migrate.
    pub async fn connect(database: &DatabaseUrl) -> Result<Store, StoreError> {
        install_default_drivers();
        let (url, backend, max) = match database {
            DatabaseUrl::Sqlite(path) => {
                prepare_sqlite_files(path).map_err(|e| StoreError::Database(e.into()))?;
                (sqlite_url(path), Backend::Sqlite, 8)
            }
            DatabaseUrl::Postgres(url) => (url.clone(), Backend::Postgres, 16),
        };
        let (readers, writer, scan, checkpointer) = match backend {
            Backend::Sqlite => {
                let writer = Held::open(&url, 1, Role::Write, 1).await?;
                let checkpointer =
                    checkpoint::start(&url, writer.clone(), checkpoint::Limits::DEFAULT).await?;
                (
                    Conns::Held(Held::open(&url, max, Role::Read, 1).await?),
                    Conns::Held(writer),
                    // Opened on the first search, not at start.
                    Conns::Held(Held::open(&url, 2, Role::Scan, 0).await?),
                    Some(checkpointer),
                )
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(max as u32)
                    .min_connections(1)
                    .acquire_timeout(Duration::from_secs(5))
                    // sqlx pings a connection when it is returned to the pool anyway; a
                    // second ping before each use cost a network round trip per query on
                    // every request. A connection that broke while idle fails its next
                    // query and is then dropped.
                    .test_before_acquire(false)
                    .connect(&url)
                    .await?;
                let conns = Conns::Pool(pool);
                (conns.clone(), conns.clone(), conns, None)
            }
        };
        let groups = grouped::Groups::start(writer.clone());
        Ok(Store {
            readers,
            writer,
            scan,
            backend,
            groups,
            checkpointer,
            writes: Default::default(),
            directory: Default::default(),
        })
    }

    /// Connect and bring the schema up to date.
    pub async fn open(database: &DatabaseUrl) -> Result<Store, StoreError> {
        let store = Store::connect(database).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Apply every pending migration (safe to run concurrently from several instances).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = self.writer().await?;
                sqlx::query("PRAGMA journal_mode = WAL")
                    .execute(&mut *conn)
                    .await?;
                SQLITE_MIGRATIONS.run(&mut *conn).await?;
            }
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&mut *self.writer().await?).await?,
        }
        Ok(())
    }

    /// The number of migrations applied, for `latchkey migrate` to report.
    pub async fn applied_migrations(&self) -> Result<i64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = $1")
            .bind(true)
            .fetch_one(&mut *self.reader().await?)
            .await?;
        Ok(n)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Does the database answer? Used by `/healthz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let one: i64 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut *self.reader().await?)
            .await?;
        debug_assert_eq!(one, 1);
        Ok(())
    }

    /// Close the SQLite connections a burst of load opened once they have been idle
    /// for a minute; run every so often. A no-op on PostgreSQL (sqlx's pool does it).
    pub async fn close_idle_connections(&self) {
        self.readers.close_idle().await;
        self.scan.close_idle().await;
    }

    /// A consistent online copy of a SQLite database (`VACUUM INTO`).
    pub async fn backup_sqlite(&self, to: &Path) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Conflict(
                "online backup is for SQLite; back up PostgreSQL with pg_dump".into(),
            ));
        }
        // Made empty and private first (VACUUM INTO fills an empty file), so that the
        // copy is never readable by others, not even for a moment.
        match files::create_private_file(to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StoreError::Conflict(format!(
                    "{} already exists; choose a new file",
                    to.display()
                )));
            }
            Err(e) => return Err(StoreError::Database(e.into())),
        }
        let copied = sqlx::query("VACUUM INTO $1")
            .bind(to.to_string_lossy().into_owned())
            .execute(&mut *self.writer().await?)
            .await;
        if let Err(e) = copied {
            let _ = std::fs::remove_file(to);
            return Err(e.into());
        }
        Ok(())
    }

    /// Close every connection; later calls fail (used at shutdown and in tests).
    /// Closing waits for connections in use to come back, but never more than five
    /// seconds: a stuck close must not keep a finished command from exiting.
    pub async fn close(&self) {
        let all = async {
            self.readers.close().await;
            self.writer.close().await;
            self.scan.close().await;
            if let Some(checkpointer) = &self.checkpointer {
                checkpointer.close().await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(5), all)
            .await
            .is_err()
        {
            tracing::warn!("database connections did not close within 5 s");
        }
    }

    /// Start a write transaction (see [`Tx`]).
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(self.writer.begin().await?.counted(self.writes.clone()))
    }

    /// How many times this process has finished with the writer (a transaction
    /// committed, or a writer connection given back) — not counting the grouped
    /// inserts of audit rows, access records and codes. A cache of rows that only
    /// change through the writer is fresh while this count stays the same.
    pub fn write_count(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Every enabled user, group and service account, from memory when nothing
    /// changed (see snapshot.rs for how fresh it is).
    pub async fn directory_snapshot(&self) -> Result<Arc<snapshot::Snapshot>, StoreError> {
        self.directory.get(self).await
    }

    /// A connection for reads.
    pub(crate) async fn reader(&self) -> Result<Conn, sqlx::Error> {
        self.readers.get().await
    }

    /// A connection for reads that walk many rows (memory-mapped on SQLite).
    pub(crate) async fn scanner(&self) -> Result<Conn, sqlx::Error> {
        self.scan.get().await
    }

    /// The connection for writes (the one writer on SQLite).
    pub(crate) async fn writer(&self) -> Result<Written, sqlx::Error> {
        Ok(Written::new(self.writer.get().await?, self.writes.clone()))
    }
}

/// A `sqlite://` URL for a file path, escaping what the URL form would misread.
fn sqlite_url(path: &Path) -> String {
    let text = path.to_string_lossy();
    let escaped = text
        .replace('%', "%25")
        .replace('?', "%3F")
        .replace('#', "%23");
    format!("sqlite://{escaped}?mode=rwc")
}

/// A new time-ordered id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The current time in unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Turn a unique-constraint violation into a `Conflict` with the given message.
fn conflict_as(message: impl FnOnce(&str) -> String) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let constraint = db
                .constraint()
                .map(str::to_string)
                .unwrap_or_else(|| db.message().to_string());
            StoreError::Conflict(message(&constraint))
        }
        _ => StoreError::Database(e),
    }
}

/// A row that refers to one that does not exist (a foreign-key violation) is `NotFound`.
fn missing_as_not_found(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        _ => StoreError::Database(e),
    }
}

fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// Before SQLite opens `db`: its directory exists (0700 when made here), the file exists
/// and is private (SQLite gives the -wal and -shm files the database file's mode), and
/// files an older version left readable by others are tightened.
fn prepare_sqlite_files(db: &Path) -> std::io::Result<()> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        files::create_private_dir(dir)?;
    }
    match files::create_private_file(db) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    for file in files::sqlite_files(db) {
        files::tighten(&file);
    }
    Ok(())
}
