//! The schema cache: what restable knows about every exposed table, built once at
//! start-up (and on reload) by introspection plus `services.toml`. It knows nothing about
//! HTTP or SQL text; every identifier a plan uses is a reference into these types.

pub mod json_schema;
pub mod mysql;
pub mod postgres;
pub mod sqlite;
pub mod types;

use std::collections::BTreeMap;
use std::sync::Arc;

/// How a column's values are represented in JSON and bound as SQL parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// INTEGER, INT, BIGINT, SMALLINT, ... : JSON integer, exact to 64 bits.
    Integer,
    /// REAL, FLOAT, DOUBLE: JSON number.
    Float,
    /// NUMERIC, DECIMAL: JSON number whose decimal digits are preserved exactly.
    Decimal,
    /// BOOLEAN (SQLite/MySQL BOOLEAN/BOOL/TINYINT(1)): true/false.
    Boolean,
    /// TEXT, VARCHAR, CHAR, ENUM and every type we do not know.
    Text,
    /// DATE: `YYYY-MM-DD`.
    Date,
    /// TIME: `HH:MM:SS[.fff]`.
    Time,
    /// TIMESTAMP / DATETIME without a zone: `YYYY-MM-DDTHH:MM:SS[.ffffff]`.
    Timestamp,
    /// TIMESTAMPTZ: ISO-8601 with an offset.
    TimestampTz,
    /// UUID: canonical hyphenated string.
    Uuid,
    /// JSON / JSONB: any JSON value, stored and returned as JSON.
    Json,
    /// BLOB / BYTEA / BINARY: base64 string.
    Bytes,
    /// A PostgreSQL array (`text[]`, `integer[]`, ...): a JSON array in answers and
    /// bodies (nested for more dimensions, `null` elements kept); an array literal
    /// (`{a,b}`) in filters. Its elements' kind is `Column::array_element`.
    Array,
    /// A PostgreSQL range or multirange (`int4range`, `tstzrange`, ...): its text form
    /// (`"[1,10)"`) in answers, bodies and filters.
    Range,
}

impl ValueKind {
    /// The JSON Schema `type` of a non-null value of this kind.
    pub fn json_type(self) -> Option<&'static str> {
        match self {
            ValueKind::Integer => Some("integer"),
            ValueKind::Float | ValueKind::Decimal => Some("number"),
            ValueKind::Boolean => Some("boolean"),
            ValueKind::Json => None,
            ValueKind::Array => Some("array"),
            _ => Some("string"),
        }
    }

    /// The JSON Schema `format` of this kind's strings, where one applies.
    pub fn json_format(self) -> Option<&'static str> {
        match self {
            ValueKind::Date => Some("date"),
            ValueKind::Time => Some("time"),
            ValueKind::Timestamp | ValueKind::TimestampTz => Some("date-time"),
            ValueKind::Uuid => Some("uuid"),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// The type as the database declares it (e.g. `NUMERIC(10,2)`, `varchar(40)`).
    pub declared_type: String,
    pub kind: ValueKind,
    /// True when the declared type was not recognised (served as a string).
    pub unknown_type: bool,
    pub nullable: bool,
    /// The column has a DEFAULT (including identity/auto-increment/rowid alias).
    pub has_default: bool,
    /// The default's SQL expression as the database reports it (e.g. `0.99`,
    /// `CURRENT_TIMESTAMP`), used to reset a column when a PUT omits it.
    pub default_sql: Option<String>,
    /// The database computes the value (GENERATED ALWAYS ... AS): never writable.
    pub generated: bool,
    /// Identity / auto-increment / INTEGER PRIMARY KEY rowid alias.
    pub auto_increment: bool,
    /// `VARCHAR(n)` / `CHAR(n)` length when known.
    pub max_length: Option<u32>,
    /// ENUM values when the type is an enumeration.
    pub enum_values: Option<Vec<String>>,
}

impl Column {
    /// The kind of an array column's elements, from its declared type (`integer[]` ->
    /// integer); `None` for other columns, and text for elements of a type restable does
    /// not know (an enum's, a domain's).
    pub fn array_element(&self) -> Option<ValueKind> {
        if self.kind != ValueKind::Array {
            return None;
        }
        let base = self.declared_type.trim().trim_end_matches("[]").trim();
        Some(types::value_kind(base).0)
    }

