//! Plans: a parsed request resolved against the schema cache. Every column in a plan is
//! an index into its service's columns, every value is typed and checked, so no user text
//! reaches SQL as an identifier. Plans know the schema cache, never SQL or HTTP.

mod body;
pub mod value;
pub mod write;

use std::sync::Arc;

use crate::error::{ApiError, ApiResult};
use crate::request::ast::{
    CmpOp, Direction, Filter, IsValue, LogicOp, LogicTree, Nulls, Operation, OrderTerm, Quantifier,
    QueryParams, SelectItem,
};
use crate::schema::{Service, ValueKind};
pub use value::SqlValue;

/// A column of the service (index into `Service::columns`) and the key it is output under.
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    pub column: usize,
    pub output: String,
}

/// A WHERE clause, resolved and typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    /// Always false (`in.()`), or always true (`not.in.()`, an empty `and`).
    Const(bool),
    Compare {
        column: usize,
        op: CmpOp,
        value: SqlValue,
    },
    /// `like`/`ilike`: the pattern uses `%` and `_` (the URL's `*` already turned into `%`).
    Like {
        column: usize,
        pattern: String,
        case_insensitive: bool,
    },
    /// `match`/`imatch`: a regular expression.
    Regex {
        column: usize,
        pattern: String,
        case_insensitive: bool,
    },
    In {
        column: usize,
        values: Vec<SqlValue>,
    },
    IsNull {
        column: usize,
    },
    IsBool {
        column: usize,
        value: bool,
    },
    IsDistinct {
        column: usize,
        value: SqlValue,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub column: usize,
    pub descending: bool,
    pub nulls_first: bool,
}

/// A read of one service.
#[derive(Debug, Clone)]
pub struct ReadPlan {
    pub service: Arc<Service>,
    pub select: Vec<Selected>,
    pub filter: Option<Condition>,
    pub order: Vec<OrderBy>,
    pub limit: Option<u64>,
    pub offset: u64,
}

/// The longest regular expression accepted in `match`/`imatch`.
const MAX_REGEX_LEN: usize = 1000;

fn unknown_column(svc: &Service, name: &str) -> ApiError {
    ApiError::UnknownColumn {
        service: svc.name.clone(),
        column: name.to_string(),
    }
}

pub fn column_index(svc: &Service, name: &str) -> ApiResult<usize> {
    svc.column_index(name)
        .ok_or_else(|| unknown_column(svc, name))
}

/// `select=` -> the output columns (all visible columns when absent or `*`). Each output
/// name appears once, where it first appears: `select=id,id` and `select=*,id` give one
/// `id` key (PostgREST writes the key twice, which most JSON parsers read as one anyway),
/// and `select=x:id,x:name` gives `x` from `id`.
pub fn resolve_select(svc: &Service, select: Option<&[SelectItem]>) -> ApiResult<Vec<Selected>> {
    let all = || {
        svc.columns.iter().enumerate().map(|(i, c)| Selected {
            column: i,
            output: c.name.clone(),
        })
    };
    let Some(items) = select else {
        return Ok(all().collect());
    };
    let mut out: Vec<Selected> = Vec::with_capacity(items.len());
    let mut star = false;
    for item in items {
        match item {
            // After one `*` every column's own name is taken: a second one adds nothing.
            SelectItem::Star if star => {}
            SelectItem::Star => {
                star = true;
                for s in all() {
                    if !out.iter().any(|o| o.output == s.output) {
                        out.push(s);
                    }
                }
            }
            SelectItem::Column { name, alias, cast } => {
                let column = column_index(svc, name)?;
                if let Some(cast) = cast {
                    return Err(ApiError::bad_filter(
                        format!("casts are not supported (in select: {name}::{cast})"),
                        Some("select the column without '::type'".to_string()),
                    ));
                }
                let output = alias.as_ref().unwrap_or(name);
                if !out.iter().any(|s| s.output == *output) {
                    out.push(Selected {
                        column,
                        output: output.clone(),
                    });
                }
            }
            SelectItem::Embed { relation, .. } => {
                return Err(ApiError::NoRelationship {
                    message: format!(
                        "Could not find a relationship between '{}' and '{relation}'",
                        svc.name
                    ),
                    hint: Some("embedding related rows is not available yet".into()),
                });
            }
        }
    }
    Ok(out)
}

