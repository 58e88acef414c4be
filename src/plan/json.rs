//! JSON paths into JSON columns (`data->a->>b`, `data->0`, `data->-1`) and casts of
//! selected values (`id::text`, `data->>n::int`), resolved against the schema cache: a
//! path's column must hold JSON and only its last step may be `->>`; a filter on a path
//! compares text (`->>`) or a JSON scalar (`->`); a cast names one of the types of `Cast`.
//! Knows the schema cache, never SQL or HTTP.

use super::{check_regex, like_pattern, Condition, SqlValue};
use crate::error::{ApiError, ApiResult};
use crate::request::ast::{CmpOp, IsValue, JsonOperand, JsonStep, Operation, Quantifier};
use crate::schema::{Service, ValueKind};

/// A path into a JSON column, checked: every step but the last is `->`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    pub steps: Vec<JsonOperand>,
    /// The last step is `->>`: the value as text (SQL NULL for JSON null), else as JSON.
    pub text: bool,
}

impl JsonPath {
    /// The key an unaliased select item is written under, as PostgREST names it: the last
    /// key of the path (`data->a->0` gives `a`), or the column's name when it has none.
    pub fn output_name(&self, column: &str) -> String {
        self.steps
            .iter()
            .rev()
            .find_map(|s| match s {
                JsonOperand::Key(k) => Some(k.clone()),
                JsonOperand::Index(_) => None,
            })
            .unwrap_or_else(|| column.to_string())
    }
}

/// `data->a->>b`, as the request wrote it (for messages).
pub fn show_path(column: &str, steps: &[JsonStep]) -> String {
    let mut s = column.to_string();
    for step in steps {
        s.push_str(if step.text { "->>" } else { "->" });
        match &step.operand {
            JsonOperand::Key(k) => s.push_str(k),
            JsonOperand::Index(i) => s.push_str(&i.to_string()),
        }
    }
    s
}

/// Check `steps` as a path into column `column` of `svc`.
pub fn resolve_path(svc: &Service, column: usize, steps: &[JsonStep]) -> ApiResult<JsonPath> {
    let col = &svc.columns[column];
    let shown = || show_path(&col.name, steps);
    if col.kind != ValueKind::Json {
        return Err(ApiError::bad_filter(
            format!(
                "column '{}' is {}, not JSON: a JSON path ({}) needs a JSON column",
                col.name,
                col.declared_type,
                shown()
            ),
            None,
        ));
    }
    let last = steps.len().saturating_sub(1);
    let mut out = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        if step.text && i != last {
            return Err(ApiError::bad_filter(
                format!(
                    "'->>' gives text, so it can only be the last step of a JSON path ({})",
                    shown()
                ),
                Some("use '->' for every step but the last".to_string()),
            ));
        }
        if let JsonOperand::Key(k) = &step.operand {
            if k.contains('\0') {
                return Err(ApiError::bad_filter(
                    "a JSON key cannot hold a NUL character".to_string(),
                    None,
                ));
            }
        }
        out.push(step.operand.clone());
    }
    Ok(JsonPath {
        steps: out,
        text: steps.last().is_some_and(|s| s.text),
    })
}

/// A JSON scalar a `->` path is compared with (`data->n=gt.3`, `data->s=eq."x"`).
#[derive(Debug, Clone, PartialEq)]
pub enum JsonScalar {
    Null,
    Bool(bool),
    /// A `SqlValue::Float`: numbers are compared as double precision.
    Number(SqlValue),
    String(String),
}

impl JsonScalar {
    /// The position of the scalar's type in PostgreSQL's order of `jsonb` values (null <
    /// string < number < false < true < array < object; booleans get one each), which is
    /// also what the dialects' `json_rank` gives.
    pub fn rank(&self) -> i64 {
        match self {
            JsonScalar::Null => JSON_RANK_NULL,
            JsonScalar::String(_) => JSON_RANK_STRING,
            JsonScalar::Number(_) => JSON_RANK_NUMBER,
            JsonScalar::Bool(false) => JSON_RANK_FALSE,
            JsonScalar::Bool(true) => JSON_RANK_TRUE,
        }
    }
}

