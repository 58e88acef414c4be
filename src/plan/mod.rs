//! Plans: a parsed request resolved against the schema cache. Every column in a plan is
//! an index into its service's columns, every value is typed and checked, so no user text
//! reaches SQL as an identifier. Plans know the schema cache, never SQL or HTTP.

pub mod aggregate;
mod body;
pub mod embed;
pub mod json;
pub mod owner;
pub mod session;
pub mod value;
pub mod write;

use std::sync::Arc;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::request::ast::{
    CmpOp, ContainmentOp, Direction, Filter, IsValue, LogicOp, LogicTree, Nulls, Operation,
    OrderTerm, Quantifier, QueryParams, SelectItem,
};
use crate::schema::{SchemaCache, Service, ValueKind};
pub use aggregate::{Aggregate, AggregateCast};
pub use embed::{Embed, Link, Related, RelatedOrder};
pub use json::{Cast, JsonPath, JsonScalar, JsonTest};
pub use session::Session;
pub use value::SqlValue;

/// A column of the service (index into `Service::columns`) and the key it is output under,
/// or a value inside it (`data->a->>b`), possibly cast (`id::text`).
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    pub column: usize,
    pub output: String,
    /// `col.sum()`, `count()`: the value is this aggregate of the column over each group
    /// of rows, not the column itself (`aggregate.rs`).
    pub aggregate: Option<Aggregate>,
    /// `data->a->>b`: a path into the (JSON) column; `None` for the column itself.
    pub path: Option<JsonPath>,
    /// `::int`: the type the value is written as (converted by the response stage).
    pub cast: Option<Cast>,
}

impl Selected {
    /// Column `column` itself, written under `output`.
    pub fn plain(column: usize, output: impl Into<String>) -> Self {
        Selected {
            column,
            output: output.into(),
            aggregate: None,
            path: None,
            cast: None,
        }
    }

    /// The column itself, as it is (no aggregate, no JSON path, no cast).
    pub fn is_plain(&self) -> bool {
        self.aggregate.is_none() && self.path.is_none() && self.cast.is_none()
    }
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
    /// A related row exists (`!inner`, `rel=not.is.null`); `Not` of it for `rel=is.null`.
    Related(Box<Related>),
    /// `cs cd ov sl sr nxr nxl adj` on a PostgreSQL array or range column (the only
    /// backend with these kinds): `column <op> value`, the value an array or range
    /// literal cast to the column's type.
    Containment {
        column: usize,
        op: ContainmentOp,
        value: SqlValue,
    },
    /// `cs`/`cd` on a JSON column, as PostgreSQL's jsonb `@>`/`<@` on every backend: the
    /// column's value contains `value` (with `contained_in`, is contained in it).
    JsonContains {
        column: usize,
        value: serde_json::Value,
        contained_in: bool,
    },
    /// A test of a value inside a JSON column (`data->>name=eq.x`, `data->n=gt.3`).
    Json {
        column: usize,
        path: JsonPath,
        test: JsonTest,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    /// A column of the service, or of `related`'s service.
    pub column: usize,
    pub descending: bool,
    pub nulls_first: bool,
    /// `order=rel(col)`: the column is a to-one embed's.
    pub related: Option<Arc<RelatedOrder>>,
    /// `order=sum.desc` in an aggregated read: by this aggregate of the column.
    pub aggregate: Option<Aggregate>,
    /// `order=data->>name`: a value inside the (JSON) column.
    pub path: Option<JsonPath>,
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
    /// Related rows embedded in each row (SPEC 4.6).
    pub embeds: Vec<Embed>,
}

impl ReadPlan {
    /// A read of `select` columns of `svc` filtered by `filter`, in no particular order.
    pub fn simple(svc: &Arc<Service>, select: Vec<Selected>, filter: Option<Condition>) -> Self {
        ReadPlan {
            service: Arc::clone(svc),
            select,
            filter,
            order: Vec::new(),
            limit: None,
            offset: 0,
            embeds: Vec::new(),
        }
    }

