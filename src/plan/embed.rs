//! Embedding (SPEC 4.6): `select=title,artists(name),tracks(name)` resolved against the
//! relationships of the schema cache into nested read plans, with each embed's own
//! filters, order, limit and offset (`tracks.order=name`), `!inner`, and filters on an
//! embed itself (`tracks=not.is.null`). Knows the schema cache, never SQL or HTTP.

use std::sync::Arc;

use serde_json::json;

use super::{unknown_column, Condition, ReadPlan, Selected};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::request::ast::{QueryParams, SelectItem};
use crate::schema::{Relationship, SchemaCache, Service};

/// Deepest nesting of embeds (`a(b(c(d)))` is 3).
pub const MAX_DEPTH: usize = 8;
/// Most embeds in one request, at every level together.
pub const MAX_EMBEDS: usize = 32;

/// How a child row is found from its parent row. Column names come from the schema cache.
#[derive(Debug, Clone)]
pub enum Link {
    /// The parent holds the foreign key: at most one child (`albums` -> `artists`).
    /// Pairs (parent column, child column).
    ToOne(Vec<(String, String)>),
    /// The child holds the foreign key: any number of children (`artists` -> `albums`).
    /// Pairs (parent column, child column).
    ToMany(Vec<(String, String)>),
    /// Through a junction service (`playlists` -> `tracks` through `playlist_tracks`).
    Junction {
        junction: Arc<Service>,
        /// Pairs (parent column, junction column).
        parent: Vec<(String, String)>,
        /// Pairs (child column, junction column).
        child: Vec<(String, String)>,
    },
}

/// The same service (one schema cache holds one `Service` per name).
fn same(a: &Arc<Service>, b: &Arc<Service>) -> bool {
    Arc::ptr_eq(a, b)
}

impl PartialEq for Link {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Link::ToOne(a), Link::ToOne(b)) | (Link::ToMany(a), Link::ToMany(b)) => a == b,
            (
                Link::Junction {
                    junction: j1,
                    parent: p1,
                    child: c1,
                },
                Link::Junction {
                    junction: j2,
                    parent: p2,
                    child: c2,
                },
            ) => same(j1, j2) && p1 == p2 && c1 == c2,
            _ => false,
        }
    }
}

impl PartialEq for Related {
    fn eq(&self, other: &Self) -> bool {
        same(&self.service, &other.service)
            && self.link == other.link
            && self.filter == other.filter
    }
}

impl PartialEq for RelatedOrder {
    fn eq(&self, other: &Self) -> bool {
        same(&self.service, &other.service) && self.pairs == other.pairs
    }
}

impl Link {
    pub fn to_one(&self) -> bool {
        matches!(self, Link::ToOne(_))
    }
}

/// Rows of another service related to each parent row.
#[derive(Debug, Clone)]
pub struct Embed {
    /// The key it is written under (the alias, or the relation's name).
    pub output: String,
    /// The name it was asked for by (`artists` in `artist:artists(name)`).
    pub relation: String,
    /// Output position: the number of the parent's selected columns before it.
    pub position: usize,
    pub link: Link,
    /// The child read: its columns, nested embeds, filter, order, limit and offset.
    pub plan: ReadPlan,
    /// `rel()`: used only to filter the parents, not written.
    pub shown: bool,
    /// `rel(count)`: the number of related rows, as `[{"count": n}]` (PostgREST's legacy
    /// count, which Supabase clients use).
    pub count: bool,
    /// `...rel(cols)`: a to-one embed whose columns are written into the parent row.
    pub spread: bool,
}

/// A parent condition on related rows: `EXISTS` (or `NOT EXISTS`) a child row linked to
/// the parent and matching `filter` (`!inner`, `tracks=not.is.null`, `tracks=is.null`).
#[derive(Debug, Clone)]
pub struct Related {
    pub service: Arc<Service>,
    pub link: Link,
    pub filter: Option<Condition>,
}

