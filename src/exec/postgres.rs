//! PostgreSQL execution with sqlx connections: a pool (`pool.rs`) whose connections run
//! with the request timeout as `statement_timeout` and UTC as their time zone; reads
//! streamed from the wire through a bounded channel (memory stays flat however many rows
//! a read has); writes through the shared write flow (in one transaction, or as one
//! statement); SQLSTATEs mapped to API errors. Knows SQL only as
//! the statements the dialect built, never HTTP.
//!
//! With `[database] replicas`, reads run on a healthy replica (`replicas.rs` keeps their
//! health; `PgProbe` checks them), writes on the primary, and each committed write reports
//! the primary's WAL position for read-your-writes.
//!
//! TLS comes from the URL, as libpq spells it: `?sslmode=disable|prefer|require|verify-ca|
//! verify-full`, `sslrootcert=/path/ca.pem`, `sslcert=...&sslkey=...` (client
//! certificates); rustls does the TLS.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt;
use sqlx::postgres::{
    PgArguments, PgConnectOptions, PgConnection, PgDatabaseError, PgRow, Postgres,
};
use sqlx::{Column as _, Decode, Row, TypeInfo, ValueRef};
use tokio::sync::{mpsc, oneshot};

use super::fault::{self, Fault, FkSide};
use super::flow::{self, Executed, Returning, RowCells, WriteTx};
use super::pool::{Conn, Conns};
use super::replicas::{Checked, Probe, Replica, Replicas, Target};
use super::{Executor, ReadOutput, ReadRequest, WriteOutput, WriteRequest};
use super::{Head, CHANNEL_DEPTH, CHUNK, FIRST_PART};
use crate::config::redact_url;
use crate::config::DatabaseConfig;
use crate::error::{ApiError, ApiResult};
use crate::plan::{ReadPlan, SqlValue};
use crate::request::Format;
use crate::response::{Cell, RowEncoder};
use crate::schema::{Service, Table};
use crate::sql::postgres::{pg_text, Postgres as PgDialect};
use crate::sql::postgres::{FETCH_READ as FETCH, READ_CURSOR as CURSOR};
use crate::sql::{self, Statement};

const STATEMENT_CACHE: usize = 256;
/// The primary's WAL position as text (`0/3000148`), for read-your-writes.
const CURRENT_LSN: &str = "SELECT pg_current_wal_insert_lsn()::text";
const COMMIT_AND_LSN: &str = "COMMIT; SELECT pg_current_wal_insert_lsn()::text";
/// What a replica is asked twice a second: whether it is one, what it has replayed, and
/// its lag in milliseconds (0 when it has replayed all it received, else the time since
/// the last transaction it replayed).
const REPLICA_CHECK: &str = "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, \
    (CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 \
     ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000, 0) \
     END)::float8";
/// Statements with more parameters than this are not kept prepared (a full chunk of a bulk
/// insert, 1000 rows of up to 8 columns, still is: preparing one costs more than running it).
const PERSISTENT_PARAMS: usize = 8192;
/// Reads that may return more rows than this go through a cursor (see `stream_rows`).
const CURSOR_ABOVE: u64 = 10_000;
const FETCH_ROWS: usize = 1000;
/// How long past the statement timeout to wait for the server's own timeout error.
const TIMEOUT_GRACE: Duration = Duration::from_millis(500);

pub struct PgBackend {
    pool: Conns<PgConnection>,
    /// `[database] replicas`, when any.
    replicas: Option<Arc<Replicas<PgConnection>>>,
    request_timeout: Duration,
    /// How many pooled connections found closed by the server a request skips before it
    /// gives up: after a database restart every idle connection is such a one.
    stale_retries: usize,
}

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

/// Bind each value the way the dialect's placeholder expects it: ints, floats, booleans
/// and bytes natively, everything else as text (the placeholder casts it).
fn bind_all<'q>(mut q: PgQuery<'q>, params: &'q [SqlValue]) -> PgQuery<'q> {
    for v in params {
        q = match v {
            SqlValue::Null => q.bind(None::<&str>),
            SqlValue::Int(i) => q.bind(*i),
            SqlValue::Float(f) => q.bind(*f),
            SqlValue::Bool(b) => q.bind(*b),
            SqlValue::Bytes(b) => q.bind(b.as_slice()),
            SqlValue::Decimal(s) | SqlValue::Text(s) | SqlValue::Json(s) => q.bind(s.as_str()),
            SqlValue::Array(values) => bind_array(q, values),
            other => q.bind(pg_text(other)),
        };
    }
    q
}

/// An array parameter, typed by its values (the dialect made them all one variant, and
/// casts the parameter to the column's array type).
fn bind_array<'q>(q: PgQuery<'q>, values: &'q [SqlValue]) -> PgQuery<'q> {
    fn each<'v, T>(
        values: &'v [SqlValue],
        f: impl Fn(&'v SqlValue) -> Option<T>,
    ) -> Vec<Option<T>> {
        values.iter().map(f).collect()
    }
    match values.iter().find(|v| **v != SqlValue::Null) {
        Some(SqlValue::Int(_)) => q.bind(each(values, |v| match v {
            SqlValue::Int(i) => Some(*i),
            _ => None,
        })),
        Some(SqlValue::Float(_)) => q.bind(each(values, |v| match v {
            SqlValue::Float(f) => Some(*f),
            _ => None,
        })),
        Some(SqlValue::Bool(_)) => q.bind(each(values, |v| match v {
            SqlValue::Bool(b) => Some(*b),
            _ => None,
        })),
        Some(SqlValue::Bytes(_)) => q.bind(each(values, |v| match v {
            SqlValue::Bytes(b) => Some(b.as_slice()),
            _ => None,
        })),
        _ => q.bind(each(values, |v| match v {
            SqlValue::Null => None,
            SqlValue::Decimal(s) | SqlValue::Text(s) | SqlValue::Json(s) => {
                Some(std::borrow::Cow::Borrowed(s.as_str()))
            }
            other => Some(std::borrow::Cow::Owned(pg_text(other))),
        })),
    }
}

fn query(stmt: &Statement) -> PgQuery<'_> {
    bind_all(
        sqlx::query(sqlx::AssertSqlSafe(stmt.sql.as_str())),
        &stmt.params,
    )
    .persistent(stmt.params.len() <= PERSISTENT_PARAMS)
}

/// How a result column is decoded into a cell (the dialect's select list casts every
/// column to one of these).
#[derive(Debug, Clone, Copy)]
enum Decoder {
    Int8,
    Int4,
    Int2,
    Float8,
    Float4,
    Bool,
    Bytes,
    Text,
    Date,
    Timestamp,
    TimestampTz,
}

