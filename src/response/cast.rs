//! Values read through a JSON path (`data->a`, `data->>a`) and casts of selected values
//! (`::int`), written the same way on every backend: JSON text from the database is
//! normalised (no whitespace, strings escaped one way, exponents written out as
//! PostgreSQL's `jsonb` does), and a cast converts what the response would otherwise
//! write, in Rust, so rounding and parsing never depend on the backend. A value that
//! does not convert is written as null (the response is streamed: a failure found at row
//! 10,000 cannot become a 400 any more).

use std::borrow::Cow;

use super::json_string;
use crate::plan::Cast;

/// A value about to be cast: what the response would write, by JSON type.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Val<'a> {
    Null,
    Bool(bool),
    /// A JSON number's text.
    Number(Cow<'a, str>),
    /// Text (a string's content).
    Text(Cow<'a, str>),
    /// JSON text (a JSON column's or a `->` path's value, normalised): `::text` writes it
    /// as it is, other casts read the scalar inside it.
    Json(String),
}

/// JSON text as PostgreSQL's `jsonb` writes it, whatever database wrote it: whitespace
/// outside strings dropped (MariaDB writes `{"a": [1, 2]}`), strings re-escaped (SQLite
/// and MariaDB keep a document's `\u00e9`), numbers with an exponent written out (`1e2`
/// is `100`). Text that is not JSON is copied as it is.
pub fn normalise_json(out: &mut Vec<u8>, text: &[u8]) {
    out.reserve(text.len());
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        match b {
            b' ' | b'\n' | b'\r' | b'\t' => i += 1,
            b'"' => {
                let start = i;
                let mut escaped = false;
                i += 1;
                while i < text.len() {
                    match text[i] {
                        b'\\' => {
                            escaped = true;
                            i += 1;
                        }
                        b'"' => break,
                        _ => {}
                    }
                    i += 1;
                }
                let end = (i + 1).min(text.len());
                let raw = &text[start..end];
                match escaped
                    .then(|| serde_json::from_slice::<String>(raw).ok())
                    .flatten()
                {
                    Some(s) => json_string(out, &s),
                    None => out.extend_from_slice(raw),
                }
                i = end;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < text.len()
                    && matches!(text[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                let raw = &text[start..i];
                match std::str::from_utf8(raw).ok().and_then(expand_exponent) {
                    Some(n) => out.extend_from_slice(n.as_bytes()),
                    None => out.extend_from_slice(raw),
                }
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
}

/// `1.5e2` -> `150`, `1e-3` -> `0.001`, `1.50e1` -> `15.0`: a JSON number with an
/// exponent as PostgreSQL's `numeric` prints it (the fraction keeps its digits past the
/// shifted point). `None` without an exponent, or for what is not a number.
fn expand_exponent(n: &str) -> Option<String> {
    let (mantissa, exp) = n.split_once(['e', 'E'])?;
    let exp: i64 = exp.strip_prefix('+').unwrap_or(exp).parse().ok()?;
    if exp.unsigned_abs() > 1000 {
        return None;
    }
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = format!("{int}{frac}");
    let point = int.len() as i64 + exp;
    let scale = (frac.len() as i64 - exp).max(0) as usize;
    let mut whole = String::new();
    let mut fraction = String::new();
    for (i, d) in digits.chars().enumerate() {
        if (i as i64) < point {
            whole.push(d);
        } else {
            fraction.push(d);
        }
    }
    if point > digits.len() as i64 {
        whole.extend(std::iter::repeat_n(
            '0',
            (point - digits.len() as i64) as usize,
        ));
    }
    if point < 0 {
        fraction.insert_str(0, &"0".repeat(point.unsigned_abs() as usize));
    }
    let whole = whole.trim_start_matches('0');
    let mut out = String::with_capacity(digits.len() + 4);
    if negative {
        out.push('-');
    }
    out.push_str(if whole.is_empty() { "0" } else { whole });
    fraction.truncate(scale);
    while fraction.len() < scale {
        fraction.push('0');
    }
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(&fraction);
    }
    Some(out)
}

/// Normalised JSON text as a `String`.
fn normalised(text: &[u8]) -> String {
    let mut out = Vec::with_capacity(text.len());
    normalise_json(&mut out, text);
    String::from_utf8(out).unwrap_or_default()
}

/// The value at a `->>` path, from the JSON text the database gave: a string's content,
/// the (normalised) JSON text of anything else, nothing for null.
pub(super) fn json_text(text: &[u8]) -> Val<'static> {
    let trimmed = text.trim_ascii();
    match trimmed.first() {
        None => Val::Null,
        Some(b'n') if trimmed == b"null" => Val::Null,
        Some(b'"') => match serde_json::from_slice::<String>(trimmed) {
            Ok(s) => Val::Text(Cow::Owned(s)),
            Err(_) => Val::Text(Cow::Owned(String::from_utf8_lossy(trimmed).into_owned())),
        },
        Some(_) => Val::Text(Cow::Owned(normalised(trimmed))),
    }
}

/// A JSON value (`->`, a JSON column), normalised.
pub(super) fn json_value(text: &[u8]) -> Val<'static> {
    Val::Json(normalised(text))
}

/// The scalar inside JSON text, for casts other than `::text` and `::json`.
fn scalar(json: &str) -> Val<'static> {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Null) => Val::Null,
        Ok(serde_json::Value::Bool(b)) => Val::Bool(b),
        Ok(serde_json::Value::String(s)) => Val::Text(Cow::Owned(s)),
        Ok(serde_json::Value::Number(_)) => Val::Number(Cow::Owned(json.to_string())),
        // Arrays and objects convert to nothing but text and JSON.
        _ => Val::Json(json.to_string()),
    }
}

