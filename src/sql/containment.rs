//! PostgreSQL's jsonb containment (`@>`, `<@`) for the backends that lack it, with the
//! same answers: the reference function SQLite runs (registered by its executor as
//! `restable_json_contains`), and the SQL MySQL/MariaDB runs, written from the filter's
//! constant value (their own `JSON_CONTAINS` is looser: a scalar is contained in any
//! array that holds it at any depth). Knows JSON values and SQL text, never a connection.
//!
//! The rules (PostgreSQL's `JsonbDeepContains`): an object contains an object when each
//! of the second's keys is in the first with a value that contains the second's value;
//! an array contains an array when each element of the second is contained in some
//! element of the first (duplicates and order do not matter); scalars contain equal
//! scalars (numbers by value: `1` and `1.0` are equal); values of different types never
//! contain each other, except that at the top level an array contains a scalar it holds
//! as an element.

use serde_json::Value;

use super::Builder;
use crate::plan::SqlValue;

/// Whether `target` contains `candidate`, as PostgreSQL's `target @> candidate`.
pub fn contains(target: &Value, candidate: &Value) -> bool {
    match (target, candidate) {
        (Value::Array(items), c) if !c.is_array() && !c.is_object() => {
            items.iter().any(|t| scalar_eq(t, c))
        }
        _ => contains_at(target, candidate),
    }
}

fn contains_at(target: &Value, candidate: &Value) -> bool {
    match (target, candidate) {
        (Value::Object(t), Value::Object(c)) => c
            .iter()
            .all(|(k, cv)| t.get(k).is_some_and(|tv| contains_at(tv, cv))),
        (Value::Array(t), Value::Array(c)) => {
            c.iter().all(|cv| t.iter().any(|tv| contains_at(tv, cv)))
        }
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => false,
        (t, c) => scalar_eq(t, c),
    }
}

/// Equal scalars: numbers by value (`1` = `1.0`; exact text first, for numbers beyond
/// `f64`), everything else as JSON.
fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (xs, ys) = (x.to_string(), y.to_string());
            xs == ys
                || matches!(
                    (xs.parse::<f64>(), ys.parse::<f64>()),
                    (Ok(p), Ok(q)) if p == q
                )
        }
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => false,
        _ => a == b,
    }
}

/// The reference function over two JSON texts: `None` (SQL NULL) when either is NULL,
/// false when either is not JSON.
pub fn contains_text(target: Option<&str>, candidate: Option<&str>) -> Option<bool> {
    let (t, c) = (target?, candidate?);
    match (
        serde_json::from_str::<Value>(t),
        serde_json::from_str::<Value>(c),
    ) {
        (Ok(t), Ok(c)) => Some(contains(&t, &c)),
        _ => Some(false),
    }
}

/// MySQL/MariaDB: SQL true exactly when `target` (a SQL expression of JSON text, written
/// by `target`) contains `candidate` (`contained_in`: is contained in it), NULL when the
/// target is NULL. Array elements are walked with `JSON_TABLE` (MariaDB 10.6, MySQL 8). The
/// plan bounds the value (`plan::value::MAX_JSON_FILTER_NODES`), and so the statement.
pub fn write_mysql(
    b: &mut Builder<'_>,
    target: &dyn Fn(&mut Builder<'_>),
    candidate: &Value,
    contained_in: bool,
) {
    let mut w = MySqlWriter { aliases: 0 };
    b.push("CASE WHEN ");
    target(b);
    b.push(" IS NULL THEN NULL ELSE ");
    let expr = Expr::Outer(target);
    if contained_in {
        w.contained_in(b, &expr, candidate, true);
    } else {
        w.contains(b, &expr, candidate, true);
    }
    b.push(" END");
}

/// A JSON value in the SQL being written: the target itself, a path into another, or an
/// element of a `JSON_TABLE` walk.
enum Expr<'a> {
    Outer(&'a dyn Fn(&mut Builder<'_>)),
    Path(&'a Expr<'a>, String),
    Element(u32),
}

impl Expr<'_> {
    fn write(&self, b: &mut Builder<'_>) {
        match self {
            Expr::Outer(f) => f(b),
            Expr::Path(base, path) => {
                b.push("JSON_EXTRACT(");
                base.write(b);
                b.push(", ");
                b.param(SqlValue::Text(path.clone()));
                b.push(")");
            }
            Expr::Element(n) => {
                b.push("`_jc");
                b.number(i64::from(*n));
                b.push("`.`v`");
            }
        }
    }
}