fn decoders(row: &PgRow) -> Vec<Decoder> {
    row.columns()
        .iter()
        .map(|c| match c.type_info().name() {
            "INT8" => Decoder::Int8,
            "INT4" => Decoder::Int4,
            "INT2" => Decoder::Int2,
            "FLOAT8" => Decoder::Float8,
            "FLOAT4" => Decoder::Float4,
            "BOOL" => Decoder::Bool,
            "BYTEA" => Decoder::Bytes,
            "DATE" => Decoder::Date,
            "TIMESTAMP" => Decoder::Timestamp,
            "TIMESTAMPTZ" => Decoder::TimestampTz,
            _ => Decoder::Text,
        })
        .collect()
}

fn cell(row: &PgRow, i: usize, d: Decoder) -> Cell<'_> {
    let Ok(v) = row.try_get_raw(i) else {
        return Cell::Null;
    };
    if v.is_null() {
        return Cell::Null;
    }
    let decoded = match d {
        Decoder::Int8 => <i64 as Decode<Postgres>>::decode(v).map(Cell::Int),
        Decoder::Int4 => <i32 as Decode<Postgres>>::decode(v).map(|i| Cell::Int(i.into())),
        Decoder::Int2 => <i16 as Decode<Postgres>>::decode(v).map(|i| Cell::Int(i.into())),
        Decoder::Float8 => <f64 as Decode<Postgres>>::decode(v).map(Cell::Float),
        Decoder::Float4 => <f32 as Decode<Postgres>>::decode(v).map(|f| Cell::Float(f.into())),
        Decoder::Bool => <bool as Decode<Postgres>>::decode(v).map(Cell::Bool),
        Decoder::Bytes => v.as_bytes().map(Cell::Bytes),
        // Binary: days / microseconds since 2000-01-01, formatted by the encoder (cheaper
        // than having the server call to_json on every value).
        Decoder::Date => <i32 as Decode<Postgres>>::decode(v).map(Cell::Date),
        Decoder::Timestamp => {
            <i64 as Decode<Postgres>>::decode(v).map(|t| Cell::Timestamp(t, false))
        }
        Decoder::TimestampTz => {
            <i64 as Decode<Postgres>>::decode(v).map(|t| Cell::Timestamp(t, true))
        }
        Decoder::Text => match v.as_bytes() {
            Ok(b) => Ok(match std::str::from_utf8(b) {
                Ok(s) => Cell::Text(s),
                Err(_) => Cell::Bytes(b),
            }),
            Err(e) => Err(e),
        },
    };
    decoded.unwrap_or(Cell::Null)
}

/// An integer cell (the counts a read appends to its rows).
fn int_at(row: &PgRow, i: usize) -> Option<u64> {
    row.try_get::<Option<i64>, _>(i)
        .ok()
        .flatten()
        .map(|n| n.max(0) as u64)
}

fn unavailable(details: impl Into<String>) -> ApiError {
    ApiError::DbUnavailable {
        details: details.into(),
    }
}

/// Errors of the pool or the connection itself (no SQLSTATE).
fn connection_error(e: &sqlx::Error) -> Option<ApiError> {
    match e {
        sqlx::Error::PoolTimedOut => {
            Some(unavailable("timed out waiting for a database connection"))
        }
        sqlx::Error::PoolClosed => Some(unavailable("the connection pool is closed")),
        sqlx::Error::Io(e) => Some(unavailable(format!("connection to the database: {e}"))),
        sqlx::Error::Tls(e) => Some(unavailable(format!("TLS with the database: {e}"))),
        sqlx::Error::WorkerCrashed | sqlx::Error::BeginFailed => {
            Some(unavailable("the database connection failed"))
        }
        sqlx::Error::Protocol(p) => Some(unavailable(format!("database protocol: {p}"))),
        _ => None,
    }
}

/// Failing to get a connection (or to start a transaction on it): whatever the cause (the
/// server down or refusing connections, a bad password, the pool exhausted), the database
/// is unavailable to this request.
fn acquire_error(e: &sqlx::Error) -> ApiError {
    connection_error(e).unwrap_or_else(|| unavailable(plain_error(e)))
}

/// `Key (a, b)=(1, x) already exists.` -> `a, b`.
fn key_columns(detail: &str) -> Vec<String> {
    let cols = detail.strip_prefix("Key (").and_then(|rest| {
        let end = rest.find(")=(")?;
        Some(&rest[..end])
    });
    cols.map(|c| c.split(',').map(|c| c.trim().to_string()).collect())
        .unwrap_or_default()
}

