//! Where the store's connections come from, and its write transactions.
//!
//! PostgreSQL connections come from sqlx's pool. SQLite connections are held here
//! instead: sqlx's pool hands every connection that comes back to a new task that
//! pings it before it may be used again, and on SQLite, where each connection runs on
//! a thread of its own, that ping is one more trip to that thread and back for every
//! statement (measured: ~10 % of the CPU of an authorization-code flow, and ~20 % of
//! its rate, on 2 cores). A connection to a local file does not go stale the way a
//! network connection does, so a SQLite connection goes straight back to the idle
//! list. What the ping also did, sqlx says, is flush a rollback left by a transaction
//! that was dropped unfinished: here such a connection comes back marked, and is
//! rolled back before its next use.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// How long a caller waits for a free connection before the request fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// A SQLite connection idle this long is closed (one stays open): the connections a
/// burst of load opened give their page caches back.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A source of connections: sqlx's pool (PostgreSQL) or connections held here (SQLite).
#[derive(Clone, Debug)]
pub(crate) enum Conns {
    Pool(AnyPool),
    Held(Arc<Held>),
}

/// What a set of held connections is for, which decides how each is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Short reads, on the hot paths.
    Read,
    /// Reads that walk many rows, through a memory map of the file (see `Store`).
    Scan,
    /// The one connection that writes. It never checkpoints: checkpoint.rs does that
    /// beside it.
    Write,
    /// The connection that copies the write-ahead log back into the database
    /// (checkpoint.rs).
    Checkpoint,
}

/// SQLite connections to one file, at most `max` at a time, opened as needed.
pub(crate) struct Held {
    url: String,
    role: Role,
    permits: Arc<Semaphore>,
    /// Open connections not in use, the longest idle first.
    idle: Mutex<Vec<Idle>>,
    closed: AtomicBool,
    /// Signalled whenever the writer's connection comes back (something may have been
    /// written; checkpoint.rs waits for it), and at close.
    returned: Notify,
}

struct Idle {
    conn: AnyConnection,
    /// A transaction was dropped unfinished on it: roll back before it is used.
    roll_back: bool,
    since: Instant,
}