/// An `order=rel(col)` term: the column of a to-one embed.
#[derive(Debug, Clone)]
pub struct RelatedOrder {
    pub service: Arc<Service>,
    /// Pairs (parent column, child column).
    pub pairs: Vec<(String, String)>,
}

fn no_relationship(svc: &Service, relation: &str) -> ApiError {
    ApiError::NoRelationship {
        message: format!(
            "Could not find a relationship between '{}' and '{relation}' in the schema cache",
            svc.name
        ),
        hint: Some(
            "Only foreign keys between services of services.toml can be embedded (GET / lists the services); a junction table must be a service too, possibly with methods = []".into(),
        ),
    }
}

fn cardinality(r: &Relationship) -> &'static str {
    match r {
        Relationship::ManyToOne { .. } => "many-to-one",
        Relationship::OneToMany { .. } => "one-to-many",
        Relationship::ManyToMany { .. } => "many-to-many",
    }
}

fn constraint_of(r: &Relationship) -> &str {
    match r {
        Relationship::ManyToOne { constraint, .. } | Relationship::OneToMany { constraint, .. } => {
            constraint
        }
        Relationship::ManyToMany { junction, .. } => junction,
    }
}

fn target_of(r: &Relationship) -> &str {
    match r {
        Relationship::ManyToOne { target, .. }
        | Relationship::OneToMany { target, .. }
        | Relationship::ManyToMany { target, .. } => target,
    }
}

/// Whether `hint` (after `!`) picks `r`: its constraint, one of its columns, or its
/// junction.
fn hint_matches(svc: &Service, r: &Relationship, hint: &str) -> bool {
    match r {
        Relationship::ManyToOne {
            constraint,
            columns,
            ..
        } => constraint == hint || columns.iter().any(|(a, b)| a == hint || b == hint),
        Relationship::OneToMany {
            constraint,
            columns,
            target,
        } => {
            constraint == hint
                // For a table referencing itself a column names the to-one side.
                || (*target != svc.name && columns.iter().any(|(a, b)| a == hint || b == hint))
        }
        Relationship::ManyToMany {
            junction,
            source_constraint,
            target_constraint,
            ..
        } => junction == hint || source_constraint == hint || target_constraint == hint,
    }
}

/// The relationship `relation!hint` names from `svc`: by target service, by constraint
/// name, or by foreign key column (`artist_id(name)`).
fn find_relationship<'s>(
    svc: &'s Service,
    relation: &str,
    hint: Option<&str>,
) -> ApiResult<&'s Relationship> {
    let rels = &svc.relationships;
    let mut found: Vec<&Relationship> = rels.iter().filter(|r| target_of(r) == relation).collect();
    if found.is_empty() {
        found = rels
            .iter()
            .filter(|r| match r {
                Relationship::ManyToOne {
                    constraint,
                    columns,
                    ..
                } => constraint == relation || (columns.len() == 1 && columns[0].0 == relation),
                Relationship::OneToMany { constraint, .. } => constraint == relation,
                _ => false,
            })
            .collect();
    }
    if let Some(hint) = hint {
        found.retain(|r| hint_matches(svc, r, hint));
    } else if found.len() > 1 && found.iter().all(|r| target_of(r) == svc.name) {
        // A table referencing itself, without a hint: `employees(name)` are the rows
        // that reference this one (the children), as in PostgREST.
        found.retain(|r| matches!(r, Relationship::OneToMany { .. }));
    }
    match found.len() {
        0 => Err(no_relationship(svc, relation)),
        1 => Ok(found[0]),
        _ => {
            let details: Vec<serde_json::Value> = found
                .iter()
                .map(|r| {
                    json!({
                        "cardinality": cardinality(r),
                        "embedding": format!("{} with {}", svc.name, target_of(r)),
                        "relationship": constraint_of(r),
                    })
                })
                .collect();
            let options: Vec<String> = found
                .iter()
                .map(|r| format!("'{relation}!{}'", constraint_of(r)))
                .collect();
            Err(ApiError::AmbiguousEmbed {
                message: format!(
                    "Could not embed because more than one relationship was found for '{}' and '{relation}'",
                    svc.name
                ),
                details: serde_json::Value::Array(details),
                hint: format!(
                    "Try changing '{relation}' to one of the following: {}. Find the desired relationship in the 'details' key.",
                    options.join(", ")
                ),
            })
        }
    }
}

