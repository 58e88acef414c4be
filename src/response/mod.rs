//! Encoding rows for the wire: JSON arrays, single JSON objects and CSV, written straight
//! into byte buffers from driver cells (no intermediate JSON values per row), plus ETags.
//! Knows the column kinds of the schema cache, never a driver or a connection.

mod cast;

use std::hash::Hasher;
use std::sync::Arc;

use base64::Engine;

use crate::plan::value::is_decimal_text;
use crate::plan::{Cast, Selected};
use crate::request::Format;
use crate::schema::{Column, Service, ValueKind};

/// One value as a driver hands it over, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    Null,
    Int(i64),
    Float(f64),
    Text(&'a str),
    Bytes(&'a [u8]),
    Bool(bool),
    /// A date as days since 2000-01-01 (PostgreSQL's binary form; `i32::MAX`/`MIN` are
    /// ±infinity).
    Date(i32),
    /// A timestamp as microseconds since 2000-01-01 00:00:00 (`i64::MAX`/`MIN` are
    /// ±infinity); `true`: with time zone, in UTC.
    Timestamp(i64, bool),
}

/// Year (astronomical: 0 is 1 BC), month and day of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's days-to-civil algorithm on the proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days from 1970-01-01 to 2000-01-01.
const EPOCH_2000_DAYS: i64 = 10_957;

/// `n` with at least `width` digits.
fn push_padded(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut b = itoa::Buffer::new();
    let s = b.format(n);
    out.extend(std::iter::repeat_n(b'0', width.saturating_sub(s.len())));
    out.extend_from_slice(s.as_bytes());
}

/// The date part, and whether it is BC (written after the rest, as PostgreSQL does).
fn push_date(out: &mut Vec<u8>, days_since_1970: i64) -> bool {
    let (year, month, day) = civil_from_days(days_since_1970);
    let bc = year <= 0;
    push_padded(out, if bc { (1 - year) as u64 } else { year as u64 }, 4);
    out.push(b'-');
    push_padded(out, month.into(), 2);
    out.push(b'-');
    push_padded(out, day.into(), 2);
    bc
}

/// A `Cell::Date` or `Cell::Timestamp` as PostgreSQL's `to_json` writes it
/// (`2024-01-02`, `2024-01-02T03:04:05.5`, `…+00:00`, `infinity`, `… BC`).
pub fn time_text(out: &mut Vec<u8>, cell: &Cell<'_>) {
    let bc = match *cell {
        Cell::Date(i32::MAX) | Cell::Timestamp(i64::MAX, _) => {
            return out.extend_from_slice(b"infinity")
        }
        Cell::Date(i32::MIN) | Cell::Timestamp(i64::MIN, _) => {
            return out.extend_from_slice(b"-infinity")
        }
        Cell::Date(d) => push_date(out, i64::from(d) + EPOCH_2000_DAYS),
        Cell::Timestamp(us, tz) => {
            const DAY: i64 = 86_400_000_000;
            let bc = push_date(out, us.div_euclid(DAY) + EPOCH_2000_DAYS);
            let t = us.rem_euclid(DAY) as u64;
            let secs = t / 1_000_000;
            out.push(b'T');
            push_padded(out, secs / 3600, 2);
            out.push(b':');
            push_padded(out, secs / 60 % 60, 2);
            out.push(b':');
            push_padded(out, secs % 60, 2);
            let mut frac = t % 1_000_000;
            if frac > 0 {
                let mut width = 6;
                while frac.is_multiple_of(10) {
                    frac /= 10;
                    width -= 1;
                }
                out.push(b'.');
                push_padded(out, frac, width);
            }
            if tz {
                out.extend_from_slice(b"+00:00");
            }
            bc
        }
        _ => false,
    };
    if bc {
        out.extend_from_slice(b" BC");
    }
}

/// How one output column is written.
#[derive(Debug, Clone)]
pub struct OutColumn {
    pub kind: ValueKind,
    pub unknown_type: bool,
    /// Digits after the point for `NUMERIC(p,s)`.
    pub scale: Option<usize>,
    /// An embed: JSON text the database built, written without its whitespace.
    pub embedded: bool,
    /// Where the cells come from: the column itself, or JSON text read at a path.
    pub source: Source,
    /// `::int`: the type the value is converted to (`cast.rs`).
    pub cast: Option<Cast>,
    /// `{"name":` or `,"name":` precomputed.
    json_key: String,
    csv_name: String,
}

pub use crate::schema::types::decimal_scale;

/// What an output column's cells hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// The column's value, written by its kind.
    #[default]
    Column,
    /// JSON text from a path (`data->a`): written as JSON.
    JsonValue,
    /// JSON text from a path whose last step is `->>`: written as text.
    JsonText,
}