/// Write `v` cast to `cast`. `float`: the value came from a floating-point column (it
/// rounds to an integer half to even, as PostgreSQL rounds `float8`; other numbers round
/// half away from zero, as `numeric` does).
pub(super) fn write(out: &mut Vec<u8>, cast: Cast, v: Val<'_>, float: bool) {
    let v = match v {
        Val::Json(j) if !matches!(cast, Cast::Text | Cast::Json) => scalar(&j),
        other => other,
    };
    let null = |out: &mut Vec<u8>| out.extend_from_slice(b"null");
    match (cast, v) {
        (_, Val::Null) => null(out),
        (Cast::Text, Val::Bool(b)) => json_string(out, if b { "true" } else { "false" }),
        (Cast::Text, Val::Number(t) | Val::Text(t)) => json_string(out, &t),
        (Cast::Text, Val::Json(j)) => json_string(out, &j),
        (Cast::Json, Val::Bool(b)) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        (Cast::Json, Val::Number(t)) => normalise_json(out, t.as_bytes()),
        (Cast::Json, Val::Json(j)) => out.extend_from_slice(j.as_bytes()),
        (Cast::Json, Val::Text(t)) => {
            if serde_json::from_str::<serde::de::IgnoredAny>(&t).is_ok() {
                normalise_json(out, t.trim().as_bytes());
            } else {
                null(out)
            }
        }
        (Cast::SmallInt | Cast::Int | Cast::BigInt, v) => {
            let (min, max) = match cast {
                Cast::SmallInt => (i64::from(i16::MIN), i64::from(i16::MAX)),
                Cast::Int => (i64::from(i32::MIN), i64::from(i32::MAX)),
                _ => (i64::MIN, i64::MAX),
            };
            match to_int(&v, float).filter(|i| (min..=max).contains(i)) {
                Some(i) => out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
                None => null(out),
            }
        }
        (Cast::Real | Cast::Double, v) => {
            let f = match &v {
                Val::Number(t) | Val::Text(t) => t.trim().parse::<f64>().ok(),
                _ => None,
            };
            match f.filter(|f| f.is_finite()) {
                Some(f) if cast == Cast::Real => {
                    let f = f as f32;
                    if f.is_finite() {
                        let _ = std::io::Write::write_fmt(out, format_args!("{f}"));
                    } else {
                        null(out)
                    }
                }
                Some(f) => {
                    let _ = std::io::Write::write_fmt(out, format_args!("{f}"));
                }
                None => null(out),
            }
        }
        (Cast::Numeric, Val::Number(t) | Val::Text(t)) => match to_numeric(t.trim()) {
            Some(n) => out.extend_from_slice(n.as_bytes()),
            None => null(out),
        },
        (Cast::Boolean, v) => match to_bool(&v) {
            Some(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
            None => null(out),
        },
        (Cast::Date, Val::Text(t)) => match to_date(t.trim()) {
            Some(d) => json_string(out, &d),
            None => null(out),
        },
        _ => null(out),
    }
}

/// `[+-]digits` as an integer.
fn int_text(t: &str) -> Option<i64> {
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.strip_prefix('+').unwrap_or(t).parse().ok()
}

fn to_int(v: &Val<'_>, float: bool) -> Option<i64> {
    match v {
        Val::Bool(b) => Some(i64::from(*b)),
        // Text converts only when it is an integer (PostgreSQL refuses '2.5'::int).
        Val::Text(t) => int_text(t.trim()),
        Val::Number(t) => {
            if let Some(i) = int_text(t) {
                return Some(i);
            }
            let f: f64 = t.parse().ok()?;
            let r = if float || t.contains(['e', 'E']) {
                if float {
                    f.round_ties_even()
                } else {
                    f.round()
                }
            } else {
                return round_decimal(t);
            };
            (r.is_finite() && r >= i64::MIN as f64 && r < i64::MAX as f64).then_some(r as i64)
        }
        _ => None,
    }
}

/// A decimal's text rounded half away from zero, exactly.
fn round_decimal(t: &str) -> Option<i64> {
    let (int, frac) = t.split_once('.')?;
    let mut i = int_text(if int.is_empty() || int == "-" || int == "+" {
        "0"
    } else {
        int
    })?;
    if frac.bytes().next().is_some_and(|d| d >= b'5') {
        i = if t.starts_with('-') {
            i.checked_sub(1)?
        } else {
            i.checked_add(1)?
        };
    }
    Some(i)
}

/// A number's text as PostgreSQL's `numeric` prints it: no `+`, no leading zeros, the
/// fraction's digits kept (`007.50` -> `7.50`), exponents written out.
fn to_numeric(t: &str) -> Option<String> {
    if let Some(n) = expand_exponent(t.strip_prefix('+').unwrap_or(t)) {
        return Some(n);
    }
    let (negative, rest) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = rest.split_once('.').unwrap_or((rest, ""));
    let all_digits = int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit());
    if !all_digits || (int.is_empty() && frac.is_empty()) {
        return None;
    }
    let int = int.trim_start_matches('0');
    let mut out = String::with_capacity(rest.len() + 2);
    if negative && (int.bytes().any(|b| b != b'0') || frac.bytes().any(|b| b != b'0')) {
        out.push('-');
    }
    out.push_str(if int.is_empty() { "0" } else { int });
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    Some(out)
}

