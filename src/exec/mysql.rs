//! MySQL/MariaDB execution with sqlx connections: a pool (`pool.rs`) whose sessions are
//! set up alike (UTC, strict SQL mode, a statement timeout), reads streamed from the
//! cursor through a bounded channel, writes through the shared write flow in one
//! transaction, and server errors mapped by their MySQL error number. The dialect (RETURNING or not) is chosen once, from
//! the server's version, at connect time.
//!
//! The URL is sqlx's: `mysql://user:password@host:3306/database` (`mariadb://` too), with
//! TLS set by query parameters: `ssl-mode=disabled|preferred|required|verify_ca|
//! verify_identity` (default `preferred`), `ssl-ca=/path/ca.pem`, and for client
//! certificates `ssl-cert=/path/cert.pem&ssl-key=/path/key.pem`. TLS is rustls.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt;
use sqlx::mysql::{
    MySql, MySqlArguments, MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlRow,
};
use sqlx::query::Query;
use sqlx::{
    AssertSqlSafe, Column as _, ConnectOptions as _, Connection as _, Executor as _, Row as _,
    TypeInfo as _,
};
use tokio::sync::{mpsc, oneshot};

use super::fault::{Fault, FkSide};
use super::flow::{self, key_text, Executed, Returning, RowCells, WriteTx};
use super::pool::{Conn, Conns};
use super::{
    Executor, Head, ReadOutput, ReadRequest, WriteOp, WriteOutput, WriteRequest, CHANNEL_DEPTH,
    CHUNK, FIRST_PART,
};
use crate::config::{redact_url, DatabaseConfig};
use crate::error::{ApiError, ApiResult};
use crate::plan::SqlValue;
use crate::request::Format;
use crate::response::{Cell, RowEncoder};
use crate::schema::mysql::UniqueKey;
use crate::schema::{Service, Table, ValueKind};
use crate::sql::mysql::{
    MySql as MySqlDialect, MARIADB, MYSQL, READ_DUPLICATE_KEYS, RESET_DUPLICATE_FLAG,
    RESET_DUPLICATE_KEYS,
};
use crate::sql::{self, Dialect, Statement, StatementKind};

/// After an abandoned first attempt at a read, unread rows up to this many are drained
/// from the connection; more, and the connection is dropped instead.
const DRAIN_ROWS: u64 = 10_000;
/// A write that loses a deadlock is run again this many times in all.
const WRITE_ATTEMPTS: u32 = 3;

/// Strict: a value that does not fit is an error, never silently changed.
const SQL_MODE: &str = "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,\
                        ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,PIPES_AS_CONCAT";

/// Unique indexes of each introspected table, by `schema.table`.
type KeyMap = Arc<RwLock<HashMap<String, Vec<UniqueKey>>>>;

/// What every database task needs.
#[derive(Clone)]
struct Ctx {
    pool: Conns<MySqlConnection>,
    /// How many pooled connections found closed by the server a request skips before it
    /// gives up: after a database restart every idle connection is such a one.
    stale_retries: usize,
    dialect: &'static MySqlDialect,
    keys: KeyMap,
    timeout_ms: u64,
}

pub struct MySqlBackend {
    ctx: Ctx,
    request_timeout: Duration,
    acquire_timeout: Duration,
}

impl Ctx {
    /// A pooled connection inside `BEGIN` (`serializable`: at that isolation level),
    /// skipping connections the server has closed.
    async fn begun(&self, serializable: bool) -> Result<Conn<MySqlConnection>, sqlx::Error> {
        if !serializable {
            return self.pool.acquire_running("BEGIN", is_stale).await;
        }
        let mut conn = self
            .pool
            .acquire_running("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", is_stale)
            .await?;
        sqlx::raw_sql("BEGIN").execute(&mut *conn).await?;
        Ok(conn)
    }

    /// A connection that has just answered `SELECT 1`, skipping those the server closed.
    async fn live_conn(&self) -> Result<Conn<MySqlConnection>, sqlx::Error> {
        self.pool.acquire_running("SELECT 1", is_stale).await
    }
}

/// A connection the server has closed (a restart, `KILL`, `wait_timeout`): the session
/// is gone, so nothing of the statement happened.
fn is_stale(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        // Connection killed (MariaDB 1927), shut down (1053), idle too long (MySQL 4031).
        sqlx::Error::Database(_) => {
            mysql_error(e).is_some_and(|d| matches!(d.number(), 1927 | 1053 | 4031))
        }
        _ => false,
    }
}

fn table_key(t: &Table) -> String {
    format!("{}.{}", t.schema.as_deref().unwrap_or(""), t.bare_name)
}

/// `mariadb://` is sqlx's `mysql://`.
fn sqlx_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("mariadb") => format!("mysql://{rest}"),
        _ => url.to_string(),
    }
}

/// `(is MariaDB, major, minor)` of a `VERSION()` string such as `10.11.6-MariaDB-0+deb12u1`.
fn parse_version(v: &str) -> (bool, u32, u32) {
    let mariadb = v.to_ascii_lowercase().contains("mariadb");
    // Some MariaDB builds report `5.5.5-10.11.6-MariaDB`.
    let v = v.strip_prefix("5.5.5-").unwrap_or(v);
    let mut nums = v
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>().unwrap_or(0));
    (mariadb, nums.next().unwrap_or(0), nums.next().unwrap_or(0))
}

impl MySqlBackend {
    fn timeout_error(&self) -> ApiError {
        ApiError::Timeout {
            ms: self.ctx.timeout_ms,
        }
    }

    async fn acquire_for_setup(&self) -> Result<Conn<MySqlConnection>, String> {
        self.ctx
            .live_conn()
            .await
            .map_err(|e| format!("cannot reach the database: {}", connect_text(&e)))
    }

    async fn write_retrying(&self, w: &WriteRequest) -> ApiResult<WriteOutput> {
        // Read-then-write requests (If-Match, max-affected, PUT's existence check) run
        // SERIALIZABLE, so their reads lock what they saw until the write is done.
        let serializable =
            w.if_match.is_some() || w.max_affected.is_some() || matches!(w.op, WriteOp::Put(_));
        let mut attempt = 1;
        loop {
            match self.write_once(w, serializable).await {
                Err((_, true)) if attempt < WRITE_ATTEMPTS => attempt += 1,
                Err((e, _)) => return Err(e),
                Ok(out) => return Ok(out),
            }
        }
    }

