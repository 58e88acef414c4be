//! SQLite introspection: reads one table's or view's columns, keys and constraints (through
//! the `pragma_*` table-valued functions) into the backend-neutral [`Table`]. It knows
//! nothing about services.toml, HTTP, JSON Schema or how queries are built.

use rusqlite::{Connection, OptionalExtension};

use super::types::{enum_values, value_kind};
use super::{Column, ForeignKey, Table};

/// User tables and views of the main database (SQLite's own `sqlite_*` tables and virtual
/// tables' shadow tables excluded), sorted by name.
pub fn list_tables(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    // `pragma_table_list` (SQLite 3.37+) tells shadow tables apart; older libraries fall
    // back to sqlite_master.
    let modern = collect_strings(
        conn,
        "SELECT name FROM pragma_table_list WHERE schema = 'main' \
         AND type IN ('table', 'view', 'virtual') AND name NOT LIKE 'sqlite!_%' ESCAPE '!'",
        [],
    );
    let mut names = match modern {
        Ok(names) => names,
        Err(_) => collect_strings(
            conn,
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') \
             AND name NOT LIKE 'sqlite!_%' ESCAPE '!'",
            [],
        )?,
    };
    names.sort();
    Ok(names)
}

/// Introspects one table or view of the main database. The name is matched
/// case-insensitively (as SQLite does); `bare_name` gets the real spelling, `name` the one
/// given. `Ok(None)` when there is no such table or view.
pub fn introspect_table(conn: &Connection, name: &str) -> rusqlite::Result<Option<Table>> {
    let Some((real, is_view)) = find_object(conn, name)? else {
        return Ok(None);
    };
    let raw = raw_columns(conn, &real)?;
    let indexes = if is_view {
        Vec::new()
    } else {
        index_list(conn, &real)?
    };

    let mut pk: Vec<(i64, String)> = raw
        .iter()
        .filter(|c| c.pk > 0)
        .map(|c| (c.pk, c.name.clone()))
        .collect();
    pk.sort();
    let primary_key: Vec<String> = pk.into_iter().map(|(_, n)| n).collect();

    // `INTEGER PRIMARY KEY` on a rowid table is an alias of the rowid, unless SQLite had to
    // build an index for the key (WITHOUT ROWID tables, the `INTEGER PRIMARY KEY DESC` quirk).
    let has_pk_index = indexes.iter().any(|i| i.origin == "pk");
    let rowid_alias = match primary_key.as_slice() {
        [only] if !is_view && !has_pk_index => raw
            .iter()
            .find(|c| &c.name == only)
            .filter(|c| c.declared.eq_ignore_ascii_case("INTEGER"))
            .map(|c| c.name.clone()),
        _ => None,
    };

    let columns: Vec<Column> = raw
        .iter()
        .filter(|c| c.hidden != 1) // hidden columns of virtual tables
        .map(|c| {
            let (kind, unknown_type, max_length) = value_kind(&c.declared);
            let is_alias = rowid_alias.as_deref() == Some(c.name.as_str());
            Column {
                name: c.name.clone(),
                declared_type: c.declared.clone(),
                kind,
                unknown_type,
                nullable: !c.notnull && c.pk == 0,
                has_default: c.default_sql.is_some() || is_alias,
                default_sql: c.default_sql.clone(),
                generated: c.hidden == 2 || c.hidden == 3,
                auto_increment: is_alias,
                max_length,
                enum_values: enum_values(&c.declared),
            }
        })
        .collect();

    let unique = if is_view {
        Vec::new()
    } else {
        unique_constraints(conn, &indexes, &primary_key)?
    };
    let foreign_keys = if is_view {
        Vec::new()
    } else {
        foreign_keys(conn, &real)?
    };

    Ok(Some(Table {
        name: name.to_string(),
        schema: None,
        bare_name: real,
        is_view,
        columns,
        primary_key,
        unique,
        foreign_keys,
    }))
}

