//! Embedded rows in the statement of a read (SPEC 4.6). Each embed is a correlated
//! subquery of the select list that the database turns into JSON: an object (or NULL) for
//! a to-one embed, an array of objects for a to-many one. One statement answers a request
//! whatever the number of parents, and the parents stream as any other rows. This file
//! writes what is the same everywhere (how a child is linked to its parent, its filter,
//! order and paging, nesting); the JSON functions are each dialect's (`Dialect::embed`).
//! Knows SQL, never HTTP.

use super::{write_condition, AggregateUse, Builder};
use crate::plan::aggregate;
use crate::plan::{Aggregate, Condition, Embed, Link, OrderBy, Related};
use crate::schema::{Column, Service};

/// The row an embed's children are linked to: the statement's own table, or an enclosing
/// embed's alias.
#[derive(Clone, Copy)]
pub enum Parent<'a> {
    Table(&'a Service),
    Alias(u32),
}

impl Parent<'_> {
    fn column(&self, b: &mut Builder<'_>, name: &str) {
        match self {
            Parent::Table(svc) => b.table(svc),
            Parent::Alias(n) => alias(b, 'e', *n),
        }
        b.push(".");
        b.ident(name);
    }
}

/// `"_e3"`: the quoted alias of kind `kind` number `n` (`e` embedded table, `j` junction,
/// `x` derived table, `o` ordering lookup).
pub fn alias(b: &mut Builder<'_>, kind: char, n: u32) {
    let mut name = String::with_capacity(4);
    name.push('_');
    name.push(kind);
    name.push_str(itoa::Buffer::new().format(n));
    b.ident(&name);
}

/// `"_<kind><n>"."column"`.
fn aliased(b: &mut Builder<'_>, kind: char, n: u32, column: &str) {
    alias(b, kind, n);
    b.push(".");
    b.ident(column);
}

/// `_<kind><n>.c1 = parent.p1 AND ...` for pairs (parent column, column of the alias).
fn equal_to_parent<'a>(
    b: &mut Builder<'_>,
    kind: char,
    n: u32,
    pairs: impl IntoIterator<Item = (&'a String, &'a String)>,
    parent: Parent<'_>,
) {
    for (i, (p, c)) in pairs.into_iter().enumerate() {
        if i > 0 {
            b.push(" AND ");
        }
        aliased(b, kind, n, c);
        b.push(" = ");
        parent.column(b, p);
    }
}

/// One key of an embedded object.
pub enum Field<'p> {
    Column {
        key: &'p str,
        column: &'p Column,
    },
    Embed {
        key: &'p str,
        embed: &'p Embed,
    },
    /// An aggregate of `column` over each group of the embedded rows.
    Aggregate {
        key: &'p str,
        column: &'p Column,
        aggregate: &'p Aggregate,
    },
}

/// An embed being written, for the dialect: its fields, and the parts of its subquery.
pub struct EmbedSql<'p> {
    pub embed: &'p Embed,
    parent: Parent<'p>,
    /// Number of this embed's table alias (`_e<n>`) and derived table (`_x<n>`).
    pub n: u32,
}

impl<'p> EmbedSql<'p> {
    pub fn new(b: &mut Builder<'_>, embed: &'p Embed, parent: Parent<'p>) -> Self {
        EmbedSql {
            embed,
            parent,
            n: b.next_alias(),
        }
    }

    /// A to-many embed (an array).
    pub fn many(&self) -> bool {
        !self.embed.link.to_one()
    }

    /// `rel(count)`: `[{"count": n}]`.
    pub fn count(&self) -> bool {
        self.embed.count
    }

    pub fn limit(&self) -> Option<u64> {
        self.embed.plan.limit
    }

    pub fn offset(&self) -> u64 {
        self.embed.plan.offset
    }