    /// One attempt; an error says whether the transaction lost a deadlock.
    async fn write_once(
        &self,
        w: &WriteRequest,
        serializable: bool,
    ) -> Result<WriteOutput, (ApiError, bool)> {
        let svc = w.op.service();
        let ctx = &self.ctx;
        let fail = |e: sqlx::Error| {
            let deadlock = is_deadlock(&e);
            (map_err(&e, &svc, ctx), deadlock)
        };
        let mut conn = ctx.begun(serializable).await.map_err(fail)?;
        let mut wt = MySqlTx {
            conn: &mut conn,
            ctx,
            deadlock: false,
            skip_keys: Vec::new(),
        };
        let out = flow::write(&mut wt, w).await;
        let deadlock = wt.deadlock;
        let ended = conn.end(out.is_ok() && !w.rollback).await;
        match out {
            Ok(out) => {
                ended.map_err(fail)?;
                Ok(out)
            }
            Err(e) => Err((e, deadlock)),
        }
    }
}

impl Executor for MySqlBackend {
    async fn open(cfg: &DatabaseConfig, request_timeout: Duration) -> Result<Self, String> {
        let shown = redact_url(&cfg.url);
        let opts: MySqlConnectOptions = sqlx_url(&cfg.url).parse().map_err(|e: sqlx::Error| {
            format!("invalid database URL '{shown}': {}", config_text(&e))
        })?;
        // Long streaming reads are normal here: no "slow statement" warnings (requests are
        // logged by the HTTP layer). Statements stay visible at debug level
        // (`RESTABLE_LOG=sqlx::query=debug`), as on PostgreSQL.
        let opts = opts.log_slow_statements(log::LevelFilter::Off, Duration::MAX);
        let acquire_timeout = Duration::from_millis(cfg.acquire_timeout_ms.max(1));
        let connect_wait = acquire_timeout.max(Duration::from_secs(5));

        // One connection first, to learn which server this is.
        let version = tokio::time::timeout(connect_wait, async {
            let mut c = MySqlConnection::connect_with(&opts).await?;
            let row = sqlx::query("SELECT VERSION()").fetch_one(&mut c).await?;
            let v = row
                .try_get_unchecked::<Option<String>, _>(0)
                .ok()
                .flatten()
                .unwrap_or_default();
            let _ = c.close().await;
            Ok::<_, sqlx::Error>(v)
        })
        .await
        .map_err(|_| format!("cannot connect to '{shown}': timed out"))?
        .map_err(|e| format!("cannot connect to '{shown}': {}", connect_text(&e)))?;
        let (mariadb, major, minor) = parse_version(&version);
        let dialect: &'static MySqlDialect = if mariadb && (major, minor) >= (10, 5) {
            &MARIADB
        } else {
            &MYSQL
        };

        // group_concat_max_len bounds JSON_ARRAYAGG too: embedded arrays (SPEC 4.6) would
        // be cut at its default of 1 MiB.
        let mut session = format!(
            "SET SESSION sql_mode = '{SQL_MODE}', time_zone = '+00:00', group_concat_max_len = 4294967295"
        );
        let ms = request_timeout.as_millis();
        if ms > 0 {
            if mariadb {
                // Seconds, fractions allowed.
                session.push_str(&format!(
                    ", max_statement_time = {}.{:03}",
                    ms / 1000,
                    ms % 1000
                ));
            } else {
                // MySQL's limit applies to SELECTs only; the tokio timeout covers the rest.
                session.push_str(&format!(", max_execution_time = {ms}"));
            }
        }
        let pool = Conns::<MySqlConnection>::new(opts, session, cfg.pool_size, acquire_timeout);
        // One connection now, so that a session setting the server refuses stops start-up;
        // it stays in the pool.
        let mut first = pool
            .acquire()
            .await
            .map_err(|e| format!("cannot connect to '{shown}': {}", connect_text(&e)))?;
        first.reuse();
        drop(first);
        tracing::info!(server = %version, returning = dialect.returning(sql::WriteKind::Insert), "connected to MySQL/MariaDB");
        Ok(MySqlBackend {
            ctx: Ctx {
                pool,
                stale_retries: cfg.pool_size.max(1) as usize,
                dialect,
                keys: Arc::new(RwLock::new(HashMap::new())),
                timeout_ms: u64::try_from(ms).unwrap_or(u64::MAX),
            },
            request_timeout,
            acquire_timeout,
        })
    }

    fn dialect(&self) -> &'static dyn Dialect {
        self.ctx.dialect
    }

    /// Connections open in the pool, and how many of them are idle.
    fn pool_stats(&self) -> (u64, u64) {
        self.ctx.pool.stats()
    }

    async fn ping(&self) -> bool {
        let wait = self.acquire_timeout + self.request_timeout;
        match tokio::time::timeout(wait, self.ctx.live_conn()).await {
            Ok(Ok(mut conn)) => {
                conn.reuse();
                true
            }
            _ => false,
        }
    }

    async fn introspect(&self, names: Vec<String>) -> Result<Vec<Option<Table>>, String> {
        let mut conn = self.acquire_for_setup().await?;
        let mut out = Vec::with_capacity(names.len());
        let mut found: Vec<(String, Vec<UniqueKey>)> = Vec::new();
        for name in &names {
            match crate::schema::mysql::introspect_table_keys(&mut conn, name).await {
                Ok(Some((table, keys))) => {
                    found.push((table_key(&table), keys));
                    out.push(Some(table));
                }
                Ok(None) => out.push(None),
                Err(e) => {
                    return Err(format!(
                        "cannot introspect table '{name}': {}",
                        connect_text(&e)
                    ))
                }
            }
        }
        if let Ok(mut map) = self.ctx.keys.write() {
            map.extend(found);
        }
        conn.reuse();
        Ok(out)
    }

    /// One query over information_schema: a checksum of the named tables' columns and
    /// key columns (names, positions, types, nullability, defaults, constraints).
    async fn schema_version(&self, names: Vec<String>) -> Result<String, String> {
        if names.is_empty() {
            return Ok(String::new());
        }
        let marks = vec!["?"; names.len()].join(",");
        let sql = format!(
            "SELECT CAST(CONCAT(\
               (SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CRC32(CONCAT_WS('|', TABLE_NAME, \
                  COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, \
                  COALESCE(COLUMN_DEFAULT, '~'), EXTRA, COLUMN_KEY, \
                  COALESCE(GENERATION_EXPRESSION, '')))), 0)) \
                FROM information_schema.COLUMNS \
                WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({marks})), '/', \
               (SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CRC32(CONCAT_WS('|', TABLE_NAME, \
                  CONSTRAINT_NAME, COLUMN_NAME, ORDINAL_POSITION, \
                  COALESCE(REFERENCED_TABLE_NAME, '~'), COALESCE(REFERENCED_COLUMN_NAME, '~')))), 0)) \
                FROM information_schema.KEY_COLUMN_USAGE \
                WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({marks}))) AS CHAR)"
        );
        let mut conn = self.acquire_for_setup().await?;
        let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for _ in 0..2 {
            for n in &names {
                q = q.bind(n.as_str());
            }
        }
        let version = q
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| format!("checking the schema version: {}", connect_text(&e)))?;
        conn.reuse();
        Ok(version)
    }

    async fn list_tables(&self) -> Result<Vec<String>, String> {
        let mut conn = self.acquire_for_setup().await?;
        let tables = crate::schema::mysql::list_tables(&mut conn)
            .await
            .map_err(|e| format!("cannot list tables: {}", connect_text(&e)))?;
        conn.reuse();
        Ok(tables)
    }

    /// Runs the statements of `sql` (each ending with `;` at the end of a line) in order.
    /// MySQL commits DDL as it goes: a failure leaves the statements before it applied.
    async fn run_script(&self, sql: String) -> Result<(), String> {
        let mut conn = self.acquire_for_setup().await?;
        for (n, st) in script_statements(&sql).into_iter().enumerate() {
            sqlx::raw_sql(AssertSqlSafe(st))
                .execute(&mut *conn)
                .await
                .map_err(|e| format!("statement {} failed: {}", n + 1, connect_text(&e)))?;
        }
        conn.reuse();
        Ok(())
    }

    async fn read(&self, r: ReadRequest) -> ApiResult<ReadOutput> {
        let (head_tx, head_rx) = oneshot::channel();
        let (chunk_tx, chunk_rx) = mpsc::channel(CHANNEL_DEPTH);
        let ctx = self.ctx.clone();
        let task = tokio::spawn(read_task(ctx, r, head_tx, chunk_tx));
        super::read_output(head_rx, chunk_rx, self.request_timeout, || {
            task.abort();
            self.timeout_error()
        })
        .await
    }

    async fn write(&self, w: WriteRequest) -> ApiResult<WriteOutput> {
        match tokio::time::timeout(self.request_timeout, self.write_retrying(&w)).await {
            Ok(out) => out,
            Err(_) => Err(self.timeout_error()),
        }
    }
}