impl OutColumn {
    /// Written through `expr_value` (a JSON path or a cast), not by the column's kind.
    fn is_expr(&self) -> bool {
        self.source != Source::Column || self.cast.is_some()
    }

    /// Read at `s`'s JSON path and cast to `s`'s type, if it has them.
    fn select(&mut self, s: &Selected) {
        self.source = match &s.path {
            None => Source::Column,
            Some(p) if p.text => Source::JsonText,
            Some(_) => Source::JsonValue,
        };
        self.cast = s.cast;
    }
}

/// The columns of one response, in output order.
#[derive(Debug, Clone)]
pub struct RowEncoder {
    pub format: Format,
    pub columns: Arc<[OutColumn]>,
    /// `Accept: ...;nulls=stripped`: keys whose value is null are left out of each row's
    /// object (the row's own keys; embedded rows keep theirs).
    pub strip_nulls: bool,
    /// `Prefer: timezone=`: timestamps with a time zone are written in this zone, with
    /// its offset, rather than in UTC.
    pub zone: Option<Zone>,
}

/// A time zone of the system's tz database (`Prefer: timezone=America/New_York`).
pub type Zone = jiff::tz::TimeZone;

/// The zone named `name`, when the tz database has it.
pub fn zone(name: &str) -> Option<Zone> {
    jiff::tz::TimeZone::get(name).ok()
}

/// Microseconds from 1970-01-01 to 2000-01-01, the epoch of `Cell::Timestamp`.
const EPOCH_2000_US: i64 = EPOCH_2000_DAYS * 86_400_000_000;

/// A `Cell::Date` or `Cell::Timestamp` as `time_text` writes it, a timestamp with a time
/// zone in `zone` when there is one: `2024-01-01T10:00:00-08:00`, as PostgreSQL's
/// `to_json` writes it under `SET timezone`.
pub fn zoned_time_text(out: &mut Vec<u8>, cell: &Cell<'_>, zone: Option<&Zone>) {
    let (Some(zone), Cell::Timestamp(us, true)) = (zone, *cell) else {
        return time_text(out, cell);
    };
    if us == i64::MAX || us == i64::MIN {
        return time_text(out, cell);
    }
    let offset = us
        .checked_add(EPOCH_2000_US)
        .and_then(|unix| jiff::Timestamp::from_microsecond(unix).ok())
        .map_or(0, |t| zone.to_offset(t).seconds());
    let start = out.len();
    time_text(
        out,
        &Cell::Timestamp(us.saturating_add(i64::from(offset) * 1_000_000), false),
    );
    // The offset goes before a " BC" suffix.
    let bc = out[start..].ends_with(b" BC");
    if bc {
        out.truncate(out.len() - 3);
    }
    let abs = offset.unsigned_abs();
    out.push(if offset < 0 { b'-' } else { b'+' });
    push_padded(out, u64::from(abs / 3600), 2);
    out.push(b':');
    push_padded(out, u64::from(abs / 60 % 60), 2);
    if abs % 60 != 0 {
        out.push(b':');
        push_padded(out, u64::from(abs % 60), 2);
    }
    if bc {
        out.extend_from_slice(b" BC");
    }
}

