//! PostgreSQL introspection: reads tables and views (columns, types, nullability,
//! defaults, identity and generated columns, keys, unique constraints, foreign keys) from
//! `pg_catalog` into the backend-neutral [`Table`]. A whole services.toml costs a fixed
//! handful of catalog queries, however many tables it names. Names are `table` (schema
//! `public`) or `schema.table`, parts optionally double-quoted. Knows nothing about
//! services.toml, HTTP, JSON Schema or how queries are built.

use std::collections::HashMap;

use sqlx::postgres::types::Oid;
use sqlx::{PgConnection, Row};

use super::types::value_kind;
use super::{Column, ForeignKey, Table, ValueKind};

/// The schema a name without one lives in.
pub const DEFAULT_SCHEMA: &str = "public";

/// One part of a name from services.toml: quoted parts match exactly, bare ones ignoring
/// case (an exact match still wins).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Part {
    text: String,
    quoted: bool,
}

impl Part {
    fn bare(s: &str) -> Part {
        Part {
            text: s.to_string(),
            quoted: false,
        }
    }

    /// 2 for an exact match, 1 for a case-insensitive one, 0 for none.
    fn score(&self, actual: &str) -> u8 {
        if self.text == actual {
            2
        } else if !self.quoted && self.text.to_lowercase() == actual.to_lowercase() {
            1
        } else {
            0
        }
    }
}

/// `a`, `s.a`, `"S"."My.Table"` -> the (schema, table) readings of a name, most likely
/// first. A bare name with a dot may also be a table whose name has a dot in it.
fn readings(name: &str) -> Vec<(Option<Part>, Part)> {
    let mut out = Vec::new();
    if let Some(parts) = split_identifiers(name) {
        match parts.as_slice() {
            [t] => out.push((None, t.clone())),
            [s, t] => out.push((Some(s.clone()), t.clone())),
            _ => {}
        }
    }
    if !name.contains('"') && name.contains('.') {
        out.push((None, Part::bare(name)));
    }
    out
}

/// Split `a.b` / `"a"."b"` into identifiers; `None` when the quoting is broken.
fn split_identifiers(name: &str) -> Option<Vec<Part>> {
    let mut parts = Vec::new();
    let mut chars = name.chars().peekable();
    loop {
        let mut text = String::new();
        let quoted = chars.peek() == Some(&'"');
        if quoted {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        text.push('"');
                    }
                    '"' => break,
                    c => text.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' || c == '"' {
                    break;
                }
                text.push(c);
                chars.next();
            }
            text = text.trim().to_string();
        }
        if text.is_empty() {
            return None;
        }
        parts.push(Part { text, quoted });
        match chars.next() {
            None => return Some(parts),
            Some('.') => {}
            Some(_) => return None,
        }
    }
}

/// A relation of a user schema.
#[derive(Debug, Clone)]
struct Relation {
    oid: Oid,
    schema: String,
    name: String,
    /// `r` table, `p` partitioned table, `v` view, `m` materialized view, `f` foreign table.
    kind: String,
    is_partition: bool,
}

const USER_SCHEMAS: &str = "n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'";

async fn relations(conn: &mut PgConnection) -> Result<Vec<Relation>, sqlx::Error> {
    let sql = format!(
        "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text, c.relispartition \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {USER_SCHEMAS} \
         ORDER BY n.nspname <> '{DEFAULT_SCHEMA}', n.nspname, c.relname"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Relation {
                oid: r.try_get(0)?,
                schema: r.try_get(1)?,
                name: r.try_get(2)?,
                kind: r.try_get(3)?,
                is_partition: r.try_get(4)?,
            })
        })
        .collect()
}

/// The relation `name` names, if any.
fn resolve<'a>(rels: &'a [Relation], name: &str) -> Option<&'a Relation> {
    for (schema, table) in readings(name) {
        let schema = schema.unwrap_or_else(|| Part::bare(DEFAULT_SCHEMA));
        let best = rels
            .iter()
            .map(|r| {
                let s = schema.score(&r.schema);
                let t = table.score(&r.name);
                (if s == 0 || t == 0 { 0 } else { s + t }, r)
            })
            .filter(|(score, _)| *score > 0)
            .max_by_key(|(score, _)| *score);
        if let Some((_, r)) = best {
            return Some(r);
        }
    }
    None
}