fn service<'c>(cache: &'c SchemaCache, name: &str) -> ApiResult<&'c Arc<Service>> {
    cache
        .service(name)
        .ok_or_else(|| ApiError::internal(format!("relationship to unknown service {name}")))
}

/// The target service and link of a relationship.
fn link_of(cache: &SchemaCache, r: &Relationship) -> ApiResult<(Arc<Service>, Link)> {
    Ok(match r {
        Relationship::ManyToOne {
            target, columns, ..
        } => (
            Arc::clone(service(cache, target)?),
            Link::ToOne(columns.clone()),
        ),
        Relationship::OneToMany {
            target, columns, ..
        } => (
            Arc::clone(service(cache, target)?),
            Link::ToMany(columns.clone()),
        ),
        Relationship::ManyToMany {
            target,
            junction,
            source_columns,
            target_columns,
            ..
        } => (
            Arc::clone(service(cache, target)?),
            Link::Junction {
                junction: Arc::clone(service(cache, junction)?),
                parent: source_columns.clone(),
                child: target_columns.clone(),
            },
        ),
    })
}

/// Counts embeds across a request, to bound it.
pub(super) struct Budget {
    embeds: usize,
}

impl Budget {
    pub(super) fn new() -> Self {
        Budget { embeds: 0 }
    }
}

/// The embeds of `items` (a `select` list of `svc`, at `path`), each resolved with its
/// parameters from `q`. `selected` are the columns resolved so far at this level, for
/// positions.
#[allow(clippy::too_many_arguments)]
pub(super) fn resolve(
    cache: &SchemaCache,
    svc: &Arc<Service>,
    items: &[SelectItem],
    q: &QueryParams,
    path: &[String],
    budget: &mut Budget,
    positions: &[usize],
    caller: &Caller,
) -> ApiResult<Vec<Embed>> {
    let mut out = Vec::new();
    let mut n = 0usize;
    for item in items {
        let SelectItem::Embed {
            relation,
            alias,
            hint,
            spread,
            items: sub,
            ..
        } = item
        else {
            continue;
        };
        let position = positions.get(n).copied().unwrap_or(0);
        n += 1;
        if path.len() >= MAX_DEPTH {
            return Err(ApiError::bad_filter(
                format!("embeds are nested more than {MAX_DEPTH} levels deep"),
                None,
            ));
        }
        budget.embeds += 1;
        if budget.embeds > MAX_EMBEDS {
            return Err(ApiError::bad_filter(
                format!("a request may embed at most {MAX_EMBEDS} resources"),
                None,
            ));
        }
        let rel = find_relationship(svc, relation, hint.as_deref())?;
        let (child, link) = link_of(cache, rel)?;
        let output = alias.clone().unwrap_or_else(|| relation.clone());
        let mut child_path = path.to_vec();
        child_path.push(output.clone());
        // `rel(count)`: PostgREST's legacy count of related rows.
        let count = matches!(
            sub.as_slice(),
            [SelectItem::Column { name, alias: None, cast: None, path }]
                if name == "count" && path.is_empty() && child.column("count").is_none()
        );
        let sub_items: &[SelectItem] = if count { &[] } else { sub };
        let plan = super::level_plan(
            cache,
            &child,
            Some(sub_items),
            q,
            &child_path,
            Some(relation.as_str()),
            budget,
            caller,
        )?;
        if *spread {
            let why = if !link.to_one() {
                Some("only a to-one embed (an object) can be spread into its parent")
            } else if !path.is_empty() {
                Some("a spread is allowed at the top level of select only")
            } else if !plan.embeds.is_empty() || count || super::aggregate::aggregated(&plan.select)
            {
                Some("a spread takes columns only")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(ApiError::bad_filter(
                    format!("cannot spread '{relation}': {why}"),
                    None,
                ));
            }
        }
        let embed = Embed {
            output,
            relation: relation.clone(),
            position,
            link,
            plan,
            shown: !sub.is_empty(),
            count,
            spread: *spread,
        };
        if out
            .iter()
            .any(|e: &Embed| e.output == embed.output && e.shown && embed.shown)
        {
            return Err(ApiError::bad_filter(
                format!(
                    "'{}' is embedded twice: give each one an alias (other:{}(...))",
                    embed.output, embed.relation
                ),
                None,
            ));
        }
        out.push(embed);
    }
    Ok(out)
}