/// Statements of a script: split on `;` at line ends, comment-only lines dropped.
fn script_statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in script.lines() {
        let t = line.trim();
        if cur.is_empty() && (t.is_empty() || t.starts_with("--")) {
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
        if t.ends_with(';') {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// A setup error's text for the operator (never the URL: sqlx keeps it out of these).
fn connect_text(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => d.message().to_string(),
        sqlx::Error::Configuration(_) => config_text(e),
        other => other.to_string(),
    }
}

fn config_text(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Configuration(inner) => inner.to_string(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// Binding and decoding

fn bind_all<'q>(
    mut q: Query<'q, MySql, MySqlArguments>,
    params: &[SqlValue],
) -> Query<'q, MySql, MySqlArguments> {
    for p in params {
        q = match p {
            SqlValue::Null => q.bind(None::<String>),
            SqlValue::Int(i) => q.bind(*i),
            SqlValue::Float(f) => q.bind(*f),
            SqlValue::Bool(b) => q.bind(*b),
            SqlValue::Decimal(s) | SqlValue::Text(s) | SqlValue::Json(s) => q.bind(s.clone()),
            SqlValue::Date(d) => q.bind(d.format("%Y-%m-%d").to_string()),
            SqlValue::Time(t) => q.bind(t.format("%H:%M:%S%.f").to_string()),
            SqlValue::Timestamp(t) => q.bind(t.format("%Y-%m-%d %H:%M:%S%.f").to_string()),
            // The session time zone is UTC.
            SqlValue::TimestampTz(t) => q.bind(t.format("%Y-%m-%d %H:%M:%S%.f").to_string()),
            SqlValue::Uuid(u) => q.bind(u.hyphenated().to_string()),
            SqlValue::Bytes(b) => q.bind(b.clone()),
            // Only the PostgreSQL dialect binds arrays; never made for MySQL.
            SqlValue::Array(_) => q.bind(None::<String>),
        };
    }
    q
}

fn query_of<'q>(stmt: &Statement) -> Query<'q, MySql, MySqlArguments> {
    bind_all(sqlx::query(AssertSqlSafe(stmt.sql.clone())), &stmt.params)
}

/// How a result column is decoded, from its type on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dec {
    Null,
    Int,
    UInt,
    F32,
    F64,
    Text,
    Bytes,
    Date,
    Time,
    DateTime,
}

fn dec_of(type_name: &str) -> Dec {
    match type_name {
        "NULL" => Dec::Null,
        "BOOLEAN" | "TINYINT" | "SMALLINT" | "INT" | "MEDIUMINT" | "BIGINT" | "YEAR" => Dec::Int,
        n if n.ends_with(" UNSIGNED") => Dec::UInt,
        "FLOAT" => Dec::F32,
        "DOUBLE" => Dec::F64,
        "DATE" => Dec::Date,
        "TIME" => Dec::Time,
        "DATETIME" | "TIMESTAMP" => Dec::DateTime,
        "GEOMETRY" | "BIT" => Dec::Bytes,
        // DECIMAL (text on the wire), CHAR, VARCHAR, TEXT, ENUM, SET, JSON, and the
        // BINARY/BLOB family: the wire's BINARY flag also marks text in a `_bin` collation,
        // so text and bytes are told apart by UTF-8 validity (the encoder base64s a BLOB
        // column's value either way).
        _ => Dec::Text,
    }
}

fn decoders(row: &MySqlRow) -> Vec<Dec> {
    row.columns()
        .iter()
        .map(|c| dec_of(c.type_info().name()))
        .collect()
}

/// ISO text of a binary-protocol DATE/DATETIME/TIME (length byte first). Only reached
/// for a temporal column the dialect did not turn into text.
fn temporal_text(dec: Dec, b: &[u8]) -> Option<String> {
    let (&len, rest) = b.split_first()?;
    if usize::from(len) != rest.len() {
        // Text protocol: already text.
        return std::str::from_utf8(b).ok().map(str::to_string);
    }
    let frac = |micros: u32| {
        if micros == 0 {
            String::new()
        } else {
            let s = format!(".{micros:06}");
            s.trim_end_matches('0').to_string()
        }
    };
    let u32_at = |at: usize| -> u32 {
        rest.get(at..at + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
            .unwrap_or(0)
    };
    match dec {
        Dec::Time => {
            if rest.is_empty() {
                return Some("00:00:00".into());
            }
            let neg = rest.first().copied().unwrap_or(0) == 1;
            let days = u32_at(1);
            let h = u32::from(rest.get(5).copied().unwrap_or(0)) + days * 24;
            let m = rest.get(6).copied().unwrap_or(0);
            let s = rest.get(7).copied().unwrap_or(0);
            let micros = if rest.len() >= 12 { u32_at(8) } else { 0 };
            Some(format!(
                "{}{h:02}:{m:02}:{s:02}{}",
                if neg { "-" } else { "" },
                frac(micros)
            ))
        }
        _ => {
            let y = rest
                .get(0..2)
                .map(|s| u16::from_le_bytes([s[0], s[1]]))
                .unwrap_or(0);
            let mo = rest.get(2).copied().unwrap_or(0);
            let d = rest.get(3).copied().unwrap_or(0);
            let date = format!("{y:04}-{mo:02}-{d:02}");
            if dec == Dec::Date {
                return Some(date);
            }
            let h = rest.get(4).copied().unwrap_or(0);
            let mi = rest.get(5).copied().unwrap_or(0);
            let s = rest.get(6).copied().unwrap_or(0);
            let micros = if rest.len() >= 11 { u32_at(7) } else { 0 };
            Some(format!("{date} {h:02}:{mi:02}:{s:02}{}", frac(micros)))
        }
    }
}

/// One result row as cells. Values that need converting (packed dates, floats, unsigned
/// integers past i64) are converted once, up front.
struct Cells<'r> {
    row: &'r MySqlRow,
    decs: &'r [Dec],
    owned: Vec<Option<String>>,
}

impl<'r> Cells<'r> {
    fn new(row: &'r MySqlRow, decs: &'r [Dec]) -> Self {
        let needs = decs.iter().any(|d| {
            matches!(
                d,
                Dec::Date | Dec::Time | Dec::DateTime | Dec::UInt | Dec::F32
            )
        });
        let owned = if needs {
            decs.iter()
                .enumerate()
                .map(|(i, d)| match d {
                    Dec::Date | Dec::Time | Dec::DateTime => row
                        .try_get_unchecked::<Option<&[u8]>, _>(i)
                        .ok()
                        .flatten()
                        .and_then(|b| temporal_text(*d, b)),
                    Dec::UInt => row
                        .try_get_unchecked::<Option<u64>, _>(i)
                        .ok()
                        .flatten()
                        .filter(|u| i64::try_from(*u).is_err())
                        .map(|u| u.to_string()),
                    // A FLOAT's shortest decimal form, not its f64 widening.
                    Dec::F32 => row
                        .try_get_unchecked::<Option<f32>, _>(i)
                        .ok()
                        .flatten()
                        .map(|f| f.to_string()),
                    _ => None,
                })
                .collect()
        } else {
            Vec::new()
        };
        Cells { row, decs, owned }
    }

    fn get(&self, i: usize) -> Cell<'_> {
        let Some(dec) = self.decs.get(i) else {
            return Cell::Null;
        };
        let row = self.row;
        match dec {
            Dec::Null => Cell::Null,
            Dec::Int => match row.try_get_unchecked::<Option<i64>, _>(i) {
                Ok(Some(v)) => Cell::Int(v),
                _ => Cell::Null,
            },
            Dec::UInt => match self.owned.get(i).and_then(Option::as_deref) {
                Some(text) => Cell::Text(text),
                None => match row.try_get_unchecked::<Option<u64>, _>(i) {
                    Ok(Some(v)) => i64::try_from(v).map_or(Cell::Null, Cell::Int),
                    _ => Cell::Null,
                },
            },
            Dec::F32 => match self.owned.get(i).and_then(Option::as_deref) {
                Some(text) => text.parse::<f64>().map_or(Cell::Null, Cell::Float),
                None => Cell::Null,
            },
            Dec::F64 => match row.try_get_unchecked::<Option<f64>, _>(i) {
                Ok(Some(v)) => Cell::Float(v),
                _ => Cell::Null,
            },
            Dec::Date | Dec::Time | Dec::DateTime => {
                match self.owned.get(i).and_then(Option::as_deref) {
                    Some(text) => Cell::Text(text),
                    None => Cell::Null,
                }
            }
            Dec::Text | Dec::Bytes => match row.try_get_unchecked::<Option<&[u8]>, _>(i) {
                Ok(Some(b)) if *dec == Dec::Text => match std::str::from_utf8(b) {
                    Ok(s) => Cell::Text(s),
                    Err(_) => Cell::Bytes(b),
                },
                Ok(Some(b)) => Cell::Bytes(b),
                _ => Cell::Null,
            },
        }
    }
}

