//! Typed values: a filter's text or a body's JSON value, checked against one column's
//! kind and turned into a `SqlValue` that any dialect can bind. A value that does not fit
//! its column is rejected here, identically on every backend (SQLite included).

use base64::Engine;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde_json::Value;

use crate::schema::{Column, ValueKind};

/// A bound parameter. Dialects decide how each is written to their driver.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Float(f64),
    /// Exact decimal text, e.g. `12345678901234567.89`.
    Decimal(String),
    Bool(bool),
    Text(String),
    Date(NaiveDate),
    Time(NaiveTime),
    Timestamp(NaiveDateTime),
    TimestampTz(DateTime<Utc>),
    Uuid(uuid::Uuid),
    /// JSON text.
    Json(String),
    Bytes(Vec<u8>),
    /// One column of many rows, bound as one array parameter: only the PostgreSQL
    /// dialect makes these (its bulk insert), each holding one variant (and `Null`).
    Array(Vec<SqlValue>),
}

impl SqlValue {
    /// Which variant this is, as a number: all of a value a dialect may write into SQL
    /// text (a placeholder's cast), never the value itself.
    pub fn tag(&self) -> u32 {
        match self {
            SqlValue::Null => 0,
            SqlValue::Int(_) => 1,
            SqlValue::Float(_) => 2,
            SqlValue::Decimal(_) => 3,
            SqlValue::Bool(_) => 4,
            SqlValue::Text(_) => 5,
            SqlValue::Date(_) => 6,
            SqlValue::Time(_) => 7,
            SqlValue::Timestamp(_) => 8,
            SqlValue::TimestampTz(_) => 9,
            SqlValue::Uuid(_) => 10,
            SqlValue::Json(_) => 11,
            SqlValue::Bytes(_) => 12,
            SqlValue::Array(_) => 13,
        }
    }
}

fn kind_name(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::Integer => "an integer",
        ValueKind::Float => "a number",
        ValueKind::Decimal => "a decimal number",
        ValueKind::Boolean => "a boolean (true or false)",
        ValueKind::Text => "a string",
        ValueKind::Date => "a date (YYYY-MM-DD)",
        ValueKind::Time => "a time (HH:MM:SS)",
        ValueKind::Timestamp => "a timestamp (YYYY-MM-DDTHH:MM:SS)",
        ValueKind::TimestampTz => "a timestamp with offset (YYYY-MM-DDTHH:MM:SS+00:00)",
        ValueKind::Uuid => "a UUID",
        ValueKind::Json => "JSON",
        ValueKind::Bytes => "base64 text",
        ValueKind::Array => "an array",
        ValueKind::Range => "a range",
    }
}

/// `(precision, scale)` of a declared `NUMERIC(p,s)` / `DECIMAL(p,s)` / `numeric(p)` type
/// (any case, `unsigned` and the like after it ignored); `None` when the type gives none.
pub fn decimal_bounds(declared: &str) -> Option<(u32, u32)> {
    let (name, rest) = declared.split_once('(')?;
    let name = name.trim().to_ascii_lowercase();
    if !matches!(name.as_str(), "numeric" | "decimal" | "dec" | "fixed") {
        return None;
    }
    let (args, _) = rest.split_once(')')?;
    let mut parts = args.split(',').map(str::trim);
    let precision: u32 = parts.next()?.parse().ok()?;
    let scale: u32 = match parts.next() {
        Some(s) => s.parse().ok()?,
        None => 0,
    };
    (parts.next().is_none() && precision > 0 && scale <= precision).then_some((precision, scale))
}

