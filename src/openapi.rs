//! The OpenAPI 3.1 document of the API, generated from the schema cache: one path per
//! service (and per service item when it has a primary key) with only the methods the
//! service allows, its query grammar, Prefer/Range headers and the row JSON Schemas.

use serde_json::{json, Map, Value};

use crate::schema::json_schema::{patch_schema, DIALECT};
use crate::schema::{Method, SchemaCache, Service, ServiceColumn, ValueKind};

/// Query parameter names the grammar reserves: a column with one of these names cannot
/// be documented as a filter parameter under its bare name.
const RESERVED: &[&str] = &[
    "select",
    "order",
    "limit",
    "offset",
    "or",
    "and",
    "columns",
    "on_conflict",
];

const FILTER_OPERATORS: &str =
    "eq, neq, gt, gte, lt, lte, like, ilike, in, is, isdistinct, match, imatch";

/// Times without an offset (TIMESTAMP, TIME) are ISO-8601 but not RFC 3339, which is
/// what OpenAPI tools check `date-time`/`time` against: in this document they are
/// described by a pattern instead (`/_schema/{service}` keeps the formats).
fn local_times(svc: &Service, mut schema: Value) -> Value {
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return schema;
    };
    for col in &svc.columns {
        let pattern = match col.kind {
            ValueKind::Timestamp => r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$",
            ValueKind::Time => r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$",
            _ => continue,
        };
        if let Some(Value::Object(p)) = props.get_mut(&col.name) {
            p.remove("format");
            p.insert("pattern".into(), Value::String(pattern.into()));
        }
    }
    schema
}

/// The OpenAPI 3.1.0 document for every service in `cache`. `server_url`, when given,
/// becomes the only entry of `servers` (otherwise paths are relative to the document).
pub fn document(cache: &SchemaCache, server_url: Option<&str>) -> Value {
    document_for(cache, server_url, None)
}

/// The document as a caller of `role` sees it: the services and methods that role may use
/// (`None`: authentication off, or no role).
pub fn document_for(cache: &SchemaCache, server_url: Option<&str>, role: Option<&str>) -> Value {
    let names = SchemaNames::new(cache);
    let mut schemas = Map::new();
    // Only what the caller may see (with roles configured, a service no role of the
    // caller's may use is not mentioned).
    for svc in cache
        .services
        .values()
        .filter(|s| s.roles.is_none() || !s.methods_for(role).is_empty())
    {
        let mut schema = local_times(svc, svc.json_schema.clone());
        if let Value::Object(m) = &mut schema {
            m.remove("$schema");
        }
        schemas.insert(names.of(&svc.name).to_string(), schema);
    }
    schemas.insert(ERROR.to_string(), error_schema());

    let mut paths = Map::new();
    paths.insert("/".into(), index_path(cache, role));
    paths.insert("/openapi.json".into(), openapi_path());
    paths.insert("/_health".into(), health_path());
    paths.insert("/_ready".into(), ready_path());
    paths.insert("/_schema/{service}".into(), schema_path(cache, role));
    paths.insert("/_metrics".into(), metrics_path());
    let mut tags = Vec::new();
    for svc in cache
        .services
        .values()
        .filter(|s| !s.methods_for(role).is_empty())
    {
        let row = format!("#/components/schemas/{}", names.of(&svc.name));
        let ctx = Ctx {
            svc,
            row: &row,
            role,
        };
        paths.insert(format!("/{}", svc.name), ctx.collection_path());
        if let Some((template, item)) = ctx.item_path() {
            paths.insert(template, item);
        }
        tags.push(json!({
            "name": svc.name,
            "description": format!("table {}", svc.table.name),
        }));
    }

    let mut doc = Map::new();
    doc.insert("openapi".into(), json!("3.1.0"));
    doc.insert("jsonSchemaDialect".into(), json!(DIALECT));
    doc.insert(
        "info".into(),
        json!({
            "title": "restable",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Database tables as a JSON REST API (PostgREST-compatible query grammar). Generated from the schema cache.",
        }),
    );
    if let Some(url) = server_url {
        doc.insert("servers".into(), json!([{ "url": url }]));
    }
    doc.insert("tags".into(), Value::Array(tags));
    doc.insert("paths".into(), Value::Object(paths));
    doc.insert("components".into(), json!({ "schemas": schemas }));
    Value::Object(doc)
}

