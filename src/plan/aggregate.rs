//! Aggregates in `select` (PostgREST's aggregate functions, SPEC 4.2): `count()`,
//! `col.sum()`, `col.avg()`, `col.min()`, `col.max()`, `col.count()`, with an alias and a
//! cast of the result (`total:unit_price.sum()::float`). Resolved here against the schema
//! cache: whether the service allows them, which column kinds each function takes, the
//! kind of each result, the grouping (every selected column that is not aggregated, as
//! PostgREST does) and the order of an aggregated read. Knows the schema cache, never SQL
//! or HTTP.

use super::{column_index, unknown_column, OrderBy, Selected};
use crate::error::{ApiError, ApiResult};
pub use crate::request::ast::AggregateFunction;
use crate::request::ast::{Direction, Nulls, OrderTerm};
use crate::schema::{Column, Service, ValueKind};

/// A cast of an aggregate's result (`total:col.sum()::float`) to one of the types every
/// backend can write the same way (`::text`, `::int`, `::float`, `::numeric`). Written in
/// SQL by each dialect (`Dialect::cast`), so that the database computes an exact sum or
/// average in the type asked for. Not `plan::Cast` (`json.rs`), the cast of a selected
/// column or JSON path, which the response stage converts per value: an aggregate's cast
/// decides how the database computes it (PostgreSQL's `avg(...)::int` rounds the exact
/// numeric average), a column's only how the answer writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateCast {
    Text,
    Integer,
    Float,
    Numeric,
}

impl AggregateCast {
    /// The cast a type name asks for (PostgreSQL's names, any case), `None` when restable
    /// has no such cast.
    pub fn parse(name: &str) -> Option<AggregateCast> {
        let name = name.trim().to_ascii_lowercase();
        Some(match name.as_str() {
            "text" | "varchar" | "character varying" => AggregateCast::Text,
            "int" | "integer" | "int4" | "int8" | "bigint" | "smallint" | "int2" => {
                AggregateCast::Integer
            }
            "float" | "float8" | "float4" | "double precision" | "real" => AggregateCast::Float,
            "numeric" | "decimal" => AggregateCast::Numeric,
            _ => return None,
        })
    }

    /// The kind of the value after the cast.
    pub fn kind(self) -> ValueKind {
        match self {
            AggregateCast::Text => ValueKind::Text,
            AggregateCast::Integer => ValueKind::Integer,
            AggregateCast::Float => ValueKind::Float,
            AggregateCast::Numeric => ValueKind::Decimal,
        }
    }

    /// A declared type of that kind, for the encoder.
    fn declared(self) -> &'static str {
        match self {
            AggregateCast::Text => "text",
            AggregateCast::Integer => "bigint",
            AggregateCast::Float => "double precision",
            AggregateCast::Numeric => "numeric",
        }
    }

    /// The type names accepted, for error messages.
    pub const NAMES: &'static str =
        "text, int (integer, bigint), float (double precision), numeric";
}

/// An aggregate over the rows of each group: the value of a selected item
/// (`Selected::aggregate`) or an order term (`OrderBy::aggregate`) instead of its column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Aggregate {
    pub function: AggregateFunction,
    /// `count()`: counts the group's rows, not a column's non-NULL values (the
    /// `column` beside it is then only a placeholder: the service's first).
    pub whole_row: bool,
    /// `::type` after the function.
    pub cast: Option<AggregateCast>,
}

impl Aggregate {
    /// The function's own result kind for a column of kind `input`.
    pub fn function_kind(&self, input: ValueKind) -> ValueKind {
        match self.function {
            AggregateFunction::Count => ValueKind::Integer,
            AggregateFunction::Sum => input,
            AggregateFunction::Avg if input == ValueKind::Float => ValueKind::Float,
            AggregateFunction::Avg => ValueKind::Decimal,
            AggregateFunction::Min | AggregateFunction::Max => input,
        }
    }

    /// How the result is written, as a column of the schema cache for the encoder: its
    /// kind, and for a decimal its declared type (whose scale `sum`/`min`/`max` keep).
    pub fn result_column(&self, column: &Column) -> Column {
        if let Some(cast) = self.cast {
            return Column::plain(&column.name, cast.declared(), cast.kind());
        }
        let mut out = match self.function {
            AggregateFunction::Count => Column::plain(&column.name, "bigint", ValueKind::Integer),
            AggregateFunction::Min | AggregateFunction::Max => column.clone(),
            AggregateFunction::Sum | AggregateFunction::Avg => {
                match self.function_kind(column.kind) {
                    ValueKind::Decimal if self.function == AggregateFunction::Sum => column.clone(),
                    ValueKind::Decimal => {
                        Column::plain(&column.name, "numeric", ValueKind::Decimal)
                    }
                    ValueKind::Float => {
                        Column::plain(&column.name, "double precision", ValueKind::Float)
                    }
                    kind => Column::plain(&column.name, "bigint", kind),
                }
            }
        };
        out.nullable = self.function != AggregateFunction::Count;
        out
    }
}

/// The error of an aggregate on a service that does not allow them (PostgREST's
/// PGRST123 and its words).
pub fn not_allowed(svc: &Service) -> ApiError {
    ApiError::BadRequest {
        code: "aggregates_not_allowed",
        message: "Use of aggregate functions is not allowed".into(),
        details: Some(format!(
            "aggregates are off for '{}': `aggregates = true` in [server] or in [services.{}] of services.toml turns them on",
            svc.name, svc.name
        )),
    }
}