/// The decimal text `t` (as [`is_decimal_text`] accepts it) as its significant digits
/// (no leading zeros) and the position of the decimal point in them: the value is
/// `0.DIGITS × 10^point`. `None` for zero.
fn decimal_digits(t: &str) -> Option<(Vec<u8>, i64)> {
    let t = t.trim_start_matches(['+', '-']);
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (
            &t[..i],
            t[i + 1..]
                .parse::<i64>()
                .unwrap_or(if t[i + 1..].starts_with('-') {
                    i64::MIN / 4
                } else {
                    i64::MAX / 4
                }),
        ),
        None => (t, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: Vec<u8> = int
        .bytes()
        .chain(frac.bytes())
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    let zeros = digits.iter().take_while(|d| **d == 0).count();
    if zeros == digits.len() {
        return None;
    }
    let point =
        (int.len() as i64 - zeros as i64).saturating_add(exp.clamp(i64::MIN / 4, i64::MAX / 4));
    Some((digits[zeros..].to_vec(), point))
}

/// A body's decimal for `column`: finite (as every backend can store it; SQLite would
/// keep 1e400 as Infinity), and within a declared `NUMERIC(p,s)` once rounded to `s`
/// places, as PostgreSQL checks it (`numeric field overflow`) and SQLite never does.
/// The text itself is kept, so digits that fit are stored exactly.
pub fn check_decimal(column: &Column, t: &str) -> Result<(), String> {
    let shown = || {
        let head: String = t.chars().take(40).collect();
        if head.len() < t.len() {
            format!("{head}...")
        } else {
            head
        }
    };
    let Some((digits, point)) = decimal_digits(t) else {
        return Ok(());
    };
    if !t.parse::<f64>().is_ok_and(f64::is_finite) {
        return Err(format!("{} is out of range for a decimal column", shown()));
    }
    let Some((precision, scale)) = decimal_bounds(&column.declared_type) else {
        return Ok(());
    };
    // Round to `scale` places (half away from zero): a carry can add an integer digit.
    let kept = point + i64::from(scale);
    let mut int_digits = point.max(0);
    if kept >= 0 && (kept as usize) < digits.len() {
        let kept = kept as usize;
        let carry_out = digits[kept] >= 5 && digits[..kept].iter().all(|d| *d == 9);
        if carry_out {
            int_digits = (point + 1).max(0);
        }
    }
    let allowed = i64::from(precision - scale);
    if int_digits > allowed {
        return Err(format!(
            "{} does not fit {}: at most {allowed} digit{} before the decimal point",
            shown(),
            column.declared_type,
            if allowed == 1 { "" } else { "s" }
        ));
    }
    Ok(())
}

/// Why a value does not fit: `"'abc' is not an integer"`.
fn mismatch(shown: &str, kind: ValueKind) -> String {
    let mut shown: String = shown.chars().take(60).collect();
    if shown.len() < 60 {
        shown = format!("'{shown}'");
    } else {
        shown = format!("'{shown}...'");
    }
    format!("{shown} is not {}", kind_name(kind))
}

pub fn is_decimal_text(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let fs = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - fs;
    }
    if int_digits + frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let es = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == es || i - es > 4 {
            return false;
        }
    }
    i == b.len() && b.len() <= 1000
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" | "y" | "on" => Some(true),
        "false" | "f" | "0" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

fn parse_time(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M"))
        .ok()
}

fn parse_timestamp(s: &str) -> Option<NaiveDateTime> {
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

fn parse_timestamptz(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M:%S%.f%#z",
    ] {
        if let Ok(t) = DateTime::<FixedOffset>::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    // Without an offset, a timestamp is taken as UTC.
    let trimmed = s.strip_suffix('Z').unwrap_or(s);
    parse_timestamp(trimmed).map(|t| t.and_utc())
}

/// A filter value (URL text) for `column`.
pub fn from_text(column: &Column, s: &str) -> Result<SqlValue, String> {
    let kind = column.kind;
    let bad = || mismatch(s, kind);
    if column.unknown_type && kind == ValueKind::Text {
        // No declared type (e.g. a view's expression column): compare as what it looks like.
        let t = s.trim();
        if let Ok(i) = t.parse::<i64>() {
            return Ok(SqlValue::Int(i));
        }
        if let Ok(f) = t.parse::<f64>() {
            if f.is_finite() && is_decimal_text(t) {
                return Ok(SqlValue::Float(f));
            }
        }
        return Ok(SqlValue::Text(s.to_string()));
    }
    Ok(match kind {
        ValueKind::Integer => SqlValue::Int(s.trim().parse().map_err(|_| bad())?),
        ValueKind::Float => {
            let f: f64 = s.trim().parse().map_err(|_| bad())?;
            if !f.is_finite() {
                return Err(bad());
            }
            SqlValue::Float(f)
        }
        ValueKind::Decimal => {
            let t = s.trim();
            if !is_decimal_text(t) {
                return Err(bad());
            }
            SqlValue::Decimal(t.to_string())
        }
        ValueKind::Boolean => SqlValue::Bool(parse_bool(s.trim()).ok_or_else(bad)?),
        // Array and range literals (`{a,b}`, `[1,5)`) are checked by PostgreSQL, the only
        // backend that has these types.
        ValueKind::Text | ValueKind::Array | ValueKind::Range => SqlValue::Text(s.to_string()),
        ValueKind::Date => {
            SqlValue::Date(NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| bad())?)
        }
        ValueKind::Time => SqlValue::Time(parse_time(s.trim()).ok_or_else(bad)?),
        ValueKind::Timestamp => SqlValue::Timestamp(parse_timestamp(s.trim()).ok_or_else(bad)?),
        ValueKind::TimestampTz => {
            SqlValue::TimestampTz(parse_timestamptz(s.trim()).ok_or_else(bad)?)
        }
        ValueKind::Uuid => SqlValue::Uuid(uuid::Uuid::parse_str(s.trim()).map_err(|_| bad())?),
        ValueKind::Json => {
            let v: Value = serde_json::from_str(s).map_err(|_| bad())?;
            SqlValue::Json(v.to_string())
        }
        ValueKind::Bytes => SqlValue::Bytes(
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map_err(|_| bad())?,
        ),
    })
}