/// `Key (id)=(1) is still referenced from table "albums".` -> `albums`.
fn quoted_table(detail: &str, after: &str) -> Option<String> {
    let rest = &detail[detail.rfind(after)? + after.len()..];
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

fn map_err(e: sqlx::Error, svc: &Service, timeout: Duration) -> ApiError {
    classify(&e).into_api(svc, timeout)
}

/// The fault a PostgreSQL error is, by SQLSTATE.
fn classify(e: &sqlx::Error) -> Fault {
    if let Some(api) = connection_error(e) {
        return match api {
            ApiError::DbUnavailable { details } => Fault::Unavailable { reason: details },
            other => Fault::Internal {
                message: other.to_string(),
            },
        };
    }
    let Some(pg) = (match e {
        sqlx::Error::Database(db) => db.try_downcast_ref::<PgDatabaseError>(),
        _ => None,
    }) else {
        return Fault::Internal {
            message: e.to_string(),
        };
    };
    let code = pg.code();
    let constraint = pg.constraint().map(str::to_string);
    let detail = pg.detail().unwrap_or("");
    match code {
        "23505" | "23P01" => Fault::Unique {
            constraint,
            columns: key_columns(detail),
            exclusion: code == "23P01",
        },
        "21000" => Fault::Cardinality {
            message: pg.message().to_string(),
        },
        "23503" | "23001" => {
            let (side, other_table) = if detail.contains(") is not present in table") {
                (
                    FkSide::Missing,
                    quoted_table(detail, "is not present in table "),
                )
            } else if detail.contains("is still referenced from table") {
                (
                    FkSide::Referenced,
                    quoted_table(detail, "is still referenced from table "),
                )
            } else {
                (FkSide::Unknown, None)
            };
            Fault::ForeignKey {
                side,
                constraint,
                columns: key_columns(detail),
                other_table,
            }
        }
        "23502" => Fault::NotNull {
            column: pg.column().map(str::to_string),
        },
        "23514" => Fault::Check { constraint },
        "42501" => Fault::Denied {
            message: pg.message().to_string(),
        },
        "57014" => Fault::Timeout,
        "40001" | "40P01" | "25006" | "57P01" | "57P02" | "57P03" => Fault::Unavailable {
            reason: format!("{} (SQLSTATE {code})", pg.message()),
        },
        "42P10" => Fault::BadOnConflict {
            message: pg.message().to_string(),
        },
        // A view or relation the database cannot write (e.g. "cannot update view").
        "55000" | "42809" => Fault::NotWritable {
            reason: format!("{} (SQLSTATE {code})", fault::short(pg.message())),
        },
        // A comparison the column's type has no operator for (`point = point`, `xml`).
        "42883" | "42804" => Fault::NoOperator {
            message: format!("{} (SQLSTATE {code})", pg.message()),
        },
        c if c.starts_with("22") => Fault::InvalidValue {
            message: pg.message().to_string(),
            column: pg.column().map(str::to_string),
            sqlstate: c.to_string(),
        },
        c if c.starts_with("08") || c.starts_with("53") => Fault::Unavailable {
            reason: format!("{} (SQLSTATE {c})", pg.message()),
        },
        c if c.starts_with("54") => Fault::TooLarge {
            sqlstate: c.to_string(),
        },
        _ => Fault::Internal {
            message: format!("{} (SQLSTATE {code})", pg.message()),
        },
    }
}

/// Errors outside any service (start-up, scripts, pings), as text without the URL.
fn plain_error(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => match db.try_downcast_ref::<PgDatabaseError>() {
            Some(pg) => {
                let mut s = format!("{} (SQLSTATE {})", pg.message(), pg.code());
                if let Some(d) = pg.detail() {
                    s.push_str(": ");
                    s.push_str(d);
                }
                s
            }
            None => db.message().to_string(),
        },
        other => other.to_string(),
    }
}

/// The statement of a read (see `sql::postgres::counted_select`), and how many of its
/// columns are the plan's own.
fn read_statement(plan: &ReadPlan, count: bool, windowed: bool) -> (Statement, usize) {
    sql::postgres::counted_select(plan, count, windowed)
}

/// `count=planned`: the planner's estimate of the rows the read's filters match (the
/// `Plan Rows` of `EXPLAIN (FORMAT JSON) SELECT 1 FROM t WHERE ..`, as PostgREST does).
/// `count=estimated`: the exact count while it is at most the service's `max_rows`, else
/// the larger of that bound and the estimate (PostgREST's rule); `None` (count exactly)
/// without a `max_rows`.
async fn estimate_total(
    conn: &mut PgConnection,
    plan: &ReadPlan,
    kind: crate::request::prefer::CountPref,
) -> Result<Option<u64>, sqlx::Error> {
    use crate::request::prefer::CountPref;
    let svc = &plan.service;
    let mut limited = None;
    if kind == CountPref::Estimated {
        if svc.max_rows == 0 {
            return Ok(None);
        }
        let stmt = sql::postgres::bounded_count(plan, svc.max_rows.saturating_add(1));
        let n: i64 = query(&stmt).fetch_one(&mut *conn).await?.try_get(0)?;
        let n = n.max(0) as u64;
        if n <= svc.max_rows {
            return Ok(Some(n));
        }
        limited = Some(n);
    }
    let stmt = sql::postgres::explain_count(plan);
    let row = query(&stmt).fetch_one(&mut *conn).await?;
    let text: String = row.try_get_unchecked(0)?;
    let plan_json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let rows = plan_json[0]["Plan"]["Plan Rows"]
        .as_f64()
        .unwrap_or(0.0)
        .max(0.0) as u64;
    Ok(Some(limited.map_or(rows, |n| n.max(rows))))
}

/// A pool of connections to `url`, each set up with the request timeout as
/// `statement_timeout`, UTC and ISO dates (the primary's and each replica's alike).
fn new_pool(
    url: &str,
    cfg: &DatabaseConfig,
    request_timeout: Duration,
) -> Result<Conns<PgConnection>, String> {
    let shown = redact_url(url);
    let mut options = PgConnectOptions::from_str(url)
        .map_err(|e| format!("'{shown}' is not a usable PostgreSQL URL: {e}"))?
        .statement_cache_capacity(STATEMENT_CACHE);
    if options.get_application_name().is_none() {
        options = options.application_name("restable");
    }
    let timeout_ms = request_timeout.as_millis().clamp(1, i32::MAX as u128);
    let setup = format!(
        "SET statement_timeout = {timeout_ms}; SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'"
    );
    Ok(Conns::<PgConnection>::new(
        options,
        setup,
        cfg.pool_size,
        Duration::from_millis(cfg.acquire_timeout_ms.max(1)),
    ))
}

/// A WAL position as PostgreSQL writes it (`0/3000148`: two hexadecimal halves of 32
/// bits) as one number; `None` when `text` is not one.
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.split_once('/')?;
    let half = |p: &str| {
        if p.is_empty() || p.len() > 8 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(p, 16).ok()
    };
    Some((half(hi)? << 32) | half(lo)?)
}

/// Checks a replica (`REPLICA_CHECK`) on a connection of its own.
struct PgProbe;

impl Probe for PgProbe {
    type Conn = PgConnection;

    async fn check(
        &self,
        pool: &Conns<PgConnection>,
        link: &mut Option<PgConnection>,
    ) -> Result<Checked, String> {
        let conn = match link {
            Some(c) => c,
            None => link.insert(pool.connect_unpooled().await.map_err(|e| plain_error(&e))?),
        };
        let row = match sqlx::query(REPLICA_CHECK).fetch_one(&mut *conn).await {
            Ok(row) => row,
            Err(e) => {
                *link = None;
                return Err(plain_error(&e));
            }
        };
        let standby: bool = row.try_get(0).map_err(|e| e.to_string())?;
        if !standby {
            return Err("not a standby: pg_is_in_recovery() is false".into());
        }
        let replayed: Option<String> = row.try_get(1).map_err(|e| e.to_string())?;
        let lag: f64 = row.try_get(2).map_err(|e| e.to_string())?;
        Ok(Checked {
            replayed: replayed.as_deref().and_then(parse_lsn).unwrap_or(0),
            lag_ms: lag.max(0.0) as u64,
        })
    }
}

impl PgBackend {
    /// `[database] replicas`, when any.
    pub fn replicas(&self) -> Option<&Replicas<PgConnection>> {
        self.replicas.as_deref()
    }

