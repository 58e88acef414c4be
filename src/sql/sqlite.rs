//! The SQLite dialect: double-quoted identifiers, `?` placeholders, `GLOB` for the
//! case-sensitive `like`, a Rust `regexp()` function (registered by the executor) for
//! `ilike`/`match`/`imatch` and `restable_json_contains()` for `cs`/`cd` on JSON columns,
//! explicit `NULLS FIRST/LAST`, `ON CONFLICT` upserts.

use super::embed::{alias, EmbedSql, Field};
use super::{aggregate_call, AggregateUse, Builder, Dialect, JsonAt, Operand};
use crate::plan::aggregate::AggregateFunction;
use crate::plan::{Aggregate, AggregateCast, SqlValue};
use crate::schema::{Column, Service, ValueKind};

pub struct Sqlite;

/// SQLite's default SQLITE_MAX_VARIABLE_NUMBER (since 3.32).
const MAX_PARAMS: usize = 32_766;

/// Translate a LIKE pattern (`%`, `_`, `\` escapes) to a GLOB pattern (case-sensitive).
pub fn like_to_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => out.push('*'),
            '_' => out.push('?'),
            '\\' => match chars.next() {
                Some(n) => push_glob_literal(&mut out, n),
                None => push_glob_literal(&mut out, '\\'),
            },
            other => push_glob_literal(&mut out, other),
        }
    }
    out
}

fn push_glob_literal(out: &mut String, c: char) {
    match c {
        '*' | '?' | '[' => {
            out.push('[');
            out.push(c);
            out.push(']');
        }
        _ => out.push(c),
    }
}

/// Translate a LIKE pattern to an anchored regular expression.
pub fn like_to_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    out.push_str("(?s)^");
    let mut chars = pattern.chars();
    let mut buf = [0u8; 4];
    while let Some(c) = chars.next() {
        match c {
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            '\\' => {
                let n = chars.next().unwrap_or('\\');
                out.push_str(&regex::escape(n.encode_utf8(&mut buf)));
            }
            other => out.push_str(&regex::escape(other.encode_utf8(&mut buf))),
        }
    }
    out.push('$');
    out
}

/// `$[#-1]`: SQLite's index counted from the end.
fn from_end(n: u64) -> String {
    format!("#-{n}")
}

impl Sqlite {
    /// `CASE WHEN json_valid(col) THEN <inner> END`: a column holding text that is not
    /// JSON (SQLite does not check) reads as NULL instead of failing the statement.
    fn if_valid(b: &mut Builder<'_>, at: JsonAt<'_>, inner: impl FnOnce(&mut Builder<'_>)) {
        b.push("CASE WHEN json_valid(");
        at.write_column(b);
        b.push(") THEN ");
        inner(b);
        b.push(" END");
    }

    /// `col <op> '$.a[0]'`.
    fn extract(b: &mut Builder<'_>, at: JsonAt<'_>, op: &str) {
        at.write_column(b);
        b.push(op);
        b.string_literal(&super::json_path_text(at.path, from_end));
    }

    /// `json_type(col, '$.a[0]')`.
    fn json_type(b: &mut Builder<'_>, at: JsonAt<'_>) {
        b.push("json_type(");
        at.write_column(b);
        b.push(", ");
        b.string_literal(&super::json_path_text(at.path, from_end));
        b.push(")");
    }

    /// The JSON value of `column`'s value as `c` writes it (see `Dialect::embed_value`).
    fn embed_value_of(&self, b: &mut Builder<'_>, column: &Column, c: &dyn Fn(&mut Builder<'_>)) {
        match column.kind {
            ValueKind::Boolean => {
                b.push("CASE WHEN ");
                c(b);
                b.push(" IS NULL THEN NULL WHEN ");
                c(b);
                b.push(" THEN json('true') ELSE json('false') END");
            }
            ValueKind::Decimal => {
                // Numbers SQLite holds as INTEGER or REAL get the declared scale, digits
                // stored as a BLOB are the exact decimal (as the encoder writes them).
                b.push("CASE typeof(");
                c(b);
                b.push(")");
                if let Some(scale) = crate::schema::types::decimal_scale(&column.declared_type) {
                    b.push(" WHEN 'integer' THEN json(printf('%.");
                    b.number(scale.min(30) as i64);
                    b.push("f', ");
                    c(b);
                    b.push(")) WHEN 'real' THEN json(printf('%.");
                    b.number(scale.min(30) as i64);
                    b.push("f', ");
                    c(b);
                    b.push("))");
                }
                b.push(" WHEN 'blob' THEN json(CAST(");
                c(b);
                b.push(" AS TEXT)) ELSE ");
                c(b);
                b.push(" END");
            }
            ValueKind::Timestamp | ValueKind::TimestampTz => {
                // Stored as `YYYY-MM-DD HH:MM:SS`; ISO-8601 wants a `T`.
                b.push("CASE WHEN substr(");
                c(b);
                b.push(", 11, 1) = ' ' THEN substr(");
                c(b);
                b.push(", 1, 10) || 'T' || substr(");
                c(b);
                b.push(", 12) ELSE ");
                c(b);
                b.push(" END");
            }
            ValueKind::Json => {
                b.push("CASE WHEN json_valid(");
                c(b);
                b.push(") THEN json(");
                c(b);
                b.push(") ELSE ");
                c(b);
                b.push(" END");
            }
            ValueKind::Bytes => {
                b.push("restable_base64(");
                c(b);
                b.push(")");
            }
            _ => c(b),
        }
    }

