//! The server state: config + schema cache + database, built in one go and swapped
//! atomically on reload. Building it is where configuration meets introspection, so every
//! check that needs the database (tables, columns, keys) lives here.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Auth;
use crate::config::redact_url;
use crate::config::{Config, ConfigError};
use crate::exec::Database;
use crate::schema::{Method, Owner, Relationship, SchemaCache, Service, ServiceColumn, Table};

pub struct AppState {
    pub config: Config,
    pub cache: SchemaCache,
    pub db: Database,
    /// Token verification (`[auth]`); `None` when authentication is off.
    pub auth: Option<Arc<Auth>>,
    /// The tables' schema fingerprint read just before they were introspected, when the
    /// schema-version check is on (`watch::poll` compares later ones with it).
    pub schema_version: Option<String>,
}

#[derive(Debug)]
pub enum StartupError {
    Config(ConfigError),
    Database(String),
}

impl std::fmt::Display for StartupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartupError::Config(e) => write!(f, "{e}"),
            StartupError::Database(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for StartupError {}

impl From<ConfigError> for StartupError {
    fn from(e: ConfigError) -> Self {
        StartupError::Config(e)
    }
}

fn config_error(
    config: &Config,
    key: impl Into<String>,
    message: impl Into<String>,
) -> StartupError {
    StartupError::Config(ConfigError {
        file: config.file.display().to_string(),
        key: key.into(),
        message: message.into(),
    })
}

/// Open the database, create the schema if asked and needed, introspect every service.
pub async fn build(config: Config) -> Result<AppState, StartupError> {
    // 0 means no timeout (a day stands in for it).
    let timeout = match config.server.request_timeout_ms {
        0 => Duration::from_secs(86_400),
        ms => Duration::from_millis(ms),
    };
    let db = Database::open(&config.database, timeout)
        .await
        .map_err(|m| {
            // The executor words a replica's URL that it cannot use as `replica '...' ...`.
            let key = if m.starts_with("replica ") {
                "database.replicas"
            } else {
                "database.url"
            };
            config_error(&config, key, m)
        })?;
    let names: Vec<String> = config
        .services
        .keys()
        .map(|s| config.table_of(s).to_string())
        .collect();
    // Read before introspecting: a change made in between is then seen as one.
    let schema_version = match config.database.schema_poll() {
        Some(_) => db.schema_version(names.clone()).await.ok(),
        None => None,
    };
    let mut tables = db
        .introspect(names.clone())
        .await
        .map_err(StartupError::Database)?;
    if let Some(path) = &config.init_sql_path {
        if tables.iter().all(Option::is_none) {
            let sql = std::fs::read_to_string(path).map_err(|e| {
                config_error(
                    &config,
                    "database.init_sql",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            db.run_script(sql).await.map_err(|e| {
                config_error(
                    &config,
                    "database.init_sql",
                    format!("{} failed: {e}", path.display()),
                )
            })?;
            tracing::info!(file = %path.display(), "created the schema from init_sql");
            tables = db.introspect(names).await.map_err(StartupError::Database)?;
        }
    }
    let cache = build_cache(&config, tables)?;
    let auth = if config.auth.enabled() {
        let auth = Auth::load(&config.auth)
            .await
            .map_err(|(key, m)| config_error(&config, key, m))?;
        Some(Arc::new(auth))
    } else {
        None
    };
    Ok(AppState {
        config,
        cache,
        db,
        auth,
        schema_version,
    })
}

fn effective_max_rows(server: u64, service: Option<u64>) -> u64 {
    match (server, service) {
        (s, None) | (s, Some(0)) => s,
        (0, Some(v)) => v,
        (s, Some(v)) => s.min(v),
    }
}

fn build_cache(config: &Config, tables: Vec<Option<Table>>) -> Result<SchemaCache, StartupError> {
    let mut services = BTreeMap::new();
    for ((name, sc), table) in config.services.iter().zip(tables) {
        let key = format!("services.{name}");
        let table_name = config.table_of(name);
        let Some(table) = table else {
            let k = if sc.table.is_some() {
                format!("{key}.table")
            } else {
                key.clone()
            };
            return Err(config_error(
                config,
                k,
                format!(
                    "table '{table_name}' does not exist in {}",
                    redact_url(&config.database.url)
                ),
            ));
        };
        for (what, list) in [("hidden", &sc.hidden), ("read_only", &sc.read_only)] {
            for c in list {
                if table.column(c).is_none() {
                    return Err(config_error(
                        config,
                        format!("{key}.{what}"),
                        format!("column '{c}' does not exist in table '{table_name}'"),
                    ));
                }
            }
        }
        let primary_key = match &sc.primary_key {
            Some(pk) => {
                for c in pk {
                    if table.column(c).is_none() {
                        return Err(config_error(
                            config,
                            format!("{key}.primary_key"),
                            format!("column '{c}' does not exist in table '{table_name}'"),
                        ));
                    }
                }
                pk.clone()
            }
            None => table.primary_key.clone(),
        };
        if let Some(c) = primary_key.iter().find(|c| sc.hidden.contains(c)) {
            return Err(config_error(
                config,
                format!("{key}.hidden"),
                format!("'{c}' is part of the primary key of '{table_name}' and cannot be hidden"),
            ));
        }
        let columns: Vec<ServiceColumn> = table
            .columns
            .iter()
            .filter(|c| !sc.hidden.contains(&c.name))
            .map(|c| {
                if c.unknown_type {
                    tracing::warn!(
                        service = %name,
                        column = %c.name,
                        declared_type = %c.declared_type,
                        "unknown column type, served as a string"
                    );
                }
                let mut column = c.clone();
                if sc.owner_column.as_deref() == Some(c.name.as_str()) {
                    // The server fills it from the token: a body need not send it.
                    column.has_default = true;
                }
                ServiceColumn {
                    column,
                    read_only: sc.read_only.contains(&c.name) || c.generated,
                    key_position: primary_key.iter().position(|k| k == &c.name),
                }
            })
            .collect();
        let methods: Vec<Method> = match &sc.methods {
            Some(list) => {
                let mut m: Vec<Method> = list.iter().filter_map(|s| Method::parse(s)).collect();
                m.sort();
                m.dedup();
                m
            }
            None => Method::ALL.to_vec(),
        };
        let owner = match &sc.owner_column {
            Some(c) => {
                let Some(column) = columns.iter().position(|sc| sc.column.name == *c) else {
                    let why = if table.column(c).is_some() {
                        "is hidden: the owner column must be visible (make it read_only to keep clients from setting it)"
                    } else {
                        "does not exist"
                    };
                    return Err(config_error(
                        config,
                        format!("{key}.owner_column"),
                        format!("column '{c}' of table '{table_name}' {why}"),
                    ));
                };
                Some(Owner {
                    column,
                    claim: sc.owner_claim.clone().unwrap_or_else(|| "sub".into()),
                })
            }
            None => None,
        };
        let roles = sc.roles.as_ref().map(|roles| {
            roles
                .iter()
                .map(|(role, ms)| {
                    let mut ms: Vec<Method> = ms.iter().filter_map(|m| Method::parse(m)).collect();
                    ms.sort();
                    ms.dedup();
                    (role.clone(), ms)
                })
                .collect()
        });
        let mut svc = Service::new(
            name.clone(),
            table,
            columns,
            primary_key,
            methods,
            effective_max_rows(config.server.max_rows, sc.max_rows),
            sc.allow_unfiltered_writes,
        )
        .map_err(|e| config_error(config, key.clone(), format!("internal schema error: {e}")))?;
        svc.roles = roles;
        svc.owner = owner;
        svc.aggregates = sc.aggregates.unwrap_or(config.server.aggregates);
        services.insert(name.clone(), svc);
    }
    link_relationships(&mut services);
    Ok(SchemaCache {
        services: services
            .into_iter()
            .map(|(k, v)| (k, Arc::new(v)))
            .collect(),
    })
}

/// A junction's many-to-one: target service, column pairs, constraint.
type ToOne<'a> = (&'a String, &'a Vec<(String, String)>, &'a String);

/// Foreign keys between exposed services become relationships for embedding.
fn link_relationships(services: &mut BTreeMap<String, Service>) {
    let names: Vec<String> = services.keys().cloned().collect();
    let visible = |svc: &Service, cols: &[String]| cols.iter().all(|c| svc.column(c).is_some());
    let mut found: Vec<(String, Relationship)> = Vec::new();
    for child_name in &names {
        let child = &services[child_name];
        for fk in &child.table.foreign_keys {
            if !visible(child, &fk.columns) {
                continue;
            }
            for parent_name in &names {
                let parent = &services[parent_name];
                let same_table = parent
                    .table
                    .bare_name
                    .eq_ignore_ascii_case(&fk.referenced_table)
                    || parent.table.name.eq_ignore_ascii_case(&fk.referenced_table);
                if !same_table || !visible(parent, &fk.referenced_columns) {
                    continue;
                }
                let pairs: Vec<(String, String)> = fk
                    .columns
                    .iter()
                    .cloned()
                    .zip(fk.referenced_columns.iter().cloned())
                    .collect();
                found.push((
                    child_name.clone(),
                    Relationship::ManyToOne {
                        target: parent_name.clone(),
                        constraint: fk.name.clone(),
                        columns: pairs.clone(),
                    },
                ));
                found.push((
                    parent_name.clone(),
                    Relationship::OneToMany {
                        target: child_name.clone(),
                        constraint: fk.name.clone(),
                        columns: pairs.iter().map(|(a, b)| (b.clone(), a.clone())).collect(),
                    },
                ));
            }
        }
    }
    // Junctions: a service with two foreign keys whose columns are all in its key.
    for junction_name in &names {
        let j = &services[junction_name];
        let to_one: Vec<ToOne<'_>> = found
            .iter()
            .filter(|(owner, _)| owner == junction_name)
            .filter_map(|(_, r)| match r {
                Relationship::ManyToOne {
                    target,
                    constraint,
                    columns,
                } if columns.iter().all(|(c, _)| j.primary_key.contains(c)) => {
                    Some((target, columns, constraint))
                }
                _ => None,
            })
            .collect();
        let mut m2m = Vec::new();
        for (a, (ta, ca, na)) in to_one.iter().enumerate() {
            for (b, (tb, cb, nb)) in to_one.iter().enumerate() {
                if a == b {
                    continue;
                }
                m2m.push((
                    (*ta).clone(),
                    Relationship::ManyToMany {
                        target: (*tb).clone(),
                        junction: junction_name.clone(),
                        source_constraint: (*na).clone(),
                        target_constraint: (*nb).clone(),
                        source_columns: ca.iter().map(|(j, s)| (s.clone(), j.clone())).collect(),
                        target_columns: cb.iter().map(|(j, t)| (t.clone(), j.clone())).collect(),
                    },
                ));
            }
        }
        found.extend(m2m);
    }
    for (owner, rel) in found {
        if let Some(s) = services.get_mut(&owner) {
            s.relationships.push(rel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::effective_max_rows;

    #[test]
    fn max_rows() {
        assert_eq!(effective_max_rows(1000, None), 1000);
        assert_eq!(effective_max_rows(1000, Some(200)), 200);
        assert_eq!(effective_max_rows(0, Some(200)), 200);
        assert_eq!(effective_max_rows(100, Some(200)), 100);
        assert_eq!(effective_max_rows(0, None), 0);
    }
}
