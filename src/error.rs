//! One error type for everything a request can run into. Each variant knows its HTTP
//! status and its JSON body (PostgREST's shape: code, message, details, hint), so every
//! stage can fail with `?` and the HTTP layer renders the result without inspecting it.

use serde_json::{json, Value};

/// One problem in a request body: a JSON pointer to the offending key and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadFilter {
        message: String,
        details: Option<String>,
    },
    #[error("column '{column}' does not exist in '{service}'")]
    UnknownColumn { service: String, column: String },
    #[error("{message}")]
    InvalidValue { message: String, details: String },
    #[error("the request body is not valid")]
    Validation { problems: Vec<Problem> },
    #[error("{message}")]
    InvalidJson { message: String },
    #[error("{message}")]
    NotFound { message: String },
    #[error("{message}")]
    Constraint {
        code: &'static str,
        message: String,
        details: String,
    },
    #[error("a PATCH or DELETE on the whole collection needs at least one filter")]
    UnfilteredWrite,
    #[error("the request would affect {affected} rows, more than max-affected={max}")]
    MaxAffected { affected: u64, max: u64 },
    #[error("{message}")]
    KeyMismatch { message: String },
    #[error("{message}")]
    NoRelationship {
        message: String,
        hint: Option<String>,
    },
    /// More than one relationship matches an embed (PostgREST's PGRST201, status 300).
    #[error("{message}")]
    AmbiguousEmbed {
        message: String,
        details: Value,
        hint: String,
    },
    #[error("{message}")]
    RangeNotSatisfiable {
        message: String,
        details: String,
        total: Option<u64>,
    },
    #[error("the row has changed: its ETag does not match If-Match")]
    PreconditionFailed,
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    #[error("{message}")]
    UnsupportedMediaType { message: String },
    #[error("{message}")]
    NotAcceptable {
        message: String,
        details: Option<String>,
    },
    #[error("method {method} is not allowed on '{service}'")]
    MethodNotAllowed {
        method: String,
        service: String,
        allow: String,
    },
    /// The database refuses writes to this table (a read-only file, a view it cannot update).
    #[error("'{service}' cannot be written: {reason}")]
    NotWritable { service: String, reason: String },
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        details: Option<String>,
    },
    /// No valid token (401, with `WWW-Authenticate: Bearer`).
    #[error("{message}")]
    Unauthorized {
        message: String,
        /// A token was sent and refused (`error="invalid_token"`).
        invalid_token: bool,
    },
    /// A valid token whose role may not do this (403).
    #[error("{message}")]
    Forbidden { message: String },
    #[error("the database is unavailable")]
    DbUnavailable { details: String },
    #[error("the request took longer than {ms} ms")]
    Timeout { ms: u64 },
    /// The client did not send the whole request body within `body_timeout_ms`.
    #[error("the request body did not arrive within {ms} ms")]
    BodyTimeout { ms: u64 },
    /// Refused at the connection cap (`max_connections`), before reading the request.
    #[error("the server has {max} connections open, its limit; try again shortly")]
    TooManyConnections { max: u64 },
    #[error("internal error")]
    Internal { details: String },
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadFilter { .. }
            | ApiError::UnknownColumn { .. }
            | ApiError::InvalidValue { .. }
            | ApiError::Validation { .. }
            | ApiError::InvalidJson { .. }
            | ApiError::UnfilteredWrite
            | ApiError::MaxAffected { .. }
            | ApiError::KeyMismatch { .. }
            | ApiError::NoRelationship { .. }
            | ApiError::BadRequest { .. } => 400,
            ApiError::Constraint { code, .. } => match *code {
                "unique_violation" | "foreign_key_violation" => 409,
                _ => 400,
            },
            ApiError::AmbiguousEmbed { .. } => 300,
            ApiError::Unauthorized { .. } => 401,
            ApiError::Forbidden { .. } => 403,
            ApiError::NotFound { .. } => 404,
            ApiError::MethodNotAllowed { .. } | ApiError::NotWritable { .. } => 405,
            ApiError::NotAcceptable { .. } => 406,
            ApiError::PreconditionFailed => 412,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::UnsupportedMediaType { .. } => 415,
            ApiError::RangeNotSatisfiable { .. } => 416,
            ApiError::Internal { .. } => 500,
            ApiError::BodyTimeout { .. } => 408,
            ApiError::DbUnavailable { .. } | ApiError::TooManyConnections { .. } => 503,
            ApiError::Timeout { .. } => 504,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadFilter { .. } => "bad_filter",
            ApiError::UnknownColumn { .. } => "unknown_column",
            ApiError::InvalidValue { .. } => "invalid_value",
            ApiError::Validation { .. } => "validation_failed",
            ApiError::InvalidJson { .. } => "invalid_json",
            ApiError::NotFound { .. } => "not_found",
            ApiError::Constraint { code, .. } => code,
            ApiError::UnfilteredWrite => "unfiltered_write",
            ApiError::MaxAffected { .. } => "max_affected_exceeded",
            ApiError::KeyMismatch { .. } => "key_mismatch",
            ApiError::NoRelationship { .. } => "no_relationship",
            ApiError::AmbiguousEmbed { .. } => "ambiguous_relationship",
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            ApiError::PreconditionFailed => "precondition_failed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::NotAcceptable { .. } => "not_acceptable",
            ApiError::MethodNotAllowed { .. } | ApiError::NotWritable { .. } => {
                "method_not_allowed"
            }
            ApiError::BadRequest { code, .. } => code,
            ApiError::DbUnavailable { .. } => "db_unavailable",
            ApiError::Timeout { .. } | ApiError::BodyTimeout { .. } => "timeout",
            ApiError::TooManyConnections { .. } => "too_many_connections",
            ApiError::Internal { .. } => "internal",
        }
    }

    /// The JSON body: always the four keys `code`, `message`, `details`, `hint`.
    pub fn body(&self) -> Value {
        let (details, hint): (Value, Value) = match self {
            ApiError::BadFilter { details, .. } => (json!(details), Value::Null),
            ApiError::UnknownColumn { service, .. } => (
                Value::Null,
                json!(format!(
                    "GET /_schema/{service} lists the columns of '{service}'"
                )),
            ),
            ApiError::InvalidValue { details, .. } => (json!(details), Value::Null),
            ApiError::Validation { problems } => (
                Value::Array(
                    problems
                        .iter()
                        .map(|p| json!({"path": p.path, "message": p.message}))
                        .collect(),
                ),
                Value::Null,
            ),
            ApiError::Constraint { details, .. } => (json!(details), Value::Null),
            ApiError::UnfilteredWrite => (
                Value::Null,
                json!("add a filter such as ?id=eq.1, or set allow_unfiltered_writes = true for this service"),
            ),
            ApiError::MaxAffected { affected, .. } => (
                json!(format!("The query affects {affected} rows")),
                Value::Null,
            ),
            ApiError::NoRelationship { hint, .. } => (Value::Null, json!(hint)),
            ApiError::AmbiguousEmbed { details, hint, .. } => (details.clone(), json!(hint)),
            ApiError::RangeNotSatisfiable { details, .. } => (json!(details), Value::Null),
            ApiError::NotAcceptable { details, .. } => (json!(details), Value::Null),
            ApiError::MethodNotAllowed { allow, .. } => {
                (json!(format!("Allowed: {allow}")), Value::Null)
            }
            ApiError::BadRequest { details, .. } => (json!(details), Value::Null),
            ApiError::DbUnavailable { .. } => (
                Value::Null,
                json!("the server retries by itself; try again shortly"),
            ),
            ApiError::BodyTimeout { .. } => (
                Value::Null,
                json!("send the body faster, or raise [server] body_timeout_ms"),
            ),
            // Internal details are logged, never sent.
            _ => (Value::Null, Value::Null),
        };
        // Built in this key order on purpose: code, message, details, hint.
        let mut m = serde_json::Map::new();
        m.insert("code".into(), json!(self.code()));
        m.insert("message".into(), json!(self.to_string()));
        m.insert("details".into(), details);
        m.insert("hint".into(), hint);
        Value::Object(m)
    }

    /// The body as JSON text, keys in the documented order.
    pub fn body_text(&self) -> String {
        let Value::Object(m) = self.body() else {
            return String::new();
        };
        let mut out = String::from("{");
        for (n, k) in ["code", "message", "details", "hint"].iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push_str(&json!(k).to_string());
            out.push(':');
            out.push_str(&m.get(*k).cloned().unwrap_or(Value::Null).to_string());
        }
        out.push('}');
        out
    }

    pub fn bad_filter(message: impl Into<String>, details: impl Into<Option<String>>) -> Self {
        ApiError::BadFilter {
            message: message.into(),
            details: details.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn internal(details: impl Into<String>) -> Self {
        ApiError::Internal {
            details: details.into(),
        }
    }

    pub fn not_writable(service: &str, reason: impl Into<String>) -> Self {
        ApiError::NotWritable {
            service: service.to_string(),
            reason: reason.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::NotFound {
            message: message.into(),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
