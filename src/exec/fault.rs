//! Faults: what went wrong in the database, classified once for every backend, and the one
//! place that words a fault for users. A backend turns its driver's error into a `Fault`
//! (by SQLite result code, PostgreSQL SQLSTATE or MySQL error number) and writes no
//! message; this module knows no driver. It owns the user-facing wording and the rule
//! that a hidden column is never named, in a message, a detail or a constraint name.

use std::time::Duration;

use crate::error::ApiError;
use crate::schema::{Relationship, Service};

/// Which side of a foreign key a violation is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FkSide {
    /// A written row references a row that does not exist.
    Missing,
    /// A row still referenced by another table's rows was deleted or its key changed.
    Referenced,
    /// The backend does not say (SQLite).
    Unknown,
}

/// A database error, classified. Names it carries (columns, constraints, tables) are the
/// database's own and may be hidden from the caller: `Fault::into_api` decides what is shown.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// A unique, primary-key or exclusion constraint.
    Unique {
        /// Constraint name; `None` when the backend does not say (then it is named as
        /// PostgreSQL names one by default: `artists_pkey`, `artists_name_key`).
        constraint: Option<String>,
        /// Columns of the constraint, in this service's table.
        columns: Vec<String>,
        /// An exclusion constraint (PostgreSQL 23P01) rather than a unique one.
        exclusion: bool,
    },
    ForeignKey {
        side: FkSide,
        constraint: Option<String>,
        /// The key's columns in this service's table (referencing columns for `Missing`,
        /// referenced ones for `Referenced`), when known.
        columns: Vec<String>,
        /// The other table: referenced (`Missing`) or referencing (`Referenced`).
        other_table: Option<String>,
    },
    NotNull {
        column: Option<String>,
    },
    Check {
        constraint: Option<String>,
    },
    /// One statement would change the same row twice (PostgreSQL 21000: an upsert body
    /// with two rows of the same key). `message` is the database's.
    Cardinality {
        message: String,
    },
    /// A value the column's type refuses (out of range, too long, not a number...).
    /// `message` is the database's own wording; `column` the column it names.
    InvalidValue {
        message: String,
        column: Option<String>,
        sqlstate: String,
    },
    /// The statement ran past the request timeout and the database stopped it.
    Timeout,
    /// The database cannot serve right now (down, busy, lost a deadlock, restarting).
    Unavailable {
        reason: String,
    },
    /// The table cannot be written (a read-only database, a view it cannot update).
    NotWritable {
        reason: String,
    },
    /// A value or a statement too large for the database.
    TooLarge {
        sqlstate: String,
    },
    /// An operator the column's type does not have (`point = point`).
    NoOperator {
        message: String,
    },
    /// A regular expression the database refused.
    BadRegex {
        message: String,
    },
    /// `on_conflict` names columns without a unique constraint.
    BadOnConflict {
        message: String,
    },
    /// The database role the request runs as lacks a privilege (PostgreSQL 42501, with
    /// `database_roles`): 403, or 401 for a request without a token.
    Denied {
        message: String,
    },
    /// Anything else: a bug or an unexpected state, logged and answered 500.
    Internal {
        message: String,
    },
}

/// The first 200 characters of a message (a database echoes bad values back).
pub fn short(s: &str) -> String {
    if s.chars().count() <= 200 {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(200).collect();
        t.push_str("...");
        t
    }
}

/// What of a service's table a caller may see named.
struct Names<'a> {
    svc: &'a Service,
}

impl Names<'_> {
    /// A column the caller may see.
    fn column(&self, c: &str) -> bool {
        self.svc.column(c).is_some()
    }

    /// Every column visible (an unknown name counts as hidden).
    fn columns(&self, cols: &[String]) -> bool {
        !cols.is_empty() && cols.iter().all(|c| self.column(c))
    }

    /// Text from the database that names no hidden column, not even inside another name
    /// (`tracks_secret_key` names `secret`).
    fn clean(&self, text: &str) -> bool {
        let visible = |name: &str| self.svc.column(name).is_some();
        !self
            .svc
            .table
            .columns
            .iter()
            .any(|c| !visible(&c.name) && !c.name.is_empty() && text.contains(c.name.as_str()))
    }

    fn shown<'t>(&self, text: Option<&'t str>) -> Option<&'t str> {
        text.filter(|t| !t.is_empty() && self.clean(t))
    }
}