/// `$."key"`: a MySQL JSON path to one key, quoted so any key is taken literally.
fn key_path(key: &str) -> String {
    let mut p = String::from("$.\"");
    for c in key.chars() {
        if c == '"' || c == '\\' {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('"');
    p
}

struct MySqlWriter {
    aliases: u32,
}

impl MySqlWriter {
    fn type_is(&self, b: &mut Builder<'_>, e: &Expr<'_>, ty: &str) {
        b.push("JSON_TYPE(");
        e.write(b);
        b.push(") = '");
        b.push(ty);
        b.push("'");
    }

    /// `e` is a scalar equal to `c` (a scalar).
    fn scalar_eq(&self, b: &mut Builder<'_>, e: &Expr<'_>, c: &Value) {
        b.push("COALESCE(JSON_TYPE(");
        e.write(b);
        b.push(") NOT IN ('OBJECT', 'ARRAY') AND JSON_CONTAINS(");
        e.write(b);
        b.push(", ");
        b.param(SqlValue::Json(c.to_string()));
        b.push("), 0)");
    }

    /// `EXISTS (SELECT 1 FROM JSON_TABLE(<e>, '$[*]' ...) AS _jcN WHERE <cond>)`, or with
    /// `all` `NOT EXISTS (... WHERE NOT <cond>)`.
    fn each_element(
        &mut self,
        b: &mut Builder<'_>,
        e: &Expr<'_>,
        all: bool,
        cond: &mut dyn FnMut(&mut Self, &mut Builder<'_>, &Expr<'_>),
    ) {
        self.aliases += 1;
        let n = self.aliases;
        b.push(if all { "NOT EXISTS" } else { "EXISTS" });
        b.push(" (SELECT 1 FROM JSON_TABLE(");
        e.write(b);
        b.push(", '$[*]' COLUMNS (`v` JSON PATH '$')) AS `_jc");
        b.number(i64::from(n));
        b.push("` WHERE ");
        if all {
            b.push("NOT ");
        }
        b.push("COALESCE(");
        cond(self, b, &Expr::Element(n));
        b.push(", 0))");
    }

    fn contains(&mut self, b: &mut Builder<'_>, e: &Expr<'_>, c: &Value, top: bool) {
        b.push("COALESCE((");
        match c {
            Value::Object(map) => {
                self.type_is(b, e, "OBJECT");
                for (k, v) in map {
                    b.push(" AND ");
                    let sub = Expr::Path(e, key_path(k));
                    self.contains(b, &sub, v, false);
                }
            }
            Value::Array(items) => {
                self.type_is(b, e, "ARRAY");
                for item in items {
                    b.push(" AND ");
                    self.each_element(b, e, false, &mut |w, b, el| w.contains(b, el, item, false));
                }
            }
            scalar => {
                self.scalar_eq(b, e, scalar);
                if top {
                    b.push(" OR ");
                    self.type_is(b, e, "ARRAY");
                    b.push(" AND ");
                    self.each_element(b, e, false, &mut |w, b, el| w.scalar_eq(b, el, scalar));
                }
            }
        }
        b.push("), 0)");
    }

    /// `e` is contained in `c`.
    fn contained_in(&mut self, b: &mut Builder<'_>, e: &Expr<'_>, c: &Value, top: bool) {
        b.push("COALESCE((");
        match c {
            Value::Object(map) => {
                // Every key of `e` is one of `c`'s, and the value under each of `c`'s keys
                // that `e` has is contained in `c`'s.
                self.type_is(b, e, "OBJECT");
                b.push(" AND JSON_LENGTH(");
                e.write(b);
                b.push(") = (0");
                for k in map.keys() {
                    b.push(" + JSON_CONTAINS_PATH(");
                    e.write(b);
                    b.push(", 'one', ");
                    b.param(SqlValue::Text(key_path(k)));
                    b.push(")");
                }
                b.push(")");
                for (k, v) in map {
                    let path = key_path(k);
                    b.push(" AND (NOT JSON_CONTAINS_PATH(");
                    e.write(b);
                    b.push(", 'one', ");
                    b.param(SqlValue::Text(path.clone()));
                    b.push(") OR ");
                    let sub = Expr::Path(e, path);
                    self.contained_in(b, &sub, v, false);
                    b.push(")");
                }
            }
            Value::Array(items) => {
                b.push("(");
                self.type_is(b, e, "ARRAY");
                b.push(" AND ");
                self.each_element(b, e, true, &mut |w, b, el| {
                    b.push("(0");
                    for item in items {
                        b.push(" OR ");
                        w.contained_in(b, el, item, false);
                    }
                    b.push(")");
                });
                b.push(")");
                let scalars: Vec<&Value> = items
                    .iter()
                    .filter(|i| !i.is_array() && !i.is_object())
                    .collect();
                if top && !scalars.is_empty() {
                    // At the top level an array contains a scalar it holds.
                    for s in scalars {
                        b.push(" OR ");
                        self.scalar_eq(b, e, s);
                    }
                }
            }
            scalar => self.scalar_eq(b, e, scalar),
        }
        b.push("), 0)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jsonb_containment_rules() {
        let yes = [
            (json!({"a": 1, "b": [1, 2]}), json!({"a": 1})),
            (json!({"a": 1, "b": [1, 2]}), json!({"b": [2]})),
            (json!({"a": {"x": 1, "y": 2}}), json!({"a": {"y": 2}})),
            (json!({"a": 1}), json!({})),
            (json!([1, 2, 3]), json!([3, 1])),
            (json!([1, 2, 3]), json!([1, 1])),
            (json!([1, 2, 3]), json!([])),
            (json!([1, 2, [1, 3]]), json!([[1, 3]])),
            (json!([{"a": 1, "b": 2}, 3]), json!([{"a": 1}])),
            (json!(["rock", "pop"]), json!("rock")),
            (json!(1), json!(1.0)),
            (json!("a"), json!("a")),
            (json!(null), json!(null)),
            (json!([null]), json!([null])),
        ];
        for (t, c) in yes {
            assert!(contains(&t, &c), "{t} @> {c}");
        }
        let no = [
            (json!({"a": 1}), json!({"a": 2})),
            (json!({"a": [1]}), json!({"a": 1})),
            (json!({"a": 1}), json!([])),
            (json!([1]), json!({})),
            (json!([1, 2, [1, 3]]), json!([1, 3])),
            (json!([[1, 2]]), json!([1])),
            (json!([{"a": 1, "b": 2}]), json!({"a": 1})),
            (json!("rock"), json!(["rock"])),
            (json!([["rock"]]), json!("rock")),
            (json!(1), json!("1")),
            (json!(true), json!(1)),
            (json!("a"), json!("A")),
        ];
        for (t, c) in no {
            assert!(!contains(&t, &c), "not {t} @> {c}");
        }
        assert_eq!(contains_text(Some("[1]"), Some("1")), Some(true));
        assert_eq!(contains_text(None, Some("1")), None);
        assert_eq!(contains_text(Some("x"), Some("1")), Some(false));
    }
}
