//! The write flow shared by every backend: preconditions (If-Match), max-affected, upsert
//! bookkeeping, PUT's insert-or-replace, RETURNING (or re-reading rows where a dialect has
//! no RETURNING), and encoding the written rows. A backend supplies a `WriteTx`: a
//! transaction that can run a statement and hand rows over as cells.

use std::future::Future;
use std::sync::Arc;

use super::{WriteOp, WriteOutput, WriteRequest};
use crate::error::{ApiError, ApiResult};
use crate::plan::write::{Assign, InsertBatch, InsertPlan, OnConflict};
use crate::plan::{Condition, ReadPlan, Selected, SqlValue};
use crate::request::ast::CmpOp;
use crate::request::prefer::Resolution;
use crate::request::Format;
use crate::response::{etag, Cell, RowEncoder};
use crate::schema::Service;
use crate::sql::{self, Dialect, Statement, WriteKind};

/// One result row, as cells in statement column order.
pub trait RowCells {
    fn cell(&self, i: usize) -> Cell<'_>;
}

/// URL text of a key cell (for `Location`).
pub fn key_text(c: Cell<'_>) -> String {
    match c {
        Cell::Null => String::new(),
        Cell::Int(i) => i.to_string(),
        Cell::Float(f) => f.to_string(),
        Cell::Text(t) => t.to_string(),
        Cell::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Cell::Bool(b) => b.to_string(),
        t @ (Cell::Date(_) | Cell::Timestamp(..)) => {
            let mut out = Vec::new();
            crate::response::time_text(&mut out, &t);
            String::from_utf8_lossy(&out).into_owned()
        }
    }
}

/// Collects written rows: the first `visible` columns are encoded for the body, the
/// primary-key columns after them give each row's key.
pub struct Returning {
    enc: RowEncoder,
    visible: usize,
    key_at: Vec<usize>,
    body: Vec<u8>,
    pub rows: u64,
    keys: Vec<Vec<String>>,
}

impl Returning {
    /// The collector, and the columns a statement must return to feed it.
    pub fn new(svc: &Service, format: Format, selected: &[Selected]) -> (Self, Vec<Selected>) {
        Self::with_keys(svc, format, selected, true)
    }

    /// As `new`; without `keys` the rows' keys are not collected, so a write that wants
    /// neither rows nor keys returns no columns at all (and only counts its rows).
    fn with_keys(
        svc: &Service,
        format: Format,
        selected: &[Selected],
        keys: bool,
    ) -> (Self, Vec<Selected>) {
        let enc = RowEncoder::for_selected(svc, format, selected);
        let mut cols = selected.to_vec();
        let mut key_at = Vec::new();
        let key_names: &[String] = if keys { &svc.primary_key } else { &[] };
        for k in key_names {
            if let Some(i) = svc.column_index(k) {
                key_at.push(cols.len());
                cols.push(Selected::plain(i, k.clone()));
            }
        }
        let mut body = Vec::new();
        enc.start(&mut body);
        (
            Returning {
                enc,
                visible: selected.len(),
                key_at,
                body,
                rows: 0,
                keys: Vec::new(),
            },
            cols,
        )
    }

    pub fn push(&mut self, row: &dyn RowCells) {
        self.enc.separator(&mut self.body, self.rows);
        let visible = self.visible;
        self.enc.row(&mut self.body, |i| {
            if i < visible {
                row.cell(i)
            } else {
                Cell::Null
            }
        });
        self.keys
            .push(self.key_at.iter().map(|&i| key_text(row.cell(i))).collect());
        self.rows += 1;
    }

    /// The collector of a read's rows (its columns and embeds), without keys.
    fn for_plan(plan: &ReadPlan, format: Format) -> Self {
        let enc = RowEncoder::for_read(plan, format);
        let mut body = Vec::new();
        enc.start(&mut body);
        Returning {
            enc,
            visible: plan.output_len(),
            key_at: Vec::new(),
            body,
            rows: 0,
            keys: Vec::new(),
        }
    }

