//! The PostgreSQL dialect: double-quoted identifiers, `$n` placeholders cast to the
//! column's type where the value is bound as text (decimals, dates, uuids, enums...),
//! select-list casts so every value decodes as int8/float8/bool/bytea/text, native
//! LIKE/ILIKE/`~`/`~*`, PostgreSQL's own NULL order, `ON CONFLICT` upserts. Knows the
//! schema cache's `Column`, never a connection.

use std::borrow::Cow;

use super::embed::{alias, EmbedSql, Field};
use super::Statement;
use super::{aggregate_call, AggregateUse, Builder, Dialect, JsonAt, Operand};
use crate::plan::aggregate::AggregateFunction;
use crate::plan::{Aggregate, AggregateCast, ReadPlan, Session, SqlValue};
use crate::request::ast::JsonOperand;
use crate::schema::{Column, Service, ValueKind};

pub struct Postgres;

/// The protocol's limit: the parameter count is a 16-bit field.
const MAX_PARAMS: usize = 65_535;

/// A declared type (as `format_type` prints it) without its type modifiers, usable in a
/// cast that must not round or truncate: `numeric(4,2)` -> `numeric`,
/// `timestamp(3) with time zone` -> `timestamp with time zone`. `character` and `bit`
/// without a length mean `character(1)`/`bit(1)` in a cast, so they become `bpchar` and
/// `varbit`.
pub fn cast_target(declared: &str) -> String {
    let mut out = String::with_capacity(declared.len());
    let mut depth = 0usize;
    let mut in_quote = false;
    for c in declared.chars() {
        if in_quote {
            out.push(c);
            if c == '"' {
                in_quote = false;
            }
            continue;
        }
        match c {
            '"' if depth == 0 => {
                in_quote = true;
                out.push(c);
            }
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            _ => out.push(c),
        }
    }
    let trimmed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    for (from, to) in [("character", "bpchar"), ("bit", "varbit")] {
        if let Some(rest) = trimmed.strip_prefix(from) {
            if rest.is_empty() || rest.starts_with('[') {
                return format!("{to}{rest}");
            }
        }
    }
    trimmed
}

/// Built-in character types: compared and stored from a text parameter without a cast,
/// and read without one.
fn is_text_like(column: &Column) -> bool {
    let t = cast_target(&column.declared_type);
    matches!(
        t.as_str(),
        "text" | "character varying" | "varchar" | "bpchar" | "name"
    )
}

/// The type a text-bound parameter for `column` is cast to (`None`: bound as is).
fn text_cast(column: &Column) -> Option<Cow<'static, str>> {
    if column.enum_values.is_some() {
        // An enum (or a domain over one): its own name, as the catalog quoted it.
        return Some(Cow::Owned(column.declared_type.clone()));
    }
    Some(Cow::Borrowed(match column.kind {
        ValueKind::Integer => "int8",
        ValueKind::Float => "float8",
        ValueKind::Decimal => "numeric",
        ValueKind::Boolean => "bool",
        ValueKind::Date => "date",
        ValueKind::Time => "time",
        ValueKind::Timestamp => "timestamp",
        ValueKind::TimestampTz => "timestamptz",
        ValueKind::Uuid => "uuid",
        ValueKind::Bytes => "bytea",
        ValueKind::Json => {
            if column.declared_type == "json" {
                "json"
            } else {
                "jsonb"
            }
        }
        ValueKind::Text => {
            if is_text_like(column) {
                return None;
            }
            return Some(Cow::Owned(cast_target(&column.declared_type)));
        }
        // `integer[]`, `int4range`: the literal's text cast to the column's own type.
        ValueKind::Array | ValueKind::Range => {
            return Some(Cow::Owned(cast_target(&column.declared_type)))
        }
    }))
}

/// `float4` columns compare with a `float4` parameter: `1.1::float4 <> 1.1::float8`.
fn is_real(column: &Column) -> bool {
    column.kind == ValueKind::Float && column.declared_type == "real"
}

