//! The parsed form of a request's query string: what the user asked for, in the words of
//! the URL grammar (SPEC §4.2). Nothing here knows the schema cache or SQL; names are
//! plain strings that the plan stage resolves (and rejects) against the schema cache.

/// Path of embedded resources a parameter applies to: empty for the root resource,
/// `["albums", "tracks"]` for `albums.tracks.order=...`. Uses aliases where given.
pub type EmbedPath = Vec<String>;

/// Comparison operators that take a single scalar value (and `(any)`/`(all)` lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Like,
    Ilike,
    Match,
    Imatch,
}

impl CmpOp {
    pub fn name(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Neq => "neq",
            CmpOp::Gt => "gt",
            CmpOp::Gte => "gte",
            CmpOp::Lt => "lt",
            CmpOp::Lte => "lte",
            CmpOp::Like => "like",
            CmpOp::Ilike => "ilike",
            CmpOp::Match => "match",
            CmpOp::Imatch => "imatch",
        }
    }
}

/// PostgreSQL's containment and range operators (PostgREST's `cs cd ov sl sr nxr nxl adj`):
/// one value, taken as written (an array literal `{a,b}`, a range literal `[1,5)`, JSON
/// text); no `(any)`/`(all)` form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainmentOp {
    /// `cs`: `@>`, contains.
    Contains,
    /// `cd`: `<@`, is contained in.
    ContainedIn,
    /// `ov`: `&&`, overlaps (has an element or a point in common).
    Overlaps,
    /// `sl`: `<<`, strictly left of (ranges).
    StrictlyLeft,
    /// `sr`: `>>`, strictly right of (ranges).
    StrictlyRight,
    /// `nxr`: `&<`, does not extend to the right of (ranges).
    NotExtendsRight,
    /// `nxl`: `&>`, does not extend to the left of (ranges).
    NotExtendsLeft,
    /// `adj`: `-|-`, is adjacent to (ranges).
    Adjacent,
}

impl ContainmentOp {
    pub const ALL: [ContainmentOp; 8] = [
        ContainmentOp::Contains,
        ContainmentOp::ContainedIn,
        ContainmentOp::Overlaps,
        ContainmentOp::StrictlyLeft,
        ContainmentOp::StrictlyRight,
        ContainmentOp::NotExtendsRight,
        ContainmentOp::NotExtendsLeft,
        ContainmentOp::Adjacent,
    ];

    /// The operator's name in the URL.
    pub fn name(self) -> &'static str {
        match self {
            ContainmentOp::Contains => "cs",
            ContainmentOp::ContainedIn => "cd",
            ContainmentOp::Overlaps => "ov",
            ContainmentOp::StrictlyLeft => "sl",
            ContainmentOp::StrictlyRight => "sr",
            ContainmentOp::NotExtendsRight => "nxr",
            ContainmentOp::NotExtendsLeft => "nxl",
            ContainmentOp::Adjacent => "adj",
        }
    }

    pub fn from_name(name: &str) -> Option<ContainmentOp> {
        ContainmentOp::ALL.into_iter().find(|op| op.name() == name)
    }

    /// PostgreSQL's spelling of the operator.
    pub fn sql(self) -> &'static str {
        match self {
            ContainmentOp::Contains => "@>",
            ContainmentOp::ContainedIn => "<@",
            ContainmentOp::Overlaps => "&&",
            ContainmentOp::StrictlyLeft => "<<",
            ContainmentOp::StrictlyRight => ">>",
            ContainmentOp::NotExtendsRight => "&<",
            ContainmentOp::NotExtendsLeft => "&>",
            ContainmentOp::Adjacent => "-|-",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    Any,
    All,
}

/// `is.` values (case-insensitive in the URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsValue {
    Null,
    NotNull,
    True,
    False,
    Unknown,
}

/// What a filter does to its column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// `eq.5`, `like.A*` (the value is everything after `op.`, verbatim).
    Compare {
        op: CmpOp,
        value: String,
    },
    /// `eq(any).{1,2}`, `like(all).{A*,*z}`: the array literal's elements, unquoted.
    Quantified {
        op: CmpOp,
        quantifier: Quantifier,
        values: Vec<String>,
    },
    /// `in.(a,b,"c,d")`: elements unquoted; empty for `in.()`.
    In(Vec<String>),
    Is(IsValue),
    /// `isdistinct.value`: NULL-safe inequality.
    IsDistinct(String),
    /// `cs.{a,b}`, `cd.["x"]`, `ov.[1,5)`, `adj.(3,10]`: the value verbatim.
    Containment {
        op: ContainmentOp,
        value: String,
    },
}

/// What one step of a JSON path (`->key`, `->0`, `->-1`) looks up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonOperand {
    /// An object's key.
    Key(String),
    /// An array's element; negative counts from the end (`-1` is the last).
    Index(i64),
}