fn require_kind(
    svc: &Service,
    column: usize,
    op: &str,
    ok: impl Fn(ValueKind) -> bool,
    needs: &str,
) -> ApiResult<()> {
    let col = &svc.columns[column];
    if ok(col.kind) {
        Ok(())
    } else {
        Err(ApiError::bad_filter(
            format!(
                "operator '{op}' needs {needs}, but column '{}' is {}",
                col.name, col.declared_type
            ),
            None,
        ))
    }
}

fn typed(svc: &Service, column: usize, text: &str) -> ApiResult<SqlValue> {
    let col = &svc.columns[column];
    value::from_text(col, text).map_err(|reason| ApiError::InvalidValue {
        message: format!("invalid value for column '{}'", col.name),
        details: reason,
    })
}

fn is_textual(k: ValueKind) -> bool {
    k == ValueKind::Text
}

/// `*` is the URL's wildcard for `%`.
fn like_pattern(raw: &str) -> String {
    raw.replace('*', "%")
}

fn check_regex(pattern: &str) -> ApiResult<()> {
    if pattern.len() > MAX_REGEX_LEN {
        return Err(ApiError::bad_filter(
            format!("regular expression longer than {MAX_REGEX_LEN} characters"),
            None,
        ));
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map(|_| ())
        .map_err(|e| {
            ApiError::bad_filter(
                "invalid regular expression".to_string(),
                Some(
                    e.to_string()
                        .lines()
                        .last()
                        .unwrap_or("")
                        .trim()
                        .to_string(),
                ),
            )
        })
}

fn single_condition(svc: &Service, column: usize, op: CmpOp, raw: &str) -> ApiResult<Condition> {
    Ok(match op {
        CmpOp::Like | CmpOp::Ilike => {
            require_kind(svc, column, op.name(), is_textual, "a text column")?;
            Condition::Like {
                column,
                pattern: like_pattern(raw),
                case_insensitive: op == CmpOp::Ilike,
            }
        }
        CmpOp::Match | CmpOp::Imatch => {
            require_kind(svc, column, op.name(), is_textual, "a text column")?;
            check_regex(raw)?;
            Condition::Regex {
                column,
                pattern: raw.to_string(),
                case_insensitive: op == CmpOp::Imatch,
            }
        }
        _ => {
            if svc.columns[column].kind == ValueKind::Json {
                return Err(ApiError::bad_filter(
                    format!(
                        "column '{}' holds JSON and can only be filtered with is.null / is.not_null",
                        svc.columns[column].name
                    ),
                    None,
                ));
            }
            Condition::Compare {
                column,
                op,
                value: typed(svc, column, raw)?,
            }
        }
    })
}

/// One filter -> a condition on `svc`.
pub fn filter_condition(svc: &Service, f: &Filter) -> ApiResult<Condition> {
    let column = column_index(svc, &f.column)?;
    let cond = match &f.operation {
        Operation::Compare { op, value } => single_condition(svc, column, *op, value)?,
        Operation::Quantified {
            op,
            quantifier,
            values,
        } => {
            if *op == CmpOp::Eq && *quantifier == Quantifier::Any {
                Condition::In {
                    column,
                    values: values
                        .iter()
                        .map(|v| typed(svc, column, v))
                        .collect::<ApiResult<_>>()?,
                }
            } else {
                let parts = values
                    .iter()
                    .map(|v| single_condition(svc, column, *op, v))
                    .collect::<ApiResult<Vec<_>>>()?;
                match quantifier {
                    // `op(any)` over an empty list matches nothing, `op(all)` everything.
                    Quantifier::Any if parts.is_empty() => Condition::Const(false),
                    Quantifier::All if parts.is_empty() => Condition::Const(true),
                    Quantifier::Any => Condition::Or(parts),
                    Quantifier::All => Condition::And(parts),
                }
            }
        }
        Operation::In(values) => {
            if values.is_empty() {
                Condition::Const(false)
            } else {
                Condition::In {
                    column,
                    values: values
                        .iter()
                        .map(|v| typed(svc, column, v))
                        .collect::<ApiResult<_>>()?,
                }
            }
        }
        Operation::Is(v) => match v {
            IsValue::Null => Condition::IsNull { column },
            IsValue::NotNull => Condition::Not(Box::new(Condition::IsNull { column })),
            IsValue::True | IsValue::False | IsValue::Unknown => {
                require_kind(
                    svc,
                    column,
                    "is.true/is.false/is.unknown",
                    |k| k == ValueKind::Boolean,
                    "a boolean column",
                )?;
                match v {
                    IsValue::True => Condition::IsBool {
                        column,
                        value: true,
                    },
                    IsValue::False => Condition::IsBool {
                        column,
                        value: false,
                    },
                    _ => Condition::IsNull { column },
                }
            }
        },
        Operation::IsDistinct(v) => Condition::IsDistinct {
            column,
            value: typed(svc, column, v)?,
        },
    };
    Ok(if f.negated {
        Condition::Not(Box::new(cond))
    } else {
        cond
    })
}

fn tree_condition(svc: &Service, tree: &LogicTree) -> ApiResult<Condition> {
    match tree {
        LogicTree::Filter(f) => filter_condition(svc, f),
        LogicTree::Group {
            op,
            negated,
            children,
        } => {
            let parts = children
                .iter()
                .map(|c| tree_condition(svc, c))
                .collect::<ApiResult<Vec<_>>>()?;
            let group = match op {
                LogicOp::And => Condition::And(parts),
                LogicOp::Or => Condition::Or(parts),
            };
            Ok(if *negated {
                Condition::Not(Box::new(group))
            } else {
                group
            })
        }
    }
}

fn not_embedded(name: &str) -> ApiError {
    ApiError::bad_filter(
        format!("'{name}' is not an embedded resource in this request"),
        Some(format!(
            "Verify that '{name}' is included in the 'select' query parameter."
        )),
    )
}

/// The root-level filters and logic trees of a request, ANDed; `None` when there are none.
pub fn root_condition(svc: &Service, q: &QueryParams) -> ApiResult<Option<Condition>> {
    let mut parts = Vec::new();
    for (path, f) in &q.filters {
        if let Some(first) = path.first() {
            return Err(not_embedded(first));
        }
        parts.push(filter_condition(svc, f)?);
    }
    for (path, tree) in &q.logic {
        if let Some(first) = path.first() {
            return Err(not_embedded(first));
        }
        parts.push(tree_condition(svc, tree)?);
    }
    Ok(match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(Condition::And(parts)),
    })
}