/// The real name of a table or view and whether it is a view.
fn find_object(conn: &Connection, name: &str) -> rusqlite::Result<Option<(String, bool)>> {
    conn.query_row(
        "SELECT name, type FROM sqlite_master \
         WHERE type IN ('table', 'view') AND name = ?1 COLLATE NOCASE \
         AND name NOT LIKE 'sqlite!_%' ESCAPE '!' \
         ORDER BY name = ?1 DESC LIMIT 1",
        [name],
        |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)? == "view")),
    )
    .optional()
}

struct RawColumn {
    name: String,
    declared: String,
    notnull: bool,
    default_sql: Option<String>,
    /// 1-based position in the primary key, 0 when not part of it.
    pk: i64,
    /// 0 normal, 1 hidden (virtual tables), 2 generated virtual, 3 generated stored.
    hidden: i64,
}

fn raw_columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<RawColumn>> {
    let mut stmt = conn.prepare(
        "SELECT name, type, \"notnull\", dflt_value, pk, hidden \
         FROM pragma_table_xinfo(?1, 'main') ORDER BY cid",
    )?;
    let rows = stmt.query_map([table], |row| {
        Ok(RawColumn {
            name: row.get(0)?,
            declared: row.get::<_, Option<String>>(1)?.unwrap_or_default(),
            notnull: row.get::<_, i64>(2)? != 0,
            default_sql: row.get(3)?,
            pk: row.get(4)?,
            hidden: row.get(5)?,
        })
    })?;
    rows.collect()
}

struct IndexEntry {
    name: String,
    unique: bool,
    /// `c` (CREATE INDEX), `u` (UNIQUE constraint) or `pk`.
    origin: String,
    partial: bool,
}

/// Indexes of a table, in creation order.
fn index_list(conn: &Connection, table: &str) -> rusqlite::Result<Vec<IndexEntry>> {
    let mut stmt = conn.prepare(
        "SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1, 'main') \
         ORDER BY seq DESC",
    )?;
    let rows = stmt.query_map([table], |row| {
        Ok(IndexEntry {
            name: row.get(0)?,
            unique: row.get::<_, i64>(1)? != 0,
            origin: row.get(2)?,
            partial: row.get::<_, i64>(3)? != 0,
        })
    })?;
    rows.collect()
}

/// Column lists of the non-partial unique indexes (UNIQUE constraints and CREATE UNIQUE
/// INDEX), primary key and expression indexes excluded, duplicates removed.
fn unique_constraints(
    conn: &Connection,
    indexes: &[IndexEntry],
    primary_key: &[String],
) -> rusqlite::Result<Vec<Vec<String>>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for index in indexes {
        if !index.unique || index.partial || index.origin == "pk" {
            continue;
        }
        let mut stmt =
            conn.prepare("SELECT cid, name FROM pragma_index_info(?1, 'main') ORDER BY seqno")?;
        let cols = stmt
            .query_map([&index.name], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, Option<String>>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        // cid < 0: an expression (or the rowid); not a column list a client can name.
        let names: Option<Vec<String>> = cols
            .into_iter()
            .map(|(cid, name)| if cid >= 0 { name } else { None })
            .collect();
        let Some(names) = names else { continue };
        if names.is_empty() || names.as_slice() == primary_key || out.contains(&names) {
            continue;
        }
        out.push(names);
    }
    Ok(out)
}

/// One foreign key as `pragma_foreign_key_list` reports it: (from, to) column pairs, `to`
/// absent when the constraint names only the parent table.
struct FkGroup {
    id: i64,
    target: String,
    pairs: Vec<(String, Option<String>)>,
}