/// Encoder columns for `(output name, column)` pairs.
pub fn out_columns<'a>(
    columns: impl IntoIterator<Item = (&'a str, &'a Column)>,
) -> Arc<[OutColumn]> {
    columns
        .into_iter()
        .enumerate()
        .map(|(n, (name, col))| {
            let mut json_key = String::with_capacity(name.len() + 4);
            json_key.push(if n == 0 { '{' } else { ',' });
            // A column name is a string; serde_json never fails on one.
            json_key.push_str(&serde_json::to_string(name).unwrap_or_else(|_| "\"\"".into()));
            json_key.push(':');
            OutColumn {
                kind: col.kind,
                unknown_type: col.unknown_type,
                scale: if col.kind == ValueKind::Decimal {
                    decimal_scale(&col.declared_type)
                } else {
                    None
                },
                embedded: false,
                source: Source::Column,
                cast: None,
                json_key,
                csv_name: name.to_string(),
            }
        })
        .collect()
}

/// How each aggregate of `selected` is written (`Aggregate::result_column`), in order.
fn aggregate_results(svc: &Service, selected: &[Selected]) -> Vec<Column> {
    selected
        .iter()
        .filter_map(|s| {
            let agg = s.aggregate.as_ref()?;
            Some(agg.result_column(&svc.columns[s.column].column))
        })
        .collect()
}

/// The column `s` is written as: its own, or its aggregate's result.
fn result_of<'a>(
    svc: &'a Service,
    s: &Selected,
    selected: &[Selected],
    results: &'a [Column],
) -> &'a Column {
    if s.aggregate.is_none() {
        return &svc.columns[s.column].column;
    }
    let n = selected
        .iter()
        .take_while(|o| !std::ptr::eq(*o, s))
        .filter(|o| o.aggregate.is_some())
        .count();
    results.get(n).unwrap_or(&svc.columns[s.column].column)
}