impl Fault {
    /// The API error a caller of `svc` sees. `timeout` is the request timeout in force.
    pub fn into_api(self, svc: &Service, timeout: Duration) -> ApiError {
        let names = Names { svc };
        let table = svc.table.bare_name.as_str();
        match self {
            Fault::Unique {
                constraint,
                columns,
                exclusion,
            } => {
                let sqlstate = if exclusion { "23P01" } else { "23505" };
                // A backend that names no constraint: the name PostgreSQL would give it.
                let constraint = constraint.or_else(|| {
                    if columns.is_empty() {
                        None
                    } else if columns == svc.table.primary_key {
                        Some(format!("{table}_pkey"))
                    } else {
                        Some(format!("{table}_{}_key", columns.join("_")))
                    }
                });
                let constraint = names.shown(constraint.as_deref());
                let kind = if exclusion {
                    "conflicting key value violates exclusion constraint"
                } else {
                    "duplicate key value violates unique constraint"
                };
                let message = match constraint {
                    Some(c) => format!("{kind} \"{c}\""),
                    None => format!("{} of \"{table}\"", kind.replace(" constraint", " a constraint")),
                };
                let details = match (names.columns(&columns), constraint) {
                    (true, Some(c)) => format!(
                        "Key ({}) already exists. (constraint {c}, SQLSTATE {sqlstate})",
                        columns.join(", ")
                    ),
                    (true, None) => format!(
                        "Key ({}) already exists. (SQLSTATE {sqlstate})",
                        columns.join(", ")
                    ),
                    (false, Some(c)) => {
                        format!("A row with the same key already exists. (constraint {c}, SQLSTATE {sqlstate})")
                    }
                    (false, None) => {
                        format!("A row with the same key already exists. (SQLSTATE {sqlstate})")
                    }
                };
                ApiError::Constraint {
                    code: "unique_violation",
                    message,
                    details,
                }
            }
            Fault::ForeignKey {
                side,
                constraint,
                columns,
                other_table,
            } => foreign_key(&names, side, constraint, &columns, other_table),
            Fault::NotNull { column } => match column.filter(|c| names.column(c)) {
                Some(col) => ApiError::Constraint {
                    code: "not_null_violation",
                    message: format!(
                        "null value in column \"{col}\" of relation \"{table}\" violates not-null constraint"
                    ),
                    details: format!("column {col} (SQLSTATE 23502)"),
                },
                None => ApiError::Constraint {
                    code: "not_null_violation",
                    message: format!("a column of \"{table}\" violates a not-null constraint"),
                    details: "SQLSTATE 23502".into(),
                },
            },
            Fault::Check { constraint } => {
                // An unnamed SQLite check is its expression: show names only.
                let named = constraint.as_deref().filter(|c| {
                    c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80)
                });
                match names.shown(named) {
                    Some(c) => ApiError::Constraint {
                        code: "check_violation",
                        message: format!(
                            "new row for relation \"{table}\" violates check constraint \"{c}\""
                        ),
                        details: format!("check: {c} (SQLSTATE 23514)"),
                    },
                    None => ApiError::Constraint {
                        code: "check_violation",
                        message: format!(
                            "new row for relation \"{table}\" violates a check constraint"
                        ),
                        details: "SQLSTATE 23514".into(),
                    },
                }
            }
            // Not a unique violation: no stored row is in the way, the request itself
            // names one key twice. PostgREST answers 500; a request can cause it, so 400.
            Fault::Cardinality { message } => ApiError::BadRequest {
                code: "cardinality_violation",
                message: if names.clean(&message) {
                    short(&message)
                } else {
                    "one statement would change the same row twice".into()
                },
                details: Some(
                    "Two rows of the request have the same key: send each key once. (SQLSTATE 21000)"
                        .into(),
                ),
            },
            Fault::InvalidValue {
                message,
                column,
                sqlstate,
            } => {
                let column = column.filter(|c| names.column(c));
                let message = match (names.clean(&message), column) {
                    (true, _) => short(&message),
                    (false, Some(c)) => format!("invalid value for column \"{c}\""),
                    (false, None) => "invalid value".into(),
                };
                ApiError::InvalidValue {
                    message,
                    details: format!("SQLSTATE {sqlstate}"),
                }
            }
            Fault::Timeout => ApiError::Timeout {
                ms: timeout.as_millis() as u64,
            },
            Fault::Unavailable { reason } => ApiError::DbUnavailable { details: reason },
            Fault::NotWritable { reason } => {
                let reason = if names.clean(&reason) {
                    reason
                } else {
                    "the database refuses writes to it".into()
                };
                ApiError::not_writable(&svc.name, reason)
            }
            Fault::TooLarge { sqlstate } => ApiError::BadRequest {
                code: "payload_too_large",
                message: "a value is too large for the database".into(),
                details: Some(format!("SQLSTATE {sqlstate}")),
            },
            Fault::NoOperator { message } => ApiError::bad_filter(
                format!("this operator does not apply to a column of '{table}' of that type"),
                names.shown(Some(&short(&message))).map(str::to_string),
            ),
            Fault::BadRegex { message } => ApiError::bad_filter(
                "invalid regular expression",
                names.shown(Some(&short(&message))).map(str::to_string),
            ),
            Fault::BadOnConflict { message } => {
                let message = if names.clean(&message) {
                    short(&message)
                } else {
                    "there is no unique or exclusion constraint matching the ON CONFLICT specification".into()
                };
                ApiError::bad_request("bad_on_conflict", message)
            }
            Fault::Denied { message } => ApiError::Forbidden {
                message: if names.clean(&message) {
                    format!("{} (SQLSTATE 42501)", short(&message))
                } else {
                    format!("permission denied for table {table} (SQLSTATE 42501)")
                },
            },
            Fault::Internal { message } => ApiError::internal(message),
        }
    }
}