/// Foreign keys in declaration order, named like PostgreSQL names them.
fn foreign_keys(conn: &Connection, table: &str) -> rusqlite::Result<Vec<ForeignKey>> {
    let mut stmt = conn.prepare(
        "SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1, 'main') \
         ORDER BY id DESC, seq",
    )?;
    let rows = stmt
        .query_map([table], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;

    // Rows come grouped by constraint id, constraints in declaration order.
    let mut groups: Vec<FkGroup> = Vec::new();
    for (id, target, from, to) in rows {
        match groups.last_mut() {
            Some(group) if group.id == id => group.pairs.push((from, to)),
            _ => groups.push(FkGroup {
                id,
                target,
                pairs: vec![(from, to)],
            }),
        }
    }

    let own_columns = raw_columns(conn, table)?;
    let mut out: Vec<ForeignKey> = Vec::new();
    for FkGroup {
        target: declared_target,
        pairs,
        ..
    } in groups
    {
        let target = find_object(conn, &declared_target)?;
        let target_columns = match &target {
            Some((real, _)) => raw_columns(conn, real)?,
            None => Vec::new(),
        };
        let referenced_table = target.map_or(declared_target, |(real, _)| real);

        let columns: Vec<String> = pairs
            .iter()
            .map(|(from, _)| real_name(&own_columns, from))
            .collect();
        let referenced_columns: Vec<String> = if pairs.iter().all(|(_, to)| to.is_some()) {
            pairs
                .iter()
                .filter_map(|(_, to)| to.as_deref())
                .map(|to| real_name(&target_columns, to))
                .collect()
        } else {
            // `REFERENCES parent` without columns: the parent's primary key.
            let mut pk: Vec<(i64, String)> = target_columns
                .iter()
                .filter(|c| c.pk > 0)
                .map(|c| (c.pk, c.name.clone()))
                .collect();
            pk.sort();
            pk.into_iter().map(|(_, n)| n).collect()
        };
        if referenced_columns.len() != columns.len() {
            continue; // a broken constraint SQLite itself would reject on use
        }

        let base = format!("{}_{}_fkey", table, columns.join("_"));
        let mut name = base.clone();
        let mut n = 1;
        while out.iter().any(|fk| fk.name == name) {
            name = format!("{base}{n}");
            n += 1;
        }
        out.push(ForeignKey {
            name,
            columns,
            referenced_table,
            referenced_columns,
        });
    }
    Ok(out)
}

/// The real spelling of a column named case-insensitively (as written when not found).
fn real_name(columns: &[RawColumn], name: &str) -> String {
    columns
        .iter()
        .find(|c| c.name == name)
        .or_else(|| columns.iter().find(|c| c.name.eq_ignore_ascii_case(name)))
        .map_or_else(|| name.to_string(), |c| c.name.clone())
}

fn collect_strings<P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(params, |row| row.get::<_, String>(0))?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ValueKind;

    const MUSIC: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.sql"));

    fn music() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON;").unwrap();
        conn.execute_batch(MUSIC).unwrap();
        conn
    }

    fn table(conn: &Connection, name: &str) -> Table {
        introspect_table(conn, name).unwrap().unwrap()
    }

    fn names(t: &Table) -> Vec<&str> {
        t.columns.iter().map(|c| c.name.as_str()).collect()
    }

    fn col<'a>(t: &'a Table, name: &str) -> &'a Column {
        t.column(name).unwrap()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lists_music_tables_sorted() {
        let conn = music();
        conn.execute_batch("CREATE VIEW v AS SELECT 1 AS x;")
            .unwrap();
        assert_eq!(
            list_tables(&conn).unwrap(),
            strings(&[
                "albums",
                "artists",
                "playlist_tracks",
                "playlists",
                "tracks",
                "v"
            ])
        );
    }

    #[test]
    fn virtual_tables_listed_without_shadow_tables() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE VIRTUAL TABLE docs USING fts5(title, body);")
            .unwrap();
        assert_eq!(list_tables(&conn).unwrap(), ["docs"]);
        let t = table(&conn, "docs");
        assert_eq!(names(&t), ["title", "body"], "hidden columns are skipped");
        assert!(t.primary_key.is_empty() && t.foreign_keys.is_empty());
    }

    #[test]
    fn artists() {
        let conn = music();
        let t = table(&conn, "artists");
        assert_eq!(
            (t.name.as_str(), t.bare_name.as_str()),
            ("artists", "artists")
        );
        assert!(t.schema.is_none() && !t.is_view);
        assert_eq!(names(&t), ["id", "name"]);
        assert_eq!(t.primary_key, ["id"]);
        assert_eq!(t.unique, vec![strings(&["name"])]);
        assert!(t.foreign_keys.is_empty());
        let id = col(&t, "id");
        assert_eq!(id.kind, ValueKind::Integer);
        assert!(id.auto_increment && id.has_default && !id.nullable && !id.generated);
        let name = col(&t, "name");
        assert_eq!(
            (name.kind, name.declared_type.as_str()),
            (ValueKind::Text, "TEXT")
        );
        assert!(!name.nullable && !name.has_default && !name.auto_increment);
    }

    #[test]
    fn albums_and_foreign_key() {
        let conn = music();
        let t = table(&conn, "albums");
        assert_eq!(names(&t), ["id", "title", "artist_id", "year"]);
        assert!(col(&t, "year").nullable);
        assert!(!col(&t, "artist_id").nullable);
        assert!(t.unique.is_empty());
        assert_eq!(t.foreign_keys.len(), 1);
        let fk = &t.foreign_keys[0];
        assert_eq!(fk.name, "albums_artist_id_fkey");
        assert_eq!(fk.columns, ["artist_id"]);
        assert_eq!(fk.referenced_table, "artists");
        assert_eq!(fk.referenced_columns, ["id"]);
    }

    #[test]
    fn tracks_kinds_and_defaults() {
        let conn = music();
        let t = table(&conn, "tracks");
        assert_eq!(
            names(&t),
            [
                "id",
                "name",
                "album_id",
                "milliseconds",
                "unit_price",
                "genre",
                "explicit",
                "created_at"
            ]
        );
        use ValueKind::*;
        let kinds: Vec<ValueKind> = t.columns.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [Integer, Text, Integer, Integer, Decimal, Text, Boolean, Timestamp]
        );
        assert!(t.columns.iter().all(|c| !c.unknown_type && !c.generated));
        let price = col(&t, "unit_price");
        assert_eq!(price.declared_type, "NUMERIC(4,2)");
        assert!(price.has_default && !price.nullable);
        assert!(col(&t, "milliseconds").nullable);
        assert!(col(&t, "genre").nullable);
        assert!(col(&t, "explicit").has_default);
        assert!(col(&t, "created_at").has_default);
        assert!(!col(&t, "name").has_default);
        assert_eq!(t.foreign_keys.len(), 1);
        assert_eq!(t.foreign_keys[0].name, "tracks_album_id_fkey");
        assert_eq!(t.foreign_keys[0].referenced_table, "albums");
    }

    #[test]
    fn composite_primary_key_junction() {
        let conn = music();
        let t = table(&conn, "playlist_tracks");
        assert_eq!(t.primary_key, ["playlist_id", "track_id"]);
        assert!(
            t.unique.is_empty(),
            "the primary key is not a unique constraint"
        );
        assert!(t.columns.iter().all(|c| !c.nullable && !c.auto_increment));
        assert!(t.columns.iter().all(|c| !c.has_default));
        let fks: Vec<(&str, &str, &[String])> = t
            .foreign_keys
            .iter()
            .map(|f| {
                (
                    f.name.as_str(),
                    f.referenced_table.as_str(),
                    f.referenced_columns.as_slice(),
                )
            })
            .collect();
        assert_eq!(
            fks,
            [
                (
                    "playlist_tracks_playlist_id_fkey",
                    "playlists",
                    &strings(&["id"])[..]
                ),
                (
                    "playlist_tracks_track_id_fkey",
                    "tracks",
                    &strings(&["id"])[..]
                ),
            ]
        );
    }

    #[test]
    fn sample_data_loads_with_foreign_keys_on() {
        let conn = music();
        let count = |t: &str| -> i64 {
            conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                .unwrap()
        };
        assert!(count("artists") >= 10);
        assert!(count("albums") >= 15);
        assert!(count("tracks") >= 50);
        assert_eq!(count("playlists"), 3);
        assert!(count("playlist_tracks") >= 12);
        let violations: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(violations, 0);
        let bjork: String = conn
            .query_row("SELECT name FROM artists WHERE id = 6", [], |r| r.get(0))
            .unwrap();
        assert_eq!(bjork, "Björk");
    }

    #[test]
    fn name_matched_case_insensitively() {
        let conn = music();
        let t = table(&conn, "ARTISTS");
        assert_eq!(
            (t.name.as_str(), t.bare_name.as_str()),
            ("ARTISTS", "artists")
        );
        assert!(introspect_table(&conn, "nope").unwrap().is_none());
        assert!(introspect_table(&conn, "sqlite_master").unwrap().is_none());
        assert!(introspect_table(&conn, "artists; DROP TABLE artists")
            .unwrap()
            .is_none());
    }

    #[test]
    fn odd_names_are_quoted_safely() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            r#"CREATE TABLE "we'ird ""t""" ("a b" INTEGER PRIMARY KEY, "c'd" TEXT UNIQUE);
               CREATE TABLE child (x INTEGER REFERENCES "we'ird ""t""");"#,
        )
        .unwrap();
        let t = table(&conn, r#"we'ird "t""#);
        assert_eq!(names(&t), ["a b", "c'd"]);
        assert_eq!(t.primary_key, ["a b"]);
        assert_eq!(t.unique, vec![strings(&["c'd"])]);
        let child = table(&conn, "child");
        assert_eq!(child.foreign_keys[0].referenced_table, r#"we'ird "t""#);
        assert_eq!(child.foreign_keys[0].referenced_columns, ["a b"]);
    }

    #[test]
    fn generated_columns_view_and_odd_types() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE people (
                id TEXT PRIMARY KEY,
                first VARCHAR(40) NOT NULL,
                last varchar(40),
                active TINYINT(1) NOT NULL DEFAULT 1,
                full_name TEXT GENERATED ALWAYS AS (first || ' ' || last) VIRTUAL,
                name_len INTEGER AS (length(first)) STORED,
                blob_data BLOB,
                anything
             );
             CREATE VIEW people_view AS
                SELECT id, first, length(last) AS last_len FROM people;",
        )
        .unwrap();
        let t = table(&conn, "people");
        assert_eq!(t.primary_key, ["id"]);
        assert!(t.unique.is_empty());
        let id = col(&t, "id");
        assert!(!id.nullable && !id.auto_increment && !id.has_default);
        assert_eq!(id.kind, ValueKind::Text);
        let first = col(&t, "first");
        assert_eq!((first.kind, first.max_length), (ValueKind::Text, Some(40)));
        assert_eq!(col(&t, "last").max_length, Some(40));
        assert!(col(&t, "last").nullable);
        let active = col(&t, "active");
        assert_eq!(active.kind, ValueKind::Boolean);
        assert!(active.has_default && !active.nullable);
        let full = col(&t, "full_name");
        assert!(full.generated && !full.has_default);
        let len = col(&t, "name_len");
        assert!(len.generated);
        assert_eq!(len.kind, ValueKind::Integer);
        assert_eq!(col(&t, "blob_data").kind, ValueKind::Bytes);
        let any = col(&t, "anything");
        assert_eq!((any.kind, any.unknown_type), (ValueKind::Text, true));
        assert!(!col(&t, "first").generated);

        let v = table(&conn, "people_view");
        assert!(v.is_view);
        assert!(v.primary_key.is_empty() && v.unique.is_empty() && v.foreign_keys.is_empty());
        assert_eq!(names(&v), ["id", "first", "last_len"]);
        assert_eq!(col(&v, "first").max_length, Some(40));
        assert!(col(&v, "last_len").unknown_type);
        assert!(v.columns.iter().all(|c| !c.auto_increment && !c.generated));
    }

    #[test]
    fn rowid_alias_only_when_sqlite_says_so() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE a (id integer PRIMARY KEY AUTOINCREMENT, v TEXT);
             CREATE TABLE b (id INT PRIMARY KEY, v TEXT);
             CREATE TABLE c (id INTEGER PRIMARY KEY DESC, v TEXT);
             CREATE TABLE d (id INTEGER PRIMARY KEY, v TEXT) WITHOUT ROWID;
             CREATE TABLE e (id INTEGER, k INTEGER, PRIMARY KEY (k, id));",
        )
        .unwrap();
        let alias = |name: &str| {
            let t = table(&conn, name);
            let c = t.column("id").unwrap();
            assert!(!c.nullable, "{name}: key columns are never null");
            (c.auto_increment, c.has_default)
        };
        assert_eq!(alias("a"), (true, true));
        assert_eq!(alias("b"), (false, false));
        assert_eq!(alias("c"), (false, false));
        assert_eq!(alias("d"), (false, false));
        assert_eq!(alias("e"), (false, false));
        assert_eq!(table(&conn, "e").primary_key, ["k", "id"]);
    }

    #[test]
    fn unique_constraints_and_indexes() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE u (
                id INTEGER PRIMARY KEY,
                a TEXT UNIQUE,
                b TEXT, c TEXT, d TEXT,
                UNIQUE (b, c),
                UNIQUE (a)
             );
             CREATE UNIQUE INDEX u_d ON u(d);
             CREATE UNIQUE INDEX u_partial ON u(c) WHERE c IS NOT NULL;
             CREATE UNIQUE INDEX u_expr ON u(lower(d));
             CREATE INDEX u_plain ON u(b);
             CREATE TABLE k (x TEXT, y TEXT, PRIMARY KEY (x, y), UNIQUE (y, x));",
        )
        .unwrap();
        let t = table(&conn, "u");
        assert_eq!(
            t.unique,
            vec![strings(&["a"]), strings(&["b", "c"]), strings(&["d"])]
        );
        let k = table(&conn, "k");
        assert_eq!(k.primary_key, ["x", "y"]);
        assert_eq!(k.unique, vec![strings(&["y", "x"])]);
    }

    #[test]
    fn foreign_keys_without_columns_composite_and_named_twice() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE Parent (id INTEGER PRIMARY KEY, code TEXT UNIQUE);
             CREATE TABLE pair (a INTEGER, b TEXT, PRIMARY KEY (a, b));
             CREATE TABLE child (
                id INTEGER PRIMARY KEY,
                parent_id INTEGER REFERENCES parent,
                Parent_Code TEXT REFERENCES PARENT(CODE),
                pa INTEGER, pb TEXT,
                FOREIGN KEY (PA, pb) REFERENCES pair,
                FOREIGN KEY (parent_id) REFERENCES parent(id)
             );",
        )
        .unwrap();
        let t = table(&conn, "child");
        let fks: Vec<(&str, Vec<&str>, &str, Vec<&str>)> = t
            .foreign_keys
            .iter()
            .map(|f| {
                (
                    f.name.as_str(),
                    f.columns.iter().map(String::as_str).collect(),
                    f.referenced_table.as_str(),
                    f.referenced_columns.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            fks,
            vec![
                (
                    "child_parent_id_fkey",
                    vec!["parent_id"],
                    "Parent",
                    vec!["id"]
                ),
                (
                    "child_Parent_Code_fkey",
                    vec!["Parent_Code"],
                    "Parent",
                    vec!["code"]
                ),
                ("child_pa_pb_fkey", vec!["pa", "pb"], "pair", vec!["a", "b"]),
                (
                    "child_parent_id_fkey1",
                    vec!["parent_id"],
                    "Parent",
                    vec!["id"]
                ),
            ]
        );
    }
}
