//! The MySQL/MariaDB dialect: backtick-quoted identifiers, `?` placeholders, output columns
//! wrapped so the driver hands plain text/ints/bytes over, PostgreSQL's NULL placement and
//! LIKE/regex case rules emulated, `ON DUPLICATE KEY UPDATE` upserts, and RETURNING only
//! where the server has it (MariaDB >= 10.5: INSERT and DELETE; MySQL: none). Knows SQL
//! text, never a connection: the executor picks one of the two values at connect time.

use super::embed::{alias, EmbedSql, Field};
use super::{aggregate_call, AggregateUse, Builder, Dialect, JsonAt, Operand, WriteKind};
use crate::plan::aggregate::AggregateFunction;
use crate::plan::write::OnConflict;
use crate::plan::{Aggregate, AggregateCast, SqlValue};
use crate::request::ast::JsonOperand;
use crate::schema::{Column, Service, ValueKind};

pub struct MySql {
    /// `INSERT ... RETURNING` and `DELETE ... RETURNING` work (MariaDB 10.5+).
    returning_insert_delete: bool,
}

/// MariaDB 10.5 and later.
pub static MARIADB: MySql = MySql {
    returning_insert_delete: true,
};

/// MySQL, and MariaDB before 10.5: no RETURNING at all.
pub static MYSQL: MySql = MySql {
    returning_insert_delete: false,
};

/// The session variable an ignore-duplicates upsert sets when a row was a duplicate.
pub const DUPLICATE_FLAG: &str = "@restable_dup";
/// The session variable an ignore-duplicates upsert appends each duplicate's primary key
/// to (key values separated by 0x1F, rows by 0x1E).
pub const DUPLICATE_KEYS: &str = "@restable_dup_keys";
/// The statements around an ignore-duplicates upsert: reset the flag before one with
/// RETURNING; reset, then read, the collected keys around one without.
pub const RESET_DUPLICATE_FLAG: &str = "SET @restable_dup = 0";
pub const RESET_DUPLICATE_KEYS: &str = "SET @restable_dup_keys = NULL";
pub const READ_DUPLICATE_KEYS: &str = "SELECT @restable_dup_keys";

/// The server's limit on placeholders in one prepared statement.
const MAX_PARAMS: usize = 65_535;

/// `LIMIT` of "no limit" (MySQL has no `OFFSET` without `LIMIT`).
const NO_LIMIT: &str = "18446744073709551615";

/// Whether a declared type (`datetime(3)`, `time(6)`) keeps fractions of a second.
fn has_fraction(declared: &str) -> bool {
    match (declared.find('('), declared.find(')')) {
        (Some(open), Some(close)) if close > open => declared[open + 1..close]
            .trim()
            .parse::<u32>()
            .is_ok_and(|n| n > 0),
        _ => false,
    }
}

fn is_unsigned_bigint(declared: &str) -> bool {
    let d = declared.to_ascii_lowercase();
    d.contains("bigint") && d.contains("unsigned")
}

/// `$[last]`, `$[last-1]`: an index counted from the end.
fn from_end(n: u64) -> String {
    if n <= 1 {
        "last".into()
    } else {
        format!("last-{}", n - 1)
    }
}

impl MySql {
    /// `CONVERT(col USING utf8mb4) COLLATE utf8mb4_bin`: the column as text compared byte
    /// for byte, whatever its own character set and collation.
    fn binary_text(b: &mut Builder<'_>, target: Operand<'_>) {
        b.push("CONVERT(");
        b.operand(target);
        b.push(" USING utf8mb4) COLLATE utf8mb4_bin");
    }

    /// `'$.a[last]'`: a path as a literal. MariaDB resolves `last` once per statement, on
    /// the first row, for a constant path; one with an index from the end is made to
    /// depend on the row (`CONCAT('$[last]', LEFT(col, 0))`) so it is read for each.
    fn path_text(b: &mut Builder<'_>, at: JsonAt<'_>, steps: &[JsonOperand]) {
        let text = super::json_path_text(steps, from_end);
        if steps
            .iter()
            .any(|s| matches!(s, JsonOperand::Index(i) if *i < 0))
        {
            b.push("CONCAT(");
            b.string_literal(&text);
            b.push(", LEFT(");
            at.write_column(b);
            b.push(", 0))");
        } else {
            b.string_literal(&text);
        }
    }