impl Idle {
    fn new(conn: AnyConnection, roll_back: bool) -> Idle {
        Idle {
            conn,
            roll_back,
            since: Instant::now(),
        }
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl Held {
    /// Connections to the SQLite database at `url`; `open_now` of them are opened at
    /// once, so that a file that cannot be opened fails here and not at the first request.
    pub(crate) async fn open(
        url: &str,
        max: usize,
        role: Role,
        open_now: usize,
    ) -> Result<Arc<Held>, sqlx::Error> {
        let held = Arc::new(Held {
            url: url.to_string(),
            role,
            permits: Arc::new(Semaphore::new(max)),
            idle: Mutex::new(Vec::with_capacity(max)),
            closed: AtomicBool::new(false),
            returned: Notify::new(),
        });
        for _ in 0..open_now.min(max) {
            let conn = held.connect().await?;
            held.idle().push(Idle::new(conn, false));
        }
        Ok(held)
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn connect(&self) -> Result<AnyConnection, sqlx::Error> {
        let mut conn = AnyConnection::connect(&self.url).await?;
        // WAL is set once at migration; NORMAL is safe under WAL and much faster.
        // When the log starts over by itself, it is cut back to this size.
        conn.execute("PRAGMA synchronous = NORMAL").await?;
        conn.execute("PRAGMA journal_size_limit = 16777216").await?;
        // A multi-row INSERT inside a transaction keeps a statement journal (the pages
        // it changed, to undo it alone if it fails). Past 64 KiB SQLite spilled that
        // journal to a temporary file, created, written and deleted for a group of
        // writes: ~2.5 % of a flow's CPU samples in `perf`, ~5 % less CPU per flow
        // without it. In memory it holds the pages one statement changes while it runs.
        // Sorts too large for the page cache stay in memory too; the largest here
        // (every user, by name) is read into memory whole by its caller anyway.
        conn.execute("PRAGMA temp_store = MEMORY").await?;
        match self.role {
            Role::Scan => {
                // Reads straight from the OS page cache: a connection's own cache (2 MB)
                // is emptied whenever another connection writes, and refilling it cost a
                // pread per page, thousands for one search among 100 000 users. Mapped
                // pages count as (shared, reclaimable) resident memory once touched.
                conn.execute("PRAGMA mmap_size = 268435456").await?;
            }
            Role::Write => {
                // Not after its own commits: checkpoint.rs checkpoints beside it.
                conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
            }
            Role::Read | Role::Checkpoint => {}
        }
        Ok(conn)
    }

    pub(crate) async fn get(self: &Arc<Self>) -> Result<HeldConn, sqlx::Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(sqlx::Error::PoolClosed);
        }
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        // The most recently used: its pages are the likeliest to be cached.
        let reused = self.idle().pop();
        let conn = match reused {
            Some(Idle {
                conn,
                roll_back: false,
                ..
            }) => conn,
            Some(Idle { mut conn, .. }) => {
                // "No transaction is active" is fine: it may have failed to begin.
                let _ = conn.execute("ROLLBACK").await;
                conn
            }
            None => self.connect().await?,
        };
        Ok(HeldConn {
            conn: Some(conn),
            in_transaction: false,
            held: self.clone(),
            permit: Some(permit),
        })
    }

    /// Close the connections idle for longer than `IDLE_TIMEOUT`, but one.
    async fn close_idle(&self) {
        let stale: Vec<Idle> = {
            let mut idle = self.idle();
            let keep_from = idle
                .iter()
                .position(|i| i.since.elapsed() < IDLE_TIMEOUT)
                .unwrap_or(idle.len())
                .min(idle.len().saturating_sub(1));
            idle.drain(..keep_from).collect()
        };
        for i in stale {
            let _ = i.conn.close().await;
        }
    }

    /// Wait until a connection in use comes back, or the connections are closed.
    pub(crate) async fn returned(&self) {
        self.returned.notified().await;
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.returned.notify_one();
        let idle: Vec<Idle> = self.idle().drain(..).collect();
        for i in idle {
            let _ = i.conn.close().await;
        }
    }
}

/// A SQLite connection in use; it goes back to the idle list when dropped.
pub(crate) struct HeldConn {
    conn: Option<AnyConnection>,
    /// A transaction was begun and not yet committed or rolled back.
    in_transaction: bool,
    held: Arc<Held>,
    /// Given back when the connection is (see `Drop`).
    permit: Option<OwnedSemaphorePermit>,
}

impl HeldConn {
    /// End the transaction on this connection with `COMMIT` or `ROLLBACK`.
    async fn end(mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        self.execute(sql).await?;
        self.in_transaction = false;
        Ok(())
    }
}

impl Deref for HeldConn {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        self.conn.as_ref().expect("a held connection in use")
    }
}

impl DerefMut for HeldConn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn.as_mut().expect("a held connection in use")
    }
}

impl Drop for HeldConn {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if self.held.closed.load(Ordering::Acquire) {
            return;
        }
        if !self.in_transaction {
            self.held.idle().push(Idle::new(conn, false));
            if self.held.role == Role::Write {
                self.held.returned.notify_one();
            }
            return;
        }
        // A transaction dropped unfinished (an early return on an error path). Parked
        // as it is, it would keep SQLite's write lock until the next use, and every
        // other process's writes (the CLI's) would fail with "database is locked":
        // roll it back now, holding the permit until then, so nobody in this process
        // gets the connection half-way either.
        let held = self.held.clone();
        let permit = self.permit.take();
        let roll_back = async move {
            let mut conn = conn;
            let clean = conn.execute("ROLLBACK").await.is_ok();
            if !held.closed.load(Ordering::Acquire) {
                held.idle().push(Idle::new(conn, !clean));
            }
            drop(permit);
            if held.role == Role::Write {
                held.returned.notify_one();
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(roll_back);
            }
            // No runtime (a test's teardown): closing the connection rolls back too.
            Err(_) => drop(roll_back),
        }
    }
}

/// A connection in use, from either source; dereferences to the connection, so
/// `&mut *conn` runs a query.
pub(crate) enum Conn {
    Pool(PoolConnection<Any>),
    Held(HeldConn),
}

impl Deref for Conn {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match self {
            Conn::Pool(c) => c,
            Conn::Held(c) => c,
        }
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Conn::Pool(c) => c,
            Conn::Held(c) => c,
        }
    }
}

/// The writer's connection, counted when it is given back: whatever it wrote is
/// committed by then (see `Store::write_count`).
pub(crate) struct Written {
    conn: Conn,
    writes: Arc<AtomicU64>,
}

