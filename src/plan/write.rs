//! Write plans: a JSON body checked against a service (JSON Schema through the
//! `jsonschema` crate for types, lengths and enums; the schema cache for unknown,
//! read-only and missing columns; typed conversion for formats) and turned into typed
//! rows. Every problem in a body is reported at once, each with its JSON pointer, up to
//! [`MAX_PROBLEMS`]; the rest are only counted, so that an error body stays small.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{column_index, Condition, Selected, SqlValue};
use crate::error::{ApiError, ApiResult, Problem};
use crate::request::prefer::{Missing, Resolution};
use crate::schema::Service;

/// Rows that insert the same columns, in body order.
#[derive(Debug, Clone, PartialEq)]
pub struct InsertBatch {
    pub columns: Vec<usize>,
    pub rows: Vec<Vec<SqlValue>>,
}

#[derive(Debug, Clone)]
pub struct OnConflict {
    pub columns: Vec<usize>,
    pub resolution: Resolution,
}

#[derive(Debug, Clone)]
pub struct InsertPlan {
    pub service: Arc<Service>,
    pub batches: Vec<InsertBatch>,
    /// The body was one object (answer with one object), not an array.
    pub single: bool,
    pub row_count: usize,
    pub returning: Vec<Selected>,
    pub on_conflict: Option<OnConflict>,
    /// Row ownership: the owner column and the caller's value (`owner::own_insert`).
    pub owner: Option<(usize, SqlValue)>,
}

/// One assignment of an UPDATE: a value, or the column's default (PUT of a partial row).
#[derive(Debug, Clone, PartialEq)]
pub enum Assign {
    Value(SqlValue),
    Default,
}

#[derive(Debug, Clone)]
pub struct UpdatePlan {
    pub service: Arc<Service>,
    pub set: Vec<(usize, Assign)>,
    pub filter: Option<Condition>,
    pub returning: Vec<Selected>,
}

#[derive(Debug, Clone)]
pub struct DeletePlan {
    pub service: Arc<Service>,
    pub filter: Option<Condition>,
    pub returning: Vec<Selected>,
}

/// PUT: replace the row with this key, or insert it.
#[derive(Debug, Clone)]
pub struct PutPlan {
    pub service: Arc<Service>,
    pub key: Condition,
    /// The row as given (key columns included).
    pub insert: InsertBatch,
    /// For the replace branch: every writable non-key column, given or defaulted.
    pub update: Vec<(usize, Assign)>,
    pub returning: Vec<Selected>,
}

/// Parse a request body as JSON; a syntax error names the line and column.
pub fn parse_json(body: &[u8]) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::InvalidJson {
            message: "the request body is empty; send a JSON object".into(),
        });
    }
    serde_json::from_slice(body).map_err(|e| ApiError::InvalidJson {
        message: format!("invalid JSON in the request body: {e}"),
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Insert,
    Patch,
}

/// Most problems listed in one `validation_failed` error. The rest are counted (without
/// building their messages) and said in one last entry.
pub const MAX_PROBLEMS: usize = 100;

/// The problems of one body: the first [`MAX_PROBLEMS`] in full, the others counted.
#[derive(Default)]
struct Problems {
    list: Vec<Problem>,
    more: usize,
}

impl Problems {
    /// Record a problem; `make` runs only while there is room to list it.
    fn add(&mut self, make: impl FnOnce() -> Problem) {
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(make());
        } else {
            self.more += 1;
        }
    }

    fn count(&self) -> usize {
        self.list.len() + self.more
    }

    fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// `Err(validation_failed)` when there is any problem.
    fn into_result(self) -> ApiResult<()> {
        if self.is_empty() {
            return Ok(());
        }
        let mut problems = self.list;
        if self.more > 0 {
            let more = self.more;
            let noun = if more == 1 { "problem" } else { "problems" };
            problems.push(Problem::new(
                "",
                format!("... and {more} more {noun} not listed (the first {MAX_PROBLEMS} are)"),
            ));
        }
        Err(ApiError::Validation { problems })
    }
}

/// A key as a message quotes it: at most 64 characters (the `path` has it in full), so a
/// body of long unknown keys does not get an error twice its size.
fn shorten(key: &str) -> std::borrow::Cow<'_, str> {
    match key.char_indices().nth(64) {
        Some((at, _)) => format!("{}...", &key[..at]).into(),
        None => key.into(),
    }
}