    /// A nullable column without default or constraints (its kind given), e.g. for a
    /// column whose details do not matter, and in tests.
    pub fn plain(name: &str, declared_type: &str, kind: ValueKind) -> Column {
        Column {
            name: name.into(),
            declared_type: declared_type.into(),
            kind,
            unknown_type: false,
            nullable: true,
            has_default: false,
            default_sql: None,
            generated: false,
            auto_increment: false,
            max_length: None,
            enum_values: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ForeignKey {
    /// Constraint name (SQLite has none: we synthesise `{table}_{cols}_fkey` like PostgreSQL).
    pub name: String,
    pub columns: Vec<String>,
    /// Referenced table name as the database names it (schema-qualified where that applies).
    pub referenced_table: String,
    pub referenced_columns: Vec<String>,
}

/// One table or view as introspected, before `services.toml` shapes it.
#[derive(Debug, Clone)]
pub struct Table {
    /// Name as written in `table =` (e.g. `tracks`, `public.tracks`).
    pub name: String,
    /// Optional schema (PostgreSQL) and bare name, used to quote the identifier.
    pub schema: Option<String>,
    pub bare_name: String,
    pub is_view: bool,
    pub columns: Vec<Column>,
    /// Primary key column names in key order (empty when none).
    pub primary_key: Vec<String>,
    /// Unique constraints (each a list of column names), primary key not included.
    pub unique: Vec<Vec<String>>,
    pub foreign_keys: Vec<ForeignKey>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// An HTTP method a service can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    Get,
    Post,
    Patch,
    Put,
    Delete,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::Get,
        Method::Post,
        Method::Patch,
        Method::Put,
        Method::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        match s.to_ascii_uppercase().as_str() {
            "GET" => Some(Method::Get),
            "POST" => Some(Method::Post),
            "PATCH" => Some(Method::Patch),
            "PUT" => Some(Method::Put),
            "DELETE" => Some(Method::Delete),
            _ => None,
        }
    }
}

/// A column as a service exposes it. Hidden columns are not in a service at all.
#[derive(Debug, Clone)]
pub struct ServiceColumn {
    pub column: Column,
    /// May be read, never written (configured `read_only`, or generated by the database).
    pub read_only: bool,
    /// Position in the service's primary key, if part of it.
    pub key_position: Option<usize>,
}

impl std::ops::Deref for ServiceColumn {
    type Target = Column;
    fn deref(&self) -> &Column {
        &self.column
    }
}

/// How one service relates to another through a foreign key, for embedding.
#[derive(Debug, Clone)]
pub enum Relationship {
    /// This service holds the foreign key: embedding yields one object or null.
    ManyToOne {
        target: String,
        constraint: String,
        /// Pairs (column on this service, column on the target).
        columns: Vec<(String, String)>,
    },
    /// The target holds a foreign key to this service: embedding yields an array.
    OneToMany {
        target: String,
        constraint: String,
        /// Pairs (column on this service, column on the target).
        columns: Vec<(String, String)>,
    },
    /// Through a junction service whose key columns are foreign keys to both sides.
    ManyToMany {
        target: String,
        junction: String,
        /// Constraint from the junction to this service, and to the target.
        source_constraint: String,
        target_constraint: String,
        /// Pairs (column on this service, column on the junction).
        source_columns: Vec<(String, String)>,
        /// Pairs (column on the target, column on the junction).
        target_columns: Vec<(String, String)>,
    },
}

/// One exposed service: a table (or view) shaped by its `[services.NAME]` section.
#[derive(Debug)]
pub struct Service {
    /// URL segment.
    pub name: String,
    pub table: Table,
    /// Visible columns in table order (hidden ones removed).
    pub columns: Vec<ServiceColumn>,
    /// Primary key (from the table or the `primary_key` setting), as column names.
    pub primary_key: Vec<String>,
    pub methods: Vec<Method>,
    /// Effective row cap for reads (0 = none): min of server and service caps.
    pub max_rows: u64,
    /// Aggregate functions may be used in `select` over this service's rows
    /// (`aggregates` of its section, else of `[server]`).
    pub aggregates: bool,
    pub allow_unfiltered_writes: bool,
    pub relationships: Vec<Relationship>,
    /// `[services.X.roles]`: the methods each role may use; `None`: every role, every
    /// method of `methods`.
    pub roles: Option<BTreeMap<String, Vec<Method>>>,
    /// Row ownership: the column (index into `columns`) that must equal the claim.
    pub owner: Option<Owner>,
    /// The row's JSON Schema (draft 2020-12), derived from `columns`.
    pub json_schema: serde_json::Value,
    /// Checks body objects: types, lengths, enums (no `required`: absence is checked
    /// per write mode, with the missing key's own path).
    pub validator: jsonschema::Validator,
    /// Every column under its own name, ready for the encoder: what a read without
    /// `select` answers, built once here instead of per request.
    pub(crate) all_out: Arc<[crate::response::OutColumn]>,
    /// The SQL text of each statement shape seen (filled by `sql`, dropped with the
    /// service on reload).
    pub(crate) statements: crate::sql::ShapeCache,
}

impl Service {
    /// A service showing `columns` of `table`: derives the row's JSON Schema, the body
    /// validator and the encoder columns. Relationships are linked afterwards.
    pub fn new(
        name: String,
        table: Table,
        columns: Vec<ServiceColumn>,
        primary_key: Vec<String>,
        methods: Vec<Method>,
        max_rows: u64,
        allow_unfiltered_writes: bool,
    ) -> Result<Service, String> {
        let json_schema = json_schema::row_schema(&name, &columns, &primary_key);
        let validator = body_validator(&json_schema)?;
        let all_out = crate::response::out_columns(
            columns.iter().map(|c| (c.column.name.as_str(), &c.column)),
        );
        Ok(Service {
            name,
            table,
            columns,
            primary_key,
            methods,
            max_rows,
            aggregates: false,
            allow_unfiltered_writes,
            relationships: Vec::new(),
            roles: None,
            owner: None,
            json_schema,
            validator,
            all_out,
            statements: Default::default(),
        })
    }

    pub fn column(&self, name: &str) -> Option<&ServiceColumn> {
        self.columns.iter().find(|c| c.column.name == name)
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.column.name == name)
    }

    pub fn allows(&self, m: Method) -> bool {
        self.methods.contains(&m)
    }

    /// Whether `role` may use method `m` here (`None`: authentication is off).
    pub fn permits(&self, role: Option<&str>, m: Method) -> bool {
        match (&self.roles, role) {
            (None, _) => true,
            (Some(roles), Some(role)) => roles.get(role).is_some_and(|ms| ms.contains(&m)),
            (Some(_), None) => false,
        }
    }

    /// The methods `role` may use here: `methods`, narrowed by `roles`.
    pub fn methods_for(&self, role: Option<&str>) -> Vec<Method> {
        self.methods
            .iter()
            .copied()
            .filter(|m| self.roles.is_none() || self.permits(role, *m))
            .collect()
    }
}

/// Row ownership of a service: rows whose `column` equals the caller's `claim`.
#[derive(Debug, Clone)]
pub struct Owner {
    /// Index into the service's columns.
    pub column: usize,
    /// Dotted path of the claim in the token (`sub`, `app_metadata.tenant`).
    pub claim: String,
}

/// Every service by name. Immutable once built; a reload builds a new one.
#[derive(Debug, Default)]
pub struct SchemaCache {
    pub services: BTreeMap<String, Arc<Service>>,
}

impl SchemaCache {
    pub fn service(&self, name: &str) -> Option<&Arc<Service>> {
        self.services.get(name)
    }
}

/// The schema bodies are checked with: the row schema without `required` (absence is
/// checked per write mode) and without `additionalProperties` (unknown keys are reported
/// by name, hidden ones exactly like ones that do not exist).
fn body_validator(row: &serde_json::Value) -> Result<jsonschema::Validator, String> {
    let mut schema = json_schema::patch_schema(row);
    if let serde_json::Value::Object(m) = &mut schema {
        m.remove("additionalProperties");
    }
    jsonschema::validator_for(&schema).map_err(|e| e.to_string())
}

/// A service `t` over `columns` for unit tests: key `id`, every method, no row cap; the
/// columns named in `read_only` may be read, never written.
#[cfg(test)]
pub(crate) fn test_service(columns: Vec<Column>, read_only: &[&str]) -> Arc<Service> {
    test_service_hiding(columns, read_only, &[])
}

/// As `test_service`, with the columns named in `hidden` in the table but not the service.
#[cfg(test)]
pub(crate) fn test_service_hiding(
    columns: Vec<Column>,
    read_only: &[&str],
    hidden: &[&str],
) -> Arc<Service> {
    let primary_key = vec!["id".to_string()];
    let table = Table {
        name: "t".into(),
        schema: None,
        bare_name: "t".into(),
        is_view: false,
        columns: columns.clone(),
        primary_key: primary_key.clone(),
        unique: Vec::new(),
        foreign_keys: Vec::new(),
    };
    let columns = columns
        .into_iter()
        .filter(|c| !hidden.contains(&c.name.as_str()))
        .map(|c| ServiceColumn {
            key_position: (c.name == "id").then_some(0),
            read_only: read_only.contains(&c.name.as_str()),
            column: c,
        })
        .collect();
    let svc = Service::new(
        "t".into(),
        table,
        columns,
        primary_key,
        Method::ALL.to_vec(),
        0,
        false,
    );
    Arc::new(svc.expect("service"))
}

/// `t (id integer, name text, price numeric(4,2) NULL)` through `test_service`: the table the
/// SQL shape and SQLite executor tests share.
#[cfg(test)]
pub(crate) fn sample_service() -> Arc<Service> {
    let columns = vec![
        Column::plain("id", "integer", ValueKind::Integer),
        Column::plain("name", "text", ValueKind::Text),
        Column {
            nullable: true,
            ..Column::plain("price", "numeric(4,2)", ValueKind::Decimal)
        },
    ];
    test_service(columns, &[])
}