impl RowCells for Cells<'_> {
    fn cell(&self, i: usize) -> Cell<'_> {
        self.get(i)
    }
}

// ---------------------------------------------------------------------------------------
// Errors

fn is_deadlock(e: &sqlx::Error) -> bool {
    mysql_error(e).is_some_and(|d| d.number() == 1213)
}

fn mysql_error(e: &sqlx::Error) -> Option<&MySqlDatabaseError> {
    match e {
        sqlx::Error::Database(d) => d.try_downcast_ref::<MySqlDatabaseError>(),
        _ => None,
    }
}

/// Text between the first pair of single quotes after `after` (`'name'` in
/// "Column 'name' cannot be null").
fn quoted_after(msg: &str, after: &str) -> Option<String> {
    let at = msg.find(after)? + after.len();
    let rest = &msg[at..];
    let start = rest.find('\'')? + 1;
    let end = rest[start..].find('\'')? + start;
    Some(rest[start..end].to_string())
}

/// Backtick-quoted identifiers of `s` in order (```` `` ```` is a backtick).
fn backtick_idents(s: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'`' {
            let start = i;
            let mut name = String::new();
            i += 1;
            let mut seg = i;
            loop {
                match s[i..].find('`') {
                    None => return out,
                    Some(off) => {
                        let q = i + off;
                        name.push_str(&s[seg..q]);
                        if b.get(q + 1) == Some(&b'`') {
                            name.push('`');
                            i = q + 2;
                            seg = i;
                        } else {
                            i = q + 1;
                            break;
                        }
                    }
                }
            }
            out.push((start, name));
        } else {
            i += 1;
        }
    }
    out
}

