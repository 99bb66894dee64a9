//! SQLite's write-ahead log, copied back into the database beside the writer instead
//! of in its way.
//!
//! SQLite's own checkpoint runs on the connection that commits, once the log holds
//! 1 000 pages. The one writer (see `Store`) stopped there to copy the pages and to wait
//! for two fsyncs, each a flush of the disk's cache, and every request waiting for a
//! write waited with it: on a client_credentials load that left about a fifth of the
//! CPU idle (bench/RESULTS.md). So the writer never checkpoints (`wal_autocheckpoint =
//! 0`, conns.rs), and a task with a connection of its own does, after writes:
//!
//! - A PASSIVE checkpoint at most every `Limits::pause`. It copies the log's pages into
//!   the database and fsyncs while the writer goes on writing.
//! - The log starts over only when a write begins with all of it copied, and a steady
//!   stream of writes never leaves such a moment. So once the log holds
//!   `Limits::restart` pages, one more PASSIVE checkpoint runs on the writer connection
//!   itself, between two writes: only the pages written since the last pass are left
//!   to copy, and the next write starts the log over.
//! - A reader still on an older snapshot keeps the log from starting over. Past
//!   `Limits::truncate` pages, a TRUNCATE checkpoint on the writer waits for such
//!   readers (in SQLite's busy handler; reads are short) and empties the file: the log
//!   would otherwise grow without bound, and reads slow down searching it.
//!
//! Nothing about durability changes: commits are in the log as before, and a
//! checkpoint from another connection is as safe as one from the writer.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{AnyConnection, Row};

use super::conns::{Held, Role};

/// When the checkpointer acts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// The pause after a write before a pass, so that a pass takes many writes.
    pub(crate) pause: Duration,
    /// Pages in the log from which a pass lets the writer catch up and start it over.
    pub(crate) restart: i64,
    /// Pages in the log from which the writer waits for readers and empties it.
    pub(crate) truncate: i64,
}

impl Limits {
    /// 16 MB and 32 MB of 4 KB pages: a second or two of writes at full load.
    pub(crate) const DEFAULT: Limits = Limits {
        pause: Duration::from_millis(50),
        restart: 4096,
        truncate: 8192,
    };
}

/// Start the task that checkpoints what `writer` writes to the database at `url`,
/// on a connection of its own, which it returns (`Store::close` closes it). The task
/// ends when the writer's connections are closed.
pub(crate) async fn start(
    url: &str,
    writer: Arc<Held>,
    limits: Limits,
) -> Result<Arc<Held>, sqlx::Error> {
    let own = Held::open(url, 1, Role::Checkpoint, 0).await?;
    tokio::spawn(run(own.clone(), writer, limits));
    Ok(own)
}

async fn run(own: Arc<Held>, writer: Arc<Held>, limits: Limits) {
    loop {
        writer.returned().await;
        if writer.is_closed() {
            break;
        }
        tokio::time::sleep(limits.pause).await;
        if let Err(e) = pass(&own, &writer, limits).await {
            if writer.is_closed() || own.is_closed() {
                break;
            }
            tracing::warn!(error = %e, "checkpoint of the write-ahead log failed");
        }
    }
    own.close().await;
}

/// One pass: copy what the log holds, and start it over once it has grown long.
async fn pass(own: &Arc<Held>, writer: &Arc<Held>, limits: Limits) -> Result<(), sqlx::Error> {
    let pages = checkpoint(&mut *own.get().await?, "PRAGMA wal_checkpoint(PASSIVE)").await?;
    if pages < limits.restart {
        return Ok(());
    }
    let sql = if pages < limits.truncate {
        "PRAGMA wal_checkpoint(PASSIVE)"
    } else {
        "PRAGMA wal_checkpoint(TRUNCATE)"
    };
    checkpoint(&mut *writer.get().await?, sql).await?;
    Ok(())
}

/// Run a checkpoint; returns the pages in the log (-1 when not in WAL mode).
async fn checkpoint(conn: &mut AnyConnection, sql: &'static str) -> Result<i64, sqlx::Error> {
    // Its row: busy (1 when it could not finish), pages in the log, pages copied.
    let row = sqlx::query(sql).fetch_one(conn).await?;
    row.try_get(1)
}

#[cfg(test)]
mod tests {
    use sqlx::Executor;

    use super::*;

    const PAGE: u64 = 4096;
    const ROWS: usize = 3000;