    /// Key values of the rows seen so far (in key-column order).
    pub fn keys(&self) -> &[Vec<String>] {
        &self.keys
    }

    pub fn finish(mut self) -> (Vec<u8>, u64, Vec<Vec<String>>) {
        self.enc.end(&mut self.body);
        (self.body, self.rows, self.keys)
    }
}

/// What running a statement without rows reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct Executed {
    pub affected: u64,
    /// The first id an auto-increment insert generated (MySQL/MariaDB).
    pub last_insert_id: Option<i64>,
}

/// A transaction the write flow runs in.
pub trait WriteTx {
    fn dialect(&self) -> &'static dyn Dialect;
    /// Run `stmt` and push every row it returns into `out`.
    fn query(
        &mut self,
        svc: &Service,
        stmt: &Statement,
        out: &mut Returning,
    ) -> impl Future<Output = ApiResult<()>>;
    /// Run `stmt`, which returns no rows.
    fn execute(
        &mut self,
        svc: &Service,
        stmt: &Statement,
    ) -> impl Future<Output = ApiResult<Executed>>;
    /// Run a `SELECT count(*)`.
    fn count(&mut self, svc: &Service, stmt: &Statement) -> impl Future<Output = ApiResult<u64>>;
}

fn all_columns(svc: &Service) -> Vec<Selected> {
    svc.columns
        .iter()
        .enumerate()
        .map(|(i, c)| Selected::plain(i, c.name.clone()))
        .collect()
}

fn read_plan(svc: &Arc<Service>, select: Vec<Selected>, filter: Option<Condition>) -> ReadPlan {
    ReadPlan::simple(svc, select, filter)
}

async fn count_where<T: WriteTx>(
    tx: &mut T,
    svc: &Service,
    filter: Option<&Condition>,
) -> ApiResult<u64> {
    let stmt = sql::count_where(tx.dialect(), svc, filter);
    tx.count(svc, &stmt).await
}

/// The ETag of the row `key` selects, as `GET /{service}/{key}` shows it.
async fn row_etag<T: WriteTx>(
    tx: &mut T,
    svc: &Arc<Service>,
    key: &Condition,
) -> ApiResult<Option<String>> {
    let (mut one, cols) = Returning::new(svc, Format::Object, &all_columns(svc));
    let d = tx.dialect();
    // The row stays locked until the write that follows: two writers holding the same
    // ETag cannot both pass the check.
    let stmt = sql::select_locked(d, &read_plan(svc, cols, Some(key.clone())));
    tx.query(svc, &stmt, &mut one).await?;
    if one.rows == 0 {
        return Ok(None);
    }
    let (body, _, _) = one.finish();
    Ok(Some(etag(&body)))
}

/// The condition selecting rows by key values (each row's values in key order).
fn keys_condition(svc: &Service, keys: &[Vec<SqlValue>]) -> ApiResult<Condition> {
    let cols: Vec<usize> = svc
        .primary_key
        .iter()
        .map(|k| crate::plan::column_index(svc, k))
        .collect::<ApiResult<_>>()?;
    if keys.is_empty() {
        return Ok(Condition::Const(false));
    }
    if cols.len() == 1 {
        return Ok(Condition::In {
            column: cols[0],
            values: keys.iter().map(|k| k[0].clone()).collect(),
        });
    }
    Ok(Condition::Or(
        keys.iter()
            .map(|k| {
                Condition::And(
                    cols.iter()
                        .zip(k)
                        .map(|(&column, v)| Condition::Compare {
                            column,
                            op: CmpOp::Eq,
                            value: v.clone(),
                        })
                        .collect(),
                )
            })
            .collect(),
    ))
}

