//! SQLite execution with rusqlite: a few reader connections and one writer connection,
//! used from tokio's blocking pool. WAL lets readers run beside the writer; the single
//! writer serializes writes, so clients never see "database is locked". Rows stream from
//! the cursor through a bounded channel, so memory stays flat however many rows a read has.

use std::cell::Cell as StdCell;
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rusqlite::config::DbConfig;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::{ToSqlOutput, Value as SqlV, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, ToSql};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use super::fault::{Fault, FkSide};
use super::flow::{self, Executed, Returning, RowCells, WriteTx};
use super::{
    Executor, Head, ReadOutput, ReadRequest, WriteOutput, WriteRequest, CHANNEL_DEPTH, CHUNK,
    FIRST_PART,
};
use crate::config::DatabaseConfig;
use crate::error::{ApiError, ApiResult};
use crate::plan::SqlValue;
use crate::request::Format;
use crate::response::{Cell, RowEncoder};
use crate::schema::{Service, Table};
use crate::sql::{self, sqlite::Sqlite, Statement};

const STATEMENT_CACHE: usize = 256;

/// SQLite calls the progress handler every this many virtual-machine steps.
const PROGRESS_STEPS: i32 = 1_000;
/// Progress calls an inline read may take (about 64,000 steps, well under a millisecond)
/// before it gives up and runs again on the blocking pool.
const INLINE_BUDGET: u32 = 64;
/// Statement texts remembered as too heavy to try inline; the set starts over when full.
const HEAVY_MAX: usize = 1_024;

/// Writes that may share one transaction (group commit), and how long a group may run
/// before it commits.
const GROUP_MAX: usize = 64;
const GROUP_TIME: Duration = Duration::from_millis(5);
/// A write that joined a group is interrupted once the group has run this long: SQLite
/// then rolls the whole transaction back, and its writes run again (the long one alone),
/// so that one slow write cannot hold the others past their deadlines.
const GROUP_CUT: Duration = Duration::from_millis(50);

thread_local! {
    /// Progress calls left to the inline read running on this thread; `u32::MAX` (every
    /// blocking-pool thread, and a worker between inline reads) means no limit.
    static BUDGET: StdCell<u32> = const { StdCell::new(u32::MAX) };
    /// When the write running on this thread times out.
    static DEADLINE: StdCell<Option<Instant>> = const { StdCell::new(None) };
}

/// The progress handler of every connection: interrupts the statement once an inline
/// read has used up its budget, or a queued write has passed its request's deadline.
fn over_budget() -> bool {
    let spent = BUDGET.with(|b| match b.get() {
        u32::MAX => false,
        0 => true,
        left => {
            b.set(left - 1);
            false
        }
    });
    spent || DEADLINE.with(|d| d.get().is_some_and(|t| Instant::now() >= t))
}

/// Sets this thread's deadline for one write, and lifts it when dropped.
struct Deadline;

impl Deadline {
    fn start(at: Instant) -> Self {
        DEADLINE.with(|d| d.set(Some(at)));
        Deadline
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(None));
    }
}

/// Sets this thread's budget for one inline read, and lifts it when dropped.
struct Budget;

impl Budget {
    fn start() -> Self {
        BUDGET.with(|b| b.set(INLINE_BUDGET));
        Budget
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        BUDGET.with(|b| b.set(u32::MAX));
    }
}

struct Shared {
    readers: Mutex<Vec<Connection>>,
    reader_slots: Arc<Semaphore>,
    writer: Mutex<Option<Connection>>,
    writer_slot: Arc<Semaphore>,
    /// `:memory:` databases live in one connection, which then serves reads too.
    single: bool,
    /// Reader slots (`reader_slots`' permits when none is taken).
    slots: usize,
    acquire_timeout: Duration,
    request_timeout: Duration,
    /// SELECTs that outgrew an inline attempt: they go straight to the blocking pool.
    heavy: RwLock<HashSet<String>>,
    /// Writes waiting for the writer connection.
    queue: Mutex<WriteQueue>,
}

/// Writes wait here and one blocking thread, holding the writer connection, runs them
/// back to back, several to a transaction (group commit), while any are waiting.
#[derive(Default)]
struct WriteQueue {
    jobs: VecDeque<Job>,
    /// A drainer holds (or is acquiring) the writer connection.
    draining: bool,
}

struct Job {
    w: WriteRequest,
    deadline: Instant,
    reply: oneshot::Sender<ApiResult<WriteOutput>>,
    /// Ran too long inside a shared transaction once: runs as the first write of a
    /// transaction, where it can only undo itself.
    solo: bool,
}

#[derive(Clone)]
pub struct SqliteBackend {
    shared: Arc<Shared>,
}

