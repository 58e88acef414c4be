//! The fast path for insert bodies: JSON parsed straight into typed rows, with no
//! `serde_json::Value` tree in between (building and dropping that tree was half of a
//! bulk insert's own CPU). It accepts only what the general path (`write::insert_rows`)
//! accepts, with the same rows, and gives up on anything else: an unknown, read-only or
//! repeated key, a wrong type, a missing column, escaped keys, unusual numbers. The
//! general path then reports every problem with its own messages. Knows the service's
//! columns, never SQL or HTTP.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::value::from_text;
use super::write::{add_row, InsertBatch};
use super::SqlValue;
use crate::schema::{Column, Service, ValueKind};

/// The key under which serde_json (with `arbitrary_precision`) hands over a number's text.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// The rows of an insert body, grouped into batches of consecutive rows with the same
/// columns (as the general path groups them), and whether the body was one object; `None`
/// when the general path must decide.
pub(crate) fn insert_rows(
    svc: &Service,
    body: &[u8],
    only: Option<&[usize]>,
    default_missing: bool,
) -> Option<(Vec<InsertBatch>, bool)> {
    let first = *body.iter().find(|b| !b.is_ascii_whitespace())?;
    let mut rows = Rows {
        svc,
        only,
        default_missing,
        batches: Vec::new(),
        count: 0,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = match first {
        b'[' => de.deserialize_seq(Array(&mut rows)),
        b'{' => Object(&mut rows).deserialize(&mut de),
        _ => return None,
    };
    parsed.ok()?;
    de.end().ok()?;
    if rows.count == 0 {
        return None;
    }
    Some((rows.batches, first == b'{'))
}

/// Gives up: the general path takes over (the message is never shown).
fn give_up<E: de::Error>() -> E {
    E::custom("left to the general path")
}

struct Rows<'s> {
    svc: &'s Service,
    only: Option<&'s [usize]>,
    default_missing: bool,
    batches: Vec<InsertBatch>,
    count: usize,
}

impl Rows<'_> {
    /// One object's values, checked as a whole and added to the batches.
    fn push<E: de::Error>(&mut self, values: Vec<(usize, SqlValue)>) -> Result<(), E> {
        let given = |i: usize| values.iter().any(|(c, _)| *c == i);
        for (i, col) in self.svc.columns.iter().enumerate() {
            let required = !col.nullable && !col.has_default && !col.generated && !col.read_only;
            let present = match self.only {
                Some(allowed) => allowed.contains(&i) && given(i),
                None => given(i),
            };
            if required && !present {
                return Err(give_up());
            }
        }
        add_row(&mut self.batches, values, self.only, self.default_missing);
        self.count += 1;
        Ok(())
    }
}

/// A top-level array of objects.
struct Array<'r, 's>(&'r mut Rows<'s>);

impl<'de> Visitor<'de> for Array<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Object(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

/// One object of the body.
struct Object<'r, 's>(&'r mut Rows<'s>);

impl<'de> DeserializeSeed<'de> for Object<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Object<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let svc = self.0.svc;
        let only = self.0.only;
        let mut values: Vec<(usize, SqlValue)> = Vec::with_capacity(svc.columns.len());
        // A key with escapes is not borrowed: given up (rare).
        while let Some(key) = map.next_key::<&'de str>()? {
            let index = svc.column_index(key);
            let listed = match (index, only) {
                (Some(i), Some(allowed)) => allowed.contains(&i),
                (Some(_), None) => true,
                // With `columns=`, keys outside the list are ignored, as in the general path.
                (None, Some(_)) => false,
                (None, None) => return Err(give_up()),
            };
            let Some(i) = index.filter(|_| listed) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let col = &svc.columns[i];
            if col.read_only || values.iter().any(|(c, _)| *c == i) {
                return Err(give_up());
            }
            let v = map.next_value_seed(Cell(col))?;
            values.push((i, v));
        }
        self.0.push(values)
    }
}

/// One value, for its column.
struct Cell<'c>(&'c Column);

impl<'de> DeserializeSeed<'de> for Cell<'_> {
    type Value = SqlValue;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<SqlValue, D::Error> {
        if self.0.kind == ValueKind::Json {
            // Any JSON, stored as its compact text.
            let v = serde_json::Value::deserialize(d)?;
            return Ok(if v.is_null() {
                SqlValue::Null
            } else {
                SqlValue::Json(v.to_string())
            });
        }
        d.deserialize_any(self)
    }
}