const ERROR: &str = "Error";

/// Component names for the row schemas: the service name (always `[A-Za-z0-9_-]+`),
/// renamed only if it would collide with `Error`.
struct SchemaNames {
    names: std::collections::BTreeMap<String, String>,
}

impl SchemaNames {
    fn new(cache: &SchemaCache) -> SchemaNames {
        let mut names = std::collections::BTreeMap::new();
        for name in cache.services.keys() {
            let mut n: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            while n == ERROR || names.values().any(|v: &String| v == &n) {
                n.push('_');
            }
            names.insert(name.clone(), n);
        }
        SchemaNames { names }
    }

    fn of<'a>(&'a self, service: &'a str) -> &'a str {
        self.names.get(service).map_or(service, String::as_str)
    }
}

fn error_ref() -> Value {
    json!({ "$ref": format!("#/components/schemas/{ERROR}") })
}

fn error_schema() -> Value {
    json!({
        "title": "Error",
        "description": "Every error response (PostgREST's shape).",
        "type": "object",
        "properties": {
            "code": {
                "type": "string",
                "description": "Stable symbolic code, e.g. bad_filter, unknown_column, validation_failed, invalid_value, invalid_json, not_found, unique_violation, foreign_key_violation, not_null_violation, check_violation, unfiltered_write, max_affected_exceeded, key_mismatch, no_relationship, range_not_satisfiable, precondition_failed, payload_too_large, unsupported_media_type, not_acceptable, method_not_allowed, db_unavailable, timeout, internal."
            },
            "message": { "type": "string" },
            "details": {
                "description": "More about the problem: text, or for validation_failed one entry per problem.",
                "anyOf": [
                    { "type": "string" },
                    {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "path": { "type": "string", "description": "JSON pointer to the offending key" },
                                "message": { "type": "string" }
                            },
                            "required": ["path", "message"]
                        }
                    },
                    { "type": "null" }
                ]
            },
            "hint": { "type": ["string", "null"] }
        },
        "required": ["code", "message", "details", "hint"]
    })
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": error_ref() } }
    })
}

/// Error responses by status, for the statuses given.
fn errors(responses: &mut Map<String, Value>, statuses: &[u16]) {
    for s in statuses {
        let d = match s {
            400 => "Bad request: a malformed filter, unknown column, invalid value or body, a constraint (not null, check) or an unfiltered write",
            404 => "Not found",
            405 => "Method not allowed (or the database refuses writes to this table)",
            406 => "Not acceptable: unsupported Accept, or a singular response that is not exactly one row",
            409 => "Conflict: unique or foreign key violation",
            412 => "Precondition failed: If-Match does not match the row's ETag",
            413 => "Payload too large",
            415 => "Unsupported media type: the body must be application/json",
            416 => "Range not satisfiable",
            503 => "The database is unavailable",
            504 => "The request took longer than the request timeout",
            _ => "Error",
        };
        responses.insert(s.to_string(), error_response(d));
    }
}

fn string_schema() -> Value {
    json!({ "type": "string" })
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

fn header(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "header", "required": false, "description": description, "schema": schema })
}

fn select_param() -> Value {
    query(
        "select",
        "Columns to return, comma separated, `alias:column` to rename, embedded resources as `other(cols)`; `*` (default) for all.",
        string_schema(),
    )
}

fn order_param() -> Value {
    query(
        "order",
        "Sort: `col.asc|desc.nullsfirst|nullslast`, comma separated (default: primary key order).",
        string_schema(),
    )
}

fn limit_param() -> Value {
    query(
        "limit",
        "At most this many rows.",
        json!({ "type": "integer", "minimum": 0 }),
    )
}

fn offset_param() -> Value {
    query(
        "offset",
        "Skip this many rows.",
        json!({ "type": "integer", "minimum": 0 }),
    )
}

fn logic_params() -> [Value; 2] {
    [
        query(
            "or",
            "Logic tree: `(a.eq.1,b.gt.2)`, nestable (`and(...)`, `not.or(...)`); `not.or` negates.",
            string_schema(),
        ),
        query(
            "and",
            "Logic tree: `(a.eq.1,b.gt.2)`, nestable (`or(...)`, `not.and(...)`); `not.and` negates.",
            string_schema(),
        ),
    ]
}