/// Key values of each row of `batch` when every key column is in it.
fn batch_keys(svc: &Service, batch: &InsertBatch) -> Option<Vec<Vec<SqlValue>>> {
    let at: Vec<usize> = svc
        .primary_key
        .iter()
        .map(|k| {
            svc.column_index(k)
                .and_then(|i| batch.columns.iter().position(|c| *c == i))
        })
        .collect::<Option<_>>()?;
    Some(
        batch
            .rows
            .iter()
            .map(|r| at.iter().map(|&p| r[p].clone()).collect())
            .collect(),
    )
}

/// How many rows of an upsert already exist (they will be updated, not inserted): one
/// count per chunk of rows, not one per row.
async fn existing_conflicts<T: WriteTx>(
    tx: &mut T,
    plan: &InsertPlan,
    c: &OnConflict,
    also: Option<&Condition>,
) -> ApiResult<u64> {
    const ROWS_PER_QUERY: usize = 500;
    let svc = &plan.service;
    let mut existing = 0;
    for batch in &plan.batches {
        let positions: Option<Vec<usize>> = c
            .columns
            .iter()
            .map(|col| batch.columns.iter().position(|b| b == col))
            .collect();
        let Some(positions) = positions else {
            continue;
        };
        for rows in batch.rows.chunks(ROWS_PER_QUERY) {
            let cond = if c.columns.len() == 1 {
                Condition::In {
                    column: c.columns[0],
                    values: rows.iter().map(|r| r[positions[0]].clone()).collect(),
                }
            } else {
                Condition::Or(
                    rows.iter()
                        .map(|row| {
                            Condition::And(
                                c.columns
                                    .iter()
                                    .zip(&positions)
                                    .map(|(&column, &p)| Condition::Compare {
                                        column,
                                        op: CmpOp::Eq,
                                        value: row[p].clone(),
                                    })
                                    .collect(),
                            )
                        })
                        .collect(),
                )
            };
            let cond = match also {
                Some(a) => Condition::And(vec![cond, a.clone()]),
                None => cond,
            };
            existing += count_where(tx, svc, Some(&cond)).await?;
        }
    }
    Ok(existing)
}

/// Insert one batch, collecting the written rows into `ret`.
async fn insert_batch<T: WriteTx>(
    tx: &mut T,
    svc: &Arc<Service>,
    batch: &InsertBatch,
    on_conflict: Option<&OnConflict>,
    ret: &mut Returning,
    ret_cols: &[Selected],
) -> ApiResult<()> {
    let d = tx.dialect();
    if ret_cols.is_empty() {
        // Neither rows nor keys wanted: the statements only count.
        for stmt in sql::insert(d, svc, batch, on_conflict, &[]) {
            ret.rows += tx.execute(svc, &stmt).await?.affected;
        }
        return Ok(());
    }
    if d.returning(WriteKind::Insert) {
        for stmt in sql::insert(d, svc, batch, on_conflict, ret_cols) {
            tx.query(svc, &stmt, ret).await?;
        }
        return Ok(());
    }
    // No RETURNING: insert, then read the rows back by key in the same transaction.
    let given = batch_keys(svc, batch);
    let mut generated: Vec<Vec<SqlValue>> = Vec::new();
    for stmt in sql::insert(d, svc, batch, on_conflict, &[]) {
        let rows_in_stmt = if batch.columns.is_empty() {
            1
        } else {
            stmt.params.len() / batch.columns.len()
        };
        let done = tx.execute(svc, &stmt).await?;
        if given.is_none() {
            // A single auto-increment key: one multi-row INSERT takes consecutive ids.
            let first = done.last_insert_id.ok_or_else(|| {
                ApiError::internal("no generated key to read the inserted rows back")
            })?;
            generated.extend((0..rows_in_stmt as i64).map(|n| vec![SqlValue::Int(first + n)]));
        }
    }
    let keys = given.unwrap_or(generated);
    let read = read_plan(svc, ret_cols.to_vec(), Some(keys_condition(svc, &keys)?));
    tx.query(svc, &sql::select(d, &read), ret).await
}

