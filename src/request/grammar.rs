//! The query-string grammar (SPEC §4.2, §4.3): classifies decoded `(key, value)` pairs as
//! PostgREST's `QueryParams.hs` does and parses filters, logic trees, `select`, `order`,
//! `limit`/`offset`, `columns`, `on_conflict` into `ast.rs` types (recursive descent, bounded).

// Decisions where PostgREST is loose or ambiguous (all deliberate, all tested below):
// - Every parameter must be consumed completely; PostgREST silently ignores trailing text
//   after e.g. `in.(1,2)x`, `or=(a.eq.1)x` or `key!x`, we report it.
// - `in.(...)`: whitespace right after `(` is skipped (so `in.(   )` is the empty set and
//   `in.( ,3)` is `["", "3"]`, as in PostgREST); unquoted elements are otherwise kept
//   verbatim up to the next `,`/`)` (`in.(1, 2)` gives `" 2"`), lone `"` and `\` included.
//   An element is a quoted one (whitespace around the quotes allowed) only when its closing
//   quote is followed by `,` or `)`; otherwise it falls back to raw text, quotes and all.
// - `(any)`/`(all)` values are PostgreSQL array literals `{a, "b,c"}` split into elements
//   here: unquoted elements are trimmed and `\x` means `x` (as PostgreSQL reads them),
//   nested arrays are rejected, `NULL` stays the text `NULL`, `{}` is the empty list.
// - Inside `or=(...)`/`and=(...)` an unquoted value runs to the next `,`/`)` and trailing
//   whitespace is dropped ("whitespace around elements is allowed"); quote the value to
//   keep it. A `{...}` value (no nested `{`) is kept raw, braces included, for plain ops.
// - `cs cd ov sl sr nxr nxl adj` take one value, verbatim like `eq`'s (inside a logic tree
//   a `{...}` literal may hold commas; a JSON array or a range literal with a comma must
//   be quoted there, as in PostgREST); `cs(any)` and the like are errors.
// - JSON paths (`col->a->>b`, `col->0`, `col->-1`) follow a column in filter keys, logic
//   trees, `select` and `order`, as PostgREST's `pJsonPath`: an operand is an index when it
//   is `-?digits` followed by the end of the path (`->`, `::`, `.`, `,`, `)`, end of input),
//   else a key (quoted, or a run of anything but `(`, `)`, `:`, `.`, `,`, `>` and `->`,
//   trimmed). A bad negative index (`->>--34`, `->-7x`) is an error, not a key. After a
//   path in a filter key nothing may follow; a path is refused on embeds, hints, `columns`
//   and `on_conflict`, and before an aggregate (`data->x.sum()`). Whether `->>` is last,
//   and the column's type, are the plan's to check.
//   A spread `...rel(...)` must be an embed. `!left`/`!inner` must be the whole word; `rel!a!b`
//   keeps the first hint.
// - `select`, `columns`, `on_conflict`: the first occurrence wins (later ones are ignored,
//   like PostgREST's lookup); `order`/`limit`/`offset`: the last one per embed path wins.
// - `limit`/`offset` must be non-negative integers, otherwise an error whose `what` is
//   `"limit"`/`"offset"` (PostgREST ignores junk and a negative offset, and answers 416 for
//   a negative limit: the caller decides by looking at `what`).
// - Keys are parsed as `name(.name)*` with quoted names allowed; an empty key is an error
//   (`what` = `"path"`). Only an unquoted last segment can be a reserved word, and only a
//   `not` segment right before `and`/`or` negates it.
//
// - Every list is bounded (the constants below), below what any backend accepts: SQLite
//   refuses more than 2,000 result columns and expressions nested deeper than 1,000 (each
//   `AND`/`OR` member nests one level), PostgreSQL more than 1,664 target-list entries,
//   and every backend a few tens of thousands of bound parameters. A longer list is a
//   `ParseError` with `too_many` set, whose `details` name the list and its limit.
//
// The parser works on `char`s (never byte offsets), so it cannot panic on non-ASCII input;
// error columns are 1-based character positions within the failing key or value.

use super::ast::*;

/// Longest key or value accepted, in bytes.
pub const MAX_VALUE_LEN: usize = 64 * 1024;
/// Deepest nesting of embeds in `select` and of groups in logic trees.
pub const MAX_DEPTH: usize = 32;
/// Most values in all `in.(...)` lists of one query string together.
pub const MAX_LIST_ITEMS: usize = 10_000;
/// Most entries in `select` (counted over every nesting level).
pub const MAX_SELECT_ITEMS: usize = 500;
/// Most terms in one `order`.
pub const MAX_ORDER_TERMS: usize = 100;
/// Most conditions in one query string: each filter and each member of a logic tree
/// counts one, and a `(any)`/`(all)` list one per element.
pub const MAX_CONDITIONS: usize = 500;
/// Most names in `columns`.
pub const MAX_COLUMNS: usize = 1_000;
/// Most names in `on_conflict` (PostgreSQL's limit on the columns of one index).
pub const MAX_ON_CONFLICT: usize = 32;
/// Most steps in one JSON path (`data->a->0->>b` has 3).
pub const MAX_JSON_PATH: usize = 32;

const FIELD_NAME: &str = "field name (* or [a..z0..9_$])";
const OPERATOR: &str = "operator (eq, gt, ...)";
const TRILEAN: &str = "null, not_null or trilean value (unknown, true, false)";
const JSON_KEY: &str = "any non reserved character different from: .,>()";
const INDEX_END: &str = "digit, \"->\", \"::\", \".\", \",\" or end of input";

/// Classify and parse decoded query-string pairs (URL order) into [`QueryParams`].
pub fn parse_query(pairs: &[(String, String)]) -> Result<QueryParams, ParseError> {
    let mut q = QueryParams::default();
    let mut seen_select = false;
    for (key, value) in pairs {
        if key.is_empty() {
            return Err(ParseError {
                what: "path".into(),
                input: String::new(),
                column: 1,
                details: "empty parameter name".into(),
                too_many: false,
            });
        }
        if key.len() > MAX_VALUE_LEN {
            return Err(too_long("path", key));
        }
        match key.as_str() {
            "select" => {
                check_len("select", value)?;
                if !seen_select {
                    seen_select = true;
                    q.select = parse_select(value)?;
                }
            }
            "columns" => {
                check_len("columns", value)?;
                if q.columns.is_none() {
                    q.columns = Some(parse_names("columns", value, MAX_COLUMNS)?);
                }
            }
            "on_conflict" => {
                check_len("on_conflict", value)?;
                if q.on_conflict.is_none() {
                    q.on_conflict = Some(parse_names("on_conflict", value, MAX_ON_CONFLICT)?);
                }
            }
            _ => {
                classify(&mut q, key, value)?;
                check_totals(&q)?;
            }
        }
    }
    Ok(q)
}

/// The query-wide bounds: conditions and `in` values, over every filter and logic tree
/// parsed so far (checked after each one, so a long query string stops at the first
/// parameter past a limit).
fn check_totals(q: &QueryParams) -> Result<(), ParseError> {
    let mut conditions = 0;
    let mut values = 0;
    for (_, f) in &q.filters {
        count_filter(f, &mut conditions, &mut values);
    }
    for (_, tree) in &q.logic {
        count_tree(tree, &mut conditions, &mut values);
    }
    if conditions > MAX_CONDITIONS {
        return Err(too_many_conditions());
    }
    if values > MAX_LIST_ITEMS {
        return Err(too_many_values());
    }
    Ok(())
}

fn count_filter(f: &Filter, conditions: &mut usize, values: &mut usize) {
    match &f.operation {
        Operation::Quantified { values: v, .. } => *conditions += v.len().max(1),
        Operation::In(v) => {
            *conditions += 1;
            *values += v.len();
        }
        _ => *conditions += 1,
    }
}

fn count_tree(tree: &LogicTree, conditions: &mut usize, values: &mut usize) {
    match tree {
        LogicTree::Filter(f) => count_filter(f, conditions, values),
        LogicTree::Group { children, .. } => {
            *conditions += 1;
            for c in children {
                count_tree(c, conditions, values);
            }
        }
    }
}

/// A list longer than its bound: `details` say which list and the limit.
fn too_many(what: &str, details: String) -> ParseError {
    ParseError {
        what: what.into(),
        input: String::new(),
        column: 1,
        details,
        too_many: true,
    }
}

fn too_many_conditions() -> ParseError {
    too_many(
        "filter",
        format!(
            "too many conditions: at most {MAX_CONDITIONS} filters, logic-tree members and (any)/(all) elements are allowed in one request"
        ),
    )
}

fn too_many_values() -> ParseError {
    too_many(
        "filter",
        format!("too many values in in.(...) lists: at most {MAX_LIST_ITEMS} are allowed in one request"),
    )
}

fn classify(q: &mut QueryParams, key: &str, value: &str) -> Result<(), ParseError> {
    let (mut segs, path) = parse_key(key)?;
    let Some((last, quoted)) = segs.pop() else {
        return Err(Cursor::new("path", key).error_at(0, "empty parameter name".into()));
    };
    // `order->a=eq.1` is a filter on a column named `order`.
    let reserved = if quoted || !path.is_empty() {
        ""
    } else {
        last.as_str()
    };
    match reserved {
        "order" => {
            check_len("order", value)?;
            let terms = parse_order(value)?;
            set_last(&mut q.order, names(segs), terms);
        }
        "limit" | "offset" => {
            check_len(reserved, value)?;
            let n = parse_count(reserved, value)?;
            let list = if reserved == "limit" {
                &mut q.limit
            } else {
                &mut q.offset
            };
            set_last(list, names(segs), n);
        }
        "and" | "or" => {
            let op = if reserved == "and" {
                LogicOp::And
            } else {
                LogicOp::Or
            };
            let negated = matches!(segs.last(), Some((s, false)) if s == "not");
            if negated {
                segs.pop();
            }
            check_len(reserved, value)?;
            let tree = parse_logic_tree(op, negated, value)?;
            q.logic.push((names(segs), tree));
        }
        _ => {
            check_len("filter", value)?;
            let (negated, operation) = parse_filter(value)?;
            q.filters.push((
                names(segs),
                Filter {
                    column: last,
                    path,
                    negated,
                    operation,
                },
            ));
        }
    }
    Ok(())
}

fn names(segs: Vec<(String, bool)>) -> EmbedPath {
    segs.into_iter().map(|(s, _)| s).collect()
}

fn set_last<T>(list: &mut Vec<(EmbedPath, T)>, path: EmbedPath, item: T) {
    match list.iter_mut().find(|(p, _)| *p == path) {
        Some(slot) => slot.1 = item,
        None => list.push((path, item)),
    }
}

fn check_len(what: &str, value: &str) -> Result<(), ParseError> {
    if value.len() > MAX_VALUE_LEN {
        Err(too_long(what, value))
    } else {
        Ok(())
    }
}

fn too_long(what: &str, value: &str) -> ParseError {
    // Keep the echoed input short: it may end up in an error body.
    let head: String = value.chars().take(64).collect();
    ParseError {
        what: what.into(),
        input: format!("{head}..."),
        column: 1,
        details: format!("value longer than {MAX_VALUE_LEN} bytes"),
        too_many: false,
    }
}