    async fn acquire(&self) -> ApiResult<Conn<PgConnection>> {
        self.pool.acquire().await.map_err(|e| acquire_error(&e))
    }

    /// A connection on which `BEGIN` has run, skipping pooled connections the server has
    /// closed.
    async fn begin(&self) -> Result<Conn<PgConnection>, sqlx::Error> {
        self.pool.acquire_running("BEGIN", is_stale).await
    }

    /// A connection in a transaction (`begin`) that runs as `session` says: its role and
    /// settings last until the transaction ends, so no request leaves them on a pooled
    /// connection. A role the database does not know is PostgREST's 401.
    async fn begin_session(
        &self,
        begin: &'static str,
        session: &Statement,
        svc: &Service,
        role: Option<&str>,
    ) -> ApiResult<Conn<PgConnection>> {
        let conn = self
            .pool
            .acquire_running(begin, is_stale)
            .await
            .map_err(|e| acquire_error(&e))?;
        self.set_session(conn, session, svc, role).await
    }

    /// Run `session`'s statement in the transaction just begun on `conn`.
    async fn set_session(
        &self,
        mut conn: Conn<PgConnection>,
        session: &Statement,
        svc: &Service,
        role: Option<&str>,
    ) -> ApiResult<Conn<PgConnection>> {
        if let Err(e) = query(session).execute(&mut *conn).await {
            let unknown_role = match &e {
                sqlx::Error::Database(db) => db.code().is_some_and(|c| c == "22023"),
                _ => false,
            };
            if matches!(e, sqlx::Error::Database(_)) && conn.end(false).await.is_err() {
                // Closed, not reused.
            }
            return Err(if unknown_role {
                ApiError::Unauthorized {
                    message: format!(
                        "the role '{}' is not a database role this server can switch to",
                        role.unwrap_or("")
                    ),
                    invalid_token: false,
                }
            } else {
                map_err(e, svc, self.request_timeout)
            });
        }
        Ok(conn)
    }

    /// A connection that has just answered `SELECT 1` (for pings and the rare paths where
    /// the extra round trip does not matter), skipping those the server has closed.
    async fn live_conn(&self) -> Result<Conn<PgConnection>, sqlx::Error> {
        self.pool.acquire_running("SELECT 1", is_stale).await
    }

    /// The connection a read starts on (in a `BEGIN READ ONLY` transaction when
    /// `in_tx`): a healthy replica's that has replayed `after`, round-robin, else the
    /// primary's. A replica that gives no connection is marked down and the primary used.
    /// The replica, when it is one, for `Retry`.
    async fn read_conn(
        &self,
        after: Option<u64>,
        in_tx: bool,
    ) -> Result<(Conn<PgConnection>, Option<Arc<Replica<PgConnection>>>), sqlx::Error> {
        const BEGIN: &str = "BEGIN READ ONLY";
        if let Some(set) = &self.replicas {
            if let Some(replica) = set.pick(after) {
                let got = if in_tx {
                    replica.pool.acquire_running(BEGIN, is_stale).await
                } else {
                    replica.pool.acquire().await
                };
                match got {
                    Ok(conn) => {
                        set.count(Target::Replica);
                        return Ok((conn, Some(Arc::clone(replica))));
                    }
                    Err(e) => replica.mark_down(&plain_error(&e)),
                }
            }
            set.count(Target::Primary);
        }
        let conn = if in_tx {
            self.pool.acquire_running(BEGIN, is_stale).await?
        } else {
            self.pool.acquire().await?
        };
        Ok((conn, None))
    }

    /// With replicas, the primary's WAL position on `conn` (just after a commit, or after
    /// a single statement): the read-your-writes token. The insert position, not the
    /// flushed one (`pg_current_wal_lsn`): it is past the commit record even when
    /// `synchronous_commit` is off. `None` without replicas or when the query fails (the
    /// write is committed either way; the answer then carries no token).
    async fn position(&self, conn: &mut Conn<PgConnection>) -> Option<String> {
        self.replicas.as_ref()?;
        match sqlx::query_scalar::<_, String>(CURRENT_LSN)
            .fetch_one(&mut **conn)
            .await
        {
            Ok(lsn) => Some(lsn),
            Err(e) => {
                tracing::warn!(error = %plain_error(&e), "reading the primary's WAL position");
                None
            }
        }
    }

    async fn write_tx(&self, w: WriteRequest) -> ApiResult<WriteOutput> {
        let session = sql::postgres::session(&w.session);
        if session.is_none() && flow::single_statement(&PgDialect, &w) {
            // One statement is atomic by itself: no BEGIN and COMMIT round trips. A
            // session the server ended before running it is retried on another
            // connection; a connection that broke mid-statement is not (it may have run).
            let mut retries = 0;
            loop {
                let mut conn = self.acquire().await?;
                let (mut result, fault) = self.run_flow(&mut conn, &w).await;
                match fault {
                    None | Some(ConnFault::Statement) => {
                        if let Ok(out) = &mut result {
                            if !w.rollback {
                                out.position = self.position(&mut conn).await;
                            }
                        }
                        conn.reuse();
                    }
                    Some(ConnFault::Terminated) if retries < self.stale_retries => {
                        retries += 1;
                        continue;
                    }
                    Some(_) => {}
                }
                return result;
            }
        }
        let svc = w.op.service();
        let mut conn = match &session {
            Some(stmt) => {
                self.begin_session("BEGIN", stmt, &svc, w.session.role.as_deref())
                    .await?
            }
            None => self.begin().await.map_err(|e| acquire_error(&e))?,
        };
        let (result, fault) = self.run_flow(&mut conn, &w).await;
        if matches!(fault, Some(ConnFault::Terminated | ConnFault::Connection)) {
            // The session is gone, and its transaction with it.
            return result;
        }
        let commit = result.is_ok() && !w.rollback;
        if commit && self.replicas.is_some() {
            // The commit and the position in one round trip.
            let ended = sqlx::raw_sql(COMMIT_AND_LSN)
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| map_err(e, &svc, self.request_timeout))?;
            conn.reuse();
            let mut out = result?;
            out.position = ended
                .first()
                .and_then(|row| row.try_get::<String, _>(0).ok());
            return Ok(out);
        }
        let ended = conn.end(commit).await;
        let out = result?;
        ended.map_err(|e| map_err(e, &svc, self.request_timeout))?;
        Ok(out)
    }

    /// The shared write flow on `conn`, and how its first failed statement failed.
    async fn run_flow(
        &self,
        conn: &mut Conn<PgConnection>,
        w: &WriteRequest,
    ) -> (ApiResult<WriteOutput>, Option<ConnFault>) {
        let mut wt = PgTx {
            conn,
            timeout: self.request_timeout,
            fault: None,
        };
        let result = flow::write(&mut wt, w).await;
        (result, wt.fault)
    }
}