pub const JSON_RANK_NULL: i64 = 0;
pub const JSON_RANK_STRING: i64 = 1;
pub const JSON_RANK_NUMBER: i64 = 2;
pub const JSON_RANK_FALSE: i64 = 3;
pub const JSON_RANK_TRUE: i64 = 4;
pub const JSON_RANK_ARRAY: i64 = 5;
pub const JSON_RANK_OBJECT: i64 = 6;

/// What a condition on a JSON path tests.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonTest {
    /// `->>`: the text compared (`eq` ... `lte`) with a text value.
    TextCompare { op: CmpOp, value: String },
    /// `->>`: the text is one of these.
    TextIn(Vec<String>),
    /// `->>`: `isdistinct`.
    TextDistinct(String),
    /// `->>`: `like`/`ilike` (pattern with `%` and `_`).
    Like {
        pattern: String,
        case_insensitive: bool,
    },
    /// `->>`: `match`/`imatch`.
    Regex {
        pattern: String,
        case_insensitive: bool,
    },
    /// `->`: the JSON value compared with a scalar, in PostgreSQL's `jsonb` order (numbers
    /// as numbers, a value of another type by its type's rank).
    Compare { op: CmpOp, value: JsonScalar },
    /// `->`: `isdistinct`.
    Distinct(JsonScalar),
    /// SQL NULL: the key is missing, or the column is NULL (with `->>`: or holds null).
    IsNull,
}

/// A filter on a JSON path of column `column`.
pub fn path_condition(
    svc: &Service,
    column: usize,
    steps: &[JsonStep],
    operation: &Operation,
) -> ApiResult<Condition> {
    let path = resolve_path(svc, column, steps)?;
    let shown = show_path(&svc.columns[column].name, steps);
    let cond = |test: JsonTest| Condition::Json {
        column,
        path: path.clone(),
        test,
    };
    let single = |op: CmpOp, raw: &str| -> ApiResult<Condition> {
        Ok(cond(single_test(&path, &shown, op, raw)?))
    };
    Ok(match operation {
        Operation::Compare { op, value } => single(*op, value)?,
        Operation::Quantified {
            op,
            quantifier,
            values,
        } => {
            if *op == CmpOp::Eq && *quantifier == Quantifier::Any && path.text {
                if values.is_empty() {
                    Condition::Const(false)
                } else {
                    cond(JsonTest::TextIn(values.clone()))
                }
            } else {
                let parts = values
                    .iter()
                    .map(|v| single(*op, v))
                    .collect::<ApiResult<Vec<_>>>()?;
                match quantifier {
                    Quantifier::Any if parts.is_empty() => Condition::Const(false),
                    Quantifier::All if parts.is_empty() => Condition::Const(true),
                    Quantifier::Any => Condition::Or(parts),
                    Quantifier::All => Condition::And(parts),
                }
            }
        }
        Operation::In(values) if values.is_empty() => Condition::Const(false),
        Operation::In(values) if path.text => cond(JsonTest::TextIn(values.clone())),
        Operation::In(values) => Condition::Or(
            values
                .iter()
                .map(|v| single(CmpOp::Eq, v))
                .collect::<ApiResult<Vec<_>>>()?,
        ),
        Operation::Is(IsValue::Null) => cond(JsonTest::IsNull),
        Operation::Is(IsValue::NotNull) => Condition::Not(Box::new(cond(JsonTest::IsNull))),
        Operation::Is(_) => {
            return Err(ApiError::bad_filter(
                format!(
                    "operator 'is.true/is.false/is.unknown' needs a boolean column, but {shown} is JSON"
                ),
                Some(format!("compare it with true or false: {shown}=eq.true")),
            ))
        }
        Operation::Containment { op, .. } => {
            return Err(ApiError::bad_filter(
                format!(
                    "operator '{}' is not supported on a JSON path ({shown})",
                    op.name()
                ),
                Some(format!(
                    "use it on the JSON column itself: {}={}.<json>",
                    svc.columns[column].name,
                    op.name()
                )),
            ))
        }
        Operation::IsDistinct(v) if path.text => cond(JsonTest::TextDistinct(v.clone())),
        Operation::IsDistinct(v) => cond(JsonTest::Distinct(json_scalar(&shown, v)?)),
    })
}