    /// The keys of each embedded object, in output order.
    pub fn fields(&self) -> Vec<Field<'p>> {
        let plan = &self.embed.plan;
        crate::plan::embed::outputs(plan)
            .into_iter()
            .map(|o| match o {
                crate::plan::embed::Output::Column(s) => match &s.aggregate {
                    Some(aggregate) => Field::Aggregate {
                        key: &s.output,
                        column: &plan.service.columns[s.column].column,
                        aggregate,
                    },
                    None => Field::Column {
                        key: &s.output,
                        column: &plan.service.columns[s.column].column,
                    },
                },
                crate::plan::embed::Output::Embed(e) => Field::Embed {
                    key: &e.output,
                    embed: e,
                },
                // Refused by the plan: spreads are top-level only.
                crate::plan::embed::Output::Spread(e, s) => Field::Column {
                    key: &s.output,
                    column: &e.plan.service.columns[s.column].column,
                },
            })
            .collect()
    }

    /// A nested embed's JSON, for a field of this one's objects.
    pub fn nested(&self, b: &mut Builder<'_>, embed: &Embed) {
        let e = EmbedSql::new(b, embed, Parent::Alias(self.n));
        let d = b.dialect;
        d.embed(b, &e);
    }

    /// ` FROM child AS _e<n> WHERE <link> [AND <filter>]`.
    pub fn from_where(&self, b: &mut Builder<'_>) {
        let plan = &self.embed.plan;
        b.push(" FROM ");
        b.table(&plan.service);
        b.push(" AS ");
        alias(b, 'e', self.n);
        b.push(" WHERE ");
        link(b, &self.embed.link, self.parent, self.n);
        if let Some(f) = &plan.filter {
            b.push(" AND ");
            let outer = b.scope.replace(self.n);
            write_condition(b, &plan.service, f);
            b.scope = outer;
        }
    }

    /// The embedded rows are aggregated (`rel(col.sum())`): one object per group.
    pub fn aggregated(&self) -> bool {
        aggregate::aggregated(&self.embed.plan.select)
    }

    /// The grouping columns of aggregated embedded rows (empty: one group).
    pub fn grouping(&self) -> Vec<usize> {
        if self.aggregated() {
            aggregate::grouping(&self.embed.plan.select)
        } else {
            Vec::new()
        }
    }

    /// ` GROUP BY ...` of aggregated embedded rows (nothing otherwise).
    pub fn group_by(&self, b: &mut Builder<'_>) {
        let outer = b.scope.replace(self.n);
        super::group_by(b, &self.embed.plan);
        b.scope = outer;
    }

    /// For a dialect whose derived tables cannot see the parent row (MariaDB), the
    /// grouped embedded rows as an uncorrelated derived table that the parent picks its
    /// own groups from: ` FROM (SELECT <link columns> AS _l0, ..., <items> FROM child AS
    /// _e<n> [JOIN junction] WHERE <filter> GROUP BY <link columns>, <grouping>) AS
    /// _x<n> WHERE _x<n>._l0 = parent.p0 AND ...`. `items` writes the derived table's
    /// other columns (`value AS c0, ...`).
    pub fn grouped_from_where(&self, b: &mut Builder<'_>, items: &mut dyn FnMut(&mut Builder<'_>)) {
        let plan = &self.embed.plan;
        let n = self.n;
        // (the link column in the derived table's rows, the parent's column); a junction's
        // columns are renamed (`_p0`, `_c0`) so that none shadows the embedded table's.
        let links: Vec<(char, String, &String)> = match &self.embed.link {
            Link::ToOne(pairs) | Link::ToMany(pairs) => {
                pairs.iter().map(|(p, c)| ('e', c.clone(), p)).collect()
            }
            Link::Junction { parent, .. } => parent
                .iter()
                .enumerate()
                .map(|(i, (p, _))| ('j', format!("_p{i}"), p))
                .collect(),
        };
        b.push(" FROM (SELECT ");
        for (i, (kind, c, _)) in links.iter().enumerate() {
            aliased(b, *kind, n, c);
            b.push(" AS ");
            b.ident(&format!("_l{i}"));
            b.push(", ");
        }
        items(b);
        b.push(" FROM ");
        b.table(&plan.service);
        b.push(" AS ");
        alias(b, 'e', n);
        if let Link::Junction {
            junction,
            child,
            parent,
        } = &self.embed.link
        {
            b.push(" JOIN (SELECT ");
            let renamed = child
                .iter()
                .map(|(_, j)| (j, 'c'))
                .chain(parent.iter().map(|(_, j)| (j, 'p')));
            let (mut nc, mut np) = (0, 0);
            for (i, (j, side)) in renamed.enumerate() {
                if i > 0 {
                    b.push(", ");
                }
                b.ident(j);
                b.push(" AS ");
                let k = if side == 'c' { &mut nc } else { &mut np };
                b.ident(&format!("_{side}{k}"));
                *k += 1;
            }
            b.push(" FROM ");
            b.table(junction);
            b.push(") AS ");
            alias(b, 'j', n);
            b.push(" ON ");
            for (i, (c, _)) in child.iter().enumerate() {
                if i > 0 {
                    b.push(" AND ");
                }
                aliased(b, 'e', n, c);
                b.push(" = ");
                aliased(b, 'j', n, &format!("_c{i}"));
            }
        }
        if let Some(f) = &plan.filter {
            b.push(" WHERE ");
            let outer = b.scope.replace(n);
            write_condition(b, &plan.service, f);
            b.scope = outer;
        }
        b.push(" GROUP BY ");
        for (i, (kind, c, _)) in links.iter().enumerate() {
            if i > 0 {
                b.push(", ");
            }
            aliased(b, *kind, n, c);
        }
        for c in self.grouping() {
            b.push(", ");
            aliased(b, 'e', n, &plan.service.columns[c].name);
        }
        b.push(") AS ");
        alias(b, 'x', n);
        b.push(" WHERE ");
        for (i, (_, _, p)) in links.iter().enumerate() {
            if i > 0 {
                b.push(" AND ");
            }
            aliased(b, 'x', n, &format!("_l{i}"));
            b.push(" = ");
            self.parent.column(b, p);
        }
    }

    /// ` ORDER BY ...` of the embedded rows (nothing for a to-one embed).
    pub fn order_by(&self, b: &mut Builder<'_>) {
        let plan = &self.embed.plan;
        if !self.many() || plan.order.is_empty() {
            return;
        }
        b.push(" ORDER BY ");
        let outer = b.scope.replace(self.n);
        order_list(b, &plan.service, &plan.order);
        b.scope = outer;
    }
}