/// A body value (JSON) for `column`. `null` is checked by the caller (nullability).
pub fn from_json(column: &Column, v: &Value) -> Result<SqlValue, String> {
    if v.is_null() {
        return Ok(SqlValue::Null);
    }
    let kind = column.kind;
    let shown = || match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let bad = || mismatch(&shown(), kind);
    match kind {
        ValueKind::Integer => match v {
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    return Ok(SqlValue::Int(i));
                }
                // 5.0 is an integer to JSON Schema; accept it when it is whole.
                let text = n.to_string();
                match text.parse::<f64>() {
                    Ok(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(SqlValue::Int(f as i64)),
                    _ => Err(format!("{text} is not an integer that fits in 64 bits")),
                }
            }
            _ => Err(bad()),
        },
        ValueKind::Float => match v {
            Value::Number(n) => n
                .as_f64()
                .filter(|f| f.is_finite())
                .map(SqlValue::Float)
                .ok_or_else(bad),
            _ => Err(bad()),
        },
        ValueKind::Decimal => match v {
            Value::Number(n) => {
                let text = n.to_string();
                check_decimal(column, &text)?;
                Ok(SqlValue::Decimal(text))
            }
            _ => Err(bad()),
        },
        ValueKind::Boolean => match v {
            Value::Bool(b) => Ok(SqlValue::Bool(*b)),
            _ => Err(bad()),
        },
        ValueKind::Json => Ok(SqlValue::Json(v.to_string())),
        ValueKind::Array => match v {
            Value::Array(_) => Ok(SqlValue::Text(pg_array_literal(v))),
            _ => Err(bad()),
        },
        _ => match v {
            Value::String(s) => from_text(column, s),
            _ => Err(bad()),
        },
    }
}

