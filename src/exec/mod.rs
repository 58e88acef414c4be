//! Execution: the only stage that does I/O against the database. Owns the pools, the
//! transactions, row streaming and the mapping of driver errors to API errors. The
//! `Database` enum is the seam: each backend is one module behind it.

mod decimal;
pub mod fault;
pub mod flow;
pub mod mysql;
mod pool;
pub mod postgres;
pub mod replicas;
pub mod sqlite;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::config::{backend_of, Backend, DatabaseConfig};
use crate::error::ApiResult;
use crate::plan::write::{DeletePlan, InsertPlan, PutPlan, UpdatePlan};
use crate::plan::ReadPlan;
use crate::request::Format;
use crate::schema::Table;
use crate::sql::Dialect;

/// A response smaller than this is sent whole, with Content-Length.
pub(crate) const FIRST_PART: usize = 256 * 1024;
/// Later parts of a streamed response.
pub(crate) const CHUNK: usize = 64 * 1024;
/// Parts buffered between the database side and the socket.
pub(crate) const CHANNEL_DEPTH: usize = 4;

/// What a read reports before its body: the first part and the counts for the headers.
pub(crate) struct Head {
    pub(crate) first: Bytes,
    pub(crate) rows: u64,
    pub(crate) total: Option<u64>,
    /// More rows exist past this page (known from the lookahead row or the count).
    pub(crate) more: bool,
    /// `first` is the whole body.
    pub(crate) done: bool,
}

/// Wait up to `timeout` for a read's head, then assemble the output: the whole body, or
/// its first part followed by the parts still coming on `rest`. `on_timeout` stops the
/// query when the head does not come in time.
pub(crate) async fn read_output(
    head: tokio::sync::oneshot::Receiver<ApiResult<Head>>,
    rest: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    timeout: Duration,
    on_timeout: impl FnOnce() -> crate::error::ApiError,
) -> ApiResult<ReadOutput> {
    let head = match tokio::time::timeout(timeout, head).await {
        Ok(Ok(head)) => head?,
        Ok(Err(_)) => return Err(crate::error::ApiError::internal("the read ended early")),
        Err(_) => return Err(on_timeout()),
    };
    let body = if head.done {
        RowBody::Full(head.first)
    } else {
        RowBody::Stream {
            first: head.first,
            rest,
        }
    };
    Ok(ReadOutput {
        rows: head.rows,
        total: head.total,
        more: head.more,
        body,
    })
}

/// A short stable digest of `text` (FNV-1a, 64 bits, hex): schema fingerprints.
pub(crate) fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Bytes of a response body: complete, or a first part followed by a stream.
pub enum RowBody {
    Full(Bytes),
    Stream {
        first: Bytes,
        rest: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    },
}

pub struct ReadRequest {
    pub plan: ReadPlan,
    pub format: Format,
    /// `Prefer: count=exact|planned|estimated`.
    pub count: bool,
    /// `count=planned` or `count=estimated`: a backend that has a planner estimate may
    /// answer it instead of the exact count (PostgreSQL); the others count exactly.
    pub estimate: Option<crate::request::prefer::CountPref>,
    /// `Accept: ...;nulls=stripped`: rows without their null-valued keys.
    pub strip_nulls: bool,
    /// `plan.limit` is one more than the page: stop before that extra row and report in
    /// `ReadOutput::more` whether it existed (for `Link: rel=next`).
    pub lookahead: bool,
    /// The database role and settings the read runs under (PostgreSQL's
    /// `database_roles`); empty elsewhere.
    pub session: crate::plan::Session,
    /// `Prefer: timezone=`: the zone timestamps with a time zone are written in.
    pub zone: Option<crate::response::Zone>,
    /// Read your writes: only a replica that has replayed this log position of the
    /// primary (`Database::parse_position`) may serve the read, else the primary.
    pub after: Option<u64>,
}

impl ReadRequest {
    /// The most rows the response may hold.
    pub fn page_limit(&self) -> Option<u64> {
        match self.plan.limit {
            Some(l) if self.lookahead => Some(l.saturating_sub(1)),
            other => other,
        }
    }
}

pub struct ReadOutput {
    /// Rows in this response.
    pub rows: u64,
    /// Rows matching the filters, when counted.
    pub total: Option<u64>,
    /// More rows exist past this page.
    pub more: bool,
    pub body: RowBody,
}

pub enum WriteOp {
    Insert(InsertPlan),
    Update(UpdatePlan),
    Delete(DeletePlan),
    Put(PutPlan),
}