/// The column a data error names: `for column 'c'` (MySQL) or `` for column `db`.`t`.`c` ``
/// (MariaDB).
fn column_in(msg: &str) -> Option<String> {
    let at = msg.find("for column ")? + "for column ".len();
    let rest = &msg[at..];
    if rest.starts_with('\'') {
        return quoted_after(rest, "");
    }
    let idents = backtick_idents(rest);
    // The identifiers of one dotted name: stop at the first gap.
    let mut last: Option<String> = None;
    let mut expect = 0;
    for (pos, name) in idents {
        if pos != expect {
            break;
        }
        expect = pos + name.replace('`', "``").len() + 3;
        last = Some(name);
    }
    last
}

struct ForeignKeyError {
    child: String,
    constraint: String,
    columns: Vec<String>,
    parent: String,
}

/// `(`db`.`child`, CONSTRAINT `name` FOREIGN KEY (`a`) REFERENCES `parent` (`id`))`
fn foreign_key_error(msg: &str) -> Option<ForeignKeyError> {
    let c_at = msg.find("CONSTRAINT ")?;
    let idents = backtick_idents(msg);
    let before: Vec<&(usize, String)> = idents.iter().filter(|(p, _)| *p < c_at).collect();
    let child = before.last().map(|(_, n)| n.clone()).unwrap_or_default();
    let constraint = idents.iter().find(|(p, _)| *p > c_at)?.1.clone();
    let fk_at = msg.find("FOREIGN KEY (").unwrap_or(msg.len());
    let ref_at = msg.find(" REFERENCES ").unwrap_or(msg.len());
    let columns = idents
        .iter()
        .filter(|(p, _)| *p > fk_at && *p < ref_at)
        .map(|(_, n)| n.clone())
        .collect();
    let parent = idents
        .iter()
        .find(|(p, _)| *p > ref_at)
        .map(|(_, n)| n.clone())
        .unwrap_or_default();
    Some(ForeignKeyError {
        child,
        constraint,
        columns,
        parent,
    })
}

/// The constraint name and columns of a duplicate-key error's index, named the way
/// PostgreSQL names them when the index has MySQL's default name.
fn unique_constraint(
    svc: &Service,
    key: &str,
    keys: Option<&[UniqueKey]>,
) -> (String, Vec<String>) {
    let table = &svc.table.bare_name;
    // MySQL 8 says `table.key`.
    let key = key
        .strip_prefix(&format!("{table}."))
        .unwrap_or(key)
        .to_string();
    let found = keys.and_then(|ks| ks.iter().find(|k| k.name == key));
    let columns: Vec<String> = match found {
        Some(k) => k.columns.clone(),
        None if key == "PRIMARY" => svc.table.primary_key.clone(),
        None => Vec::new(),
    };
    let default_name = columns.first().is_some_and(|first| {
        key == *first
            || key
                .strip_prefix(first.as_str())
                .and_then(|r| r.strip_prefix('_'))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    });
    let name = if key == "PRIMARY" {
        format!("{table}_pkey")
    } else if default_name {
        format!("{table}_{}_key", columns.join("_"))
    } else {
        key
    };
    (name, columns)
}

fn map_err(e: &sqlx::Error, svc: &Service, ctx: &Ctx) -> ApiError {
    classify(e, svc, ctx).into_api(svc, Duration::from_millis(ctx.timeout_ms))
}

/// The fault a MySQL/MariaDB error is, by error number.
fn classify(e: &sqlx::Error, svc: &Service, ctx: &Ctx) -> Fault {
    match e {
        sqlx::Error::Database(_) => match mysql_error(e) {
            Some(d) => server_fault(d, svc, ctx),
            None => Fault::Internal {
                message: e.to_string(),
            },
        },
        sqlx::Error::PoolTimedOut => Fault::Unavailable {
            reason: "timed out waiting for a database connection".into(),
        },
        sqlx::Error::PoolClosed => Fault::Unavailable {
            reason: "the connection pool is closed".into(),
        },
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => {
            tracing::warn!(error = %e, "database connection failed");
            Fault::Unavailable {
                reason: "the database connection failed".into(),
            }
        }
        other => Fault::Internal {
            message: other.to_string(),
        },
    }
}