/// How services.toml can name a relation: bare in `public`, else `schema.table`, with
/// double quotes around a part that would not read back as itself.
fn display_name(schema: &str, name: &str) -> String {
    let part = |s: &str| {
        if s.contains('.') || s.contains('"') || s.trim() != s || s.is_empty() {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    if schema == DEFAULT_SCHEMA {
        part(name)
    } else {
        format!("{}.{}", part(schema), part(name))
    }
}

/// Tables and views of every user schema (partitions left out: their parent stands for
/// them), those of `public` first, as `table` or `schema.table`.
pub async fn list_tables(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    Ok(relations(conn)
        .await?
        .iter()
        .filter(|r| !r.is_partition)
        .map(|r| display_name(&r.schema, &r.name))
        .collect())
}

/// One table or view; `None` when `name` names neither.
pub async fn introspect_table(
    conn: &mut PgConnection,
    name: &str,
) -> Result<Option<Table>, sqlx::Error> {
    Ok(introspect_tables(conn, &[name.to_string()])
        .await?
        .pop()
        .flatten())
}

/// Every named table or view (`None` for a name that does not exist), in four catalog
/// queries whatever their number.
pub async fn introspect_tables(
    conn: &mut PgConnection,
    names: &[String],
) -> Result<Vec<Option<Table>>, sqlx::Error> {
    let rels = relations(conn).await?;
    let found: Vec<Option<&Relation>> = names.iter().map(|n| resolve(&rels, n)).collect();
    let mut oids: Vec<Oid> = found.iter().flatten().map(|r| r.oid).collect();
    oids.sort_by_key(|o| o.0);
    oids.dedup();
    if oids.is_empty() {
        return Ok(names.iter().map(|_| None).collect());
    }
    let columns = columns(conn, &oids).await?;
    let keys = keys(conn, &oids).await?;
    let fks = foreign_keys(conn, &oids).await?;
    Ok(names
        .iter()
        .zip(found)
        .map(|(name, rel)| {
            let rel = rel?;
            let (primary_key, unique) = keys.get(&rel.oid.0).cloned().unwrap_or_default();
            let columns = columns
                .get(&rel.oid.0)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut c| {
                    if primary_key.contains(&c.name) {
                        c.nullable = false;
                    }
                    c
                })
                .collect();
            Some(Table {
                name: name.clone(),
                schema: Some(rel.schema.clone()),
                bare_name: rel.name.clone(),
                is_view: matches!(rel.kind.as_str(), "v" | "m"),
                columns,
                primary_key,
                unique,
                foreign_keys: fks.get(&rel.oid.0).cloned().unwrap_or_default(),
            })
        })
        .collect())
}

/// What the catalog says about one column's type, domains resolved to their base type.
#[derive(Debug, Clone, Default)]
pub struct TypeFacts {
    /// `format_type` of the column's own type, modifiers included (`numeric(4,2)`).
    pub declared: String,
    /// `format_type` of the effective type (the base type of a domain).
    pub effective: String,
    /// `pg_type.typtype` of the effective type: `b` base, `e` enum, `r` range, `c` composite...
    pub typtype: String,
    /// `pg_type.typcategory` of the effective type (`A` for arrays).
    pub category: String,
    /// The effective type lives in `pg_catalog`.
    pub builtin: bool,
    pub typname: String,
}

/// How restable represents a column of this type: `(kind, unknown, max_length)`.
pub fn kind_of(t: &TypeFacts) -> (ValueKind, bool, Option<u32>) {
    if t.typtype == "e" {
        return (ValueKind::Text, false, None);
    }
    if t.category == "A" && t.effective.ends_with("[]") {
        return (ValueKind::Array, false, None);
    }
    if t.typtype == "r" || t.typtype == "m" {
        return (ValueKind::Range, false, None);
    }
    if t.builtin && t.typtype == "b" && t.category != "A" {
        return value_kind(&t.effective);
    }
    if t.typname == "citext" {
        return (ValueKind::Text, false, None);
    }
    // Composites, extension types: served as text.
    (ValueKind::Text, true, None)
}

async fn columns(
    conn: &mut PgConnection,
    oids: &[Oid],
) -> Result<HashMap<u32, Vec<Column>>, sqlx::Error> {
    let sql = "SELECT a.attrelid, a.attname::text, format_type(a.atttypid, a.atttypmod), \
         a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, \
         a.attgenerated::text, t.typdefault IS NOT NULL, \
         format_type(e.oid, CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END), \
         e.typtype::text, e.typcategory::text, \
         e.typnamespace = 'pg_catalog'::regnamespace, e.typname::text, \
         CASE WHEN e.typtype = 'e' THEN ARRAY(SELECT l.enumlabel::text FROM pg_catalog.pg_enum l \
           WHERE l.enumtypid = e.oid ORDER BY l.enumsortorder) END \
         FROM pg_catalog.pg_attribute a \
         JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
         JOIN pg_catalog.pg_type e ON e.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END \
         LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attrelid, a.attnum";
    let rows = sqlx::query(sql).bind(oids).fetch_all(conn).await?;
    let mut out: HashMap<u32, Vec<Column>> = HashMap::new();
    for r in &rows {
        let rel: Oid = r.try_get(0)?;
        let name: String = r.try_get(1)?;
        let declared: String = r.try_get(2)?;
        let not_null: bool = r.try_get(3)?;
        let default: Option<String> = r.try_get(4)?;
        let identity: String = r.try_get(5)?;
        let generated_kind: String = r.try_get(6)?;
        let domain_default: bool = r.try_get(7)?;
        let facts = TypeFacts {
            declared: declared.clone(),
            effective: r.try_get(8)?,
            typtype: r.try_get(9)?,
            category: r.try_get(10)?,
            builtin: r.try_get(11)?,
            typname: r.try_get(12)?,
        };
        let enum_values: Option<Vec<String>> = r.try_get(13)?;
        let (kind, unknown_type, max_length) = kind_of(&facts);
        // GENERATED ALWAYS (a computed column, or an identity that refuses values).
        let generated = !generated_kind.is_empty() || identity == "a";
        let default_sql = if generated_kind.is_empty() {
            default
        } else {
            None
        };
        let auto_increment = !identity.is_empty()
            || default_sql
                .as_deref()
                .is_some_and(|d| d.starts_with("nextval("));
        out.entry(rel.0).or_default().push(Column {
            name,
            declared_type: declared,
            kind,
            unknown_type,
            nullable: !not_null,
            has_default: default_sql.is_some()
                || !identity.is_empty()
                || (domain_default && generated_kind.is_empty()),
            default_sql,
            generated,
            auto_increment,
            max_length,
            enum_values,
        });
    }
    Ok(out)
}

/// Primary key and unique column lists per table (from unique indexes: constraints and
/// CREATE UNIQUE INDEX alike; partial, expression and deferrable ones left out).
async fn keys(
    conn: &mut PgConnection,
    oids: &[Oid],
) -> Result<HashMap<u32, (Vec<String>, Vec<Vec<String>>)>, sqlx::Error> {
    let sql = "SELECT i.indrelid, i.indisprimary, \
         ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(num, ord) \
           JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num \
           WHERE k.ord <= i.indnkeyatts ORDER BY k.ord) \
         FROM pg_catalog.pg_index i \
         WHERE i.indrelid = ANY($1) AND i.indisunique AND i.indimmediate \
           AND i.indpred IS NULL AND i.indexprs IS NULL \
         ORDER BY i.indrelid, i.indisprimary DESC, i.indexrelid";
    let rows = sqlx::query(sql).bind(oids).fetch_all(conn).await?;
    let mut out: HashMap<u32, (Vec<String>, Vec<Vec<String>>)> = HashMap::new();
    for r in &rows {
        let rel: Oid = r.try_get(0)?;
        let primary: bool = r.try_get(1)?;
        let cols: Vec<String> = r.try_get(2)?;
        let entry = out.entry(rel.0).or_default();
        if primary {
            entry.0 = cols;
        } else if !cols.is_empty() && cols != entry.0 && !entry.1.contains(&cols) {
            entry.1.push(cols);
        }
    }
    Ok(out)
}

/// Foreign keys per table, in creation order. The referenced table is named bare when it
/// is in `public`, else `schema.table`.
async fn foreign_keys(
    conn: &mut PgConnection,
    oids: &[Oid],
) -> Result<HashMap<u32, Vec<ForeignKey>>, sqlx::Error> {
    let sql = "SELECT c.conrelid, c.conname::text, \
         ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(num, ord) \
           JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num \
           ORDER BY k.ord), \
         rn.nspname::text, r.relname::text, \
         ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(num, ord) \
           JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num \
           ORDER BY k.ord) \
         FROM pg_catalog.pg_constraint c \
         JOIN pg_catalog.pg_class r ON r.oid = c.confrelid \
         JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace \
         WHERE c.contype = 'f' AND c.conparentid = 0 AND c.conrelid = ANY($1) \
         ORDER BY c.conrelid, c.oid";
    let rows = sqlx::query(sql).bind(oids).fetch_all(conn).await?;
    let mut out: HashMap<u32, Vec<ForeignKey>> = HashMap::new();
    for r in &rows {
        let rel: Oid = r.try_get(0)?;
        let schema: String = r.try_get(3)?;
        let table: String = r.try_get(4)?;
        out.entry(rel.0).or_default().push(ForeignKey {
            name: r.try_get(1)?,
            columns: r.try_get(2)?,
            referenced_table: if schema == DEFAULT_SCHEMA {
                table
            } else {
                format!("{schema}.{table}")
            },
            referenced_columns: r.try_get(5)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(schema: &str, name: &str) -> Relation {
        Relation {
            oid: Oid(0),
            schema: schema.into(),
            name: name.into(),
            kind: "r".into(),
            is_partition: false,
        }
    }

    #[test]
    fn names_resolve_with_schema_and_case() {
        let rels = vec![
            rel("public", "tracks"),
            rel("public", "Tracks"),
            rel("music", "albums"),
            rel("public", "a.b"),
            rel("Odd", "x"),
        ];
        let find = |n: &str| resolve(&rels, n).map(|r| (r.schema.as_str(), r.name.as_str()));
        assert_eq!(find("tracks"), Some(("public", "tracks")));
        assert_eq!(find("Tracks"), Some(("public", "Tracks")));
        assert_eq!(find("TRACKS").map(|r| r.0), Some("public"));
        assert_eq!(find("\"TRACKS\""), None);
        assert_eq!(find("public.tracks"), Some(("public", "tracks")));
        assert_eq!(find("music.albums"), Some(("music", "albums")));
        assert_eq!(find("albums"), None, "only public without a schema");
        assert_eq!(find("a.b"), Some(("public", "a.b")));
        assert_eq!(find("\"a.b\""), Some(("public", "a.b")));
        assert_eq!(find("odd.x"), Some(("Odd", "x")));
        assert_eq!(find("\"odd\".x"), None);
        assert_eq!(find("tracks; DROP TABLE tracks"), None);
        assert_eq!(find("\"broken"), None);
    }

    #[test]
    fn display_names_read_back() {
        assert_eq!(display_name("public", "tracks"), "tracks");
        assert_eq!(display_name("music", "albums"), "music.albums");
        assert_eq!(display_name("public", "a.b"), "\"a.b\"");
        let rels = vec![rel("public", "a.b"), rel("s\"q", "t")];
        for r in &rels {
            let shown = display_name(&r.schema, &r.name);
            let back = resolve(&rels, &shown).map(|x| (x.schema.clone(), x.name.clone()));
            assert_eq!(back, Some((r.schema.clone(), r.name.clone())), "{shown}");
        }
    }

    #[test]
    fn kinds_from_catalog_facts() {
        let t = |effective: &str, typtype: &str, category: &str, builtin: bool| TypeFacts {
            declared: effective.into(),
            effective: effective.into(),
            typtype: typtype.into(),
            category: category.into(),
            builtin,
            typname: effective.into(),
        };
        use ValueKind::*;
        let k = |f: TypeFacts| kind_of(&f);
        assert_eq!(k(t("integer", "b", "N", true)), (Integer, false, None));
        assert_eq!(
            k(t("numeric(20,2)", "b", "N", true)),
            (Decimal, false, None)
        );
        assert_eq!(
            k(t("character varying(40)", "b", "S", true)),
            (Text, false, Some(40))
        );
        assert_eq!(
            k(t("timestamp with time zone", "b", "D", true)),
            (TimestampTz, false, None)
        );
        assert_eq!(
            k(t("timestamp(3) without time zone", "b", "D", true)),
            (Timestamp, false, None)
        );
        assert_eq!(
            k(t("time without time zone", "b", "D", true)),
            (Time, false, None)
        );
        assert_eq!(
            k(t("double precision", "b", "N", true)),
            (Float, false, None)
        );
        assert_eq!(k(t("jsonb", "b", "U", true)), (Json, false, None));
        assert_eq!(k(t("bytea", "b", "U", true)), (Bytes, false, None));
        assert_eq!(k(t("int2vector", "b", "A", true)), (Text, true, None));
        assert_eq!(k(t("integer[]", "b", "A", true)), (Array, false, None));
        assert_eq!(k(t("mood[]", "b", "A", false)), (Array, false, None));
        assert_eq!(k(t("int4range", "r", "R", true)), (Range, false, None));
        assert_eq!(k(t("tstzmultirange", "m", "R", true)), (Range, false, None));
        assert_eq!(k(t("interval", "b", "T", true)), (Text, true, None));
        assert_eq!(k(t("mood", "e", "E", false)), (Text, false, None));
        assert_eq!(k(t("bigint_pair", "c", "C", false)), (Text, true, None));
        assert_eq!(k(t("citext", "b", "S", false)), (Text, false, None));
    }
}