impl Written {
    pub(crate) fn new(conn: Conn, writes: Arc<AtomicU64>) -> Written {
        Written { conn, writes }
    }
}

impl Deref for Written {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl DerefMut for Written {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

impl Drop for Written {
    fn drop(&mut self) {
        self.writes.fetch_add(1, Ordering::Release);
    }
}

impl Conns {
    pub(crate) async fn get(&self) -> Result<Conn, sqlx::Error> {
        match self {
            Conns::Pool(pool) => Ok(Conn::Pool(pool.acquire().await?)),
            Conns::Held(held) => Ok(Conn::Held(held.get().await?)),
        }
    }

    /// Begin a transaction on a connection of this source.
    pub(crate) async fn begin(&self) -> Result<Tx, sqlx::Error> {
        match self {
            Conns::Pool(pool) => Ok(Tx {
                on: TxOn::Pool(pool.begin().await?),
                writes: None,
            }),
            Conns::Held(held) => {
                let mut conn = held.get().await?;
                // Marked first: a BEGIN sent and then cancelled still opens a
                // transaction, which the next user must not find open.
                conn.in_transaction = true;
                conn.execute("BEGIN").await?;
                Ok(Tx {
                    on: TxOn::Held(conn),
                    writes: None,
                })
            }
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            Conns::Pool(pool) => pool.close().await,
            Conns::Held(held) => held.close().await,
        }
    }

    /// Close connections long idle (sqlx's pool does that itself).
    pub(crate) async fn close_idle(&self) {
        if let Conns::Held(held) = self {
            held.close_idle().await;
        }
    }
}

/// A transaction on the writer: several rows that must exist together (an event and
/// the email it causes). On SQLite it holds the one writer connection, so nothing that
/// writes through `Store` may be awaited while it is open. Dropped without `commit`,
/// it is rolled back.
pub struct Tx {
    on: TxOn,
    /// Counted at commit (see `Store::write_count`).
    writes: Option<Arc<AtomicU64>>,
}

enum TxOn {
    Pool(sqlx::Transaction<'static, Any>),
    Held(HeldConn),
}

impl Tx {
    /// Count this transaction in `writes` once it commits.
    pub(crate) fn counted(mut self, writes: Arc<AtomicU64>) -> Tx {
        self.writes = Some(writes);
        self
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let done = match self.on {
            TxOn::Pool(tx) => tx.commit().await,
            TxOn::Held(conn) => conn.end("COMMIT").await,
        };
        if let Some(writes) = self.writes {
            writes.fetch_add(1, Ordering::Release);
        }
        done
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.on {
            TxOn::Pool(tx) => tx.rollback().await,
            TxOn::Held(conn) => conn.end("ROLLBACK").await,
        }
    }
}

impl Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match &self.on {
            TxOn::Pool(tx) => tx,
            TxOn::Held(c) => c,
        }
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match &mut self.on {
            TxOn::Pool(tx) => tx,
            TxOn::Held(c) => c,
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::*;

    async fn pragma(conn: &mut AnyConnection, sql: &'static str) -> i64 {
        sqlx::query(sql)
            .fetch_one(conn)
            .await
            .unwrap()
            .try_get::<i64, _>(0)
            .unwrap()
    }

    /// Every connection, the first and those opened later under load, writes
    /// durably enough for WAL (synchronous NORMAL = 1) and keeps its temporary data,
    /// statement journals included, in memory (temp_store MEMORY = 2) instead of in
    /// files created and deleted for each group of writes. The writer's commits leave
    /// checkpoints to checkpoint.rs (0); others keep SQLite's default (1000 pages).
    #[tokio::test]
    async fn every_connection_is_set_up_alike() {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let url = super::super::sqlite_url(&dir.path().join("t.db"));
        for (role, autocheckpoint) in [(Role::Read, 1000), (Role::Write, 0)] {
            let held = Held::open(&url, 2, role, 1).await.unwrap();
            let mut first = held.get().await.unwrap();
            let mut second = held.get().await.unwrap();
            for conn in [&mut *first, &mut *second] {
                assert_eq!(pragma(conn, "PRAGMA synchronous").await, 1);
                assert_eq!(pragma(conn, "PRAGMA temp_store").await, 2);
                let pages = pragma(conn, "PRAGMA wal_autocheckpoint").await;
                assert_eq!(pages, autocheckpoint, "{role:?}");
            }
            drop((first, second));
            held.close().await;
        }
    }
}