/// The compact form of JSON text the database wrote (PostgreSQL's `json_agg` puts `, \n `
/// between elements, MariaDB a space after every `:` and `,`): whitespace outside strings
/// dropped, so every backend answers the same bytes.
fn write_compact_json(out: &mut Vec<u8>, text: &[u8]) {
    out.reserve(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for &b in text {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else {
            match b {
                b' ' | b'\n' | b'\r' | b'\t' => {}
                b'"' => {
                    in_string = true;
                    out.push(b);
                }
                _ => out.push(b),
            }
        }
    }
}

impl RowEncoder {
    pub fn new<'a>(
        format: Format,
        columns: impl IntoIterator<Item = (&'a str, &'a Column)>,
    ) -> Self {
        RowEncoder {
            format,
            columns: out_columns(columns),
            strip_nulls: false,
            zone: None,
        }
    }

    /// The encoder of a read's rows: its columns and embeds, in output order.
    pub fn for_read(plan: &crate::plan::ReadPlan, format: Format) -> Self {
        if plan.embeds.is_empty() {
            return Self::for_selected(&plan.service, format, &plan.select);
        }
        let svc = &plan.service;
        let outputs = crate::plan::embed::outputs(plan);
        let json = Column::plain("", "json", ValueKind::Json);
        let results = aggregate_results(svc, &plan.select);
        let mut columns: Vec<OutColumn> = out_columns(outputs.iter().map(|o| match o {
            crate::plan::embed::Output::Column(s) => {
                (s.output.as_str(), result_of(svc, s, &plan.select, &results))
            }
            crate::plan::embed::Output::Embed(e) => (e.output.as_str(), &json),
            crate::plan::embed::Output::Spread(e, s) => {
                (s.output.as_str(), &e.plan.service.columns[s.column].column)
            }
        }))
        .to_vec();
        for (c, o) in columns.iter_mut().zip(&outputs) {
            match o {
                crate::plan::embed::Output::Embed(_) => c.embedded = true,
                crate::plan::embed::Output::Column(s) => c.select(s),
                crate::plan::embed::Output::Spread(..) => {}
            }
        }
        RowEncoder {
            format,
            columns: columns.into(),
            strip_nulls: false,
            zone: None,
        }
    }

    /// The encoder for `selected` columns of `svc`. Every column under its own name (a
    /// read without `select`) reuses the service's prepared columns.
    pub fn for_selected(svc: &Service, format: Format, selected: &[Selected]) -> Self {
        let all = selected.len() == svc.columns.len()
            && selected.iter().enumerate().all(|(i, s)| {
                s.column == i && s.output == svc.columns[i].column.name && s.is_plain()
            });
        if all {
            return RowEncoder {
                format,
                columns: Arc::clone(&svc.all_out),
                strip_nulls: false,
                zone: None,
            };
        }
        let results = aggregate_results(svc, selected);
        let enc = RowEncoder::new(
            format,
            selected
                .iter()
                .map(|s| (s.output.as_str(), result_of(svc, s, selected, &results))),
        );
        if selected.iter().all(Selected::is_plain) {
            return enc;
        }
        let mut columns = enc.columns.to_vec();
        for (c, s) in columns.iter_mut().zip(selected) {
            c.select(s);
        }
        RowEncoder {
            columns: columns.into(),
            ..enc
        }
    }

    /// What comes before the first row.
    pub fn start(&self, out: &mut Vec<u8>) {
        match self.format {
            Format::Json => out.push(b'['),
            Format::Object => {}
            Format::Csv => {
                for (n, c) in self.columns.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    csv_field(out, &c.csv_name, false);
                }
            }
        }
    }

    /// Before row `n` (0-based).
    pub fn separator(&self, out: &mut Vec<u8>, n: u64) {
        match self.format {
            Format::Json if n > 0 => out.push(b','),
            Format::Csv => out.push(b'\n'),
            _ => {}
        }
    }

    pub fn end(&self, out: &mut Vec<u8>) {
        if self.format == Format::Json {
            out.push(b']');
        }
    }

    /// Write one row; `cell(i)` gives column i's value.
    pub fn row<'c>(&self, out: &mut Vec<u8>, mut cell: impl FnMut(usize) -> Cell<'c>) {
        match self.format {
            Format::Json | Format::Object if self.strip_nulls => {
                out.push(b'{');
                let mut first = true;
                for (i, c) in self.columns.iter().enumerate() {
                    let value = cell(i);
                    if c.is_expr() {
                        // Null or not is known once the value is converted.
                        let mut tmp = Vec::with_capacity(32);
                        expr_value(&mut tmp, c, value, self.zone.as_ref());
                        if tmp == b"null" {
                            continue;
                        }
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        out.extend_from_slice(&c.json_key.as_bytes()[1..]);
                        out.extend_from_slice(&tmp);
                        continue;
                    }
                    let null = match value {
                        Cell::Null => true,
                        // A JSON column (or an embed) holding JSON null.
                        Cell::Text(t) if c.kind == ValueKind::Json || c.embedded => {
                            t.trim() == "null"
                        }
                        _ => false,
                    };
                    if null {
                        continue;
                    }
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    out.extend_from_slice(&c.json_key.as_bytes()[1..]);
                    json_value(out, c, value, self.zone.as_ref());
                }
                out.push(b'}');
            }
            Format::Json | Format::Object => {
                for (i, c) in self.columns.iter().enumerate() {
                    out.extend_from_slice(c.json_key.as_bytes());
                    json_value(out, c, cell(i), self.zone.as_ref());
                }
                if self.columns.is_empty() {
                    out.push(b'{');
                }
                out.push(b'}');
            }
            Format::Csv => {
                for (i, c) in self.columns.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    csv_value(out, c, cell(i), self.zone.as_ref());
                }
            }
        }
    }
}