/// Bind a `SqlValue` the way SQLite stores it.
struct Param<'a>(&'a SqlValue);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            SqlValue::Null => ToSqlOutput::Owned(SqlV::Null),
            SqlValue::Int(i) => ToSqlOutput::Owned(SqlV::Integer(*i)),
            SqlValue::Float(f) => ToSqlOutput::Owned(SqlV::Real(*f)),
            SqlValue::Decimal(d) => {
                if significant_digits(d) > 15 {
                    // NUMERIC affinity would turn the text into a REAL and drop digits; a
                    // BLOB of the digits is stored as given (see docs/backends.md).
                    ToSqlOutput::Borrowed(ValueRef::Blob(d.as_bytes()))
                } else if let Ok(i) = d.parse::<i64>() {
                    ToSqlOutput::Owned(SqlV::Integer(i))
                } else {
                    match d.parse::<f64>() {
                        Ok(f) => ToSqlOutput::Owned(SqlV::Real(f)),
                        Err(_) => ToSqlOutput::Borrowed(ValueRef::Text(d.as_bytes())),
                    }
                }
            }
            SqlValue::Bool(b) => ToSqlOutput::Owned(SqlV::Integer(i64::from(*b))),
            SqlValue::Text(s) | SqlValue::Json(s) => {
                ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))
            }
            SqlValue::Date(d) => ToSqlOutput::Owned(SqlV::Text(d.format("%Y-%m-%d").to_string())),
            SqlValue::Time(t) => {
                ToSqlOutput::Owned(SqlV::Text(t.format("%H:%M:%S%.f").to_string()))
            }
            SqlValue::Timestamp(t) => {
                ToSqlOutput::Owned(SqlV::Text(t.format("%Y-%m-%d %H:%M:%S%.f").to_string()))
            }
            SqlValue::TimestampTz(t) => ToSqlOutput::Owned(SqlV::Text(
                t.format("%Y-%m-%d %H:%M:%S%.f+00:00").to_string(),
            )),
            SqlValue::Uuid(u) => ToSqlOutput::Owned(SqlV::Text(u.hyphenated().to_string())),
            SqlValue::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            // Only the PostgreSQL dialect binds arrays; never made for SQLite.
            SqlValue::Array(_) => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    "an array parameter on SQLite".into(),
                ))
            }
        })
    }
}

/// Digits that matter in a decimal's text (no sign, point, exponent or leading zeros).
fn significant_digits(d: &str) -> usize {
    let mantissa = d.split(['e', 'E']).next().unwrap_or(d);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let trimmed = digits.trim_start_matches('0');
    let trimmed = if mantissa.contains('.') {
        trimmed.trim_end_matches('0')
    } else {
        trimmed
    };
    trimmed.len()
}

fn cell(v: ValueRef<'_>) -> Cell<'_> {
    match v {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(i) => Cell::Int(i),
        ValueRef::Real(f) => Cell::Float(f),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Cell::Text(s),
            Err(_) => Cell::Bytes(t),
        },
        ValueRef::Blob(b) => Cell::Bytes(b),
    }
}

fn regexp_function(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        "regexp",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let re: Arc<regex::Regex> = ctx.get_or_create_aux(0, |vr| {
                let pattern = vr.as_str().map_err(|e| e.to_string())?;
                regex::RegexBuilder::new(pattern)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| e.to_string())
            })?;
            Ok(match ctx.get_raw(1) {
                ValueRef::Null => None,
                ValueRef::Text(t) => Some(re.is_match(&String::from_utf8_lossy(t))),
                ValueRef::Integer(i) => Some(re.is_match(&i.to_string())),
                ValueRef::Real(f) => Some(re.is_match(&f.to_string())),
                ValueRef::Blob(b) => Some(re.is_match(&String::from_utf8_lossy(b))),
            })
        },
    )
}

/// `restable_json_contains(target, candidate)`: PostgreSQL's jsonb `target @> candidate`
/// over two JSON texts (`cs`/`cd` on JSON columns, see `sql::containment`).
fn json_contains_function(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        "restable_json_contains",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let text = |i: usize| match ctx.get_raw(i) {
                ValueRef::Null => None,
                ValueRef::Text(t) | ValueRef::Blob(t) => {
                    Some(String::from_utf8_lossy(t).into_owned())
                }
                ValueRef::Integer(n) => Some(n.to_string()),
                ValueRef::Real(f) => Some(f.to_string()),
            };
            let (target, candidate) = (text(0), text(1));
            Ok(crate::sql::containment::contains_text(
                target.as_deref(),
                candidate.as_deref(),
            ))
        },
    )
}

/// `restable_base64(blob)`: the base64 text of a value, for BLOB columns inside embedded
/// JSON (the SQLite dialect's `embed_value`), as the encoder writes them at the top level.
fn base64_function(conn: &Connection) -> rusqlite::Result<()> {
    use base64::Engine;
    conn.create_scalar_function(
        "restable_base64",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
            Ok(match ctx.get_raw(0) {
                ValueRef::Null => None,
                ValueRef::Text(t) | ValueRef::Blob(t) => Some(b64(t)),
                ValueRef::Integer(i) => Some(b64(i.to_string().as_bytes())),
                ValueRef::Real(f) => Some(b64(f.to_string().as_bytes())),
            })
        },
    )
}

/// `restable_sum(col, scale)` and `restable_avg(col, scale)`: exact sums and PostgreSQL's
/// averages of integer and decimal columns (`exec/decimal.rs`; `scale` is the column's
/// declared scale, -1 for none), for the SQLite dialect's aggregates.
fn decimal_functions(conn: &Connection) -> rusqlite::Result<()> {
    use super::decimal::{DecimalSum, Value};
    use rusqlite::functions::{Aggregate, Context};

    struct Exact {
        avg: bool,
    }
    impl Aggregate<DecimalSum, SqlV> for Exact {
        fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<DecimalSum> {
            Ok(DecimalSum::default())
        }
        fn step(&self, ctx: &mut Context<'_>, sum: &mut DecimalSum) -> rusqlite::Result<()> {
            let scale = usize::try_from(ctx.get::<i64>(1)?).ok();
            let v = match ctx.get_raw(0) {
                ValueRef::Null => return Ok(()),
                ValueRef::Integer(i) => Value::Integer(i),
                ValueRef::Real(f) => Value::Real(f),
                ValueRef::Text(t) | ValueRef::Blob(t) => Value::Text(t),
            };
            sum.add(v, scale);
            Ok(())
        }
        fn finalize(&self, _: &mut Context<'_>, sum: Option<DecimalSum>) -> rusqlite::Result<SqlV> {
            let Some(sum) = sum else {
                return Ok(SqlV::Null);
            };
            Ok(if self.avg {
                sum.avg_text().map_or(SqlV::Null, SqlV::Text)
            } else if let Some(i) = sum.sum_integer() {
                SqlV::Integer(i)
            } else {
                sum.sum_text().map_or(SqlV::Null, SqlV::Text)
            })
        }
    }
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_aggregate_function("restable_sum", 2, flags, Exact { avg: false })?;
    conn.create_aggregate_function("restable_avg", 2, flags, Exact { avg: true })
}

