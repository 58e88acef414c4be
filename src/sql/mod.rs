//! Statements: plans turned into SQL text plus bound parameters for one dialect. Every
//! backend difference (quoting, placeholders, LIKE/regex, NULL ordering, RETURNING, upsert,
//! parameter limits) sits behind the `Dialect` trait; the builders here are shared. Knows
//! SQL, never HTTP. Identifiers come only from the schema cache and are always quoted.

pub mod containment;
pub mod embed;
pub mod mysql;
pub mod postgres;
mod shape;
pub mod sqlite;

pub use shape::ShapeCache;

use crate::plan::aggregate;
use crate::plan::json::{JSON_RANK_NUMBER, JSON_RANK_STRING};
use crate::plan::write::{Assign, InsertBatch, OnConflict};
use crate::plan::{
    Aggregate, AggregateCast, Condition, JsonPath, JsonScalar, JsonTest, OrderBy, ReadPlan,
    Selected, SqlValue,
};
use crate::request::ast::{CmpOp, JsonOperand};
use crate::request::prefer::Resolution;
use crate::schema::{Column, Service};
use embed::{EmbedSql, Parent};

/// SQL text and its parameters, in placeholder order, and what the statement is: set by
/// the builder that wrote it, so that no later stage reads SQL text to find out.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<SqlValue>,
    /// The text holds a value written as a literal (see `Builder::text_literal`): it is
    /// prepared for this one use and kept in no cache.
    pub single_use: bool,
    pub kind: StatementKind,
    /// It returns rows (`SELECT`, or a write with `RETURNING`).
    pub returns_rows: bool,
    /// A MySQL ignore-duplicates upsert: every row RETURNING hands back ends with the
    /// duplicate flag (1 for a row left alone, which the executor skips).
    pub flags_duplicates: bool,
    /// A MySQL ignore-duplicates upsert without RETURNING: the keys of the rows left alone
    /// are collected in a session variable (`sql::mysql::DUPLICATE_KEYS`).
    pub collects_duplicate_keys: bool,
}

/// What a statement does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatementKind {
    #[default]
    Select,
    Count,
    Insert,
    Update,
    Delete,
}

/// Where an aggregate is written (`Dialect::aggregate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateUse {
    /// An item of a statement's select list, wrapped for the decoder as `select_column`
    /// wraps a column.
    Select,
    /// An ORDER BY term: a value that sorts as the answer's value does.
    Order,
    /// A value inside embedded JSON, written as `embed_value` writes a column.
    Embed,
}

/// A value inside a JSON column, for a dialect to write: the column and the path's steps
/// (at least one).
#[derive(Clone, Copy)]
pub struct JsonAt<'a> {
    pub column: &'a Column,
    pub path: &'a [JsonOperand],
    /// Qualify the column with this service's table (or the embed in scope), as ORDER BY
    /// does; else the bare column, as the select list and WHERE do.
    pub table: Option<&'a Service>,
}

impl JsonAt<'_> {
    /// The JSON column itself.
    pub fn write_column(&self, b: &mut Builder<'_>) {
        match self.table {
            Some(svc) => b.qualified(svc, &self.column.name),
            None => b.ident(&self.column.name),
        }
    }
}

/// What `like`/`regex` test: a column, or the text at a JSON path (`data->>name`).
#[derive(Clone, Copy)]
pub enum Operand<'a> {
    Column(&'a Column),
    JsonText(JsonAt<'a>),
}

/// The kinds of write whose rows a dialect may or may not return with `RETURNING`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    Insert,
    Update,
    Delete,
}