/// The text PostgreSQL parses back into `v` (for the variants bound as text).
pub fn pg_text(v: &SqlValue) -> String {
    match v {
        SqlValue::Null | SqlValue::Array(_) => String::new(),
        SqlValue::Int(i) => i.to_string(),
        SqlValue::Float(f) => f.to_string(),
        SqlValue::Bool(b) => b.to_string(),
        SqlValue::Decimal(s) | SqlValue::Text(s) | SqlValue::Json(s) => s.clone(),
        SqlValue::Date(d) => d.format("%Y-%m-%d").to_string(),
        SqlValue::Time(t) => t.format("%H:%M:%S%.f").to_string(),
        SqlValue::Timestamp(t) => t.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
        SqlValue::TimestampTz(t) => t.format("%Y-%m-%d %H:%M:%S%.f+00:00").to_string(),
        SqlValue::Uuid(u) => u.hyphenated().to_string(),
        SqlValue::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// Inserts of at least this many rows send one array per column (`unnest`) instead of
/// a `VALUES` list: PostgreSQL parses and plans a few array parameters far faster than
/// thousands of scalar ones, and every batch size shares one prepared statement.
const UNNEST_FROM_ROWS: usize = 2;

/// One column of an insert as an array parameter, and the array type it is cast to;
/// `None` when the column's type has no array form restable is sure of.
fn column_array(column: &Column, n: usize, rows: &[Vec<SqlValue>]) -> Option<(SqlValue, String)> {
    let cells = rows.iter().map(|r| r.get(n).unwrap_or(&SqlValue::Null));
    let all = |ok: fn(&SqlValue) -> bool| {
        rows.iter()
            .all(|r| r.get(n).is_some_and(|v| *v == SqlValue::Null || ok(v)))
    };
    let declared = cast_target(&column.declared_type);
    if declared.ends_with(']') {
        // An array column: `unnest` would flatten its values.
        return None;
    }
    let same = || SqlValue::Array(cells.clone().cloned().collect());
    let (values, cast) = match column.kind {
        ValueKind::Integer if all(|v| matches!(v, SqlValue::Int(_))) => (same(), "int8[]".into()),
        ValueKind::Float if all(|v| matches!(v, SqlValue::Float(_) | SqlValue::Int(_))) => {
            let floats = cells
                .map(|v| match v {
                    SqlValue::Int(i) => SqlValue::Float(*i as f64),
                    other => other.clone(),
                })
                .collect();
            (SqlValue::Array(floats), "float8[]".into())
        }
        ValueKind::Boolean if all(|v| matches!(v, SqlValue::Bool(_))) => (same(), "bool[]".into()),
        ValueKind::Bytes if all(|v| matches!(v, SqlValue::Bytes(_))) => (same(), "bytea[]".into()),
        ValueKind::Integer | ValueKind::Float | ValueKind::Boolean | ValueKind::Bytes => {
            return None
        }
        ValueKind::Text if !is_text_like(column) && column.enum_values.is_none() => return None,
        _ => {
            let texts = cells
                .map(|v| match v {
                    SqlValue::Null => SqlValue::Null,
                    SqlValue::Text(_) => v.clone(),
                    other => SqlValue::Text(pg_text(other)),
                })
                .collect();
            let cast = match text_cast(column) {
                Some(t) => format!("text[]::{t}[]"),
                None => "text[]".into(),
            };
            (SqlValue::Array(texts), cast)
        }
    };
    Some((values, cast))
}

impl Postgres {
    /// The value `v` writes, of `column`'s type, as the decoder reads it (see
    /// `Dialect::select_column`).
    fn select_value(&self, b: &mut Builder<'_>, column: &Column, v: &dyn Fn(&mut Builder<'_>)) {
        match column.kind {
            ValueKind::Integer => {
                v(b);
                if column.declared_type != "bigint" {
                    b.push("::int8");
                }
            }
            ValueKind::Float => {
                v(b);
                if is_real(column) {
                    // float4 read through float8 shows binary noise (1.1 -> 1.100000023841858).
                    b.push("::text");
                } else if column.declared_type != "double precision" {
                    b.push("::float8");
                }
            }
            ValueKind::Boolean => {
                v(b);
                if column.declared_type != "boolean" {
                    b.push("::bool");
                }
            }
            ValueKind::Bytes => {
                v(b);
                if column.declared_type != "bytea" {
                    b.push("::bytea");
                }
            }
            ValueKind::Date | ValueKind::Timestamp | ValueKind::TimestampTz
                if column.declared_type == "date"
                    || (column.declared_type.starts_with("timestamp")
                        && column.declared_type.ends_with("time zone")) =>
            {
                // Read in binary and formatted by the encoder (see `response::time_text`).
                v(b)
            }
            ValueKind::Date | ValueKind::Timestamp | ValueKind::TimestampTz => {
                // ISO-8601 whatever DateStyle says (`2024-01-02T03:04:05+00:00`).
                b.push("to_json(");
                v(b);
                b.push(")#>>'{}'");
            }
            ValueKind::Text if is_text_like(column) => v(b),
            ValueKind::Array => {
                // JSON text (`[1,null,3]`, nested for more dimensions), written as is.
                b.push("to_json(");
                v(b);
                b.push(")::text");
            }
            ValueKind::Range
            | ValueKind::Time
            | ValueKind::Decimal
            | ValueKind::Uuid
            | ValueKind::Json
            | ValueKind::Text => {
                v(b);
                b.push("::text");
            }
        }
    }

    /// An aggregate as PostgreSQL computes it, cast as asked: exact `numeric` sums and
    /// averages of integers and decimals, as PostgreSQL (and PostgREST) answer them.
    fn aggregate_expr(&self, b: &mut Builder<'_>, column: &Column, agg: &Aggregate) {
        match agg.cast {
            Some(cast) => self.cast(b, cast, &mut |b| {
                aggregate_call(b, column, agg, agg.function.name())
            }),
            None => aggregate_call(b, column, agg, agg.function.name()),
        }
    }

    fn column_as_text(b: &mut Builder<'_>, column: &Column) {
        b.ident(&column.name);
        if !is_text_like(column) {
            b.push("::text");
        }
    }

    fn operand_as_text(b: &mut Builder<'_>, target: Operand<'_>) {
        match target {
            Operand::Column(c) => Self::column_as_text(b, c),
            Operand::JsonText(_) => b.operand(target),
        }
    }

    /// `col->'a'->0->'b'`, the last step `->>` when `text`: keys and indexes written into
    /// the text, where an expression index on `(data->>'name')` can serve them.
    fn path(b: &mut Builder<'_>, at: JsonAt<'_>, text: bool) {
        at.write_column(b);
        let last = at.path.len().saturating_sub(1);
        for (i, step) in at.path.iter().enumerate() {
            b.push(if text && i == last { "->>" } else { "->" });
            match step {
                JsonOperand::Key(k) => b.string_literal(k),
                // `->-1` would read as the operator `->-`.
                JsonOperand::Index(n) if *n < 0 => {
                    b.push("(");
                    b.number(*n);
                    b.push(")");
                }
                JsonOperand::Index(n) => b.number(*n),
            }
        }
    }
}

impl Dialect for Postgres {
    fn json_value(&self, b: &mut Builder<'_>, at: JsonAt<'_>) {
        b.push("(");
        Self::path(b, at, false);
        b.push(")::text");
    }

    fn json_text(&self, b: &mut Builder<'_>, at: JsonAt<'_>) {
        b.push("(");
        Self::path(b, at, true);
        b.push(")");
    }

    fn json_rank(&self, b: &mut Builder<'_>, at: JsonAt<'_>) {
        b.push(if at.column.declared_type == "json" {
            "(CASE json_typeof("
        } else {
            "(CASE jsonb_typeof("
        });
        Self::path(b, at, false);
        b.push(
            ") WHEN 'null' THEN 0 WHEN 'string' THEN 1 WHEN 'number' THEN 2 WHEN 'boolean' THEN \
             (CASE WHEN (",
        );
        Self::path(b, at, true);
        b.push(") = 'true' THEN 4 ELSE 3 END) WHEN 'array' THEN 5 WHEN 'object' THEN 6 END)");
    }

    fn json_number(&self, b: &mut Builder<'_>, at: JsonAt<'_>) {
        b.push("(");
        Self::path(b, at, true);
        b.push(")::numeric");
    }

    fn order_expr(
        &self,
        b: &mut Builder<'_>,
        expr: &dyn Fn(&mut Builder<'_>),
        descending: bool,
        nulls_first: bool,
        may_be_null: bool,
    ) {
        // A column is qualified by the caller (`order_target`): a bare name would sort by
        // the select list's cast output instead of the column, and miss its index.
        expr(b);
        b.push(if descending { " DESC" } else { " ASC" });
        // PostgreSQL's default is NULLS LAST ascending and NULLS FIRST descending; say so
        // only when asked for the other one (a plain index serves the default order).
        if may_be_null && nulls_first != descending {
            b.push(if nulls_first {
                " NULLS FIRST"
            } else {
                " NULLS LAST"
            });
        }
    }

    fn embed_value(&self, b: &mut Builder<'_>, column: &Column) {
        // Inside a row that row_to_json / json_agg encode with to_json, which writes every
        // known type as the encoder does; bytea as base64 and unknown types as text need
        // saying.
        match column.kind {
            ValueKind::Bytes => {
                b.push("translate(encode(");
                b.ident(&column.name);
                b.push(", 'base64'), E'\\n', '')");
            }
            _ if column.unknown_type => {
                b.ident(&column.name);
                b.push("::text");
            }
            _ => b.ident(&column.name),
        }
    }

    fn embed(&self, b: &mut Builder<'_>, e: &EmbedSql<'_>) {
        if e.count() {
            b.push("(SELECT json_build_array(json_build_object('count', count(*)))");
            e.from_where(b);
            b.push(")");
            return;
        }
        // The row of a derived table, whose column names are the keys.
        let row = |b: &mut Builder<'_>| {
            b.push("(SELECT ");
            for (i, f) in e.fields().iter().enumerate() {
                if i > 0 {
                    b.push(", ");
                }
                let key = match f {
                    Field::Column { key, column } => {
                        self.embed_value(b, column);
                        key
                    }
                    Field::Embed { key, embed } => {
                        e.nested(b, embed);
                        key
                    }
                    Field::Aggregate {
                        key,
                        column,
                        aggregate,
                    } => {
                        self.aggregate(b, column, aggregate, AggregateUse::Embed);
                        key
                    }
                };
                b.push(" AS ");
                b.ident(key);
            }
            e.from_where(b);
            e.group_by(b);
        };
        if e.many() {
            b.push("(SELECT coalesce(json_agg(");
            alias(b, 'x', e.n);
            b.push("), '[]') FROM ");
            row(b);
            e.order_by(b);
            self.limit_offset(b, e.limit(), e.offset());
        } else {
            b.push("(SELECT row_to_json(");
            alias(b, 'x', e.n);
            b.push(") FROM ");
            row(b);
            b.push(" LIMIT 1");
        }
        b.push(") AS ");
        alias(b, 'x', e.n);
        b.push(")");
    }

    fn aggregate(&self, b: &mut Builder<'_>, column: &Column, agg: &Aggregate, to: AggregateUse) {
        let result = agg.result_column(column);
        match to {
            AggregateUse::Order => self.aggregate_expr(b, column, agg),
            // to_json writes numeric, float8, text and the date types as the encoder does.
            AggregateUse::Embed if result.unknown_type => {
                self.aggregate_expr(b, column, agg);
                b.push("::text");
            }
            AggregateUse::Embed => self.aggregate_expr(b, column, agg),
            AggregateUse::Select => match (agg.cast, agg.function) {
                (None, AggregateFunction::Min | AggregateFunction::Max) => {
                    self.select_value(b, column, &|b: &mut Builder<'_>| {
                        b.push("(");
                        self.aggregate_expr(b, column, agg);
                        b.push(")");
                    })
                }
                _ => match result.kind {
                    // A count is an int8; a cast says what it makes.
                    ValueKind::Integer
                        if agg.function == AggregateFunction::Count
                            || agg.cast == Some(AggregateCast::Integer) =>
                    {
                        self.aggregate_expr(b, column, agg)
                    }
                    ValueKind::Float if !is_real(column) || agg.cast.is_some() => {
                        self.aggregate_expr(b, column, agg);
                        if agg.cast.is_none() && agg.function == AggregateFunction::Sum {
                            b.push("::float8");
                        }
                    }
                    ValueKind::Text => self.aggregate_expr(b, column, agg),
                    // Sums and averages of integers and decimals are numeric (an int8 sum
                    // may pass 64 bits); the sum of a real is a real.
                    _ => {
                        b.push("(");
                        self.aggregate_expr(b, column, agg);
                        b.push(")::text");
                    }
                },
            },
        }
    }

    fn cast(
        &self,
        b: &mut Builder<'_>,
        cast: AggregateCast,
        inner: &mut dyn FnMut(&mut Builder<'_>),
    ) {
        b.push("(");
        inner(b);
        b.push(match cast {
            AggregateCast::Text => ")::text",
            AggregateCast::Integer => ")::int8",
            AggregateCast::Float => ")::float8",
            AggregateCast::Numeric => ")::numeric",
        });
    }

    fn embed_column(&self, b: &mut Builder<'_>, e: &EmbedSql<'_>) {
        self.embed(b, e);
        b.push("::text");
    }

    fn shape_tag(&self) -> u32 {
        2
    }

    fn quote_ident(&self, out: &mut String, ident: &str) {
        super::quote_doubling(out, ident, '"');
    }

    fn placeholder(&self, out: &mut String, n: usize, column: Option<&Column>, value: &SqlValue) {
        out.push('$');
        out.push_str(itoa::Buffer::new().format(n));
        let Some(column) = column else { return };
        let cast = match value {
            // A number for a column served as text (a type restable does not know, whose
            // filter values are taken for what they look like): through its text.
            SqlValue::Int(_) | SqlValue::Float(_) if column.kind == ValueKind::Text => {
                Some(match text_cast(column) {
                    Some(t) => Cow::Owned(format!("text::{t}")),
                    None => Cow::Borrowed("text"),
                })
            }
            SqlValue::Int(_) | SqlValue::Bool(_) | SqlValue::Bytes(_) => None,
            SqlValue::Float(_) => is_real(column).then_some(Cow::Borrowed("float4")),
            _ => text_cast(column),
        };
        if let Some(t) = cast {
            out.push_str("::");
            out.push_str(&t);
        }
    }

    fn select_column(&self, b: &mut Builder<'_>, column: &Column) {
        self.select_value(b, column, &|b: &mut Builder<'_>| b.ident(&column.name));
    }

    fn like(
        &self,
        b: &mut Builder<'_>,
        target: Operand<'_>,
        pattern: &str,
        case_insensitive: bool,
    ) {
        Self::operand_as_text(b, target);
        b.push(if case_insensitive {
            " ILIKE "
        } else {
            " LIKE "
        });
        b.param(SqlValue::Text(pattern.to_string()));
    }

    fn regex(
        &self,
        b: &mut Builder<'_>,
        target: Operand<'_>,
        pattern: &str,
        case_insensitive: bool,
    ) {
        Self::operand_as_text(b, target);
        b.push(if case_insensitive { " ~* " } else { " ~ " });
        b.param(SqlValue::Text(pattern.to_string()));
    }

    fn json_contains(
        &self,
        b: &mut Builder<'_>,
        _svc: &Service,
        column: &Column,
        value: &serde_json::Value,
        contained_in: bool,
    ) {
        b.ident(&column.name);
        if column.declared_type == "json" {
            b.push("::jsonb");
        }
        b.push(if contained_in { " <@ " } else { " @> " });
        b.param(SqlValue::Json(value.to_string()));
        b.push("::jsonb");
    }

    fn is_distinct(&self, b: &mut Builder<'_>, column: &Column, value: SqlValue) {
        b.ident(&column.name);
        b.push(" IS DISTINCT FROM ");
        b.param_for(column, value);
    }

    fn limit_offset(&self, b: &mut Builder<'_>, limit: Option<u64>, offset: u64) {
        if let Some(l) = limit {
            b.push(" LIMIT ");
            b.param(SqlValue::Int(i64::try_from(l).unwrap_or(i64::MAX)));
        }
        if offset > 0 {
            b.push(" OFFSET ");
            b.param(SqlValue::Int(i64::try_from(offset).unwrap_or(i64::MAX)));
        }
    }

    fn max_params(&self) -> usize {
        MAX_PARAMS
    }

    fn lock_rows(&self) -> &'static str {
        " FOR UPDATE"
    }

    fn insert_rows(
        &self,
        b: &mut Builder<'_>,
        svc: &Service,
        columns: &[usize],
        rows: &[Vec<SqlValue>],
    ) -> bool {
        if rows.len() < UNNEST_FROM_ROWS || columns.is_empty() {
            return false;
        }
        let arrays: Option<Vec<(SqlValue, String)>> = columns
            .iter()
            .enumerate()
            .map(|(n, &i)| column_array(&svc.columns[i], n, rows))
            .collect();
        let Some(arrays) = arrays else {
            return false;
        };
        b.push(" SELECT * FROM unnest(");
        for (n, (values, cast)) in arrays.into_iter().enumerate() {
            if n > 0 {
                b.push(", ");
            }
            b.push("$");
            b.push(itoa::Buffer::new().format(b.params.len() + 1));
            b.push("::");
            b.push(&cast);
            b.params.push(values);
        }
        b.push(")");
        true
    }

    fn default_expr(&self, _column: &Column) -> String {
        "DEFAULT".into()
    }
}

/// The statement of a PostgreSQL read: the plan's SELECT, and with `windowed` every row
/// also carrying the number of rows (`count(*) OVER ()`), which a response streamed before
/// its last row needs for its Content-Range (it costs the server a fifth of a small read,
/// so reads that fit in one part go without it); with `count` the total matching the
/// filters too. One statement sees one snapshot, so the counts agree with the rows
/// without a transaction. Also returns how many of its columns are the plan's own.
pub fn counted_select(plan: &ReadPlan, count: bool, windowed: bool) -> (Statement, usize) {
    let d = &Postgres;
    let inner = super::select(d, plan);
    let inner_columns = plan.output_len().max(1);
    if !windowed && !count {
        return (inner, inner_columns);
    }
    let mut b = Builder::new(d);
    b.params = inner.params;
    b.push("SELECT q.*, count(*) OVER ()");
    if count {
        b.push(", (");
        super::count_query(&mut b, plan);
        b.push(")");
    }
    b.push(" FROM (");
    b.push(&inner.sql);
    b.push(") AS q");
    (b.finish(), inner_columns)
}

/// `SELECT 1 FROM t WHERE <the read's filter>`.
fn matching(b: &mut Builder<'_>, plan: &ReadPlan) {
    b.push("SELECT 1 FROM ");
    b.table(&plan.service);
    if let Some(f) = &plan.filter {
        b.push(" WHERE ");
        super::write_condition(b, &plan.service, f);
    }
}

/// `count=estimated`: how many rows match, counting at most `bound` of them.
pub fn bounded_count(plan: &ReadPlan, bound: u64) -> Statement {
    let mut b = Builder::new(&Postgres);
    b.kind = super::StatementKind::Count;
    b.push("SELECT count(*) FROM (");
    matching(&mut b, plan);
    b.push(" LIMIT ");
    b.number(i64::try_from(bound).unwrap_or(i64::MAX));
    b.push(") AS q");
    b.finish()
}

/// `count=planned`: the plan of the read's filter, whose `Plan Rows` is the planner's
/// estimate of the rows that match (as PostgREST does).
pub fn explain_count(plan: &ReadPlan) -> Statement {
    let mut b = Builder::new(&Postgres);
    b.push("EXPLAIN (FORMAT JSON) ");
    matching(&mut b, plan);
    b.finish()
}

/// The cursor a long read goes through, and the statement that reads the next part of it
/// (as many rows as the executor's `FETCH_ROWS`).
pub const READ_CURSOR: &str = "restable_read";
pub const FETCH_READ: &str = "FETCH FORWARD 1000 FROM \"restable_read\"";

/// `DECLARE <name> NO SCROLL CURSOR FOR <stmt>`: a long read fetched in parts.
pub fn cursor(stmt: &Statement, name: &str) -> Statement {
    let mut b = Builder::new(&Postgres);
    b.push("DECLARE ");
    b.ident(name);
    b.push(" NO SCROLL CURSOR FOR ");
    b.push(&stmt.sql);
    Statement {
        params: stmt.params.clone(),
        ..b.finish()
    }
}

/// The statement that starts a request's session: `set_config(name, value, true)` for
/// the role and each setting, local to the transaction it runs in (`set_config('role',
/// ...)` is `SET LOCAL ROLE`, with the role as a bound value rather than an identifier).
/// `None` for an empty session.
pub fn session(s: &Session) -> Option<Statement> {
    if s.is_empty() {
        return None;
    }
    let mut b = Builder::new(&Postgres);
    b.push("SELECT ");
    let pairs = s
        .role
        .iter()
        .map(|r| ("role", r.as_str()))
        .chain(s.settings.iter().map(|(k, v)| (*k, v.as_str())));
    for (i, (name, value)) in pairs.enumerate() {
        if i > 0 {
            b.push(", ");
        }
        b.push("set_config(");
        b.param(SqlValue::Text(name.to_string()));
        b.push(", ");
        b.param(SqlValue::Text(value.to_string()));
        b.push(", true)");
    }
    Some(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, declared: &str, kind: ValueKind) -> Column {
        Column::plain(name, declared, kind)
    }

    fn ph(c: &Column, v: SqlValue) -> String {
        let mut s = String::new();
        Postgres.placeholder(&mut s, 3, Some(c), &v);
        s
    }

    #[test]
    fn cast_targets() {
        assert_eq!(cast_target("numeric(4,2)"), "numeric");
        assert_eq!(
            cast_target("timestamp(3) with time zone"),
            "timestamp with time zone"
        );
        assert_eq!(cast_target("character(2)"), "bpchar");
        assert_eq!(cast_target("character(2)[]"), "bpchar[]");
        assert_eq!(
            cast_target("character varying(40)[]"),
            "character varying[]"
        );
        assert_eq!(cast_target("bit(3)"), "varbit");
        assert_eq!(cast_target("bit varying(3)"), "bit varying");
        assert_eq!(cast_target("\"My (odd) type\""), "\"My (odd) type\"");
        assert_eq!(cast_target("s.\"Mood\""), "s.\"Mood\"");
        assert_eq!(cast_target("interval"), "interval");
    }

    #[test]
    fn placeholders_cast_text_bound_values() {
        let price = col("price", "numeric(4,2)", ValueKind::Decimal);
        assert_eq!(ph(&price, SqlValue::Decimal("1.1".into())), "$3::numeric");
        assert_eq!(ph(&price, SqlValue::Null), "$3::numeric");
        let id = col("id", "integer", ValueKind::Integer);
        assert_eq!(ph(&id, SqlValue::Int(1)), "$3");
        assert_eq!(ph(&id, SqlValue::Null), "$3::int8");
        let name = col("name", "character varying(40)", ValueKind::Text);
        assert_eq!(ph(&name, SqlValue::Text("x".into())), "$3");
        let mut mood = col("mood", "\"Mood\"", ValueKind::Text);
        mood.enum_values = Some(vec!["happy".into()]);
        assert_eq!(ph(&mood, SqlValue::Text("happy".into())), "$3::\"Mood\"");
        let doc = col("doc", "json", ValueKind::Json);
        assert_eq!(ph(&doc, SqlValue::Json("{}".into())), "$3::json");
        let docb = col("doc", "jsonb", ValueKind::Json);
        assert_eq!(ph(&docb, SqlValue::Json("{}".into())), "$3::jsonb");
        let ratio = col("ratio", "real", ValueKind::Float);
        assert_eq!(ph(&ratio, SqlValue::Float(1.1)), "$3::float4");
        let span = col("span", "int4range", ValueKind::Text);
        assert_eq!(ph(&span, SqlValue::Text("[1,2)".into())), "$3::int4range");
        let bits = col("bits", "bit(3)", ValueKind::Text);
        assert_eq!(ph(&bits, SqlValue::Int(101)), "$3::text::varbit");
        assert_eq!(ph(&name, SqlValue::Int(7)), "$3::text");
        let mut s = String::new();
        Postgres.placeholder(&mut s, 12, None, &SqlValue::Text("x".into()));
        assert_eq!(s, "$12");
    }

    #[test]
    fn insert_columns_become_typed_arrays() {
        let rows = |vals: Vec<SqlValue>| vals.into_iter().map(|v| vec![v]).collect::<Vec<_>>();
        let id = col("id", "integer", ValueKind::Integer);
        assert_eq!(
            column_array(&id, 0, &rows(vec![SqlValue::Int(1), SqlValue::Null])),
            Some((
                SqlValue::Array(vec![SqlValue::Int(1), SqlValue::Null]),
                "int8[]".to_string()
            ))
        );
        let ratio = col("ratio", "double precision", ValueKind::Float);
        assert_eq!(
            column_array(
                &ratio,
                0,
                &rows(vec![SqlValue::Int(2), SqlValue::Float(0.5)])
            ),
            Some((
                SqlValue::Array(vec![SqlValue::Float(2.0), SqlValue::Float(0.5)]),
                "float8[]".to_string()
            ))
        );
        let price = col("price", "numeric(4,2)", ValueKind::Decimal);
        let (values, cast) = column_array(&price, 0, &rows(vec![SqlValue::Decimal("1.10".into())]))
            .expect("numeric has an array type");
        assert_eq!(values, SqlValue::Array(vec![SqlValue::Text("1.10".into())]));
        assert_eq!(cast, "text[]::numeric[]");
        let name = col("name", "character varying(40)", ValueKind::Text);
        assert_eq!(
            column_array(&name, 0, &rows(vec![SqlValue::Text("a".into())])).map(|(_, c)| c),
            Some("text[]".to_string())
        );
        let mut mood = col("mood", "\"Mood\"", ValueKind::Text);
        mood.enum_values = Some(vec!["happy".into()]);
        assert_eq!(
            column_array(&mood, 0, &rows(vec![SqlValue::Text("happy".into())])).map(|(_, c)| c),
            Some("text[]::\"Mood\"[]".to_string())
        );
        let seen = col("seen", "timestamp without time zone", ValueKind::Timestamp);
        let t = chrono::NaiveDate::from_ymd_opt(2024, 1, 2)
            .and_then(|d| d.and_hms_milli_opt(3, 4, 5, 500))
            .expect("a time");
        assert_eq!(
            column_array(&seen, 0, &rows(vec![SqlValue::Timestamp(t)])),
            Some((
                SqlValue::Array(vec![SqlValue::Text("2024-01-02 03:04:05.500".into())]),
                "text[]::timestamp[]".to_string()
            ))
        );
        // No array form restable is sure of: the insert keeps its VALUES list.
        let tags = col("tags", "integer[]", ValueKind::Text);
        assert_eq!(
            column_array(&tags, 0, &rows(vec![SqlValue::Text("{1}".into())])),
            None
        );
        let span = col("span", "int4range", ValueKind::Text);
        assert_eq!(
            column_array(&span, 0, &rows(vec![SqlValue::Text("[1,2)".into())])),
            None
        );
        assert_eq!(
            column_array(&id, 0, &rows(vec![SqlValue::Text("1".into())])),
            None
        );
    }

    #[test]
    fn select_columns_decode_as_plain_types() {
        let cases = [
            (col("a", "integer", ValueKind::Integer), "\"a\"::int8"),
            (col("a", "bigint", ValueKind::Integer), "\"a\""),
            (col("a", "numeric(4,2)", ValueKind::Decimal), "\"a\"::text"),
            (col("a", "real", ValueKind::Float), "\"a\"::text"),
            (col("a", "double precision", ValueKind::Float), "\"a\""),
            (col("a", "boolean", ValueKind::Boolean), "\"a\""),
            (col("a", "bytea", ValueKind::Bytes), "\"a\""),
            (col("a", "text", ValueKind::Text), "\"a\""),
            (col("a", "uuid", ValueKind::Uuid), "\"a\"::text"),
            (col("a", "jsonb", ValueKind::Json), "\"a\"::text"),
            (
                col("a", "timestamp with time zone", ValueKind::TimestampTz),
                "\"a\"",
            ),
            (col("a", "date", ValueKind::Date), "\"a\""),
            (
                col("a", "timestamp(3) without time zone", ValueKind::Timestamp),
                "\"a\"",
            ),
            (col("a", "d_date", ValueKind::Date), "to_json(\"a\")#>>'{}'"),
        ];
        for (c, want) in cases {
            let mut b = Builder::new(&Postgres);
            Postgres.select_column(&mut b, &c);
            assert_eq!(b.sql, want, "{}", c.declared_type);
        }
    }
}