/// One step of a JSON path into a column: `->a` (JSON) or `->>a` (text). Only the last
/// step may be `->>`; the plan says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonStep {
    /// `->>`: the value as text.
    pub text: bool,
    pub operand: JsonOperand,
}

/// `column=[not.]op.value`, or inside a logic tree `column.[not.]op.value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub column: String,
    /// `data->a->>b=eq.x`: a path into the (JSON) column; empty for the column itself.
    pub path: Vec<JsonStep>,
    pub negated: bool,
    pub operation: Operation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogicOp {
    And,
    Or,
}

/// `or=(a.eq.1,and(b.gt.2,c.is.null))`, `not.and=(...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogicTree {
    Group {
        op: LogicOp,
        negated: bool,
        children: Vec<LogicTree>,
    },
    Filter(Filter),
}

/// The aggregate functions of `select=` (`count()`, `col.sum()`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateFunction {
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

impl AggregateFunction {
    /// The name in the URL, and the output key of an aggregate without an alias.
    pub fn name(self) -> &'static str {
        match self {
            AggregateFunction::Count => "count",
            AggregateFunction::Sum => "sum",
            AggregateFunction::Avg => "avg",
            AggregateFunction::Min => "min",
            AggregateFunction::Max => "max",
        }
    }
}

/// One item of `select=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectItem {
    /// `*`
    Star,
    /// `col`, `alias:col`, `col::type`, `alias:col::type`, `alias:col->a->>b::type`.
    Column {
        name: String,
        alias: Option<String>,
        cast: Option<String>,
        /// `col->a->>b`: a path into the (JSON) column; empty for the column itself.
        path: Vec<JsonStep>,
    },
    /// An aggregate (PostgREST's aggregate functions): `count()`, `alias:count()`,
    /// `col.sum()`, `alias:col.avg()::int`, `col::numeric.max()`.
    Aggregate {
        function: AggregateFunction,
        /// The aggregated column; `None` for `count()`, which counts rows.
        column: Option<String>,
        alias: Option<String>,
        /// `col::type.sum()`: the column cast before it is aggregated.
        input_cast: Option<String>,
        /// `col.sum()::type`: the result cast.
        cast: Option<String>,
    },
    /// `rel(...)`, `alias:rel!hint!inner(...)`.
    Embed {
        relation: String,
        alias: Option<String>,
        hint: Option<String>,
        /// `!inner`: drop parent rows without a match. (`!left` is the default.)
        inner: bool,
        /// `...rel(...)`: the embed's columns go into the parent row itself.
        spread: bool,
        items: Vec<SelectItem>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nulls {
    First,
    Last,
}

/// One term of `order=`: `col`, `col.desc`, `col.asc.nullsfirst`, `rel(col).desc`,
/// `data->>name.desc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTerm {
    /// `Some("artists")` for `artists(name)`: order by a to-one embed's column.
    pub relation: Option<String>,
    pub column: String,
    /// `order=data->>name`: a path into the (JSON) column; empty for the column itself.
    pub path: Vec<JsonStep>,
    pub direction: Option<Direction>,
    pub nulls: Option<Nulls>,
}

/// Everything the query string says, classified (SPEC §4.2, §4.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams {
    /// `select=`; `None` when absent or empty (meaning `*`).
    pub select: Option<Vec<SelectItem>>,
    /// Column filters, in URL order, each with the embed path it applies to.
    pub filters: Vec<(EmbedPath, Filter)>,
    /// `or=` / `and=` trees (top-level `not.or=` is a negated group).
    pub logic: Vec<(EmbedPath, LogicTree)>,
    /// `order=` per embed path (the last one given for a path wins).
    pub order: Vec<(EmbedPath, Vec<OrderTerm>)>,
    /// `limit=` per embed path.
    pub limit: Vec<(EmbedPath, u64)>,
    /// `offset=` per embed path.
    pub offset: Vec<(EmbedPath, u64)>,
    /// `columns=` (quoted names unquoted).
    pub columns: Option<Vec<String>>,
    /// `on_conflict=`.
    pub on_conflict: Option<Vec<String>>,
}

/// A query-string parse failure: what was being parsed, where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Which parameter (e.g. `filter`, `select`, `order`, `or`, `limit`).
    pub what: String,
    /// The raw text that failed to parse.
    pub input: String,
    /// 1-based character column within `input` where parsing failed.
    pub column: usize,
    /// Human-readable explanation, e.g. `unexpected "x" expecting "asc" or "desc"`.
    pub details: String,
    /// The input is well-formed but one of its lists is longer than the grammar allows
    /// (`details` names the list and the limit): not a syntax error.
    pub too_many: bool,
}
