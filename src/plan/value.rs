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
    }
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
        ValueKind::Text => SqlValue::Text(s.to_string()),
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
            Value::Number(n) => Ok(SqlValue::Decimal(n.to_string())),
            _ => Err(bad()),
        },
        ValueKind::Boolean => match v {
            Value::Bool(b) => Ok(SqlValue::Bool(*b)),
            _ => Err(bad()),
        },
        ValueKind::Json => Ok(SqlValue::Json(v.to_string())),
        _ => match v {
            Value::String(s) => from_text(column, s),
            _ => Err(bad()),
        },
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
}