fn single_test(path: &JsonPath, shown: &str, op: CmpOp, raw: &str) -> ApiResult<JsonTest> {
    let text_only = |op: CmpOp| {
        ApiError::bad_filter(
            format!("operator '{}' needs text, but {shown} is JSON", op.name()),
            Some("take the value as text with '->>' as the last step (data->>name=like.A*)".into()),
        )
    };
    Ok(match op {
        CmpOp::Like | CmpOp::Ilike if path.text => JsonTest::Like {
            pattern: like_pattern(raw),
            case_insensitive: op == CmpOp::Ilike,
        },
        CmpOp::Match | CmpOp::Imatch if path.text => {
            check_regex(raw)?;
            JsonTest::Regex {
                pattern: raw.to_string(),
                case_insensitive: op == CmpOp::Imatch,
            }
        }
        CmpOp::Like | CmpOp::Ilike | CmpOp::Match | CmpOp::Imatch => return Err(text_only(op)),
        _ if path.text => JsonTest::TextCompare {
            op,
            value: raw.to_string(),
        },
        _ => JsonTest::Compare {
            op,
            value: json_scalar(shown, raw)?,
        },
    })
}

/// A filter value for a `->` path: JSON text of a scalar.
fn json_scalar(shown: &str, raw: &str) -> ApiResult<JsonScalar> {
    let value: serde_json::Value = serde_json::from_str(raw).map_err(|_| ApiError::InvalidValue {
        message: format!("invalid JSON value for {shown}"),
        details: format!(
            "{shown} is compared as JSON, so the value must be JSON: a number, \"a string\" in double quotes, true, false or null (got '{raw}'); to compare text, end the path with '->>'"
        ),
    })?;
    Ok(match value {
        serde_json::Value::Null => JsonScalar::Null,
        serde_json::Value::Bool(b) => JsonScalar::Bool(b),
        // Always a double: one statement text must always bind one type (PostgreSQL
        // prepares it once, for the type of its first values).
        serde_json::Value::Number(n) => {
            JsonScalar::Number(SqlValue::Float(n.as_f64().unwrap_or(f64::NAN)))
        }
        serde_json::Value::String(s) => JsonScalar::String(s),
        serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
            return Err(ApiError::bad_filter(
                format!("{shown} can only be compared with a JSON scalar, not an array or object"),
                Some(
                    "compare a value inside it (data->tags->0=eq.\"rock\") or its text (data->>tags=eq.[\"rock\"])"
                        .to_string(),
                ),
            ))
        }
    })
}

/// A type a selected value can be cast to (`select=id::text`). The value is converted
/// when the response is written, the same way on every backend (`response::cast`): a
/// database's own casts round, truncate and fail differently (SQLite's `CAST('x' AS
/// INTEGER)` is 0, MariaDB's rounds and warns, PostgreSQL's fails the statement). A
/// value that does not convert is written as null.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cast {
    Text,
    SmallInt,
    Int,
    BigInt,
    Real,
    Double,
    Numeric,
    Boolean,
    Date,
    Json,
}

/// The type names `Cast::from_name` knows, for messages and docs.
pub const CAST_NAMES: &str = "text, varchar, smallint, int2, int, integer, int4, bigint, int8, real, float4, float, float8, double precision, numeric, decimal, bool, boolean, date, json, jsonb";