    /// `JSON_EXTRACT(col, '$.a[0]')`. An index of a value that is not an array reads as
    /// the value itself in MySQL and MariaDB (`$[0]` of `{"a":1}` is the object), where
    /// PostgreSQL and SQLite find nothing: each index step is checked to be on an array.
    fn extract(b: &mut Builder<'_>, at: JsonAt<'_>) {
        let arrays: Vec<usize> = at
            .path
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s, JsonOperand::Index(_)))
            .map(|(i, _)| i)
            .collect();
        if !arrays.is_empty() {
            b.push("IF(");
            for (n, &i) in arrays.iter().enumerate() {
                if n > 0 {
                    b.push(" AND ");
                }
                b.push("JSON_TYPE(");
                if i == 0 {
                    at.write_column(b);
                } else {
                    b.push("JSON_EXTRACT(");
                    at.write_column(b);
                    b.push(", ");
                    Self::path_text(b, at, &at.path[..i]);
                    b.push(")");
                }
                b.push(") = 'ARRAY'");
            }
            b.push(", ");
        }
        b.push("JSON_EXTRACT(");
        at.write_column(b);
        b.push(", ");
        Self::path_text(b, at, at.path);
        b.push(")");
        if !arrays.is_empty() {
            b.push(", NULL)");
        }
    }

    /// ISO-8601 text of a temporal column with fractional seconds, trailing zeros of the
    /// fraction dropped as PostgreSQL prints them (`03:04:05.5`, `03:04:05`).
    fn fractional(b: &mut Builder<'_>, v: &dyn Fn(&mut Builder<'_>), func: &str, format: &str) {
        b.push("IF(MICROSECOND(");
        v(b);
        b.push(") = 0, ");
        b.push(func);
        b.push("(");
        v(b);
        b.push(", '");
        b.push(format);
        b.push("'), TRIM(TRAILING '0' FROM ");
        b.push(func);
        b.push("(");
        v(b);
        b.push(", '");
        b.push(format);
        b.push(".%f')))");
    }

    fn cast_char(b: &mut Builder<'_>, v: &dyn Fn(&mut Builder<'_>)) {
        b.push("CAST(");
        v(b);
        b.push(" AS CHAR)");
    }

    /// The value `v` writes, of `column`'s type, as the decoder reads it (see
    /// `Dialect::select_column`).
    fn select_value(&self, b: &mut Builder<'_>, column: &Column, v: &dyn Fn(&mut Builder<'_>)) {
        // The binary protocol sends dates and times as packed structs and unsigned BIGINTs
        // past i64: ask for text instead. Ints, floats, DECIMAL (text on the wire), JSON,
        // strings and blobs decode as they are.
        match column.kind {
            ValueKind::Integer if is_unsigned_bigint(&column.declared_type) => {
                Self::cast_char(b, v)
            }
            ValueKind::Timestamp | ValueKind::TimestampTz
                if has_fraction(&column.declared_type) =>
            {
                Self::fractional(b, v, "DATE_FORMAT", "%Y-%m-%d %H:%i:%s")
            }
            ValueKind::Time if has_fraction(&column.declared_type) => {
                Self::fractional(b, v, "TIME_FORMAT", "%H:%i:%s")
            }
            ValueKind::Date
            | ValueKind::Time
            | ValueKind::Timestamp
            | ValueKind::TimestampTz
            | ValueKind::Uuid => Self::cast_char(b, v),
            _ => v(b),
        }
    }

    /// The JSON value of `column`'s value as `v` writes it (see `Dialect::embed_value`).
    fn embed_value_of(&self, b: &mut Builder<'_>, column: &Column, v: &dyn Fn(&mut Builder<'_>)) {
        match column.kind {
            ValueKind::Boolean => {
                b.push("JSON_EXTRACT(CASE WHEN ");
                v(b);
                b.push(" IS NULL THEN 'null' WHEN ");
                v(b);
                b.push(" THEN 'true' ELSE 'false' END, '$')");
            }
            ValueKind::Json => {
                b.push("JSON_EXTRACT(");
                v(b);
                b.push(", '$')");
            }
            ValueKind::Bytes => {
                b.push("REPLACE(TO_BASE64(");
                v(b);
                b.push("), CHAR(10), '')");
            }
            ValueKind::Timestamp | ValueKind::TimestampTz => {
                // ISO-8601 wants a `T` where MySQL writes a space.
                b.push("REPLACE(");
                self.select_value(b, column, v);
                b.push(", ' ', 'T')");
            }
            _ => self.select_value(b, column, v),
        }
    }

    /// An aggregate as MySQL computes it, cast as asked. `avg` of integers and decimals
    /// is PostgreSQL's (`avg_like_postgres`), as text digits.
    fn aggregate_expr(&self, b: &mut Builder<'_>, column: &Column, agg: &Aggregate) {
        let call = |b: &mut Builder<'_>| {
            if agg.function == AggregateFunction::Avg
                && matches!(column.kind, ValueKind::Integer | ValueKind::Decimal)
            {
                avg_like_postgres(b, column);
            } else {
                aggregate_call(b, column, agg, agg.function.name());
            }
        };
        match agg.cast {
            Some(cast) => self.cast(b, cast, &mut |b| call(b)),
            None => call(b),
        }
    }

    /// The JSON of an aggregate's value `v` inside an embedded object.
    fn aggregate_json(
        &self,
        b: &mut Builder<'_>,
        column: &Column,
        agg: &Aggregate,
        v: &dyn Fn(&mut Builder<'_>),
    ) {
        match (agg.cast, agg.function) {
            (None, AggregateFunction::Min | AggregateFunction::Max) => {
                self.embed_value_of(b, column, v)
            }
            // PostgreSQL's average is text digits: read as a JSON number.
            (None | Some(AggregateCast::Numeric), AggregateFunction::Avg)
                if matches!(column.kind, ValueKind::Integer | ValueKind::Decimal) =>
            {
                b.push("JSON_EXTRACT(");
                v(b);
                b.push(", '$')");
            }
            _ => v(b),
        }
    }
}