/// Process-wide SQLite settings; call before the process opens its first connection (the
/// binary does so first thing in `main`; a library user may, or keep SQLite's defaults).
///
/// SQLite counts the memory it holds behind one global mutex that every allocation and
/// free takes. With several reader threads that mutex was contended (about 3% of a
/// filtered read's time went to waking its waiters); nothing here reads the counts.
pub fn configure_process() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: SQLITE_CONFIG_MEMSTATUS takes one int. sqlite3_config must not run beside
        // another thread's use of SQLite: the binary calls this before it starts any thread,
        // and once SQLite is initialized the call only returns SQLITE_MISUSE, changing nothing.
        unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS,
                0 as std::ffi::c_int,
            );
        }
    });
}

fn open_connection(path: &str, flags: OpenFlags, cache_mib: u32) -> rusqlite::Result<Connection> {
    let mut conn = Connection::open_with_flags(path, flags)?;
    // The query planner's stability guarantee: a plan never depends on a bound value. Without
    // it SQLite marks a statement such as `WHERE album_id = ? ORDER BY id LIMIT 50` to be
    // compiled again whenever its parameters are cleared, which rusqlite does each time a
    // statement goes back to its cache: 56 against 12 us for a 10-row filtered page.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.progress_handler(PROGRESS_STEPS, Some(over_budget))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;",
    )?;
    // A negative cache_size is KiB. SQLite's own 2 MiB re-reads the pages of a modest
    // table from the OS on every scan (a sort on a non-key column, a big page).
    conn.pragma_update(None, "cache_size", -i64::from(cache_mib) * 1024)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    regexp_function(&conn)?;
    base64_function(&conn)?;
    json_contains_function(&conn)?;
    decimal_functions(&conn)?;
    Ok(conn)
}

/// `sqlite://path?mode=ro` -> (path, read-only).
fn parse_url(url: &str) -> (String, bool) {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let read_only = query.split('&').any(|kv| kv == "mode=ro");
    (path.to_string(), read_only)
}

/// A statement from the connection's cache, or, when its text holds a value
/// (`Statement::single_use`), prepared for this use only so it cannot push others out.
enum Prepared<'c> {
    Cached(rusqlite::CachedStatement<'c>),
    Once(rusqlite::Statement<'c>),
}

impl<'c> std::ops::Deref for Prepared<'c> {
    type Target = rusqlite::Statement<'c>;
    fn deref(&self) -> &Self::Target {
        match self {
            Prepared::Cached(s) => s,
            Prepared::Once(s) => s,
        }
    }
}

impl std::ops::DerefMut for Prepared<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            Prepared::Cached(s) => s,
            Prepared::Once(s) => s,
        }
    }
}

fn prepare<'c>(conn: &'c Connection, stmt: &Statement) -> rusqlite::Result<Prepared<'c>> {
    if stmt.single_use {
        conn.prepare(&stmt.sql).map(Prepared::Once)
    } else {
        conn.prepare_cached(&stmt.sql).map(Prepared::Cached)
    }
}

fn db_error(e: &rusqlite::Error) -> ApiError {
    ApiError::internal(e.to_string())
}

struct Slot {
    conn: Option<Connection>,
    shared: Arc<Shared>,
    writer: bool,
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    fn conn(&mut self) -> ApiResult<&mut Connection> {
        self.conn
            .as_mut()
            .ok_or_else(|| ApiError::internal("connection slot is empty"))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            if self.writer {
                if let Ok(mut w) = self.shared.writer.lock() {
                    *w = Some(c);
                }
            } else if let Ok(mut r) = self.shared.readers.lock() {
                r.push(c);
            }
        }
    }
}

impl SqliteBackend {
    /// A connection that is free right now, without waiting.
    fn try_acquire(&self, write: bool) -> Option<Slot> {
        let use_writer = write || self.shared.single;
        let sem = if use_writer {
            &self.shared.writer_slot
        } else {
            &self.shared.reader_slots
        };
        let permit = Arc::clone(sem).try_acquire_owned().ok()?;
        self.slot(use_writer, permit).ok()
    }