impl Cast {
    /// The cast of a type name as PostgreSQL spells it (case-insensitive).
    pub fn from_name(name: &str) -> Option<Cast> {
        let name = name
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        Some(match name.as_str() {
            "text" | "varchar" | "character varying" => Cast::Text,
            "smallint" | "int2" => Cast::SmallInt,
            "int" | "integer" | "int4" => Cast::Int,
            "bigint" | "int8" => Cast::BigInt,
            "real" | "float4" => Cast::Real,
            "float" | "float8" | "double precision" | "double" => Cast::Double,
            "numeric" | "decimal" => Cast::Numeric,
            "bool" | "boolean" => Cast::Boolean,
            "date" => Cast::Date,
            "json" | "jsonb" => Cast::Json,
            _ => return None,
        })
    }

    /// `name` as a cast, or a 400 naming it.
    pub fn resolve(name: &str, item: &str) -> ApiResult<Cast> {
        Cast::from_name(name).ok_or_else(|| {
            ApiError::bad_filter(
                format!("unknown type '{name}' in a cast (select: {item}::{name})"),
                Some(format!("a select item can be cast to {CAST_NAMES}")),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::ast::JsonStep;

    fn steps(spec: &[(bool, JsonOperand)]) -> Vec<JsonStep> {
        spec.iter()
            .map(|(text, operand)| JsonStep {
                text: *text,
                operand: operand.clone(),
            })
            .collect()
    }

    fn key(k: &str) -> JsonOperand {
        JsonOperand::Key(k.into())
    }

    #[test]
    fn output_names_are_the_last_key() {
        let p = |s: Vec<JsonOperand>| JsonPath {
            steps: s,
            text: false,
        };
        assert_eq!(p(vec![key("a"), key("b")]).output_name("data"), "b");
        assert_eq!(
            p(vec![key("a"), JsonOperand::Index(0)]).output_name("data"),
            "a"
        );
        assert_eq!(p(vec![JsonOperand::Index(-1)]).output_name("data"), "data");
        assert_eq!(
            show_path(
                "data",
                &steps(&[
                    (false, key("a")),
                    (false, JsonOperand::Index(-1)),
                    (true, key("b"))
                ])
            ),
            "data->a->-1->>b"
        );
    }

    #[test]
    fn casts_by_name() {
        assert_eq!(Cast::from_name("TEXT"), Some(Cast::Text));
        assert_eq!(Cast::from_name("double  precision"), Some(Cast::Double));
        assert_eq!(Cast::from_name("int8"), Some(Cast::BigInt));
        assert_eq!(Cast::from_name("jsonb"), Some(Cast::Json));
        assert_eq!(Cast::from_name("money"), None);
        let e = Cast::resolve("money", "id").unwrap_err();
        assert!(e.to_string().contains("'money'"), "{e}");
        for name in CAST_NAMES.split(", ") {
            assert!(Cast::from_name(name).is_some(), "{name}");
        }
    }

    #[test]
    fn json_scalars() {
        assert_eq!(
            json_scalar("d->a", "3").ok(),
            Some(JsonScalar::Number(SqlValue::Float(3.0)))
        );
        assert_eq!(
            json_scalar("d->a", "2.5").ok(),
            Some(JsonScalar::Number(SqlValue::Float(2.5)))
        );
        assert_eq!(
            json_scalar("d->a", "\"x\"").ok(),
            Some(JsonScalar::String("x".into()))
        );
        assert_eq!(json_scalar("d->a", "null").ok(), Some(JsonScalar::Null));
        assert_eq!(
            json_scalar("d->a", "true").ok(),
            Some(JsonScalar::Bool(true))
        );
        assert!(matches!(
            json_scalar("d->a", "x"),
            Err(ApiError::InvalidValue { .. })
        ));
        assert!(matches!(
            json_scalar("d->a", "[1]"),
            Err(ApiError::BadFilter { .. })
        ));
    }
}