impl MySql {
    /// A to-many embed of groups (`tracks(genre,milliseconds.sum())`): JSON_ARRAYAGG
    /// cannot take an aggregate, and a derived table cannot see the parent row, so the
    /// groups of every parent are a derived table (`EmbedSql::grouped_from_where`) whose
    /// columns `c0, c1, ...` hold each field's JSON value, and the parent takes its own.
    fn grouped_embed(&self, b: &mut Builder<'_>, e: &EmbedSql<'_>) {
        let fields = e.fields();
        let plan = &e.embed.plan;
        b.push("COALESCE((SELECT JSON_ARRAYAGG(JSON_OBJECT(");
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                b.push(", ");
            }
            let (key, json) = match f {
                Field::Column { key, column } => (
                    *key,
                    matches!(column.kind, ValueKind::Boolean | ValueKind::Json),
                ),
                Field::Aggregate { key, .. } | Field::Embed { key, .. } => (*key, false),
            };
            b.param(SqlValue::Text(key.to_string()));
            b.push(", ");
            // JSON values come out of the derived table as text: read them as JSON again.
            if json {
                b.push("JSON_EXTRACT(");
            }
            alias(b, 'x', e.n);
            b.push(".");
            b.ident(&format!("c{i}"));
            if json {
                b.push(", '$')");
            }
        }
        b.push(")");
        // Order by the derived table's columns: each order term is a grouping column or
        // an aggregate of the select list (the plan checked it).
        let mut first = true;
        for o in &plan.order {
            let Some(i) = plan
                .select
                .iter()
                .position(|s| s.column == o.column && s.aggregate == o.aggregate)
            else {
                continue;
            };
            b.push(if first { " ORDER BY " } else { ", " });
            first = false;
            let nullable = match &o.aggregate {
                Some(a) => a.function != AggregateFunction::Count,
                None => plan.service.columns[o.column].nullable,
            };
            let target = |b: &mut Builder<'_>| {
                alias(b, 'x', e.n);
                b.push(".");
                b.ident(&format!("c{i}"));
            };
            if nullable {
                target(b);
                b.push(if o.nulls_first {
                    " IS NULL DESC, "
                } else {
                    " IS NULL ASC, "
                });
            }
            target(b);
            b.push(if o.descending { " DESC" } else { " ASC" });
        }
        if e.limit().is_some() || e.offset() > 0 {
            b.push(" LIMIT ");
            b.push(&e.limit().unwrap_or(u64::MAX >> 1).to_string());
            if e.offset() > 0 {
                b.push(" OFFSET ");
                b.push(&e.offset().to_string());
            }
        }
        b.push(")");
        let n = e.n;
        e.grouped_from_where(b, &mut |b: &mut Builder<'_>| {
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    b.push(", ");
                }
                match f {
                    Field::Column { column, .. } => {
                        // Qualified: the junction is joined beside the embedded table.
                        self.embed_value_of(b, column, &|b: &mut Builder<'_>| {
                            alias(b, 'e', n);
                            b.push(".");
                            b.ident(&column.name);
                        })
                    }
                    Field::Aggregate {
                        column, aggregate, ..
                    } => self.aggregate(b, column, aggregate, AggregateUse::Embed),
                    // Refused by the plan: no embeds beside aggregates.
                    Field::Embed { .. } => b.push("NULL"),
                }
                b.push(" AS ");
                b.ident(&format!("c{i}"));
            }
        });
        b.push("), JSON_ARRAY())");
    }
}