pub fn json_string(out: &mut Vec<u8>, s: &str) {
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        // Nothing to escape (the usual case): copy it between quotes.
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_int(out: &mut Vec<u8>, i: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
}

/// A float as JSON: shortest round-trip form, never an exponent; non-finite -> null.
fn write_float(out: &mut Vec<u8>, f: f64, scale: Option<usize>) {
    if !f.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    if let Some(sc) = scale {
        // The shortest form, padded to the scale, when it has no more decimals than the
        // scale (0.99 -> "0.99", 1.1 -> "1.10"); otherwise rounded by the formatter.
        let mut b = ryu::Buffer::new();
        let short = b.format_finite(f);
        if !short.contains(['e', 'E']) {
            let decimals = short.split_once('.').map_or(0, |(_, d)| d.len());
            let short = short.strip_suffix(".0").unwrap_or(short);
            let decimals = if short.contains('.') { decimals } else { 0 };
            if decimals <= sc {
                out.extend_from_slice(short.as_bytes());
                if sc > 0 {
                    if decimals == 0 {
                        out.push(b'.');
                    }
                    out.extend(std::iter::repeat_n(b'0', sc - decimals));
                }
                return;
            }
        }
        let _ = std::io::Write::write_fmt(out, format_args!("{f:.sc$}"));
    } else {
        let _ = std::io::Write::write_fmt(out, format_args!("{f}"));
    }
}

fn write_scaled_int(out: &mut Vec<u8>, i: i64, scale: Option<usize>) {
    write_int(out, i);
    if let Some(sc) = scale.filter(|s| *s > 0) {
        out.push(b'.');
        out.extend(std::iter::repeat_n(b'0', sc));
    }
}

fn timestamp_text(out: &mut Vec<u8>, s: &str) {
    // Stored as `YYYY-MM-DD HH:MM:SS`; ISO-8601 wants a `T`.
    if s.len() > 10 && s.as_bytes()[10] == b' ' {
        let start = out.len();
        json_string(out, s);
        // The space is at the same place in the quoted text (nothing before it needs
        // escaping in a date), so it is replaced in place.
        if out.get(start + 11) == Some(&b' ')
            && !s[..10].bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20)
        {
            out[start + 11] = b'T';
        }
    } else {
        json_string(out, s);
    }
}

/// A cell of a JSON path or cast column (`OutColumn::is_expr`).
fn expr_value(out: &mut Vec<u8>, c: &OutColumn, cell: Cell<'_>, zone: Option<&Zone>) {
    let json = match cell {
        Cell::Null => return out.extend_from_slice(b"null"),
        Cell::Text(t) => Some(t.as_bytes()),
        Cell::Bytes(b) => Some(b),
        _ => None,
    };
    let value = match (c.source, json) {
        (Source::JsonValue, Some(j)) if c.cast.is_none() => {
            return cast::normalise_json(out, j);
        }
        (Source::JsonText, Some(j)) => cast::json_text(j),
        (Source::JsonValue, Some(j)) => cast::json_value(j),
        _ if c.kind == ValueKind::Json => match json {
            Some(j) => cast::json_value(j),
            None => column_val(c, cell, zone),
        },
        _ => column_val(c, cell, zone),
    };
    match c.cast {
        Some(to) => cast::write(out, to, value, c.kind == ValueKind::Float),
        // `->>` without a cast: text.
        None => match value {
            cast::Val::Text(t) => json_string(out, &t),
            _ => out.extend_from_slice(b"null"),
        },
    }
}