/// Whether `write` runs exactly one statement for `w`, whose outcome is the answer: such
/// a write needs no transaction around it, as one statement is atomic by itself (a
/// round trip each for BEGIN and COMMIT saved). Anything that checks, counts or reads
/// besides the statement, or that may have to undo it afterwards (a dry run, a singular
/// `Accept`), needs the transaction.
pub fn single_statement(d: &dyn Dialect, w: &WriteRequest) -> bool {
    if w.if_match.is_some()
        || w.rollback
        || w.max_affected.is_some()
        || w.format == Format::Object
        || embedding(w)
    {
        return false;
    }
    match &w.op {
        WriteOp::Insert(p) => {
            let merge = p
                .on_conflict
                .as_ref()
                .is_some_and(|c| c.resolution == Resolution::MergeDuplicates);
            let one_statement = match p.batches.as_slice() {
                [b] if b.columns.is_empty() => b.rows.len() == 1,
                [b] => b.rows.len() <= sql::rows_per_insert(d, b.columns.len()),
                _ => false,
            };
            !merge && one_statement && d.returning(WriteKind::Insert)
        }
        WriteOp::Update(p) => d.returning(WriteKind::Update) || p.set.is_empty(),
        WriteOp::Delete(_) => d.returning(WriteKind::Delete),
        WriteOp::Put(_) => false,
    }
}