fn server_fault(d: &MySqlDatabaseError, svc: &Service, ctx: &Ctx) -> Fault {
    let msg = d.message();
    let number = d.number();
    let invalid = |what: &str, sqlstate: &str| {
        let column = column_in(msg);
        Fault::InvalidValue {
            message: match &column {
                Some(c) => format!("{what} for column \"{c}\""),
                None => what.to_string(),
            },
            column,
            sqlstate: sqlstate.to_string(),
        }
    };
    let unavailable = |reason: &str| Fault::Unavailable {
        reason: reason.to_string(),
    };
    match number {
        // Duplicate key.
        1062 | 1586 | 1022 => {
            let key = msg
                .rfind(" for key '")
                .map(|at| &msg[at + " for key '".len()..])
                .map(|k| k.strip_suffix('\'').unwrap_or(k))
                .unwrap_or("");
            let keys = ctx.keys.read().ok();
            let (name, columns) = unique_constraint(
                svc,
                key,
                keys.as_ref()
                    .and_then(|m| m.get(&table_key(&svc.table)))
                    .map(Vec::as_slice),
            );
            Fault::Unique {
                constraint: Some(name),
                columns,
                exclusion: false,
            }
        }
        // A child row without its parent / a parent row still referenced.
        1452 | 1451 | 1216 | 1217 => {
            let fk = foreign_key_error(msg);
            let missing = number == 1452 || number == 1216;
            match fk {
                Some(f) => Fault::ForeignKey {
                    side: if missing {
                        FkSide::Missing
                    } else {
                        FkSide::Referenced
                    },
                    constraint: Some(f.constraint),
                    // The columns MySQL names are the child's: this table's when it is
                    // the child.
                    columns: if missing { f.columns } else { Vec::new() },
                    other_table: Some(if missing { f.parent } else { f.child }),
                },
                None => Fault::ForeignKey {
                    side: FkSide::Unknown,
                    constraint: None,
                    columns: Vec::new(),
                    other_table: None,
                },
            }
        }
        // NULL into NOT NULL / no value for a NOT NULL column without a default.
        1048 | 1364 => Fault::NotNull {
            column: quoted_after(msg, ""),
        },
        // CHECK constraints: MySQL 3819 `Check constraint 'c' is violated.`, MariaDB 4025
        // ``CONSTRAINT `c` failed for `db`.`t` ``.
        3819 | 4025 => {
            let name = if number == 3819 {
                quoted_after(msg, "").unwrap_or_default()
            } else {
                backtick_idents(msg)
                    .into_iter()
                    .next()
                    .map(|(_, n)| n)
                    .unwrap_or_default()
            };
            // MariaDB's JSON columns are LONGTEXT with a json_valid() check named after
            // the column.
            if svc.column(&name).is_some_and(|c| c.kind == ValueKind::Json) {
                return Fault::InvalidValue {
                    message: format!("invalid JSON for column \"{name}\""),
                    column: Some(name),
                    sqlstate: "22032".into(),
                };
            }
            Fault::Check {
                constraint: Some(name).filter(|n| !n.is_empty()),
            }
        }
        1264 | 1690 => invalid("value out of range", "22003"),
        1406 => invalid("value too long", "22001"),
        1265 | 1366 | 1292 | 1367 | 1411 | 3140 | 1918 => invalid("invalid value", "22P02"),
        // Regular expression errors: MariaDB 1139, MySQL 3685-3699.
        1139 | 3685..=3699 => Fault::BadRegex {
            message: msg.to_string(),
        },
        // Statement timeouts (MariaDB, MySQL), interrupted queries, lock waits.
        1969 | 3024 | 1317 | 1205 => Fault::Timeout,
        1213 => unavailable("the transaction lost a deadlock; try again"),
        1040 | 1203 | 1226 | 1461 | 1053 | 1927 => {
            unavailable("the database cannot take more work right now")
        }
        // A view the server cannot insert into or update.
        1471 | 1288 | 1395 | 1393 => Fault::NotWritable {
            reason: "it is a view the database cannot update".into(),
        },
        1153 | 1301 => Fault::TooLarge {
            sqlstate: "54000".into(),
        },
        _ => Fault::Internal {
            message: format!("MySQL error {number}: {msg}"),
        },
    }
}

// ---------------------------------------------------------------------------------------
// Reads

type HeadTx = oneshot::Sender<ApiResult<Head>>;
type ChunkTx = mpsc::Sender<Result<Bytes, std::io::Error>>;

/// How far one attempt at streaming a read got.
enum Streamed {
    Done,
    /// The client went away; the connection still has unread rows.
    Abandoned,
    /// The first part filled up before the number of rows was known (nothing was sent).
    Overflow {
        read: u64,
    },
}

async fn read_task(ctx: Ctx, r: ReadRequest, head_tx: HeadTx, chunk_tx: ChunkTx) {
    let mut head_tx = Some(head_tx);
    if let Err(e) = read_rows(&ctx, &r, &mut head_tx, &chunk_tx).await {
        match head_tx.take() {
            Some(tx) => {
                let _ = tx.send(Err(e));
            }
            None => {
                tracing::warn!(error = %e, "read failed while streaming");
                let _ = chunk_tx
                    .send(Err(std::io::Error::other(e.to_string())))
                    .await;
            }
        }
    }
}

async fn count(
    conn: &mut MySqlConnection,
    ctx: &Ctx,
    svc: &Service,
    stmt: &Statement,
) -> ApiResult<u64> {
    let row = query_of(stmt)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| map_err(&e, svc, ctx))?;
    let n = row.try_get_unchecked::<i64, _>(0).unwrap_or(0);
    Ok(n.max(0) as u64)
}

/// Rows in this response, given the total matching the filters.
fn rows_of_total(r: &ReadRequest, total: u64) -> u64 {
    let avail = total.saturating_sub(r.plan.offset);
    r.page_limit().map_or(avail, |l| l.min(avail))
}

async fn read_rows(
    ctx: &Ctx,
    r: &ReadRequest,
    head_tx: &mut Option<HeadTx>,
    chunk_tx: &ChunkTx,
) -> ApiResult<()> {
    let svc = &r.plan.service;
    let mut retries = 0;
    loop {
        let conn = ctx
            .pool
            .acquire()
            .await
            .map_err(|e| map_err(&e, svc, ctx))?;
        match read_on(ctx, conn, r, head_tx, chunk_tx).await {
            // A pooled connection the server closed (a restart, `KILL`, a timeout):
            // nothing was sent yet, so read again on another one.
            Err(ApiError::DbUnavailable { .. })
                if head_tx.is_some() && retries < ctx.stale_retries =>
            {
                retries += 1;
            }
            other => return other,
        }
    }
}

/// Whether a connection is ready for the next statement after a read failed with `e`
/// (the server refused the statement), rather than broken or cut off.
fn ready_after(e: &ApiError) -> bool {
    !matches!(
        e,
        ApiError::DbUnavailable { .. } | ApiError::Timeout { .. } | ApiError::Internal { .. }
    )
}