impl Executor for PgBackend {
    async fn open(cfg: &DatabaseConfig, request_timeout: Duration) -> Result<Self, String> {
        let shown = redact_url(&cfg.url);
        let pool = new_pool(&cfg.url, cfg, request_timeout)?;
        // Replica URLs are checked before anything connects; a replica that does not
        // answer yet is down, not a start-up error (the checks find it when it comes).
        let mut replica_pools = Vec::new();
        for url in &cfg.replicas {
            let p = new_pool(url, cfg, request_timeout).map_err(|e| format!("replica {e}"))?;
            replica_pools.push((p, redact_url(url)));
        }
        // One connection now, so that a wrong URL or password stops start-up; it stays
        // in the pool.
        let mut first = pool.acquire().await.map_err(|e| {
            format!(
                "cannot connect to PostgreSQL at '{shown}': {}",
                plain_error(&e)
            )
        })?;
        first.reuse();
        drop(first);
        let replicas = if replica_pools.is_empty() {
            None
        } else {
            let set = Arc::new(Replicas::new(replica_pools, cfg.max_replica_lag_ms));
            let check_timeout = Duration::from_millis(cfg.acquire_timeout_ms.max(1));
            Replicas::start(&set, PgProbe, check_timeout).await;
            Some(set)
        };
        Ok(PgBackend {
            pool,
            replicas,
            request_timeout,
            stale_retries: cfg.pool_size.max(1) as usize,
        })
    }

    fn dialect(&self) -> &'static dyn crate::sql::Dialect {
        &PgDialect
    }

    /// Connections open in the pool, and how many of them are idle.
    fn pool_stats(&self) -> (u64, u64) {
        self.pool.stats()
    }

    async fn ping(&self) -> bool {
        let live = tokio::time::timeout(self.request_timeout + TIMEOUT_GRACE, self.live_conn());
        match live.await {
            Ok(Ok(mut conn)) => {
                conn.reuse();
                true
            }
            _ => false,
        }
    }

    async fn introspect(&self, names: Vec<String>) -> Result<Vec<Option<Table>>, String> {
        let mut conn = self.live_conn().await.map_err(|e| plain_error(&e))?;
        let tables = crate::schema::postgres::introspect_tables(&mut conn, &names)
            .await
            .map_err(|e| format!("introspecting PostgreSQL: {}", plain_error(&e)))?;
        conn.reuse();
        Ok(tables)
    }

    /// The introspected tables themselves (four catalog queries): PostgreSQL is told of
    /// changes by `NOTIFY`, so this runs only when `schema_poll_ms` is set.
    async fn schema_version(&self, names: Vec<String>) -> Result<String, String> {
        let tables = self.introspect(names).await?;
        Ok(super::fingerprint(&format!("{tables:?}")))
    }

    async fn list_tables(&self) -> Result<Vec<String>, String> {
        let mut conn = self.live_conn().await.map_err(|e| plain_error(&e))?;
        let tables = crate::schema::postgres::list_tables(&mut conn)
            .await
            .map_err(|e| plain_error(&e))?;
        conn.reuse();
        Ok(tables)
    }

    async fn run_script(&self, sql: String) -> Result<(), String> {
        let mut conn = self.begin().await.map_err(|e| plain_error(&e))?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .map_err(|e| plain_error(&e))?;
        conn.end(true).await.map_err(|e| plain_error(&e))
    }

    async fn read(&self, mut r: ReadRequest) -> ApiResult<ReadOutput> {
        let timeout = self.request_timeout;
        let timed_out = || ApiError::Timeout {
            ms: timeout.as_millis() as u64,
        };
        // With a session the read runs in a read-only transaction of its own, as
        // PostgREST's reads do; without one it is a single statement.
        let session = sql::postgres::session(&r.session);
        let in_tx = session.is_some();
        let (conn, replica) = self
            .read_conn(r.after, in_tx)
            .await
            .map_err(|e| acquire_error(&e))?;
        let mut conn = match &session {
            Some(stmt) => {
                self.set_session(conn, stmt, &r.plan.service, r.session.role.as_deref())
                    .await?
            }
            None => conn,
        };
        let estimated = match (r.count, r.estimate) {
            (true, Some(kind)) => {
                let svc = Arc::clone(&r.plan.service);
                let total = tokio::time::timeout(
                    timeout + TIMEOUT_GRACE,
                    Box::pin(estimate_total(&mut conn, &r.plan, kind)),
                )
                .await
                .map_err(|_| timed_out())?;
                match total {
                    Ok(Some(t)) => {
                        // The read itself needs no count then.
                        r.count = false;
                        Some(t)
                    }
                    Ok(None) => None,
                    Err(e) => {
                        if matches!(e, sqlx::Error::Database(_)) {
                            if in_tx {
                                let _ = conn.end(false).await;
                            } else {
                                conn.reuse();
                            }
                        }
                        return Err(map_err(e, &svc, timeout));
                    }
                }
            }
            _ => None,
        };
        let (head_tx, head_rx) = oneshot::channel();
        let (chunk_tx, chunk_rx) = mpsc::channel(CHANNEL_DEPTH);
        let singular = r.format == Format::Object;
        let run = Box::pin(stream_rows(
            // A session's transaction is not started again elsewhere: a connection the
            // server closed showed itself at `BEGIN`.
            (!in_tx).then(|| Retry {
                pool: match &replica {
                    Some(r) => r.pool.clone(),
                    None => self.pool.clone(),
                },
                left: self.stale_retries,
                fallback: replica.map(|r| (self.pool.clone(), r)),
            }),
            conn,
            r,
            timeout,
            head_tx,
            chunk_tx,
        ));
        if singular {
            // A singular read sends its head and at most one more part, which the channel
            // holds: run it in this task rather than spawning one.
            if tokio::time::timeout(timeout + TIMEOUT_GRACE, run)
                .await
                .is_err()
            {
                return Err(timed_out());
            }
        } else {
            tokio::spawn(run);
        }
        let mut out =
            super::read_output(head_rx, chunk_rx, timeout + TIMEOUT_GRACE, timed_out).await?;
        if estimated.is_some() {
            out.total = estimated;
        }
        Ok(out)
    }

    async fn write(&self, w: WriteRequest) -> ApiResult<WriteOutput> {
        let timeout = self.request_timeout;
        match tokio::time::timeout(timeout + TIMEOUT_GRACE, self.write_tx(w)).await {
            Ok(result) => result,
            Err(_) => Err(ApiError::Timeout {
                ms: timeout.as_millis() as u64,
            }),
        }
    }
}