/// Run a write inside `tx` (the caller commits or rolls back).
pub async fn write<T: WriteTx>(tx: &mut T, w: &WriteRequest) -> ApiResult<WriteOutput> {
    let d = tx.dialect();
    let (svc, selected) = match &w.op {
        WriteOp::Insert(p) => (Arc::clone(&p.service), p.returning.clone()),
        WriteOp::Update(p) => (Arc::clone(&p.service), p.returning.clone()),
        WriteOp::Delete(p) => (Arc::clone(&p.service), p.returning.clone()),
        WriteOp::Put(p) => (Arc::clone(&p.service), p.returning.clone()),
    };
    // With embeds the written rows are read again, by key, with their related rows.
    if embedding(w) && svc.primary_key.is_empty() {
        return Err(ApiError::bad_request(
            "bad_filter",
            format!(
                "'{}' has no primary key: the rows a write changed cannot be read again with related rows",
                svc.name
            ),
        ));
    }
    let mut embedded = embedding(w).then(|| {
        let mut plan = read_plan(&svc, selected.clone(), None);
        plan.embeds = w.embeds.clone();
        plan.order = key_order(&svc);
        plan
    });
    let selected = if w.want_rows && embedded.is_none() {
        selected
    } else {
        Vec::new()
    };
    // Keys serve a one-row insert's `Location` and count an upsert's updated rows; a
    // bulk insert without them returns nothing but its row count.
    let keys = match &w.op {
        WriteOp::Insert(p) => {
            embedded.is_some()
                || p.row_count == 1
                || p.on_conflict
                    .as_ref()
                    .is_some_and(|c| c.resolution == Resolution::MergeDuplicates)
        }
        _ => true,
    };
    let (mut ret, ret_cols) = Returning::with_keys(&svc, w.format, &selected, keys);
    ret.enc.strip_nulls = w.strip_nulls;
    ret.enc.zone = w.zone.clone();
    let mut inserted = 0u64;
    let mut embedded_rows: Option<Returning> = None;

    if let Some(expected) = &w.if_match {
        let key = match &w.op {
            WriteOp::Update(p) => p.filter.as_ref(),
            WriteOp::Delete(p) => p.filter.as_ref(),
            WriteOp::Put(p) => Some(&p.key),
            WriteOp::Insert(_) => None,
        };
        if let Some(key) = key {
            let current = row_etag(tx, &svc, key).await?;
            let matches = match &current {
                Some(tag) => expected.trim() == "*" || expected.split(',').any(|t| t.trim() == tag),
                None => false,
            };
            if !matches {
                return Err(ApiError::PreconditionFailed);
            }
        }
    }

    match &w.op {
        WriteOp::Insert(plan) => {
            let existing = match &plan.on_conflict {
                Some(c) if c.resolution == Resolution::MergeDuplicates => {
                    if let Some((column, v)) = &plan.owner {
                        // A merge must not update another owner's row: such a row is
                        // in the way as if the insert had met it.
                        let theirs = Condition::IsDistinct {
                            column: *column,
                            value: v.clone(),
                        };
                        if existing_conflicts(tx, plan, c, Some(&theirs)).await? > 0 {
                            return Err(ApiError::Constraint {
                                code: "unique_violation",
                                message: format!(
                                    "duplicate key value violates a unique constraint of \"{}\"",
                                    svc.table.bare_name
                                ),
                                details: "A row with the same key already exists. (SQLSTATE 23505)"
                                    .into(),
                            });
                        }
                    }
                    existing_conflicts(tx, plan, c, None).await?
                }
                _ => 0,
            };
            for batch in &plan.batches {
                insert_batch(
                    tx,
                    &svc,
                    batch,
                    plan.on_conflict.as_ref(),
                    &mut ret,
                    &ret_cols,
                )
                .await?;
            }
            inserted = ret.rows.saturating_sub(existing);
        }
        WriteOp::Update(plan) => {
            update(
                tx,
                &svc,
                &plan.set,
                plan.filter.as_ref(),
                &mut ret,
                &ret_cols,
            )
            .await?;
        }
        WriteOp::Delete(plan) => {
            if let Some(read) = &mut embedded {
                // Read before they are gone.
                read.filter = plan.filter.clone();
                let mut rows = Returning::for_plan(read, w.format);
                rows.enc.strip_nulls = w.strip_nulls;
                rows.enc.zone = w.zone.clone();
                tx.query(&svc, &sql::select(d, read), &mut rows).await?;
                embedded_rows = Some(rows);
            }
            if d.returning(WriteKind::Delete) {
                let stmt = sql::delete(d, &svc, plan.filter.as_ref(), &ret_cols);
                tx.query(&svc, &stmt, &mut ret).await?;
            } else {
                let read = read_plan(&svc, ret_cols.clone(), plan.filter.clone());
                tx.query(&svc, &sql::select(d, &read), &mut ret).await?;
                let stmt = sql::delete(d, &svc, plan.filter.as_ref(), &[]);
                tx.execute(&svc, &stmt).await?;
            }
        }
        WriteOp::Put(plan) => {
            if count_where(tx, &svc, Some(&plan.key)).await? > 0 {
                update(tx, &svc, &plan.update, Some(&plan.key), &mut ret, &ret_cols).await?;
            } else {
                insert_batch(tx, &svc, &plan.insert, None, &mut ret, &ret_cols).await?;
                inserted = 1;
            }
        }
    }

    if let (Some(max), WriteOp::Update(_) | WriteOp::Delete(_)) = (w.max_affected, &w.op) {
        // Counted from the rows the write itself touched, so no row can start or stop
        // matching between a count and the write; the caller rolls the write back.
        if ret.rows > max {
            return Err(ApiError::MaxAffected {
                affected: ret.rows,
                max,
            });
        }
    }
    if let (Some(read), None) = (&mut embedded, &embedded_rows) {
        let keys = key_values(&svc, ret.keys())?;
        read.filter = Some(keys_condition(&svc, &keys)?);
        let mut rows = Returning::for_plan(read, w.format);
        rows.enc.strip_nulls = w.strip_nulls;
        rows.enc.zone = w.zone.clone();
        tx.query(&svc, &sql::select(d, read), &mut rows).await?;
        embedded_rows = Some(rows);
    }
    let (mut body, rows, keys) = ret.finish();
    if let Some(embedded) = embedded_rows {
        body = embedded.finish().0;
    }
    if w.format == Format::Object && rows != 1 && w.want_rows {
        return Err(ApiError::NotAcceptable {
            message: "Cannot coerce the result to a single JSON object".into(),
            details: Some(format!("The result contains {rows} rows")),
        });
    }
    Ok(WriteOutput {
        rows,
        inserted,
        body: bytes::Bytes::from(body),
        keys,
        position: None,
    })
}