fn takes(function: AggregateFunction, kind: ValueKind) -> bool {
    match function {
        AggregateFunction::Count => true,
        AggregateFunction::Sum | AggregateFunction::Avg => matches!(
            kind,
            ValueKind::Integer | ValueKind::Float | ValueKind::Decimal
        ),
        AggregateFunction::Min | AggregateFunction::Max => matches!(
            kind,
            ValueKind::Integer
                | ValueKind::Float
                | ValueKind::Decimal
                | ValueKind::Text
                | ValueKind::Date
                | ValueKind::Time
                | ValueKind::Timestamp
                | ValueKind::TimestampTz
        ),
    }
}

/// One `select` item `alias:column.function()::cast` of `svc` as a selected item.
pub fn resolve(
    svc: &Service,
    function: AggregateFunction,
    column: Option<&str>,
    alias: Option<&str>,
    input_cast: Option<&str>,
    cast: Option<&str>,
) -> ApiResult<Selected> {
    if !svc.aggregates {
        return Err(not_allowed(svc));
    }
    let call = match column {
        Some(c) => format!("{c}.{}()", function.name()),
        None => format!("{}()", function.name()),
    };
    if let Some(t) = input_cast {
        return Err(ApiError::bad_filter(
            format!("a cast before an aggregate is not supported (in select: {call} with ::{t} before it)"),
            Some(format!("cast the result instead: {call}::{t}")),
        ));
    }
    let cast = match cast {
        None => None,
        Some(t) => Some(AggregateCast::parse(t).ok_or_else(|| {
            ApiError::bad_filter(
                format!("unknown cast type '{t}' (in select: {call}::{t})"),
                Some(format!(
                    "an aggregate can be cast to {}",
                    AggregateCast::NAMES
                )),
            )
        })?),
    };
    let index = match column {
        Some(name) => column_index(svc, name)?,
        None if svc.columns.is_empty() => return Err(unknown_column(svc, "*")),
        None => 0,
    };
    if let Some(name) = column {
        let col = &svc.columns[index];
        if !takes(function, col.kind) {
            let needs = match function {
                AggregateFunction::Sum | AggregateFunction::Avg => "a numeric column",
                _ => "a column of numbers, text, dates or times",
            };
            return Err(ApiError::bad_filter(
                format!(
                    "{}() needs {needs}, but column '{name}' is {} (in select: {call})",
                    function.name(),
                    col.declared_type
                ),
                None,
            ));
        }
    }
    Ok(Selected {
        column: index,
        output: alias.unwrap_or(function.name()).to_string(),
        aggregate: Some(Aggregate {
            function,
            whole_row: column.is_none(),
            cast,
        }),
        path: None,
        cast: None,
    })
}

/// Whether a level's selected items aggregate (then the others are its grouping).
pub fn aggregated(select: &[Selected]) -> bool {
    select.iter().any(|s| s.aggregate.is_some())
}

/// The grouping of an aggregated level: its selected columns that are not aggregated
/// (PostgREST's automatic GROUP BY), each once, in select order.
pub fn grouping(select: &[Selected]) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for s in select.iter().filter(|s| s.aggregate.is_none()) {
        if !out.contains(&s.column) {
            out.push(s.column);
        }
    }
    out
}

/// The order of an aggregated level: each term names an aggregate by its output name
/// (`order=total.desc` for `total:milliseconds.sum()`, `order=count` for `count()`) or a
/// grouping column; the grouping columns not named follow, ascending, so that pages are
/// stable and every backend returns the same order.
pub fn order(svc: &Service, select: &[Selected], terms: &[OrderTerm]) -> ApiResult<Vec<OrderBy>> {
    let group = grouping(select);
    let mut out: Vec<OrderBy> = Vec::with_capacity(terms.len() + group.len());
    for t in terms {
        if t.relation.is_some() {
            return Err(ApiError::bad_filter(
                format!(
                    "order={}({}): a read with aggregates is ordered by its grouping columns or its aggregates",
                    t.relation.as_deref().unwrap_or_default(),
                    t.column
                ),
                None,
            ));
        }
        if !t.path.is_empty() {
            return Err(ApiError::bad_filter(
                format!(
                    "order={}: a read with aggregates is ordered by its grouping columns or its aggregates, not a JSON path",
                    super::json::show_path(&t.column, &t.path)
                ),
                None,
            ));
        }
        let descending = t.direction == Some(Direction::Desc);
        let nulls_first = match t.nulls {
            Some(Nulls::First) => true,
            Some(Nulls::Last) => false,
            None => descending,
        };
        let by_output = select
            .iter()
            .find(|s| s.aggregate.is_some() && s.output == t.column);
        let (column, aggregate) = match by_output {
            Some(s) => (s.column, s.aggregate.clone()),
            None => match svc.column_index(&t.column) {
                Some(c) if group.contains(&c) => (c, None),
                Some(_) => {
                    return Err(ApiError::bad_filter(
                        format!(
                            "order={}: column '{}' is aggregated, not grouped",
                            t.column, t.column
                        ),
                        Some(
                            "with aggregates, order by a selected column that is not aggregated, or by an aggregate's name (order=sum.desc, order=total for total:col.sum())"
                                .into(),
                        ),
                    ))
                }
                None => return Err(unknown_column(svc, &t.column)),
            },
        };
        out.push(OrderBy {
            column,
            descending,
            nulls_first,
            related: None,
            aggregate,
            path: None,
        });
    }
    for column in group {
        if !out
            .iter()
            .any(|o| o.column == column && o.aggregate.is_none())
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
    Ok(out)
}