/// A dedicated connection LISTENing on one channel (`[database] notify_channel`), outside
/// the pool: what tells this instance that the schema changed (`NOTIFY restable, 'reload'`).
pub struct SchemaListener {
    listener: sqlx::postgres::PgListener,
}

impl SchemaListener {
    /// Connect and LISTEN; the error is worded for the log (no password).
    pub async fn connect(url: &str, channel: &str) -> Result<SchemaListener, String> {
        let shown = redact_url(url);
        let mut listener = sqlx::postgres::PgListener::connect(url)
            .await
            .map_err(|e| format!("cannot connect to {shown}: {}", plain_error(&e)))?;
        listener
            .listen(channel)
            .await
            .map_err(|e| format!("cannot LISTEN {channel} on {shown}: {}", plain_error(&e)))?;
        Ok(SchemaListener { listener })
    }

    /// The next notification's payload; `Ok(None)` when the connection was lost (it is
    /// re-established on the next call, and notifications sent meanwhile are lost).
    /// Cancel-safe: a notification is never half received.
    pub async fn next(&mut self) -> Result<Option<String>, String> {
        match self.listener.try_recv().await {
            Ok(Some(n)) => Ok(Some(n.payload().to_string())),
            Ok(None) => Ok(None),
            Err(e) => Err(plain_error(&e)),
        }
    }
}

/// What the sink wants after a row.
enum Step {
    More,
    /// The answer is settled (a singular read with more than one row).
    Enough,
    /// The client went away.
    Gone,
    /// A read without row counts outgrew one part: run it again with them, to stream.
    Windowed,
}

/// Encodes a read's rows and hands the body over: the first part (up to `FIRST_PART`
/// bytes, or all of it) with the counts through `head_tx`, the rest in `CHUNK`-sized
/// parts through `chunk_tx`, which the socket drains (a slow client slows the reads down).
struct Sink {
    enc: RowEncoder,
    format: Format,
    count: bool,
    /// Where the appended counts start in a row.
    inner_columns: usize,
    head_tx: Option<oneshot::Sender<ApiResult<Head>>>,
    chunk_tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
    /// Rows encoded so far.
    n: u64,
    /// Rows the whole read returns (from the count appended to every row, less the
    /// lookahead row).
    in_response: u64,
    total: Option<u64>,
    /// The most rows the response may hold; with `lookahead` the statement asks for one
    /// more, whose presence says that a next page exists.
    page: Option<u64>,
    lookahead: bool,
    offset: u64,
    more: bool,
    dec: Vec<Decoder>,
    /// Rows carry the row count (see `read_statement`); without it rows are counted as
    /// they come and the whole body must fit in the first part.
    windowed: bool,
    /// Rows past the first of a singular read without row counts.
    extra: u64,
}

impl Sink {
    async fn row(&mut self, row: &PgRow) -> Step {
        if !self.windowed {
            if self.n == 0 {
                self.dec = decoders(row);
            }
            if self.lookahead && self.page == Some(self.n) {
                self.more = true;
                return Step::Enough;
            }
            if self.format == Format::Object && self.n >= 1 {
                self.extra += 1;
                return Step::More;
            }
        } else if self.n == 0 {
            self.dec = decoders(row);
            self.in_response = int_at(row, self.inner_columns).unwrap_or(0);
            if self.count {
                self.total = int_at(row, self.inner_columns + 1);
            }
            if let Some(page) = self
                .page
                .filter(|p| self.lookahead && self.in_response > *p)
            {
                self.in_response = page;
                self.more = true;
            }
            if let Some(t) = self.total {
                self.more |= self.offset + self.in_response < t;
            }
            if self.format == Format::Object && self.in_response != 1 {
                return Step::Enough;
            }
        }
        if self.windowed && self.n >= self.in_response {
            // The lookahead row: it only told that more rows exist.
            return Step::Enough;
        }
        let ncols = self.enc.columns.len();
        self.enc.separator(&mut self.buf, self.n);
        let dec = &self.dec;
        self.enc.row(&mut self.buf, |i| {
            if i < ncols {
                cell(row, i, dec.get(i).copied().unwrap_or(Decoder::Text))
            } else {
                Cell::Null
            }
        });
        self.n += 1;
        let limit = if self.head_tx.is_some() {
            FIRST_PART
        } else {
            CHUNK
        };
        if self.buf.len() < limit {
            return Step::More;
        }
        if !self.windowed {
            return Step::Windowed;
        }
        let part = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK + 4096),
        ));
        let sent = match self.head_tx.take() {
            Some(tx) => tx
                .send(Ok(Head {
                    more: self.more,
                    first: part,
                    rows: self.in_response,
                    total: self.total,
                    done: false,
                }))
                .is_ok(),
            None => self.chunk_tx.send(Ok(part)).await.is_ok(),
        };
        if sent {
            Step::More
        } else {
            Step::Gone
        }
    }

    /// A failure before the first part answers the request; after it, it cuts the body.
    async fn fail(&mut self, e: ApiError) {
        match self.head_tx.take() {
            Some(tx) => {
                let _ = tx.send(Err(e));
            }
            None => {
                tracing::warn!(error = %e, "read failed while streaming");
                let _ = self
                    .chunk_tx
                    .send(Err(std::io::Error::other(e.to_string())))
                    .await;
            }
        }
    }

    /// After the last row: the singular check, the total of an empty page, the end.
    /// Whether the connection is ready for another statement afterwards.
    async fn finish(
        mut self,
        conn: &mut sqlx::PgConnection,
        plan: &ReadPlan,
        timeout: Duration,
    ) -> bool {
        if !self.windowed {
            self.in_response = self.n + self.extra;
        }
        if self.format == Format::Object && self.in_response != 1 {
            // Every row carries the row count: no need to read them all to say how many.
            let rows = self.in_response;
            self.fail(ApiError::NotAcceptable {
                message: "Cannot coerce the result to a single JSON object".into(),
                details: Some(format!("The result contains {rows} rows")),
            })
            .await;
            return true;
        }
        if self.n == 0 && self.count {
            // No row carried the total (an empty page, or an offset past the end).
            let stmt = sql::count(&PgDialect, plan);
            match query(&stmt)
                .fetch_one(&mut *conn)
                .await
                .and_then(|row| row.try_get::<i64, _>(0))
            {
                Ok(t) => self.total = Some(t.max(0) as u64),
                Err(e) => {
                    let ready = matches!(e, sqlx::Error::Database(_));
                    self.fail(map_err(e, &plan.service, timeout)).await;
                    return ready;
                }
            }
        }
        self.enc.end(&mut self.buf);
        let last = Bytes::from(std::mem::take(&mut self.buf));
        match self.head_tx.take() {
            Some(tx) => {
                let _ = tx.send(Ok(Head {
                    more: self.more,
                    first: last,
                    rows: self.n,
                    total: self.total,
                    done: true,
                }));
            }
            None => {
                let _ = self.chunk_tx.send(Ok(last)).await;
            }
        }
        true
    }
}