/// `10^k` exactly, for `k` an SQL expression.
fn power_of_ten(b: &mut Builder<'_>, k: &dyn Fn(&mut Builder<'_>)) {
    b.push("CAST(CONCAT('1', REPEAT('0', ");
    k(b);
    b.push(")) AS DECIMAL(65,0))");
}

/// `avg(column)` as PostgreSQL answers it for integers and decimals: `sum / count` rounded
/// (half away from zero) to the scale PostgreSQL's numeric division picks
/// (`select_div_scale`: at least 16 significant digits, estimated from the base-10000
/// weights and first digits of the sum and the count; at least the column's scale), as
/// text: `avg` of 100 and 200 is `150.0000000000000000`, MySQL's own AVG says `150.0000`.
/// MySQL keeps at most 30 decimals.
fn avg_like_postgres(b: &mut Builder<'_>, column: &Column) {
    let name = column.name.clone();
    let dscale = match column.kind {
        ValueKind::Decimal => crate::schema::types::decimal_scale(&column.declared_type)
            .unwrap_or(0)
            .min(30),
        _ => 0,
    } as i64;
    let sum = move |b: &mut Builder<'_>| {
        b.push("SUM(");
        b.ident(&name);
        b.push(")");
    };
    let abs = |b: &mut Builder<'_>| {
        b.push("ABS(");
        sum(b);
        b.push(")");
    };
    let int_part = |b: &mut Builder<'_>| {
        b.push("FLOOR(");
        abs(b);
        b.push(")");
    };
    let count = |b: &mut Builder<'_>| {
        b.push("COUNT(");
        b.ident(&column.name);
        b.push(")");
    };
    // Leading zero digits after the point of a sum below 1.
    let zeros = |b: &mut Builder<'_>| {
        b.push("(CHAR_LENGTH(SUBSTRING_INDEX(CAST(");
        abs(b);
        b.push(" AS CHAR), '.', -1)) - CHAR_LENGTH(TRIM(LEADING '0' FROM SUBSTRING_INDEX(CAST(");
        abs(b);
        b.push(" AS CHAR), '.', -1))))");
    };
    // Base-10000 weight of the sum's first non-zero digit group.
    let int_weight = |b: &mut Builder<'_>| {
        b.push("((CHAR_LENGTH(");
        int_part(b);
        b.push(") - 1) DIV 4)");
    };
    let frac_groups = |b: &mut Builder<'_>| {
        b.push("(1 + ");
        zeros(b);
        b.push(" DIV 4)");
    };
    let count_weight = |b: &mut Builder<'_>| {
        b.push("((CHAR_LENGTH(");
        count(b);
        b.push(") - 1) DIV 4)");
    };
    let rscale = |b: &mut Builder<'_>| {
        b.push("LEAST(GREATEST(16 - 4 * ((CASE WHEN ");
        int_part(b);
        b.push(" > 0 THEN ");
        int_weight(b);
        b.push(" WHEN ");
        abs(b);
        b.push(" > 0 THEN -");
        frac_groups(b);
        b.push(" ELSE 0 END) - ");
        count_weight(b);
        b.push(" - ((CASE WHEN ");
        int_part(b);
        b.push(" > 0 THEN ");
        int_part(b);
        b.push(" DIV ");
        power_of_ten(b, &|b: &mut Builder<'_>| {
            b.push("4 * ");
            int_weight(b);
        });
        b.push(" WHEN ");
        abs(b);
        b.push(" > 0 THEN FLOOR(");
        abs(b);
        b.push(" * ");
        power_of_ten(b, &|b: &mut Builder<'_>| {
            b.push("4 * ");
            frac_groups(b);
        });
        b.push(") ELSE 0 END) <= ");
        count(b);
        b.push(" DIV ");
        power_of_ten(b, &|b: &mut Builder<'_>| {
            b.push("4 * ");
            count_weight(b);
        });
        b.push(")), ");
        b.number(dscale);
        b.push("), 30)");
    };
    let rounded = |b: &mut Builder<'_>| {
        b.push("CAST(ROUND(CAST(");
        sum(b);
        b.push(" AS DECIMAL(65,30)) / ");
        count(b);
        b.push(", ");
        rscale(b);
        b.push(") AS CHAR)");
    };
    // The rounded quotient's text, cut after `rscale` decimals (and its point when 0).
    b.push("SUBSTRING(");
    rounded(b);
    b.push(", 1, LOCATE('.', ");
    rounded(b);
    b.push(") + ");
    rscale(b);
    b.push(" - (");
    rscale(b);
    b.push(" = 0))");
}

