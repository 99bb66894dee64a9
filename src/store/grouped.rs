//! Rows written in groups: the writes on the path of every authorization and token
//! request (audit rows, authorization codes, access-token records, refresh tokens,
//! and marking a code used) join what other requests are writing at the same moment,
//! and all go to the database in one transaction, a multi-row INSERT per table,
//! instead of one write transaction each.
//! Every caller still waits until its own rows are committed, so nothing is less
//! durable than before; the rows one request hands in together (a code and its audit
//! row, say) are committed together or not at all, and so is the refresh token they
//! may use up (`Together::rotate`); under load it is fewer transactions, fewer pages written to
//! SQLite's write-ahead log and fewer round trips to the database, and on SQLite the
//! one writer connection is taken once per group instead of once per row.

use std::sync::OnceLock;

use sqlx::Any;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use tokio::sync::{mpsc, oneshot};

use super::audit::AuditRow;
use super::conns::Conns;
use super::grants::{AccessRecord, CodeGrant, RefreshGrant, rotate_refresh, use_code};

/// A row to insert, of one of the tables written in groups.
pub(super) enum Row {
    Audit(AuditRow),
    Access(AccessRecord),
    Code(CodeGrant),
    Refresh(RefreshGrant),
}

/// The rows one request writes: committed in one transaction, all or none, and with
/// whatever other requests are writing at the moment, with the audit row of the event
/// they belong to (`audit::record_with`).
#[derive(Default)]
pub struct Together {
    pub(super) rows: Vec<Row>,
    /// The refresh token these rows replace: marked used in the same commit, and when
    /// it already was (a concurrent reuse), none of the rows is written.
    pub(super) rotates: Option<String>,
}

impl Together {
    pub fn new() -> Together {
        Together::default()
    }

    /// A new authorization code.
    pub fn code(mut self, code: CodeGrant) -> Together {
        self.rows.push(Row::Code(code));
        self
    }

    /// The record of a user's access token (its `jti`, for revocation).
    pub fn access(mut self, record: AccessRecord) -> Together {
        self.rows.push(Row::Access(record));
        self
    }

    /// A new refresh token.
    pub fn refresh(mut self, grant: RefreshGrant) -> Together {
        self.rows.push(Row::Refresh(grant));
        self
    }

    /// Use up the refresh token `token_hash` in the commit that writes these rows:
    /// the rows are written only if it was neither used nor revoked, else the write
    /// fails with `StoreError::Conflict` and changes nothing.
    pub fn rotate(mut self, token_hash: &str) -> Together {
        self.rotates = Some(token_hash.to_string());
        self
    }
}

/// One table written in groups: `INSERT INTO {name} ({columns}) …`, with the columns
/// in the order the row type binds them (`bind` in audit.rs, grants.rs).
struct Table {
    name: &'static str,
    columns: &'static str,
    /// What each column binds, in order: a padding row binds NULLs of the same types,
    /// since PostgreSQL prepares each parameter with the type it was first given.
    /// A wrong type here fails every padded group on PostgreSQL. Its callers are then
    /// retried one by one, so a request fails only when its own rows need padding
    /// (codes, access records and refresh tokens: the size test in
    /// tests/it/store/oidc_state.rs); for audit rows, one per caller, it would only
    /// cost speed.
    kinds: &'static [Kind],
    /// The INSERT for each size of `SIZES` and each `Placeholders`, made on first use.
    sql: [[OnceLock<String>; SIZES.len()]; 2],
}

/// The type a column binds.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Int,
}
use Kind::{Int, Text};