/// PostgreSQL's boolean input: `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0` and
/// unique prefixes, any case; integers by whether they are 0.
fn to_bool(v: &Val<'_>) -> Option<bool> {
    match v {
        Val::Bool(b) => Some(*b),
        Val::Number(t) => int_text(t).map(|i| i != 0),
        Val::Text(t) => {
            let t = t.trim().to_ascii_lowercase();
            if t.is_empty() {
                return None;
            }
            let prefix_of = |word: &str| word.starts_with(t.as_str());
            match t.as_str() {
                "on" | "1" => Some(true),
                "of" | "off" | "0" => Some(false),
                "o" => None,
                _ if prefix_of("true") || prefix_of("yes") => Some(true),
                _ if prefix_of("false") || prefix_of("no") => Some(false),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A date from text that starts with one (`2024-01-02`, `2024-01-02T03:04:05+00:00`).
fn to_date(t: &str) -> Option<String> {
    if t == "infinity" || t == "-infinity" {
        return Some(t.to_string());
    }
    let day = t.get(..10)?;
    let rest = &t[10..];
    if !(rest.is_empty() || rest.starts_with(['T', ' '])) {
        return None;
    }
    let d = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    Some(d.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        normalised(s.as_bytes())
    }

    fn cast(c: Cast, v: Val<'_>) -> String {
        let mut out = Vec::new();
        write(&mut out, c, v, false);
        String::from_utf8(out).unwrap_or_default()
    }

    fn text(s: &str) -> Val<'_> {
        Val::Text(Cow::Borrowed(s))
    }

    fn num(s: &str) -> Val<'_> {
        Val::Number(Cow::Borrowed(s))
    }

    #[test]
    fn json_text_is_normalised() {
        assert_eq!(
            norm(r#"{"a": [1, 2], "b" : "x y"}"#),
            r#"{"a":[1,2],"b":"x y"}"#
        );
        assert_eq!(norm(r#""h\u00e9\"x""#), r#""hé\"x""#);
        assert_eq!(
            norm(r#"[1e2, 1.5E-2, -2.50e1, 1.0e1, 3]"#),
            "[100,0.015,-25.0,10,3]"
        );
        assert_eq!(norm("\"a\\nb\""), "\"a\\nb\"");
        assert_eq!(norm("not json"), "notjson");
    }

    #[test]
    fn exponents_written_out() {
        assert_eq!(expand_exponent("1e2").as_deref(), Some("100"));
        assert_eq!(expand_exponent("1.25e1").as_deref(), Some("12.5"));
        assert_eq!(expand_exponent("1.5e-3").as_deref(), Some("0.0015"));
        assert_eq!(expand_exponent("-1e0").as_deref(), Some("-1"));
        assert_eq!(expand_exponent("12"), None);
        assert_eq!(expand_exponent("1e99999"), None);
    }

    #[test]
    fn path_text() {
        assert_eq!(json_text(b"\"x\""), Val::Text(Cow::Owned("x".into())));
        assert_eq!(json_text(b"null"), Val::Null);
        assert_eq!(json_text(b"1.50"), Val::Text(Cow::Owned("1.50".into())));
        assert_eq!(
            json_text(b"{\"a\": 1}"),
            Val::Text(Cow::Owned("{\"a\":1}".into()))
        );
    }

    #[test]
    fn casts() {
        assert_eq!(cast(Cast::Text, num("1.50")), "\"1.50\"");
        assert_eq!(cast(Cast::Text, Val::Bool(true)), "\"true\"");
        assert_eq!(cast(Cast::Text, Val::Json("\"x\"".into())), "\"\\\"x\\\"\"");
        assert_eq!(cast(Cast::Int, num("2.5")), "3");
        assert_eq!(cast(Cast::Int, num("-2.5")), "-3");
        assert_eq!(cast(Cast::Int, num("2.4")), "2");
        let mut out = Vec::new();
        write(&mut out, Cast::Int, num("2.5"), true);
        assert_eq!(out, b"2");
        assert_eq!(cast(Cast::Int, text(" 42 ")), "42");
        assert_eq!(cast(Cast::Int, text("2.5")), "null");
        assert_eq!(cast(Cast::Int, text("abc")), "null");
        assert_eq!(cast(Cast::SmallInt, num("40000")), "null");
        assert_eq!(cast(Cast::Int, num("3000000000")), "null");
        assert_eq!(cast(Cast::BigInt, num("3000000000")), "3000000000");
        assert_eq!(cast(Cast::Int, Val::Bool(true)), "1");
        assert_eq!(cast(Cast::Int, Val::Json("7".into())), "7");
        assert_eq!(cast(Cast::Int, Val::Json("\"7\"".into())), "7");
        assert_eq!(cast(Cast::Int, Val::Json("[7]".into())), "null");
        assert_eq!(cast(Cast::Double, text("1.5")), "1.5");
        assert_eq!(cast(Cast::Double, num("3")), "3");
        assert_eq!(cast(Cast::Double, text("NaN")), "null");
        assert_eq!(cast(Cast::Real, num("1.1")), "1.1");
        assert_eq!(cast(Cast::Numeric, text("007.50")), "7.50");
        assert_eq!(cast(Cast::Numeric, text("1e2")), "100");
        assert_eq!(cast(Cast::Numeric, text("-0.0")), "0.0");
        assert_eq!(cast(Cast::Numeric, text("x")), "null");
        assert_eq!(cast(Cast::Boolean, text("yes")), "true");
        assert_eq!(cast(Cast::Boolean, text("F")), "false");
        assert_eq!(cast(Cast::Boolean, text("o")), "null");
        assert_eq!(cast(Cast::Boolean, num("0")), "false");
        assert_eq!(
            cast(Cast::Date, text("2024-02-29T10:00:00+00:00")),
            "\"2024-02-29\""
        );
        assert_eq!(cast(Cast::Date, text("2023-02-29")), "null");
        assert_eq!(cast(Cast::Date, num("1")), "null");
        assert_eq!(cast(Cast::Json, text("{\"a\": 1}")), "{\"a\":1}");
        assert_eq!(cast(Cast::Json, text("nope")), "null");
        assert_eq!(cast(Cast::Json, num("1e2")), "100");
        assert_eq!(cast(Cast::Json, Val::Null), "null");
    }
}
