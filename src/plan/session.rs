//! What a request's statements run as on a database with roles of its own (PostgreSQL
//! with `[auth] database_roles = true`): the database role to switch to and the request
//! settings PostgREST sets (`request.jwt.claims`, `request.method`, `request.path`), all
//! local to the request's transaction. Knows the caller; not SQL, not the executor, which
//! applies a session it is given and ignores an empty one.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// The role and settings one request runs under. Empty: the login role, no settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    /// The database role (`SET LOCAL ROLE`).
    pub role: Option<String>,
    /// Settings readable with `current_setting(name, true)`, in the order they are set.
    pub settings: Vec<(&'static str, String)>,
}

impl Session {
    /// No role switch, no settings: statements run as the login role.
    pub fn none() -> Session {
        Session::default()
    }

    pub fn is_empty(&self) -> bool {
        self.role.is_none() && self.settings.is_empty()
    }

    /// The session of `caller`'s request `method path` when each request runs as its
    /// role. A request without a role (no token and no `anonymous_role`, or a token
    /// without the role claim) is refused: it must never run as the login role.
    pub fn for_caller(caller: &Caller, method: &str, path: &str) -> ApiResult<Session> {
        let Some(role) = caller.role.clone() else {
            return Err(ApiError::Unauthorized {
                message: "this server runs each request as the caller's database role, and the request has none: send a token with a role claim, or set [auth] anonymous_role".into(),
                invalid_token: false,
            });
        };
        // PostgREST's claims of an anonymous request: the role alone.
        let claims = match caller.claims.as_deref() {
            Some(c) => c.to_string(),
            None => serde_json::json!({ "role": role }).to_string(),
        };
        Ok(Session {
            role: Some(role),
            settings: vec![
                ("request.jwt.claims", claims),
                ("request.method", method.to_string()),
                ("request.path", path.to_string()),
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn a_caller_without_a_role_is_refused() {
        let caller = Caller {
            role: None,
            claims: Some(Arc::new(json!({"sub": "u1"}))),
            token: true,
        };
        let e = Session::for_caller(&caller, "GET", "/items").unwrap_err();
        assert_eq!(e.status(), 401);
    }

    #[test]
    fn claims_method_and_path_are_set() {
        let caller = Caller {
            role: Some("editor".into()),
            claims: Some(Arc::new(json!({"sub": "u1", "role": "editor"}))),
            token: true,
        };
        let s = Session::for_caller(&caller, "PATCH", "/items").unwrap();
        assert_eq!(s.role.as_deref(), Some("editor"));
        assert_eq!(s.settings[0].0, "request.jwt.claims");
        let claims: serde_json::Value = serde_json::from_str(&s.settings[0].1).unwrap();
        assert_eq!(claims, json!({"sub": "u1", "role": "editor"}));
        assert_eq!(s.settings[1], ("request.method", "PATCH".to_string()));
        assert_eq!(s.settings[2], ("request.path", "/items".to_string()));
        let anon = Caller {
            role: Some("anon".into()),
            claims: None,
            token: false,
        };
        let s = Session::for_caller(&anon, "GET", "/items").unwrap();
        assert_eq!(s.settings[0].1, r#"{"role":"anon"}"#);
    }
}
