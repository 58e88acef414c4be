//! Execution: the only stage that does I/O against the database. Owns the pools, the
//! transactions, row streaming and the mapping of driver errors to API errors. The
//! `Database` enum is the seam: each backend is one module behind it.

pub mod flow;
pub mod mysql;
mod pool;
pub mod postgres;
pub mod sqlite;

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::config::DatabaseConfig;
use crate::error::ApiResult;
use crate::plan::write::{DeletePlan, InsertPlan, PutPlan, UpdatePlan};
use crate::plan::ReadPlan;
use crate::response::Format;
use crate::schema::Table;
use crate::sql::Dialect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

/// Which backend a database URL names.
pub fn backend_of(url: &str) -> Result<Backend, String> {
    let scheme = url.split(':').next().unwrap_or("").to_ascii_lowercase();
    match scheme.as_str() {
        "sqlite" => Ok(Backend::Sqlite),
        "postgres" | "postgresql" => Ok(Backend::Postgres),
        "mysql" | "mariadb" => Ok(Backend::MySql),
        _ => Err(format!(
            "'{}' is not a database URL: use sqlite://path, postgres://... or mysql://...",
            redact_url(url)
        )),
    }
}

/// A URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

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
    /// `plan.limit` is one more than the page: stop before that extra row and report in
    /// `ReadOutput::more` whether it existed (for `Link: rel=next`).
    pub lookahead: bool,
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
    /// Encode the written rows (return=representation or the default body).
    pub want_rows: bool,
    /// `Prefer: tx=rollback`.
    pub rollback: bool,
    /// `Prefer: max-affected=N`.
    pub max_affected: Option<u64>,
    /// `If-Match` on an item write: the row's current ETag must equal this.
    pub if_match: Option<String>,
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
}

pub enum Database {
    Sqlite(sqlite::SqlitePool),
    Postgres(postgres::PgBackend),
    MySql(mysql::MySqlBackend),
}

/// Call the same method on whichever backend this is.
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
            Backend::Sqlite => Database::Sqlite(sqlite::SqlitePool::open(cfg, timeout).await?),
            Backend::Postgres => Database::Postgres(postgres::PgBackend::open(cfg, timeout).await?),
            Backend::MySql => Database::MySql(mysql::MySqlBackend::open(cfg, timeout).await?),
        })
    }

    pub fn dialect(&self) -> &'static dyn Dialect {
        match self {
            Database::Sqlite(_) => &crate::sql::sqlite::Sqlite,
            Database::Postgres(p) => p.dialect(),
            Database::MySql(m) => m.dialect(),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Database::Sqlite(_) => Backend::Sqlite,
            Database::Postgres(_) => Backend::Postgres,
            Database::MySql(_) => Backend::MySql,
        }
    }

    pub async fn read(&self, r: ReadRequest) -> ApiResult<ReadOutput> {
        // Boxed: each backend's future lives on the heap, so this one stays small.
        each!(self, b => Box::pin(b.read(r)).await)
    }

    pub async fn write(&self, w: WriteRequest) -> ApiResult<WriteOutput> {
        each!(self, b => Box::pin(b.write(w)).await)
    }

    /// Connections in the pool and how many of them are idle (for `/_metrics`).
    pub fn pool_stats(&self) -> (u64, u64) {
        each!(self, b => b.pool_stats())
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        each!(self, b => Box::pin(b.ping()).await)
    }

    /// Introspect the named tables; `None` for a name that does not exist.
    pub async fn introspect(&self, names: Vec<String>) -> Result<Vec<Option<Table>>, String> {
        each!(self, b => Box::pin(b.introspect(names)).await)
    }

    pub async fn list_tables(&self) -> Result<Vec<String>, String> {
        each!(self, b => Box::pin(b.list_tables()).await)
    }

    /// Run a script of SQL statements (the `init_sql` file) in one transaction.
    pub async fn run_script(&self, sql: String) -> Result<(), String> {
        each!(self, b => Box::pin(b.run_script(sql)).await)
    }
}