pub trait Dialect: Send + Sync {
    /// A number of its own, distinct for dialects that may write the same plan
    /// differently: the first part of every cached shape.
    fn shape_tag(&self) -> u32;
    /// Whether the dialect writes a read's LIMIT into the text as a number rather than a
    /// parameter; the limit is then part of the statement's shape.
    fn literal_limit(&self) -> bool {
        false
    }
    fn quote_ident(&self, out: &mut String, ident: &str);
    /// The placeholder of parameter `n` (1-based), bound to `value`, compared with or
    /// stored into `column` when there is one (a dialect may add a cast).
    fn placeholder(&self, out: &mut String, n: usize, column: Option<&Column>, value: &SqlValue);
    /// One column of a SELECT or RETURNING list (a dialect may wrap it for decoding).
    fn select_column(&self, b: &mut Builder<'_>, column: &Column) {
        b.ident(&column.name);
    }
    /// Whether `kind` statements can return rows with `RETURNING`; when not, the write
    /// flow reads the rows in the same transaction.
    fn returning(&self, _kind: WriteKind) -> bool {
        true
    }
    /// What makes a SELECT lock the rows it reads until the transaction ends (` FOR UPDATE`),
    /// so a check and the write after it cannot be overtaken; empty where writes are
    /// serialized anyway (SQLite's single writer).
    fn lock_rows(&self) -> &'static str {
        ""
    }
    /// The tail of an INSERT of a row with every column defaulted.
    fn default_values(&self) -> &'static str {
        " DEFAULT VALUES"
    }
    /// The start of an INSERT (`INSERT INTO `, or e.g. `INSERT IGNORE INTO `).
    fn insert_prefix(&self, _on_conflict: Option<&OnConflict>) -> &'static str {
        "INSERT INTO "
    }
    /// `col LIKE pattern` with PostgreSQL semantics: `like` case-sensitive, `ilike` not.
    fn like(&self, b: &mut Builder<'_>, target: Operand<'_>, pattern: &str, case_insensitive: bool);
    /// POSIX-style regular expression match.
    fn regex(
        &self,
        b: &mut Builder<'_>,
        target: Operand<'_>,
        pattern: &str,
        case_insensitive: bool,
    );
    /// `cs`/`cd` on a JSON column: `column` contains `value` (with `contained_in`, is
    /// contained in it) as PostgreSQL's jsonb `@>`/`<@` decide (`containment.rs`); NULL
    /// when the column is NULL.
    fn json_contains(
        &self,
        b: &mut Builder<'_>,
        svc: &Service,
        column: &Column,
        value: &serde_json::Value,
        contained_in: bool,
    );
    /// A string literal written into the text (`'it''s'`): the keys of a JSON path, so
    /// that an index on the same expression can serve a filter or an order.
    fn quote_string(&self, out: &mut String, s: &str) {
        quote_doubling(out, s, '\'');
    }
    /// The JSON text of the value at `at` (SQL NULL where the path leads nowhere), as
    /// PostgreSQL's `->` gives it: what a select item `data->a` reads.
    fn json_value(&self, b: &mut Builder<'_>, at: JsonAt<'_>);
    /// The value at `at` as text, as PostgreSQL's `->>` gives it: a string's content, other
    /// values' JSON text, SQL NULL for JSON null and where the path leads nowhere.
    fn json_text(&self, b: &mut Builder<'_>, at: JsonAt<'_>);
    /// The rank of the type of the value at `at` in PostgreSQL's order of `jsonb` values
    /// (`plan::json::JSON_RANK_*`: null 0, string 1, number 2, false 3, true 4, array 5,
    /// object 6); SQL NULL where the path leads nowhere.
    fn json_rank(&self, b: &mut Builder<'_>, at: JsonAt<'_>);
    /// The value at `at` as a number; only evaluated where its rank is a number's.
    fn json_number(&self, b: &mut Builder<'_>, at: JsonAt<'_>);
    /// One ORDER BY term of an expression (a column, a value inside a JSON column) with
    /// PostgreSQL's NULL placement made explicit; nothing is said of NULLs when the
    /// expression cannot be NULL (`may_be_null` false).
    fn order_expr(
        &self,
        b: &mut Builder<'_>,
        expr: &dyn Fn(&mut Builder<'_>),
        descending: bool,
        nulls_first: bool,
        may_be_null: bool,
    );
    /// NULL-safe inequality.
    fn is_distinct(&self, b: &mut Builder<'_>, column: &Column, value: SqlValue);
    /// One ORDER BY term of a column (qualified by `order_target`) with PostgreSQL's NULL
    /// placement made explicit.
    fn order_term(&self, b: &mut Builder<'_>, svc: &Service, column: &Column, o: &OrderBy) {
        self.order_expr(
            b,
            &|b: &mut Builder<'_>| b.order_target(svc, column, o),
            o.descending,
            o.nulls_first,
            column.nullable,
        );
    }
    /// `agg` of `column` (of the table in scope) over each group of rows.
    fn aggregate(&self, b: &mut Builder<'_>, column: &Column, agg: &Aggregate, to: AggregateUse);
    /// The value `inner` writes, cast as `cast` asks (`::text`, `::int`, ...), in the
    /// dialect's own type names and rounding.
    fn cast(
        &self,
        b: &mut Builder<'_>,
        cast: AggregateCast,
        inner: &mut dyn FnMut(&mut Builder<'_>),
    );
    /// `LIMIT`/`OFFSET` clause (either may be absent).
    fn limit_offset(&self, b: &mut Builder<'_>, limit: Option<u64>, offset: u64);
    /// The most bound parameters one statement may carry.
    fn max_params(&self) -> usize;
    /// The SQL expression of a column's default, for `UPDATE ... SET col = <default>`.
    fn default_expr(&self, column: &Column) -> String;
    /// The rows of an INSERT in a form of the dialect's own (PostgreSQL: one array per
    /// column, `SELECT * FROM unnest(...)`) instead of `VALUES (...), (...)`; false when
    /// it has none for these columns, and nothing was written.
    fn insert_rows(
        &self,
        _b: &mut Builder<'_>,
        _svc: &Service,
        _columns: &[usize],
        _rows: &[Vec<SqlValue>],
    ) -> bool {
        false
    }
    /// Embedding (`sql/embed.rs`): the value of `column` (of the table in scope) inside an
    /// embedded JSON object, the way the response encoder writes it at the top level.
    fn embed_value(&self, b: &mut Builder<'_>, column: &Column) {
        b.ident(&column.name);
    }
    /// The JSON of embed `e` for the row in scope, as an expression: an object or NULL
    /// (to-one), an array of objects, `[]` when none (to-many).
    fn embed(&self, b: &mut Builder<'_>, e: &EmbedSql<'_>);
    /// An embed as an item of a statement's own select list (text for the decoder).
    fn embed_column(&self, b: &mut Builder<'_>, e: &EmbedSql<'_>) {
        self.embed(b, e);
    }
    /// Columns a dialect adds after a RETURNING list (MySQL: the duplicate flag of an
    /// ignore-duplicates upsert).
    fn returning_tail(&self, _b: &mut Builder<'_>) {}
    /// The upsert tail of an INSERT: standard `ON CONFLICT (...) DO UPDATE SET c =
    /// EXCLUDED.c` / `DO NOTHING` (SQLite, PostgreSQL); MySQL overrides it.
    fn upsert(&self, b: &mut Builder<'_>, svc: &Service, columns: &[usize], c: &OnConflict) {
        b.push(" ON CONFLICT (");
        for (n, i) in c.columns.iter().enumerate() {
            if n > 0 {
                b.push(", ");
            }
            b.ident(&svc.columns[*i].name);
        }
        b.push(")");
        let updatable = merge_columns(columns, c);
        if resolution_is_merge(c) && !updatable.is_empty() {
            b.push(" DO UPDATE SET ");
            for (n, i) in updatable.iter().enumerate() {
                if n > 0 {
                    b.push(", ");
                }
                let name = &svc.columns[*i].name;
                b.ident(name);
                b.push(" = EXCLUDED.");
                b.ident(name);
            }
        } else {
            b.push(" DO NOTHING");
        }
    }
}

pub struct Builder<'d> {
    pub sql: String,
    pub params: Vec<SqlValue>,
    pub dialect: &'d dyn Dialect,
    /// False when the statement's text is already known (its shape is cached): only the
    /// parameters are collected.
    text: bool,
    single_use: bool,
    /// The table in scope is an embed's alias (`_e<n>`), not the statement's own table.
    pub scope: Option<u32>,
    /// What the statement is (copied into the `Statement`).
    pub kind: StatementKind,
    pub returns_rows: bool,
    pub flags_duplicates: bool,
    pub collects_duplicate_keys: bool,
    /// Aliases handed out so far (`_e1`, `_e2`, ...).
    aliases: u32,
}

impl<'d> Builder<'d> {
    pub fn new(dialect: &'d dyn Dialect) -> Self {
        Builder {
            sql: String::with_capacity(256),
            params: Vec::new(),
            dialect,
            text: true,
            single_use: false,
            scope: None,
            aliases: 0,
            kind: StatementKind::Select,
            returns_rows: true,
            flags_duplicates: false,
            collects_duplicate_keys: false,
        }
    }

    /// A builder that collects parameters and writes no text.
    fn params_only(dialect: &'d dyn Dialect) -> Self {
        Builder {
            sql: String::new(),
            params: Vec::new(),
            dialect,
            text: false,
            single_use: false,
            scope: None,
            aliases: 0,
            kind: StatementKind::Select,
            returns_rows: true,
            flags_duplicates: false,
            collects_duplicate_keys: false,
        }
    }

    /// A statement of `kind`, returning rows or not (a write until its RETURNING).
    fn start(&mut self, kind: StatementKind) {
        self.kind = kind;
        self.returns_rows = matches!(kind, StatementKind::Select | StatementKind::Count);
    }

    /// A number for a new table alias, unique in the statement.
    pub fn next_alias(&mut self) -> u32 {
        self.aliases += 1;
        self.aliases
    }

    /// What an ORDER BY term sorts by (dialects call this from `order_term`): the column
    /// qualified by its table, or a to-one related row's column (`order=rel(col)`).
    pub fn order_target(&mut self, svc: &Service, column: &Column, o: &OrderBy) {
        embed::order_target(self, svc, column, o);
    }

    pub fn push(&mut self, s: &str) {
        if self.text {
            self.sql.push_str(s);
        }
    }

    pub fn ident(&mut self, name: &str) {
        if self.text {
            self.dialect.quote_ident(&mut self.sql, name);
        }
    }

    /// A number written into the text (a LIMIT), where a parameter would cost more.
    pub fn number(&mut self, n: i64) {
        if self.text {
            self.sql.push_str(itoa::Buffer::new().format(n));
        }
    }

    /// A text value written into the SQL as a quoted literal, for a planner that can use a
    /// literal where it cannot use a parameter (an index range for SQLite's `GLOB 'abc*'`).
    /// The statement becomes single-use: prepared for this request only and kept in no
    /// cache, since its text differs with every value. A value holding a NUL is bound as a
    /// parameter instead. The quoting is SQL's (`'` doubled), all SQLite needs; MySQL's
    /// backslash escapes would need more, so only the SQLite dialect calls this.
    pub fn text_literal(&mut self, s: &str) {
        self.single_use = true;
        if s.contains('\0') {
            return self.param(SqlValue::Text(s.to_owned()));
        }
        if self.text {
            quote_doubling(&mut self.sql, s, '\'');
        }
    }

    /// A string literal in the text, quoted by the dialect (`Dialect::quote_string`).
    pub fn string_literal(&mut self, s: &str) {
        if self.text {
            self.dialect.quote_string(&mut self.sql, s);
        }
    }

    /// What `like`/`regex` test: the column's name, or the text at a JSON path.
    pub fn operand(&mut self, target: Operand<'_>) {
        match target {
            Operand::Column(c) => self.ident(&c.name),
            Operand::JsonText(at) => {
                let d = self.dialect;
                d.json_text(self, at);
            }
        }
    }

    /// One item of a select list: a column as the dialect decodes it, an aggregate of it,
    /// or the JSON at a path into it.
    pub fn output(&mut self, svc: &Service, s: &Selected) {
        let d = self.dialect;
        let column = &svc.columns[s.column];
        match (&s.aggregate, &s.path) {
            (Some(agg), _) => d.aggregate(self, column, agg, AggregateUse::Select),
            (None, None) => d.select_column(self, column),
            (None, Some(p)) => d.json_value(
                self,
                JsonAt {
                    column,
                    path: &p.steps,
                    table: None,
                },
            ),
        }
    }

    /// A parameter with no column context (limits, offsets).
    pub fn param(&mut self, v: SqlValue) {
        if self.text {
            let n = self.params.len() + 1;
            self.dialect.placeholder(&mut self.sql, n, None, &v);
        }
        self.params.push(v);
    }

    /// A parameter compared with or stored into `column`.
    pub fn param_for(&mut self, column: &Column, v: SqlValue) {
        if self.text {
            let n = self.params.len() + 1;
            self.dialect.placeholder(&mut self.sql, n, Some(column), &v);
        }
        self.params.push(v);
    }

    /// `"table"."column"`: unambiguous in ORDER BY even when the select list casts (an
    /// embed's alias instead of the table within an embed).
    pub fn qualified(&mut self, svc: &Service, column: &str) {
        match self.scope {
            Some(n) => embed::alias(self, 'e', n),
            None => self.table(svc),
        }
        self.push(".");
        self.ident(column);
    }

    pub fn table(&mut self, svc: &Service) {
        if let Some(schema) = &svc.table.schema {
            self.ident(schema);
            self.push(".");
        }
        self.ident(&svc.table.bare_name);
    }

    pub fn finish(self) -> Statement {
        Statement {
            sql: self.sql,
            params: self.params,
            single_use: self.single_use,
            kind: self.kind,
            returns_rows: self.returns_rows,
            flags_duplicates: self.flags_duplicates,
            collects_duplicate_keys: self.collects_duplicate_keys,
        }
    }

    fn column_list(&mut self, svc: &Service, columns: impl IntoIterator<Item = usize>) {
        for (n, i) in columns.into_iter().enumerate() {
            if n > 0 {
                self.push(", ");
            }
            self.ident(&svc.columns[i].name);
        }
    }

    /// Output columns, each as the dialect decodes it.
    fn output_list(&mut self, svc: &Service, selected: &[Selected]) {
        for (n, s) in selected.iter().enumerate() {
            if n > 0 {
                self.push(", ");
            }
            self.output(svc, s);
        }
    }
}

/// `count(*)`, `sum("col")`, ... of `column`: the standard call that every dialect wraps
/// as it needs; `function` names the SQL function when the dialect has its own.
pub fn aggregate_call(b: &mut Builder<'_>, column: &Column, agg: &Aggregate, function: &str) {
    b.push(function);
    b.push("(");
    if agg.whole_row {
        b.push("*");
    } else {
        b.ident(&column.name);
    }
    b.push(")");
}

/// ` GROUP BY col, ...` of an aggregated plan with grouping columns (nothing otherwise),
/// each column qualified by the table in scope.
pub fn group_by(b: &mut Builder<'_>, plan: &ReadPlan) {
    if !aggregate::aggregated(&plan.select) {
        return;
    }
    let grouping = aggregate::grouping(&plan.select);
    for (n, c) in grouping.iter().enumerate() {
        b.push(if n == 0 { " GROUP BY " } else { ", " });
        b.qualified(&plan.service, &plan.service.columns[*c].name);
    }
}

/// A `like` pattern (`%`/`_` wildcards) that starts with a literal character, the kind an
/// index on the column can narrow to a range. Part of a `like`'s shape, so that a dialect
/// may write such patterns differently (SQLite writes them as literals).
pub fn like_has_prefix(pattern: &str) -> bool {
    pattern
        .chars()
        .next()
        .is_some_and(|c| !matches!(c, '%' | '_'))
}

fn cmp_sql(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => " = ",
        CmpOp::Neq => " <> ",
        CmpOp::Gt => " > ",
        CmpOp::Gte => " >= ",
        CmpOp::Lt => " < ",
        CmpOp::Lte => " <= ",
        // Like/match are routed to the dialect before reaching here.
        CmpOp::Like | CmpOp::Ilike | CmpOp::Match | CmpOp::Imatch => " = ",
    }
}

pub fn write_condition(b: &mut Builder<'_>, svc: &Service, c: &Condition) {
    match c {
        Condition::And(parts) | Condition::Or(parts) => {
            let is_and = matches!(c, Condition::And(_));
            if parts.is_empty() {
                b.push(if is_and { "1=1" } else { "1=0" });
                return;
            }
            b.push("(");
            for (n, p) in parts.iter().enumerate() {
                if n > 0 {
                    b.push(if is_and { " AND " } else { " OR " });
                }
                write_condition(b, svc, p);
            }
            b.push(")");
        }
        Condition::Not(inner) => {
            b.push("NOT (");
            write_condition(b, svc, inner);
            b.push(")");
        }
        Condition::Const(true) => b.push("1=1"),
        Condition::Const(false) => b.push("1=0"),
        Condition::Compare { column, op, value } => {
            let col = &svc.columns[*column];
            b.ident(&col.name);
            b.push(cmp_sql(*op));
            b.param_for(col, value.clone());
        }
        Condition::Like {
            column,
            pattern,
            case_insensitive,
        } => {
            let d = b.dialect;
            let target = Operand::Column(&svc.columns[*column]);
            d.like(b, target, pattern, *case_insensitive)
        }
        Condition::Regex {
            column,
            pattern,
            case_insensitive,
        } => {
            let d = b.dialect;
            let target = Operand::Column(&svc.columns[*column]);
            d.regex(b, target, pattern, *case_insensitive)
        }
        Condition::In { column, values } => {
            let col = &svc.columns[*column];
            b.ident(&col.name);
            b.push(" IN (");
            for (n, v) in values.iter().enumerate() {
                if n > 0 {
                    b.push(", ");
                }
                b.param_for(col, v.clone());
            }
            b.push(")");
        }
        Condition::IsNull { column } => {
            b.ident(&svc.columns[*column].name);
            b.push(" IS NULL");
        }
        Condition::IsBool { column, value } => {
            b.ident(&svc.columns[*column].name);
            b.push(if *value { " IS TRUE" } else { " IS FALSE" });
        }
        Condition::IsDistinct { column, value } => {
            let d = b.dialect;
            d.is_distinct(b, &svc.columns[*column], value.clone())
        }
        Condition::Related(r) => embed::exists(b, svc, r),
        Condition::Containment { column, op, value } => {
            // Only PostgreSQL has array and range columns: its own operators.
            let col = &svc.columns[*column];
            b.ident(&col.name);
            b.push(" ");
            b.push(op.sql());
            b.push(" ");
            b.param_for(col, value.clone());
        }
        Condition::JsonContains {
            column,
            value,
            contained_in,
        } => {
            let d = b.dialect;
            d.json_contains(b, svc, &svc.columns[*column], value, *contained_in)
        }
        Condition::Json { column, path, test } => {
            let at = JsonAt {
                column: &svc.columns[*column],
                path: &path.steps,
                table: None,
            };
            json_condition(b, at, path.text, test);
        }
    }
}

/// A test of the value at `at`: its text (`->>`), or the JSON value (`->`) compared in
/// PostgreSQL's `jsonb` order, by the rank of its type and, within numbers and strings,
/// by its value. Written once from each dialect's JSON functions, so every backend gives
/// the same answer.
fn json_condition(b: &mut Builder<'_>, at: JsonAt<'_>, text: bool, test: &JsonTest) {
    let d = b.dialect;
    match test {
        JsonTest::IsNull => {
            if text {
                d.json_text(b, at);
            } else {
                d.json_value(b, at);
            }
            b.push(" IS NULL");
        }
        JsonTest::TextCompare { op, value } => {
            d.json_text(b, at);
            b.push(cmp_sql(*op));
            b.param(SqlValue::Text(value.clone()));
        }
        JsonTest::TextIn(values) => {
            d.json_text(b, at);
            b.push(" IN (");
            for (n, v) in values.iter().enumerate() {
                if n > 0 {
                    b.push(", ");
                }
                b.param(SqlValue::Text(v.clone()));
            }
            b.push(")");
        }
        JsonTest::TextDistinct(v) => {
            b.push("(");
            d.json_text(b, at);
            b.push(" = ");
            b.param(SqlValue::Text(v.clone()));
            b.push(") IS NOT TRUE");
        }
        JsonTest::Like {
            pattern,
            case_insensitive,
        } => d.like(b, Operand::JsonText(at), pattern, *case_insensitive),
        JsonTest::Regex {
            pattern,
            case_insensitive,
        } => d.regex(b, Operand::JsonText(at), pattern, *case_insensitive),
        JsonTest::Compare { op, value } => json_compare(b, at, *op, value),
        JsonTest::Distinct(value) => {
            b.push("(");
            json_compare(b, at, CmpOp::Eq, value);
            b.push(") IS NOT TRUE");
        }
    }
}

/// `data->n OP scalar` in `jsonb` order: a value of another type compares by its type's
/// rank; a number with a number, a string with a string.
fn json_compare(b: &mut Builder<'_>, at: JsonAt<'_>, op: CmpOp, value: &JsonScalar) {
    let d = b.dialect;
    let rank = value.rank();
    let (same, param) = match value {
        JsonScalar::Number(n) => (JSON_RANK_NUMBER, n.clone()),
        JsonScalar::String(s) => (JSON_RANK_STRING, SqlValue::Text(s.clone())),
        // Null, false and true are alone in their rank: the rank is the comparison.
        JsonScalar::Null | JsonScalar::Bool(_) => {
            b.push("(");
            d.json_rank(b, at);
            b.push(cmp_sql(op));
            b.number(rank);
            b.push(")");
            return;
        }
    };
    b.push("(CASE WHEN ");
    d.json_rank(b, at);
    b.push(" = ");
    b.number(same);
    b.push(" THEN ");
    if same == JSON_RANK_NUMBER {
        d.json_number(b, at);
    } else {
        d.json_text(b, at);
    }
    b.push(cmp_sql(op));
    b.param(param);
    b.push(" ELSE ");
    d.json_rank(b, at);
    b.push(cmp_sql(op));
    b.number(rank);
    b.push(" END)");
}

/// The ORDER BY terms of a value inside a JSON column: its text (`->>`), or (`->`) the
/// rank of its type, then numbers by value, then the text, which is `jsonb`'s order for
/// scalars.
pub(crate) fn json_order(b: &mut Builder<'_>, svc: &Service, o: &OrderBy, path: &JsonPath) {
    let d = b.dialect;
    let at = JsonAt {
        column: &svc.columns[o.column],
        path: &path.steps,
        table: Some(svc),
    };
    let text = move |b: &mut Builder<'_>| d.json_text(b, at);
    if path.text {
        return d.order_expr(b, &text, o.descending, o.nulls_first, true);
    }
    d.order_expr(
        b,
        &move |b| d.json_rank(b, at),
        o.descending,
        o.nulls_first,
        true,
    );
    b.push(", ");
    let number = move |b: &mut Builder<'_>| {
        b.push("CASE WHEN ");
        d.json_rank(b, at);
        b.push(" = ");
        b.number(JSON_RANK_NUMBER);
        b.push(" THEN ");
        d.json_number(b, at);
        b.push(" END");
    };
    d.order_expr(b, &number, o.descending, o.nulls_first, true);
    b.push(", ");
    d.order_expr(b, &text, o.descending, o.nulls_first, true);
}

/// `$.a[0]."b c"`: a path as SQLite's and MySQL's JSON functions take it. A key that is
/// not a plain identifier is quoted as a JSON string; `negative` writes an index counted
/// from the end (`-1` is the last element).
pub(crate) fn json_path_text(path: &[JsonOperand], negative: fn(u64) -> String) -> String {
    let mut out = String::from("$");
    for step in path {
        match step {
            JsonOperand::Key(k) => {
                out.push('.');
                let plain = k
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if plain {
                    out.push_str(k);
                } else {
                    out.push_str(&serde_json::to_string(k).unwrap_or_default());
                }
            }
            JsonOperand::Index(i) if *i >= 0 => {
                out.push('[');
                out.push_str(itoa::Buffer::new().format(*i));
                out.push(']');
            }
            JsonOperand::Index(i) => {
                out.push('[');
                out.push_str(&negative(i.unsigned_abs()));
                out.push(']');
            }
        }
    }
    out
}

fn where_clause(b: &mut Builder<'_>, svc: &Service, filter: Option<&Condition>) {
    if let Some(f) = filter {
        b.push(" WHERE ");
        write_condition(b, svc, f);
    }
}

fn returning(b: &mut Builder<'_>, svc: &Service, returning: &[Selected]) {
    if returning.is_empty() {
        return;
    }
    b.returns_rows = true;
    b.push(" RETURNING ");
    b.output_list(svc, returning);
    let d = b.dialect;
    d.returning_tail(b);
}

/// `SELECT cols FROM t WHERE .. ORDER BY .. LIMIT .. OFFSET ..`
/// `ident` quoted with `q`: a `q` inside is doubled and a NUL (which no catalog returns)
/// is dropped. Names without either are copied whole.
pub(crate) fn quote_doubling(out: &mut String, ident: &str, q: char) {
    out.push(q);
    if ident.bytes().any(|b| b == 0 || char::from(b) == q) {
        for c in ident.chars() {
            if c == q {
                out.push(q);
            }
            if c != '\0' {
                out.push(c);
            }
        }
    } else {
        out.push_str(ident);
    }
    out.push(q);
}

/// A statement of `plan` written by `write`: its text from the service's shape cache when
/// the shape was seen before, else built and kept.
fn cached<P>(
    d: &dyn Dialect,
    cache: &ShapeCache,
    key: Option<Vec<u32>>,
    plan: &P,
    write: fn(&mut Builder<'_>, &P),
) -> Statement {
    let build = || {
        let mut b = Builder::new(d);
        write(&mut b, plan);
        b.finish()
    };
    let Some(key) = key else { return build() };
    if let Some(sql) = cache.get(&key) {
        let mut b = Builder::params_only(d);
        write(&mut b, plan);
        let stmt = Statement { sql, ..b.finish() };
        debug_assert_eq!(
            stmt,
            build(),
            "a cached shape's statement differs from its own"
        );
        return stmt;
    }
    let stmt = build();
    if !stmt.single_use {
        cache.put(key, &stmt.sql);
    }
    stmt
}

/// `SELECT cols FROM t WHERE .. ORDER BY .. LIMIT .. OFFSET ..`, its text built once per
/// shape.
pub fn select(d: &dyn Dialect, plan: &ReadPlan) -> Statement {
    let key = shape::read(d, shape::Kind::Select, plan);
    cached(d, &plan.service.statements, key, plan, write_select)
}

/// A read that locks the rows it reads until the transaction ends (the dialect's
/// `lock_rows`), for a check a write depends on.
pub fn select_locked(d: &dyn Dialect, plan: &ReadPlan) -> Statement {
    let mut stmt = select(d, plan);
    stmt.sql.push_str(d.lock_rows());
    stmt
}

/// The same statement built afresh, never from the cache (for benchmarks).
pub fn build_select(d: &dyn Dialect, plan: &ReadPlan) -> Statement {
    let mut b = Builder::new(d);
    write_select(&mut b, plan);
    b.finish()
}

fn write_select(b: &mut Builder<'_>, plan: &ReadPlan) {
    let svc = &plan.service;
    let d = b.dialect;
    b.start(StatementKind::Select);
    b.push("SELECT ");
    if plan.output_len() == 0 {
        b.push("1");
    } else if plan.embeds.is_empty() {
        b.output_list(svc, &plan.select);
    } else {
        for (n, o) in crate::plan::embed::outputs(plan).into_iter().enumerate() {
            if n > 0 {
                b.push(", ");
            }
            match o {
                crate::plan::embed::Output::Column(s) => b.output(svc, s),
                crate::plan::embed::Output::Embed(e) => {
                    let e = EmbedSql::new(b, e, Parent::Table(svc));
                    d.embed_column(b, &e);
                }
                crate::plan::embed::Output::Spread(e, s) => {
                    // One column of the related row: a scalar subquery, decoded and
                    // encoded like a column of the statement's own table.
                    let child = &e.plan.service.columns[s.column];
                    let e = EmbedSql::new(b, e, Parent::Table(svc));
                    b.push("(SELECT ");
                    d.select_column(b, child);
                    e.from_where(b);
                    b.push(" LIMIT 1)");
                }
            }
        }
    }
    b.push(" FROM ");
    b.table(svc);
    where_clause(b, svc, plan.filter.as_ref());
    group_by(b, plan);
    if !plan.order.is_empty() {
        b.push(" ORDER BY ");
        embed::order_list(b, svc, &plan.order);
    }
    d.limit_offset(b, plan.limit, plan.offset);
}

/// `SELECT count(*) FROM t WHERE ..` (the total, ignoring paging).
pub fn count(d: &dyn Dialect, plan: &ReadPlan) -> Statement {
    let key = shape::read(d, shape::Kind::Count, plan);
    cached(d, &plan.service.statements, key, plan, write_count)
}

fn write_count(b: &mut Builder<'_>, plan: &ReadPlan) {
    b.start(StatementKind::Count);
    count_query(b, plan);
}

/// `SELECT count(*) FROM t WHERE ..`: the rows of the read's answer, ignoring paging. An
/// aggregated read answers one row per group (one row without grouping columns), so it
/// counts the groups.
pub fn count_query(b: &mut Builder<'_>, plan: &ReadPlan) {
    let svc = &plan.service;
    if !aggregate::aggregated(&plan.select) {
        b.push("SELECT count(*) FROM ");
        b.table(svc);
        where_clause(b, svc, plan.filter.as_ref());
        return;
    }
    let grouping = aggregate::grouping(&plan.select);
    b.push("SELECT count(*) FROM (SELECT ");
    if grouping.is_empty() {
        b.push("count(*)");
    } else {
        b.column_list(svc, grouping.iter().copied());
    }
    b.push(" FROM ");
    b.table(svc);
    where_clause(b, svc, plan.filter.as_ref());
    group_by(b, plan);
    b.push(") AS q");
}

/// How many rows of `ncols` columns one INSERT statement carries (within the dialect's
/// parameter limit).
pub fn rows_per_insert(d: &dyn Dialect, ncols: usize) -> usize {
    (d.max_params() / ncols.max(1)).clamp(1, 1000)
}

/// The INSERT statements for one batch, each within the dialect's parameter limit.
pub fn insert(
    d: &dyn Dialect,
    svc: &Service,
    batch: &InsertBatch,
    on_conflict: Option<&OnConflict>,
    ret: &[Selected],
) -> Vec<Statement> {
    let ncols = batch.columns.len();
    if ncols == 0 {
        // All-default rows: one statement each.
        return batch
            .rows
            .iter()
            .map(|_| {
                let mut b = Builder::new(d);
                b.start(StatementKind::Insert);
                b.push(d.insert_prefix(on_conflict));
                b.table(svc);
                b.push(d.default_values());
                returning(&mut b, svc, ret);
                b.finish()
            })
            .collect();
    }
    if let Some(key) = shape::insert_one(d, batch, on_conflict, ret) {
        let one = InsertRows {
            svc,
            columns: &batch.columns,
            rows: &batch.rows,
            on_conflict,
            ret,
        };
        return vec![cached(d, &svc.statements, Some(key), &one, write_insert)];
    }
    let per_stmt = rows_per_insert(d, ncols);
    batch
        .rows
        .chunks(per_stmt)
        .map(|rows| {
            let mut b = Builder::new(d);
            let chunk = InsertRows {
                svc,
                columns: &batch.columns,
                rows,
                on_conflict,
                ret,
            };
            write_insert(&mut b, &chunk);
            b.finish()
        })
        .collect()
}

/// The rows of one INSERT statement and what goes with them.
struct InsertRows<'a> {
    svc: &'a Service,
    columns: &'a [usize],
    rows: &'a [Vec<SqlValue>],
    on_conflict: Option<&'a OnConflict>,
    ret: &'a [Selected],
}

fn write_insert(b: &mut Builder<'_>, i: &InsertRows<'_>) {
    let d = b.dialect;
    let svc = i.svc;
    b.start(StatementKind::Insert);
    b.push(d.insert_prefix(i.on_conflict));
    b.table(svc);
    b.push(" (");
    b.column_list(svc, i.columns.iter().copied());
    b.push(")");
    if !d.insert_rows(b, svc, i.columns, i.rows) {
        b.push(" VALUES ");
        for (r, row) in i.rows.iter().enumerate() {
            b.push(if r > 0 { ", (" } else { "(" });
            for (n, v) in row.iter().enumerate() {
                if n > 0 {
                    b.push(", ");
                }
                b.param_for(&svc.columns[i.columns[n]], v.clone());
            }
            b.push(")");
        }
    }
    if let Some(c) = i.on_conflict {
        d.upsert(b, svc, i.columns, c);
    }
    returning(b, svc, i.ret);
}

/// `UPDATE t SET .. WHERE .. RETURNING ..`
pub fn update(
    d: &dyn Dialect,
    svc: &Service,
    set: &[(usize, Assign)],
    filter: Option<&Condition>,
    ret: &[Selected],
) -> Statement {
    let mut b = Builder::new(d);
    b.start(StatementKind::Update);
    b.push("UPDATE ");
    b.table(svc);
    b.push(" SET ");
    for (n, (i, a)) in set.iter().enumerate() {
        if n > 0 {
            b.push(", ");
        }
        let col = &svc.columns[*i];
        b.ident(&col.name);
        b.push(" = ");
        match a {
            Assign::Value(v) => b.param_for(col, v.clone()),
            Assign::Default => {
                let expr = d.default_expr(col);
                b.push(&expr);
            }
        }
    }
    where_clause(&mut b, svc, filter);
    returning(&mut b, svc, ret);
    b.finish()
}

/// `DELETE FROM t WHERE .. RETURNING ..`
pub fn delete(
    d: &dyn Dialect,
    svc: &Service,
    filter: Option<&Condition>,
    ret: &[Selected],
) -> Statement {
    let mut b = Builder::new(d);
    b.start(StatementKind::Delete);
    b.push("DELETE FROM ");
    b.table(svc);
    where_clause(&mut b, svc, filter);
    returning(&mut b, svc, ret);
    b.finish()
}

/// `SELECT count(*) FROM t WHERE ..` for writes (max-affected, existence checks).
pub fn count_where(d: &dyn Dialect, svc: &Service, filter: Option<&Condition>) -> Statement {
    let mut b = Builder::new(d);
    b.start(StatementKind::Count);
    b.push("SELECT count(*) FROM ");
    b.table(svc);
    where_clause(&mut b, svc, filter);
    b.finish()
}

/// The columns a merge-duplicates upsert sets on an existing row: the body's columns
/// other than the conflict target. When the body holds only the target, the target itself
/// (a no-op update), so the existing row is still returned, as PostgREST does.
pub fn merge_columns(columns: &[usize], c: &OnConflict) -> Vec<usize> {
    let others: Vec<usize> = columns
        .iter()
        .copied()
        .filter(|i| !c.columns.contains(i))
        .collect();
    if others.is_empty() {
        columns.to_vec()
    } else {
        others
    }
}

pub fn resolution_is_merge(c: &OnConflict) -> bool {
    c.resolution == Resolution::MergeDuplicates
}

#[cfg(test)]
mod json_tests {
    use std::sync::Arc;

    use super::mysql::MARIADB;
    use super::postgres::Postgres;
    use super::sqlite::Sqlite;
    use super::*;
    use crate::plan::read_plan;
    use crate::request::parse_query;
    use crate::schema::{test_service, Column, ValueKind};

    fn service(declared: &str) -> Arc<Service> {
        test_service(
            vec![
                Column::plain("id", "integer", ValueKind::Integer),
                Column::plain("data", declared, ValueKind::Json),
            ],
            &[],
        )
    }

    fn select(d: &dyn Dialect, svc: &Arc<Service>, query: &str) -> Statement {
        let q = parse_query(query).expect("query");
        let plan = read_plan(
            &Default::default(),
            svc,
            &q,
            None,
            None,
            &Default::default(),
        )
        .expect("plan");
        let stmt = super::select(d, &plan);
        assert_eq!(stmt, build_select(d, &plan), "{query}");
        stmt
    }

    #[test]
    fn paths_are_each_dialects_json_functions() {
        let q = "select=id,data->a->>b,x:data->0->-1";
        let s = select(&Sqlite, &service("JSON"), q);
        assert!(s.sql.contains(r#"THEN "data" -> '$.a.b' END"#), "{}", s.sql);
        assert!(s.sql.contains(r#""data" -> '$[0][#-1]'"#), "{}", s.sql);
        let s = select(&Postgres, &service("jsonb"), q);
        assert!(
            s.sql.starts_with(
                r#"SELECT "id"::int8, ("data"->'a'->'b')::text, ("data"->0->(-1))::text FROM"#
            ),
            "{}",
            s.sql
        );
        // MySQL and MariaDB read `$[0]` of a non-array as the value itself; MariaDB reads
        // `last` of a constant path on the first row only.
        let s = select(&MARIADB, &service("json"), q);
        assert!(
            s.sql.contains(
                "IF(JSON_TYPE(`data`) = 'ARRAY' AND JSON_TYPE(JSON_EXTRACT(`data`, '$[0]')) = 'ARRAY', JSON_EXTRACT(`data`, CONCAT('$[0][last]', LEFT(`data`, 0))), NULL)"
            ),
            "{}",
            s.sql
        );
        assert!(s.params.is_empty());
    }

    #[test]
    fn keys_are_quoted_literals() {
        let q = r#"data->"it's\\"->>x=is.null"#;
        let s = select(&Sqlite, &service("JSON"), q);
        assert!(s.sql.contains(r#"'$."it''s\\".x'"#), "{}", s.sql);
        let s = select(&Postgres, &service("jsonb"), q);
        assert!(
            s.sql.contains(r#"("data"->'it''s\'->>'x') IS NULL"#),
            "{}",
            s.sql
        );
        let s = select(&MARIADB, &service("json"), q);
        assert!(s.sql.contains(r#"'$."it''s\\\\".x'"#), "{}", s.sql);
        assert!(s.params.is_empty() && !s.single_use);
    }

    #[test]
    fn comparisons_bind_their_values() {
        for (d, ty) in [
            (&Sqlite as &dyn Dialect, "JSON"),
            (&Postgres, "json"),
            (&MARIADB, "json"),
        ] {
            let s = select(
                d,
                &service(ty),
                "data->>name=eq.x&data->n=gt.2.5&data->t=eq.true&data->m=in.(1,null)",
            );
            assert_eq!(
                s.params,
                [
                    SqlValue::Text("x".into()),
                    SqlValue::Float(2.5),
                    SqlValue::Float(1.0)
                ],
                "{}",
                s.sql
            );
        }
        let s = select(&Postgres, &service("json"), "data->t=eq.true");
        assert!(s.sql.contains("json_typeof("), "{}", s.sql);
    }

    #[test]
    fn paths_are_not_cached_casts_are() {
        let svc = service("JSON");
        select(&Sqlite, &svc, "select=data->a&order=data->>b");
        select(&Sqlite, &svc, "data->>a=eq.1");
        assert!(svc.statements.is_empty());
        let a = select(&Sqlite, &svc, "select=id::text,data");
        let b = select(&Sqlite, &svc, "select=id,data");
        assert_eq!(a.sql, b.sql);
        assert_eq!(svc.statements.len(), 1);
    }
}