    async fn acquire(&self, write: bool) -> ApiResult<Slot> {
        let use_writer = write || self.shared.single;
        let sem = if use_writer {
            &self.shared.writer_slot
        } else {
            &self.shared.reader_slots
        };
        // A free connection needs no timer; only waiting for one does.
        let permit = match Arc::clone(sem).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                tokio::time::timeout(self.shared.acquire_timeout, Arc::clone(sem).acquire_owned())
                    .await
                    .map_err(|_| ApiError::DbUnavailable {
                        details: "timed out waiting for a database connection".into(),
                    })?
                    .map_err(|_| ApiError::DbUnavailable {
                        details: "the connection pool is closed".into(),
                    })?
            }
        };
        self.slot(use_writer, permit)
    }

    /// The connection behind `permit`.
    fn slot(&self, use_writer: bool, permit: OwnedSemaphorePermit) -> ApiResult<Slot> {
        let conn = if use_writer {
            self.shared.writer.lock().ok().and_then(|mut w| w.take())
        } else {
            self.shared.readers.lock().ok().and_then(|mut r| r.pop())
        };
        let conn = conn.ok_or_else(|| ApiError::internal("no free connection behind a permit"))?;
        Ok(Slot {
            conn: Some(conn),
            shared: Arc::clone(&self.shared),
            writer: use_writer,
            _permit: permit,
        })
    }

    /// Run `f` on a connection in the blocking pool, interrupting it at the request timeout.
    async fn run<T: Send + 'static>(
        &self,
        write: bool,
        f: impl FnOnce(&mut Connection) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let mut slot = self.acquire(write).await?;
        let handle = slot.conn()?.get_interrupt_handle();
        let timeout = self.shared.request_timeout;
        let task = tokio::task::spawn_blocking(move || {
            let conn = slot.conn()?;
            f(conn)
        });
        match tokio::time::timeout(timeout, task).await {
            Ok(joined) => joined.map_err(|e| ApiError::internal(e.to_string()))?,
            Err(_) => {
                handle.interrupt();
                Err(ApiError::Timeout {
                    ms: timeout.as_millis() as u64,
                })
            }
        }
    }

    fn is_heavy(&self, sql: &str) -> bool {
        self.shared.heavy.read().map_or(true, |h| h.contains(sql))
    }

    fn mark_heavy(&self, sql: &str) {
        if let Ok(mut h) = self.shared.heavy.write() {
            if h.len() >= HEAVY_MAX {
                h.clear();
            }
            tracing::debug!(sql, "too heavy to read inline: runs on the blocking pool");
            h.insert(sql.to_string());
        }
    }

    /// Run the queued writes on the writer connection in the blocking pool until none is
    /// left.
    fn drain(&self, mut slot: Slot) {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || loop {
            let Some(first) = next_job(&shared, true, false) else {
                return;
            };
            match slot.conn() {
                Ok(conn) => write_group(conn, &shared, first),
                Err(e) => {
                    let _ = first.reply.send(Err(e));
                }
            }
        });
    }

    /// The writer connection could not be had: every queued write gets the error.
    fn fail_queue(&self, e: &ApiError) {
        let mut q = lock(&self.shared.queue);
        for job in q.jobs.drain(..) {
            let _ = job.reply.send(Err(e.clone()));
        }
        q.draining = false;
    }
}

impl Executor for SqliteBackend {
    fn dialect(&self) -> &'static dyn crate::sql::Dialect {
        &Sqlite
    }

    async fn open(cfg: &DatabaseConfig, request_timeout: Duration) -> Result<Self, String> {
        let (path, read_only) = parse_url(&cfg.url);
        let memory = path.is_empty() || path == ":memory:";
        // More SQLite readers than about twice the cores only adds thread switching.
        let cores = crate::cores();
        let pool_size = (cfg.pool_size as usize).clamp(1, (2 * cores).max(4));
        let acquire_timeout = Duration::from_millis(cfg.acquire_timeout_ms);
        let cache_mib = cfg.sqlite_cache_mib;
        let p = path.clone();
        let opened = tokio::task::spawn_blocking(
            move || -> rusqlite::Result<(Connection, Vec<Connection>)> {
                let rw = if read_only {
                    OpenFlags::SQLITE_OPEN_READ_ONLY
                } else {
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
                };
                let flags = rw | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
                let target = if memory { ":memory:" } else { p.as_str() };
                let writer = open_connection(target, flags, cache_mib)?;
                if !memory && !read_only {
                    writer.pragma_update(None, "journal_mode", "WAL")?;
                }
                let mut readers = Vec::new();
                if !memory {
                    let rflags = OpenFlags::SQLITE_OPEN_READ_ONLY
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | OpenFlags::SQLITE_OPEN_URI;
                    for _ in 0..pool_size {
                        readers.push(open_connection(target, rflags, cache_mib)?);
                    }
                }
                Ok((writer, readers))
            },
        )
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot open SQLite database '{path}': {e}"))?;
        let (writer, readers) = opened;
        let n_readers = readers.len();
        Ok(SqliteBackend {
            shared: Arc::new(Shared {
                readers: Mutex::new(readers),
                reader_slots: Arc::new(Semaphore::new(n_readers.max(1))),
                writer: Mutex::new(Some(writer)),
                writer_slot: Arc::new(Semaphore::new(1)),
                single: memory,
                slots: n_readers.max(1),
                acquire_timeout,
                request_timeout,
                heavy: RwLock::new(HashSet::new()),
                queue: Mutex::new(WriteQueue::default()),
            }),
        })
    }

    /// Connections (readers plus the writer), and how many of them are idle.
    fn pool_stats(&self) -> (u64, u64) {
        let s = &self.shared;
        let idle = s.reader_slots.available_permits() + s.writer_slot.available_permits();
        ((s.slots + 1) as u64, idle as u64)
    }

    async fn ping(&self) -> bool {
        self.run(false, |c| {
            c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .map_err(|e| db_error(&e))
        })
        .await
        .is_ok()
    }

    async fn introspect(&self, names: Vec<String>) -> Result<Vec<Option<Table>>, String> {
        self.run(true, move |c| {
            names
                .iter()
                .map(|n| crate::schema::sqlite::introspect_table(c, n).map_err(|e| db_error(&e)))
                .collect()
        })
        .await
        .map_err(|e| e.body().to_string())
    }

    async fn schema_version(&self, _names: Vec<String>) -> Result<String, String> {
        // Bumped by every schema change in the file, whichever connection made it.
        self.run(false, |c| {
            c.query_row("PRAGMA schema_version", [], |r| r.get::<_, i64>(0))
                .map(|v| v.to_string())
                .map_err(|e| db_error(&e))
        })
        .await
        .map_err(|e| e.body().to_string())
    }

    async fn list_tables(&self) -> Result<Vec<String>, String> {
        self.run(true, |c| {
            crate::schema::sqlite::list_tables(c).map_err(|e| db_error(&e))
        })
        .await
        .map_err(|e| e.body().to_string())
    }

    async fn run_script(&self, sql: String) -> Result<(), String> {
        self.run(true, move |c| {
            let tx = c.transaction().map_err(|e| db_error(&e))?;
            tx.execute_batch(&sql).map_err(|e| db_error(&e))?;
            tx.commit().map_err(|e| db_error(&e))
        })
        .await
        .map_err(|e| match e {
            ApiError::Internal { details } => details,
            other => other.to_string(),
        })
    }

    async fn read(&self, r: ReadRequest) -> ApiResult<ReadOutput> {
        let timeout = self.shared.request_timeout;
        let (head_tx, head_rx) = oneshot::channel();
        let (chunk_tx, chunk_rx) = mpsc::channel(CHANNEL_DEPTH);
        let mut head_tx = Some(head_tx);
        let stmt = sql::select(&Sqlite, &r.plan);
        // A read by key or a page of a few dozen rows takes less than handing it to the
        // blocking pool and back (two thread wake-ups): try it here first when a
        // connection is free, with a budget of SQLite steps and of bytes. A read that
        // outgrows either gives up before anything was sent, runs again on the blocking
        // pool, and its statement is remembered (an unindexed sort, an export).
        if !self.is_heavy(&stmt.sql) {
            if let Some(mut slot) = self.try_acquire(false) {
                let _budget = Budget::start();
                if run_read(&mut slot, &r, &stmt, Run::Inline, &mut head_tx, &chunk_tx)
                    == Ran::GaveUp
                {
                    self.mark_heavy(&stmt.sql);
                }
            }
        }
        let interrupt = match head_tx {
            None => None,
            Some(head_tx) => {
                let mut slot = self.acquire(false).await?;
                let handle = slot.conn()?.get_interrupt_handle();
                tokio::task::spawn_blocking(move || {
                    let mut head_tx = Some(head_tx);
                    run_read(&mut slot, &r, &stmt, Run::Pooled, &mut head_tx, &chunk_tx)
                });
                Some(handle)
            }
        };
        super::read_output(head_rx, chunk_rx, timeout, || {
            if let Some(handle) = interrupt {
                handle.interrupt();
            }
            ApiError::Timeout {
                ms: timeout.as_millis() as u64,
            }
        })
        .await
    }

    async fn write(&self, w: WriteRequest) -> ApiResult<WriteOutput> {
        let timeout = self.shared.request_timeout;
        let (reply, answer) = oneshot::channel();
        let deadline = Instant::now() + timeout;
        let start = {
            let mut q = lock(&self.shared.queue);
            q.jobs.push_back(Job {
                w,
                deadline,
                reply,
                solo: false,
            });
            !std::mem::replace(&mut q.draining, true)
        };
        if start {
            // Nobody is draining the queue: take the writer connection and start. A free
            // connection is taken here; waiting for one happens in a task of its own, so
            // that a request that goes away cannot leave the queue without a drainer.
            match self.try_acquire(true) {
                Some(slot) => self.drain(slot),
                None => {
                    let pool = self.clone();
                    tokio::spawn(async move {
                        match pool.acquire(true).await {
                            Ok(slot) => pool.drain(slot),
                            Err(e) => pool.fail_queue(&e),
                        }
                    });
                }
            }
        }
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(out)) => out,
            Ok(Err(_)) => Err(ApiError::internal("the write was dropped")),
            Err(_) => Err(ApiError::Timeout {
                ms: timeout.as_millis() as u64,
            }),
        }
    }
}