impl ParseError {
    /// PostgREST's PGRST100 message, e.g. `"failed to parse filter (1)" (line 1, column 1)`.
    pub fn postgrest_message(&self) -> String {
        let what = match self.what.as_str() {
            "select" => "select parameter",
            "columns" => "columns parameter",
            "on_conflict" => "on_conflict parameter",
            "and" | "or" => "logic tree",
            "path" => "tree path",
            other => other,
        };
        format!(
            "\"failed to parse {what} ({})\" (line 1, column {})",
            self.input, self.column
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Cursor

struct Cursor<'a> {
    chars: Vec<char>,
    pos: usize,
    what: &'a str,
    input: &'a str,
}

impl<'a> Cursor<'a> {
    fn new(what: &'a str, input: &'a str) -> Self {
        Cursor {
            chars: input.chars().collect(),
            pos: 0,
            what,
            input,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn eof(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn starts_with_at(&self, at: usize, s: &str) -> bool {
        (at..)
            .zip(s.chars())
            .all(|(i, c)| self.peek_at(i) == Some(c))
    }

    fn eat_str(&mut self, s: &str) -> bool {
        if self.starts_with_at(self.pos, s) {
            self.pos += s.chars().count();
            true
        } else {
            false
        }
    }

    fn ws_end(&self, mut at: usize) -> usize {
        while matches!(self.peek_at(at), Some(' ' | '\t')) {
            at += 1;
        }
        at
    }

    fn skip_ws(&mut self) {
        self.pos = self.ws_end(self.pos);
    }

    fn rest(&self) -> String {
        self.chars
            .get(self.pos..)
            .unwrap_or_default()
            .iter()
            .collect()
    }

    fn error_at(&self, at: usize, details: String) -> ParseError {
        ParseError {
            what: self.what.to_string(),
            input: self.input.to_string(),
            column: at + 1,
            details,
            too_many: false,
        }
    }

    /// `unexpected "x" expecting ...` (Parsec style) for the character at `at`.
    fn unexpected_at(&self, at: usize, expecting: &str) -> ParseError {
        let found = match self.peek_at(at) {
            None => "end of input".to_string(),
            // Parsec quotes a character with '...' when the failing parser was `eof`.
            Some(c) => show_char(c, expecting.ends_with("end of input")),
        };
        self.error_at(at, format!("unexpected {found} expecting {expecting}"))
    }

    fn unexpected(&self, expecting: &str) -> ParseError {
        self.unexpected_at(self.pos, expecting)
    }

    fn expect(&mut self, c: char, expecting: &str) -> Result<(), ParseError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.unexpected(expecting))
        }
    }

    fn expect_end(&mut self, expecting: &str) -> Result<(), ParseError> {
        self.skip_ws();
        if self.eof() {
            Ok(())
        } else {
            Err(self.unexpected(expecting))
        }
    }

    /// `"quoted \" name"` at the cursor (which is on the opening quote), kept exactly.
    fn quoted_name(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(self.error_at(
                        self.pos,
                        format!(
                            "unexpected end of input expecting closing quote (\") \
                             of the name starting at column {}",
                            start + 1
                        ),
                    ))
                }
                Some('\\') => match self.bump() {
                    Some(c) => out.push(c),
                    None => return Err(self.unexpected("escaped character")),
                },
                Some('"') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    /// A field name: `"quoted \" name"` or a run of letters, digits, `_`, `$`, spaces and
    /// `-` (not followed by `>`), trimmed. Quoted names are kept exactly.
    fn field_name(&mut self, expecting: &str) -> Result<String, ParseError> {
        let name = if self.peek() == Some('"') {
            self.quoted_name()?
        } else {
            let start = self.pos;
            while let Some(c) = self.peek() {
                let ok = c.is_alphanumeric()
                    || matches!(c, '_' | '$' | ' ')
                    || (c == '-' && self.peek_at(self.pos + 1) != Some('>'));
                if !ok {
                    break;
                }
                self.pos += 1;
            }
            let raw: String = self.chars[start..self.pos].iter().collect();
            let name = raw.trim_matches(' ');
            if name.is_empty() {
                return Err(self.unexpected(expecting));
            }
            name.to_string()
        };
        Ok(name)
    }

    /// An error where a name may not be followed by a JSON path (`columns`, embeds, hints).
    fn no_json_path(&self) -> Result<(), ParseError> {
        if self.starts_with_at(self.pos, "->") {
            return Err(self.error_at(
                self.pos,
                "unexpected \"->\": a JSON path (->, ->>) is not allowed here".into(),
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// JSON paths

/// `->a->0->>b` after a column name; empty when no arrow follows.
fn json_path(c: &mut Cursor) -> Result<Vec<JsonStep>, ParseError> {
    let mut steps = Vec::new();
    loop {
        let text = if c.eat_str("->>") {
            true
        } else if c.eat_str("->") {
            false
        } else {
            return Ok(steps);
        };
        if steps.len() >= MAX_JSON_PATH {
            return Err(too_many(
                c.what,
                format!("too many steps in a JSON path: at most {MAX_JSON_PATH} are allowed"),
            ));
        }
        let operand = json_operand(c)?;
        steps.push(JsonStep { text, operand });
    }
}

/// What follows an arrow: an array index (`0`, `-1`) when it is `-?digits` followed by the
/// end of the path, else an object key.
fn json_operand(c: &mut Cursor) -> Result<JsonOperand, ParseError> {
    let start = c.pos;
    let negative = c.peek() == Some('-');
    let mut i = start + usize::from(negative);
    while matches!(c.peek_at(i), Some(d) if d.is_ascii_digit()) {
        i += 1;
    }
    let digits = i - start - usize::from(negative);
    if negative && digits == 0 {
        return Err(c.unexpected_at(i, "digit"));
    }
    if digits > 0 {
        let ends = c.peek_at(i).is_none()
            || c.starts_with_at(i, "->")
            || c.starts_with_at(i, "::")
            || matches!(c.peek_at(i), Some('.' | ',' | ')'));
        if ends {
            let text: String = c.chars[start..i].iter().collect();
            let index = text
                .parse::<i64>()
                .map_err(|_| c.error_at(start, format!("array index {text} is too large")))?;
            c.pos = i;
            return Ok(JsonOperand::Index(index));
        }
        if negative {
            return Err(c.unexpected_at(i, INDEX_END));
        }
    }
    if c.peek() == Some('"') {
        return Ok(JsonOperand::Key(c.quoted_name()?));
    }
    while let Some(ch) = c.peek() {
        let stop = matches!(ch, '(' | ')' | ':' | '.' | ',' | '>')
            || (ch == '-' && c.peek_at(c.pos + 1) == Some('>'));
        if stop {
            break;
        }
        c.pos += 1;
    }
    let raw: String = c.chars[start..c.pos].iter().collect();
    let key = raw.trim_matches(' ');
    if key.is_empty() {
        return Err(c.unexpected_at(start, JSON_KEY));
    }
    Ok(JsonOperand::Key(key.to_string()))
}

fn show_char(c: char, single: bool) -> String {
    let q = if single { '\'' } else { '"' };
    let body = match c {
        '\\' => "\\\\".to_string(),
        c if c == q => format!("\\{c}"),
        c if c.is_control() => c.escape_default().to_string(),
        c => c.to_string(),
    };
    format!("{q}{body}{q}")
}

// ---------------------------------------------------------------------------------------------
// Keys

/// `a.b."c.d"` -> `[("a", false), ("b", false), ("c.d", true)]`, and the JSON path after
/// the last segment (`a.data->x` -> `[("a", false), ("data", false)]`, `[->x]`).
type KeySegments = Vec<(String, bool)>;

fn parse_key(key: &str) -> Result<(KeySegments, Vec<JsonStep>), ParseError> {
    let mut c = Cursor::new("path", key);
    let mut segs = Vec::new();
    loop {
        let quoted = c.peek() == Some('"');
        segs.push((c.field_name(FIELD_NAME)?, quoted));
        let path = json_path(&mut c)?;
        if c.eof() {
            return Ok((segs, path));
        }
        if !path.is_empty() {
            return Err(c.unexpected("\"->\", \"->>\" or end of input"));
        }
        if !c.eat('.') {
            return Err(c.unexpected("delimiter (.) or end of input"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Filters

/// Parse a filter value `[not.]op[(any|all)].value` into `(negated, operation)`.
pub fn parse_filter(value: &str) -> Result<(bool, Operation), ParseError> {
    let mut c = Cursor::new("filter", value);
    op_expr(&mut c, false)
}

/// `[not.]op[(mod)].value`. `in_logic`: the value ends at `,`/`)` (inside `or=(...)`),
/// otherwise it is the rest of the input.
fn op_expr(c: &mut Cursor, in_logic: bool) -> Result<(bool, Operation), ParseError> {
    let negated = c.eat_str("not.");
    let op_start = c.pos;
    let mut word = String::new();
    while let Some(ch) = c.peek() {
        if ch == '.' || ch == '(' || (in_logic && (ch == ',' || ch == ')')) {
            break;
        }
        word.push(ch);
        c.pos += 1;
    }
    let next = c.peek();
    if !matches!(next, Some('.' | '(')) {
        let expecting = if negated {
            OPERATOR.to_string()
        } else {
            format!("\"not\" or {OPERATOR}")
        };
        return Err(c.unexpected_at(op_start, &expecting));
    }
    let cmp = match word.as_str() {
        "eq" => Some(CmpOp::Eq),
        "neq" => Some(CmpOp::Neq),
        "gt" => Some(CmpOp::Gt),
        "gte" => Some(CmpOp::Gte),
        "lt" => Some(CmpOp::Lt),
        "lte" => Some(CmpOp::Lte),
        "like" => Some(CmpOp::Like),
        "ilike" => Some(CmpOp::Ilike),
        "match" => Some(CmpOp::Match),
        "imatch" => Some(CmpOp::Imatch),
        _ => None,
    };
    let containment = ContainmentOp::from_name(&word);
    let known = cmp.is_some()
        || containment.is_some()
        || matches!(word.as_str(), "in" | "is" | "isdistinct");
    if !known {
        return Err(c.error_at(c.pos + 1, format!("unknown single value operator {word}")));
    }
    if next == Some('(') {
        return match cmp {
            Some(op) if op != CmpOp::Neq => Ok((negated, quantified(c, op, in_logic)?)),
            _ => Err(c.unexpected("delimiter (.)")),
        };
    }
    c.bump(); // the '.'
    if let Some(op) = containment {
        let value = single_value(c, in_logic)?;
        return Ok((negated, Operation::Containment { op, value }));
    }
    let operation = match (word.as_str(), cmp) {
        ("in", _) => Operation::In(in_list(c, in_logic)?),
        ("is", _) => Operation::Is(trilean(c, in_logic)?),
        ("isdistinct", _) => Operation::IsDistinct(single_value(c, in_logic)?),
        (_, Some(op)) => Operation::Compare {
            op,
            value: single_value(c, in_logic)?,
        },
        _ => return Err(c.error_at(op_start, format!("unknown single value operator {word}"))),
    };
    Ok((negated, operation))
}

fn quantified(c: &mut Cursor, op: CmpOp, in_logic: bool) -> Result<Operation, ParseError> {
    c.bump(); // '('
    let quantifier = if c.eat_str("any") {
        Quantifier::Any
    } else if c.eat_str("all") {
        Quantifier::All
    } else {
        return Err(c.unexpected("\"any\" or \"all\""));
    };
    c.expect(')', "\")\"")?;
    c.expect('.', "delimiter (.)")?;
    let values = array_literal(c)?;
    if !in_logic {
        c.expect_end("end of input")?;
    }
    Ok(Operation::Quantified {
        op,
        quantifier,
        values,
    })
}

/// A plain value: the rest of the input, or inside a logic tree a quoted value, a `{...}`
/// literal (kept raw) or raw text up to `,`/`)` with trailing whitespace dropped.
fn single_value(c: &mut Cursor, in_logic: bool) -> Result<String, ParseError> {
    if !in_logic {
        let v = c.rest();
        c.pos = c.chars.len();
        return Ok(v);
    }
    if let Some(v) = quoted_element(c) {
        return Ok(v);
    }
    if c.peek() == Some('{') {
        let mut i = c.pos + 1;
        while let Some(ch) = c.peek_at(i) {
            if ch == '{' {
                break;
            }
            if ch == '}' {
                let v = c.chars[c.pos..=i].iter().collect();
                c.pos = i + 1;
                return Ok(v);
            }
            i += 1;
        }
    }
    let v = raw_until_delim(c);
    Ok(v.trim_end_matches([' ', '\t']).to_string())
}

fn raw_until_delim(c: &mut Cursor) -> String {
    let mut out = String::new();
    while let Some(ch) = c.peek() {
        if ch == ',' || ch == ')' {
            break;
        }
        out.push(ch);
        c.pos += 1;
    }
    out
}

/// `"..."` with `\x` -> `x`, accepted only when the closing quote is followed (after
/// optional whitespace) by `,` or `)`. On success the cursor is left after that whitespace;
/// otherwise it does not move.
fn quoted_element(c: &mut Cursor) -> Option<String> {
    if c.peek() != Some('"') {
        return None;
    }
    let mut i = c.pos + 1;
    let mut out = String::new();
    loop {
        match c.peek_at(i)? {
            '\\' => {
                out.push(c.peek_at(i + 1)?);
                i += 2;
            }
            '"' => break,
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    let after = c.ws_end(i + 1);
    match c.peek_at(after) {
        Some(',' | ')') => {
            c.pos = after;
            Some(out)
        }
        _ => None,
    }
}

fn in_list(c: &mut Cursor, in_logic: bool) -> Result<Vec<String>, ParseError> {
    c.skip_ws();
    c.expect('(', "\"(\"")?;
    c.skip_ws();
    let mut items = Vec::new();
    if !c.eat(')') {
        loop {
            if items.len() >= MAX_LIST_ITEMS {
                return Err(too_many_values());
            }
            // A quoted element may have whitespace before its opening quote; an unquoted
            // one keeps its whitespace.
            let start = c.pos;
            c.skip_ws();
            let item = match quoted_element(c) {
                Some(v) => v,
                None => {
                    c.pos = start;
                    raw_until_delim(c)
                }
            };
            items.push(item);
            if c.eat(',') {
                continue;
            }
            c.expect(')', "\",\" or \")\"")?;
            break;
        }
    }
    if !in_logic {
        c.expect_end("end of input")?;
    }
    Ok(items)
}

fn trilean(c: &mut Cursor, in_logic: bool) -> Result<IsValue, ParseError> {
    let start = c.pos;
    let raw = if in_logic {
        raw_until_delim(c)
    } else {
        let v = c.rest();
        c.pos = c.chars.len();
        v
    };
    let v = raw.trim_matches([' ', '\t']);
    const CANDIDATES: [(&str, IsValue); 5] = [
        ("null", IsValue::Null),
        ("not_null", IsValue::NotNull),
        ("true", IsValue::True),
        ("false", IsValue::False),
        ("unknown", IsValue::Unknown),
    ];
    for (name, val) in CANDIDATES {
        if v.eq_ignore_ascii_case(name) {
            return Ok(val);
        }
    }
    // Point at the first character no candidate can accept.
    let lead = raw
        .chars()
        .take_while(|ch| *ch == ' ' || *ch == '\t')
        .count();
    let vc: Vec<char> = v.chars().collect();
    let best = CANDIDATES
        .iter()
        .map(|(name, _)| {
            name.chars()
                .zip(vc.iter())
                .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
                .count()
        })
        .max()
        .unwrap_or(0);
    let at = start + lead + best;
    if best >= vc.len() {
        // A proper prefix of a candidate: the value ended too early.
        return Err(c.error_at(at, format!("unexpected end of input expecting {TRILEAN}")));
    }
    Err(c.unexpected_at(at, TRILEAN))
}

/// A PostgreSQL array literal `{a, "b,c", d\,e}` split into its elements.
fn array_literal(c: &mut Cursor) -> Result<Vec<String>, ParseError> {
    c.expect('{', "\"{\"")?;
    c.skip_ws();
    let mut items = Vec::new();
    if c.eat('}') {
        return Ok(items);
    }
    loop {
        if items.len() >= MAX_CONDITIONS {
            return Err(too_many_conditions());
        }
        c.skip_ws();
        let mut out = String::new();
        if c.eat('"') {
            loop {
                match c.bump() {
                    None => return Err(c.unexpected("closing quote (\")")),
                    Some('\\') => match c.bump() {
                        Some(ch) => out.push(ch),
                        None => return Err(c.unexpected("escaped character")),
                    },
                    Some('"') => break,
                    Some(ch) => out.push(ch),
                }
            }
            c.skip_ws();
        } else {
            let start = c.pos;
            let mut keep = 0;
            loop {
                match c.peek() {
                    None | Some(',' | '}') => break,
                    Some('{') => {
                        return Err(c.error_at(
                            c.pos,
                            "unexpected \"{\": nested arrays are not supported".into(),
                        ))
                    }
                    Some('"') => return Err(c.unexpected("\",\" or \"}\"")),
                    Some('\\') => {
                        c.bump();
                        match c.bump() {
                            Some(ch) => out.push(ch),
                            None => return Err(c.unexpected("escaped character")),
                        }
                        keep = out.len();
                    }
                    Some(ch) => {
                        c.bump();
                        out.push(ch);
                        if ch != ' ' && ch != '\t' {
                            keep = out.len();
                        }
                    }
                }
            }
            out.truncate(keep);
            if c.pos == start {
                // `{a,,b}`, `{a, }`: PostgreSQL rejects empty unquoted elements too.
                return Err(c.unexpected("array element"));
            }
        }
        items.push(out);
        if c.eat(',') {
            continue;
        }
        c.expect('}', "\",\" or \"}\"")?;
        return Ok(items);
    }
}

// ---------------------------------------------------------------------------------------------
// Logic trees

/// Parse the value of `or=`/`and=` (`(a.eq.1,and(b.gt.2,c.is.null))`) into a group.
pub fn parse_logic_tree(op: LogicOp, negated: bool, value: &str) -> Result<LogicTree, ParseError> {
    let what = match op {
        LogicOp::And => "and",
        LogicOp::Or => "or",
    };
    let mut c = Cursor::new(what, value);
    c.skip_ws();
    let children = group_body(&mut c, 1)?;
    c.expect_end("end of input")?;
    Ok(LogicTree::Group {
        op,
        negated,
        children,
    })
}

fn group_body(c: &mut Cursor, depth: usize) -> Result<Vec<LogicTree>, ParseError> {
    if depth > MAX_DEPTH {
        return Err(c.error_at(
            c.pos,
            format!("logic tree nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    c.expect('(', "\"(\"")?;
    let mut children = Vec::new();
    loop {
        if children.len() >= MAX_CONDITIONS {
            return Err(too_many_conditions());
        }
        c.skip_ws();
        children.push(logic_element(c, depth)?);
        c.skip_ws();
        if c.eat(',') {
            continue;
        }
        c.expect(')', "\",\" or \")\"")?;
        return Ok(children);
    }
}

fn logic_element(c: &mut Cursor, depth: usize) -> Result<LogicTree, ParseError> {
    let start = c.pos;
    let negated = c.starts_with_at(start, "not.");
    let at = if negated { start + 4 } else { start };
    let group = if c.starts_with_at(at, "and") {
        Some((LogicOp::And, at + 3))
    } else if c.starts_with_at(at, "or") {
        Some((LogicOp::Or, at + 2))
    } else {
        None
    };
    if let Some((op, end)) = group {
        let paren = c.ws_end(end);
        if c.peek_at(paren) == Some('(') {
            c.pos = paren;
            let children = group_body(c, depth + 1)?;
            return Ok(LogicTree::Group {
                op,
                negated,
                children,
            });
        }
    }
    let expecting = format!("{FIELD_NAME}, negation operator (not) or logic operator (and, or)");
    let column = c.field_name(&expecting)?;
    let path = json_path(c)?;
    c.expect('.', "delimiter (.)")?;
    let (negated, operation) = op_expr(c, true)?;
    Ok(LogicTree::Filter(Filter {
        column,
        path,
        negated,
        operation,
    }))
}

// ---------------------------------------------------------------------------------------------
// select

/// Parse `select=`; an empty (or all-blank) value means `*` and gives `None`.
pub fn parse_select(value: &str) -> Result<Option<Vec<SelectItem>>, ParseError> {
    if value.trim_matches([' ', '\t']).is_empty() {
        return Ok(None);
    }
    let mut c = Cursor::new("select", value);
    let mut count = 0;
    let items = select_list(&mut c, 0, &mut count)?;
    c.expect_end("\",\" or end of input")?;
    Ok(Some(items))
}

fn select_list(
    c: &mut Cursor,
    depth: usize,
    count: &mut usize,
) -> Result<Vec<SelectItem>, ParseError> {
    let mut items = Vec::new();
    loop {
        *count += 1;
        if *count > MAX_SELECT_ITEMS {
            return Err(too_many(
                "select",
                format!("too many entries in select: at most {MAX_SELECT_ITEMS} are allowed"),
            ));
        }
        c.skip_ws();
        items.push(select_item(c, depth, count)?);
        c.skip_ws();
        if !c.eat(',') {
            return Ok(items);
        }
    }
}

fn select_item(c: &mut Cursor, depth: usize, count: &mut usize) -> Result<SelectItem, ParseError> {
    if c.eat('*') {
        return Ok(SelectItem::Star);
    }
    let spread = c.eat_str("...");
    let quoted = c.peek() == Some('"');
    let first = c.field_name(FIELD_NAME)?;
    let (alias, name, quoted) = if c.peek() == Some(':') && c.peek_at(c.pos + 1) != Some(':') {
        c.bump();
        let quoted = c.peek() == Some('"');
        (Some(first), c.field_name(FIELD_NAME)?, quoted)
    } else {
        (None, first, quoted)
    };
    // `count()` counts rows (PostgREST tries it before an embed named `count`).
    if !spread && !quoted && name == "count" && c.starts_with_at(c.pos, "()") {
        c.pos += 2;
        let cast = select_cast(c)?;
        return Ok(SelectItem::Aggregate {
            function: AggregateFunction::Count,
            column: None,
            alias,
            input_cast: None,
            cast,
        });
    }
    let path = json_path(c)?;
    if !path.is_empty() {
        if spread {
            return Err(c.unexpected("\"(\" (a spread is an embed: ...rel(columns))"));
        }
        let cast = select_cast(c)?;
        if c.peek() == Some('.') {
            // `data->x.sum()`: restable aggregates columns only.
            return Err(c.error_at(
                c.pos,
                "an aggregate of a JSON path (data->x.sum()) is not supported: aggregate a column (col.sum())"
                    .to_string(),
            ));
        }
        if matches!(c.peek(), Some('!' | '(')) {
            return Err(c.unexpected("\"->\", \"::\", \",\" or end of input"));
        }
        return Ok(SelectItem::Column {
            name,
            alias,
            cast,
            path,
        });
    }
    let mut hint = None;
    let mut join: Option<bool> = None;
    let mut params = 0;
    while params < 2 && c.peek() == Some('!') {
        params += 1;
        c.bump();
        let quoted = c.peek() == Some('"');
        let p = c.field_name("hint or join type (inner, left)")?;
        c.no_json_path()?;
        match (quoted, p.as_str()) {
            (false, "inner") => join = join.or(Some(true)),
            (false, "left") => join = join.or(Some(false)),
            _ => hint = hint.or(Some(p)),
        }
    }
    if c.peek() == Some('(') {
        if depth + 1 > MAX_DEPTH {
            return Err(c.error_at(
                c.pos,
                format!("select nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        c.bump();
        c.skip_ws();
        let items = if c.eat(')') {
            Vec::new()
        } else {
            let items = select_list(c, depth + 1, count)?;
            c.expect(')', "\",\" or \")\"")?;
            items
        };
        return Ok(SelectItem::Embed {
            relation: name,
            alias,
            hint,
            inner: join.unwrap_or(false),
            spread,
            items,
        });
    }
    if spread {
        return Err(c.unexpected("\"(\" (a spread is an embed: ...rel(columns))"));
    }
    if params > 0 {
        return Err(c.unexpected("\"!\" or \"(\""));
    }
    let cast = select_cast(c)?;
    if c.peek() == Some('.') {
        // `col.sum()`, `col::numeric.avg()::int`.
        c.bump();
        let at = c.pos;
        let function = [
            AggregateFunction::Count,
            AggregateFunction::Sum,
            AggregateFunction::Avg,
            AggregateFunction::Min,
            AggregateFunction::Max,
        ]
        .into_iter()
        .find(|f| c.starts_with_at(at, f.name()) && c.starts_with_at(at + f.name().len(), "()"));
        let Some(function) = function else {
            return Err(c.unexpected("aggregate function (avg(), count(), max(), min() or sum())"));
        };
        c.pos = at + function.name().len() + 2;
        let result_cast = select_cast(c)?;
        return Ok(SelectItem::Aggregate {
            function,
            column: Some(name),
            alias,
            input_cast: cast,
            cast: result_cast,
        });
    }
    Ok(SelectItem::Column {
        name,
        alias,
        cast,
        path,
    })
}

/// `::type` after a select item (a type name: letters, digits, `_`, `$`, spaces).
fn select_cast(c: &mut Cursor) -> Result<Option<String>, ParseError> {
    if !c.eat_str("::") {
        return Ok(None);
    }
    let start = c.pos;
    while matches!(c.peek(), Some(ch) if ch.is_alphanumeric() || matches!(ch, '_' | '$' | ' ')) {
        c.pos += 1;
    }
    let raw: String = c.chars[start..c.pos].iter().collect();
    let ty = raw.trim_matches(' ');
    if ty.is_empty() {
        return Err(c.unexpected("letter or digit"));
    }
    Ok(Some(ty.to_string()))
}

// ---------------------------------------------------------------------------------------------
// order

/// Parse `order=term[,term]`.
pub fn parse_order(value: &str) -> Result<Vec<OrderTerm>, ParseError> {
    let mut c = Cursor::new("order", value);
    let mut terms = Vec::new();
    loop {
        if terms.len() >= MAX_ORDER_TERMS {
            return Err(too_many(
                "order",
                format!("too many terms in order: at most {MAX_ORDER_TERMS} are allowed"),
            ));
        }
        c.skip_ws();
        terms.push(order_term(&mut c)?);
        if !c.eat(',') {
            return Ok(terms);
        }
    }
}

fn order_term(c: &mut Cursor) -> Result<OrderTerm, ParseError> {
    let first = c.field_name(FIELD_NAME)?;
    let (relation, column, path) = if c.eat('(') {
        c.skip_ws();
        let col = c.field_name(FIELD_NAME)?;
        let path = json_path(c)?;
        c.skip_ws();
        c.expect(')', "\")\"")?;
        (Some(first), col, path)
    } else {
        (None, first, json_path(c)?)
    };
    let mut direction = None;
    let mut nulls = None;
    if c.eat('.') {
        let word = c.pos;
        if c.eat_str("asc") {
            direction = Some(Direction::Asc);
        } else if c.eat_str("desc") {
            direction = Some(Direction::Desc);
        } else if let Some(n) = eat_nulls(c) {
            nulls = Some(n);
        } else {
            return Err(keyword_error(
                c,
                word,
                "asc",
                "\"asc\", \"desc\", \"nullsfirst\" or \"nullslast\"",
            ));
        }
        if direction.is_some() && c.eat('.') {
            let word = c.pos;
            match eat_nulls(c) {
                Some(n) => nulls = Some(n),
                None => {
                    return Err(keyword_error(
                        c,
                        word,
                        "nullsfirst",
                        "\"nullsfirst\" or \"nullslast\"",
                    ))
                }
            }
        }
    }
    c.skip_ws();
    if c.eof() || c.peek() == Some(',') {
        return Ok(OrderTerm {
            relation,
            column,
            path,
            direction,
            nulls,
        });
    }
    let expecting = if nulls.is_some() {
        "\",\" or end of input"
    } else {
        "delimiter (.), \",\" or end of input"
    };
    Err(c.unexpected(expecting))
}

fn eat_nulls(c: &mut Cursor) -> Option<Nulls> {
    if c.eat_str("nullsfirst") {
        Some(Nulls::First)
    } else if c.eat_str("nullslast") {
        Some(Nulls::Last)
    } else {
        None
    }
}

/// Parsec-like report for a keyword that did not match: the column of the word, and the
/// first character where it differs from the first alternative.
fn keyword_error(c: &Cursor, word: usize, first_alt: &str, expecting: &str) -> ParseError {
    let mut i = word;
    for k in first_alt.chars() {
        if c.peek_at(i) != Some(k) {
            break;
        }
        i += 1;
    }
    let found = match c.peek_at(i) {
        None => "end of input".to_string(),
        Some(ch) => show_char(ch, false),
    };
    c.error_at(word, format!("unexpected {found} expecting {expecting}"))
}

// ---------------------------------------------------------------------------------------------
// limit / offset, columns / on_conflict

fn parse_count(what: &str, value: &str) -> Result<u64, ParseError> {
    let c = Cursor::new(what, value);
    if c.chars.is_empty() {
        return Err(c.unexpected("digit"));
    }
    let mut n: u64 = 0;
    for (i, ch) in c.chars.iter().enumerate() {
        let Some(d) = ch.to_digit(10) else {
            return Err(c.unexpected_at(i, "digit"));
        };
        n = match n.checked_mul(10).and_then(|n| n.checked_add(u64::from(d))) {
            Some(n) => n,
            None => return Err(c.error_at(0, format!("{what} is too large"))),
        };
    }
    Ok(n)
}

/// Parse a comma-separated list of (possibly double-quoted) names, as in `columns=` and
/// `on_conflict=`. `what` names the parameter in errors.
pub fn parse_columns(what: &str, value: &str) -> Result<Vec<String>, ParseError> {
    parse_names(what, value, MAX_COLUMNS)
}

/// [`parse_columns`] with at most `max` names.
fn parse_names(what: &str, value: &str, max: usize) -> Result<Vec<String>, ParseError> {
    let mut c = Cursor::new(what, value);
    let mut names = Vec::new();
    loop {
        if names.len() >= max {
            return Err(too_many(
                what,
                format!("too many names in {what}: at most {max} are allowed"),
            ));
        }
        c.skip_ws();
        names.push(c.field_name(FIELD_NAME)?);
        c.no_json_path()?;
        c.skip_ws();
        if c.eat(',') {
            continue;
        }
        c.expect_end("\",\" or end of input")?;
        return Ok(names);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Result<QueryParams, ParseError> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse_query(&owned)
    }

    fn ok(pairs: &[(&str, &str)]) -> QueryParams {
        match q(pairs) {
            Ok(p) => p,
            Err(e) => panic!("{pairs:?} failed: {e:?}"),
        }
    }

    fn err(pairs: &[(&str, &str)]) -> ParseError {
        match q(pairs) {
            Ok(p) => panic!("{pairs:?} should fail, got {p:?}"),
            Err(e) => e,
        }
    }

    fn filter(value: &str) -> (bool, Operation) {
        match parse_filter(value) {
            Ok(f) => f,
            Err(e) => panic!("{value:?} failed: {e:?}"),
        }
    }

    fn filter_err(value: &str) -> ParseError {
        match parse_filter(value) {
            Ok(f) => panic!("{value:?} should fail, got {f:?}"),
            Err(e) => e,
        }
    }

    fn cmp(op: CmpOp, v: &str) -> Operation {
        Operation::Compare {
            op,
            value: v.into(),
        }
    }

    fn f(column: &str, negated: bool, operation: Operation) -> Filter {
        Filter {
            column: column.into(),
            path: vec![],
            negated,
            operation,
        }
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn col(name: &str) -> SelectItem {
        SelectItem::Column {
            name: name.into(),
            alias: None,
            cast: None,
            path: vec![],
        }
    }

    fn term(column: &str, d: Option<Direction>, n: Option<Nulls>) -> OrderTerm {
        OrderTerm {
            relation: None,
            column: column.into(),
            path: vec![],
            direction: d,
            nulls: n,
        }
    }

    fn group(op: LogicOp, negated: bool, children: Vec<LogicTree>) -> LogicTree {
        LogicTree::Group {
            op,
            negated,
            children,
        }
    }

    fn leaf(column: &str, negated: bool, operation: Operation) -> LogicTree {
        LogicTree::Filter(f(column, negated, operation))
    }

    fn logic(value: &str) -> LogicTree {
        match parse_logic_tree(LogicOp::Or, false, value) {
            Ok(t) => t,
            Err(e) => panic!("{value:?} failed: {e:?}"),
        }
    }

    fn logic_children(value: &str) -> Vec<LogicTree> {
        match logic(value) {
            LogicTree::Group { children, .. } => children,
            other => panic!("not a group: {other:?}"),
        }
    }

    fn logic_err(value: &str) -> ParseError {
        match parse_logic_tree(LogicOp::Or, false, value) {
            Ok(t) => panic!("{value:?} should fail, got {t:?}"),
            Err(e) => e,
        }
    }

    fn select(value: &str) -> Vec<SelectItem> {
        match parse_select(value) {
            Ok(Some(s)) => s,
            other => panic!("{value:?}: {other:?}"),
        }
    }

    fn select_err(value: &str) -> ParseError {
        match parse_select(value) {
            Ok(s) => panic!("{value:?} should fail, got {s:?}"),
            Err(e) => e,
        }
    }

    fn order(value: &str) -> Vec<OrderTerm> {
        match parse_order(value) {
            Ok(o) => o,
            Err(e) => panic!("{value:?} failed: {e:?}"),
        }
    }

    fn order_err(value: &str) -> ParseError {
        match parse_order(value) {
            Ok(o) => panic!("{value:?} should fail, got {o:?}"),
            Err(e) => e,
        }
    }

    // ----- classification ---------------------------------------------------------------

    #[test]
    fn classification() {
        let p = ok(&[
            ("select", "id,albums(id)"),
            ("id", "eq.1"),
            ("albums.year", "gt.2000"),
            ("albums.tracks.name", "like.A*"),
            ("\"a.dotted.col\"", "eq.1"),
            ("order", "id"),
            ("albums.order", "year.desc"),
            ("albums.tracks.limit", "2"),
            ("albums.offset", "1"),
            ("limit", "10"),
            ("offset", "5"),
            ("or", "(a.eq.1,b.eq.2)"),
            ("and", "(a.eq.1)"),
            ("not.or", "(a.eq.1)"),
            ("albums.not.and", "(a.eq.1)"),
            ("albums.or", "(year.lt.1980,year.gt.2000)"),
            ("columns", "id,name"),
            ("on_conflict", "name"),
        ]);
        assert_eq!(
            p.filters,
            vec![
                (vec![], f("id", false, cmp(CmpOp::Eq, "1"))),
                (strs(&["albums"]), f("year", false, cmp(CmpOp::Gt, "2000"))),
                (
                    strs(&["albums", "tracks"]),
                    f("name", false, cmp(CmpOp::Like, "A*"))
                ),
                (vec![], f("a.dotted.col", false, cmp(CmpOp::Eq, "1"))),
            ]
        );
        assert_eq!(
            p.order,
            vec![
                (vec![], vec![term("id", None, None)]),
                (
                    strs(&["albums"]),
                    vec![term("year", Some(Direction::Desc), None)]
                ),
            ]
        );
        assert_eq!(
            p.limit,
            vec![(strs(&["albums", "tracks"]), 2), (vec![], 10)]
        );
        assert_eq!(p.offset, vec![(strs(&["albums"]), 1), (vec![], 5)]);
        let roots: Vec<(EmbedPath, LogicOp, bool)> = p
            .logic
            .iter()
            .map(|(path, t)| match t {
                LogicTree::Group { op, negated, .. } => (path.clone(), *op, *negated),
                LogicTree::Filter(_) => panic!("top level must be a group"),
            })
            .collect();
        assert_eq!(
            roots,
            vec![
                (vec![], LogicOp::Or, false),
                (vec![], LogicOp::And, false),
                (vec![], LogicOp::Or, true),
                (strs(&["albums"]), LogicOp::And, true),
                (strs(&["albums"]), LogicOp::Or, false),
            ]
        );
        assert_eq!(p.columns, Some(strs(&["id", "name"])));
        assert_eq!(p.on_conflict, Some(strs(&["name"])));
        assert_eq!(
            p.select,
            Some(vec![
                col("id"),
                SelectItem::Embed {
                    relation: "albums".into(),
                    alias: None,
                    hint: None,
                    inner: false,
                    spread: false,
                    items: vec![col("id")],
                }
            ])
        );
    }

    #[test]
    fn empty_query() {
        assert_eq!(ok(&[]), QueryParams::default());
    }

    #[test]
    fn quoted_reserved_words_are_columns() {
        let p = ok(&[
            ("\"order\"", "eq.1"),
            ("x.\"limit\"", "eq.2"),
            ("\"or\"", "is.null"),
        ]);
        assert_eq!(p.filters.len(), 3);
        assert_eq!(p.filters[1].0, strs(&["x"]));
        assert_eq!(p.filters[1].1.column, "limit");
        assert!(p.order.is_empty() && p.limit.is_empty() && p.logic.is_empty());
    }

    #[test]
    fn repeated_params() {
        // §11.2 2: the same column twice, both kept in URL order.
        let p = ok(&[
            ("milliseconds", "gte.300000"),
            ("milliseconds", "lte.343000"),
        ]);
        assert_eq!(
            p.filters,
            vec![
                (vec![], f("milliseconds", false, cmp(CmpOp::Gte, "300000"))),
                (vec![], f("milliseconds", false, cmp(CmpOp::Lte, "343000"))),
            ]
        );
        // Last order/limit/offset per path wins, keeping the first position.
        let p = ok(&[
            ("order", "a"),
            ("x.order", "b"),
            ("order", "c.desc"),
            ("limit", "1"),
            ("limit", "2"),
            ("offset", "3"),
            ("offset", "4"),
        ]);
        assert_eq!(
            p.order,
            vec![
                (vec![], vec![term("c", Some(Direction::Desc), None)]),
                (strs(&["x"]), vec![term("b", None, None)]),
            ]
        );
        assert_eq!(p.limit, vec![(vec![], 2)]);
        assert_eq!(p.offset, vec![(vec![], 4)]);
        // First select/columns/on_conflict wins; later ones are not even parsed.
        let p = ok(&[
            ("select", "id"),
            ("select", "((("),
            ("columns", "a"),
            ("columns", ""),
            ("on_conflict", "b"),
            ("on_conflict", ""),
        ]);
        assert_eq!(p.select, Some(vec![col("id")]));
        assert_eq!(p.columns, Some(strs(&["a"])));
        assert_eq!(p.on_conflict, Some(strs(&["b"])));
        // Several or= are each kept.
        assert_eq!(ok(&[("or", "(a.eq.1)"), ("or", "(b.eq.2)")]).logic.len(), 2);
    }

    #[test]
    fn bad_keys() {
        let e = err(&[("", "eq.1")]);
        assert_eq!(e.what, "path");
        assert_eq!(e.details, "empty parameter name");
        for k in [
            "a..b",
            ".a",
            "a.",
            "a!b",
            "\"unterminated",
            "a(b)",
            "x=y",
            "a->",
            "a->b.c",
            "a->>--1",
        ] {
            assert_eq!(err(&[(k, "eq.1")]).what, "path", "{k}");
        }
        let e = err(&[("a!b", "eq.1")]);
        assert_eq!(e.column, 2);
        assert_eq!(
            e.details,
            "unexpected '!' expecting delimiter (.) or end of input"
        );
        // Names may contain spaces, unicode letters, digits, $, _ and -.
        let p = ok(&[
            ("Unit Price", "lt.200"),
            ("prénom", "eq.x"),
            ("a-b$_1", "eq.1"),
        ]);
        let names: Vec<&str> = p.filters.iter().map(|(_, f)| f.column.as_str()).collect();
        assert_eq!(names, vec!["Unit Price", "prénom", "a-b$_1"]);
        // Quoted names keep everything, with \" and \\ escapes.
        let p = ok(&[("\"we\\\"ird \\\\ name.\"", "eq.1")]);
        assert_eq!(p.filters[0].1.column, "we\"ird \\ name.");
    }

    #[test]
    fn not_only_right_before_logic_op() {
        // `not` elsewhere is an embed name.
        let p = ok(&[("not.x.or", "(a.eq.1)")]);
        assert_eq!(p.logic[0].0, strs(&["not", "x"]));
        assert!(matches!(
            p.logic[0].1,
            LogicTree::Group { negated: false, .. }
        ));
        // A quoted "not" does not negate.
        let p = ok(&[("\"not\".or", "(a.eq.1)")]);
        assert_eq!(p.logic[0].0, strs(&["not"]));
    }

    // ----- filters ---------------------------------------------------------------------

    #[test]
    fn simple_filters() {
        // §11.2 1, 3, 5, 8.
        assert_eq!(filter("eq.2"), (false, cmp(CmpOp::Eq, "2")));
        assert_eq!(filter("not.eq.2"), (true, cmp(CmpOp::Eq, "2")));
        assert_eq!(filter("eq.1.29"), (false, cmp(CmpOp::Eq, "1.29")));
        assert_eq!(filter("neq.1980"), (false, cmp(CmpOp::Neq, "1980")));
        assert_eq!(
            filter("isdistinct.1980"),
            (false, Operation::IsDistinct("1980".into()))
        );
        assert_eq!(filter("like.*Rock*"), (false, cmp(CmpOp::Like, "*Rock*")));
        assert_eq!(filter("ilike.*rock*"), (false, cmp(CmpOp::Ilike, "*rock*")));
        assert_eq!(filter("not.like.*x"), (true, cmp(CmpOp::Like, "*x")));
        for (s, op) in [
            ("gt", CmpOp::Gt),
            ("gte", CmpOp::Gte),
            ("lt", CmpOp::Lt),
            ("lte", CmpOp::Lte),
            ("match", CmpOp::Match),
            ("imatch", CmpOp::Imatch),
        ] {
            assert_eq!(filter(&format!("{s}.v")), (false, cmp(op, "v")));
            assert_eq!(op.name(), s);
        }
    }

    #[test]
    fn filter_value_is_verbatim() {
        assert_eq!(filter("eq."), (false, cmp(CmpOp::Eq, "")));
        assert_eq!(filter("eq.\"x\""), (false, cmp(CmpOp::Eq, "\"x\"")));
        assert_eq!(filter("eq.a,b(c).d"), (false, cmp(CmpOp::Eq, "a,b(c).d")));
        assert_eq!(filter("eq. spaced "), (false, cmp(CmpOp::Eq, " spaced ")));
        assert_eq!(filter("eq.not.x"), (false, cmp(CmpOp::Eq, "not.x")));
        assert_eq!(filter("eq.{1,2}"), (false, cmp(CmpOp::Eq, "{1,2}")));
        assert_eq!(filter("eq.日本語.✓"), (false, cmp(CmpOp::Eq, "日本語.✓")));
        assert_eq!(filter("like.%a_"), (false, cmp(CmpOp::Like, "%a_")));
        assert_eq!(
            filter("gte.2024-01-01T00:00:00+00:00"),
            (false, cmp(CmpOp::Gte, "2024-01-01T00:00:00+00:00"))
        );
    }

    #[test]
    fn is_values() {
        // §11.2 4: case-insensitive, `is.nil` is an error.
        for (s, v) in [
            ("null", IsValue::Null),
            ("NULL", IsValue::Null),
            ("not_null", IsValue::NotNull),
            ("NoT_NuLl", IsValue::NotNull),
            ("true", IsValue::True),
            ("TRUE", IsValue::True),
            ("false", IsValue::False),
            ("unknown", IsValue::Unknown),
            ("Unknown", IsValue::Unknown),
        ] {
            assert_eq!(filter(&format!("is.{s}")), (false, Operation::Is(v)));
        }
        assert_eq!(filter("not.is.null"), (true, Operation::Is(IsValue::Null)));
        assert_eq!(
            filter("not.is.not_null"),
            (true, Operation::Is(IsValue::NotNull))
        );
        let e = filter_err("is.nil");
        assert_eq!(e.what, "filter");
        assert_eq!(e.column, 5);
        assert_eq!(e.details, format!("unexpected \"i\" expecting {TRILEAN}"));
        let e = filter_err("is.nullx");
        assert_eq!(e.column, 8);
        assert_eq!(e.details, format!("unexpected \"x\" expecting {TRILEAN}"));
        let e = filter_err("is.nu");
        assert_eq!(
            e.details,
            format!("unexpected end of input expecting {TRILEAN}")
        );
        for bad in ["is.", "is.1", "is.yes", "is.nulL2", "is.ñull", "is"] {
            filter_err(bad);
        }
    }

    #[test]
    fn in_lists() {
        // §11.2 6, 7 and §1.3.
        assert_eq!(
            filter("in.(1,3)"),
            (false, Operation::In(strs(&["1", "3"])))
        );
        assert_eq!(
            filter("not.in.(1,2,3)"),
            (true, Operation::In(strs(&["1", "2", "3"])))
        );
        assert_eq!(filter("in.()"), (false, Operation::In(vec![])));
        assert_eq!(filter("not.in.()"), (true, Operation::In(vec![])));
        assert_eq!(filter("in.(   )"), (false, Operation::In(vec![])));
        assert_eq!(filter("in.( ,3)"), (false, Operation::In(strs(&["", "3"]))));
        assert_eq!(
            filter("in.(\"Crosby, Stills and Nash\",Accept)"),
            (
                false,
                Operation::In(strs(&["Crosby, Stills and Nash", "Accept"]))
            )
        );
        assert_eq!(
            filter("in.(\"Hebdon, John\",\"Williams, Mary\")"),
            (
                false,
                Operation::In(strs(&["Hebdon, John", "Williams, Mary"]))
            )
        );
        assert_eq!(
            filter("in.(David White,\"Hebdon, John\")"),
            (false, Operation::In(strs(&["David White", "Hebdon, John"])))
        );
        assert_eq!(
            filter("in.(\"Double\\\"Quote\\\"McGraw\\\"\")"),
            (false, Operation::In(strs(&["Double\"Quote\"McGraw\""])))
        );
        assert_eq!(filter("in.(\\)"), (false, Operation::In(strs(&["\\"]))));
        assert_eq!(
            filter("in.(\"a\\\\b\",\"\\x\")"),
            (false, Operation::In(strs(&["a\\b", "x"])))
        );
        assert_eq!(
            filter("in.(\"(paren)\",\"a.b\",\"\")"),
            (false, Operation::In(strs(&["(paren)", "a.b", ""])))
        );
        // Unquoted elements are verbatim (no trimming), lone quotes kept.
        assert_eq!(
            filter("in.(1, 2 ,a\"b)"),
            (false, Operation::In(strs(&["1", " 2 ", "a\"b"])))
        );
        // A quote not closing the element falls back to raw text.
        assert_eq!(
            filter("in.(\"a\"b,c)"),
            (false, Operation::In(strs(&["\"a\"b", "c"])))
        );
        assert_eq!(
            filter("in.(\"a,b)"),
            (false, Operation::In(strs(&["\"a", "b"])))
        );
        // Whitespace after a closing quote is allowed, and around the parens.
        assert_eq!(
            filter("in. ( \"a\" , \"b\"  ) "),
            (false, Operation::In(strs(&["a", "b"])))
        );
        assert_eq!(filter("in.(,)"), (false, Operation::In(strs(&["", ""]))));
        // `(` inside an unquoted element is literal (as in PostgREST).
        assert_eq!(filter("in.((1)"), (false, Operation::In(strs(&["(1"]))));
        assert_eq!(
            filter("in.( \"a\",  b , \"c\"x)"),
            (false, Operation::In(strs(&["a", "  b ", " \"c\"x"])))
        );
        assert_eq!(
            filter("in.(日本,é)"),
            (false, Operation::In(strs(&["日本", "é"])))
        );
    }

    #[test]
    fn in_list_errors() {
        let e = filter_err("in.1,2");
        assert_eq!(e.column, 4);
        assert_eq!(e.details, "unexpected \"1\" expecting \"(\"");
        let e = filter_err("in.(1,2");
        assert_eq!(
            e.details,
            "unexpected end of input expecting \",\" or \")\""
        );
        assert_eq!(e.column, 8);
        let e = filter_err("in.(1)x");
        assert_eq!(e.details, "unexpected 'x' expecting end of input");
        for bad in [
            "in.",
            "in.(",
            "in.(\"abc",
            "in(any).(1)",
            "in.(1))",
            "in.(1)(2)",
        ] {
            filter_err(bad);
        }
    }

    #[test]
    fn quantified() {
        // §11.2 9 and §1.2.
        assert_eq!(
            filter("eq(any).{Metal,Alternative}"),
            (
                false,
                Operation::Quantified {
                    op: CmpOp::Eq,
                    quantifier: Quantifier::Any,
                    values: strs(&["Metal", "Alternative"]),
                }
            )
        );
        assert_eq!(
            filter("like(any).{AC*,Au*}"),
            (
                false,
                Operation::Quantified {
                    op: CmpOp::Like,
                    quantifier: Quantifier::Any,
                    values: strs(&["AC*", "Au*"]),
                }
            )
        );
        assert_eq!(
            filter("not.gt(all).{4,3}"),
            (
                true,
                Operation::Quantified {
                    op: CmpOp::Gt,
                    quantifier: Quantifier::All,
                    values: strs(&["4", "3"]),
                }
            )
        );
        assert_eq!(
            filter("ilike(all).{ \"a,b\" , c d ,\"x\\\"y\",e\\,f,\"\"}"),
            (
                false,
                Operation::Quantified {
                    op: CmpOp::Ilike,
                    quantifier: Quantifier::All,
                    values: strs(&["a,b", "c d", "x\"y", "e,f", ""]),
                }
            )
        );
        assert_eq!(
            filter("eq(any).{}"),
            (
                false,
                Operation::Quantified {
                    op: CmpOp::Eq,
                    quantifier: Quantifier::Any,
                    values: vec![],
                }
            )
        );
        for op in [
            "eq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch",
        ] {
            assert!(parse_filter(&format!("{op}(any).{{1}}")).is_ok(), "{op}");
            assert!(parse_filter(&format!("{op}(all).{{1}}")).is_ok(), "{op}");
        }
        for bad in [
            "neq(any).{1}",
            "is(any).{1}",
            "in(any).{1}",
            "isdistinct(any).{1}",
            "eq(some).{1}",
            "eq(any.{1}",
            "eq(any){1}",
            "eq(any).1,2",
            "eq(any).{1,2",
            "eq(any).{1,,2}",
            "eq(any).{1,}",
            "eq(any).{,1}",
            "eq(any).{{1},{2}}",
            "eq(any).{a\"b}",
            "eq(any).{\"a}",
            "eq(any).{1}x",
            "eq(any).{1\\",
            "eq(",
        ] {
            filter_err(bad);
        }
        let e = filter_err("eq(some).{1}");
        assert_eq!(e.column, 4);
        assert_eq!(e.details, "unexpected \"s\" expecting \"any\" or \"all\"");
    }

    #[test]
    fn filter_errors() {
        // §11.2 13 / §1.1: `id=1`.
        let e = err(&[("id", "1")]);
        assert_eq!(e.what, "filter");
        assert_eq!(e.input, "1");
        assert_eq!(e.column, 1);
        assert_eq!(
            e.details,
            "unexpected \"1\" expecting \"not\" or operator (eq, gt, ...)"
        );
        assert_eq!(
            e.postgrest_message(),
            "\"failed to parse filter (1)\" (line 1, column 1)"
        );
        // `id=foo.1`, and the doctest `a.b=noop.0` (column 6).
        let e = filter_err("foo.1");
        assert_eq!(e.details, "unknown single value operator foo");
        let e = err(&[("a.b", "noop.0")]);
        assert_eq!(e.column, 6);
        assert_eq!(e.details, "unknown single value operator noop");
        // `id=` (empty) fails.
        let e = err(&[("id", "")]);
        assert_eq!(
            e.details,
            "unexpected end of input expecting \"not\" or operator (eq, gt, ...)"
        );
        let e = filter_err("not.5");
        assert_eq!(e.column, 5);
        assert_eq!(
            e.details,
            "unexpected \"5\" expecting operator (eq, gt, ...)"
        );
        for bad in [
            "eq",
            "not",
            "not.",
            "not.not.eq.1",
            "EQ.1",
            "fts.x",
            "fts(english).x",
            "neq(any).{1}",
            "is(x).null",
            ".eq.1",
            "(.1",
            "eq(",
            "not.eq",
            "é.1",
        ] {
            filter_err(bad);
        }
    }

    // ----- logic trees -----------------------------------------------------------------

    #[test]
    fn logic_examples() {
        // §11.2 10.
        assert_eq!(
            logic("(year.lt.1981,year.gt.2000)"),
            group(
                LogicOp::Or,
                false,
                vec![
                    leaf("year", false, cmp(CmpOp::Lt, "1981")),
                    leaf("year", false, cmp(CmpOp::Gt, "2000")),
                ]
            )
        );
        // §11.2 11.
        let p = ok(&[("and", "(artist_id.eq.1,or(year.eq.1980,year.is.null))")]);
        assert_eq!(
            p.logic,
            vec![(
                vec![],
                group(
                    LogicOp::And,
                    false,
                    vec![
                        leaf("artist_id", false, cmp(CmpOp::Eq, "1")),
                        group(
                            LogicOp::Or,
                            false,
                            vec![
                                leaf("year", false, cmp(CmpOp::Eq, "1980")),
                                leaf("year", false, Operation::Is(IsValue::Null)),
                            ]
                        ),
                    ]
                )
            )]
        );
        let p = ok(&[("not.or", "(artist_id.eq.1,artist_id.eq.2)")]);
        assert!(matches!(
            &p.logic[0].1,
            LogicTree::Group { op: LogicOp::Or, negated: true, children } if children.len() == 2
        ));
        // §11.2 12: quoted value with a comma.
        assert_eq!(
            logic_children("(name.eq.\"Crosby, Stills and Nash\",id.eq.1)"),
            vec![
                leaf("name", false, cmp(CmpOp::Eq, "Crosby, Stills and Nash")),
                leaf("id", false, cmp(CmpOp::Eq, "1")),
            ]
        );
        // §1.4.
        assert_eq!(
            logic_children("(age.eq.14,not.and(age.gte.11,age.lte.17))"),
            vec![
                leaf("age", false, cmp(CmpOp::Eq, "14")),
                group(
                    LogicOp::And,
                    true,
                    vec![
                        leaf("age", false, cmp(CmpOp::Gte, "11")),
                        leaf("age", false, cmp(CmpOp::Lte, "17")),
                    ]
                ),
            ]
        );
        assert_eq!(
            logic_children("(albums.not.is.null,tracks.is.null)"),
            vec![
                leaf("albums", true, Operation::Is(IsValue::Null)),
                leaf("tracks", false, Operation::Is(IsValue::Null)),
            ]
        );
    }

    #[test]
    fn logic_values() {
        assert_eq!(
            logic_children(
                "( a.in.(1,\"x,y\") , b.eq(any).{1,\"2,3\"} , c.eq.{1,2} , d.not.like.*x* , \
                 e.isdistinct. , f.is.TRUE ,g.eq.1.5,h.eq.\"(q)\" ,i.eq.a b  )"
            ),
            vec![
                leaf("a", false, Operation::In(strs(&["1", "x,y"]))),
                leaf(
                    "b",
                    false,
                    Operation::Quantified {
                        op: CmpOp::Eq,
                        quantifier: Quantifier::Any,
                        values: strs(&["1", "2,3"]),
                    }
                ),
                leaf("c", false, cmp(CmpOp::Eq, "{1,2}")),
                leaf("d", true, cmp(CmpOp::Like, "*x*")),
                leaf("e", false, Operation::IsDistinct(String::new())),
                leaf("f", false, Operation::Is(IsValue::True)),
                leaf("g", false, cmp(CmpOp::Eq, "1.5")),
                leaf("h", false, cmp(CmpOp::Eq, "(q)")),
                leaf("i", false, cmp(CmpOp::Eq, "a b")),
            ]
        );
        assert_eq!(
            logic_children("(\"a.b\".eq.1,and.eq.2,or.is.null,not.eq.3)"),
            vec![
                leaf("a.b", false, cmp(CmpOp::Eq, "1")),
                leaf("and", false, cmp(CmpOp::Eq, "2")),
                leaf("or", false, Operation::Is(IsValue::Null)),
                leaf("not", false, cmp(CmpOp::Eq, "3")),
            ]
        );
        // Empty value, quoted value keeping its spaces, in with empty list.
        assert_eq!(
            logic_children("(a.eq.,b.eq.\" x \",c.in.())"),
            vec![
                leaf("a", false, cmp(CmpOp::Eq, "")),
                leaf("b", false, cmp(CmpOp::Eq, " x ")),
                leaf("c", false, Operation::In(vec![])),
            ]
        );
        // A quote that does not end the value is raw text.
        assert_eq!(
            logic_children("(a.eq.\"x\"y,b.eq.{1,c.eq.\"x\" y )"),
            vec![
                leaf("a", false, cmp(CmpOp::Eq, "\"x\"y")),
                leaf("b", false, cmp(CmpOp::Eq, "{1")),
                leaf("c", false, cmp(CmpOp::Eq, "\"x\" y")),
            ]
        );
        // Whitespace before the opening paren and around groups.
        assert_eq!(
            logic_children("  ( or ( a.eq.1 ) , not.and (b.eq.2) ) "),
            vec![
                group(
                    LogicOp::Or,
                    false,
                    vec![leaf("a", false, cmp(CmpOp::Eq, "1"))]
                ),
                group(
                    LogicOp::And,
                    true,
                    vec![leaf("b", false, cmp(CmpOp::Eq, "2"))]
                ),
            ]
        );
    }

    #[test]
    fn logic_errors() {
        // §11.2 12: `or=()`.
        let e = err(&[("or", "()")]);
        assert_eq!(e.what, "or");
        assert_eq!(e.column, 2);
        assert_eq!(
            e.details,
            format!(
                "unexpected \")\" expecting {FIELD_NAME}, negation operator (not) or logic \
                 operator (and, or)"
            )
        );
        assert_eq!(
            e.postgrest_message(),
            "\"failed to parse logic tree (())\" (line 1, column 2)"
        );
        assert_eq!(err(&[("and", "")]).what, "and");
        let e = logic_err("(id.in.1,2,id.eq.3)");
        assert_eq!(e.details, "unexpected \"1\" expecting \"(\"");
        let e = logic_err(")(");
        assert_eq!(e.details, "unexpected \")\" expecting \"(\"");
        let e = logic_err("(id.eq.1,not.xor(id.eq.2,id.eq.3))");
        assert_eq!(e.details, "unknown single value operator xor");
        assert_eq!(e.column, 18);
        for bad in [
            "",
            "(",
            "(a.eq.1",
            "(a.eq.1,)",
            "(,a.eq.1)",
            "a.eq.1",
            "(a.eq.1))",
            "(a.eq.1) x",
            "(a)",
            "(a.b)",
            "(a.eq)",
            "(a.foo.1)",
            "(a.is.nil)",
            "(and())",
            "(or(a.eq.1)",
            "(a.in.(1,2)x)",
            "(a.eq(any).1)",
            "(a.eq(any).{1}x)",
            "(a.eq.{1,2}z)",
            "((a.eq.1))",
            "(\"a.eq.1)",
            "(a->.eq.1)",
            "(a->b)",
        ] {
            logic_err(bad);
        }
    }

    #[test]
    fn logic_depth_is_bounded() {
        let mut ok_value = String::from("(a.eq.1)");
        for _ in 1..MAX_DEPTH {
            ok_value = format!("(or{ok_value})");
        }
        assert!(parse_logic_tree(LogicOp::Or, false, &ok_value).is_ok());
        let too_deep = format!("(or{ok_value})");
        let e = logic_err(&too_deep);
        assert!(e.details.contains("nested deeper"), "{e:?}");
        // Very deep input (bounded by the length cap) fails fast, no stack overflow.
        let huge = format!("{}a.eq.1{}", "(and".repeat(10_000), ")".repeat(10_000));
        logic_err(&huge);
        let huge = "(not.or".repeat(9_000);
        logic_err(&huge);
    }

    // ----- select ----------------------------------------------------------------------

    fn agg(
        function: AggregateFunction,
        column: Option<&str>,
        alias: Option<&str>,
        input_cast: Option<&str>,
        cast: Option<&str>,
    ) -> SelectItem {
        SelectItem::Aggregate {
            function,
            column: column.map(Into::into),
            alias: alias.map(Into::into),
            input_cast: input_cast.map(Into::into),
            cast: cast.map(Into::into),
        }
    }

    #[test]
    fn select_aggregates() {
        use AggregateFunction::*;
        assert_eq!(select("count()"), vec![agg(Count, None, None, None, None)]);
        assert_eq!(
            select("cnt:count()::text"),
            vec![agg(Count, None, Some("cnt"), None, Some("text"))]
        );
        assert_eq!(
            select("milliseconds.sum(),album_id"),
            vec![
                agg(Sum, Some("milliseconds"), None, None, None),
                col("album_id")
            ]
        );
        assert_eq!(
            select("total:unit_price.sum()::float"),
            vec![agg(
                Sum,
                Some("unit_price"),
                Some("total"),
                None,
                Some("float")
            )]
        );
        assert_eq!(
            select("a:x::numeric.avg()::int , x.min(),x.max(),x.count()"),
            vec![
                agg(Avg, Some("x"), Some("a"), Some("numeric"), Some("int")),
                agg(Min, Some("x"), None, None, None),
                agg(Max, Some("x"), None, None, None),
                agg(Count, Some("x"), None, None, None),
            ]
        );
        // Inside an embed, and beside one.
        assert_eq!(
            select("title,tracks(milliseconds.sum(),count())"),
            vec![
                col("title"),
                embed(
                    "tracks",
                    None,
                    None,
                    false,
                    vec![
                        agg(Sum, Some("milliseconds"), None, None, None),
                        agg(Count, None, None, None, None)
                    ]
                )
            ]
        );
        // A quoted `"count"()` or `count!hint()` is an embed; `count` alone a column.
        assert!(
            matches!(&select("\"count\"()")[0], SelectItem::Embed { relation, .. } if relation == "count")
        );
        assert!(
            matches!(&select("count!fk()")[0], SelectItem::Embed { relation, .. } if relation == "count")
        );
        assert_eq!(select("count"), vec![col("count")]);
        // Unknown functions and missing parentheses.
        for bad in [
            "x.total()",
            "x.sum",
            "x.sum(1)",
            "x.",
            "count()x",
            "x.sum()::",
        ] {
            let e = select_err(bad);
            assert_eq!(e.what, "select", "{bad}");
        }
        assert!(
            select_err("x.total()")
                .details
                .contains("aggregate function (avg(), count(), max(), min() or sum())"),
            "{:?}",
            select_err("x.total()")
        );
    }

    #[test]
    fn select_basics() {
        // §11.3 15: empty select means `*`.
        assert_eq!(parse_select(""), Ok(None));
        assert_eq!(parse_select("  "), Ok(None));
        assert_eq!(ok(&[("select", "")]).select, None);
        assert_eq!(select("*"), vec![SelectItem::Star]);
        assert_eq!(
            select("artistName:name"),
            vec![SelectItem::Column {
                name: "name".into(),
                alias: Some("artistName".into()),
                cast: None,
                path: vec![],
            }]
        );
        assert_eq!(
            select("id,year::text"),
            vec![
                col("id"),
                SelectItem::Column {
                    name: "year".into(),
                    alias: None,
                    cast: Some("text".into()),
                    path: vec![],
                }
            ]
        );
        assert_eq!(
            select("y:year::timestamp with time zone"),
            vec![SelectItem::Column {
                name: "year".into(),
                alias: Some("y".into()),
                cast: Some("timestamp with time zone".into()),
                path: vec![],
            }]
        );
        assert_eq!(
            select(" id , name ,*"),
            vec![col("id"), col("name"), SelectItem::Star]
        );
        assert_eq!(
            select("\"a.dotted.column\",\"we:ird\":\"x(y)\""),
            vec![
                col("a.dotted.column"),
                SelectItem::Column {
                    name: "x(y)".into(),
                    alias: Some("we:ird".into()),
                    cast: None,
                    path: vec![],
                }
            ]
        );
        assert_eq!(
            select("first name,prénom"),
            vec![col("first name"), col("prénom")]
        );
    }

    fn embed(
        relation: &str,
        alias: Option<&str>,
        hint: Option<&str>,
        inner: bool,
        items: Vec<SelectItem>,
    ) -> SelectItem {
        SelectItem::Embed {
            relation: relation.into(),
            alias: alias.map(Into::into),
            hint: hint.map(Into::into),
            inner,
            spread: false,
            items,
        }
    }

    #[test]
    fn select_embeds() {
        // §11.3 16-24.
        assert_eq!(
            select("title,artist:artists(name)"),
            vec![
                col("title"),
                embed("artists", Some("artist"), None, false, vec![col("name")])
            ]
        );
        assert_eq!(
            select("id,albums!inner(title)"),
            vec![
                col("id"),
                embed("albums", None, None, true, vec![col("title")])
            ]
        );
        assert_eq!(
            select("*,playlists(*)"),
            vec![
                SelectItem::Star,
                embed("playlists", None, None, false, vec![SelectItem::Star])
            ]
        );
        assert_eq!(
            select("name,albums(count)"),
            vec![
                col("name"),
                embed("albums", None, None, false, vec![col("count")])
            ]
        );
        assert_eq!(
            select("rel()"),
            vec![embed("rel", None, None, false, vec![])]
        );
        assert_eq!(
            select("rel( )"),
            vec![embed("rel", None, None, false, vec![])]
        );
        assert_eq!(
            select("rel!hint(*)"),
            vec![embed(
                "rel",
                None,
                Some("hint"),
                false,
                vec![SelectItem::Star]
            )]
        );
        assert_eq!(
            select("rel!left(*)"),
            vec![embed("rel", None, None, false, vec![SelectItem::Star])]
        );
        assert_eq!(
            select("a:rel!hint!inner(*)"),
            vec![embed(
                "rel",
                Some("a"),
                Some("hint"),
                true,
                vec![SelectItem::Star]
            )]
        );
        assert_eq!(
            select("a:rel!inner!hint(*)"),
            vec![embed(
                "rel",
                Some("a"),
                Some("hint"),
                true,
                vec![SelectItem::Star]
            )]
        );
        assert_eq!(
            select("rel!\"inner\"(*)"),
            vec![embed(
                "rel",
                None,
                Some("inner"),
                false,
                vec![SelectItem::Star]
            )]
        );
        assert_eq!(
            select("rel!leftover(*)"),
            vec![embed(
                "rel",
                None,
                Some("leftover"),
                false,
                vec![SelectItem::Star]
            )]
        );
        assert_eq!(
            select("*,client(*,nested(*)),  other ( id , x:y::int ) "),
            vec![
                SelectItem::Star,
                embed(
                    "client",
                    None,
                    None,
                    false,
                    vec![
                        SelectItem::Star,
                        embed("nested", None, None, false, vec![SelectItem::Star])
                    ]
                ),
                embed(
                    "other",
                    None,
                    None,
                    false,
                    vec![
                        col("id"),
                        SelectItem::Column {
                            name: "y".into(),
                            alias: Some("x".into()),
                            cast: Some("int".into()),
                            path: vec![],
                        }
                    ]
                ),
            ]
        );
    }

    #[test]
    fn select_errors() {
        let e = select_err("id,clients(name[])");
        assert_eq!(e.what, "select");
        assert_eq!(e.column, 16);
        assert_eq!(e.details, "unexpected \"[\" expecting \",\" or \")\"");
        assert_eq!(
            e.postgrest_message(),
            "\"failed to parse select parameter (id,clients(name[]))\" (line 1, column 16)"
        );
        let e = select_err("*!hint");
        assert_eq!(e.column, 2);
        assert_eq!(e.details, "unexpected '!' expecting \",\" or end of input");
        let e = select_err("name::");
        assert_eq!(e.column, 7);
        assert_eq!(
            e.details,
            "unexpected end of input expecting letter or digit"
        );
        for bad in [
            ",",
            "id,",
            ",id",
            "id,,name",
            "rel(",
            "rel(id",
            "rel(id))",
            ")",
            "a:",
            ":a",
            "a:*",
            "*::text",
            "name!hint",
            "rel!(x)",
            "rel!a!b!c(*)",
            "...rel",
            "...*",
            "data->",
            "data->>--34",
            "data->a(x)",
            "rel->x(*)",
            "...data->a",
            "data->a:x",
            "data->a::",
            "a:b:c",
            "\"unterminated",
            "id name(",
            "rel(*)x",
            "a b c(d)e",
        ] {
            select_err(bad);
        }
    }

    #[test]
    fn select_depth_is_bounded() {
        let mut v = String::from("id");
        for _ in 0..MAX_DEPTH {
            v = format!("r({v})");
        }
        assert!(parse_select(&v).is_ok());
        let e = select_err(&format!("r({v})"));
        assert!(e.details.contains("nested deeper"), "{e:?}");
        let huge = format!("{}id{}", "r(".repeat(20_000), ")".repeat(20_000));
        select_err(&huge);
        select_err(&"a(".repeat(30_000));
    }

    // ----- order -----------------------------------------------------------------------

    #[test]
    fn order_terms() {
        // §11.3 23, 25, 26.
        assert_eq!(
            order("year.desc.nullslast"),
            vec![term("year", Some(Direction::Desc), Some(Nulls::Last))]
        );
        assert_eq!(
            order("year.asc"),
            vec![term("year", Some(Direction::Asc), None)]
        );
        assert_eq!(
            order("year.desc"),
            vec![term("year", Some(Direction::Desc), None)]
        );
        assert_eq!(
            order("year.nullsfirst"),
            vec![term("year", None, Some(Nulls::First))]
        );
        assert_eq!(
            order("unit_price.desc,id"),
            vec![
                term("unit_price", Some(Direction::Desc), None),
                term("id", None, None)
            ]
        );
        assert_eq!(
            order("artists(id).desc,id.asc"),
            vec![
                OrderTerm {
                    relation: Some("artists".into()),
                    column: "id".into(),
                    path: vec![],
                    direction: Some(Direction::Desc),
                    nulls: None,
                },
                term("id", Some(Direction::Asc), None),
            ]
        );
        assert_eq!(
            order("name.desc.nullsfirst"),
            vec![term("name", Some(Direction::Desc), Some(Nulls::First))]
        );
        assert_eq!(
            order(" a , b.asc.nullsfirst , \"c.d\".desc , r( x ).nullslast "),
            vec![
                term("a", None, None),
                term("b", Some(Direction::Asc), Some(Nulls::First)),
                term("c.d", Some(Direction::Desc), None),
                OrderTerm {
                    relation: Some("r".into()),
                    column: "x".into(),
                    path: vec![],
                    direction: None,
                    nulls: Some(Nulls::Last),
                },
            ]
        );
        let p = ok(&[("albums.order", "year.asc"), ("tracks.order", "id")]);
        assert_eq!(p.order.len(), 2);
    }

    #[test]
    fn order_errors_match_postgrest() {
        // Doctests of PostgREST's pOrder and §11.3 26.
        let cases: [(&str, usize, &str); 8] = [
            (
                "id.ac",
                4,
                "unexpected \"c\" expecting \"asc\", \"desc\", \"nullsfirst\" or \"nullslast\"",
            ),
            (
                "id.descc",
                8,
                "unexpected 'c' expecting delimiter (.), \",\" or end of input",
            ),
            (
                "id.nulsfist",
                4,
                "unexpected \"n\" expecting \"asc\", \"desc\", \"nullsfirst\" or \"nullslast\"",
            ),
            (
                "id.nullslasttt",
                13,
                "unexpected 't' expecting \",\" or end of input",
            ),
            (
                "id.smth34",
                4,
                "unexpected \"s\" expecting \"asc\", \"desc\", \"nullsfirst\" or \"nullslast\"",
            ),
            (
                "id.asc.nlsfst",
                8,
                "unexpected \"l\" expecting \"nullsfirst\" or \"nullslast\"",
            ),
            (
                "id.asc.nullslasttt",
                17,
                "unexpected 't' expecting \",\" or end of input",
            ),
            (
                "id.asc.smth34",
                8,
                "unexpected \"s\" expecting \"nullsfirst\" or \"nullslast\"",
            ),
        ];
        for (input, column, details) in cases {
            let e = order_err(input);
            assert_eq!((e.column, e.details.as_str()), (column, details), "{input}");
            assert_eq!(e.what, "order");
        }
        let e = order_err("year.sideways");
        assert!(e.details.starts_with("unexpected \"s\" expecting \"asc\""));
        for bad in [
            "",
            ",",
            "id,",
            ",id",
            "id.",
            "id.asc.",
            "id.asc.desc",
            "id.nullsfirst.asc",
            "clients(name,id)",
            "r(",
            "r(x",
            "r()",
            "id..asc",
            "id.ASC",
            "id desc x!",
            "a->",
            "a->b.up",
            "id.asc,,b",
        ] {
            order_err(bad);
        }
        // `.asc` glued to a longer word.
        let e = order_err("id.ascending");
        assert_eq!(e.column, 7);
    }

    // ----- JSON paths ------------------------------------------------------------------

    fn key(k: &str, text: bool) -> JsonStep {
        JsonStep {
            text,
            operand: JsonOperand::Key(k.into()),
        }
    }

    fn idx(i: i64, text: bool) -> JsonStep {
        JsonStep {
            text,
            operand: JsonOperand::Index(i),
        }
    }

    fn path_col(
        name: &str,
        alias: Option<&str>,
        cast: Option<&str>,
        path: Vec<JsonStep>,
    ) -> SelectItem {
        SelectItem::Column {
            name: name.into(),
            alias: alias.map(Into::into),
            cast: cast.map(Into::into),
            path,
        }
    }

    #[test]
    fn json_paths_in_select() {
        assert_eq!(
            select("id,data->a->>b"),
            vec![
                col("id"),
                path_col("data", None, None, vec![key("a", false), key("b", true)])
            ]
        );
        assert_eq!(
            select("x:data->a->>n::int , y:data->>c"),
            vec![
                path_col(
                    "data",
                    Some("x"),
                    Some("int"),
                    vec![key("a", false), key("n", true)]
                ),
                path_col("data", Some("y"), None, vec![key("c", true)]),
            ]
        );
        // Indexes: `-?digits` followed by the end of the path; anything else is a key.
        assert_eq!(
            select("data->0->>-1,data->0xy1->23-xy-45->1::text"),
            vec![
                path_col("data", None, None, vec![idx(0, false), idx(-1, true)]),
                path_col(
                    "data",
                    None,
                    Some("text"),
                    vec![key("0xy1", false), key("23-xy-45", false), idx(1, false)]
                ),
            ]
        );
        // Keys with PostgREST's non-reserved special characters, quoted keys, spaces
        // trimmed, and inside an embed.
        assert_eq!(
            select("data->!@#$%^&*_d->>\"a.b,c\",data-> k ,rel(data->a)"),
            vec![
                path_col(
                    "data",
                    None,
                    None,
                    vec![key("!@#$%^&*_d", false), key("a.b,c", true)]
                ),
                path_col("data", None, None, vec![key("k", false)]),
                embed(
                    "rel",
                    None,
                    None,
                    false,
                    vec![path_col("data", None, None, vec![key("a", false)])]
                ),
            ]
        );
        // PostgREST's messages for bad indexes.
        let e = select_err("data->>--34");
        assert_eq!(e.column, 9);
        assert_eq!(e.details, "unexpected \"-\" expecting digit");
        let e = select_err("data->>-78xy");
        assert_eq!(e.column, 11);
        assert_eq!(
            e.details,
            "unexpected 'x' expecting digit, \"->\", \"::\", \".\", \",\" or end of input"
        );
        let e = select_err(&format!("data{}", "->a".repeat(MAX_JSON_PATH + 1)));
        assert!(e.too_many, "{e:?}");
        assert!(select_err("data->99999999999999999999")
            .details
            .contains("too large"));
    }

    #[test]
    fn json_paths_in_filters_logic_and_order() {
        let p = ok(&[
            ("data->a->>b", "eq.x"),
            ("albums.data->0", "gt.3"),
            ("order->a", "eq.1"),
            ("\"odd.name\"->>k", "is.null"),
        ]);
        assert_eq!(
            p.filters,
            vec![
                (
                    vec![],
                    Filter {
                        column: "data".into(),
                        path: vec![key("a", false), key("b", true)],
                        negated: false,
                        operation: cmp(CmpOp::Eq, "x"),
                    }
                ),
                (
                    vec!["albums".to_string()],
                    Filter {
                        column: "data".into(),
                        path: vec![idx(0, false)],
                        negated: false,
                        operation: cmp(CmpOp::Gt, "3"),
                    }
                ),
                (
                    vec![],
                    Filter {
                        column: "order".into(),
                        path: vec![key("a", false)],
                        negated: false,
                        operation: cmp(CmpOp::Eq, "1"),
                    }
                ),
                (
                    vec![],
                    Filter {
                        column: "odd.name".into(),
                        path: vec![key("k", true)],
                        negated: false,
                        operation: Operation::Is(IsValue::Null),
                    }
                ),
            ]
        );
        assert!(p.order.is_empty());
        let children =
            logic_children("(data->>a.eq.x, not.and(data->n.gt.3,data->-1->>b.like.A*))");
        assert_eq!(
            children[0],
            LogicTree::Filter(Filter {
                column: "data".into(),
                path: vec![key("a", true)],
                negated: false,
                operation: cmp(CmpOp::Eq, "x"),
            })
        );
        let LogicTree::Group {
            children: inner, ..
        } = &children[1]
        else {
            panic!("{children:?}");
        };
        assert_eq!(
            inner[1],
            LogicTree::Filter(Filter {
                column: "data".into(),
                path: vec![idx(-1, false), key("b", true)],
                negated: false,
                operation: cmp(CmpOp::Like, "A*"),
            })
        );
        assert_eq!(
            order("data->>name.desc,data->0.asc.nullsfirst,r(data->a),data->x"),
            vec![
                OrderTerm {
                    relation: None,
                    column: "data".into(),
                    path: vec![key("name", true)],
                    direction: Some(Direction::Desc),
                    nulls: None,
                },
                OrderTerm {
                    relation: None,
                    column: "data".into(),
                    path: vec![idx(0, false)],
                    direction: Some(Direction::Asc),
                    nulls: Some(Nulls::First),
                },
                OrderTerm {
                    relation: Some("r".into()),
                    column: "data".into(),
                    path: vec![key("a", false)],
                    direction: None,
                    nulls: None,
                },
                OrderTerm {
                    relation: None,
                    column: "data".into(),
                    path: vec![key("x", false)],
                    direction: None,
                    nulls: None,
                },
            ]
        );
        // Names that are not columns take no path.
        for (k, v) in [("columns", "a->b"), ("on_conflict", "a->>b")] {
            let e = err(&[(k, v)]);
            assert!(e.details.contains("not allowed here"), "{e:?}");
        }
        assert!(select_err("rel!hint->a(x)")
            .details
            .contains("not allowed here"));
    }

    // ----- limit / offset --------------------------------------------------------------

    #[test]
    fn limit_offset() {
        // §11.4 27, 30.
        let p = ok(&[("limit", "3"), ("offset", "2")]);
        assert_eq!(p.limit, vec![(vec![], 3)]);
        assert_eq!(p.offset, vec![(vec![], 2)]);
        assert_eq!(ok(&[("limit", "0")]).limit, vec![(vec![], 0)]);
        assert_eq!(
            ok(&[("limit", "18446744073709551615")]).limit,
            vec![(vec![], u64::MAX)]
        );
        let e = err(&[("limit", "-1")]);
        assert_eq!(e.what, "limit");
        assert_eq!(e.details, "unexpected \"-\" expecting digit");
        let e = err(&[("offset", "-4")]);
        assert_eq!(e.what, "offset");
        let e = err(&[("albums.limit", "x")]);
        assert_eq!(e.what, "limit");
        for bad in [
            "",
            " 1",
            "1 ",
            "1.5",
            "+1",
            "1e3",
            "١",
            "18446744073709551616",
        ] {
            assert_eq!(err(&[("limit", bad)]).what, "limit", "{bad:?}");
            assert_eq!(err(&[("offset", bad)]).what, "offset", "{bad:?}");
        }
    }

    // ----- columns / on_conflict -------------------------------------------------------

    #[test]
    fn columns_and_on_conflict() {
        // §11.6 41, 42, 47.
        assert_eq!(
            ok(&[("columns", "\"id\",\"title\",\"artist_id\",\"year\"")]).columns,
            Some(strs(&["id", "title", "artist_id", "year"]))
        );
        assert_eq!(
            ok(&[("columns", "id, title ,artist_id")]).columns,
            Some(strs(&["id", "title", "artist_id"]))
        );
        assert_eq!(
            ok(&[("on_conflict", "name")]).on_conflict,
            Some(strs(&["name"]))
        );
        assert_eq!(
            ok(&[("columns", "\"a,b\",\"c\\\"d\"")]).columns,
            Some(strs(&["a,b", "c\"d"]))
        );
        let e = err(&[("columns", "")]);
        assert_eq!(e.what, "columns");
        assert_eq!(
            e.postgrest_message(),
            "\"failed to parse columns parameter ()\" (line 1, column 1)"
        );
        assert_eq!(err(&[("on_conflict", "")]).what, "on_conflict");
        for bad in [
            "", ",", "a,", ",a", "a,,b", "a b(", "\"a", "a.b", "a->b", "a\"b\"",
        ] {
            assert_eq!(err(&[("columns", bad)]).what, "columns", "{bad:?}");
        }
    }

    // ----- limits and hostile input ----------------------------------------------------

    #[test]
    fn size_limits() {
        let long = "a".repeat(MAX_VALUE_LEN + 1);
        let e = err(&[("id", &format!("eq.{long}"))]);
        assert_eq!(e.what, "filter");
        assert!(e.details.contains("longer than"));
        assert!(e.input.len() < 100);
        assert_eq!(err(&[(&long, "eq.1")]).what, "path");
        assert_eq!(err(&[("select", &long)]).what, "select");
        // Just under the cap is fine.
        let v = format!("eq.{}", "é".repeat((MAX_VALUE_LEN - 3) / 2));
        assert!(q(&[("id", &v)]).is_ok());
        // Too many list elements.
        let many = format!("in.({})", vec!["1"; MAX_LIST_ITEMS + 1].join(","));
        let e = filter_err(&many);
        assert!(e.too_many && e.details.contains("in.(...)"), "{e:?}");
        let enough = format!("in.({})", vec!["1"; MAX_LIST_ITEMS].join(","));
        assert!(parse_filter(&enough).is_ok());
        let many = format!("eq(any).{{{}}}", vec!["1"; MAX_CONDITIONS + 1].join(","));
        assert!(filter_err(&many).details.contains("too many conditions"));
    }

    #[test]
    fn every_list_is_bounded() {
        let list = |item: &str, n: usize| vec![item; n].join(",");
        // select, over every nesting level.
        assert!(q(&[("select", &list("id", MAX_SELECT_ITEMS))]).is_ok());
        let e = err(&[("select", &list("id", MAX_SELECT_ITEMS + 1))]);
        assert!(e.too_many && e.what == "select", "{e:?}");
        assert_eq!(
            e.details,
            "too many entries in select: at most 500 are allowed"
        );
        let nested = format!("id,a({})", list("id", MAX_SELECT_ITEMS - 1));
        assert!(err(&[("select", &nested)]).too_many);
        // order
        assert!(q(&[("order", &list("id", MAX_ORDER_TERMS))]).is_ok());
        let e = err(&[("order", &list("id.desc", MAX_ORDER_TERMS + 1))]);
        assert!(e.too_many && e.details.contains("at most 100"), "{e:?}");
        // columns, on_conflict
        assert!(q(&[("columns", &list("a", MAX_COLUMNS))]).is_ok());
        assert!(err(&[("columns", &list("a", MAX_COLUMNS + 1))]).too_many);
        assert!(q(&[("on_conflict", &list("a", MAX_ON_CONFLICT))]).is_ok());
        let e = err(&[("on_conflict", &list("a", MAX_ON_CONFLICT + 1))]);
        assert_eq!(
            e.details,
            "too many names in on_conflict: at most 32 are allowed"
        );
        // Conditions: filters, logic-tree members (groups too), (any)/(all) elements.
        let filters: Vec<(&str, &str)> = vec![("id", "eq.1"); MAX_CONDITIONS];
        assert!(q(&filters).is_ok());
        let filters: Vec<(&str, &str)> = vec![("id", "eq.1"); MAX_CONDITIONS + 1];
        assert!(err(&filters).details.contains("too many conditions"));
        let tree = format!("({})", list("id.eq.1", MAX_CONDITIONS - 1));
        assert!(q(&[("or", &tree)]).is_ok());
        let e = err(&[("or", &tree), ("id", "eq.1")]);
        assert!(e.too_many && e.details.contains("at most 500"), "{e:?}");
        let tree = format!("({})", list("id.eq.1", MAX_CONDITIONS + 1));
        assert!(err(&[("or", &tree)]).too_many);
        let any = format!("like(any).{{{}}}", list("a", 300));
        assert!(err(&[("a", &any), ("b", &any)]).too_many);
        // in.(...) values, over the whole query.
        let half = format!("in.({})", list("1", MAX_LIST_ITEMS / 2));
        assert!(q(&[("a", &half), ("b", &half)]).is_ok());
        let e = err(&[("a", &half), ("b", &half), ("c", "in.(1)")]);
        assert_eq!(
            e.details,
            "too many values in in.(...) lists: at most 10000 are allowed in one request"
        );
    }

    #[test]
    fn non_ascii_never_confuses_positions() {
        let e = filter_err("ñ");
        assert_eq!(e.column, 1);
        assert_eq!(
            e.details,
            "unexpected \"ñ\" expecting \"not\" or operator (eq, gt, ...)"
        );
        let e = order_err("名前.desç");
        assert_eq!(e.column, 4);
        let e = select_err("名前,€");
        assert_eq!(e.column, 4);
        assert_eq!(
            select("名前,ö:ü::ß"),
            vec![
                col("名前"),
                SelectItem::Column {
                    name: "ü".into(),
                    alias: Some("ö".into()),
                    cast: Some("ß".into()),
                    path: vec![],
                }
            ]
        );
        let e = logic_err("(é.eq.1,😀)");
        assert_eq!(e.column, 9);
        let e = filter_err("in.(\"é");
        assert_eq!(e.column, 7);
        // Control characters are shown escaped.
        let e = filter_err("\u{0}");
        assert!(e.details.contains("\\u{0}"), "{}", e.details);
    }

    #[test]
    fn unbalanced_inputs() {
        for v in [
            "(", ")", "((", "))", ")(", "\"", "\"\"\"", "\\", "{", "}", "{{", "(\"", "(\\",
        ] {
            assert!(
                parse_select(v).is_err() || v.trim().is_empty(),
                "select {v:?}"
            );
            assert!(parse_order(v).is_err(), "order {v:?}");
            assert!(
                parse_logic_tree(LogicOp::And, false, v).is_err(),
                "logic {v:?}"
            );
            assert!(parse_columns("columns", v).is_err(), "columns {v:?}");
            assert!(parse_filter(v).is_err(), "filter {v:?}");
            assert!(parse_filter(&format!("in.{v}")).is_err(), "in {v:?}");
            assert!(parse_filter(&format!("eq(any).{v}")).is_err(), "any {v:?}");
        }
    }

    /// xorshift64*: a tiny deterministic generator so the property test needs no crate.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn random_string(rng: &mut Rng, max_len: usize) -> String {
        const ATOMS: &[&str] = &[
            "(",
            ")",
            ",",
            ".",
            "\"",
            "\\",
            "{",
            "}",
            "!",
            ":",
            "::",
            "*",
            " ",
            "\t",
            "-",
            ">",
            "->",
            "not.",
            "not",
            "and",
            "or",
            "eq",
            "in",
            "is",
            "null",
            "any",
            "all",
            "asc",
            "desc",
            "nullsfirst",
            "nullslast",
            "a",
            "id",
            "1",
            "é",
            "日",
            "😀",
            "\u{0}",
            "$",
            "_",
            "(any)",
            "(all)",
            "inner",
            "left",
            "eq.",
            "in.(",
            "is.",
            "or(",
            "and(",
        ];
        let len = rng.below(max_len + 1);
        let mut s = String::new();
        for _ in 0..len {
            if rng.below(8) == 0 {
                // An arbitrary scalar value, sometimes outside the BMP.
                let c = char::from_u32((rng.next() % 0x11_0000) as u32).unwrap_or('?');
                s.push(c);
            } else {
                s.push_str(ATOMS[rng.below(ATOMS.len())]);
            }
        }
        s
    }

    #[test]
    fn random_inputs_never_panic() {
        const KEYS: &[&str] = &[
            "select",
            "order",
            "limit",
            "offset",
            "or",
            "and",
            "not.or",
            "columns",
            "on_conflict",
            "id",
            "a.b.order",
            "x.not.and",
            "\"q\"",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut oks = 0usize;
        for i in 0..20_000 {
            let value = random_string(&mut rng, 24);
            let key = if i % 5 == 0 {
                random_string(&mut rng, 6)
            } else {
                KEYS[rng.below(KEYS.len())].to_string()
            };
            let pairs = vec![(key, value.clone())];
            if let Ok(p) = parse_query(&pairs) {
                oks += 1;
                // Parsed filters keep the value as given.
                if let Some((_, f)) = p.filters.first() {
                    if let Operation::Compare { value: v, .. } = &f.operation {
                        assert!(value.ends_with(v.as_str()));
                    }
                }
            }
            // Every sub-parser on the same text.
            let _ = parse_select(&value);
            let _ = parse_order(&value);
            let _ = parse_filter(&value);
            let _ = parse_columns("columns", &value);
            let _ = parse_logic_tree(LogicOp::Or, true, &value);
            // Errors always point inside the input (or just past its end).
            if let Err(e) = parse_filter(&value) {
                assert!(
                    e.column >= 1 && e.column <= value.chars().count() + 1,
                    "{e:?}"
                );
            }
            if let Err(e) = parse_logic_tree(LogicOp::Or, false, &value) {
                assert!(
                    e.column >= 1 && e.column <= value.chars().count() + 1,
                    "{e:?}"
                );
            }
        }
        assert!(oks > 0, "the generator should produce some valid inputs");
    }

    #[test]
    fn random_valid_logic_trees_round_trip() {
        // Generate trees, render them, parse them back.
        fn gen(rng: &mut Rng, depth: usize) -> (String, LogicTree) {
            if depth == 0 || rng.below(3) == 0 {
                let col = ["a", "b c", "\"x.y\""][rng.below(3)];
                let name = col.trim_matches('"').to_string();
                let neg = rng.below(2) == 0;
                let (text, op) = match rng.below(4) {
                    0 => ("eq.1".to_string(), cmp(CmpOp::Eq, "1")),
                    1 => ("is.null".to_string(), Operation::Is(IsValue::Null)),
                    2 => (
                        "in.(1,\"2,3\")".to_string(),
                        Operation::In(strs(&["1", "2,3"])),
                    ),
                    _ => ("like.\"a,b\"".to_string(), cmp(CmpOp::Like, "a,b")),
                };
                let text = format!("{col}.{}{text}", if neg { "not." } else { "" });
                return (text, leaf(&name, neg, op));
            }
            let op = if rng.below(2) == 0 {
                LogicOp::And
            } else {
                LogicOp::Or
            };
            let neg = rng.below(2) == 0;
            let n = 1 + rng.below(3);
            let mut texts = Vec::new();
            let mut kids = Vec::new();
            for _ in 0..n {
                let (t, k) = gen(rng, depth - 1);
                texts.push(t);
                kids.push(k);
            }
            let name = match op {
                LogicOp::And => "and",
                LogicOp::Or => "or",
            };
            let text = format!(
                "{}{name}({})",
                if neg { "not." } else { "" },
                texts.join(" , ")
            );
            (text, group(op, neg, kids))
        }
        let mut rng = Rng(42);
        for _ in 0..2_000 {
            let (text, tree) = gen(&mut rng, 5);
            let LogicTree::Group { children, .. } = &tree else {
                continue;
            };
            let LogicTree::Group { .. } = children[0] else {
                continue;
            };
            let value = format!("({text})");
            assert_eq!(logic_children(&value), vec![tree.clone()], "{value}");
        }
    }

    // -----------------------------------------------------------------------------------
    // Containment and range operators (issue 20 item 4)

    fn containment(op: ContainmentOp, v: &str) -> Operation {
        Operation::Containment {
            op,
            value: v.to_string(),
        }
    }

    #[test]
    fn containment_operators() {
        use ContainmentOp::*;
        for (name, op) in [
            ("cs", Contains),
            ("cd", ContainedIn),
            ("ov", Overlaps),
            ("sl", StrictlyLeft),
            ("sr", StrictlyRight),
            ("nxr", NotExtendsRight),
            ("nxl", NotExtendsLeft),
            ("adj", Adjacent),
        ] {
            assert_eq!(
                filter(&format!("{name}.[1,5)")),
                (false, containment(op, "[1,5)"))
            );
            assert_eq!(
                filter(&format!("not.{name}.{{a,b}}")),
                (true, containment(op, "{a,b}"))
            );
            assert_eq!(op.name(), name);
        }
        // The value is verbatim: JSON text, commas, dots and quotes included.
        assert_eq!(
            filter("cs.{\"a\":1,\"b\":[2,3]}"),
            (false, containment(Contains, "{\"a\":1,\"b\":[2,3]}"))
        );
        assert_eq!(
            filter("cd.[\"rock\",\"pop\"]"),
            (false, containment(ContainedIn, "[\"rock\",\"pop\"]"))
        );
        assert_eq!(filter("cs."), (false, containment(Contains, "")));
        // No quantified form, and no other operator that merely starts like one.
        assert_eq!(
            filter_err("cs(any).{a}").details,
            "unexpected \"(\" expecting delimiter (.)"
        );
        assert!(filter_err("css.{a}")
            .details
            .contains("unknown single value operator css"));
        assert!(filter_err("ovx.{a}")
            .details
            .contains("unknown single value operator ovx"));
    }

    #[test]
    fn containment_in_logic_trees() {
        use ContainmentOp::*;
        // A `{...}` literal keeps its commas; other values end at `,` unless quoted.
        assert_eq!(
            logic_children("(tags.cs.{rock,pop},tags.not.cd.{a},r.adj.\"(3,10]\")"),
            vec![
                leaf("tags", false, containment(Contains, "{rock,pop}")),
                leaf("tags", true, containment(ContainedIn, "{a}")),
                leaf("r", false, containment(Adjacent, "(3,10]")),
            ]
        );
        assert_eq!(
            logic_children("(data.cs.{\"a\":1,\"b\":2},and(r.sl.\"[9,10]\",r.ov.empty))"),
            vec![
                leaf("data", false, containment(Contains, "{\"a\":1,\"b\":2}")),
                group(
                    LogicOp::And,
                    false,
                    vec![
                        leaf("r", false, containment(StrictlyLeft, "[9,10]")),
                        leaf("r", false, containment(Overlaps, "empty")),
                    ]
                ),
            ]
        );
        let q = ok(&[("not.or", "(tags.cs.{a},tags.ov.{b,c})")]);
        assert_eq!(
            q.logic,
            vec![(
                vec![],
                group(
                    LogicOp::Or,
                    true,
                    vec![
                        leaf("tags", false, containment(Contains, "{a}")),
                        leaf("tags", false, containment(Overlaps, "{b,c}")),
                    ]
                )
            )]
        );
        // Unquoted, a range literal's comma ends the value, leaving `5)` as junk.
        assert!(logic_err("(r.cs.[1,5))").details.contains("expecting"));
    }
}
