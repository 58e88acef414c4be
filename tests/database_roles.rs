//! PostgreSQL's own roles, PostgREST-style (`[auth] database_roles = true`, SPEC 4.7): each
//! request's transaction switches to the token's role and sets `request.jwt.claims`,
//! `request.method` and `request.path`, so real GRANTs and row-level security policies
//! decide. A role without a privilege is refused (never served as the login role), a role
//! the database does not know is 401, and no role or setting outlives its request on a
//! pooled connection. PostgreSQL only; the other backends refuse the key at start-up.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};

use common::*;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &str = "restable-db-roles-secret-0123456789-abcdef";
const SECRET_ENV: &str = "RESTABLE_TEST_DB_ROLES_SECRET";

/// Roles are cluster-wide: each test names its own, and drops them when done.
struct Roles {
    prefix: String,
}

impl Roles {
    fn new() -> Roles {
        static N: AtomicU32 = AtomicU32::new(0);
        Roles {
            prefix: format!(
                "rr{}_{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }

    fn user(&self) -> String {
        format!("{}_user", self.prefix)
    }

    fn anon(&self) -> String {
        format!("{}_anon", self.prefix)
    }

    fn admin(sql: &str) {
        let url = Backend::Postgres.admin_url().expect("postgres url");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&url).await.expect("connect");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{e}: {sql}"));
        });
    }
}

impl Drop for Roles {
    fn drop(&mut self) {
        // The test database (and the grants in it) is gone by now.
        Roles::admin(&format!(
            "DROP ROLE IF EXISTS {0}_user; DROP ROLE IF EXISTS {0}_anon",
            self.prefix
        ));
    }
}

fn token(claims: Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("encode")
}

fn user_token(roles: &Roles, sub: &str) -> String {
    token(
        json!({"role": roles.user(), "sub": sub, "exp": jsonwebtoken::get_current_timestamp() + 600}),
    )
}

/// A server whose tables carry real grants and an RLS policy on `notes` by the token's
/// `sub`; `secrets` is granted to nobody.
fn start(roles: &Roles) -> TestServer {
    let (user, anon) = (roles.user(), roles.anon());
    Roles::admin(&format!(
        "CREATE ROLE {user} NOLOGIN; CREATE ROLE {anon} NOLOGIN"
    ));
    let sql = format!(
        "
CREATE TABLE notes (id SERIAL PRIMARY KEY,
  owner TEXT NOT NULL DEFAULT current_setting('request.jwt.claims', true)::json->>'sub',
  body TEXT,
  who TEXT DEFAULT current_user,
  method TEXT DEFAULT current_setting('request.method', true),
  path TEXT DEFAULT current_setting('request.path', true));
INSERT INTO notes (owner, body) VALUES ('alice', 'a1'), ('alice', 'a2'), ('bob', 'b1');
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON notes USING (owner = current_setting('request.jwt.claims', true)::json->>'sub');
CREATE TABLE secrets (id INTEGER PRIMARY KEY, v TEXT);
INSERT INTO secrets VALUES (1, 'the login role can read this');
CREATE TABLE public_items (id INTEGER PRIMARY KEY, name TEXT);
INSERT INTO public_items VALUES (1, 'open');
CREATE VIEW whoami AS SELECT current_user::text AS who,
  current_setting('request.jwt.claims', true) AS claims,
  current_setting('request.method', true) AS method,
  current_setting('request.path', true) AS path;
GRANT USAGE ON SCHEMA public TO {user}, {anon};
GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO {user};
GRANT USAGE ON SEQUENCE notes_id_seq TO {user};
GRANT SELECT ON public_items TO {user}, {anon};
GRANT SELECT ON whoami TO {user}, {anon};
"
    );
    std::env::set_var(SECRET_ENV, SECRET);
    let toml = format!(
        "
[auth]
mode = \"jwt\"
jwt_secret_env = \"{SECRET_ENV}\"
anonymous_role = \"{anon}\"
database_roles = true

[services.notes]
[services.secrets]
[services.public_items]
[services.whoami]
"
    );
    TestServer::start(Backend::Postgres, &sql, &toml)
}

