//! MySQL/MariaDB introspection: one table's or view's columns, keys and constraints of the
//! current database (`DATABASE()`), read from `information_schema` into the
//! backend-neutral [`Table`]. Declared types go through the shared [`value_kind`] mapping.
//! Knows nothing about services.toml, HTTP, JSON Schema or how queries are built.

use sqlx::{MySqlConnection, Row};

use super::types::{enum_values, value_kind};
use super::{Column, ForeignKey, Table};

/// A unique index (the primary key included) by the name the server reports in
/// duplicate-key errors, for naming the constraint and its columns in API errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueKey {
    pub name: String,
    pub columns: Vec<String>,
    pub primary: bool,
}

/// Text of a column of an `information_schema` row (some servers send these as binary
/// strings, so the bytes are taken as they come).
fn text(row: &sqlx::mysql::MySqlRow, i: usize) -> Option<String> {
    row.try_get_unchecked::<Option<Vec<u8>>, _>(i)
        .ok()
        .flatten()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn int(row: &sqlx::mysql::MySqlRow, i: usize) -> i64 {
    row.try_get_unchecked::<Option<i64>, _>(i)
        .ok()
        .flatten()
        .unwrap_or(0)
}

async fn strings(
    conn: &mut MySqlConnection,
    sql: &'static str,
    args: &[&str],
) -> Result<Vec<Vec<Option<String>>>, sqlx::Error> {
    let mut q = sqlx::query(sql);
    for a in args {
        q = q.bind(*a);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    Ok(rows
        .iter()
        .map(|r| (0..r.len()).map(|i| text(r, i)).collect())
        .collect())
}

/// Whether the server is MariaDB (it reports defaults and JSON columns differently).
async fn is_mariadb(conn: &mut MySqlConnection) -> Result<bool, sqlx::Error> {
    let rows = strings(conn, "SELECT VERSION()", &[]).await?;
    Ok(rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .is_some_and(|v| v.to_ascii_lowercase().contains("mariadb")))
}

/// Tables and views of the current database, sorted by name.
pub async fn list_tables(conn: &mut MySqlConnection) -> Result<Vec<String>, sqlx::Error> {
    let rows = strings(
        conn,
        "SELECT TABLE_NAME FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
        &[],
    )
    .await?;
    let mut names: Vec<String> = rows
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
    names.sort();
    Ok(names)
}

/// Introspects one table or view of the current database (or of `db` when the name is
/// `db.table` and no table has the dotted name itself). `Ok(None)` when there is none.
pub async fn introspect_table(
    conn: &mut MySqlConnection,
    name: &str,
) -> Result<Option<Table>, sqlx::Error> {
    Ok(introspect_table_keys(conn, name).await?.map(|(t, _)| t))
}

/// [`introspect_table`], plus the table's unique indexes by name.
pub async fn introspect_table_keys(
    conn: &mut MySqlConnection,
    name: &str,
) -> Result<Option<(Table, Vec<UniqueKey>)>, sqlx::Error> {
    let Some((schema, real, is_view, qualified)) = find_object(conn, name).await? else {
        return Ok(None);
    };
    let mariadb = is_mariadb(conn).await?;
    let json_columns = if mariadb {
        mariadb_json_columns(conn, &schema, &real).await
    } else {
        Vec::new()
    };

    let rows = strings(
        conn,
        "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
         ORDER BY ORDINAL_POSITION",
        &[&schema, &real],
    )
    .await?;
    let columns: Vec<Column> = rows
        .into_iter()
        .filter_map(|r| {
            let mut it = r.into_iter();
            let name = it.next().flatten()?;
            let mut declared = it.next().flatten().unwrap_or_default();
            let nullable = it.next().flatten().as_deref() == Some("YES");
            let default = it.next().flatten();
            let extra = it.next().flatten().unwrap_or_default().to_ascii_lowercase();
            if json_columns.contains(&name) {
                // MariaDB's JSON is LONGTEXT with a json_valid() check.
                declared = "json".into();
            }
            Some(column(name, declared, nullable, default, &extra, mariadb))
        })
        .collect();

    let keys = if is_view {
        Vec::new()
    } else {
        unique_keys(conn, &schema, &real).await?
    };
    let primary_key = keys
        .iter()
        .find(|k| k.primary)
        .map(|k| k.columns.clone())
        .unwrap_or_default();
    let mut unique: Vec<Vec<String>> = Vec::new();
    for k in keys.iter().filter(|k| !k.primary) {
        if k.columns != primary_key && !unique.contains(&k.columns) {
            unique.push(k.columns.clone());
        }
    }
    let foreign_keys = if is_view {
        Vec::new()
    } else {
        foreign_keys(conn, &schema, &real).await?
    };

    let (table_schema, table_name) = if qualified {
        (Some(schema), real)
    } else {
        (None, real)
    };
    Ok(Some((
        Table {
            name: name.to_string(),
            schema: table_schema,
            bare_name: table_name,
            is_view,
            columns,
            primary_key,
            unique,
            foreign_keys,
        },
        keys,
    )))
}

/// One column from its `information_schema.COLUMNS` row.
fn column(
    name: String,
    declared: String,
    nullable: bool,
    default: Option<String>,
    extra: &str,
    mariadb: bool,
) -> Column {
    let (kind, unknown_type, max_length) = value_kind(&declared);
    let auto_increment = extra.contains("auto_increment");
    // MySQL marks expression defaults DEFAULT_GENERATED; generated columns say VIRTUAL or
    // STORED (PERSISTENT on old MariaDB).
    let generated = !extra.contains("default_generated")
        && ["virtual", "stored", "persistent"]
            .iter()
            .any(|w| extra.contains(w));
    let default_sql = if generated {
        None
    } else {
        default_expression(default, &declared, extra, mariadb)
    };
    Column {
        enum_values: enum_values(&declared),
        name,
        declared_type: declared,
        kind,
        unknown_type,
        nullable,
        has_default: default_sql.is_some() || auto_increment,
        default_sql,
        generated,
        auto_increment,
        max_length,
    }
}

/// The default as an SQL expression. MariaDB reports expressions already (`'text'`,
/// `0.99`, `current_timestamp()`) and the text `NULL` for "no default"; MySQL reports a
/// literal's bare value and marks expressions with DEFAULT_GENERATED.
fn default_expression(
    default: Option<String>,
    declared: &str,
    extra: &str,
    mariadb: bool,
) -> Option<String> {
    let d = default?;
    if mariadb {
        return if d.eq_ignore_ascii_case("NULL") {
            None
        } else {
            Some(d)
        };
    }
    let lower = d.to_ascii_lowercase();
    if extra.contains("default_generated") || lower.starts_with("current_timestamp") {
        return Some(d);
    }
    let (kind, _, _) = value_kind(declared);
    use super::ValueKind::*;
    match kind {
        Integer | Float | Decimal | Boolean => Some(d),
        _ => Some(format!("'{}'", d.replace('\\', "\\\\").replace('\'', "''"))),
    }
}

/// The schema, real name and kind of the object `name` names: an exact match first, else a
/// case-insensitive one, else `db.table`. The last flag says the name carried its schema.
async fn find_object(
    conn: &mut MySqlConnection,
    name: &str,
) -> Result<Option<(String, String, bool, bool)>, sqlx::Error> {
    const SQL: &str = "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? \
         ORDER BY BINARY TABLE_NAME = BINARY ? DESC LIMIT 1";
    let found = |rows: Vec<Vec<Option<String>>>| {
        rows.into_iter().next().and_then(|r| {
            let mut it = r.into_iter();
            let schema = it.next().flatten()?;
            let table = it.next().flatten()?;
            let is_view = it.next().flatten().is_some_and(|t| t.contains("VIEW"));
            Some((schema, table, is_view))
        })
    };
    let mut q = sqlx::query(SQL);
    q = q.bind(None::<String>).bind(name).bind(name);
    let rows = q.fetch_all(&mut *conn).await?;
    let rows: Vec<Vec<Option<String>>> = rows
        .iter()
        .map(|r| (0..r.len()).map(|i| text(r, i)).collect())
        .collect();
    if let Some((s, t, v)) = found(rows) {
        return Ok(Some((s, t, v, false)));
    }
    if let Some((db, table)) = name.split_once('.') {
        let rows = sqlx::query(SQL)
            .bind(db)
            .bind(table)
            .bind(table)
            .fetch_all(&mut *conn)
            .await?;
        let rows: Vec<Vec<Option<String>>> = rows
            .iter()
            .map(|r| (0..r.len()).map(|i| text(r, i)).collect())
            .collect();
        if let Some((s, t, v)) = found(rows) {
            return Ok(Some((s, t, v, true)));
        }
    }
    Ok(None)
}

/// Columns of a MariaDB table declared JSON: LONGTEXT with the `json_valid(col)` check the
/// server adds. Best effort: an older server without CHECK_CONSTRAINTS has none.
async fn mariadb_json_columns(
    conn: &mut MySqlConnection,
    schema: &str,
    table: &str,
) -> Vec<String> {
    let rows = strings(
        conn,
        "SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
         WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?",
        &[schema, table],
    )
    .await
    .unwrap_or_default();
    rows.into_iter()
        .filter_map(|r| {
            let mut it = r.into_iter();
            let _name = it.next().flatten();
            let clause = it.next().flatten()?;
            json_valid_column(&clause)
        })
        .collect()
}

/// `json_valid(`col`)` -> `col`.
fn json_valid_column(clause: &str) -> Option<String> {
    let c = clause.trim();
    let inner = c
        .get(..11)
        .filter(|p| p.eq_ignore_ascii_case("json_valid("))
        .and_then(|_| c[11..].strip_suffix(')'))?
        .trim();
    let quoted = inner.strip_prefix('`')?.strip_suffix('`')?;
    Some(quoted.replace("``", "`"))
}

/// Unique indexes in name order, the primary key first. Prefix and expression indexes are
/// left out: they do not make the column itself unique.
async fn unique_keys(
    conn: &mut MySqlConnection,
    schema: &str,
    table: &str,
) -> Result<Vec<UniqueKey>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT INDEX_NAME, COLUMN_NAME, (SUB_PART IS NULL AND COLUMN_NAME IS NOT NULL) \
         FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 \
         ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    let mut keys: Vec<(UniqueKey, bool)> = Vec::new();
    for row in &rows {
        let Some(index) = text(row, 0) else { continue };
        let column = text(row, 1);
        let usable = int(row, 2) != 0;
        match keys.last_mut() {
            Some((k, ok)) if k.name == index => {
                *ok &= usable;
                k.columns.extend(column);
            }
            _ => keys.push((
                UniqueKey {
                    primary: index == "PRIMARY",
                    name: index,
                    columns: column.into_iter().collect(),
                },
                usable,
            )),
        }
    }
    Ok(keys
        .into_iter()
        .filter(|(k, ok)| *ok && !k.columns.is_empty())
        .map(|(k, _)| k)
        .collect())
}

/// Foreign keys by constraint name, with the server's constraint names.
async fn foreign_keys(
    conn: &mut MySqlConnection,
    schema: &str,
    table: &str,
) -> Result<Vec<ForeignKey>, sqlx::Error> {
    let rows = strings(
        conn,
        "SELECT CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, \
         REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
         WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND REFERENCED_TABLE_NAME IS NOT NULL \
         ORDER BY CONSTRAINT_NAME, ORDINAL_POSITION",
        &[schema, table],
    )
    .await?;
    let mut out: Vec<ForeignKey> = Vec::new();
    for r in rows {
        let mut it = r.into_iter();
        let (Some(name), Some(col), ref_schema, Some(ref_table), Some(ref_col)) = (
            it.next().flatten(),
            it.next().flatten(),
            it.next().flatten(),
            it.next().flatten(),
            it.next().flatten(),
        ) else {
            continue;
        };
        let referenced_table = match ref_schema {
            Some(s) if s != schema => format!("{s}.{ref_table}"),
            _ => ref_table,
        };
        match out.last_mut() {
            Some(fk) if fk.name == name => {
                fk.columns.push(col);
                fk.referenced_columns.push(ref_col);
            }
            _ => out.push(ForeignKey {
                name,
                columns: vec![col],
                referenced_table,
                referenced_columns: vec![ref_col],
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ValueKind;

    #[test]
    fn json_check_clause() {
        assert_eq!(json_valid_column("json_valid(`doc`)"), Some("doc".into()));
        assert_eq!(json_valid_column("JSON_VALID(`a``b`)"), Some("a`b".into()));
        assert_eq!(json_valid_column("`n` > 0"), None);
        assert_eq!(json_valid_column("json_valid(`a`) and `b` > 1"), None);
    }

    #[test]
    fn mariadb_columns() {
        let c = column(
            "id".into(),
            "int(11)".into(),
            false,
            None,
            "auto_increment",
            true,
        );
        assert!(c.auto_increment && c.has_default && !c.generated);
        assert_eq!(c.kind, ValueKind::Integer);
        let c = column(
            "n".into(),
            "int(11)".into(),
            true,
            Some("NULL".into()),
            "",
            true,
        );
        assert!(!c.has_default && c.default_sql.is_none());
        let c = column(
            "s".into(),
            "varchar(10)".into(),
            true,
            Some("'x''y'".into()),
            "",
            true,
        );
        assert_eq!(c.default_sql.as_deref(), Some("'x''y'"));
        assert_eq!(c.max_length, Some(10));
        let c = column(
            "g".into(),
            "int(11)".into(),
            true,
            Some("NULL".into()),
            "virtual generated",
            true,
        );
        assert!(c.generated && !c.has_default);
        let c = column(
            "flag".into(),
            "tinyint(1)".into(),
            false,
            Some("0".into()),
            "",
            true,
        );
        assert_eq!(c.kind, ValueKind::Boolean);
        assert!(c.has_default);
        let c = column(
            "size".into(),
            "enum('s','m')".into(),
            true,
            Some("'s'".into()),
            "",
            true,
        );
        assert_eq!(c.enum_values, Some(vec!["s".to_string(), "m".to_string()]));
    }

    #[test]
    fn mysql_defaults_are_quoted() {
        assert_eq!(
            default_expression(Some("it's".into()), "varchar(5)", "", false),
            Some("'it''s'".into())
        );
        assert_eq!(
            default_expression(Some("0.99".into()), "decimal(4,2)", "", false),
            Some("0.99".into())
        );
        assert_eq!(
            default_expression(
                Some("CURRENT_TIMESTAMP".into()),
                "timestamp",
                "default_generated",
                false
            ),
            Some("CURRENT_TIMESTAMP".into())
        );
        assert_eq!(default_expression(None, "int", "", false), None);
        let c = column(
            "x".into(),
            "int".into(),
            false,
            Some("(rand())".into()),
            "default_generated",
            false,
        );
        assert!(!c.generated && c.has_default);
    }
}