fn pointer(prefix: &str, key: &str) -> String {
    let escaped = key.replace('~', "~0").replace('/', "~1");
    format!("{prefix}/{escaped}")
}

/// Check one object and convert its values. `only` restricts the keys used (`columns=`).
fn check_object(
    svc: &Service,
    instance: &Value,
    obj: &Map<String, Value>,
    prefix: &str,
    mode: Mode,
    only: Option<&[usize]>,
    problems: &mut Problems,
) -> Vec<(usize, SqlValue)> {
    let before = problems.count();
    let mut out = Vec::with_capacity(obj.len());
    let mut schema_failed: Vec<String> = Vec::new();
    // Most bodies are valid: the boolean check is much cheaper than collecting errors.
    let errors = if svc.validator.is_valid(instance) {
        Vec::new()
    } else {
        svc.validator.iter_errors(instance).collect::<Vec<_>>()
    };
    for err in errors {
        let path = err.instance_path().as_str().to_string();
        let key = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("")
            .replace("~1", "/")
            .replace("~0", "~");
        if let Some(allowed) = only {
            match svc.column_index(&key) {
                Some(i) if allowed.contains(&i) => {}
                _ => continue,
            }
        }
        schema_failed.push(key);
        problems.add(|| Problem::new(format!("{prefix}{path}"), err.to_string()));
    }
    for (key, v) in obj {
        let Some(i) = svc.column_index(key) else {
            if only.is_none() {
                problems.add(|| {
                    Problem::new(
                        pointer(prefix, key),
                        format!("'{}' is not a column of '{}'", shorten(key), svc.name),
                    )
                });
            }
            continue;
        };
        if let Some(allowed) = only {
            if !allowed.contains(&i) {
                continue;
            }
        }
        let col = &svc.columns[i];
        if col.read_only {
            problems
                .add(|| Problem::new(pointer(prefix, key), format!("column '{key}' is read-only")));
            continue;
        }
        if schema_failed.iter().any(|k| k == key) {
            continue;
        }
        match super::value::from_json(col, v) {
            Ok(value) => out.push((i, value)),
            Err(message) => problems.add(|| Problem::new(pointer(prefix, key), message)),
        }
    }
    if mode == Mode::Insert {
        for (i, col) in svc.columns.iter().enumerate() {
            let required = !col.nullable && !col.has_default && !col.generated && !col.read_only;
            if !required {
                continue;
            }
            let given = match only {
                // With `columns=`, a listed key missing from the object becomes NULL.
                Some(allowed) => allowed.contains(&i) && obj.contains_key(&col.name),
                None => obj.contains_key(&col.name),
            };
            if !given {
                problems.add(|| {
                    Problem::new(
                        pointer(prefix, &col.name),
                        format!("required column '{}' is missing", col.name),
                    )
                });
            }
        }
    }
    if problems.count() > before {
        out.clear();
    }
    out
}

/// `?columns=a,b`: resolved, and none of them read-only.
fn resolve_columns(svc: &Service, names: Option<&[String]>) -> ApiResult<Option<Vec<usize>>> {
    let Some(names) = names else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let i = column_index(svc, n)?;
        if svc.columns[i].read_only {
            return Err(ApiError::Validation {
                problems: vec![Problem::new(
                    format!("/{n}"),
                    format!("column '{n}' is read-only"),
                )],
            });
        }
        if !out.contains(&i) {
            out.push(i);
        }
    }
    Ok(Some(out))
}

fn as_object<'a>(
    v: &'a Value,
    path: &str,
    problems: &mut Problems,
) -> Option<&'a Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m),
        _ => {
            problems.add(|| Problem::new(path, "expected a JSON object"));
            None
        }
    }
}

pub struct InsertOptions<'a> {
    pub columns: Option<&'a [String]>,
    pub missing: Option<Missing>,
    pub on_conflict: Option<&'a [String]>,
    pub resolution: Option<Resolution>,
}