impl Cell<'_> {
    /// A number's text (integers outside 64 bits, and every number with a fraction or an
    /// exponent).
    fn number_text<E: de::Error>(&self, text: &str) -> Result<SqlValue, E> {
        match self.0.kind {
            ValueKind::Decimal => match super::value::check_decimal(self.0, text) {
                Ok(()) => Ok(SqlValue::Decimal(text.to_string())),
                Err(_) => Err(give_up()),
            },
            ValueKind::Float => text
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(SqlValue::Float)
                .ok_or_else(give_up),
            _ => Err(give_up()),
        }
    }

    fn integer<E: de::Error>(&self, i: i64) -> Result<SqlValue, E> {
        match self.0.kind {
            ValueKind::Integer => Ok(SqlValue::Int(i)),
            ValueKind::Float => Ok(SqlValue::Float(i as f64)),
            ValueKind::Decimal => {
                let text = i.to_string();
                match super::value::check_decimal(self.0, &text) {
                    Ok(()) => Ok(SqlValue::Decimal(text)),
                    Err(_) => Err(give_up()),
                }
            }
            _ => Err(give_up()),
        }
    }

    fn string<E: de::Error>(&self, s: &str) -> Result<SqlValue, E> {
        let col = self.0;
        let stringly = !matches!(
            col.kind,
            ValueKind::Integer
                | ValueKind::Float
                | ValueKind::Decimal
                | ValueKind::Boolean
                | ValueKind::Array
        );
        let too_long = col
            .max_length
            .is_some_and(|max| s.chars().count() > max as usize);
        let not_listed = col
            .enum_values
            .as_ref()
            .is_some_and(|labels| !labels.iter().any(|l| l == s));
        if !stringly || too_long || not_listed {
            return Err(give_up());
        }
        from_text(col, s).map_err(|_| give_up())
    }
}