/// The ORDER BY terms of `order` on `svc` (the table in scope).
pub(super) fn order_list(b: &mut Builder<'_>, svc: &Service, order: &[OrderBy]) {
    let d = b.dialect;
    for (n, o) in order.iter().enumerate() {
        if n > 0 {
            b.push(", ");
        }
        match (&o.related, &o.path) {
            _ if o.aggregate.is_some() => {
                // An aggregate is NULL for a group without values (but a count).
                let mut column = svc.columns[o.column].column.clone();
                column.nullable = o
                    .aggregate
                    .as_ref()
                    .is_some_and(|a| a.function != aggregate::AggregateFunction::Count);
                d.order_term(b, svc, &column, o);
            }
            (Some(r), _) => {
                // The related column is NULL where there is no related row.
                let mut column = r.service.columns[o.column].column.clone();
                column.nullable = true;
                d.order_term(b, svc, &column, o);
            }
            (None, Some(path)) => super::json_order(b, svc, o, path),
            (None, None) => d.order_term(b, svc, &svc.columns[o.column], o),
        }
    }
}

/// What an ORDER BY term sorts by: the column in scope, or for `order=rel(col)` the
/// to-one related row's column.
pub(super) fn order_target(b: &mut Builder<'_>, svc: &Service, column: &Column, o: &OrderBy) {
    if let Some(agg) = &o.aggregate {
        let d = b.dialect;
        return d.aggregate(b, column, agg, AggregateUse::Order);
    }
    let Some(r) = &o.related else {
        return b.qualified(svc, &column.name);
    };
    let n = b.next_alias();
    b.push("(SELECT ");
    aliased(b, 'o', n, &column.name);
    b.push(" FROM ");
    b.table(&r.service);
    b.push(" AS ");
    alias(b, 'o', n);
    b.push(" WHERE ");
    let parent = match b.scope {
        Some(p) => Parent::Alias(p),
        None => Parent::Table(svc),
    };
    equal_to_parent(b, 'o', n, r.pairs.iter().map(|(p, c)| (p, c)), parent);
    b.push(")");
}

/// The condition linking child `_e<n>` to `parent`.
fn link(b: &mut Builder<'_>, link: &Link, parent: Parent<'_>, n: u32) {
    match link {
        Link::ToOne(pairs) | Link::ToMany(pairs) => {
            equal_to_parent(b, 'e', n, pairs.iter().map(|(p, c)| (p, c)), parent);
        }
        Link::Junction {
            junction,
            parent: to_parent,
            child: to_child,
        } => {
            // The child's key among the junction rows of the parent: planners (SQLite's
            // above all) look the children up by key from the junction's rows, where an
            // EXISTS per child row would scan the whole child table.
            let many = to_child.len() > 1;
            let list = |b: &mut Builder<'_>, kind: char, child_side: bool| {
                for (i, (c, j)) in to_child.iter().enumerate() {
                    if i > 0 {
                        b.push(", ");
                    }
                    aliased(b, kind, n, if child_side { c } else { j });
                }
            };
            b.push(if many { "(" } else { "" });
            list(b, 'e', true);
            b.push(if many {
                ") IN (SELECT "
            } else {
                " IN (SELECT "
            });
            list(b, 'j', false);
            b.push(" FROM ");
            b.table(junction);
            b.push(" AS ");
            alias(b, 'j', n);
            b.push(" WHERE ");
            equal_to_parent(b, 'j', n, to_parent.iter().map(|(p, j)| (p, j)), parent);
            b.push(")");
        }
    }
}

/// `EXISTS (SELECT 1 FROM child AS _e<n> WHERE <link> [AND <filter>])` for the row of
/// `svc` in scope.
pub(super) fn exists(b: &mut Builder<'_>, svc: &Service, r: &Related) {
    let parent = match b.scope {
        Some(p) => Parent::Alias(p),
        None => Parent::Table(svc),
    };
    let n = b.next_alias();
    b.push("EXISTS (SELECT 1 FROM ");
    b.table(&r.service);
    b.push(" AS ");
    alias(b, 'e', n);
    b.push(" WHERE ");
    link(b, &r.link, parent, n);
    if let Some(f) = &r.filter {
        b.push(" AND ");
        let outer = b.scope.replace(n);
        write_condition(b, &r.service, f);
        b.scope = outer;
    }
    b.push(")");
}

/// Whether a condition asks for related rows (such statements are not shape-cached).
pub fn has_related(c: &Condition) -> bool {
    match c {
        Condition::Related(_) => true,
        Condition::And(parts) | Condition::Or(parts) => parts.iter().any(has_related),
        Condition::Not(inner) => has_related(inner),
        _ => false,
    }
}