/// A column's cell as the value a cast converts: what `json_value` would write, except
/// that bytes are PostgreSQL's `\x` hex and timestamps its text form
/// (`2024-01-02 03:04:05+00`), as `::text` gives them there.
fn column_val(c: &OutColumn, cell: Cell<'_>, zone: Option<&Zone>) -> cast::Val<'static> {
    use std::borrow::Cow;
    if c.kind == ValueKind::Bytes {
        let bytes = match cell {
            Cell::Bytes(b) => b,
            Cell::Text(t) => t.as_bytes(),
            _ => &[],
        };
        let mut hex = String::with_capacity(2 + bytes.len() * 2);
        hex.push_str("\\x");
        for b in bytes {
            hex.push_str(&format!("{b:02x}"));
        }
        return cast::Val::Text(Cow::Owned(hex));
    }
    let plain = OutColumn {
        source: Source::Column,
        cast: None,
        ..c.clone()
    };
    let mut tmp = Vec::with_capacity(32);
    json_value(&mut tmp, &plain, cell, zone);
    match tmp.as_slice() {
        b"null" => cast::Val::Null,
        b"true" => cast::Val::Bool(true),
        b"false" => cast::Val::Bool(false),
        [b'"', ..] => {
            let mut s: String = serde_json::from_slice(&tmp).unwrap_or_default();
            if matches!(c.kind, ValueKind::Timestamp | ValueKind::TimestampTz) {
                if s.get(10..11) == Some("T") {
                    s.replace_range(10..11, " ");
                }
                // `+00:00` -> `+00` (and `-08:00` under `Prefer: timezone`), as
                // PostgreSQL's text form writes an offset of whole hours.
                let n = s.len();
                if n > 6
                    && s.ends_with(":00")
                    && matches!(s.as_bytes()[n - 6], b'+' | b'-')
                    && s.as_bytes()[n - 5..n - 3].iter().all(u8::is_ascii_digit)
                {
                    s.truncate(n - 3);
                }
            }
            cast::Val::Text(Cow::Owned(s))
        }
        _ => cast::Val::Number(Cow::Owned(String::from_utf8_lossy(&tmp).into_owned())),
    }
}

fn json_value(out: &mut Vec<u8>, c: &OutColumn, cell: Cell<'_>, zone: Option<&Zone>) {
    if c.is_expr() {
        return expr_value(out, c, cell, zone);
    }
    match (c.kind, cell) {
        (_, Cell::Null) => out.extend_from_slice(b"null"),
        (_, Cell::Text(t)) if c.embedded => write_compact_json(out, t.as_bytes()),
        (_, Cell::Bytes(t)) if c.embedded => write_compact_json(out, t),
        (_, t @ (Cell::Date(_) | Cell::Timestamp(..))) => {
            out.push(b'"');
            zoned_time_text(out, &t, zone);
            out.push(b'"');
        }
        (ValueKind::Decimal, Cell::Bytes(b))
            if std::str::from_utf8(b).is_ok_and(|t| is_decimal_text(t) && !t.starts_with('+')) =>
        {
            // Exact decimals SQLite cannot hold as REAL are stored as their digits.
            out.extend_from_slice(b)
        }
        (_, Cell::Bytes(b)) if c.kind == ValueKind::Bytes || c.unknown_type => {
            out.push(b'"');
            out.extend_from_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(b)
                    .as_bytes(),
            );
            out.push(b'"');
        }
        (ValueKind::Uuid, Cell::Bytes(b)) if b.len() == 16 => {
            let u = uuid::Uuid::from_slice(b).unwrap_or_default();
            json_string(out, &u.hyphenated().to_string());
        }
        (_, Cell::Bytes(b)) => json_string(out, &String::from_utf8_lossy(b)),
        (ValueKind::Boolean, Cell::Int(i)) => {
            out.extend_from_slice(if i != 0 { b"true" } else { b"false" })
        }
        (_, Cell::Bool(b)) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        (ValueKind::Boolean, Cell::Text(t)) => match t {
            "1" | "t" | "true" | "TRUE" | "True" => out.extend_from_slice(b"true"),
            "0" | "f" | "false" | "FALSE" | "False" => out.extend_from_slice(b"false"),
            other => json_string(out, other),
        },
        (ValueKind::Decimal, Cell::Int(i)) => write_scaled_int(out, i, c.scale),
        (ValueKind::Decimal, Cell::Float(f)) => write_float(out, f, c.scale),
        (ValueKind::Integer | ValueKind::Float | ValueKind::Decimal, Cell::Text(t))
            if is_decimal_text(t) && !t.starts_with('+') && !t.starts_with('.') =>
        {
            out.extend_from_slice(t.as_bytes())
        }
        (ValueKind::Integer | ValueKind::Float | ValueKind::Json, Cell::Int(i)) => {
            write_int(out, i)
        }
        (
            ValueKind::Integer | ValueKind::Float | ValueKind::Boolean | ValueKind::Json,
            Cell::Float(f),
        ) => write_float(out, f, None),
        (_, Cell::Int(i)) if c.unknown_type => write_int(out, i),
        (_, Cell::Float(f)) if c.unknown_type => write_float(out, f, None),
        (_, Cell::Int(i)) => {
            out.push(b'"');
            write_int(out, i);
            out.push(b'"');
        }
        (_, Cell::Float(f)) => {
            out.push(b'"');
            write_float(out, f, None);
            out.push(b'"');
        }
        // A PostgreSQL array reads as its JSON (`to_json`): written as is, like JSON.
        (ValueKind::Json | ValueKind::Array, Cell::Text(t)) => {
            if serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok() {
                out.extend_from_slice(t.trim().as_bytes())
            } else {
                json_string(out, t)
            }
        }
        (ValueKind::Timestamp | ValueKind::TimestampTz, Cell::Text(t)) => timestamp_text(out, t),
        (ValueKind::Bytes, Cell::Text(t)) => {
            out.push(b'"');
            out.extend_from_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(t)
                    .as_bytes(),
            );
            out.push(b'"');
        }
        (_, Cell::Text(t)) => json_string(out, t),
    }
}