    /// An aggregate of the select list (its `Select` form): exact sums and averages of
    /// integers and decimals come from restable's own functions (`exec/decimal.rs`), as
    /// text digits (an integer where the sum is one).
    fn aggregate_value(&self, b: &mut Builder<'_>, column: &Column, agg: &Aggregate, exact: bool) {
        let numeric = matches!(column.kind, ValueKind::Integer | ValueKind::Decimal);
        let own = match agg.function {
            AggregateFunction::Sum if numeric && exact => Some("restable_sum"),
            AggregateFunction::Avg if numeric && exact => Some("restable_avg"),
            _ => None,
        };
        match own {
            Some(f) => {
                b.push(f);
                b.push("(");
                b.ident(&column.name);
                b.push(", ");
                let scale = match column.kind {
                    ValueKind::Decimal => {
                        crate::schema::types::decimal_scale(&column.declared_type)
                            .map_or(-1, |s| s.min(30) as i64)
                    }
                    _ => -1,
                };
                b.number(scale);
                b.push(")");
            }
            None => aggregate_call(b, column, agg, agg.function.name()),
        }
    }

    /// The JSON of an aggregate's value `v` (its `Select` form) inside an embedded object.
    fn aggregate_json(
        &self,
        b: &mut Builder<'_>,
        column: &Column,
        agg: &Aggregate,
        v: &dyn Fn(&mut Builder<'_>),
    ) {
        let result = agg.result_column(column);
        match (agg.cast, agg.function) {
            (None, AggregateFunction::Min | AggregateFunction::Max) => {
                self.embed_value_of(b, column, v)
            }
            (None | Some(AggregateCast::Numeric), _)
                if matches!(result.kind, ValueKind::Decimal | ValueKind::Integer) =>
            {
                // Digits as text: a JSON number, exactly.
                b.push("json(CAST(");
                v(b);
                b.push(" AS TEXT))");
            }
            _ => v(b),
        }
    }
}

impl Dialect for Sqlite {
    fn json_value(&self, b: &mut Builder<'_>, at: JsonAt<'_>) {
        b.push("(");
        Self::if_valid(b, at, |b| Self::extract(b, at, " -> "));
        b.push(")");
    }

    fn json_text(&self, b: &mut Builder<'_>, at: JsonAt<'_>) {
        // `->>` gives numbers as numbers and true as 1: only a string's text is taken from
        // it, other values are their JSON text, as PostgreSQL's `->>` writes them.
        b.push("(");
        Self::if_valid(b, at, |b| {
            b.push("CASE ");
            Self::json_type(b, at);
            b.push(" WHEN 'text' THEN ");
            Self::extract(b, at, " ->> ");
            b.push(" WHEN 'null' THEN NULL ELSE ");
            Self::extract(b, at, " -> ");
            b.push(" END");
        });
        b.push(")");
    }

    fn json_rank(&self, b: &mut Builder<'_>, at: JsonAt<'_>) {
        b.push("(");
        Self::if_valid(b, at, |b| {
            b.push("CASE ");
            Self::json_type(b, at);
            b.push(
                " WHEN 'null' THEN 0 WHEN 'text' THEN 1 WHEN 'integer' THEN 2 WHEN 'real' THEN 2 \
                 WHEN 'false' THEN 3 WHEN 'true' THEN 4 WHEN 'array' THEN 5 WHEN 'object' THEN 6 END",
            );
        });
        b.push(")");
    }

    fn json_number(&self, b: &mut Builder<'_>, at: JsonAt<'_>) {
        b.push("(");
        Self::extract(b, at, " ->> ");
        b.push(")");
    }