fn prefer_header(read: bool) -> Value {
    let d = if read {
        "Preferences, comma separated: `count=exact|planned|estimated` (total in Content-Range), `handling=strict|lenient`."
    } else {
        "Preferences, comma separated: `return=representation|minimal|headers-only`, `count=exact`, `resolution=merge-duplicates|ignore-duplicates`, `missing=default`, `tx=rollback`, `max-affected=N`, `handling=strict|lenient`."
    };
    header("Prefer", d, string_schema())
}

fn accept_header(read: bool) -> Value {
    let mut v = vec![
        json!("application/json"),
        json!("application/vnd.pgrst.object+json"),
    ];
    if read {
        v.push(json!("text/csv"));
    }
    header(
        "Accept",
        "Response format: application/json (default), text/csv, or application/vnd.pgrst.object+json (exactly one row as an object, else 406).",
        json!({ "type": "string", "examples": v }),
    )
}

fn range_headers() -> [Value; 2] {
    [
        header(
            "Range",
            "Rows to return, e.g. `0-24` (first row 0, inclusive); same as offset/limit.",
            json!({ "type": "string", "pattern": "^\\d+-\\d*$" }),
        ),
        header(
            "Range-Unit",
            "Always `items`.",
            json!({ "type": "string", "enum": ["items"] }),
        ),
    ]
}

fn content_range_header() -> Value {
    json!({
        "description": "Rows returned and total: `0-24/*`, `0-24/3573` with Prefer: count=exact, `*/0` when empty",
        "schema": { "type": "string" }
    })
}

fn etag_header() -> Value {
    json!({ "description": "Strong ETag of the row", "schema": { "type": "string" } })
}

fn location_header() -> Value {
    json!({ "description": "URL of the inserted row", "schema": { "type": "string" } })
}

fn row_ref(row: &str) -> Value {
    json!({ "$ref": row })
}

fn rows_content(row: &str, csv: bool) -> Value {
    let mut c = Map::new();
    c.insert(
        "application/json".into(),
        json!({ "schema": { "type": "array", "items": row_ref(row) } }),
    );
    c.insert(
        "application/vnd.pgrst.object+json".into(),
        json!({ "schema": row_ref(row) }),
    );
    if csv {
        c.insert(
            "text/csv".into(),
            json!({ "schema": { "type": "string", "description": "header row, then one line per row (RFC 4180)" } }),
        );
    }
    Value::Object(c)
}

/// A written-rows response: one object or an array of rows.
fn written_content(row: &str) -> Value {
    let schema = json!({ "oneOf": [ row_ref(row), { "type": "array", "items": row_ref(row) } ] });
    json!({
        "application/json": { "schema": schema },
        "application/vnd.pgrst.object+json": { "schema": row_ref(row) }
    })
}

fn json_body(schema: Value, description: &str) -> Value {
    json!({
        "required": true,
        "description": description,
        "content": { "application/json": { "schema": schema } }
    })
}

/// A response with a body.
fn body_response(description: &str, content: Value) -> Value {
    json!({ "description": description, "content": content })
}

/// The parameters every collection write ends with: select, Prefer, Accept.
fn push_write_params(params: &mut Vec<Value>) {
    params.extend([select_param(), prefer_header(false), accept_header(false)]);
}

fn no_content(description: &str) -> Value {
    json!({ "description": description })
}

fn filter_description(col: &ServiceColumn) -> String {
    let example = match col.kind {
        ValueKind::Integer | ValueKind::Float | ValueKind::Decimal => "eq.1",
        ValueKind::Boolean => "is.true",
        ValueKind::Date => "gte.2024-01-01",
        _ => "eq.value",
    };
    let declared = col.declared_type.trim();
    let ty = if declared.is_empty() {
        String::new()
    } else {
        format!(" ({declared})")
    };
    let containment = match col.kind {
        ValueKind::Json | ValueKind::Array => ", cs, cd, ov",
        ValueKind::Range => ", cs, cd, ov, sl, sr, nxr, nxl, adj",
        _ => "",
    };
    format!(
        "Filter on `{}`{ty}: `op.value` with op one of {FILTER_OPERATORS}{containment}; `not.` negates \
         (`not.eq.1`); `in.(a,b)`; `is.null|not_null|true|false|unknown`; `like(any).{{a*,b*}}`. \
         Example: `{}={example}`. May be repeated (ANDed).",
        col.name, col.name
    )
}