impl WriteOp {
    pub fn service(&self) -> std::sync::Arc<crate::schema::Service> {
        std::sync::Arc::clone(match self {
            WriteOp::Insert(p) => &p.service,
            WriteOp::Update(p) => &p.service,
            WriteOp::Delete(p) => &p.service,
            WriteOp::Put(p) => &p.service,
        })
    }
}

pub struct WriteRequest {
    pub op: WriteOp,
    pub format: Format,
    /// `Accept: ...;nulls=stripped`: rows without their null-valued keys.
    pub strip_nulls: bool,
    /// Encode the written rows (return=representation or the default body).
    pub want_rows: bool,
    /// `Prefer: tx=rollback`.
    pub rollback: bool,
    /// `Prefer: max-affected=N`.
    pub max_affected: Option<u64>,
    /// `If-Match` on an item write: the row's current ETag must equal this.
    pub if_match: Option<String>,
    /// Related rows embedded in the written rows of the answer (`?select=*,artists(name)`).
    pub embeds: Vec<crate::plan::Embed>,
    /// The database role and settings the write runs under (PostgreSQL's
    /// `database_roles`); empty elsewhere.
    pub session: crate::plan::Session,
    /// `Prefer: timezone=`: the zone timestamps with a time zone are written in.
    pub zone: Option<crate::response::Zone>,
}

pub struct WriteOutput {
    /// Rows written (inserted, updated or deleted).
    pub rows: u64,
    /// Rows that were inserted rather than updated (upserts, PUT).
    pub inserted: u64,
    /// The written rows in the requested format (empty when not wanted).
    pub body: Bytes,
    /// Primary-key values of each written row, as URL text (for `Location`).
    pub keys: Vec<Vec<String>>,
    /// With replicas: the primary's log position once the write committed, as text (the
    /// read-your-writes token a later read sends back).
    pub position: Option<String>,
}

/// The contract every backend implements: one pool of connections to one database, and
/// the only I/O of a request. Each backend (`sqlite.rs`, `postgres.rs`, `mysql.rs`) drives
/// its own driver's cursor, decodes its values into `response::Cell`s, and classifies its
/// errors into `fault::Fault`s; what is the same everywhere (the write flow in `flow.rs`,
/// the wording of faults in `fault.rs`) is written once above it.
///
/// Rules every implementation keeps:
/// - **A failure is an `ApiError` made from a `Fault`** (`Fault::into_api`), never words
///   of the backend's own: hidden columns are kept out of messages in one place.
/// - **Nothing outlives the request timeout**: a statement running past it is stopped on
///   the server (statement timeout, interrupt) and answered `Fault::Timeout`, and the
///   connection goes back to the pool usable.
/// - **A write transaction never waits on anything but its own connection**: the shared
///   write flow (`flow::write`) runs in it from `BEGIN` to `COMMIT` without waiting for
///   another request, a channel or a lock (SQLite enforces this: its writes run the flow's
///   futures to completion on the writer thread and fail with "a SQLite write waited"
///   otherwise), so that a transaction holds its locks for as short as possible.
/// - **An answer means committed**: `write` returns only after the commit (or the
///   rollback of `Prefer: tx=rollback`); a write that failed changed nothing.
/// - **Connections go back to the pool only clean**: no open transaction, no unread rows,
///   no session setting left from the request.
pub trait Executor: Sized + Send + Sync + 'static {
    /// Connect (one connection at least, so a wrong URL stops start-up) and build the pool.
    fn open(
        cfg: &DatabaseConfig,
        request_timeout: Duration,
    ) -> impl Future<Output = Result<Self, String>> + Send;

    /// The SQL dialect statements for this database are built with.
    fn dialect(&self) -> &'static dyn Dialect;

    /// Run a read. The rows are encoded into `r.format` as they come; a body larger than
    /// `FIRST_PART` is streamed (`RowBody::Stream`), so memory does not grow with the rows.
    /// The executor stops before `ReadRequest::page_limit` and reports in
    /// `ReadOutput::more` whether another row existed (for `Link: rel=next`).
    fn read(&self, r: ReadRequest) -> impl Future<Output = ApiResult<ReadOutput>> + Send;

    /// Run a write in one transaction with the shared flow (`flow::write`).
    fn write(&self, w: WriteRequest) -> impl Future<Output = ApiResult<WriteOutput>> + Send;

    /// True when the database answers a trivial query within the request timeout.
    fn ping(&self) -> impl Future<Output = bool> + Send;

    /// Introspect the named tables; `None` for a name that does not exist.
    fn introspect(
        &self,
        names: Vec<String>,
    ) -> impl Future<Output = Result<Vec<Option<Table>>, String>> + Send;

    /// A cheap fingerprint of the named tables' schema (columns, types, keys): when it
    /// differs from the last one, the schema changed and the cache is rebuilt
    /// (`[database] schema_poll_ms`). It may change for other reasons too (SQLite's
    /// `PRAGMA schema_version` counts every DDL in the file): a spurious rebuild is
    /// harmless, a missed change is not.
    fn schema_version(
        &self,
        names: Vec<String>,
    ) -> impl Future<Output = Result<String, String>> + Send;

    /// Every table (and view) a service could expose (for `restable init`).
    fn list_tables(&self) -> impl Future<Output = Result<Vec<String>, String>> + Send;

    /// Run a script of SQL statements (the `init_sql` file) in one transaction.
    fn run_script(&self, sql: String) -> impl Future<Output = Result<(), String>> + Send;

    /// Connections in the pool and how many of them are idle (for `/_metrics`).
    fn pool_stats(&self) -> (u64, u64);
}