impl<'de> Visitor<'de> for Cell<'_> {
    type Value = SqlValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value for the column")
    }

    fn visit_unit<E: de::Error>(self) -> Result<SqlValue, E> {
        if self.0.nullable {
            Ok(SqlValue::Null)
        } else {
            Err(give_up())
        }
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<SqlValue, E> {
        match self.0.kind {
            ValueKind::Boolean => Ok(SqlValue::Bool(b)),
            _ => Err(give_up()),
        }
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<SqlValue, E> {
        self.integer(i)
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<SqlValue, E> {
        match i64::try_from(u) {
            Ok(i) => self.integer(i),
            Err(_) => self.number_text(&u.to_string()),
        }
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<SqlValue, E> {
        self.string(s)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<SqlValue, E> {
        self.string(s)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SqlValue, A::Error> {
        // serde_json hands a number it keeps as text over as a one-entry map.
        match map.next_key::<&str>()? {
            Some(NUMBER_TOKEN) => {
                let text: NumberText = map.next_value()?;
                self.number_text(&text.0)
            }
            _ => Err(give_up()),
        }
    }
}

/// The text of a number, borrowed or not.
struct NumberText(String);

impl<'de> Deserialize<'de> for NumberText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(NumberText)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Column;
    use std::sync::Arc;

    /// A service with one column of each kind: `id` (key, generated), `name` (NOT NULL,
    /// at most 5 characters), `n`, `price`, `ratio`, `flag`, `born`, `seen`, `uid`, `doc`,
    /// `pic`, `mood` (an enum), `note` (read-only).
    fn service() -> Arc<Service> {
        let col = |name: &str, kind: ValueKind| Column::plain(name, "", kind);
        let columns = vec![
            Column {
                nullable: false,
                has_default: true,
                ..col("id", ValueKind::Integer)
            },
            Column {
                nullable: false,
                max_length: Some(5),
                ..col("name", ValueKind::Text)
            },
            col("n", ValueKind::Integer),
            col("price", ValueKind::Decimal),
            col("ratio", ValueKind::Float),
            col("flag", ValueKind::Boolean),
            col("born", ValueKind::Date),
            col("seen", ValueKind::Timestamp),
            col("uid", ValueKind::Uuid),
            col("doc", ValueKind::Json),
            col("pic", ValueKind::Bytes),
            Column {
                enum_values: Some(vec!["happy".into(), "sad".into()]),
                ..col("mood", ValueKind::Text)
            },
            col("note", ValueKind::Text),
        ];
        crate::schema::test_service(columns, &["note"])
    }

    /// The general path's rows, when it accepts the body.
    fn general(
        svc: &Service,
        body: &str,
        only: Option<&[usize]>,
        default_missing: bool,
    ) -> Option<(Vec<InsertBatch>, bool)> {
        let value: serde_json::Value = serde_json::from_str(body).ok()?;
        crate::plan::write::insert_rows(svc, &value, only, default_missing).ok()
    }

    #[test]
    fn the_fast_path_gives_the_general_paths_rows_or_gives_up() {
        let svc = service();
        let accepted = [
            r#"{"name":"abc"}"#,
            r#"{"name":"héllo","n":-7,"price":0.99,"ratio":1.5,"flag":true}"#,
            r#"{"name":"a","n":9223372036854775807,"price":12345678901234567.89,"ratio":3}"#,
            r#"{"name":"a","price":-0,"ratio":-0.0,"born":"2024-02-29","seen":"2024-01-02T03:04:05.5"}"#,
            r#"{"name":"a","uid":"123e4567-e89b-12d3-a456-426614174000","pic":"aGkAAQ=="}"#,
            r#"{"name":"a","doc":{"b":[1, 2.50, "x"],"a":null},"mood":"sad","n":null}"#,
            r#"{"name":"a","doc":null,"mood":null}"#,
            r#"{"name":"a\"b"}"#,
            r#"  [{"name":"a","n":1},{"name":"b","n":2},{"n":3,"name":"c"},{"name":"d"}]  "#,
            r#"{"id":5,"name":"x","price":1e2}"#,
        ];
        for body in accepted {
            let fast = insert_rows(&svc, body.as_bytes(), None, false);
            assert!(fast.is_some(), "fast path gave up on {body}");
            let (fast_batches, fast_single) = fast.unwrap_or_default();
            let (slow_batches, slow_single) =
                general(&svc, body, None, false).expect("general path accepts");
            assert_eq!(fast_single, slow_single, "{body}");
            assert_eq!(fast_batches.len(), slow_batches.len(), "{body}");
            for (f, s) in fast_batches.iter().zip(&slow_batches) {
                assert_eq!(f.columns, s.columns, "{body}");
                assert_eq!(f.rows, s.rows, "{body}");
            }
        }
        let left_over = [
            "",
            "[]",
            "42",
            "[1]",
            r#"{"name":"abc"} x"#,
            r#"{"name":"abc","name":"abd"}"#,
            r#"{"n":1}"#,
            r#"{"name":null}"#,
            r#"{"name":"toolong"}"#,
            r#"{"name":"a","mood":"angry"}"#,
            r#"{"name":"a","n":"1"}"#,
            r#"{"name":"a","n":1.5}"#,
            r#"{"name":"a","n":9223372036854775808}"#,
            r#"{"name":"a","flag":1}"#,
            r#"{"name":"a","born":"2024-02-30"}"#,
            r#"{"name":"a","uid":"nope"}"#,
            r#"{"name":"a","pic":"%%%"}"#,
            r#"{"name":"a","ratio":1e999}"#,
            r#"{"name":"a","price":"1.5"}"#,
            r#"{"name":"a","note":"x"}"#,
            r#"{"name":"a","nope":1}"#,
            r#"{"na\u006de":"a"}"#,
            r#"{"name":["a"]}"#,
            r#"{"name":{"a":1}}"#,
            r#"[{"name":"a"},{"n":2}]"#,
            r#"[{"name":"a"},"b"]"#,
        ];
        for body in left_over {
            assert!(
                insert_rows(&svc, body.as_bytes(), None, false).is_none(),
                "fast path took {body}"
            );
        }
    }

    /// JSON values of every shape a client might send, right and wrong.
    const VALUES: &[&str] = &[
        "null",
        "true",
        "false",
        "0",
        "-0",
        "7",
        "-7",
        "1.5",
        "-0.0",
        "1e2",
        "2.50",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "1e999",
        "12345678901234567.89",
        "\"\"",
        "\"abc\"",
        "\"toolong\"",
        "\"héllo\"",
        "\"a\\\"b\"",
        "\"happy\"",
        "\"2024-02-29\"",
        "\"2024-02-30\"",
        "\"2024-01-02T03:04:05\"",
        "\"12:30:00\"",
        "\"123e4567-e89b-12d3-a456-426614174000\"",
        "\"aGk=\"",
        "\"%%\"",
        "\"1\"",
        "\"true\"",
        "[]",
        "[1,\"x\"]",
        "{}",
        "{\"a\":1}",
        "{\"$serde_json::private::Number\":\"1\"}",
    ];
    const KEYS: &[&str] = &[
        "id",
        "name",
        "n",
        "price",
        "ratio",
        "flag",
        "born",
        "seen",
        "uid",
        "doc",
        "pic",
        "mood",
        "note",
        "nope",
        "na\\u006de",
    ];

    /// Fields the general path accepts for the test service.
    const GOOD: &[(&str, &str)] = &[
        ("id", "5"),
        ("n", "7"),
        ("n", "-7"),
        ("n", "null"),
        ("n", "9223372036854775807"),
        ("price", "0.99"),
        ("price", "12345678901234567.89"),
        ("price", "1e2"),
        ("price", "-0"),
        ("price", "3"),
        ("ratio", "1.5"),
        ("ratio", "3"),
        ("ratio", "-0.0"),
        ("flag", "true"),
        ("flag", "false"),
        ("born", "\"2024-02-29\""),
        ("seen", "\"2024-01-02T03:04:05.5\""),
        ("uid", "\"123e4567-e89b-12d3-a456-426614174000\""),
        ("doc", "{\"a\":[1,2.50]}"),
        ("doc", "null"),
        ("doc", "[1,\"x\"]"),
        ("doc", "3"),
        ("pic", "\"aGk=\""),
        ("mood", "\"happy\""),
        ("mood", "null"),
    ];

    /// An object: usually a valid one, sometimes with a field of any shape.
    fn object() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        (
            prop::bool::weighted(0.9),
            prop::sample::select(&["\"abc\"", "\"héllo\"", "\"a\\\"b\""][..]),
            prop::collection::vec(prop::sample::select(GOOD), 0..6),
            prop::option::weighted(
                0.3,
                (prop::sample::select(KEYS), prop::sample::select(VALUES)),
            ),
        )
            .prop_map(|(named, name, good, odd)| {
                let mut fields: Vec<String> = Vec::new();
                if named {
                    fields.push(format!("\"name\":{name}"));
                }
                fields.extend(good.iter().map(|(k, v)| format!("\"{k}\":{v}")));
                if let Some((k, v)) = odd {
                    fields.push(format!("\"{k}\":{v}"));
                }
                format!("{{{}}}", fields.join(","))
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 3000,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Whatever the body, the fast path either gives up or gives exactly the rows the
        /// general path gives.
        #[test]
        fn the_fast_path_never_disagrees_with_the_general_path(
            objects in proptest::collection::vec(object(), 1..4),
            array in proptest::bool::ANY,
            listed in proptest::option::of(proptest::collection::vec(0usize..13, 1..4)),
            default_missing in proptest::bool::ANY,
        ) {
            let svc = service();
            let body = if array || objects.len() > 1 {
                format!("[{}]", objects.join(","))
            } else {
                objects[0].clone()
            };
            let only: Option<Vec<usize>> = listed.map(|l| {
                let mut l: Vec<usize> = l.into_iter().filter(|&i| svc.columns[i].name != "note").collect();
                l.dedup();
                l
            }).filter(|l| !l.is_empty());
            let fast = insert_rows(&svc, body.as_bytes(), only.as_deref(), default_missing);
            if let Some((batches, single)) = fast {
                let general = general(&svc, &body, only.as_deref(), default_missing);
                let Some((slow, slow_single)) = general else {
                    panic!("the fast path took {body}, the general path refuses it");
                };
                proptest::prop_assert_eq!(single, slow_single);
                let rows = |b: &[InsertBatch]| {
                    b.iter().map(|b| (b.columns.clone(), b.rows.clone())).collect::<Vec<_>>()
                };
                proptest::prop_assert_eq!(rows(&batches), rows(&slow), "{}", body);
            }
        }
    }

    #[test]
    fn listed_columns_are_honoured_as_in_the_general_path() {
        let svc = service();
        let name = svc.column_index("name").expect("name");
        let n = svc.column_index("n").expect("n");
        let only = [name, n];
        for default_missing in [false, true] {
            for body in [
                r#"[{"name":"a","n":1,"ratio":2.5,"nope":1},{"name":"b"}]"#,
                r#"{"name":"a","note":"ignored"}"#,
            ] {
                let fast = insert_rows(&svc, body.as_bytes(), Some(&only), default_missing)
                    .expect("fast path");
                let slow = general(&svc, body, Some(&only), default_missing).expect("general");
                assert_eq!(fast.1, slow.1, "{body}");
                let rows = |b: &[InsertBatch]| {
                    b.iter()
                        .map(|b| (b.columns.clone(), b.rows.clone()))
                        .collect::<Vec<_>>()
                };
                assert_eq!(rows(&fast.0), rows(&slow.0), "{body}");
            }
        }
        // A listed column that is missing and required: the general path reports it.
        let only_n = [n];
        assert!(insert_rows(&svc, br#"{"n":1}"#, Some(&only_n), false).is_none());
    }
}