fn postgres() -> bool {
    backends().contains(&Backend::Postgres)
}

fn as_<'a>(s: &'a TestServer, method: &'static str, path: &str, tok: &str) -> Req<'a> {
    s.req(method, path)
        .header("Authorization", &format!("Bearer {tok}"))
}

#[test]
fn grants_and_policies_decide() {
    if !postgres() {
        return;
    }
    let roles = Roles::new();
    let s = start(&roles);
    let alice = user_token(&roles, "alice");
    let bob = user_token(&roles, "bob");

    // The RLS policy confines reads to the caller's rows; counts too.
    let r = as_(&s, "GET", "/notes?select=owner,body&order=id", &alice)
        .header("Prefer", "count=exact")
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json(),
        json!([{"owner": "alice", "body": "a1"}, {"owner": "alice", "body": "a2"}])
    );
    assert_eq!(r.header("content-range"), Some("0-1/2"));
    let r = as_(&s, "GET", "/notes?select=body", &bob).send();
    assert_eq!(r.json(), json!([{"body": "b1"}]));
    // Another's row is absent, by key as by filter.
    let bobs = 3;
    as_(&s, "GET", &format!("/notes/{bobs}"), &alice)
        .send()
        .assert_error(404, "not_found");

    // A table the role has no grant on: refused, never read as the login role (the
    // pg-rest-server bug). 403 with a token, 401 without one.
    let r = as_(&s, "GET", "/secrets", &alice).send();
    let body = r.assert_error(403, "forbidden");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("permission denied") && m.contains("42501")),
        "{body}"
    );
    assert!(!r.text.contains("login role can read"), "{}", r.text);
    let r = s.get("/secrets");
    r.assert_error(401, "unauthorized");
    assert!(r
        .header("www-authenticate")
        .is_some_and(|h| h.starts_with("Bearer")));
    assert!(!r.text.contains("login role can read"), "{}", r.text);
    // HEAD and counts go the same way.
    assert_eq!(as_(&s, "HEAD", "/secrets", &alice).send().status, 403);
    // The anonymous role has its own grants.
    let r = s.get("/public_items");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!([{"id": 1, "name": "open"}]));
    s.get("/notes").assert_error(401, "unauthorized");

    // Writes: the column defaults see the role, the claims and the request.
    let r = as_(&s, "POST", "/notes", &alice)
        .header("Prefer", "return=representation")
        .json(&json!({"body": "new"}))
        .send();
    assert_eq!(r.status, 201, "{}", r.text);
    let row = &r.json()[0];
    assert_eq!(row["owner"], "alice");
    assert_eq!(row["who"], roles.user());
    assert_eq!(row["method"], "POST");
    assert_eq!(row["path"], "/notes");
    // The policy's check refuses a row for someone else: 403, nothing written.
    let r = as_(&s, "POST", "/notes", &alice)
        .json(&json!({"owner": "bob", "body": "forged"}))
        .send();
    r.assert_error(403, "forbidden");
    let r = as_(&s, "GET", "/notes?body=eq.forged", &bob).send();
    assert_eq!(r.json(), json!([]));
    // PATCH and DELETE of another's rows change nothing.
    let r = as_(&s, "PATCH", &format!("/notes?id=eq.{bobs}"), &alice)
        .header("Prefer", "return=representation")
        .json(&json!({"body": "taken"}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!([]));
    let r = as_(&s, "DELETE", "/notes?owner=eq.bob", &alice).send();
    assert_eq!(r.status, 204, "{}", r.text);
    let r = as_(&s, "GET", "/notes?select=body", &bob).send();
    assert_eq!(r.json(), json!([{"body": "b1"}]));
    // A write the role has no grant for.
    let r = as_(&s, "POST", "/secrets", &alice)
        .json(&json!({"id": 2, "v": "x"}))
        .send();
    r.assert_error(403, "forbidden");
    let r = s
        .req("POST", "/public_items")
        .json(&json!({"id": 2}))
        .send();
    r.assert_error(401, "unauthorized");

    // A role the database does not know: 401, as PostgREST.
    let ghost = token(json!({"role": format!("{}_ghost", roles.prefix), "sub": "alice"}));
    as_(&s, "GET", "/notes", &ghost)
        .send()
        .assert_error(401, "unauthorized");
}