/// The rows of an insert body (one object or an array of objects), checked, as batches
/// of consecutive rows with the same columns; and whether the body was one object. All
/// problems at once, or none.
pub(crate) fn insert_rows(
    svc: &Service,
    body: &Value,
    only: Option<&[usize]>,
    default_missing: bool,
) -> ApiResult<(Vec<InsertBatch>, bool)> {
    let (objects, single): (Vec<&Value>, bool) = match body {
        Value::Array(items) => (items.iter().collect(), false),
        Value::Object(_) => (vec![body], true),
        _ => {
            return Err(ApiError::Validation {
                problems: vec![Problem::new(
                    "",
                    "expected a JSON object or an array of objects",
                )],
            })
        }
    };
    let mut problems = Problems::default();
    let mut batches: Vec<InsertBatch> = Vec::new();
    for (n, v) in objects.iter().enumerate() {
        let prefix = if single {
            String::new()
        } else {
            format!("/{n}")
        };
        let Some(obj) = as_object(v, &prefix, &mut problems) else {
            continue;
        };
        let values = check_object(svc, v, obj, &prefix, Mode::Insert, only, &mut problems);
        if !problems.is_empty() {
            continue;
        }
        add_row(&mut batches, values, only, default_missing);
    }
    problems.into_result()?;
    Ok((batches, single))
}

/// Add one checked object's values as a row: listed columns it lacks are NULL (unless
/// `Prefer: missing=default`), and a row joins the last batch when it has its columns.
pub(crate) fn add_row(
    batches: &mut Vec<InsertBatch>,
    mut values: Vec<(usize, SqlValue)>,
    only: Option<&[usize]>,
    default_missing: bool,
) {
    if let (Some(listed), false) = (only, default_missing) {
        for &i in listed {
            if !values.iter().any(|(c, _)| *c == i) {
                values.push((i, SqlValue::Null));
            }
        }
    }
    values.sort_by_key(|(c, _)| *c);
    let columns: Vec<usize> = values.iter().map(|(c, _)| *c).collect();
    let row: Vec<SqlValue> = values.into_iter().map(|(_, v)| v).collect();
    match batches.last_mut() {
        Some(b) if b.columns == columns => b.rows.push(row),
        _ => batches.push(InsertBatch {
            columns,
            rows: vec![row],
        }),
    }
}

/// POST /{service}: the plan of inserting `body`, one object or an array of objects.
pub fn insert_plan(
    svc: &Arc<Service>,
    body: &[u8],
    opts: &InsertOptions<'_>,
    returning: Vec<Selected>,
) -> ApiResult<InsertPlan> {
    let only = match resolve_columns(svc, opts.columns) {
        Ok(only) => only,
        Err(e) => {
            // Invalid JSON is reported before a bad `columns=`.
            parse_json(body)?;
            return Err(e);
        }
    };
    let default_missing = opts.missing == Some(Missing::Default);
    // Most bodies are valid: parsed straight into rows. Anything else (invalid JSON, an
    // invalid value, an unusual shape) goes the general way, which reports every problem.
    let fast = super::body::insert_rows(svc, body, only.as_deref(), default_missing);
    let (batches, single) = match fast {
        Some(rows) => rows,
        None => insert_rows(svc, &parse_json(body)?, only.as_deref(), default_missing)?,
    };
    let on_conflict = match opts.resolution {
        None => None,
        Some(resolution) => {
            let columns = match opts.on_conflict {
                Some(names) => names
                    .iter()
                    .map(|n| column_index(svc, n))
                    .collect::<ApiResult<Vec<_>>>()?,
                None => svc
                    .primary_key
                    .iter()
                    .map(|n| column_index(svc, n))
                    .collect::<ApiResult<Vec<_>>>()?,
            };
            if columns.is_empty() {
                None
            } else {
                check_conflict_target(svc, &columns)?;
                Some(OnConflict {
                    columns,
                    resolution,
                })
            }
        }
    };
    Ok(InsertPlan {
        service: Arc::clone(svc),
        row_count: batches.iter().map(|b| b.rows.len()).sum(),
        batches,
        single,
        returning,
        on_conflict,
        owner: None,
    })
}

/// `on_conflict` must name the primary key or a unique constraint, in any order.
fn check_conflict_target(svc: &Service, columns: &[usize]) -> ApiResult<()> {
    let mut names: Vec<&str> = columns
        .iter()
        .map(|&i| svc.columns[i].name.as_str())
        .collect();
    names.sort_unstable();
    let matches = |set: &[String]| {
        let mut s: Vec<&str> = set.iter().map(String::as_str).collect();
        s.sort_unstable();
        s == names
    };
    if matches(&svc.primary_key) || svc.table.unique.iter().any(|u| matches(u)) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "bad_on_conflict",
            format!(
                "on_conflict=({}) is neither the primary key nor a unique constraint of '{}'",
                names.join(","),
                svc.name
            ),
        ))
    }
}