fn params(stmt: &Statement) -> Vec<Param<'_>> {
    stmt.params.iter().map(Param).collect()
}

fn map_err(e: rusqlite::Error, svc: &Service, timeout: Duration) -> ApiError {
    classify(&e).into_api(svc, timeout)
}

/// The fault a SQLite error is, by result code.
fn classify(e: &rusqlite::Error) -> Fault {
    let rusqlite::Error::SqliteFailure(f, msg) = e else {
        return Fault::Internal {
            message: e.to_string(),
        };
    };
    let msg = msg.clone().unwrap_or_default();
    match f.code {
        ErrorCode::OperationInterrupted => Fault::Timeout,
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Fault::Unavailable {
            reason: "the database is busy".into(),
        },
        ErrorCode::ConstraintViolation => constraint_fault(f.extended_code, &msg),
        ErrorCode::ReadOnly => Fault::NotWritable {
            reason: "the database is read-only".into(),
        },
        _ if msg.contains("because it is a view") => Fault::NotWritable {
            reason: "it is a view the database cannot update".into(),
        },
        ErrorCode::TooBig => Fault::TooLarge {
            sqlstate: "54000".into(),
        },
        _ => Fault::Internal {
            message: e.to_string(),
        },
    }
}

/// Columns named by `UNIQUE constraint failed: t.a, t.b`.
fn failed_columns(msg: &str) -> Vec<String> {
    msg.split_once(':')
        .map(|(_, cols)| {
            cols.split(',')
                .map(|c| c.trim().rsplit('.').next().unwrap_or("").to_string())
                .filter(|c| !c.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// `msg` is SQLite's: `UNIQUE constraint failed: t.a, t.b`, `NOT NULL constraint failed:
/// t.c`, `CHECK constraint failed: name`. SQLite names no constraint but a check.
fn constraint_fault(extended: i32, msg: &str) -> Fault {
    const PRIMARYKEY: i32 = 1555;
    const UNIQUE: i32 = 2067;
    const NOTNULL: i32 = 1299;
    const CHECK: i32 = 275;
    const FOREIGNKEY: i32 = 787;
    let table = msg
        .split_once(':')
        .and_then(|(_, c)| c.trim().split_once('.'))
        .map(|(t, _)| t.to_string());
    match extended {
        PRIMARYKEY | UNIQUE => Fault::Unique {
            constraint: (extended == PRIMARYKEY)
                .then(|| format!("{}_pkey", table.unwrap_or_default())),
            columns: failed_columns(msg),
            exclusion: false,
        },
        NOTNULL => Fault::NotNull {
            column: failed_columns(msg).pop(),
        },
        CHECK => Fault::Check {
            constraint: msg.split_once(':').map(|(_, c)| c.trim().to_string()),
        },
        FOREIGNKEY => Fault::ForeignKey {
            side: FkSide::Unknown,
            constraint: None,
            columns: Vec::new(),
            other_table: None,
        },
        _ => Fault::Check { constraint: None },
    }
}

/// Where a read runs.
#[derive(Clone, Copy, PartialEq)]
enum Run {
    /// In the request's task, under this thread's step budget, answering whole or not at
    /// all.
    Inline,
    /// On the blocking pool: streams parts past the first.
    Pooled,
}

/// How a read ended.
#[derive(PartialEq)]
enum Ran {
    /// Answered: the head was sent, or the error was.
    Answered,
    /// An inline read outgrew its budget; nothing was sent and `head_tx` is still there.
    GaveUp,
}

/// `read_rows` on the slot's connection; a failure has been answered (or has cut the
/// stream) by the time it returns, so it is only logged.
fn run_read(
    slot: &mut Slot,
    r: &ReadRequest,
    stmt: &Statement,
    run: Run,
    head_tx: &mut Option<oneshot::Sender<ApiResult<Head>>>,
    chunk_tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Ran {
    let timeout = slot.shared.request_timeout;
    let result = slot
        .conn()
        .and_then(|conn| read_rows(conn, r, stmt, run, timeout, head_tx, chunk_tx));
    match result {
        Ok(ran) => ran,
        Err(e) => {
            tracing::warn!(error = %e, "read failed");
            Ran::Answered
        }
    }
}

/// Run a read, sending the head (the whole body when it fits in the first part) on
/// `head_tx` and, on the blocking pool, any later parts on `chunk_tx`. An inline read gives
/// up instead of streaming or going over its step budget.
fn read_rows(
    conn: &mut Connection,
    r: &ReadRequest,
    stmt: &Statement,
    run: Run,
    timeout: Duration,
    head_tx: &mut Option<oneshot::Sender<ApiResult<Head>>>,
    chunk_tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> ApiResult<Ran> {
    let svc = &r.plan.service;
    // A failure before the head went out is the answer; after it, it cuts the stream. An
    // interrupt of an inline read is its budget running out: it gives up.
    let answer = |head_tx: &mut Option<oneshot::Sender<ApiResult<Head>>>, e: ApiError| {
        match head_tx.take() {
            Some(tx) => {
                let _ = tx.send(Err(e.clone()));
            }
            None => {
                let _ = chunk_tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        }
        Err(e)
    };
    let fail = |head_tx: &mut Option<oneshot::Sender<ApiResult<Head>>>, e: rusqlite::Error| {
        if run == Run::Inline && e.sqlite_error_code() == Some(ErrorCode::OperationInterrupted) {
            return Ok(Ran::GaveUp);
        }
        answer(head_tx, map_err(e, svc, timeout))
    };
    // Only reads that report a total (or stream) count: built when first needed.
    let count_now = |conn: &Connection| -> rusqlite::Result<u64> {
        let count_stmt = sql::count(&Sqlite, &r.plan);
        let mut st = prepare(conn, &count_stmt)?;
        st.query_row(rusqlite::params_from_iter(params(&count_stmt)), |row| {
            row.get::<_, i64>(0)
        })
        .map(|n| n.max(0) as u64)
    };
    let mut enc = RowEncoder::for_read(&r.plan, r.format);
    enc.strip_nulls = r.strip_nulls;
    enc.zone = r.zone.clone();
    let mut prepared = match prepare(conn, stmt) {
        Ok(p) => p,
        Err(e) => return fail(head_tx, e),
    };
    let mut rows = match prepared.query(rusqlite::params_from_iter(params(stmt))) {
        Ok(r) => r,
        Err(e) => return fail(head_tx, e),
    };
    let mut buf = Vec::with_capacity(8 * 1024);
    enc.start(&mut buf);
    let mut n: u64 = 0;
    let mut total: Option<u64> = None;
    let mut more = false;
    let ncols = enc.columns.len();
    // With lookahead the plan asks for one row more than the page, to learn if more exist.
    let page = r.page_limit();
    loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(e) => return fail(head_tx, e),
        };
        if n == 0 && r.count {
            // The first step opened the read transaction: the count sees the same snapshot.
            match count_now(conn) {
                Ok(t) => total = Some(t),
                Err(e) => return fail(head_tx, e),
            }
        }
        if r.lookahead && page == Some(n) {
            more = true;
            break;
        }
        if r.format == Format::Object && n >= 1 {
            // A second row: the singular answer is impossible; count for the message.
            n += 1;
            loop {
                match rows.next() {
                    Ok(Some(_)) => n += 1,
                    Ok(None) => break,
                    Err(e) => return fail(head_tx, e),
                }
            }
            break;
        }
        enc.separator(&mut buf, n);
        enc.row(&mut buf, |i| {
            if i < ncols {
                cell(row.get_ref(i).unwrap_or(ValueRef::Null))
            } else {
                Cell::Null
            }
        });
        n += 1;
        let limit = if head_tx.is_some() { FIRST_PART } else { CHUNK };
        if buf.len() < limit {
            continue;
        }
        if run == Run::Inline {
            // Too big to answer whole here; the blocking pool streams it.
            return Ok(Ran::GaveUp);
        }
        if let Some(tx) = head_tx.take() {
            // Streaming from here on: the row count must be known for Content-Range.
            let t = match total {
                Some(t) => t,
                None => match count_now(conn) {
                    Ok(t) => t,
                    Err(e) => {
                        *head_tx = Some(tx);
                        return fail(head_tx, e);
                    }
                },
            };
            let avail = t.saturating_sub(r.plan.offset);
            let rows_total = page.map_or(avail, |l| l.min(avail));
            let first = Bytes::from(std::mem::replace(
                &mut buf,
                Vec::with_capacity(CHUNK + 4096),
            ));
            let head = Head {
                first,
                rows: rows_total,
                total,
                more: avail > rows_total,
                done: false,
            };
            if tx.send(Ok(head)).is_err() {
                return Ok(Ran::Answered);
            }
        } else {
            let part = Bytes::from(std::mem::replace(
                &mut buf,
                Vec::with_capacity(CHUNK + 4096),
            ));
            if chunk_tx.blocking_send(Ok(part)).is_err() {
                // The client went away.
                return Ok(Ran::Answered);
            }
        }
    }
    if r.count && n == 0 && total.is_none() {
        // No row opened the snapshot above; count now (an empty page still has a total).
        match count_now(conn) {
            Ok(t) => total = Some(t),
            Err(e) => return fail(head_tx, e),
        }
    }
    if r.format == Format::Object && n != 1 {
        let e = ApiError::NotAcceptable {
            message: "Cannot coerce the result to a single JSON object".into(),
            details: Some(format!("The result contains {n} rows")),
        };
        return answer(head_tx, e);
    }
    enc.end(&mut buf);
    match head_tx.take() {
        Some(tx) => {
            let _ = tx.send(Ok(Head {
                first: Bytes::from(buf),
                rows: n,
                total,
                more,
                done: true,
            }));
        }
        None => {
            let _ = chunk_tx.blocking_send(Ok(Bytes::from(buf)));
        }
    }
    Ok(Ran::Answered)
}

/// A row of a rusqlite result, as cells.
struct SqliteRow<'a, 'b>(&'a rusqlite::Row<'b>);

impl RowCells for SqliteRow<'_, '_> {
    fn cell(&self, i: usize) -> Cell<'_> {
        cell(self.0.get_ref(i).unwrap_or(ValueRef::Null))
    }
}

/// The writer's transaction, for the shared write flow. Its futures never wait: they run
/// on the blocking thread that owns the connection.
struct SqliteTx<'a> {
    conn: &'a Connection,
    /// The request timeout, which an interrupted statement ran past.
    timeout: Duration,
}

impl WriteTx for SqliteTx<'_> {
    fn dialect(&self) -> &'static dyn crate::sql::Dialect {
        &Sqlite
    }

    async fn query(
        &mut self,
        svc: &Service,
        stmt: &Statement,
        out: &mut Returning,
    ) -> ApiResult<()> {
        let mut prepared = prepare(self.conn, stmt).map_err(|e| map_err(e, svc, self.timeout))?;
        let mut rows = prepared
            .query(rusqlite::params_from_iter(params(stmt)))
            .map_err(|e| map_err(e, svc, self.timeout))?;
        while let Some(row) = rows.next().map_err(|e| map_err(e, svc, self.timeout))? {
            out.push(&SqliteRow(row));
        }
        Ok(())
    }

    async fn execute(&mut self, svc: &Service, stmt: &Statement) -> ApiResult<Executed> {
        let mut prepared = prepare(self.conn, stmt).map_err(|e| map_err(e, svc, self.timeout))?;
        let affected = prepared
            .execute(rusqlite::params_from_iter(params(stmt)))
            .map_err(|e| map_err(e, svc, self.timeout))?;
        Ok(Executed {
            affected: affected as u64,
            last_insert_id: None,
        })
    }

    async fn count(&mut self, svc: &Service, stmt: &Statement) -> ApiResult<u64> {
        let mut prepared = prepare(self.conn, stmt).map_err(|e| map_err(e, svc, self.timeout))?;
        prepared
            .query_row(rusqlite::params_from_iter(params(stmt)), |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as u64)
            .map_err(|e| map_err(e, svc, self.timeout))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The next queued write still worth running. With `last_call`, an empty queue ends the
/// drain (under the same lock that writers check). `joining` (a write to add to an open
/// group) leaves a `solo` write at the head of the queue.
fn next_job(shared: &Shared, last_call: bool, joining: bool) -> Option<Job> {
    let mut q = lock(&shared.queue);
    while let Some(job) = q.jobs.pop_front() {
        if job.reply.is_closed() || Instant::now() >= job.deadline {
            // Its request has timed out or gone away.
            continue;
        }
        if joining && job.solo {
            q.jobs.push_front(job);
            return None;
        }
        return Some(job);
    }
    if last_call {
        q.draining = false;
    }
    None
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Run one write with the shared flow, interrupted at `until`.
fn run_job(
    conn: &Connection,
    job: &Job,
    until: Instant,
    timeout: Duration,
) -> ApiResult<WriteOutput> {
    let _deadline = Deadline::start(until);
    let mut wt = SqliteTx { conn, timeout };
    futures_util::FutureExt::now_or_never(flow::write(&mut wt, &job.w))
        .unwrap_or_else(|| Err(ApiError::internal("a SQLite write waited")))
}

/// Writes in one transaction: the first one as it comes, each later one inside a
/// savepoint so that its failure (or `Prefer: tx=rollback`) undoes only itself. The
/// group commits after `GROUP_MAX` writes, `GROUP_TIME`, or when the queue is empty, and
/// only then are the writes answered, so an answer always means committed. A later one
/// still running at `GROUP_CUT` is interrupted and queued again to run alone.
fn write_group(conn: &Connection, shared: &Shared, first: Job) {
    let svc = first.w.op.service();
    let timeout = shared.request_timeout;
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        let _ = first.reply.send(Err(map_err(e, &svc, timeout)));
        return;
    }
    let out = run_job(conn, &first, first.deadline, timeout);
    if out.is_err() || first.w.rollback || conn.is_autocommit() {
        // The transaction held only this write: end it, and answer.
        if !conn.is_autocommit() {
            let _ = exec(conn, "ROLLBACK");
        }
        let _ = first.reply.send(out);
        return;
    }
    let mut done = vec![(first, out)];
    let started = Instant::now();
    while done.len() < GROUP_MAX && started.elapsed() < GROUP_TIME {
        let Some(mut job) = next_job(shared, false, true) else {
            break;
        };
        let out = match exec(conn, "SAVEPOINT w") {
            Ok(()) => run_job(conn, &job, job.deadline.min(started + GROUP_CUT), timeout),
            Err(e) => Err(map_err(e, &job.w.op.service(), timeout)),
        };
        // Interrupted at the group's cut, not at its own deadline: it runs again, alone.
        let cut = Instant::now() < job.deadline && matches!(out, Err(ApiError::Timeout { .. }));
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (an interrupted INSERT, UPDATE or
            // DELETE, or an I/O error): the earlier writes of the group are undone too.
            // They were not answered yet, so they go back to the head of the queue and
            // run again; a write cut short by the group runs after them, alone.
            let mut q = lock(&shared.queue);
            if cut {
                job.solo = true;
                q.jobs.push_front(job);
            } else {
                let _ = job.reply.send(out);
            }
            for (earlier, _) in done.into_iter().rev() {
                q.jobs.push_front(earlier);
            }
            return;
        }
        if out.is_err() || job.w.rollback {
            if let Err(e) = exec(conn, "ROLLBACK TO w") {
                tracing::warn!(error = %e, "rollback to savepoint failed");
            }
        }
        if let Err(e) = exec(conn, "RELEASE w") {
            tracing::warn!(error = %e, "release of savepoint failed");
        }
        if cut {
            // Undone by its savepoint; the group commits without it.
            job.solo = true;
            lock(&shared.queue).jobs.push_front(job);
            break;
        }
        done.push((job, out));
    }
    tracing::trace!(writes = done.len(), "group commit");
    let committed = exec(conn, "COMMIT").map_err(|e| map_err(e, &svc, timeout));
    if committed.is_err() && !conn.is_autocommit() {
        let _ = exec(conn, "ROLLBACK");
    }
    for (job, out) in done {
        let out = match (&committed, out) {
            (Err(e), Ok(_)) => Err(e.clone()),
            (_, out) => out,
        };
        let _ = job.reply.send(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_connection_gets_the_configured_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = DatabaseConfig {
            url: format!("sqlite://{}", dir.path().join("c.db").display()),
            sqlite_cache_mib: 3,
            ..Default::default()
        };
        let pool = SqliteBackend::open(&cfg, Duration::from_secs(5))
            .await
            .unwrap();
        for write in [false, true] {
            let kib = pool
                .run(write, |c| {
                    c.query_row("PRAGMA cache_size", [], |r| r.get::<_, i64>(0))
                        .map_err(|e| db_error(&e))
                })
                .await
                .unwrap();
            assert_eq!(kib, -3072, "write connection: {write}");
        }
        drop(pool);
    }

    /// The planner's stability guarantee is on: a filtered page in key order is compiled
    /// once, not again on every reuse; a GLOB prefix (written as a literal) still narrows
    /// an index to a range.
    #[tokio::test]
    async fn statements_are_reused_and_a_glob_prefix_uses_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = DatabaseConfig {
            url: format!("sqlite://{}", dir.path().join("p.db").display()),
            ..Default::default()
        };
        let pool = SqliteBackend::open(&cfg, Duration::from_secs(5))
            .await
            .unwrap();
        pool.run_script(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, price NUMERIC);
             CREATE INDEX t_name ON t (name); CREATE INDEX t_price ON t (price);
             WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000)
             INSERT INTO t SELECT x, 'n' || x, x % 100 FROM n;"
                .into(),
        )
        .await
        .unwrap();
        let svc = crate::schema::sample_service();
        let stmt = |q: &str| {
            let q = crate::request::parse_query(q).unwrap();
            sql::select(
                &Sqlite,
                &crate::plan::read_plan(
                    &Default::default(),
                    &svc,
                    &q,
                    None,
                    None,
                    &Default::default(),
                )
                .unwrap(),
            )
        };
        let pages: Vec<Statement> = (0..20)
            .map(|p| stmt(&format!("price=eq.{p}&limit=5")))
            .collect();
        let prefix = stmt("name=like.n12*");
        let (reprepared, plan, found, qpsg) = pool
            .run(false, move |c| {
                let e = |e: rusqlite::Error| db_error(&e);
                for page in &pages {
                    let mut st = prepare(c, page).map_err(e)?;
                    let mut rows = st
                        .query(rusqlite::params_from_iter(params(page)))
                        .map_err(e)?;
                    while rows.next().map_err(e)?.is_some() {}
                }
                let reprepared = prepare(c, &pages[0])
                    .map_err(e)?
                    .get_status(rusqlite::StatementStatus::RePrepare);
                let plan: String = c
                    .query_row(&format!("EXPLAIN QUERY PLAN {}", prefix.sql), [], |r| {
                        r.get(3)
                    })
                    .map_err(e)?;
                let mut st = prepare(c, &prefix).map_err(e)?;
                let found = st.query_map([], |_| Ok(())).map_err(e)?.count();
                let qpsg = c
                    .db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG)
                    .map_err(e)?;
                Ok((reprepared, plan, found, qpsg))
            })
            .await
            .unwrap();
        assert_eq!(reprepared, 0);
        assert!(qpsg);
        assert!(
            plan.contains("USING INDEX t_name (name>? AND name<?)"),
            "{plan}"
        );
        // n12, n120..n129, n1200..n1299
        assert_eq!(found, 111);
        drop(pool);
    }
}