/// A JSON array as a PostgreSQL array literal, which PostgreSQL casts to the column's
/// array type (and checks): `["a", null, "b\"c"]` -> `{"a",NULL,"b\"c"}`, nested arrays
/// as more dimensions (`[[1,2],[3,4]]` -> `{{1,2},{3,4}}`), objects as their JSON text
/// (elements of `json[]`/`jsonb[]`).
pub fn pg_array_literal(v: &Value) -> String {
    fn quoted(out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    fn element(out: &mut String, v: &Value) {
        match v {
            Value::Null => out.push_str("NULL"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::String(s) => quoted(out, s),
            Value::Object(_) => quoted(out, &v.to_string()),
            Value::Array(items) => {
                out.push('{');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    element(out, item);
                }
                out.push('}');
            }
        }
    }
    let mut out = String::new();
    element(&mut out, v);
    out
}

/// The most values (containers included) and the deepest nesting of a `cs`/`cd`/`ov`
/// filter's JSON value, on every backend: MySQL's statement grows with each value.
pub const MAX_JSON_FILTER_NODES: usize = 200;
pub const MAX_JSON_FILTER_DEPTH: usize = 16;

/// Values (containers included) and depth of `v`.
pub fn json_size(v: &Value) -> (usize, usize) {
    let children: Box<dyn Iterator<Item = &Value>> = match v {
        Value::Array(items) => Box::new(items.iter()),
        Value::Object(map) => Box::new(map.values()),
        _ => return (1, 1),
    };
    children.fold((1, 1), |(n, d), child| {
        let (cn, cd) = json_size(child);
        (n + cn, d.max(cd + 1))
    })
}

/// The JSON value a `cs`/`cd`/`ov` filter on a JSON column compares with: JSON text
/// (`["rock"]`, `{"a":1}`, `5`), or else a PostgreSQL array literal as postgrest-js sends
/// an array (`{rock,pop}`, `{1,"a,b",NULL}`), read as a JSON array: quoted elements are
/// strings; unquoted ones are numbers, `true`/`false` and `NULL` (null) when they read as
/// such, strings otherwise. `{}` is JSON's empty object.
pub fn json_filter_value(s: &str) -> Result<Value, String> {
    if let Ok(v) = serde_json::from_str::<Value>(s) {
        return Ok(v);
    }
    let bad = || {
        let shown: String = s.chars().take(60).collect();
        format!("'{shown}' is neither JSON nor an array literal ({{a,b}})")
    };
    let inner = s
        .trim()
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or_else(bad)?;
    let mut items = Vec::new();
    let mut chars = inner.chars().peekable();
    if inner.trim().is_empty() {
        return Ok(Value::Array(items));
    }
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut text = String::new();
            loop {
                match chars.next() {
                    None => return Err(bad()),
                    Some('\\') => text.push(chars.next().ok_or_else(bad)?),
                    Some('"') => break,
                    Some(c) => text.push(c),
                }
            }
            items.push(Value::String(text));
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
        } else {
            let mut text = String::new();
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if matches!(c, '{' | '}' | '"') {
                    return Err(bad());
                }
                if c == '\\' {
                    chars.next();
                    text.push(chars.next().ok_or_else(bad)?);
                    continue;
                }
                text.push(c);
                chars.next();
            }
            let text = text.trim();
            if text.is_empty() {
                return Err(bad());
            }
            items.push(if text.eq_ignore_ascii_case("null") {
                Value::Null
            } else {
                match serde_json::from_str::<Value>(text) {
                    Ok(v @ (Value::Number(_) | Value::Bool(_))) => v,
                    _ => Value::String(text.to_string()),
                }
            });
        }
        match chars.next() {
            None => return Ok(Value::Array(items)),
            Some(',') => {}
            Some(_) => return Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(kind: ValueKind) -> Column {
        Column::plain("c", "", kind)
    }

    #[test]
    fn text_values() {
        assert_eq!(
            from_text(&col(ValueKind::Integer), "42"),
            Ok(SqlValue::Int(42))
        );
        assert!(from_text(&col(ValueKind::Integer), "abc")
            .unwrap_err()
            .contains("'abc' is not an integer"));
        assert_eq!(
            from_text(&col(ValueKind::Decimal), "12345678901234567.89"),
            Ok(SqlValue::Decimal("12345678901234567.89".into()))
        );
        assert!(from_text(&col(ValueKind::Decimal), "1.2.3").is_err());
        assert!(from_text(&col(ValueKind::Date), "2024-02-30").is_err());
        assert!(from_text(&col(ValueKind::Uuid), "not-a-uuid").is_err());
        assert_eq!(
            from_text(&col(ValueKind::Boolean), "TRUE"),
            Ok(SqlValue::Bool(true))
        );
        assert!(matches!(
            from_text(&col(ValueKind::Timestamp), "2024-01-02T03:04:05.123"),
            Ok(SqlValue::Timestamp(_))
        ));
        let tz = from_text(&col(ValueKind::TimestampTz), "2024-01-02T03:04:05+02:00").unwrap();
        assert_eq!(
            tz,
            SqlValue::TimestampTz(
                DateTime::parse_from_rfc3339("2024-01-02T01:04:05Z")
                    .unwrap()
                    .with_timezone(&Utc)
            )
        );
    }

    #[test]
    fn decimal_precision_and_scale() {
        assert_eq!(decimal_bounds("NUMERIC(4,2)"), Some((4, 2)));
        assert_eq!(decimal_bounds("numeric(10)"), Some((10, 0)));
        assert_eq!(decimal_bounds("decimal(4, 2) unsigned"), Some((4, 2)));
        assert_eq!(decimal_bounds("numeric"), None);
        assert_eq!(decimal_bounds("varchar(4)"), None);
        assert_eq!(decimal_bounds("numeric(2,4)"), None);
        let c = Column::plain("price", "NUMERIC(4,2)", ValueKind::Decimal);
        for ok in [
            "0", "0.99", "99.99", "-99.99", "99.994", "1.234", "0.005", "1e1", "9.9e1", "0.000001",
            "1e-400", "00099.99",
        ] {
            assert_eq!(check_decimal(&c, ok), Ok(()), "{ok}");
        }
        for bad in ["100", "-100", "99.995", "1e2", "1e30", "123456"] {
            assert_eq!(
                check_decimal(&c, bad),
                Err(format!(
                    "{bad} does not fit NUMERIC(4,2): at most 2 digits before the decimal point"
                )),
                "{bad}"
            );
        }
        let huge = format!("1{}", "0".repeat(1000));
        for bad in ["1e400", "-1e400", huge.as_str()] {
            let e = check_decimal(&c, bad).unwrap_err();
            assert!(e.ends_with("is out of range for a decimal column"), "{e}");
            assert!(e.len() < 100, "{e}");
        }
        // No declared precision: only finiteness.
        let free = Column::plain("n", "numeric", ValueKind::Decimal);
        assert_eq!(check_decimal(&free, "1e300"), Ok(()));
        assert!(check_decimal(&free, "1e400").is_err());
        let one = Column::plain("n", "numeric(1,0)", ValueKind::Decimal);
        assert_eq!(check_decimal(&one, "9.4"), Ok(()));
        assert_eq!(
            check_decimal(&one, "9.5"),
            Err("9.5 does not fit numeric(1,0): at most 1 digit before the decimal point".into())
        );
        let v: Value = serde_json::from_str("100").unwrap();
        assert!(from_json(&c, &v).is_err());
        let v: Value = serde_json::from_str("12.34").unwrap();
        assert_eq!(from_json(&c, &v), Ok(SqlValue::Decimal("12.34".into())));
    }

    #[test]
    fn json_values_keep_decimal_digits() {
        let v: Value = serde_json::from_str("12345678901234567.89").unwrap();
        assert_eq!(
            from_json(&col(ValueKind::Decimal), &v),
            Ok(SqlValue::Decimal("12345678901234567.89".into()))
        );
        let big: Value = serde_json::from_str("9223372036854775807").unwrap();
        assert_eq!(
            from_json(&col(ValueKind::Integer), &big),
            Ok(SqlValue::Int(i64::MAX))
        );
        let too_big: Value = serde_json::from_str("9223372036854775808").unwrap();
        assert!(from_json(&col(ValueKind::Integer), &too_big).is_err());
        assert!(from_json(&col(ValueKind::Boolean), &Value::from(1)).is_err());
        assert!(from_json(&col(ValueKind::Bytes), &Value::from("!!")).is_err());
    }

    #[test]
    fn arrays_become_pg_literals() {
        let lit = |j: &str| pg_array_literal(&serde_json::from_str(j).unwrap());
        assert_eq!(lit("[]"), "{}");
        assert_eq!(lit("[1,2,3]"), "{1,2,3}");
        assert_eq!(
            lit(r#"["a",null,"b\"c","d\\e"]"#),
            r#"{"a",NULL,"b\"c","d\\e"}"#
        );
        assert_eq!(lit("[[1,2],[3,null]]"), "{{1,2},{3,NULL}}");
        assert_eq!(lit(r#"[{"a":1},true]"#), r#"{"{\"a\":1}",true}"#);
        let tags = Column::plain("tags", "text[]", ValueKind::Array);
        assert_eq!(
            from_json(&tags, &serde_json::json!(["rock", "pop"])),
            Ok(SqlValue::Text(r#"{"rock","pop"}"#.into()))
        );
        assert!(from_json(&tags, &Value::from("{a,b}")).is_err());
        assert!(from_json(&tags, &Value::from(1)).is_err());
        assert_eq!(tags.array_element(), Some(ValueKind::Text));
        let ids = Column::plain("ids", "integer[]", ValueKind::Array);
        assert_eq!(ids.array_element(), Some(ValueKind::Integer));
    }

    #[test]
    fn json_sizes() {
        assert_eq!(json_size(&serde_json::json!(1)), (1, 1));
        assert_eq!(json_size(&serde_json::json!([1, [2, {"a": 3}]])), (6, 4));
    }

    #[test]
    fn json_filter_values() {
        use serde_json::json;
        let v = |s: &str| json_filter_value(s);
        assert_eq!(v(r#"["rock"]"#), Ok(json!(["rock"])));
        assert_eq!(v(r#"{"a":1}"#), Ok(json!({"a": 1})));
        assert_eq!(v("5"), Ok(json!(5)));
        assert_eq!(v("{}"), Ok(json!({})));
        assert_eq!(v("{rock,pop}"), Ok(json!(["rock", "pop"])));
        assert_eq!(v("{ rock , pop }"), Ok(json!(["rock", "pop"])));
        assert_eq!(
            v(r#"{1,2.5,true,NULL,"3","a,b",x\,y}"#),
            Ok(json!([1, 2.5, true, null, "3", "a,b", "x,y"]))
        );
        assert_eq!(v(r#"{"a","b"}"#), Ok(json!(["a", "b"])));
        for bad in ["rock", "{a,,b}", "{a", "{{1}}", r#"{"a}"#, "[1,"] {
            assert!(v(bad).is_err(), "{bad}");
        }
    }
}