/// Path parameter names for the key columns: the column name where it is a plain
/// identifier, otherwise a sanitised one (the description names the column).
fn key_param_names(svc: &Service) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in &svc.primary_key {
        let mut n: String = k
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if n.is_empty() {
            n.push('_');
        }
        while out.contains(&n) {
            n.push('_');
        }
        out.push(n);
    }
    out
}

/// The schema of a key column as it appears in a path segment.
fn key_schema(col: Option<&ServiceColumn>) -> Value {
    let Some(col) = col else {
        return string_schema();
    };
    let mut s = Map::new();
    s.insert(
        "type".into(),
        json!(col.kind.json_type().unwrap_or("string")),
    );
    let format = col.kind.json_format();
    if let Some(f) = format {
        s.insert("format".into(), json!(f));
    }
    if let Some(values) = &col.enum_values {
        s.insert("enum".into(), json!(values));
    }
    Value::Object(s)
}

struct Ctx<'a> {
    svc: &'a Service,
    row: &'a str,
    role: Option<&'a str>,
}

impl Ctx<'_> {
    /// The service allows `m`, and the caller's role may use it.
    fn allows(&self, m: Method) -> bool {
        self.svc.allows(m) && self.svc.permits(self.role, m)
    }

    fn tags(&self) -> Value {
        json!([self.svc.name])
    }

    fn filter_params(&self) -> Vec<Value> {
        let mut out: Vec<Value> = self
            .svc
            .columns
            .iter()
            .filter(|c| !RESERVED.contains(&c.name.as_str()) && !c.name.contains('.'))
            .map(|c| query(&c.name, &filter_description(c), string_schema()))
            .collect();
        out.extend(logic_params());
        out
    }

    /// One operation object: tags, id (`{verb}_{service}`), summary, parameters, body.
    fn operation(
        &self,
        verb: &str,
        summary: String,
        params: Vec<Value>,
        body: Option<Value>,
        responses: Map<String, Value>,
    ) -> Value {
        let mut op = json!({
            "tags": self.tags(),
            "operationId": format!("{verb}_{}", self.svc.name),
            "summary": summary,
            "parameters": params,
            "responses": responses,
        });
        if let (Some(body), Value::Object(m)) = (body, &mut op) {
            m.insert("requestBody".into(), body);
        }
        op
    }

    fn collection_path(&self) -> Value {
        let svc = self.svc;
        let mut item = Map::new();
        if self.allows(Method::Get) {
            let get = self.collection_get();
            item.insert("head".into(), head_of(&get, &svc.name, "list"));
            item.insert("get".into(), get);
        }
        if self.allows(Method::Post) {
            item.insert("post".into(), self.collection_post());
        }
        if self.allows(Method::Patch) {
            item.insert("patch".into(), self.collection_patch());
        }
        if self.allows(Method::Put) && !svc.primary_key.is_empty() {
            item.insert("put".into(), self.collection_put());
        }
        if self.allows(Method::Delete) {
            item.insert("delete".into(), self.collection_delete());
        }
        Value::Object(item)
    }

    fn collection_get(&self) -> Value {
        let mut params = vec![select_param(), order_param(), limit_param(), offset_param()];
        params.extend(self.filter_params());
        params.extend(range_headers());
        params.push(prefer_header(true));
        params.push(accept_header(true));
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            json!({
                "description": "The rows (all of them, or the requested range)",
                "headers": { "Content-Range": content_range_header() },
                "content": rows_content(self.row, true),
            }),
        );
        responses.insert(
            "206".into(),
            json!({
                "description": "Part of the rows: a known total (Prefer: count=exact) exceeds what was returned",
                "headers": { "Content-Range": content_range_header() },
                "content": rows_content(self.row, true),
            }),
        );
        errors(&mut responses, &[400, 404, 406, 416, 503, 504]);
        self.operation(
            "list",
            format!("Read rows of {}", self.svc.name),
            params,
            None,
            responses,
        )
    }

    fn collection_post(&self) -> Value {
        let params = vec![
            select_param(),
            query(
                "columns",
                "Only these keys of the body are used, comma separated (names may be double-quoted).",
                string_schema(),
            ),
            query(
                "on_conflict",
                "Columns of the unique constraint an upsert resolves on (default: primary key).",
                string_schema(),
            ),
            prefer_header(false),
            accept_header(false),
        ];
        let body = json_body(
            json!({ "oneOf": [ row_ref(self.row), { "type": "array", "items": row_ref(self.row) } ] }),
            "One row object, or an array of them (inserted all-or-nothing)",
        );
        let mut responses = Map::new();
        responses.insert(
            "201".into(),
            json!({
                "description": "Inserted: the row (or rows for an array, or with Prefer: return=representation); no body with return=minimal",
                "headers": { "Location": location_header() },
                "content": written_content(self.row),
            }),
        );
        responses.insert(
            "200".into(),
            body_response(
                "Upsert (Prefer: resolution=merge-duplicates) that only updated existing rows",
                written_content(self.row),
            ),
        );
        errors(&mut responses, &[400, 405, 406, 409, 413, 415, 503, 504]);
        self.operation(
            "insert",
            format!("Insert rows into {}", self.svc.name),
            params,
            Some(body),
            responses,
        )
    }

    fn patch_body(&self) -> Value {
        let mut schema = local_times(self.svc, patch_schema(&self.svc.json_schema));
        if let Value::Object(m) = &mut schema {
            m.remove("$schema");
            m.remove("title");
        }
        json_body(schema, "The columns to change")
    }

    fn collection_patch(&self) -> Value {
        let mut params = self.filter_params();
        push_write_params(&mut params);
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            body_response(
                "Updated (Prefer: return=representation): the changed rows",
                rows_content(self.row, false),
            ),
        );
        responses.insert("204".into(), no_content("Updated"));
        errors(&mut responses, &[400, 405, 406, 409, 413, 415, 503, 504]);
        self.operation(
            "update",
            format!(
                "Update the rows of {} matching the filters (at least one filter needed)",
                self.svc.name
            ),
            params,
            Some(self.patch_body()),
            responses,
        )
    }

    fn collection_put(&self) -> Value {
        let mut params: Vec<Value> = self
            .svc
            .primary_key
            .iter()
            .filter(|k| !RESERVED.contains(&k.as_str()))
            .map(|k| {
                json!({
                    "name": k,
                    "in": "query",
                    "required": true,
                    "description": format!("`eq.value` on key column `{k}` (the collection form of PUT needs exactly the primary key)"),
                    "schema": { "type": "string", "pattern": "^eq\\." },
                })
            })
            .collect();
        push_write_params(&mut params);
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            body_response(
                "Replaced (Prefer: return=representation): the row",
                rows_content(self.row, false),
            ),
        );
        responses.insert(
            "201".into(),
            json!({ "description": "Inserted", "headers": { "Location": location_header() } }),
        );
        responses.insert("204".into(), no_content("Replaced"));
        errors(
            &mut responses,
            &[400, 405, 406, 409, 412, 413, 415, 503, 504],
        );
        self.operation(
            "upsert",
            format!(
                "Insert or replace one row of {} (PostgREST form)",
                self.svc.name
            ),
            params,
            Some(json_body(
                row_ref(self.row),
                "The whole row; its key must equal the filters",
            )),
            responses,
        )
    }

    fn collection_delete(&self) -> Value {
        let mut params = self.filter_params();
        push_write_params(&mut params);
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            body_response(
                "Deleted (Prefer: return=representation): the deleted rows",
                rows_content(self.row, false),
            ),
        );
        responses.insert("204".into(), no_content("Deleted"));
        errors(&mut responses, &[400, 405, 406, 409, 503, 504]);
        self.operation(
            "delete",
            format!(
                "Delete the rows of {} matching the filters (at least one filter needed)",
                self.svc.name
            ),
            params,
            None,
            responses,
        )
    }

    fn key_params(&self) -> Vec<Value> {
        let names = key_param_names(self.svc);
        self.svc
            .primary_key
            .iter()
            .zip(names)
            .map(|(k, n)| {
                json!({
                    "name": n,
                    "in": "path",
                    "required": true,
                    "description": format!("Primary key column `{k}`"),
                    "schema": key_schema(self.svc.column(k)),
                })
            })
            .collect()
    }

    fn item_path(&self) -> Option<(String, Value)> {
        let svc = self.svc;
        if svc.primary_key.is_empty() {
            return None;
        }
        let mut template = format!("/{}", svc.name);
        for n in key_param_names(svc) {
            template.push_str(&format!("/{{{n}}}"));
        }
        let mut item = Map::new();
        item.insert("parameters".into(), Value::Array(self.key_params()));
        if self.allows(Method::Get) {
            let get = self.item_get();
            item.insert("head".into(), head_of(&get, &svc.name, "get"));
            item.insert("get".into(), get);
        }
        if self.allows(Method::Patch) {
            item.insert("patch".into(), self.item_patch());
        }
        if self.allows(Method::Put) {
            item.insert("put".into(), self.item_put());
        }
        if self.allows(Method::Delete) {
            item.insert("delete".into(), self.item_delete());
        }
        if item.len() == 1 {
            return None;
        }
        Some((template, Value::Object(item)))
    }

    fn item_get(&self) -> Value {
        let params = vec![
            select_param(),
            header(
                "If-None-Match",
                "ETag(s) of a copy the client has: 304 when the row still has it",
                string_schema(),
            ),
            accept_header(true),
        ];
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            json!({
                "description": "The row",
                "headers": { "ETag": etag_header() },
                "content": {
                    "application/json": { "schema": row_ref(self.row) },
                    "application/vnd.pgrst.object+json": { "schema": row_ref(self.row) },
                    "text/csv": { "schema": { "type": "string" } }
                },
            }),
        );
        responses.insert(
            "304".into(),
            json!({ "description": "Not modified (If-None-Match)", "headers": { "ETag": etag_header() } }),
        );
        errors(&mut responses, &[400, 404, 406, 503, 504]);
        self.operation(
            "get",
            format!("Read one row of {} by primary key", self.svc.name),
            params,
            None,
            responses,
        )
    }

    /// Parameters of a write to one row: select, If-Match, Prefer, Accept.
    fn item_write_params() -> Vec<Value> {
        vec![
            select_param(),
            Self::if_match(),
            prefer_header(false),
            accept_header(false),
        ]
    }

    fn if_match() -> Value {
        header(
            "If-Match",
            "The row's ETag: the change happens only if the row still has it (else 412)",
            string_schema(),
        )
    }

    fn item_patch(&self) -> Value {
        let params = Self::item_write_params();
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            json!({
                "description": "Updated: the row",
                "headers": { "ETag": etag_header() },
                "content": written_content(self.row),
            }),
        );
        responses.insert("204".into(), no_content("Updated (Prefer: return=minimal)"));
        errors(
            &mut responses,
            &[400, 404, 405, 406, 409, 412, 413, 415, 503, 504],
        );
        self.operation(
            "update_one",
            format!("Update one row of {} by primary key", self.svc.name),
            params,
            Some(self.patch_body()),
            responses,
        )
    }

    fn item_put(&self) -> Value {
        let params = Self::item_write_params();
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            json!({
                "description": "Replaced: the row",
                "headers": { "ETag": etag_header() },
                "content": written_content(self.row),
            }),
        );
        responses.insert(
            "201".into(),
            json!({
                "description": "Inserted: the row",
                "headers": { "ETag": etag_header(), "Location": location_header() },
                "content": written_content(self.row),
            }),
        );
        responses.insert(
            "204".into(),
            no_content("Replaced (Prefer: return=minimal)"),
        );
        errors(
            &mut responses,
            &[400, 405, 406, 409, 412, 413, 415, 503, 504],
        );
        self.operation(
            "replace",
            format!(
                "Insert or replace one row of {} by primary key",
                self.svc.name
            ),
            params,
            Some(json_body(
                row_ref(self.row),
                "The whole row; a key in the body must equal the URL's (else 400 key_mismatch)",
            )),
            responses,
        )
    }

    fn item_delete(&self) -> Value {
        let params = Self::item_write_params();
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            body_response(
                "Deleted (Prefer: return=representation): the row",
                written_content(self.row),
            ),
        );
        responses.insert("204".into(), no_content("Deleted"));
        errors(&mut responses, &[400, 404, 405, 406, 409, 412, 503, 504]);
        self.operation(
            "delete_one",
            format!("Delete one row of {} by primary key", self.svc.name),
            params,
            None,
            responses,
        )
    }
}

