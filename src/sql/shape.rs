//! SQL text built once per query shape. Two reads that differ only in their values (the
//! key looked up, the album filtered on, the page's limit) have the same SQL text, since
//! the values travel as parameters. The shape (everything but the values) is written as a
//! short list of numbers; each service keeps the text of the shapes it has seen, and a
//! statement of a known shape only collects its parameters, with the same builder writing
//! no text. Debug builds (the tests) also build the text afresh and compare.

use std::collections::HashMap;
use std::sync::RwLock;

use super::Dialect;
use crate::plan::write::{InsertBatch, OnConflict};
use crate::plan::{Condition, ReadPlan, Selected, SqlValue};

/// The most shapes kept per service. Past it new shapes are built each time (as every
/// statement would be without the cache); the ones kept are never evicted.
const MAX_SHAPES: usize = 512;

/// Shapes longer than this (e.g. an `in` list of hundreds of values) are not kept.
const MAX_KEY_LEN: usize = 128;

/// The SQL text of every shape seen, per service.
#[derive(Default)]
pub struct ShapeCache {
    texts: RwLock<HashMap<Box<[u32]>, String>>,
}

impl std::fmt::Debug for ShapeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.texts.read().map_or(0, |t| t.len());
        write!(f, "ShapeCache({n} shapes)")
    }
}

impl ShapeCache {
    pub(super) fn get(&self, key: &[u32]) -> Option<String> {
        self.texts.read().ok()?.get(key).cloned()
    }

    pub(super) fn put(&self, key: Vec<u32>, sql: &str) {
        if let Ok(mut texts) = self.texts.write() {
            if texts.len() < MAX_SHAPES {
                texts.insert(key.into_boxed_slice(), sql.to_owned());
            }
        }
    }