#[test]
fn no_role_or_setting_outlives_its_request() {
    if !postgres() {
        return;
    }
    let roles = Roles::new();
    let s = start(&roles);
    let alice = user_token(&roles, "alice");
    let bob = user_token(&roles, "bob");
    let who = |r: &Resp| -> (String, Value, String) {
        assert_eq!(r.status, 200, "{}", r.text);
        let row = &r.json()[0];
        (
            row["who"].as_str().unwrap_or_default().to_string(),
            serde_json::from_str(row["claims"].as_str().unwrap_or("null")).unwrap_or(Value::Null),
            row["path"].as_str().unwrap_or_default().to_string(),
        )
    };
    // Sequential requests reuse the same pooled connection: alternate the roles on it,
    // with failed requests in between.
    for i in 0..6 {
        let (w, claims, path) = who(&as_(&s, "GET", "/whoami", &alice).send());
        assert_eq!(w, roles.user(), "round {i}");
        assert_eq!(claims["sub"], "alice");
        assert_eq!(path, "/whoami");
        assert_eq!(as_(&s, "GET", "/secrets", &bob).send().status, 403);
        let (w, claims, _) = who(&s.get("/whoami"));
        assert_eq!(w, roles.anon(), "round {i}");
        assert_eq!(claims, json!({"role": roles.anon()}));
        let (w, claims, _) = who(&as_(&s, "GET", "/whoami", &bob).send());
        assert_eq!(w, roles.user());
        assert_eq!(claims["sub"], "bob");
        let r = as_(&s, "POST", "/notes", &bob)
            .json(&json!({"owner": "alice"}))
            .send();
        assert_eq!(r.status, 403, "{}", r.text);
    }
    // Many at once, over every pooled connection: each answer is its own caller's.
    std::thread::scope(|scope| {
        for t in 0..8 {
            let s = &s;
            let (alice, bob) = (alice.clone(), bob.clone());
            let roles = &roles;
            scope.spawn(move || {
                for _ in 0..10 {
                    let (tok, sub) = if t % 2 == 0 {
                        (&alice, "alice")
                    } else {
                        (&bob, "bob")
                    };
                    let (w, claims, _) = who(&as_(s, "GET", "/whoami", tok).send());
                    assert_eq!(w, roles.user());
                    assert_eq!(claims["sub"], sub);
                    let (w, _, _) = who(&s.get("/whoami"));
                    assert_eq!(w, roles.anon());
                }
            });
        }
    });
}

#[test]
fn other_backends_refuse_the_key() {
    for url in ["mysql://root@127.0.0.1:3306/test", "sqlite://x.db"] {
        let toml = format!(
            "[database]\nurl = \"{url}\"\n[auth]\nmode = \"jwt\"\njwt_secret_env = \"X\"\ndatabase_roles = true\n[services.artists]\n"
        );
        let e = restable::config::Config::parse(
            &toml,
            std::path::Path::new("services.toml"),
            &Default::default(),
            &[],
        )
        .expect_err(&toml);
        assert_eq!(e.key, "auth.database_roles", "{toml}: {e}");
        assert!(e.to_string().contains("PostgreSQL only"), "{e}");
    }
    // On PostgreSQL the same configuration is accepted.
    let toml = "[database]\nurl = \"postgres://u@127.0.0.1/db\"\n[auth]\nmode = \"jwt\"\njwt_secret_env = \"X\"\ndatabase_roles = true\n[services.artists]\n";
    restable::config::Config::parse(
        toml,
        std::path::Path::new("services.toml"),
        &Default::default(),
        &[],
    )
    .expect("accepted on PostgreSQL");
}