/// The condition selecting one row by its key path segments (`/playlist_items/3/17`).
pub fn key_condition(svc: &Service, key: &[String]) -> ApiResult<Condition> {
    if svc.primary_key.is_empty() {
        return Err(ApiError::not_found(format!(
            "'{}' has no primary key, so its rows have no URL of their own",
            svc.name
        )));
    }
    if key.len() != svc.primary_key.len() {
        return Err(ApiError::not_found(format!(
            "the key of '{}' has {} part(s) ({}), the URL gives {}",
            svc.name,
            svc.primary_key.len(),
            svc.primary_key.join(", "),
            key.len()
        )));
    }
    let mut parts = Vec::with_capacity(key.len());
    for (name, text) in svc.primary_key.iter().zip(key) {
        let column = column_index(svc, name)?;
        let col = &svc.columns[column];
        let value = value::from_text(col, text).map_err(|reason| ApiError::InvalidValue {
            message: format!("invalid key for '{}': column '{}'", svc.name, col.name),
            details: reason,
        })?;
        parts.push(Condition::Compare {
            column,
            op: CmpOp::Eq,
            value,
        });
    }
    Ok(if parts.len() == 1 {
        parts.remove(0)
    } else {
        Condition::And(parts)
    })
}

fn order_terms(svc: &Service, terms: &[OrderTerm]) -> ApiResult<Vec<OrderBy>> {
    let mut out = Vec::with_capacity(terms.len() + svc.primary_key.len());
    for t in terms {
        if let Some(rel) = &t.relation {
            return Err(not_embedded(rel));
        }
        let column = column_index(svc, &t.column)?;
        let descending = t.direction == Some(Direction::Desc);
        // PostgreSQL's defaults on every backend: NULLs last ascending, first descending.
        let nulls_first = match t.nulls {
            Some(Nulls::First) => true,
            Some(Nulls::Last) => false,
            None => descending,
        };
        out.push(OrderBy {
            column,
            descending,
            nulls_first,
        });
    }
    // The key breaks ties, so pages are stable and every backend returns the same order.
    for name in &svc.primary_key {
        if let Some(column) = svc.column_index(name) {
            if !out.iter().any(|o| o.column == column) {
                out.push(OrderBy {
                    column,
                    descending: false,
                    nulls_first: false,
                });
            }
        }
    }
    Ok(out)
}