async fn read_on(
    ctx: &Ctx,
    mut conn: Conn<MySqlConnection>,
    r: &ReadRequest,
    head_tx: &mut Option<HeadTx>,
    chunk_tx: &ChunkTx,
) -> ApiResult<()> {
    let svc = &r.plan.service;
    if r.count {
        return snapshot_read(ctx, conn, r, true, head_tx, chunk_tx).await;
    }
    // Most reads fit in the first part: one statement, no transaction, no count.
    match stream(ctx, &mut conn, r, None, head_tx, chunk_tx).await {
        Ok(Streamed::Done) => {
            // Rows the read did not need (a lookahead row) are skipped by sqlx before the
            // connection's next statement.
            conn.reuse();
            Ok(())
        }
        // The client went away mid-result: the connection is closed, not reused.
        Ok(Streamed::Abandoned) => Ok(()),
        Ok(Streamed::Overflow { read }) => {
            // Content-Range needs the number of rows before the first byte: count, then
            // read again, both in one snapshot.
            let few_left = r
                .plan
                .limit
                .is_some_and(|l| l.saturating_sub(read) <= DRAIN_ROWS);
            let conn = if few_left {
                conn
            } else {
                // Do not drain a huge result: close this connection, take another.
                drop(conn);
                ctx.pool
                    .acquire()
                    .await
                    .map_err(|e| map_err(&e, svc, ctx))?
            };
            snapshot_read(ctx, conn, r, false, head_tx, chunk_tx).await
        }
        Err(e) => {
            if ready_after(&e) {
                conn.reuse();
            }
            Err(e)
        }
    }
}

/// Count, then stream the rows, in one consistent snapshot.
async fn snapshot_read(
    ctx: &Ctx,
    mut conn: Conn<MySqlConnection>,
    r: &ReadRequest,
    report_total: bool,
    head_tx: &mut Option<HeadTx>,
    chunk_tx: &ChunkTx,
) -> ApiResult<()> {
    let svc = &r.plan.service;
    let finished = {
        let mut tx = conn
            .begin_with("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            .await
            .map_err(|e| map_err(&e, svc, ctx))?;
        let total = count(&mut tx, ctx, svc, &sql::count(ctx.dialect, &r.plan)).await?;
        let known = Some((total, report_total));
        match stream(ctx, &mut tx, r, known, head_tx, chunk_tx).await? {
            Streamed::Done => tx.commit().await.is_ok(),
            Streamed::Abandoned | Streamed::Overflow { .. } => false,
        }
    };
    if finished {
        conn.reuse();
    }
    Ok(())
}

/// Stream the rows of the read into the head and chunk channels. `known` is the total
/// matching the filters (and whether to report it), when counted.
async fn stream(
    ctx: &Ctx,
    conn: &mut MySqlConnection,
    r: &ReadRequest,
    known: Option<(u64, bool)>,
    head_tx: &mut Option<HeadTx>,
    chunk_tx: &ChunkTx,
) -> ApiResult<Streamed> {
    let svc = &r.plan.service;
    let stmt = sql::select(ctx.dialect, &r.plan);
    let mut enc = RowEncoder::for_read(&r.plan, r.format);
    enc.strip_nulls = r.strip_nulls;
    enc.zone = r.zone.clone();
    let reported = known.and_then(|(t, report)| report.then_some(t));
    let ncols = enc.columns.len();
    let mut rows = query_of(&stmt).fetch(&mut *conn);
    let mut buf = Vec::with_capacity(8 * 1024);
    enc.start(&mut buf);
    let mut n: u64 = 0;
    let mut decs: Vec<Dec> = Vec::new();
    // With lookahead the plan asks for one row more than the page, to learn if more exist.
    let page = r.page_limit();
    let mut more = false;
    while let Some(row) = rows.try_next().await.map_err(|e| map_err(&e, svc, ctx))? {
        if r.lookahead && page == Some(n) {
            more = true;
            break;
        }
        if r.format == Format::Object && n >= 1 {
            // A second row: the singular answer is impossible; count for the message.
            n += 1;
            while rows
                .try_next()
                .await
                .map_err(|e| map_err(&e, svc, ctx))?
                .is_some()
            {
                n += 1;
            }
            break;
        }
        if n == 0 {
            decs = decoders(&row);
        }
        enc.separator(&mut buf, n);
        let cells = Cells::new(&row, &decs);
        enc.row(
            &mut buf,
            |i| if i < ncols { cells.get(i) } else { Cell::Null },
        );
        n += 1;
        let limit = if head_tx.is_some() { FIRST_PART } else { CHUNK };
        if buf.len() < limit {
            continue;
        }
        match head_tx.take() {
            Some(tx) => {
                let Some((total, _)) = known else {
                    *head_tx = Some(tx);
                    return Ok(Streamed::Overflow { read: n });
                };
                let first = Bytes::from(std::mem::replace(
                    &mut buf,
                    Vec::with_capacity(CHUNK + 4096),
                ));
                let rows = rows_of_total(r, total);
                let head = Head {
                    first,
                    rows,
                    total: reported,
                    more: total.saturating_sub(r.plan.offset) > rows,
                    done: false,
                };
                if tx.send(Ok(head)).is_err() {
                    return Ok(Streamed::Abandoned);
                }
            }
            None => {
                let part = Bytes::from(std::mem::replace(
                    &mut buf,
                    Vec::with_capacity(CHUNK + 4096),
                ));
                if chunk_tx.send(Ok(part)).await.is_err() {
                    return Ok(Streamed::Abandoned);
                }
            }
        }
    }
    drop(rows);
    if r.format == Format::Object && n != 1 && head_tx.is_some() {
        return Err(ApiError::NotAcceptable {
            message: "Cannot coerce the result to a single JSON object".into(),
            details: Some(format!("The result contains {n} rows")),
        });
    }
    enc.end(&mut buf);
    match head_tx.take() {
        Some(tx) => {
            let _ = tx.send(Ok(Head {
                first: Bytes::from(buf),
                rows: n,
                total: reported,
                more,
                done: true,
            }));
        }
        None => {
            if chunk_tx.send(Ok(Bytes::from(buf))).await.is_err() {
                return Ok(Streamed::Abandoned);
            }
        }
    }
    Ok(Streamed::Done)
}

// ---------------------------------------------------------------------------------------
// Writes

/// A write transaction, for the shared write flow.
struct MySqlTx<'a> {
    conn: &'a mut MySqlConnection,
    ctx: &'a Ctx,
    /// A statement lost a deadlock: the whole write may be tried again.
    deadlock: bool,
    /// Keys of rows an ignore-duplicates INSERT left alone, left out of the next read-back
    /// (dialects without RETURNING).
    skip_keys: Vec<Vec<String>>,
}

impl MySqlTx<'_> {
    fn fail(&mut self, e: sqlx::Error, svc: &Service) -> ApiError {
        if is_deadlock(&e) {
            self.deadlock = true;
        }
        map_err(&e, svc, self.ctx)
    }
}