/// `!inner` embeds: the parents must have a related row matching the embed's filter.
pub(super) fn inner_conditions(items: &[SelectItem], embeds: &[Embed]) -> Vec<Condition> {
    let mut out = Vec::new();
    let inner_outputs = items.iter().filter_map(|i| match i {
        SelectItem::Embed {
            relation,
            alias,
            inner: true,
            ..
        } => Some(alias.clone().unwrap_or_else(|| relation.clone())),
        _ => None,
    });
    for output in inner_outputs {
        if let Some(e) = embeds.iter().find(|e| e.output == output) {
            out.push(related_condition(e));
        }
    }
    out
}

/// `EXISTS` a related row of `e` matching its filter.
pub(super) fn related_condition(e: &Embed) -> Condition {
    Condition::Related(Box::new(Related {
        service: Arc::clone(&e.plan.service),
        link: e.link.clone(),
        filter: e.plan.filter.clone(),
    }))
}

/// The embed a name in a filter, order or parameter path refers to: by its output name,
/// or by the relation's name.
pub(super) fn find<'e>(embeds: &'e [Embed], name: &str) -> Option<&'e Embed> {
    embeds
        .iter()
        .find(|e| e.output == name)
        .or_else(|| embeds.iter().find(|e| e.relation == name))
}

/// `order=rel(col)`: a column of a to-one embed.
pub(super) fn related_order(
    embeds: &[Embed],
    relation: &str,
    column: &str,
) -> ApiResult<(usize, Arc<Service>, RelatedOrder)> {
    let Some(e) = find(embeds, relation) else {
        return Err(super::not_embedded(relation));
    };
    let Link::ToOne(pairs) = &e.link else {
        return Err(ApiError::bad_filter(
            format!("A related order on '{relation}' is not possible"),
            Some("Only a to-one embed (an object, not an array) can order its parents".into()),
        ));
    };
    let svc = &e.plan.service;
    let index = svc
        .column_index(column)
        .ok_or_else(|| unknown_column(svc, column))?;
    Ok((
        index,
        Arc::clone(svc),
        RelatedOrder {
            service: Arc::clone(svc),
            pairs: pairs.clone(),
        },
    ))
}

/// Output order of a plan's columns and embeds.
pub enum Output<'p> {
    Column(&'p Selected),
    Embed(&'p Embed),
    /// A column of a spread embed, in the parent row.
    Spread(&'p Embed, &'p Selected),
}

/// The columns and shown embeds of `plan` in output order.
pub fn outputs<'p>(plan: &'p ReadPlan) -> Vec<Output<'p>> {
    let mut out = Vec::with_capacity(plan.select.len() + plan.embeds.len());
    let mut embeds = plan.embeds.iter().filter(|e| e.shown).peekable();
    let push = |out: &mut Vec<Output<'p>>, e: &'p Embed| {
        if e.spread {
            out.extend(e.plan.select.iter().map(|s| Output::Spread(e, s)));
        } else {
            out.push(Output::Embed(e));
        }
    };
    for (i, s) in plan.select.iter().enumerate() {
        while let Some(e) = embeds.next_if(|e| e.position <= i) {
            push(&mut out, e);
        }
        out.push(Output::Column(s));
    }
    for e in embeds {
        push(&mut out, e);
    }
    out
}