/// Root-level `order=` (the last one given wins) followed by the key.
pub fn resolve_order(svc: &Service, q: &QueryParams) -> ApiResult<Vec<OrderBy>> {
    let mut root: &[OrderTerm] = &[];
    for (path, terms) in &q.order {
        if let Some(first) = path.first() {
            return Err(not_embedded(first));
        }
        root = terms;
    }
    order_terms(svc, root)
}

/// Root-level limit/offset, intersected with a `Range` header and capped by `max_rows`.
pub fn resolve_page(
    svc: &Service,
    q: &QueryParams,
    range: Option<(u64, Option<u64>)>,
) -> ApiResult<(Option<u64>, u64)> {
    let mut limit = None;
    let mut offset = 0u64;
    for (path, n) in &q.limit {
        if let Some(first) = path.first() {
            return Err(not_embedded(first));
        }
        limit = Some(*n);
    }
    for (path, n) in &q.offset {
        if let Some(first) = path.first() {
            return Err(not_embedded(first));
        }
        offset = *n;
    }
    if let Some((lower, upper)) = range {
        // Intersect [offset, offset+limit) with [lower, upper].
        let start = offset.max(lower);
        let end_q = limit.map(|l| offset.saturating_add(l));
        let end_r = upper.map(|u| u.saturating_add(1));
        let end = match (end_q, end_r) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        offset = start;
        limit = end.map(|e| e.saturating_sub(start));
    }
    if svc.max_rows > 0 {
        limit = Some(limit.map_or(svc.max_rows, |l| l.min(svc.max_rows)));
    }
    Ok((limit, offset))
}

/// `GET /{service}` (or `/{service}/{key}` when `key` is given).
pub fn read_plan(
    svc: &Arc<Service>,
    q: &QueryParams,
    key: Option<&[String]>,
    range: Option<(u64, Option<u64>)>,
) -> ApiResult<ReadPlan> {
    let select = resolve_select(svc, q.select.as_deref())?;
    let mut filter = root_condition(svc, q)?;
    if let Some(key) = key {
        let kc = key_condition(svc, key)?;
        filter = Some(match filter {
            Some(f) => Condition::And(vec![kc, f]),
            None => kc,
        });
    }
    let order = resolve_order(svc, q)?;
    let (limit, offset) = if key.is_some() {
        (None, 0)
    } else {
        resolve_page(svc, q, range)?
    };
    Ok(ReadPlan {
        service: Arc::clone(svc),
        select,
        filter,
        order,
        limit,
        offset,
    })
}