    fn order_expr(
        &self,
        b: &mut Builder<'_>,
        expr: &dyn Fn(&mut Builder<'_>),
        descending: bool,
        nulls_first: bool,
        may_be_null: bool,
    ) {
        expr(b);
        b.push(if descending { " DESC" } else { " ASC" });
        // SQLite sorts NULL as the smallest value; say where NULLs go when there can be any.
        if may_be_null {
            b.push(if nulls_first {
                " NULLS FIRST"
            } else {
                " NULLS LAST"
            });
        }
    }

    fn embed_value(&self, b: &mut Builder<'_>, column: &Column) {
        self.embed_value_of(b, column, &|b: &mut Builder<'_>| b.ident(&column.name));
    }

    fn aggregate(&self, b: &mut Builder<'_>, column: &Column, agg: &Aggregate, to: AggregateUse) {
        // ORDER BY sorts by SQLite's own (floating-point) sums and averages: the exact ones
        // are text, which would sort as text.
        let exact = to != AggregateUse::Order;
        let value = |b: &mut Builder<'_>| match agg.cast {
            Some(cast) => self.cast(b, cast, &mut |b| {
                self.aggregate_value(b, column, agg, exact)
            }),
            None => self.aggregate_value(b, column, agg, exact),
        };
        match to {
            AggregateUse::Select | AggregateUse::Order => value(b),
            AggregateUse::Embed => self.aggregate_json(b, column, agg, &value),
        }
    }

    fn cast(
        &self,
        b: &mut Builder<'_>,
        cast: AggregateCast,
        inner: &mut dyn FnMut(&mut Builder<'_>),
    ) {
        match cast {
            AggregateCast::Text => {
                b.push("CAST(");
                inner(b);
                b.push(" AS TEXT)");
            }
            AggregateCast::Integer => {
                // Rounded half away from zero, as PostgreSQL casts a numeric.
                b.push("CAST(round(");
                inner(b);
                b.push(") AS INTEGER)");
            }
            AggregateCast::Float => {
                b.push("CAST(");
                inner(b);
                b.push(" AS REAL)");
            }
            AggregateCast::Numeric => inner(b),
        }
    }

    fn embed(&self, b: &mut Builder<'_>, e: &EmbedSql<'_>) {
        if e.count() {
            b.push("(SELECT json_array(json_object('count', count(*)))");
            e.from_where(b);
            b.push(")");
            return;
        }
        let fields = e.fields();
        // The object of one row. `derived`: the values are the columns `c0, c1, ...` of
        // the derived table the embedded rows were ordered and paged in (a nested embed
        // among them as JSON text); else the child row's own columns.
        let object = |b: &mut Builder<'_>, derived: bool| {
            // json_object takes at most 127 arguments: keys past the first 60 are added
            // with json_insert, which keeps their order.
            let extra = fields.len().saturating_sub(60);
            for _ in 0..extra {
                b.push("json_insert(");
            }
            b.push("json_object(");
            for (i, f) in fields.iter().enumerate() {
                let key = match f {
                    Field::Column { key, .. }
                    | Field::Embed { key, .. }
                    | Field::Aggregate { key, .. } => *key,
                };
                if i == 60 {
                    b.push(")");
                }
                if i > 0 {
                    b.push(", ");
                }
                if i >= 60 {
                    let mut path = String::from("$.\"");
                    path.push_str(&key.replace('"', ""));
                    path.push('"');
                    b.param(SqlValue::Text(path));
                } else {
                    b.param(SqlValue::Text(key.to_string()));
                }
                b.push(", ");
                match (f, derived) {
                    (Field::Column { column, .. }, false) => self.embed_value(b, column),
                    (Field::Column { column, .. }, true) => {
                        let mut renamed = (*column).clone();
                        renamed.name = format!("c{i}");
                        self.embed_value(b, &renamed);
                    }
                    (Field::Embed { embed, .. }, false) => {
                        b.push("json(");
                        e.nested(b, embed);
                        b.push(")");
                    }
                    (Field::Embed { .. }, true) => {
                        b.push("json(");
                        b.ident(&format!("c{i}"));
                        b.push(")");
                    }
                    (
                        Field::Aggregate {
                            column, aggregate, ..
                        },
                        false,
                    ) => self.aggregate(b, column, aggregate, AggregateUse::Embed),
                    (
                        Field::Aggregate {
                            column, aggregate, ..
                        },
                        true,
                    ) => {
                        let name = format!("c{i}");
                        self.aggregate_json(b, column, aggregate, &|b: &mut Builder<'_>| {
                            b.ident(&name)
                        });
                    }
                }
                if i >= 60 {
                    b.push(")");
                }
            }
            if fields.len() <= 60 {
                b.push(")");
            }
        };
        if e.many() {
            // The rows are ordered and paged in a derived table whose plain columns the
            // aggregate's json_object reads: no JSON text is parsed again per row.
            b.push("(SELECT json_group_array(");
            object(b, true);
            b.push(") FROM (SELECT ");
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    b.push(", ");
                }
                match f {
                    Field::Column { column, .. } => b.ident(&column.name),
                    Field::Embed { embed, .. } => e.nested(b, embed),
                    Field::Aggregate {
                        column, aggregate, ..
                    } => self.aggregate(b, column, aggregate, AggregateUse::Select),
                }
                b.push(" AS ");
                b.ident(&format!("c{i}"));
            }
            e.from_where(b);
            e.group_by(b);
            e.order_by(b);
            self.limit_offset(b, e.limit(), e.offset());
            b.push(") AS ");
            alias(b, 'x', e.n);
            b.push(")");
        } else {
            b.push("(SELECT ");
            object(b, false);
            e.from_where(b);
            e.group_by(b);
            b.push(" LIMIT 1)");
        }
    }

    fn shape_tag(&self) -> u32 {
        1
    }

    fn literal_limit(&self) -> bool {
        true
    }

    fn quote_ident(&self, out: &mut String, ident: &str) {
        super::quote_doubling(out, ident, '"');
    }

    fn placeholder(
        &self,
        out: &mut String,
        _n: usize,
        _column: Option<&Column>,
        _value: &SqlValue,
    ) {
        out.push('?');
    }

    fn like(
        &self,
        b: &mut Builder<'_>,
        target: Operand<'_>,
        pattern: &str,
        case_insensitive: bool,
    ) {
        b.operand(target);
        if case_insensitive {
            // SQLite's own LIKE folds ASCII only; the regexp function folds Unicode.
            b.push(" REGEXP ");
            b.param(SqlValue::Text(format!("(?i){}", like_to_regex(pattern))));
        } else {
            b.push(" GLOB ");
            let glob = like_to_glob(pattern);
            // SQLite narrows `GLOB 'abc*'` to a range of an index on the column, but only
            // for a literal: the connections run with the planner's stability guarantee
            // (a plan never depends on a bound value; exec/sqlite.rs), so a parameter would
            // mean a full scan. A pattern with no literal prefix cannot use an index: it
            // stays a parameter and its statement is reused.
            if super::like_has_prefix(pattern) {
                b.text_literal(&glob);
            } else {
                b.param(SqlValue::Text(glob));
            }
        }
    }

    fn regex(
        &self,
        b: &mut Builder<'_>,
        target: Operand<'_>,
        pattern: &str,
        case_insensitive: bool,
    ) {
        b.operand(target);
        b.push(" REGEXP ");
        let p = if case_insensitive {
            format!("(?i){pattern}")
        } else {
            pattern.to_string()
        };
        b.param(SqlValue::Text(p));
    }

    fn json_contains(
        &self,
        b: &mut Builder<'_>,
        _svc: &Service,
        column: &Column,
        value: &serde_json::Value,
        contained_in: bool,
    ) {
        // The executor's function, `sql::containment::contains_text` (target, candidate).
        b.push("restable_json_contains(");
        if contained_in {
            b.param(SqlValue::Json(value.to_string()));
            b.push(", ");
            b.ident(&column.name);
        } else {
            b.ident(&column.name);
            b.push(", ");
            b.param(SqlValue::Json(value.to_string()));
        }
        b.push(")");
    }

    fn is_distinct(&self, b: &mut Builder<'_>, column: &Column, value: SqlValue) {
        b.ident(&column.name);
        b.push(" IS NOT ");
        b.param_for(column, value);
    }

    fn limit_offset(&self, b: &mut Builder<'_>, limit: Option<u64>, offset: u64) {
        if limit.is_none() && offset == 0 {
            return;
        }
        // The limit is a number in the text, not a parameter: SQLite marks a statement
        // whose LIMIT is a parameter to be compiled again whenever its parameters are
        // cleared, which rusqlite's statement cache does on every reuse, so each read paid
        // a full parse and plan (a third of a 50-row page's time). OFFSET has no such mark.
        b.push(" LIMIT ");
        b.number(limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX)));
        if offset > 0 {
            b.push(" OFFSET ");
            b.param(SqlValue::Int(i64::try_from(offset).unwrap_or(i64::MAX)));
        }
    }

    fn max_params(&self) -> usize {
        MAX_PARAMS
    }

    fn default_expr(&self, column: &Column) -> String {
        match &column.default_sql {
            Some(expr) => format!("({expr})"),
            None => "NULL".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_translation() {
        assert_eq!(like_to_glob("%Rock%"), "*Rock*");
        assert_eq!(like_to_glob("a_c"), "a?c");
        assert_eq!(like_to_glob("x*[y]?"), "x[*][[]y][?]");
        assert_eq!(like_to_glob("100\\%"), "100%");
    }

    #[test]
    fn regex_translation() {
        assert_eq!(like_to_regex("%a.b_"), "(?s)^.*a\\.b.$");
        assert!(regex::Regex::new(&like_to_regex("(x)%[y]")).is_ok());
    }
}