    /// A writer (in WAL mode, as `Store::migrate` sets) with a table of one index, and
    /// the path of its log.
    async fn database(dir: &std::path::Path) -> (String, Arc<Held>, std::path::PathBuf) {
        sqlx::any::install_default_drivers();
        let file = dir.join("t.db");
        let url = super::super::sqlite_url(&file);
        let writer = Held::open(&url, 1, Role::Write, 1).await.unwrap();
        let mut conn = writer.get().await.unwrap();
        for sql in [
            "PRAGMA journal_mode = WAL",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)",
            "CREATE INDEX t_v ON t (v)",
        ] {
            conn.execute(sql).await.unwrap();
        }
        drop(conn);
        (url, writer, dir.join("t.db-wal"))
    }

    /// The size of the log's file, in pages.
    fn wal_pages(wal: &std::path::Path) -> u64 {
        std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0) / PAGE
    }

    /// Write `rows` rows, one commit each, as a busy server does; returns the size of
    /// the log's file after each, in pages.
    async fn write_rows(writer: &Arc<Held>, wal: &std::path::Path, rows: usize) -> Vec<u64> {
        let mut sizes = Vec::with_capacity(rows);
        for i in 0..rows {
            let mut conn = writer.get().await.unwrap();
            sqlx::query("INSERT INTO t (v) VALUES ($1)")
                .bind(format!("{i:0>300}"))
                .execute(&mut *conn)
                .await
                .unwrap();
            drop(conn);
            sizes.push(wal_pages(wal));
        }
        sizes
    }

    async fn count(writer: &Arc<Held>) -> i64 {
        let mut conn = writer.get().await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&mut *conn)
            .await
            .unwrap()
    }

    /// Under a steady stream of commits the log is copied back and starts over, so its
    /// file stays short. Each commit writes ~3 pages (the table's, the index's):
    /// without the checkpointer the file would hold all of them, ~9 000, and with
    /// passes alone (no catch-up on the writer) it would rarely start over while the
    /// writes go on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_starts_over_under_steady_writes() {
        let dir = tempfile::tempdir().unwrap();
        let (url, writer, wal) = database(dir.path()).await;
        let limits = Limits {
            pause: Duration::from_millis(2),
            restart: 64,
            truncate: i64::MAX,
        };
        let own = start(&url, writer.clone(), limits).await.unwrap();
        // Without restarts the file holds every page written, ~3 per commit (9 000
        // here); a slow machine may delay a pass, so the bound is loose.
        let largest = write_rows(&writer, &wal, ROWS).await.into_iter().max();
        assert!(
            largest < Some(ROWS as u64),
            "the log reached {largest:?} pages"
        );
        assert_eq!(count(&writer).await, ROWS as i64);
        writer.close().await;
        own.close().await;
    }

    /// Pages in the log, as a PASSIVE checkpoint on `conns` reports them.
    async fn log_pages(conns: &Arc<Held>) -> i64 {
        checkpoint(
            &mut conns.get().await.unwrap(),
            "PRAGMA wal_checkpoint(PASSIVE)",
        )
        .await
        .unwrap()
    }

    /// A reader on an old snapshot keeps the log from starting over, however often the
    /// writer catches up; once it lets go, a pass past `truncate` empties the file
    /// (starting over alone would leave the file at its longest). Passes by hand, one
    /// at a time.
    #[tokio::test]
    async fn a_long_log_is_emptied_once_readers_let_go() {
        let dir = tempfile::tempdir().unwrap();
        let (url, writer, wal) = database(dir.path()).await;
        let limits = Limits {
            pause: Duration::ZERO,
            restart: 64,
            truncate: 512,
        };
        let own = Held::open(&url, 1, Role::Checkpoint, 1).await.unwrap();
        let readers = Held::open(&url, 1, Role::Read, 1).await.unwrap();
        let mut reader = readers.get().await.unwrap();
        reader.execute("BEGIN").await.unwrap();
        let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&mut *reader)
            .await
            .unwrap();
        write_rows(&writer, &wal, 300).await;
        pass(
            &own,
            &writer,
            Limits {
                truncate: i64::MAX,
                ..limits
            },
        )
        .await
        .unwrap();
        write_rows(&writer, &wal, 1).await;
        assert!(
            log_pages(&own).await > 512,
            "the reader kept it from starting over"
        );
        assert!(wal_pages(&wal) > 512);
        reader.execute("COMMIT").await.unwrap();
        drop(reader);
        pass(&own, &writer, limits).await.unwrap();
        assert_eq!(wal_pages(&wal), 0, "emptied");
        assert_eq!(count(&writer).await, seen + 301);
        writer.close().await;
        readers.close().await;
        own.close().await;
    }
}