    /// Columns in each row of the answer: the selected columns, the shown embeds and the
    /// columns of spread ones.
    pub fn output_len(&self) -> usize {
        self.select.len()
            + self
                .embeds
                .iter()
                .filter(|e| e.shown)
                .map(|e| if e.spread { e.plan.select.len() } else { 1 })
                .sum::<usize>()
    }
}

/// The longest regular expression accepted in `match`/`imatch`.
const MAX_REGEX_LEN: usize = 1000;

pub(crate) fn unknown_column(svc: &Service, name: &str) -> ApiError {
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
/// and `select=x:id,x:name` gives `x` from `id`. Embed items are left out (see
/// `read_plan` and `write_returning`, which resolve them).
pub fn resolve_select(svc: &Service, select: Option<&[SelectItem]>) -> ApiResult<Vec<Selected>> {
    select_level(svc, select, false).map(|(s, _)| s)
}

/// The columns of one `select` level, and for each embed item (in order) the number of
/// columns before it. `nested`: an embed's level, where JSON paths and casts are refused
/// (the database writes embedded rows' JSON itself).
fn select_level(
    svc: &Service,
    select: Option<&[SelectItem]>,
    nested: bool,
) -> ApiResult<(Vec<Selected>, Vec<usize>)> {
    let all = || {
        svc.columns
            .iter()
            .enumerate()
            .map(|(i, c)| Selected::plain(i, c.name.clone()))
    };
    let Some(items) = select else {
        return Ok((all().collect(), Vec::new()));
    };
    let mut out: Vec<Selected> = Vec::with_capacity(items.len());
    let mut positions = Vec::new();
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
            // PostgREST's legacy `select=count` (no such column): the number of rows,
            // allowed whether or not aggregates are.
            SelectItem::Column {
                name,
                alias: None,
                cast: None,
                path,
            } if name == "count"
                && path.is_empty()
                && items.len() == 1
                && svc.column_index(name).is_none() =>
            {
                out.push(Selected {
                    column: 0,
                    output: "count".into(),
                    aggregate: Some(Aggregate {
                        function: aggregate::AggregateFunction::Count,
                        whole_row: true,
                        cast: None,
                    }),
                    path: None,
                    cast: None,
                });
            }
            SelectItem::Aggregate {
                function,
                column,
                alias,
                input_cast,
                cast,
            } => {
                let s = aggregate::resolve(
                    svc,
                    *function,
                    column.as_deref(),
                    alias.as_deref(),
                    input_cast.as_deref(),
                    cast.as_deref(),
                )?;
                if out.iter().any(|o| o.output == s.output) {
                    return Err(ApiError::bad_filter(
                        format!("'{}' is selected twice", s.output),
                        Some(format!(
                            "give each aggregate its own name: other_{}:{}{}()",
                            s.output,
                            column
                                .as_deref()
                                .map(|c| format!("{c}."))
                                .unwrap_or_default(),
                            function.name()
                        )),
                    ));
                }
                out.push(s);
            }
            SelectItem::Column {
                name,
                alias,
                cast,
                path,
            } => {
                let column = column_index(svc, name)?;
                let item = json::show_path(name, path);
                if nested && (cast.is_some() || !path.is_empty()) {
                    let cast = cast.as_ref().map(|c| format!("::{c}")).unwrap_or_default();
                    return Err(ApiError::bad_filter(
                        format!(
                            "JSON paths and casts are not supported inside embedded resources ({item}{cast})"
                        ),
                        Some("select the column itself inside the embed".to_string()),
                    ));
                }
                let path = match path.as_slice() {
                    [] => None,
                    steps => Some(json::resolve_path(svc, column, steps)?),
                };
                let cast = match cast {
                    Some(c) => Some(Cast::resolve(c, &item)?),
                    None => None,
                };
                let output = match (alias, &path) {
                    (Some(a), _) => a.clone(),
                    (None, Some(p)) => p.output_name(name),
                    (None, None) => name.clone(),
                };
                if !out.iter().any(|s| s.output == output) {
                    out.push(Selected {
                        column,
                        output,
                        aggregate: None,
                        path,
                        cast,
                    });
                }
            }
            SelectItem::Embed { .. } => positions.push(out.len()),
        }
    }
    // The other items of an aggregated level are its grouping, which is by columns.
    if aggregate::aggregated(&out) {
        if let Some(s) = out.iter().find(|s| s.path.is_some()) {
            return Err(ApiError::bad_filter(
                format!(
                    "a JSON path cannot be grouped with aggregates yet (in select: {})",
                    s.output
                ),
                Some("group by a column: select the column itself beside the aggregates".into()),
            ));
        }
    }
    Ok((out, positions))
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
                        "column '{}' holds JSON and can only be filtered with is.null / is.not_null, cs, cd and ov",
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

/// `cs cd ov sl sr nxr nxl adj` on `column`: PostgreSQL's operators on arrays and ranges;
/// `cs`/`cd` (and `ov` as "has an element of") on JSON columns on every backend.
fn containment_condition(
    svc: &Service,
    column: usize,
    op: ContainmentOp,
    raw: &str,
) -> ApiResult<Condition> {
    use ContainmentOp::*;
    let col = &svc.columns[column];
    let set_op = matches!(op, Contains | ContainedIn | Overlaps);
    match col.kind {
        ValueKind::Range | ValueKind::Array if set_op || col.kind == ValueKind::Range => {
            return Ok(Condition::Containment {
                column,
                op,
                value: typed(svc, column, raw)?,
            })
        }
        ValueKind::Json if set_op => {}
        _ => {
            let needs = if set_op {
                "an array, range or JSON column"
            } else {
                "a range column"
            };
            return require_kind(svc, column, op.name(), |_| false, needs)
                .map(|_| Condition::Const(false));
        }
    }
    let invalid = |details: String| ApiError::InvalidValue {
        message: format!("invalid value for column '{}'", col.name),
        details,
    };
    let value = match value::json_filter_value(raw).map_err(invalid)? {
        // To `ov`, `{}` is the empty array literal (postgrest-js's `overlaps(c, [])`).
        serde_json::Value::Object(map) if op == Overlaps && map.is_empty() => {
            serde_json::Value::Array(Vec::new())
        }
        v => v,
    };
    let (nodes, depth) = value::json_size(&value);
    if nodes > value::MAX_JSON_FILTER_NODES || depth > value::MAX_JSON_FILTER_DEPTH {
        return Err(ApiError::bad_filter(
            format!(
                "the value of '{}' is too large: at most {} values nested {} deep",
                op.name(),
                value::MAX_JSON_FILTER_NODES,
                value::MAX_JSON_FILTER_DEPTH
            ),
            None,
        ));
    }
    Ok(match op {
        Contains | ContainedIn => Condition::JsonContains {
            column,
            value,
            contained_in: op == ContainedIn,
        },
        _ => {
            // Overlaps: the column is an array holding (containing) one of the elements.
            let serde_json::Value::Array(items) = value else {
                return Err(invalid(format!(
                    "operator 'ov' on a JSON column needs an array ([...] or {{a,b}}), not {raw}"
                )));
            };
            if items.is_empty() {
                Condition::Const(false)
            } else {
                Condition::Or(
                    items
                        .into_iter()
                        .map(|item| Condition::JsonContains {
                            column,
                            value: serde_json::Value::Array(vec![item]),
                            contained_in: false,
                        })
                        .collect(),
                )
            }
        }
    })
}

/// One filter -> a condition on `svc`.
pub fn filter_condition(svc: &Service, f: &Filter) -> ApiResult<Condition> {
    filter_condition_in(svc, f, &[])
}

/// One filter -> a condition on `svc`, whose embeds at this level are `embeds`: a filter
/// on an embed's name (`tracks=not.is.null`) asks for related rows.
pub(crate) fn filter_condition_in(
    svc: &Service,
    f: &Filter,
    embeds: &[Embed],
) -> ApiResult<Condition> {
    if f.path.is_empty() && svc.column_index(&f.column).is_none() {
        if let Some(e) = embed::find(embeds, &f.column) {
            let exists = match &f.operation {
                Operation::Is(IsValue::Null) => false,
                Operation::Is(IsValue::NotNull) => true,
                _ => {
                    return Err(ApiError::bad_filter(
                        format!(
                            "only is.null or not.is.null filters are allowed on the embedded resource '{}'",
                            f.column
                        ),
                        Some(format!(
                            "filter the embedded rows with {}.<column>=<op>.<value>",
                            f.column
                        )),
                    ))
                }
            };
            let cond = embed::related_condition(e);
            return Ok(if exists != f.negated {
                cond
            } else {
                Condition::Not(Box::new(cond))
            });
        }
    }
    let column = column_index(svc, &f.column)?;
    let cond = match &f.operation {
        _ if !f.path.is_empty() => json::path_condition(svc, column, &f.path, &f.operation)?,
        Operation::Compare { op, value } => single_condition(svc, column, *op, value)?,
        Operation::Quantified {
            op,
            quantifier,
            values,
        } => {
            if *op == CmpOp::Eq && *quantifier == Quantifier::Any && values.is_empty() {
                // `eq(any).{}`: no value to equal, no row (and no `IN ()`, which
                // PostgreSQL and MariaDB refuse as a syntax error).
                Condition::Const(false)
            } else if *op == CmpOp::Eq && *quantifier == Quantifier::Any {
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
        Operation::Containment { op, value } => containment_condition(svc, column, *op, value)?,
    };
    Ok(if f.negated {
        Condition::Not(Box::new(cond))
    } else {
        cond
    })
}

fn tree_condition_in(svc: &Service, tree: &LogicTree, embeds: &[Embed]) -> ApiResult<Condition> {
    match tree {
        LogicTree::Filter(f) => filter_condition_in(svc, f, embeds),
        LogicTree::Group {
            op,
            negated,
            children,
        } => {
            let parts = children
                .iter()
                .map(|c| tree_condition_in(svc, c, embeds))
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

pub(crate) fn not_embedded(name: &str) -> ApiError {
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
        parts.push(tree_condition_in(svc, tree, &[])?);
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
    order_terms_in(svc, terms, &[])
}

fn order_terms_in(svc: &Service, terms: &[OrderTerm], embeds: &[Embed]) -> ApiResult<Vec<OrderBy>> {
    let mut out = Vec::with_capacity(terms.len() + svc.primary_key.len());
    for t in terms {
        let (column, related) = match &t.relation {
            Some(rel) => {
                if !t.path.is_empty() {
                    return Err(ApiError::bad_filter(
                        format!(
                            "a JSON path is not supported in the order of an embedded resource ({rel}({}))",
                            json::show_path(&t.column, &t.path)
                        ),
                        None,
                    ));
                }
                let (column, _, r) = embed::related_order(embeds, rel, &t.column)?;
                (column, Some(Arc::new(r)))
            }
            None => (column_index(svc, &t.column)?, None),
        };
        let path = match t.path.as_slice() {
            [] => None,
            steps => Some(json::resolve_path(svc, column, steps)?),
        };
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
            related,
            aggregate: None,
            path,
        });
    }
    // The key breaks ties, so pages are stable and every backend returns the same order.
    for name in &svc.primary_key {
        if let Some(column) = svc.column_index(name) {
            if !out
                .iter()
                .any(|o| o.column == column && o.related.is_none() && o.path.is_none())
            {
                out.push(OrderBy {
                    column,
                    descending: false,
                    nulls_first: false,
                    related: None,
                    aggregate: None,
                    path: None,
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
    // Embeds' own limits and offsets (`tracks.limit=3`) belong to their plans.
    for (_, n) in q.limit.iter().filter(|(path, _)| path.is_empty()) {
        limit = Some(*n);
    }
    for (_, n) in q.offset.iter().filter(|(path, _)| path.is_empty()) {
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

/// The plan of one level of a read: `svc` with the `select` items given, and the
/// filters, logic trees, order, limit and offset the request gives for `path` (empty for
/// the root). `relation` is the name an embed was asked for by (for its parameters).
#[allow(clippy::too_many_arguments)]
fn level_plan(
    cache: &SchemaCache,
    svc: &Arc<Service>,
    items: Option<&[SelectItem]>,
    q: &QueryParams,
    path: &[String],
    relation: Option<&str>,
    budget: &mut embed::Budget,
    caller: &Caller,
) -> ApiResult<ReadPlan> {
    let (select, positions) = select_level(svc, items, !path.is_empty())?;
    let embeds = match items {
        Some(items) => embed::resolve(cache, svc, items, q, path, budget, &positions, caller)?,
        None => Vec::new(),
    };
    // A parameter's path names an embed by its output name, or by the relation's name.
    let here = |p: &[String]| -> bool {
        p.len() == path.len()
            && p.iter().zip(path).enumerate().all(|(i, (a, b))| {
                a == b || (i + 1 == path.len() && relation.is_some_and(|r| r == a))
            })
    };
    // An owned service shows the caller's rows only, wherever it is read from.
    let mut parts: Vec<Condition> = owner::owner_condition(svc, caller)?.into_iter().collect();
    for (p, f) in &q.filters {
        if here(p) {
            parts.push(filter_condition_in(svc, f, &embeds)?);
        }
    }
    for (p, tree) in &q.logic {
        if here(p) {
            parts.push(tree_condition_in(svc, tree, &embeds)?);
        }
    }
    if let Some(items) = items {
        parts.extend(embed::inner_conditions(items, &embeds));
    }
    let filter = match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(Condition::And(parts)),
    };
    let mut terms: &[OrderTerm] = &[];
    for (p, t) in &q.order {
        if here(p) {
            terms = t;
        }
    }
    let order = if aggregate::aggregated(&select) {
        if let Some(e) = embeds.iter().find(|e| e.shown) {
            return Err(ApiError::bad_filter(
                format!(
                    "aggregates cannot be selected beside the embedded resource '{}'",
                    e.output
                ),
                Some("aggregate inside the embed instead (rel(col.sum())), or read the embedded resource in its own request".into()),
            ));
        }
        aggregate::order(svc, &select, terms)?
    } else {
        order_terms_in(svc, terms, &embeds)?
    };
    let mut limit = None;
    let mut offset = 0;
    if !path.is_empty() {
        for (p, n) in &q.limit {
            if here(p) {
                limit = Some(*n);
            }
        }
        for (p, n) in &q.offset {
            if here(p) {
                offset = *n;
            }
        }
        if svc.max_rows > 0 {
            limit = Some(limit.map_or(svc.max_rows, |l| l.min(svc.max_rows)));
        }
    }
    Ok(ReadPlan {
        service: Arc::clone(svc),
        select,
        filter,
        order,
        limit,
        offset,
        embeds,
    })
}

/// Every parameter path must name embeds of the request (by output or relation name).
fn check_paths(plan: &ReadPlan, q: &QueryParams) -> ApiResult<()> {
    let paths = q
        .filters
        .iter()
        .map(|(p, _)| p)
        .chain(q.logic.iter().map(|(p, _)| p))
        .chain(q.order.iter().map(|(p, _)| p))
        .chain(q.limit.iter().map(|(p, _)| p))
        .chain(q.offset.iter().map(|(p, _)| p));
    for p in paths {
        let mut embeds = &plan.embeds;
        for name in p {
            match embed::find(embeds, name) {
                Some(e) => embeds = &e.plan.embeds,
                None => return Err(not_embedded(name)),
            }
        }
    }
    Ok(())
}

/// The columns and embeds the answer of a write shows (`?select=*,artists(name)`), with
/// each embed's own parameters (`artists.order=...`); the write's filters are its own.
pub fn write_returning(
    cache: &SchemaCache,
    svc: &Arc<Service>,
    q: &QueryParams,
    caller: &Caller,
) -> ApiResult<(Vec<Selected>, Vec<Embed>)> {
    let items = q.select.as_deref();
    let read_only = || {
        ApiError::bad_filter(
            "aggregates can be selected by reads only, not in the answer of a write",
            None,
        )
    };
    if items.is_some_and(has_aggregate) {
        return Err(read_only());
    }
    if !items.is_some_and(|i| i.iter().any(|i| matches!(i, SelectItem::Embed { .. }))) {
        let select = resolve_select(svc, items)?;
        if aggregate::aggregated(&select) {
            // PostgREST's legacy `select=count`.
            return Err(read_only());
        }
        return Ok((select, Vec::new()));
    }
    let (select, positions) = select_level(svc, items, false)?;
    let mut budget = embed::Budget::new();
    let embeds = embed::resolve(
        cache,
        svc,
        items.unwrap_or_default(),
        q,
        &[],
        &mut budget,
        &positions,
        caller,
    )?;
    Ok((select, embeds))
}

/// Whether a `select` list holds an aggregate, at any level.
fn has_aggregate(items: &[SelectItem]) -> bool {
    items.iter().any(|i| match i {
        SelectItem::Aggregate { .. } => true,
        SelectItem::Embed { items, .. } => has_aggregate(items),
        _ => false,
    })
}

/// `GET /{service}` (or `/{service}/{key}` when `key` is given).
pub fn read_plan(
    cache: &SchemaCache,
    svc: &Arc<Service>,
    q: &QueryParams,
    key: Option<&[String]>,
    range: Option<(u64, Option<u64>)>,
    caller: &Caller,
) -> ApiResult<ReadPlan> {
    let mut budget = embed::Budget::new();
    let mut plan = level_plan(
        cache,
        svc,
        q.select.as_deref(),
        q,
        &[],
        None,
        &mut budget,
        caller,
    )?;
    check_paths(&plan, q)?;
    if let Some(key) = key {
        let kc = key_condition(svc, key)?;
        plan.filter = Some(match plan.filter.take() {
            Some(f) => Condition::And(vec![kc, f]),
            None => kc,
        });
    }
    let (limit, offset) = if key.is_some() {
        (None, 0)
    } else {
        resolve_page(svc, q, range)?
    };
    plan.limit = limit;
    plan.offset = offset;
    Ok(plan)
}
