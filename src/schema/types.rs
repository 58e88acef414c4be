//! Declared column types, any backend's spelling, mapped to how restable represents them
//! (`ValueKind`, length, enum values). The three introspectors all classify their type
//! names here, so the same declared type means the same JSON on every backend. Knows no
//! connection and no SQL.

use super::ValueKind;

/// Maps a declared column type (any backend's spelling) to how restable represents it.
///
/// Returns `(kind, unknown, max_length)`: `unknown` is true when the type was not
/// recognised (an empty type included) and is served as text; `max_length` is the `n` of
/// `VARCHAR(n)` / `CHAR(n)` / `CHARACTER VARYING(n)`.
///
/// Explicit type names are matched first; anything else falls back to SQLite's affinity
/// rules (contains `INT` -> integer, `CHAR`/`CLOB`/`TEXT` -> text, `BLOB` -> bytes,
/// `REAL`/`FLOA`/`DOUB` -> float), except that `INTERVAL`, `POINT` and range types are not
/// integers and arrays are unknown.
pub fn value_kind(declared: &str) -> (ValueKind, bool, Option<u32>) {
    let ty = TypeName::parse(declared);
    let words = ty.words.as_str();
    let first = words.split(' ').next().unwrap_or("");
    let known = |kind| (kind, false, None);

    if words.contains('[') || words == "ARRAY" || words.ends_with(" ARRAY") {
        return (ValueKind::Text, true, None);
    }
    match first {
        "" => return (ValueKind::Text, true, None),
        "BOOLEAN" | "BOOL" => return known(ValueKind::Boolean),
        "TINYINT" if ty.params.as_deref().map(str::trim) == Some("1") => {
            return known(ValueKind::Boolean)
        }
        "TIMESTAMPTZ" | "DATETIMEOFFSET" => return known(ValueKind::TimestampTz),
        "TIMESTAMP" if words.contains("WITH TIME ZONE") => return known(ValueKind::TimestampTz),
        "TIMESTAMP" | "DATETIME" | "DATETIME2" | "SMALLDATETIME" => {
            return known(ValueKind::Timestamp)
        }
        "DATE" => return known(ValueKind::Date),
        // A time of day with an offset has no kind of its own: a plain (known) string.
        "TIMETZ" => return known(ValueKind::Text),
        "TIME" if words.contains("WITH TIME ZONE") => return known(ValueKind::Text),
        "TIME" => return known(ValueKind::Time),
        "UUID" | "UNIQUEIDENTIFIER" => return known(ValueKind::Uuid),
        "JSON" | "JSONB" => return known(ValueKind::Json),
        "BYTEA" | "BINARY" | "VARBINARY" => return known(ValueKind::Bytes),
        "NUMERIC" | "DECIMAL" | "DEC" | "FIXED" => return known(ValueKind::Decimal),
        "REAL" | "FLOAT" | "FLOAT4" | "FLOAT8" | "DOUBLE" => return known(ValueKind::Float),
        "SERIAL" | "SERIAL2" | "SERIAL4" | "SERIAL8" | "SMALLSERIAL" | "BIGSERIAL" | "YEAR" => {
            return known(ValueKind::Integer)
        }
        "ENUM" | "SET" | "STRING" | "CITEXT" | "NAME" => return known(ValueKind::Text),
        _ => {}
    }

    // SQLite's affinity rules, in SQLite's order.
    let not_integer = ["INTERVAL", "POINT", "RANGE"];
    if words.contains("INT") && !not_integer.iter().any(|w| words.contains(w)) {
        return known(ValueKind::Integer);
    }
    if words.contains("CHAR") || words.contains("CLOB") || words.contains("TEXT") {
        let max_length = if words.contains("CHAR") {
            ty.params
                .as_deref()
                .and_then(|p| p.trim().parse::<u32>().ok())
        } else {
            None
        };
        return (ValueKind::Text, false, max_length);
    }
    if words.contains("BLOB") {
        return known(ValueKind::Bytes);
    }
    if ["REAL", "FLOA", "DOUB"].iter().any(|w| words.contains(w)) {
        return known(ValueKind::Float);
    }
    (ValueKind::Text, true, None)
}

/// The values of an `ENUM('a','b',...)` declared type (MySQL spelling; `''` and `\'`
/// escapes understood), or `None` when the type is not an enumeration.
pub fn enum_values(declared: &str) -> Option<Vec<String>> {
    let ty = TypeName::parse(declared);
    if ty.words.split(' ').next() != Some("ENUM") {
        return None;
    }
    let params = ty.params?;
    let mut values = Vec::new();
    let mut chars = params.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue; // separators and whitespace between literals
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                None => return None,
                Some('\\') => value.push(chars.next()?),
                Some('\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                    value.push('\'');
                }
                Some('\'') => break,
                Some(other) => value.push(other),
            }
        }
        values.push(value);
    }
    Some(values)
}

/// A declared type split into its words (upper-cased, parenthesised parts removed,
/// whitespace collapsed) and the text of its first parenthesised group, case preserved.
struct TypeName {
    words: String,
    params: Option<String>,
}