/// The object of a PATCH/PUT body (an array is refused: one object updates one shape).
fn single_object(body: &Value) -> ApiResult<&Map<String, Value>> {
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::Validation {
            problems: vec![Problem::new("", "expected a JSON object")],
        }),
    }
}

/// PATCH: the columns to set from a partial object (an array is refused: restable does
/// not take PostgREST's "first element only"). With `?columns=`, only the listed keys are
/// read (others are ignored, a listed name that is not a column is a 400) and a listed key
/// the object lacks is set to NULL, or to its default with `Prefer: missing=default`.
pub fn patch_assignments(
    svc: &Service,
    body: &Value,
    columns: Option<&[String]>,
    missing: Option<Missing>,
) -> ApiResult<Vec<(usize, Assign)>> {
    let only = resolve_columns(svc, columns)?;
    let obj = single_object(body)?;
    let mut problems = Problems::default();
    let values = check_object(
        svc,
        body,
        obj,
        "",
        Mode::Patch,
        only.as_deref(),
        &mut problems,
    );
    problems.into_result()?;
    let mut out: Vec<(usize, Assign)> = values
        .into_iter()
        .map(|(c, v)| (c, Assign::Value(v)))
        .collect();
    for &i in only.as_deref().unwrap_or(&[]) {
        if !out.iter().any(|(c, _)| *c == i) {
            out.push((
                i,
                if missing == Some(Missing::Default) {
                    Assign::Default
                } else {
                    Assign::Value(SqlValue::Null)
                },
            ));
        }
    }
    Ok(out)
}

/// A PUT body: one object, or (as PostgREST accepts) an array holding one object.
pub fn put_body(body: &Value) -> &Value {
    match body {
        Value::Array(items) if items.len() == 1 => &items[0],
        other => other,
    }
}

/// PUT /{service}/{key}: the full row; the key in the body (if any) must equal the URL's.
pub fn put_plan(
    svc: &Arc<Service>,
    key: &[String],
    body: &Value,
    returning: Vec<Selected>,
) -> ApiResult<PutPlan> {
    let key_cond = super::key_condition(svc, key)?;
    let obj = single_object(body)?;
    let mut problems = Problems::default();
    let mut values = check_object(svc, body, obj, "", Mode::Patch, None, &mut problems);
    // The key comes from the URL; the body may repeat it but not contradict it.
    let mut key_values = Vec::new();
    for (name, text) in svc.primary_key.iter().zip(key) {
        let i = column_index(svc, name)?;
        let url_value = super::value::from_text(&svc.columns[i], text).map_err(|reason| {
            ApiError::InvalidValue {
                message: format!("invalid key for '{}': column '{name}'", svc.name),
                details: reason,
            }
        })?;
        if let Some((_, body_value)) = values.iter().find(|(c, _)| *c == i) {
            if *body_value != url_value {
                return Err(ApiError::KeyMismatch {
                    message: format!(
                        "the body's '{name}' does not match the key in the URL ({text})"
                    ),
                });
            }
        }
        key_values.push((i, url_value));
    }
    // Key columns are set from the URL even when read-only (they identify the row).
    values.retain(|(c, _)| !key_values.iter().any(|(k, _)| k == c));
    for (i, col) in svc.columns.iter().enumerate() {
        let required = !col.nullable && !col.has_default && !col.generated && !col.read_only;
        let is_key = key_values.iter().any(|(k, _)| *k == i);
        if required && !is_key && !values.iter().any(|(c, _)| *c == i) {
            problems.add(|| {
                Problem::new(
                    pointer("", &col.name),
                    format!("required column '{}' is missing", col.name),
                )
            });
        }
    }
    problems.into_result()?;
    let mut update: Vec<(usize, Assign)> = Vec::new();
    for (i, col) in svc.columns.iter().enumerate() {
        if col.read_only || col.generated || key_values.iter().any(|(k, _)| *k == i) {
            continue;
        }
        match values.iter().find(|(c, _)| *c == i) {
            Some((_, v)) => update.push((i, Assign::Value(v.clone()))),
            None => update.push((i, Assign::Default)),
        }
    }
    let mut all = key_values;
    all.extend(values);
    all.sort_by_key(|(c, _)| *c);
    Ok(PutPlan {
        service: Arc::clone(svc),
        key: key_cond,
        insert: InsertBatch {
            columns: all.iter().map(|(c, _)| *c).collect(),
            rows: vec![all.into_iter().map(|(_, v)| v).collect()],
        },
        update,
        returning,
    })
}