fn foreign_key(
    names: &Names<'_>,
    side: FkSide,
    constraint: Option<String>,
    columns: &[String],
    other_table: Option<String>,
) -> ApiError {
    let svc = names.svc;
    let table = svc.table.bare_name.as_str();
    let constraint = names.shown(constraint.as_deref()).map(str::to_string);
    let c_text = constraint.as_deref().unwrap_or("");
    let key = if names.columns(columns) {
        format!("Key ({})", columns.join(", "))
    } else {
        "Key".to_string()
    };
    let (message, details) = match side {
        FkSide::Missing => {
            let other = other_table.unwrap_or_default();
            (
                format!(
                    "insert or update on table \"{table}\" violates foreign key constraint \"{c_text}\""
                ),
                format!(
                    "{key} is not present in table \"{other}\". (constraint {c_text}, SQLSTATE 23503)"
                ),
            )
        }
        FkSide::Referenced => {
            let other = other_table.unwrap_or_default();
            (
                format!(
                    "update or delete on table \"{table}\" violates foreign key constraint \"{c_text}\" on table \"{other}\""
                ),
                format!(
                    "{key} is still referenced from table \"{other}\". (constraint {c_text}, SQLSTATE 23503)"
                ),
            )
        }
        FkSide::Unknown => {
            // The backend does not say which key: list the candidates the caller may see.
            let fks: Vec<String> = svc
                .table
                .foreign_keys
                .iter()
                .map(|fk| {
                    format!(
                        "{} ({}) references {}({})",
                        fk.name,
                        fk.columns.join(", "),
                        fk.referenced_table,
                        fk.referenced_columns.join(", ")
                    )
                })
                .filter(|t| names.clean(t))
                .collect();
            let referencing: Vec<String> = svc
                .relationships
                .iter()
                .filter_map(|r| match r {
                    Relationship::OneToMany {
                        target,
                        constraint,
                        columns,
                    } => Some(format!(
                        "{constraint} ({target}.{})",
                        columns
                            .iter()
                            .map(|(_, c)| c.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                    _ => None,
                })
                .collect();
            let details = if fks.is_empty() && referencing.is_empty() {
                "rows of other tables still reference this row (SQLSTATE 23503)".to_string()
            } else if fks.is_empty() {
                format!(
                    "rows of other tables still reference this row; referencing foreign keys: {} (SQLSTATE 23503)",
                    referencing.join("; ")
                )
            } else {
                format!(
                    "a referenced row is missing, or this row is still referenced; foreign keys of {table}: {} (SQLSTATE 23503)",
                    fks.join("; ")
                )
            };
            (
                format!(
                    "insert, update or delete on \"{table}\" violates a foreign key constraint"
                ),
                details,
            )
        }
    };
    let message = if constraint.is_none() && side != FkSide::Unknown {
        format!("a write on table \"{table}\" violates a foreign key constraint")
    } else {
        message
    };
    ApiError::Constraint {
        code: "foreign_key_violation",
        message,
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc() -> std::sync::Arc<Service> {
        use crate::schema::{Column, ValueKind};
        crate::schema::test_service_hiding(
            vec![
                Column::plain("id", "INTEGER", ValueKind::Integer),
                Column::plain("name", "TEXT", ValueKind::Text),
                Column::plain("secret", "TEXT", ValueKind::Text),
            ],
            &[],
            &["secret"],
        )
    }

    fn text(e: &ApiError) -> String {
        e.body_text()
    }

    #[test]
    fn unique_on_a_hidden_column_names_neither_it_nor_its_constraint() {
        let e = Fault::Unique {
            constraint: Some("t_secret_key".into()),
            columns: vec!["secret".into()],
            exclusion: false,
        }
        .into_api(&svc(), Duration::from_secs(1));
        assert_eq!(e.code(), "unique_violation");
        assert_eq!(e.status(), 409);
        assert!(!text(&e).contains("secret"), "{}", text(&e));
        assert!(text(&e).contains("23505"), "{}", text(&e));
    }

    #[test]
    fn unique_on_a_visible_column_is_named() {
        let e = Fault::Unique {
            constraint: Some("t_name_key".into()),
            columns: vec!["name".into()],
            exclusion: false,
        }
        .into_api(&svc(), Duration::from_secs(1));
        assert_eq!(
            e.to_string(),
            "duplicate key value violates unique constraint \"t_name_key\""
        );
        assert!(
            text(&e).contains("Key (name) already exists."),
            "{}",
            text(&e)
        );
    }

    #[test]
    fn not_null_on_a_hidden_column_is_not_named() {
        for column in [Some("secret".to_string()), None, Some(String::new())] {
            let e = Fault::NotNull { column }.into_api(&svc(), Duration::from_secs(1));
            assert_eq!(e.status(), 400);
            assert_eq!(
                e.to_string(),
                "a column of \"t\" violates a not-null constraint"
            );
            assert!(!text(&e).contains("secret"));
        }
    }

    #[test]
    fn check_shows_names_never_expressions() {
        let e = Fault::Check {
            constraint: Some("secret <> 'x'".into()),
        }
        .into_api(&svc(), Duration::from_secs(1));
        assert!(!text(&e).contains("secret"), "{}", text(&e));
        let e = Fault::Check {
            constraint: Some("name_len".into()),
        }
        .into_api(&svc(), Duration::from_secs(1));
        assert!(text(&e).contains("name_len"));
    }

    #[test]
    fn a_timeout_names_the_real_limit() {
        let e = Fault::Timeout.into_api(&svc(), Duration::from_millis(1500));
        assert_eq!(e.to_string(), "the request took longer than 1500 ms");
        assert_eq!(e.status(), 504);
    }

    #[test]
    fn database_text_naming_a_hidden_column_is_replaced() {
        let e = Fault::InvalidValue {
            message: "value too long for column secret".into(),
            column: Some("secret".into()),
            sqlstate: "22001".into(),
        }
        .into_api(&svc(), Duration::from_secs(1));
        assert_eq!(e.to_string(), "invalid value");
    }
}