fn csv_field(out: &mut Vec<u8>, s: &str, quote_empty: bool) {
    let needs = (quote_empty && s.is_empty())
        || s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
        || s.starts_with(' ')
        || s.ends_with(' ');
    if needs {
        out.push(b'"');
        for ch in s.bytes() {
            if ch == b'"' {
                out.push(b'"');
            }
            out.push(ch);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

fn csv_value(out: &mut Vec<u8>, c: &OutColumn, cell: Cell<'_>, zone: Option<&Zone>) {
    match cell {
        Cell::Null => {}
        _ if c.is_expr() => {
            let mut tmp = Vec::with_capacity(32);
            expr_value(&mut tmp, c, cell, zone);
            match tmp.as_slice() {
                b"null" => {}
                [b'"', ..] => {
                    let s: String = serde_json::from_slice(&tmp).unwrap_or_default();
                    csv_field(out, &s, true);
                }
                _ => csv_field(out, &String::from_utf8_lossy(&tmp), false),
            }
        }
        Cell::Date(_) | Cell::Timestamp(..) => zoned_time_text(out, &cell, zone),
        Cell::Text(t)
            if !matches!(
                c.kind,
                ValueKind::Json
                    | ValueKind::Array
                    | ValueKind::Boolean
                    | ValueKind::Bytes
                    | ValueKind::Timestamp
                    | ValueKind::TimestampTz
            ) =>
        {
            csv_field(out, t, true)
        }
        other => {
            // Render as JSON, then unwrap a JSON string to its text.
            let mut tmp = Vec::with_capacity(32);
            json_value(&mut tmp, c, other, zone);
            if tmp.first() == Some(&b'"') {
                let s: String = serde_json::from_slice(&tmp).unwrap_or_default();
                csv_field(out, &s, true);
            } else {
                let s = String::from_utf8_lossy(&tmp);
                csv_field(out, &s, false);
            }
        }
    }
}

/// A strong ETag for a representation: a 64-bit hash of its bytes, quoted.
pub fn etag(body: &[u8]) -> String {
    // FNV-1a: stable across runs and builds (DefaultHasher is not guaranteed to be).
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.write(body);
    format!("\"{:016x}\"", h.finish())
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn scaled_floats_equal_the_formatter() {
        for f in [
            0.0,
            -0.0,
            0.99,
            1.1,
            1.29,
            100.0,
            0.125,
            2.675,
            -3.5,
            1e-7,
            123456.789,
            1e16,
            9.995,
            0.1 + 0.2,
        ] {
            for sc in 0..5 {
                let mut out = Vec::new();
                write_float(&mut out, f, Some(sc));
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    format!("{f:.sc$}"),
                    "{f} {sc}"
                );
            }
        }
    }

    #[test]
    fn strings_escape_only_when_needed() {
        for s in [
            "plain",
            "",
            "a\"b",
            "back\\slash",
            "tab\tnew\nline",
            "ünïcödé",
            "\u{1}",
        ] {
            let mut out = Vec::new();
            json_string(&mut out, s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
        let mut out = Vec::new();
        timestamp_text(&mut out, "2024-01-02 03:04:05");
        assert_eq!(out, b"\"2024-01-02T03:04:05\"");
    }

    use super::*;

    fn col(kind: ValueKind, declared: &str) -> Column {
        Column::plain("c", declared, kind)
    }

    fn one(kind: ValueKind, declared: &str, cell: Cell<'_>) -> String {
        let c = col(kind, declared);
        let enc = RowEncoder::new(Format::Json, [("v", &c)]);
        let mut out = Vec::new();
        enc.row(&mut out, |_| cell);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_cells() {
        assert_eq!(
            one(ValueKind::Decimal, "NUMERIC(4,2)", Cell::Float(0.99)),
            r#"{"v":0.99}"#
        );
        assert_eq!(
            one(ValueKind::Decimal, "NUMERIC(4,2)", Cell::Float(1.1)),
            r#"{"v":1.10}"#
        );
        assert_eq!(
            one(ValueKind::Decimal, "NUMERIC(4,2)", Cell::Int(5)),
            r#"{"v":5.00}"#
        );
        assert_eq!(
            one(ValueKind::Decimal, "NUMERIC", Cell::Float(0.1)),
            r#"{"v":0.1}"#
        );
        assert_eq!(
            one(ValueKind::Boolean, "BOOLEAN", Cell::Int(1)),
            r#"{"v":true}"#
        );
        assert_eq!(
            one(
                ValueKind::Timestamp,
                "TIMESTAMP",
                Cell::Text("2024-01-02 03:04:05")
            ),
            r#"{"v":"2024-01-02T03:04:05"}"#
        );
        assert_eq!(
            one(ValueKind::Json, "JSON", Cell::Text("{\"a\": 1}")),
            r#"{"v":{"a": 1}}"#
        );
        assert_eq!(
            one(ValueKind::Bytes, "BLOB", Cell::Bytes(b"hi")),
            r#"{"v":"aGk="}"#
        );
        assert_eq!(
            one(ValueKind::Text, "TEXT", Cell::Text("a\"b")),
            r#"{"v":"a\"b"}"#
        );
        assert_eq!(
            one(ValueKind::Integer, "INTEGER", Cell::Int(i64::MAX)),
            format!("{{\"v\":{}}}", i64::MAX)
        );
    }

    #[test]
    fn csv_rows() {
        let a = col(ValueKind::Integer, "INTEGER");
        let b = col(ValueKind::Text, "TEXT");
        let enc = RowEncoder::new(Format::Csv, [("id", &a), ("name", &b)]);
        let mut out = Vec::new();
        enc.start(&mut out);
        enc.separator(&mut out, 0);
        enc.row(&mut out, |i| {
            if i == 0 {
                Cell::Int(5)
            } else {
                Cell::Text("Crosby, Stills")
            }
        });
        enc.separator(&mut out, 1);
        enc.row(&mut out, |i| if i == 0 { Cell::Int(6) } else { Cell::Null });
        enc.end(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "id,name\n5,\"Crosby, Stills\"\n6,"
        );
    }

    #[test]
    fn etags_are_stable() {
        assert_eq!(etag(b"abc"), etag(b"abc"));
        assert_ne!(etag(b"abc"), etag(b"abd"));
    }
}