static AUDIT: Table = Table {
    name: "audit_log",
    columns: super::audit::COLUMNS,
    kinds: &[Text, Int, Text, Text, Text, Text, Text, Text, Text],
    sql: [const { [const { OnceLock::new() }; SIZES.len()] }; 2],
};
static ACCESS: Table = Table {
    name: "oidc_access_tokens",
    columns: "jti, client_id, user_id, family_id, code_hash, session_hash, scope, expires_at",
    kinds: &[Text, Text, Text, Text, Text, Text, Text, Int],
    sql: [const { [const { OnceLock::new() }; SIZES.len()] }; 2],
};
static CODE: Table = Table {
    name: "oidc_codes",
    columns: "code_hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge, \
              code_challenge_method, session_hash, auth_time, amr, expires_at",
    kinds: &[
        Text, Text, Text, Text, Text, Text, Text, Text, Text, Int, Text, Int,
    ],
    sql: [const { [const { OnceLock::new() }; SIZES.len()] }; 2],
};
static REFRESH: Table = Table {
    name: "oidc_refresh_tokens",
    columns: "token_hash, family_id, client_id, user_id, scope, nonce, session_hash, auth_time, \
              amr, code_hash, created_at, expires_at",
    kinds: &[
        Text, Text, Text, Text, Text, Text, Text, Int, Text, Text, Int, Int,
    ],
    sql: [const { [const { OnceLock::new() }; SIZES.len()] }; 2],
};
/// The order in which a group writes its tables.
const TABLES: [&Table; 4] = [&CODE, &ACCESS, &REFRESH, &AUDIT];

type Bound<'q> = Query<'q, Any, AnyArguments>;

impl Row {
    fn table(&self) -> &'static Table {
        match self {
            Row::Audit(_) => &AUDIT,
            Row::Access(_) => &ACCESS,
            Row::Code(_) => &CODE,
            Row::Refresh(_) => &REFRESH,
        }
    }

    fn bind<'q>(&'q self, query: Bound<'q>) -> Bound<'q> {
        match self {
            Row::Audit(a) => a.bind(query),
            Row::Access(a) => a.bind(query),
            Row::Code(c) => c.bind(query),
            Row::Refresh(r) => r.bind(query),
        }
    }
}

/// How an INSERT names its parameters. PostgreSQL needs `$1, $2, …`. SQLite reads
/// those too, but binding looks each `$N` up in a list of all the statement's
/// parameter names, which is quadratic in a 64-row INSERT of ~600 parameters (~1 % of
/// a token request's CPU in a profile); plain `?` are bound in order without a lookup.
#[derive(Clone, Copy)]
enum Placeholders {
    Numbered = 0,
    InOrder = 1,
}

impl Placeholders {
    fn of(conns: &Conns) -> Placeholders {
        match conns {
            Conns::Pool(_) => Placeholders::Numbered,
            Conns::Held(_) => Placeholders::InOrder,
        }
    }
}

/// The statements that insert `rows` rows of one table, as (rows, size) pairs: 64
/// rows at a time, and the rest in one statement padded to the next size of `SIZES`,
/// so that a group's rows of one table are one statement, and alone need no
/// transaction. Each statement is a round trip: to SQLite's connection thread, or to
/// the PostgreSQL server, where a transaction adds two more.
fn plan(rows: usize) -> Vec<(usize, usize)> {
    let mut plan = vec![(SIZES[0], SIZES[0]); rows / SIZES[0]];
    let rest = rows % SIZES[0];
    if rest > 0 {
        plan.push((rest, rest.next_power_of_two()));
    }
    plan
}

/// The queue of work waiting for the writer task.
#[derive(Clone)]
pub(super) struct Groups {
    tx: mpsc::UnboundedSender<Pending>,
    writer: Conns,
}

impl std::fmt::Debug for Groups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Groups")
    }
}

/// What one caller hands the writer task.
enum Work {
    /// Rows to insert, if the refresh token they replace (if any) can be used up.
    Rows(Together),
    /// An authorization code to mark used, if no one has (grants.rs, `use_code`).
    UseCode { code_hash: String, at: i64 },
}

/// What the writer did with a caller's work, once committed.
enum Done {
    Written,
    /// Nothing written: the refresh token the rows replace was already used or revoked.
    Refused,
    /// The code as it was before this use; `None` when it was unknown or already used.
    CodeUsed(Option<Box<CodeGrant>>),
}

struct Pending {
    work: Work,
    done: oneshot::Sender<Result<Done, sqlx::Error>>,
}

/// The most callers one transaction takes; more wait for the next.
const MAX_BATCH: usize = 256;
/// Rows per INSERT statement, largest first: fewer rows are padded with rows of NULLs
/// that the statement skips (see `insert_sql`). A few fixed sizes keep the prepared
/// statements few.
const SIZES: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