impl Dialect for MySql {
    fn quote_string(&self, out: &mut String, s: &str) {
        // Backslashes are escapes in MySQL's string literals (no NO_BACKSLASH_ESCAPES).
        out.push('\'');
        for c in s.chars() {
            match c {
                '\'' => out.push_str("''"),
                '\\' => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
        out.push('\'');
    }

    fn json_value(&self, b: &mut Builder<'_>, at: JsonAt<'_>) {
        Self::extract(b, at);
    }

    fn json_text(&self, b: &mut Builder<'_>, at: JsonAt<'_>) {
        // JSON_UNQUOTE leaves null as the text `null`.
        b.push("(CASE JSON_TYPE(");
        Self::extract(b, at);
        b.push(") WHEN 'NULL' THEN NULL ELSE JSON_UNQUOTE(");
        Self::extract(b, at);
        b.push(") END)");
    }

    fn json_rank(&self, b: &mut Builder<'_>, at: JsonAt<'_>) {
        b.push("(CASE JSON_TYPE(");
        Self::extract(b, at);
        b.push(
            ") WHEN 'NULL' THEN 0 WHEN 'STRING' THEN 1 WHEN 'INTEGER' THEN 2 WHEN 'DOUBLE' THEN 2 \
             WHEN 'DECIMAL' THEN 2 WHEN 'UNSIGNED INTEGER' THEN 2 WHEN 'BOOLEAN' THEN \
             IF(JSON_UNQUOTE(",
        );
        Self::extract(b, at);
        b.push(") = 'true', 4, 3) WHEN 'ARRAY' THEN 5 WHEN 'OBJECT' THEN 6 END)");
    }

    fn json_number(&self, b: &mut Builder<'_>, at: JsonAt<'_>) {
        b.push("CAST(");
        Self::extract(b, at);
        b.push(" AS DOUBLE)");
    }

    fn order_expr(
        &self,
        b: &mut Builder<'_>,
        expr: &dyn Fn(&mut Builder<'_>),
        descending: bool,
        nulls_first: bool,
        may_be_null: bool,
    ) {
        // MySQL sorts NULL as the smallest value and has no NULLS FIRST/LAST.
        if may_be_null {
            expr(b);
            b.push(if nulls_first {
                " IS NULL DESC, "
            } else {
                " IS NULL ASC, "
            });
        }
        expr(b);
        b.push(if descending { " DESC" } else { " ASC" });
    }

    fn returning_tail(&self, b: &mut Builder<'_>) {
        if b.flags_duplicates {
            // Each returned row ends with the flag its ON DUPLICATE KEY UPDATE raised (a
            // row left alone), reset for the next row.
            b.push(", ");
            b.push(DUPLICATE_FLAG);
            b.push(", (");
            b.push(DUPLICATE_FLAG);
            b.push(" := 0)");
        }
    }

    fn embed_value(&self, b: &mut Builder<'_>, column: &Column) {
        self.embed_value_of(b, column, &|b: &mut Builder<'_>| b.ident(&column.name));
    }

    fn embed(&self, b: &mut Builder<'_>, e: &EmbedSql<'_>) {
        if e.count() {
            b.push("(SELECT JSON_ARRAY(JSON_OBJECT('count', COUNT(*)))");
            e.from_where(b);
            b.push(")");
            return;
        }
        let object = |b: &mut Builder<'_>| {
            b.push("JSON_OBJECT(");
            for (i, f) in e.fields().iter().enumerate() {
                if i > 0 {
                    b.push(", ");
                }
                match f {
                    Field::Column { key, column } => {
                        b.param(SqlValue::Text(key.to_string()));
                        b.push(", ");
                        self.embed_value(b, column);
                    }
                    Field::Embed { key, embed } => {
                        b.param(SqlValue::Text(key.to_string()));
                        // A subquery's JSON is text to JSON_OBJECT unless re-read as JSON.
                        b.push(", JSON_EXTRACT(");
                        e.nested(b, embed);
                        b.push(", '$')");
                    }
                    Field::Aggregate {
                        key,
                        column,
                        aggregate,
                    } => {
                        b.param(SqlValue::Text(key.to_string()));
                        b.push(", ");
                        self.aggregate(b, column, aggregate, AggregateUse::Embed);
                    }
                }
            }
            b.push(")");
        };
        let paging = |b: &mut Builder<'_>| {
            if e.limit().is_some() || e.offset() > 0 {
                b.push(" LIMIT ");
                b.push(&e.limit().unwrap_or(u64::MAX >> 1).to_string());
                if e.offset() > 0 {
                    b.push(" OFFSET ");
                    b.push(&e.offset().to_string());
                }
            }
        };
        if e.many() && e.aggregated() && e.grouping().is_empty() {
            // One group: one object, in an array.
            b.push("COALESCE((SELECT JSON_ARRAY(");
            object(b);
            b.push(")");
            e.from_where(b);
            paging(b);
            b.push("), JSON_ARRAY())");
            return;
        }
        if e.many() && e.aggregated() {
            return self.grouped_embed(b, e);
        }
        if e.many() {
            // MariaDB orders and pages inside the aggregate (a derived table cannot see
            // the parent row).
            b.push("COALESCE((SELECT JSON_ARRAYAGG(");
            object(b);
            e.order_by(b);
            if e.limit().is_some() || e.offset() > 0 {
                b.push(" LIMIT ");
                b.push(&e.limit().unwrap_or(u64::MAX >> 1).to_string());
                if e.offset() > 0 {
                    b.push(" OFFSET ");
                    b.push(&e.offset().to_string());
                }
            }
            b.push(")");
            e.from_where(b);
            b.push("), JSON_ARRAY())");
        } else {
            b.push("(SELECT ");
            object(b);
            e.from_where(b);
            e.group_by(b);
            b.push(" LIMIT 1)");
        }
    }

    fn shape_tag(&self) -> u32 {
        3 + u32::from(self.returning_insert_delete)
    }

    fn quote_ident(&self, out: &mut String, ident: &str) {
        super::quote_doubling(out, ident, '`');
    }

    fn placeholder(&self, out: &mut String, _n: usize, _column: Option<&Column>, value: &SqlValue) {
        // Exact types for values that travel as text: a DECIMAL compared with a string
        // would be compared as a double, and dates would be compared as strings.
        out.push_str(match value {
            SqlValue::Decimal(_) => "CAST(? AS DECIMAL(65,30))",
            SqlValue::Date(_) => "CAST(? AS DATE)",
            SqlValue::Time(_) => "CAST(? AS TIME(6))",
            SqlValue::Timestamp(_) | SqlValue::TimestampTz(_) => "CAST(? AS DATETIME(6))",
            _ => "?",
        });
    }

    fn select_column(&self, b: &mut Builder<'_>, column: &Column) {
        self.select_value(b, column, &|b: &mut Builder<'_>| b.ident(&column.name));
    }

    fn aggregate(&self, b: &mut Builder<'_>, column: &Column, agg: &Aggregate, to: AggregateUse) {
        let value = |b: &mut Builder<'_>| self.aggregate_expr(b, column, agg);
        match to {
            AggregateUse::Order => value(b),
            AggregateUse::Select => match (agg.cast, agg.function) {
                (None, AggregateFunction::Min | AggregateFunction::Max) => {
                    self.select_value(b, column, &value)
                }
                _ => value(b),
            },
            AggregateUse::Embed => self.aggregate_json(b, column, agg, &value),
        }
    }

    fn cast(
        &self,
        b: &mut Builder<'_>,
        cast: AggregateCast,
        inner: &mut dyn FnMut(&mut Builder<'_>),
    ) {
        if cast == AggregateCast::Numeric {
            // Sums and averages of numbers are DECIMAL (or DOUBLE) already.
            return inner(b);
        }
        match cast {
            AggregateCast::Integer => {
                // Rounded half away from zero, as PostgreSQL casts a numeric (a string,
                // such as an average, would be truncated).
                b.push("CAST(ROUND(CAST(");
                inner(b);
                b.push(" AS DECIMAL(65,30))) AS SIGNED)");
            }
            _ => {
                b.push("CAST(");
                inner(b);
                b.push(if cast == AggregateCast::Text {
                    " AS CHAR)"
                } else {
                    " AS DOUBLE)"
                });
            }
        }
    }

    fn returning(&self, kind: WriteKind) -> bool {
        match kind {
            WriteKind::Insert | WriteKind::Delete => self.returning_insert_delete,
            WriteKind::Update => false,
        }
    }

    fn like(
        &self,
        b: &mut Builder<'_>,
        target: Operand<'_>,
        pattern: &str,
        case_insensitive: bool,
    ) {
        // `\` escapes in the pattern, as in PostgreSQL (MySQL's default ESCAPE).
        if case_insensitive {
            // LOWER on both sides under a binary collation: case folds, accents still count
            // (a `_ci` collation would also equate `o` and `ö`).
            b.push("LOWER(");
            Self::binary_text(b, target);
            b.push(") LIKE LOWER(");
            b.param(SqlValue::Text(pattern.to_string()));
            b.push(")");
        } else {
            Self::binary_text(b, target);
            b.push(" LIKE ");
            b.param(SqlValue::Text(pattern.to_string()));
        }
    }

    fn regex(
        &self,
        b: &mut Builder<'_>,
        target: Operand<'_>,
        pattern: &str,
        case_insensitive: bool,
    ) {
        // PCRE (MariaDB) and ICU (MySQL) both take inline flags; they override whatever
        // the collation would decide.
        Self::binary_text(b, target);
        b.push(" REGEXP ");
        let flag = if case_insensitive { "(?i)" } else { "(?-i)" };
        b.param(SqlValue::Text(format!("{flag}{pattern}")));
    }

    fn json_contains(
        &self,
        b: &mut Builder<'_>,
        svc: &Service,
        column: &Column,
        value: &serde_json::Value,
        contained_in: bool,
    ) {
        // Qualified: the SQL walks array elements in subqueries of its own.
        let target = |b: &mut Builder<'_>| b.qualified(svc, &column.name);
        super::containment::write_mysql(b, &target, value, contained_in);
    }

    fn is_distinct(&self, b: &mut Builder<'_>, column: &Column, value: SqlValue) {
        b.push("NOT (");
        b.ident(&column.name);
        b.push(" <=> ");
        b.param_for(column, value);
        b.push(")");
    }

    fn limit_offset(&self, b: &mut Builder<'_>, limit: Option<u64>, offset: u64) {
        match limit {
            Some(l) => {
                b.push(" LIMIT ");
                b.param(SqlValue::Int(i64::try_from(l).unwrap_or(i64::MAX)));
            }
            None if offset > 0 => {
                b.push(" LIMIT ");
                b.push(NO_LIMIT);
            }
            None => return,
        }
        if offset > 0 {
            b.push(" OFFSET ");
            b.param(SqlValue::Int(i64::try_from(offset).unwrap_or(i64::MAX)));
        }
    }

    fn max_params(&self) -> usize {
        MAX_PARAMS
    }

    fn default_values(&self) -> &'static str {
        // MySQL has no `DEFAULT VALUES`.
        " () VALUES ()"
    }

    fn lock_rows(&self) -> &'static str {
        " FOR UPDATE"
    }

    fn default_expr(&self, _column: &Column) -> String {
        // The column's default, or NULL when it has none.
        "DEFAULT".into()
    }

    fn upsert(&self, b: &mut Builder<'_>, svc: &Service, columns: &[usize], c: &OnConflict) {
        // MySQL resolves a conflict on any unique key; it cannot be limited to `c.columns`.
        b.push(" ON DUPLICATE KEY UPDATE ");
        let updatable = super::merge_columns(columns, c);
        if super::resolution_is_merge(c) && !updatable.is_empty() {
            for (n, i) in updatable.iter().enumerate() {
                if n > 0 {
                    b.push(", ");
                }
                let name = &svc.columns[*i].name;
                b.ident(name);
                b.push(" = VALUES(");
                b.ident(name);
                b.push(")");
            }
        } else {
            // A no-op update keeps the existing row (ignore-duplicates). Unlike INSERT
            // IGNORE it does not turn other errors (NOT NULL, foreign keys) into warnings.
            // It raises a session flag, so that the executor can tell the rows RETURNING
            // hands back for duplicates from the inserted ones.
            let keep = c
                .columns
                .first()
                .or(columns.first())
                .map(|i| svc.columns[*i].name.as_str());
            if let Some(name) = keep {
                b.flags_duplicates = true;
                b.ident(name);
                b.push(" = IF((");
                b.push(DUPLICATE_FLAG);
                b.push(" := 1) = 1");
                if !svc.primary_key.is_empty() {
                    // Without RETURNING, the rows are read back by key: collect the keys
                    // of the rows left alone, so that the executor can leave them out.
                    b.collects_duplicate_keys = true;
                    b.push(" AND (");
                    b.push(DUPLICATE_KEYS);
                    b.push(" := CONCAT_WS(CHAR(30), ");
                    b.push(DUPLICATE_KEYS);
                    b.push(", CONCAT_WS(CHAR(31)");
                    for k in &svc.primary_key {
                        b.push(", CAST(");
                        b.ident(k);
                        b.push(" AS CHAR)");
                    }
                    b.push("))) IS NOT NULL");
                }
                b.push(", ");
                b.ident(name);
                b.push(", ");
                b.ident(name);
                b.push(")");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, kind: ValueKind, declared: &str, nullable: bool) -> Column {
        Column {
            nullable,
            ..Column::plain(name, declared, kind)
        }
    }

    fn sql(f: impl FnOnce(&mut Builder<'_>)) -> (String, Vec<SqlValue>) {
        let mut b = Builder::new(&MARIADB);
        f(&mut b);
        let s = b.finish();
        (s.sql, s.params)
    }

    #[test]
    fn quoting_doubles_backticks() {
        let mut out = String::new();
        MARIADB.quote_ident(&mut out, "we`ird name");
        assert_eq!(out, "`we``ird name`");
    }

    #[test]
    fn output_columns_decode_as_plain_values() {
        let cases = [
            (col("a", ValueKind::Integer, "int(11)", true), "`a`"),
            (
                col("a", ValueKind::Integer, "bigint(20) unsigned", true),
                "CAST(`a` AS CHAR)",
            ),
            (col("a", ValueKind::Decimal, "decimal(20,2)", true), "`a`"),
            (col("a", ValueKind::Date, "date", true), "CAST(`a` AS CHAR)"),
            (
                col("a", ValueKind::Timestamp, "datetime", true),
                "CAST(`a` AS CHAR)",
            ),
            (
                col("a", ValueKind::Timestamp, "datetime(6)", true),
                "IF(MICROSECOND(`a`) = 0, DATE_FORMAT(`a`, '%Y-%m-%d %H:%i:%s'), \
                 TRIM(TRAILING '0' FROM DATE_FORMAT(`a`, '%Y-%m-%d %H:%i:%s.%f')))",
            ),
            (col("a", ValueKind::Uuid, "uuid", true), "CAST(`a` AS CHAR)"),
            (col("a", ValueKind::Json, "json", true), "`a`"),
            (col("a", ValueKind::Boolean, "tinyint(1)", true), "`a`"),
        ];
        for (c, want) in cases {
            let (s, _) = sql(|b| MARIADB.select_column(b, &c));
            assert_eq!(s, want, "{}", c.declared_type);
        }
    }

    #[test]
    fn like_and_regex_case_rules() {
        let c = col("name", ValueKind::Text, "text", false);
        let (s, p) = sql(|b| MARIADB.like(b, Operand::Column(&c), "A%", false));
        assert_eq!(
            s,
            "CONVERT(`name` USING utf8mb4) COLLATE utf8mb4_bin LIKE ?"
        );
        assert_eq!(p, [SqlValue::Text("A%".into())]);
        let (s, _) = sql(|b| MARIADB.like(b, Operand::Column(&c), "a%", true));
        assert_eq!(
            s,
            "LOWER(CONVERT(`name` USING utf8mb4) COLLATE utf8mb4_bin) LIKE LOWER(?)"
        );
        let (s, p) = sql(|b| MARIADB.regex(b, Operand::Column(&c), "^A", true));
        assert_eq!(
            s,
            "CONVERT(`name` USING utf8mb4) COLLATE utf8mb4_bin REGEXP ?"
        );
        assert_eq!(p, [SqlValue::Text("(?i)^A".into())]);
    }

    #[test]
    fn limits_and_offsets() {
        let (s, p) = sql(|b| MARIADB.limit_offset(b, None, 5));
        assert_eq!(s, " LIMIT 18446744073709551615 OFFSET ?");
        assert_eq!(p, [SqlValue::Int(5)]);
        let (s, p) = sql(|b| MARIADB.limit_offset(b, Some(10), 0));
        assert_eq!(s, " LIMIT ?");
        assert_eq!(p, [SqlValue::Int(10)]);
        let (s, _) = sql(|b| MARIADB.limit_offset(b, None, 0));
        assert_eq!(s, "");
    }

    #[test]
    fn placeholders_cast_text_carried_values() {
        let mut out = String::new();
        MARIADB.placeholder(&mut out, 1, None, &SqlValue::Decimal("1.10".into()));
        assert_eq!(out, "CAST(? AS DECIMAL(65,30))");
        out.clear();
        MARIADB.placeholder(&mut out, 1, None, &SqlValue::Int(1));
        assert_eq!(out, "?");
    }

    #[test]
    fn returning_by_server() {
        assert!(MARIADB.returning(WriteKind::Insert));
        assert!(MARIADB.returning(WriteKind::Delete));
        assert!(!MARIADB.returning(WriteKind::Update));
        assert!(!MYSQL.returning(WriteKind::Insert));
        assert!(!MYSQL.returning(WriteKind::Delete));
    }

    #[test]
    fn fraction_detection() {
        assert!(has_fraction("datetime(6)"));
        assert!(has_fraction("time(3)"));
        assert!(!has_fraction("datetime"));
        assert!(!has_fraction("timestamp(0)"));
    }
}