/// The HEAD twin of a GET operation: same parameters, responses without bodies.
fn head_of(get: &Value, service: &str, what: &str) -> Value {
    let mut head = get.clone();
    if let Some(m) = head.as_object_mut() {
        m.insert(
            "operationId".into(),
            json!(format!("head_{what}_{service}")),
        );
        m.insert("summary".into(), json!("Like GET, headers only (no body)"));
        if let Some(Value::Object(responses)) = m.get_mut("responses") {
            for (status, r) in responses.iter_mut() {
                if status.starts_with('2') {
                    if let Some(r) = r.as_object_mut() {
                        r.remove("content");
                    }
                }
            }
        }
    }
    head
}

fn simple_get(id: &str, summary: &str, ok: Value, errs: &[u16]) -> Value {
    let mut responses = Map::new();
    responses.insert("200".into(), ok);
    errors(&mut responses, errs);
    json!({ "get": {
        "tags": ["operational"],
        "operationId": id,
        "summary": summary,
        "responses": responses,
    }})
}

fn index_path(cache: &SchemaCache, role: Option<&str>) -> Value {
    let count = cache
        .services
        .values()
        .filter(|s| !s.methods_for(role).is_empty())
        .count();
    simple_get(
        "index",
        "The services and where their schemas are",
        json!({
            "description": format!("The index ({count} services)"),
            "content": { "application/json": { "schema": {
                "type": "object",
                "properties": {
                    "services": { "type": "array", "items": {
                        "type": "object",
                        "properties": {
                            "name": { "type": "string" },
                            "url": { "type": "string" },
                            "methods": { "type": "array", "items": { "type": "string", "enum": Method::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>() } },
                            "schema": { "type": "string" }
                        },
                        "required": ["name", "url", "methods", "schema"]
                    }},
                    "openapi": { "type": "string" }
                },
                "required": ["services", "openapi"]
            }}}
        }),
        &[],
    )
}

