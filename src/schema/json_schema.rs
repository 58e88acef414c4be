//! Derives a service's row JSON Schema (draft 2020-12) from its exposed columns: one
//! property per column, `required` for what an insert must provide. It knows only the
//! schema-cache types — nothing about databases, HTTP or how the schema is validated.

use serde_json::{json, Map, Value};

use super::{Relationship, ServiceColumn, ValueKind};

/// The JSON Schema dialect every schema produced here declares.
pub const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// The JSON Schema of one row of a service (as read, and as a full insert body).
///
/// Each column becomes a property with `type` (plus `"null"` when nullable; none for JSON
/// columns, which take any value), `format`, `contentEncoding`, `maxLength`, `enum`,
/// `readOnly` and a `description` naming the declared SQL type and primary-key membership.
/// `required` lists the columns an insert must provide: NOT NULL, no default, not
/// generated, not read-only. Unknown properties are rejected (`additionalProperties`).
pub fn row_schema(service_name: &str, columns: &[ServiceColumn], primary_key: &[String]) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for col in columns {
        let in_key = primary_key.iter().any(|k| k == &col.name);
        properties.insert(col.name.clone(), column_schema(col, in_key));
        let read_only = col.read_only || col.generated;
        if !col.nullable && !col.has_default && !read_only {
            required.push(Value::String(col.name.clone()));
        }
    }
    json!({
        "$schema": DIALECT,
        "title": service_name,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// The document `GET /_schema/{service}` answers: the row schema plus two extensions a
/// client needs to lay out, address and link rows (annotations: validators ignore them):
///
/// - `x-column-order`: the column names in table order (`properties` is an object, whose
///   key order JSON does not keep);
/// - `x-primary-key`: the key columns in key order (the segments of `/{service}/{key}`),
///   `[]` without a key;
/// - `x-foreign-keys`: one entry per foreign key whose columns are visible on both sides,
///   `{"columns": [...], "references": {"service": "...", "columns": [...]}}`, in the
///   order the relationships were found. Constraint names are left out (they may name
///   hidden columns).
pub fn document(
    row: &Value,
    columns: &[ServiceColumn],
    primary_key: &[String],
    relationships: &[Relationship],
) -> Value {
    let mut doc = row.clone();
    let foreign_keys: Vec<Value> = relationships
        .iter()
        .filter_map(|r| match r {
            Relationship::ManyToOne {
                target, columns, ..
            } => Some(json!({
                "columns": columns.iter().map(|(c, _)| c).collect::<Vec<_>>(),
                "references": {
                    "service": target,
                    "columns": columns.iter().map(|(_, t)| t).collect::<Vec<_>>(),
                },
            })),
            _ => None,
        })
        .collect();
    if let Value::Object(map) = &mut doc {
        let order: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        map.insert("x-column-order".into(), json!(order));
        map.insert("x-primary-key".into(), json!(primary_key));
        map.insert("x-foreign-keys".into(), Value::Array(foreign_keys));
    }
    doc
}

/// The schema of a PATCH body: the row schema with nothing required.
pub fn patch_schema(row: &Value) -> Value {
    let mut patch = row.clone();
    if let Value::Object(map) = &mut patch {
        map.remove("required");
    }
    patch
}

fn column_schema(col: &ServiceColumn, in_key: bool) -> Value {
    let mut p = Map::new();
    if let Some(ty) = col.kind.json_type() {
        let ty = if col.nullable {
            json!([ty, "null"])
        } else {
            json!(ty)
        };
        p.insert("type".into(), ty);
    }
    if let Some(element) = col.array_element() {
        // Elements may be NULL, and arrays of more dimensions nest.
        let mut items = Map::new();
        if let Some(ty) = element.json_type() {
            items.insert("type".into(), json!([ty, "array", "null"]));
        }
        if let Some(format) = element.json_format() {
            items.insert("format".into(), json!(format));
        }
        p.insert("items".into(), Value::Object(items));
    }
    let format = col.kind.json_format();
    if let Some(format) = format {
        p.insert("format".into(), json!(format));
    }
    if col.kind == ValueKind::Bytes {
        p.insert("contentEncoding".into(), json!("base64"));
    }
    if let Some(max) = col.max_length {
        p.insert("maxLength".into(), json!(max));
    }
    if let Some(values) = &col.enum_values {
        let mut values: Vec<Value> = values.iter().map(|v| json!(v)).collect();
        if col.nullable {
            values.push(Value::Null);
        }
        p.insert("enum".into(), Value::Array(values));
    }
    if col.read_only || col.generated {
        p.insert("readOnly".into(), json!(true));
    }
    let mut description: Vec<&str> = Vec::new();
    if !col.declared_type.trim().is_empty() {
        description.push(col.declared_type.trim());
    }
    if in_key {
        description.push("primary key");
    }
    if !description.is_empty() {
        p.insert("description".into(), json!(description.join(", ")));
    }
    Value::Object(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::sqlite::introspect_table;
    use crate::schema::{Column, Table};
    use rusqlite::Connection;

    const MUSIC: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.sql"));

    fn music_table(name: &str) -> Table {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MUSIC).unwrap();
        introspect_table(&conn, name).unwrap().unwrap()
    }

    fn service_columns(table: &Table, read_only: &[&str]) -> Vec<ServiceColumn> {
        table
            .columns
            .iter()
            .map(|c| ServiceColumn {
                column: c.clone(),
                read_only: read_only.contains(&c.name.as_str()) || c.generated,
                key_position: table.primary_key.iter().position(|k| k == &c.name),
            })
            .collect()
    }

    fn column(name: &str, declared: &str, nullable: bool) -> ServiceColumn {
        let (kind, unknown_type, max_length) = crate::schema::types::value_kind(declared);
        ServiceColumn {
            column: Column {
                unknown_type,
                nullable,
                max_length,
                enum_values: crate::schema::types::enum_values(declared),
                ..Column::plain(name, declared, kind)
            },
            read_only: false,
            key_position: None,
        }
    }

    #[test]
    fn tracks_row_schema() {
        let t = music_table("tracks");
        let s = row_schema(
            "tracks",
            &service_columns(&t, &["created_at"]),
            &t.primary_key,
        );
        assert_eq!(s["$schema"], DIALECT);
        assert_eq!(s["title"], "tracks");
        assert_eq!(s["type"], "object");
        assert_eq!(s["additionalProperties"], false);
        let p = &s["properties"];
        assert_eq!(
            p["id"],
            json!({"type": "integer", "description": "INTEGER, primary key"})
        );
        assert_eq!(p["name"], json!({"type": "string", "description": "TEXT"}));
        assert_eq!(
            p["milliseconds"],
            json!({"type": ["integer", "null"], "description": "INTEGER"})
        );
        assert_eq!(
            p["unit_price"],
            json!({"type": "number", "description": "NUMERIC(4,2)"})
        );
        assert_eq!(p["genre"]["type"], json!(["string", "null"]));
        assert_eq!(p["explicit"]["type"], "boolean");
        assert_eq!(
            p["created_at"],
            json!({
                "type": "string",
                "format": "date-time",
                "readOnly": true,
                "description": "TIMESTAMP"
            })
        );
        assert_eq!(s["required"], json!(["name", "album_id"]));
        assert_eq!(p.as_object().unwrap().len(), 8);
    }

    #[test]
    fn composite_key_descriptions_and_required() {
        let t = music_table("playlist_tracks");
        let s = row_schema("playlist_items", &service_columns(&t, &[]), &t.primary_key);
        assert_eq!(s["title"], "playlist_items");
        assert_eq!(
            s["properties"]["track_id"]["description"],
            "INTEGER, primary key"
        );
        assert_eq!(s["required"], json!(["playlist_id", "track_id"]));
    }

    #[test]
    fn kinds_formats_and_constraints() {
        let mut generated = column("total", "INTEGER", false);
        generated.column.generated = true;
        let cols = vec![
            column("born", "DATE", true),
            column("alarm", "TIME", false),
            column("seen", "TIMESTAMPTZ", false),
            column("uid", "UUID", false),
            column("doc", "JSONB", true),
            column("pic", "BLOB", true),
            column("code", "VARCHAR(40)", false),
            column("size", "ENUM('S','M','L')", true),
            column("ratio", "REAL", false),
            column("mystery", "", true),
            generated,
        ];
        let s = row_schema("things", &cols, &[]);
        let p = &s["properties"];
        assert_eq!(
            p["born"],
            json!({"type": ["string", "null"], "format": "date", "description": "DATE"})
        );
        assert_eq!(p["alarm"]["format"], "time");
        assert_eq!(p["seen"]["format"], "date-time");
        assert_eq!(p["uid"]["format"], "uuid");
        assert_eq!(p["doc"], json!({"description": "JSONB"}));
        assert_eq!(
            p["pic"],
            json!({
                "type": ["string", "null"],
                "contentEncoding": "base64",
                "description": "BLOB"
            })
        );
        assert_eq!(p["code"]["maxLength"], 40);
        assert_eq!(p["code"]["type"], "string");
        assert_eq!(p["size"]["enum"], json!(["S", "M", "L", null]));
        assert_eq!(p["ratio"]["type"], "number");
        assert_eq!(p["mystery"], json!({"type": ["string", "null"]}));
        assert_eq!(p["total"]["readOnly"], true);
        assert_eq!(
            s["required"],
            json!(["alarm", "seen", "uid", "code", "ratio"])
        );
    }

    #[test]
    fn patch_schema_drops_required_only() {
        let t = music_table("albums");
        let row = row_schema("albums", &service_columns(&t, &[]), &t.primary_key);
        assert_eq!(row["required"], json!(["title", "artist_id"]));
        let patch = patch_schema(&row);
        assert!(patch.get("required").is_none());
        let mut back = patch.clone();
        back["required"] = row["required"].clone();
        assert_eq!(back, row);
    }
}