impl Groups {
    /// Start the task that writes queued work through `writer`. It ends when the
    /// last `Store` clone (and with it the queue) is dropped.
    pub(super) fn start(writer: Conns) -> Groups {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(writer.clone(), rx));
        Groups { tx, writer }
    }

    /// Insert `rows` with the next group; returns once they are committed.
    pub(super) async fn insert(&self, rows: Vec<Row>) -> Result<(), sqlx::Error> {
        self.write(Together {
            rows,
            rotates: None,
        })
        .await
        .map(|_| ())
    }

    /// Write `together` with the next group; returns once it is committed, with
    /// `false` when nothing was written because its refresh token was already used.
    pub(super) async fn write(&self, together: Together) -> Result<bool, sqlx::Error> {
        if together.rows.is_empty() && together.rotates.is_none() {
            return Ok(true);
        }
        Ok(!matches!(
            self.run(Work::Rows(together)).await?,
            Done::Refused
        ))
    }

    /// Mark an authorization code used with the next group, if it was not; returns the
    /// code as stored once that is committed, or `None` when it was unknown or used.
    pub(super) async fn use_code(
        &self,
        code_hash: String,
        at: i64,
    ) -> Result<Option<Box<CodeGrant>>, sqlx::Error> {
        match self.run(Work::UseCode { code_hash, at }).await? {
            Done::CodeUsed(grant) => Ok(grant),
            Done::Written | Done::Refused => Ok(None),
        }
    }

    async fn run(&self, work: Work) -> Result<Done, sqlx::Error> {
        let (done, committed) = oneshot::channel();
        match self.tx.send(Pending { work, done }) {
            Ok(()) => committed
                .await
                // The writer task is gone (its runtime ended): nothing was written.
                .unwrap_or(Err(sqlx::Error::PoolClosed)),
            Err(mpsc::error::SendError(pending)) => {
                let mut done = write_group(&self.writer, std::slice::from_ref(&pending)).await?;
                Ok(done.remove(0))
            }
        }
    }
}

async fn write_batches(writer: Conns, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if let Ok(done) = write_group(&writer, &batch).await {
            for (p, d) in batch.drain(..).zip(done) {
                let _ = p.done.send(Ok(d));
            }
            continue;
        }
        // Each caller gets the answer for its own work (a duplicate code, say): retry
        // caller by caller. The group was rolled back, codes it used included.
        for p in batch.drain(..) {
            let result = write_group(&writer, std::slice::from_ref(&p))
                .await
                .map(|mut done| done.remove(0));
            let _ = p.done.send(result);
        }
    }
}

/// Do the work of `batch` in one transaction: codes used and refresh tokens rotated
/// first, then the rows of every caller not refused in multi-row INSERTs. One
/// statement alone needs no transaction.
async fn write_group(writer: &Conns, batch: &[Pending]) -> Result<Vec<Done>, sqlx::Error> {
    let style = Placeholders::of(writer);
    if let [p] = batch
        && let Work::UseCode { code_hash, at } = &p.work
    {
        let mut conn = writer.get().await?;
        return Ok(vec![Done::CodeUsed(
            use_code(&mut conn, code_hash, *at).await?,
        )]);
    }
    let checks_first = batch.iter().any(|p| match &p.work {
        Work::UseCode { .. } => true,
        Work::Rows(t) => t.rotates.is_some(),
    });
    if !checks_first {
        let all: Vec<&Row> = batch.iter().flat_map(rows_of).collect();
        let statements = statements(&all);
        if let [(chunk, size)] = &statements[..] {
            insert_chunk(&mut *writer.get().await?, style, chunk, *size).await?;
            return Ok(batch.iter().map(|_| Done::Written).collect());
        }
    }
    let mut tx = writer.begin().await?;
    let mut done = Vec::with_capacity(batch.len());
    let at = super::now();
    for p in batch {
        done.push(match &p.work {
            Work::Rows(Together {
                rotates: Some(token_hash),
                ..
            }) => {
                if rotate_refresh(&mut tx, token_hash, at).await? {
                    Done::Written
                } else {
                    Done::Refused
                }
            }
            Work::Rows(_) => Done::Written,
            Work::UseCode { code_hash, at } => {
                Done::CodeUsed(use_code(&mut tx, code_hash, *at).await?)
            }
        });
    }
    let accepted: Vec<&Row> = batch
        .iter()
        .zip(&done)
        .filter(|(_, d)| !matches!(d, Done::Refused))
        .flat_map(|(p, _)| rows_of(p))
        .collect();
    for (chunk, size) in statements(&accepted) {
        insert_chunk(&mut tx, style, &chunk, size).await?;
    }
    tx.commit().await?;
    Ok(done)
}