    /// How many shapes are kept.
    pub fn len(&self) -> usize {
        self.texts.read().map_or(0, |t| t.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What kind of statement a shape is of.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Select = 1,
    Count = 2,
    Insert = 3,
}

fn start(d: &dyn Dialect, kind: Kind) -> Vec<u32> {
    let mut k = Vec::with_capacity(32);
    k.push(d.shape_tag());
    k.push(kind as u32);
    k
}

fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

fn finish(k: Vec<u32>) -> Option<Vec<u32>> {
    (k.len() <= MAX_KEY_LEN).then_some(k)
}

/// The shape of a read: its output columns, the structure of its filter (columns,
/// operators, value types, list lengths), its order, and whether it has a limit and an
/// offset. None when too long to keep.
pub(super) fn read(d: &dyn Dialect, kind: Kind, plan: &ReadPlan) -> Option<Vec<u32>> {
    if !plan.embeds.is_empty()
        || plan.order.iter().any(|o| o.related.is_some())
        || crate::plan::aggregate::aggregated(&plan.select)
    {
        // Built each time (an embed's shape is a tree of plans; an aggregated read is
        // rare and costs more to run than to write).
        return None;
    }
    if plan.select.iter().any(|s| s.path.is_some()) || plan.order.iter().any(|o| o.path.is_some()) {
        // Built each time: a JSON path's keys are written into the text.
        return None;
    }
    let mut k = start(d, kind);
    if let Kind::Select = kind {
        k.push(index(plan.select.len()));
        k.extend(plan.select.iter().map(|s| index(s.column)));
        k.push(index(plan.order.len()));
        for o in &plan.order {
            k.extend([
                index(o.column),
                u32::from(o.descending),
                u32::from(o.nulls_first),
            ]);
        }
        match plan.limit {
            Some(l) if d.literal_limit() => {
                k.extend([2, (l >> 32) as u32, l as u32]);
            }
            l => k.push(u32::from(l.is_some())),
        }
        k.push(u32::from(plan.offset > 0));
    }
    match &plan.filter {
        None => k.push(0),
        Some(c) => condition(&mut k, c),
    }
    finish(k)
}

fn condition(k: &mut Vec<u32>, c: &Condition) {
    if k.len() > MAX_KEY_LEN {
        return;
    }
    match c {
        // A related row's condition is a tree of its own, a JSON path's keys are written
        // into the text: never cached (too long a key).
        Condition::Related(_) | Condition::Json { .. } => k.resize(MAX_KEY_LEN + 1, u32::MAX),
        Condition::And(parts) | Condition::Or(parts) => {
            k.push(if matches!(c, Condition::And(_)) { 1 } else { 2 });
            k.push(index(parts.len()));
            for p in parts {
                condition(k, p);
            }
        }
        Condition::Not(inner) => {
            k.push(3);
            condition(k, inner);
        }
        Condition::Const(b) => k.push(4 + u32::from(*b)),
        Condition::Compare { column, op, value } => {
            k.extend([6, index(*column), *op as u32, value.tag()]);
        }
        Condition::Like {
            column,
            pattern,
            case_insensitive,
        } => k.extend([
            7,
            index(*column),
            u32::from(*case_insensitive),
            u32::from(super::like_has_prefix(pattern)),
        ]),
        Condition::Regex {
            column,
            case_insensitive,
            ..
        } => k.extend([8, index(*column), u32::from(*case_insensitive)]),
        Condition::In { column, values } => {
            k.extend([9, index(*column), index(values.len())]);
            k.extend(values.iter().take(MAX_KEY_LEN).map(SqlValue::tag));
        }
        Condition::IsNull { column } => k.extend([10, index(*column)]),
        Condition::IsBool { column, value } => k.extend([11, index(*column), u32::from(*value)]),
        Condition::IsDistinct { column, value } => k.extend([12, index(*column), value.tag()]),
        Condition::Containment { column, op, value } => {
            k.extend([13, index(*column), *op as u32, value.tag()]);
        }
        // MySQL's SQL follows the structure of the value: never cached.
        Condition::JsonContains { .. } => k.resize(MAX_KEY_LEN + 1, u32::MAX),
    }
}

/// The shape of an INSERT of one row: its columns and their value types, the upsert and
/// the returned columns. None for several rows (a dialect may write those in a form that
/// depends on the values) and for shapes too long to keep.
pub(super) fn insert_one(
    d: &dyn Dialect,
    batch: &InsertBatch,
    on_conflict: Option<&OnConflict>,
    ret: &[Selected],
) -> Option<Vec<u32>> {
    let [row] = batch.rows.as_slice() else {
        return None;
    };
    if batch.columns.is_empty()
        || batch.columns.len() * 2 + ret.len() > MAX_KEY_LEN
        || ret.iter().any(|s| s.path.is_some())
    {
        return None;
    }
    let mut k = start(d, Kind::Insert);
    k.push(index(batch.columns.len()));
    k.extend(batch.columns.iter().map(|&i| index(i)));
    k.extend(row.iter().map(SqlValue::tag));
    match on_conflict {
        None => k.push(0),
        Some(c) => {
            k.push(1 + c.resolution as u32);
            k.push(index(c.columns.len()));
            k.extend(c.columns.iter().map(|&i| index(i)));
        }
    }
    k.push(index(ret.len()));
    k.extend(ret.iter().map(|s| index(s.column)));
    finish(k)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::plan::read_plan;
    use crate::request::parse_query;
    use crate::schema::Service;
    use crate::sql::{self, mysql::MARIADB, postgres::Postgres, sqlite::Sqlite, Dialect};

    use crate::schema::sample_service as service;

    fn select(d: &dyn Dialect, svc: &Arc<Service>, query: &str) -> sql::Statement {
        let q = parse_query(query).expect("query");
        let plan = read_plan(
            &Default::default(),
            svc,
            &q,
            None,
            None,
            &Default::default(),
        )
        .expect("plan");
        let stmt = sql::select(d, &plan);
        assert_eq!(stmt, sql::build_select(d, &plan), "{query}");
        stmt
    }

    #[test]
    fn one_text_per_shape_and_the_values_as_parameters() {
        let dialects: [&dyn Dialect; 3] = [&Sqlite, &Postgres, &MARIADB];
        for d in dialects {
            let svc = service();
            let a = select(
                d,
                &svc,
                "name=eq.x&price=gt.1.5&order=name&limit=5&offset=2",
            );
            let b = select(d, &svc, "name=eq.y&price=gt.2&order=name&limit=5&offset=4");
            assert_eq!(a.sql, b.sql);
            assert_ne!(a.params, b.params);
            assert_eq!(svc.statements.len(), 1);
            // SQLite writes the limit as a number (a parameter there makes every reuse of
            // the prepared statement compile it again); the others bind it.
            let fresh = service();
            let c = select(
                d,
                &fresh,
                "name=eq.y&price=gt.2&order=name&limit=9&offset=4",
            );
            if d.literal_limit() {
                assert!(c.sql.contains(" LIMIT 9 OFFSET ?"), "{}", c.sql);
                assert_ne!(c.sql, a.sql);
            } else {
                assert_eq!(c.sql, a.sql);
            }
            assert_eq!(c.params.len(), a.params.len());
            // Another operator, another order, no offset, a longer list: other shapes.
            let others = [
                "name=neq.x&price=gt.1.5&order=name&limit=5&offset=2",
                "name=eq.x&price=gt.1.5&order=name.desc&limit=5&offset=2",
                "name=eq.x&price=gt.1.5&order=name&limit=5",
                "id=in.(1,2)",
                "id=in.(1,2,3)",
                "or=(id.eq.1,name.like.*a*)",
                "and=(id.eq.1,name.like.*a*)",
                "price=is.null",
                "select=name",
            ];
            for q in others {
                let s = select(d, &svc, q);
                assert_ne!(s.sql, a.sql, "{q}");
            }
            assert_eq!(svc.statements.len(), 1 + others.len());
            // Seen again: the same text, this read's parameters.
            let again = select(d, &svc, "id=in.(7,8,9)");
            assert_eq!(again.params.len(), 3);
            assert_eq!(svc.statements.len(), 1 + others.len());
        }
    }

    #[test]
    fn a_sqlite_glob_with_a_literal_prefix_is_written_as_a_literal_and_kept_nowhere() {
        let svc = service();
        // A prefix an index can narrow to: a literal, its quote doubled; never cached.
        let a = select(&Sqlite, &svc, "name=like.O'Br*");
        assert!(a.sql.contains(r#""name" GLOB 'O''Br*'"#), "{}", a.sql);
        assert!(a.single_use && a.params.is_empty());
        let b = select(&Sqlite, &svc, "name=like.Ab*");
        assert!(b.sql.contains(r#""name" GLOB 'Ab*'"#), "{}", b.sql);
        assert!(svc.statements.is_empty());
        // A NUL cannot be written into the text: bound, and still not cached.
        let c = select(&Sqlite, &svc, "name=like.a%00b*");
        assert!(c.single_use && c.params.len() == 1, "{c:?}");
        assert!(svc.statements.is_empty());
        // No literal prefix: a parameter and a shape like any other.
        let d = select(&Sqlite, &svc, "name=like.*Br*");
        assert!(
            d.sql
                .ends_with(r#""name" GLOB ? ORDER BY "t"."id" ASC NULLS LAST"#),
            "{}",
            d.sql
        );
        assert!(!d.single_use);
        assert_eq!(svc.statements.len(), 1);
        // Case-insensitive patterns (REGEXP) and the other dialects bind every pattern.
        for (dialect, q) in [
            (&Sqlite as &dyn Dialect, "name=ilike.Ab*"),
            (&Postgres, "name=like.Ab*"),
            (&MARIADB, "name=like.Ab*"),
        ] {
            let s = select(dialect, &svc, q);
            assert!(!s.single_use && s.params.len() == 1, "{q}: {}", s.sql);
        }
    }

    #[test]
    fn a_value_of_another_type_is_another_shape_where_the_dialect_casts_it() {
        let svc = service();
        // PostgreSQL casts a text-carried decimal, not a NULL compared with IS.
        let a = select(&Postgres, &svc, "price=eq.1.5");
        assert!(a.sql.contains("::numeric"), "{}", a.sql);
        let b = select(&Postgres, &svc, "name=eq.1");
        let c = select(&Postgres, &svc, "name=eq.x");
        assert_eq!(b.sql, c.sql);
    }

    #[test]
    fn shapes_past_the_limits_are_built_each_time() {
        let svc = service();
        let long = (0..200)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let s = select(&Sqlite, &svc, &format!("id=in.({long})"));
        assert_eq!(s.params.len(), 200);
        assert!(svc.statements.is_empty());
        for sel in ["id", "name", "price", "id,name", "name,id", "id,price"] {
            for n in 1..=100 {
                let ids = vec!["1"; n].join(",");
                select(&Sqlite, &svc, &format!("select={sel}&id=in.({ids})"));
            }
        }
        assert_eq!(svc.statements.len(), super::MAX_SHAPES);
    }
}