fn openapi_path() -> Value {
    simple_get(
        "openapi",
        "This document",
        json!({
            "description": "The OpenAPI 3.1 document",
            "content": { "application/json": { "schema": { "type": "object" } } }
        }),
        &[],
    )
}

fn health_path() -> Value {
    simple_get(
        "health",
        "200 while the process runs",
        json!({
            "description": "Running",
            "content": { "application/json": { "schema": {
                "type": "object", "properties": { "status": { "const": "ok" } }
            }}}
        }),
        &[],
    )
}

fn ready_path() -> Value {
    simple_get(
        "ready",
        "200 when the database answers, 503 otherwise",
        json!({
            "description": "The database answers",
            "content": { "application/json": { "schema": {
                "type": "object", "properties": { "status": { "const": "ready" } }
            }}}
        }),
        &[503],
    )
}

fn metrics_path() -> Value {
    simple_get(
        "metrics",
        "Prometheus metrics (text exposition format 0.0.4)",
        json!({
            "description": "Metrics",
            "content": { "text/plain": { "schema": { "type": "string" } } }
        }),
        &[],
    )
}

fn schema_path(cache: &SchemaCache, role: Option<&str>) -> Value {
    let names: Vec<&str> = cache
        .services
        .values()
        .filter(|s| !s.methods_for(role).is_empty())
        .map(|s| s.name.as_str())
        .collect();
    let mut schema = json!({ "type": "string" });
    if !names.is_empty() {
        schema["enum"] = json!(names);
    }
    let mut path = simple_get(
        "service_schema",
        "A service's row JSON Schema (draft 2020-12)",
        json!({
            "description": "The JSON Schema",
            "content": { "application/json": { "schema": { "type": "object" } } }
        }),
        &[404],
    );
    path["parameters"] = json!([{
        "name": "service",
        "in": "path",
        "required": true,
        "description": "Service name",
        "schema": schema,
    }]);
    path
}