/// The rows a caller hands in (none, for a code to use).
fn rows_of(p: &Pending) -> &[Row] {
    match &p.work {
        Work::Rows(t) => t.rows.as_slice(),
        Work::UseCode { .. } => &[],
    }
}

/// The INSERT statements for `rows`, table by table in the order of `TABLES`: each
/// with its rows and the size of INSERT they go in.
fn statements<'r>(rows: &'r [&'r Row]) -> Vec<(Vec<&'r Row>, usize)> {
    let mut statements = Vec::new();
    for &table in TABLES.iter() {
        let of_table: Vec<&Row> = rows
            .iter()
            .copied()
            .filter(|r| std::ptr::eq(r.table(), table))
            .collect();
        let mut rest = &of_table[..];
        for (n, size) in plan(rest.len()) {
            let (chunk, tail) = rest.split_at(n);
            statements.push((chunk.to_vec(), size));
            rest = tail;
        }
    }
    statements
}

/// The INSERT of `size` rows (one of `SIZES`) into `table`: `INSERT INTO {table} (…)
/// SELECT * FROM (VALUES (…), (…)) AS v WHERE column1 IS NOT NULL`, so that rows of
/// NULLs pad it (every table's first column is its key, never NULL).
fn insert_sql(table: &'static Table, size: usize, style: Placeholders) -> &'static str {
    let slot = SIZES
        .iter()
        .position(|&n| n == size)
        .expect("a statement size");
    table.sql[style as usize][slot].get_or_init(|| {
        let count = table.kinds.len();
        let values: Vec<String> = (0..size)
            .map(|r| {
                let p: Vec<String> = (1..=count)
                    .map(|c| match style {
                        Placeholders::Numbered => format!("${}", r * count + c),
                        Placeholders::InOrder => "?".to_string(),
                    })
                    .collect();
                format!("({})", p.join(", "))
            })
            .collect();
        let (name, columns, values) = (table.name, table.columns, values.join(", "));
        format!(
            "INSERT INTO {name} ({columns}) SELECT * FROM (VALUES {values}) AS v \
             WHERE column1 IS NOT NULL"
        )
    })
}

/// Insert `rows` of one table with the INSERT of `size` rows, padded with NULLs.
async fn insert_chunk(
    conn: &mut sqlx::AnyConnection,
    style: Placeholders,
    rows: &[&Row],
    size: usize,
) -> Result<(), sqlx::Error> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let table = first.table();
    let mut query = sqlx::query(insert_sql(table, size, style));
    for row in rows {
        query = row.bind(query);
    }
    for _ in rows.len()..size {
        for kind in table.kinds {
            query = match kind {
                Text => query.bind(None::<String>),
                Int => query.bind(None::<i64>),
            };
        }
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{TABLES, plan};

    #[test]
    fn each_table_knows_the_type_of_each_column() {
        for table in TABLES {
            assert_eq!(
                table.columns.split(',').count(),
                table.kinds.len(),
                "{}",
                table.name
            );
        }
    }

    #[test]
    fn a_table_takes_one_statement_per_64_rows() {
        // One statement for up to 64 rows, padded to a power of two.
        assert_eq!(plan(0), []);
        assert_eq!(plan(1), [(1, 1)]);
        assert_eq!(plan(3), [(3, 4)]);
        assert_eq!(plan(33), [(33, 64)]);
        assert_eq!(plan(64), [(64, 64)]);
        assert_eq!(plan(100), [(64, 64), (36, 64)]);
    }
}