impl WriteTx for MySqlTx<'_> {
    fn dialect(&self) -> &'static dyn Dialect {
        self.ctx.dialect
    }

    async fn query(
        &mut self,
        svc: &Service,
        stmt: &Statement,
        out: &mut Returning,
    ) -> ApiResult<()> {
        // An ignore-duplicates upsert with RETURNING also returns the rows it left alone:
        // each returned row carries the duplicate flag, reset for the next row, and
        // flagged rows are skipped (PostgreSQL's DO NOTHING returns inserted rows only).
        let ignoring = stmt.flags_duplicates && stmt.returns_rows;
        let q = query_of(stmt);
        let skip = if stmt.kind == StatementKind::Select {
            std::mem::take(&mut self.skip_keys)
        } else {
            Vec::new()
        };
        let key_len = svc.primary_key.len();
        let result: Result<(), sqlx::Error> = async {
            if ignoring {
                self.conn.execute(RESET_DUPLICATE_FLAG).await?;
            }
            let mut rows = q.fetch(&mut *self.conn);
            let mut decs: Vec<Dec> = Vec::new();
            while let Some(row) = rows.try_next().await? {
                if decs.is_empty() {
                    decs = decoders(&row);
                }
                if ignoring {
                    let flag = row
                        .len()
                        .checked_sub(2)
                        .and_then(|i| row.try_get_unchecked::<Option<i64>, _>(i).ok().flatten());
                    if flag == Some(1) {
                        continue;
                    }
                }
                let cells = Cells::new(&row, &decs);
                if !skip.is_empty() {
                    // The statement's last columns are the primary key (see `Returning`).
                    let n = row.len();
                    let key: Vec<String> = (n.saturating_sub(key_len)..n)
                        .map(|i| key_text(cells.get(i)))
                        .collect();
                    if skip.contains(&key) {
                        continue;
                    }
                }
                out.push(&cells);
            }
            Ok(())
        }
        .await;
        result.map_err(|e| self.fail(e, svc))
    }

    async fn execute(&mut self, svc: &Service, stmt: &Statement) -> ApiResult<Executed> {
        let q = query_of(stmt);
        let collect = stmt.collects_duplicate_keys;
        let result: Result<(Executed, Vec<Vec<String>>), sqlx::Error> = async {
            if collect {
                self.conn.execute(RESET_DUPLICATE_KEYS).await?;
            }
            let done = q.execute(&mut *self.conn).await?;
            let executed = Executed {
                affected: done.rows_affected(),
                last_insert_id: i64::try_from(done.last_insert_id())
                    .ok()
                    .filter(|id| *id > 0),
            };
            let mut dups = Vec::new();
            if collect {
                let row = sqlx::query(READ_DUPLICATE_KEYS)
                    .fetch_one(&mut *self.conn)
                    .await?;
                if let Ok(Some(list)) = row.try_get_unchecked::<Option<Vec<u8>>, _>(0) {
                    dups = String::from_utf8_lossy(&list)
                        .split('\u{1e}')
                        .map(|k| k.split('\u{1f}').map(str::to_string).collect())
                        .collect();
                }
            }
            Ok((executed, dups))
        }
        .await;
        match result {
            Ok((executed, dups)) => {
                self.skip_keys.extend(dups);
                Ok(executed)
            }
            Err(e) => Err(self.fail(e, svc)),
        }
    }

    async fn count(&mut self, svc: &Service, stmt: &Statement) -> ApiResult<u64> {
        let q = query_of(stmt);
        match q.fetch_one(&mut *self.conn).await {
            Ok(row) => Ok(row.try_get_unchecked::<i64, _>(0).unwrap_or(0).max(0) as u64),
            Err(e) => Err(self.fail(e, svc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("10.11.19-MariaDB-0+deb12u1"), (true, 10, 11));
        assert_eq!(parse_version("5.5.5-10.4.3-MariaDB"), (true, 10, 4));
        assert_eq!(parse_version("8.0.36"), (false, 8, 0));
    }

    #[test]
    fn urls() {
        assert_eq!(sqlx_url("mariadb://u@h/db"), "mysql://u@h/db");
        assert_eq!(sqlx_url("mysql://u@h/db"), "mysql://u@h/db");
    }

    #[test]
    fn error_message_parsing() {
        let msg = "Cannot add or update a child row: a foreign key constraint fails \
                   (`test`.`albums`, CONSTRAINT `albums_artist_id_fkey` FOREIGN KEY \
                   (`artist_id`) REFERENCES `artists` (`id`))";
        let fk = foreign_key_error(msg).unwrap();
        assert_eq!(fk.child, "albums");
        assert_eq!(fk.constraint, "albums_artist_id_fkey");
        assert_eq!(fk.columns, ["artist_id"]);
        assert_eq!(fk.parent, "artists");
        assert_eq!(
            quoted_after("Column 'name' cannot be null", ""),
            Some("name".into())
        );
        assert_eq!(
            column_in("Incorrect integer value: 'x' for column `db`.`t`.`c` at row 1"),
            Some("c".into())
        );
        assert_eq!(
            column_in("Out of range value for column 'price' at row 1"),
            Some("price".into())
        );
        assert_eq!(
            backtick_idents("CONSTRAINT `a``b` failed for `db`.`t`"),
            vec![(11, "a`b".to_string()), (29, "db".into()), (34, "t".into())]
        );
    }

    #[test]
    fn temporal_binary() {
        assert_eq!(
            temporal_text(Dec::Date, &[4, 0xe8, 0x07, 2, 29]),
            Some("2024-02-29".into())
        );
        assert_eq!(
            temporal_text(Dec::DateTime, &[7, 0xe8, 0x07, 1, 2, 3, 4, 5]),
            Some("2024-01-02 03:04:05".into())
        );
        assert_eq!(
            temporal_text(Dec::Time, &[8, 0, 1, 0, 0, 0, 2, 30, 0]),
            Some("26:30:00".into())
        );
        assert_eq!(temporal_text(Dec::Time, &[0]), Some("00:00:00".into()));
    }

    #[test]
    fn script_split() {
        let s = "-- c\nCREATE TABLE a (x INT);\n\nINSERT INTO a VALUES (1),\n (2);\n";
        assert_eq!(
            script_statements(s),
            vec![
                "CREATE TABLE a (x INT);\n".to_string(),
                "INSERT INTO a VALUES (1),\n (2);\n".into()
            ]
        );
    }
}