/// Where a read may run again when its pooled connection turns out closed.
struct Retry {
    pool: Conns<PgConnection>,
    left: usize,
    /// A read begun on a replica: the primary's pool, where it goes when the replica
    /// gives no connection (the replica is then marked down).
    fallback: Option<(Conns<PgConnection>, Arc<Replica<PgConnection>>)>,
}

impl Retry {
    async fn acquire(&mut self) -> Result<Conn<PgConnection>, sqlx::Error> {
        match self.pool.acquire().await {
            Ok(c) => Ok(c),
            Err(e) => match self.fallback.take() {
                Some((primary, replica)) => {
                    replica.mark_down(&plain_error(&e));
                    self.pool = primary;
                    self.pool.acquire().await
                }
                None => Err(e),
            },
        }
    }
}

/// Run a read into a sink. A read of at most `CURSOR_ABOVE` rows is one statement, which
/// `statement_timeout` bounds as a whole. A longer one (an export) goes through a cursor,
/// `FETCH_ROWS` at a time: each fetch is bounded, the whole stream is not, so a slow
/// client is not cut off at the request timeout.
/// `retry` is `None` for a read in the request's session transaction (`database_roles`),
/// which commits at its end and is never run again on another connection.
async fn stream_rows(
    mut retry: Option<Retry>,
    conn: Conn<PgConnection>,
    r: ReadRequest,
    timeout: Duration,
    head_tx: oneshot::Sender<ApiResult<Head>>,
    chunk_tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let svc = Arc::clone(&r.plan.service);
    let in_tx = retry.is_none();
    // A singular read (an item by key, or Accept: vnd.pgrst.object) answers one row.
    let bounded = r.plan.limit.is_some_and(|l| l <= CURSOR_ABOVE) || r.format == Format::Object;
    // A bounded read is first tried without row counts; one that outgrows the first part
    // runs again with them (nothing has been sent yet).
    let mut windowed = !bounded || r.count;
    let (mut stmt, inner_columns) = read_statement(&r.plan, r.count, windowed);
    let mut enc = RowEncoder::for_read(&r.plan, r.format);
    enc.strip_nulls = r.strip_nulls;
    enc.zone = r.zone.clone();
    let new_sink = |enc: RowEncoder,
                    head_tx: oneshot::Sender<ApiResult<Head>>,
                    chunk_tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
                    windowed: bool| {
        let mut buf = Vec::with_capacity(8 * 1024);
        enc.start(&mut buf);
        Sink {
            enc,
            format: r.format,
            count: r.count,
            inner_columns,
            head_tx: Some(head_tx),
            chunk_tx,
            buf,
            n: 0,
            in_response: 0,
            total: None,
            page: r.page_limit(),
            lookahead: r.lookahead,
            offset: r.plan.offset,
            more: false,
            dec: Vec::new(),
            windowed,
            extra: 0,
        }
    };
    let mut sink = new_sink(enc, head_tx, chunk_tx, windowed);
    let mut conn = conn;
    let mut retries = 0;
    loop {
        // Boxed, each: this future stays small, and only the path taken is allocated
        // (moving these large futures around cost more than the query).
        let ran = if bounded {
            Box::pin(read_at_once(&mut conn, &stmt, &mut sink)).await
        } else {
            Box::pin(read_with_cursor(&mut conn, &stmt, &mut sink, in_tx)).await
        };
        match ran {
            Ok(Ended::Windowed) if !windowed => {
                windowed = true;
                stmt = read_statement(&r.plan, r.count, true).0;
                let Sink {
                    enc,
                    head_tx,
                    chunk_tx,
                    ..
                } = sink;
                let Some(head_tx) = head_tx else { return };
                sink = new_sink(enc, head_tx, chunk_tx, true);
            }
            Ok(Ended::Windowed) => return,
            Ok(Ended::Finished) => {
                if Box::pin(sink.finish(&mut conn, &r.plan, timeout)).await {
                    // Rows the read did not need (a lookahead row, a singular read's
                    // extras) are skipped by sqlx before the connection's next statement.
                    if in_tx {
                        // Reused once the transaction, role and settings with it, ended.
                        let _ = conn.end(true).await;
                    } else {
                        conn.reuse();
                    }
                }
                return;
            }
            Ok(Ended::Gone) => {
                // Closed, not reused: the rest of the result must not cross the wire for
                // nobody.
                return;
            }
            Err(e)
                if is_stale(&e)
                    && retry.as_ref().is_some_and(|r| retries < r.left)
                    && sink.n == 0 =>
            {
                // A pooled connection the server closed (a restart, an idle timeout):
                // nothing was sent yet, so read again on another one.
                retries += 1;
                drop(conn);
                let Some(retry) = &mut retry else { return };
                conn = match Box::pin(retry.acquire()).await {
                    Ok(c) => c,
                    Err(e) => {
                        sink.fail(acquire_error(&e)).await;
                        return;
                    }
                };
            }
            Err(e) => {
                let ready = matches!(e, sqlx::Error::Database(_));
                if ready && !in_tx {
                    // The server refused the statement and is ready for the next one.
                    conn.reuse();
                }
                sink.fail(map_err(e, &svc, timeout)).await;
                if ready && in_tx {
                    let _ = conn.end(false).await;
                }
                return;
            }
        }
    }
}

/// How a read ended without an error.
enum Ended {
    /// Every row (or every row needed) went into the sink.
    Finished,
    /// The client went away (the connection may be mid-result).
    Gone,
    /// The read outgrew one part without row counts (`Step::Windowed`).
    Windowed,
}

/// A connection the server has closed (a restart, `pg_terminate_backend`, an idle
/// timeout): the session is gone, so nothing of the statement happened.
fn is_stale(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            matches!(c.as_ref(), "57P01" | "57P02" | "57P03") || c.starts_with("08")
        }),
        _ => false,
    }
}