/// The backend a server runs on. An enum of the three concrete executors rather than a
/// `dyn Executor`: the trait's futures are `impl Future`, which a trait object cannot
/// return, and a match costs nothing. Each call's future is boxed so that the handler's
/// own future stays small whichever backend's is largest.
pub enum Database {
    Sqlite(sqlite::SqliteBackend),
    Postgres(postgres::PgBackend),
    MySql(mysql::MySqlBackend),
}

/// Call the same `Executor` method on whichever backend this is.
macro_rules! each {
    ($db:expr, $b:ident => $e:expr) => {
        match $db {
            Database::Sqlite($b) => $e,
            Database::Postgres($b) => $e,
            Database::MySql($b) => $e,
        }
    };
}

impl Database {
    pub async fn open(cfg: &DatabaseConfig, timeout: Duration) -> Result<Database, String> {
        Ok(match backend_of(&cfg.url)? {
            Backend::Sqlite => Database::Sqlite(sqlite::SqliteBackend::open(cfg, timeout).await?),
            Backend::Postgres => Database::Postgres(postgres::PgBackend::open(cfg, timeout).await?),
            Backend::MySql => Database::MySql(mysql::MySqlBackend::open(cfg, timeout).await?),
        })
    }

    pub fn dialect(&self) -> &'static dyn Dialect {
        each!(self, b => b.dialect())
    }

    pub fn backend(&self) -> Backend {
        match self {
            Database::Sqlite(_) => Backend::Sqlite,
            Database::Postgres(_) => Backend::Postgres,
            Database::MySql(_) => Backend::MySql,
        }
    }

    pub async fn read(&self, r: ReadRequest) -> ApiResult<ReadOutput> {
        each!(self, b => Box::pin(b.read(r)).await)
    }

    pub async fn write(&self, w: WriteRequest) -> ApiResult<WriteOutput> {
        each!(self, b => Box::pin(b.write(w)).await)
    }

    pub fn pool_stats(&self) -> (u64, u64) {
        each!(self, b => b.pool_stats())
    }

    pub async fn ping(&self) -> bool {
        each!(self, b => Box::pin(b.ping()).await)
    }

    pub async fn introspect(&self, names: Vec<String>) -> Result<Vec<Option<Table>>, String> {
        each!(self, b => Box::pin(b.introspect(names)).await)
    }

    pub async fn schema_version(&self, names: Vec<String>) -> Result<String, String> {
        each!(self, b => Box::pin(b.schema_version(names)).await)
    }

    pub async fn list_tables(&self) -> Result<Vec<String>, String> {
        each!(self, b => Box::pin(b.list_tables()).await)
    }

    pub async fn run_script(&self, sql: String) -> Result<(), String> {
        each!(self, b => Box::pin(b.run_script(sql)).await)
    }

    // Read replicas exist on PostgreSQL only (the config refuses them elsewhere).

    /// True when reads may run on replicas (read-your-writes tokens are then in use).
    pub fn has_replicas(&self) -> bool {
        matches!(self, Database::Postgres(b) if b.replicas().is_some())
    }

    /// A read-your-writes token as a log position; `None` when it is not one.
    pub fn parse_position(&self, token: &str) -> Option<u64> {
        match self {
            Database::Postgres(_) => postgres::parse_lsn(token),
            _ => None,
        }
    }

    /// Each replica's state as last checked.
    pub fn replicas(&self) -> Vec<replicas::ReplicaStatus> {
        match self {
            Database::Postgres(b) => b.replicas().map(|r| r.status()).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Reads run on the primary and on replicas so far; `None` without replicas.
    pub fn reads_by_target(&self) -> Option<(u64, u64)> {
        match self {
            Database::Postgres(b) => b.replicas().map(|r| r.reads()),
            _ => None,
        }
    }
}