/// A write whose answer shows related rows.
fn embedding(w: &WriteRequest) -> bool {
    w.want_rows && !w.embeds.is_empty()
}

/// The primary key, ascending (the order written rows are read again in).
fn key_order(svc: &Service) -> Vec<crate::plan::OrderBy> {
    svc.primary_key
        .iter()
        .filter_map(|k| svc.column_index(k))
        .map(|column| crate::plan::OrderBy {
            column,
            descending: false,
            nulls_first: false,
            related: None,
            aggregate: None,
            path: None,
        })
        .collect()
}

/// Key values from their URL text (as `Returning` collects them).
fn key_values(svc: &Service, keys: &[Vec<String>]) -> ApiResult<Vec<Vec<SqlValue>>> {
    let cols: Vec<usize> = svc
        .primary_key
        .iter()
        .map(|k| crate::plan::column_index(svc, k))
        .collect::<ApiResult<_>>()?;
    keys.iter()
        .map(|k| {
            cols.iter()
                .zip(k)
                .map(|(&i, text)| {
                    crate::plan::value::from_text(&svc.columns[i], text).map_err(ApiError::internal)
                })
                .collect()
        })
        .collect()
}

/// UPDATE (or, with nothing to set, a read of the same rows) into `ret`.
async fn update<T: WriteTx>(
    tx: &mut T,
    svc: &Arc<Service>,
    set: &[(usize, Assign)],
    filter: Option<&Condition>,
    ret: &mut Returning,
    ret_cols: &[Selected],
) -> ApiResult<()> {
    let d = tx.dialect();
    if set.is_empty() {
        let read = read_plan(svc, ret_cols.to_vec(), filter.cloned());
        return tx.query(svc, &sql::select(d, &read), ret).await;
    }
    if d.returning(WriteKind::Update) {
        let stmt = sql::update(d, svc, set, filter, ret_cols);
        return tx.query(svc, &stmt, ret).await;
    }
    if svc.primary_key.is_empty() {
        // No key to find the rows again by: update, then read what the filter matches now.
        tx.execute(svc, &sql::update(d, svc, set, filter, &[]))
            .await?;
        let read = read_plan(svc, ret_cols.to_vec(), filter.cloned());
        return tx.query(svc, &sql::select(d, &read), ret).await;
    }
    // No RETURNING: find the keys first, update, then read the rows by their new keys.
    let key_cols: Vec<Selected> = svc
        .primary_key
        .iter()
        .map(|k| crate::plan::column_index(svc, k).map(|column| Selected::plain(column, k.clone())))
        .collect::<ApiResult<_>>()?;
    let (mut probe, probe_cols) = Returning::new(svc, Format::Json, &key_cols);
    let read = read_plan(svc, probe_cols, filter.cloned());
    tx.query(svc, &sql::select(d, &read), &mut probe).await?;
    let stmt = sql::update(d, svc, set, filter, &[]);
    tx.execute(svc, &stmt).await?;
    let mut keys: Vec<Vec<SqlValue>> = Vec::new();
    for k in probe.keys() {
        let mut row = Vec::with_capacity(k.len());
        for (n, text) in k.iter().enumerate() {
            let i = key_cols[n].column;
            // A PATCH that sets a key column moves the row to the new key.
            let v = match set.iter().find(|(c, _)| *c == i) {
                Some((_, Assign::Value(v))) => v.clone(),
                _ => crate::plan::value::from_text(&svc.columns[i], text)
                    .map_err(ApiError::internal)?,
            };
            row.push(v);
        }
        keys.push(row);
    }
    let read = read_plan(svc, ret_cols.to_vec(), Some(keys_condition(svc, &keys)?));
    tx.query(svc, &sql::select(d, &read), ret).await
}