async fn read_at_once(
    conn: &mut sqlx::PgConnection,
    stmt: &Statement,
    sink: &mut Sink,
) -> Result<Ended, sqlx::Error> {
    let mut rows = query(stmt).fetch(conn);
    while let Some(row) = rows.try_next().await? {
        match sink.row(&row).await {
            Step::More => {}
            Step::Enough => break,
            Step::Gone => return Ok(Ended::Gone),
            Step::Windowed => return Ok(Ended::Windowed),
        }
    }
    Ok(Ended::Finished)
}

async fn read_with_cursor(
    conn: &mut sqlx::PgConnection,
    stmt: &Statement,
    sink: &mut Sink,
    in_tx: bool,
) -> Result<Ended, sqlx::Error> {
    if in_tx {
        // The request's own transaction holds the cursor; its end closes it.
        return fetch_cursor(conn, stmt, sink).await;
    }
    let mut tx = sqlx::Connection::begin(conn).await?;
    let ended = fetch_cursor(&mut tx, stmt, sink).await?;
    if matches!(ended, Ended::Finished) {
        tx.commit().await?;
    }
    // Otherwise dropping the transaction rolls it back, cursor and all.
    Ok(ended)
}

/// Declare the read's cursor in the open transaction and fetch it into the sink.
async fn fetch_cursor(
    conn: &mut sqlx::PgConnection,
    stmt: &Statement,
    sink: &mut Sink,
) -> Result<Ended, sqlx::Error> {
    let declare = sql::postgres::cursor(stmt, CURSOR);
    bind_all(
        sqlx::query(sqlx::AssertSqlSafe(declare.sql)),
        &declare.params,
    )
    .persistent(false)
    .execute(&mut *conn)
    .await?;
    loop {
        // Not kept prepared: its columns are those of whichever cursor it reads.
        let mut rows = sqlx::query(FETCH).persistent(false).fetch(&mut *conn);
        let mut got = 0usize;
        while let Some(row) = rows.try_next().await? {
            got += 1;
            match sink.row(&row).await {
                Step::More => {}
                Step::Enough => return Ok(Ended::Finished),
                Step::Gone => return Ok(Ended::Gone),
                // Cursor reads always carry row counts; never reached.
                Step::Windowed => return Ok(Ended::Windowed),
            }
        }
        if got < FETCH_ROWS {
            return Ok(Ended::Finished);
        }
    }
}

/// A result row as cells.
struct PgCells<'a> {
    row: &'a PgRow,
    dec: &'a [Decoder],
}

impl RowCells for PgCells<'_> {
    fn cell(&self, i: usize) -> Cell<'_> {
        cell(
            self.row,
            i,
            self.dec.get(i).copied().unwrap_or(Decoder::Text),
        )
    }
}

/// A write transaction, for the shared write flow.
struct PgTx<'a> {
    conn: &'a mut Conn<PgConnection>,
    timeout: Duration,
    /// What the first failed statement said about the connection.
    fault: Option<ConnFault>,
}

/// How a statement failed, as far as its connection is concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ConnFault {
    /// The server refused the statement and is ready for the next one.
    Statement,
    /// The server ended the session before running the statement (a restart, a kill):
    /// nothing happened, and another connection may run it.
    Terminated,
    /// The connection broke; whether the statement ran is unknown.
    Connection,
}

fn conn_fault(e: &sqlx::Error) -> ConnFault {
    match e {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("57P01" | "57P02" | "57P03") => ConnFault::Terminated,
            Some(c) if c.starts_with("08") => ConnFault::Connection,
            _ => ConnFault::Statement,
        },
        _ => ConnFault::Connection,
    }
}

impl PgTx<'_> {
    fn failed(&mut self, e: sqlx::Error, svc: &Service) -> ApiError {
        self.fault.get_or_insert(conn_fault(&e));
        map_err(e, svc, self.timeout)
    }
}

impl WriteTx for PgTx<'_> {
    fn dialect(&self) -> &'static dyn crate::sql::Dialect {
        &PgDialect
    }

    async fn query(
        &mut self,
        svc: &Service,
        stmt: &Statement,
        out: &mut Returning,
    ) -> ApiResult<()> {
        let mut rows = query(stmt).fetch(&mut **self.conn);
        let mut dec: Option<Vec<Decoder>> = None;
        loop {
            match rows.try_next().await {
                Ok(Some(row)) => {
                    let dec = dec.get_or_insert_with(|| decoders(&row));
                    out.push(&PgCells {
                        row: &row,
                        dec: dec.as_slice(),
                    });
                }
                Ok(None) => return Ok(()),
                Err(e) => {
                    drop(rows);
                    return Err(self.failed(e, svc));
                }
            }
        }
    }

    async fn execute(&mut self, svc: &Service, stmt: &Statement) -> ApiResult<Executed> {
        let done = match query(stmt).execute(&mut **self.conn).await {
            Ok(done) => done,
            Err(e) => return Err(self.failed(e, svc)),
        };
        Ok(Executed {
            affected: done.rows_affected(),
            last_insert_id: None,
        })
    }

    async fn count(&mut self, svc: &Service, stmt: &Statement) -> ApiResult<u64> {
        let n: i64 = match query(stmt)
            .fetch_one(&mut **self.conn)
            .await
            .and_then(|row| row.try_get(0))
        {
            Ok(n) => n,
            Err(e) => return Err(self.failed(e, svc)),
        };
        Ok(n.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_positions() {
        assert_eq!(parse_lsn("0/3000148"), Some(0x0300_0148));
        assert_eq!(parse_lsn("1/0"), Some(1 << 32));
        assert_eq!(parse_lsn("FFFFFFFF/FFFFFFFF"), Some(u64::MAX));
        assert!(parse_lsn("16/B374D848") > parse_lsn("16/B374D847"));
        for bad in [
            "",
            "0",
            "0/",
            "/0",
            "0/123456789",
            "g/1",
            "1/2/3",
            " 0/1",
            "-1/0",
        ] {
            assert_eq!(parse_lsn(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn key_columns_from_details() {
        assert_eq!(key_columns("Key (name)=(AC/DC) already exists."), ["name"]);
        assert_eq!(
            key_columns("Key (a, b)=(1, 2) is not present in table \"t\"."),
            ["a", "b"]
        );
        assert!(key_columns("something else").is_empty());
        assert_eq!(
            quoted_table(
                "Key (id)=(1) is still referenced from table \"albums\".",
                "is still referenced from table "
            )
            .as_deref(),
            Some("albums")
        );
    }
}