impl TypeName {
    fn parse(declared: &str) -> TypeName {
        let mut words = String::new();
        let mut params: Option<String> = None;
        let mut depth = 0usize;
        let mut in_quote = false;
        let mut groups = 0usize;
        for c in declared.chars() {
            if depth > 0 {
                if in_quote {
                    if c == '\'' {
                        in_quote = false;
                    }
                } else if c == '\'' {
                    in_quote = true;
                } else if c == '(' {
                    depth += 1;
                } else if c == ')' {
                    depth -= 1;
                    if depth == 0 {
                        groups += 1;
                        words.push(' ');
                        continue;
                    }
                }
                if groups == 0 {
                    params.get_or_insert_with(String::new).push(c);
                }
            } else if c == '(' {
                depth = 1;
                if groups == 0 {
                    params = Some(String::new());
                }
            } else {
                words.push(c.to_ascii_uppercase());
            }
        }
        let words = words.split_whitespace().collect::<Vec<_>>().join(" ");
        TypeName { words, params }
    }
}

/// Scale of `NUMERIC(p,s)` / `DECIMAL(p,s)`.
pub fn decimal_scale(declared: &str) -> Option<usize> {
    let open = declared.find('(')?;
    let close = declared[open..].find(')')? + open;
    let inner = &declared[open + 1..close];
    let (_, s) = inner.split_once(',')?;
    s.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn value_kinds() {
        use ValueKind::*;
        let cases: &[(&str, ValueKind, bool, Option<u32>)] = &[
            ("INTEGER", Integer, false, None),
            ("int", Integer, false, None),
            ("BIGINT", Integer, false, None),
            ("smallint", Integer, false, None),
            ("INT(11) UNSIGNED", Integer, false, None),
            ("UNSIGNED BIG INT", Integer, false, None),
            ("TINYINT", Integer, false, None),
            ("TINYINT(4)", Integer, false, None),
            ("TINYINT(1)", Boolean, false, None),
            ("tinyint(1) unsigned", Boolean, false, None),
            ("BOOLEAN", Boolean, false, None),
            ("bool", Boolean, false, None),
            ("NUMERIC(4,2)", Decimal, false, None),
            ("numeric", Decimal, false, None),
            ("DECIMAL(10, 2) UNSIGNED", Decimal, false, None),
            ("REAL", Float, false, None),
            ("FLOAT", Float, false, None),
            ("DOUBLE PRECISION", Float, false, None),
            ("double", Float, false, None),
            ("DATE", Date, false, None),
            ("DATETIME", Timestamp, false, None),
            ("datetime(6)", Timestamp, false, None),
            ("TIMESTAMP", Timestamp, false, None),
            ("timestamp without time zone", Timestamp, false, None),
            ("TIMESTAMPTZ", TimestampTz, false, None),
            ("timestamp with time zone", TimestampTz, false, None),
            ("TIMESTAMP(3) WITH TIME ZONE", TimestampTz, false, None),
            ("TIME", Time, false, None),
            ("time without time zone", Time, false, None),
            ("UUID", Uuid, false, None),
            ("JSON", Json, false, None),
            ("jsonb", Json, false, None),
            ("BLOB", Bytes, false, None),
            ("LONGBLOB", Bytes, false, None),
            ("BYTEA", Bytes, false, None),
            ("BINARY(16)", Bytes, false, None),
            ("VARBINARY(255)", Bytes, false, None),
            ("TEXT", Text, false, None),
            ("MEDIUMTEXT", Text, false, None),
            ("CLOB", Text, false, None),
            ("STRING", Text, false, None),
            ("VARCHAR(40)", Text, false, Some(40)),
            ("varchar( 40 )", Text, false, Some(40)),
            ("CHAR(2)", Text, false, Some(2)),
            ("character varying(255)", Text, false, Some(255)),
            ("NVARCHAR(MAX)", Text, false, None),
            ("VARCHAR", Text, false, None),
            ("ENUM('a','b')", Text, false, None),
            ("", Text, true, None),
            ("  ", Text, true, None),
            ("GEOMETRY", Text, true, None),
            ("INTERVAL", Text, true, None),
            ("POINT", Text, true, None),
            ("INT4RANGE", Text, true, None),
            ("INTEGER[]", Text, true, None),
            ("MONEY", Text, true, None),
        ];
        for (declared, kind, unknown, max) in cases {
            assert_eq!(
                value_kind(declared),
                (*kind, *unknown, *max),
                "declared type {declared:?}"
            );
        }
    }

    #[test]
    fn enum_values_parse() {
        assert_eq!(
            enum_values("enum('small','medium','it''s','a\\'b', 'x,y')"),
            Some(strings(&["small", "medium", "it's", "a'b", "x,y"]))
        );
        assert_eq!(
            enum_values("ENUM('A(1)','B')"),
            Some(strings(&["A(1)", "B"]))
        );
        assert_eq!(enum_values("VARCHAR(3)"), None);
        assert_eq!(enum_values("ENUM('broken"), None);
    }
}
