//! Test harness: a real restable server on a fresh database per test, driven over real
//! HTTP. `each_backend` runs one test body on every backend available: SQLite always,
//! PostgreSQL / MariaDB when their test URLs are set (see README "Tests").
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;

/// The music fixture, SQLite dialect (`fixture("music", backend)` for the others).
pub const MUSIC_SQLITE: &str = include_str!("../fixtures/music.sqlite.sql");

pub const MUSIC_TOML: &str = r#"
[services.artists]
[services.albums]
[services.tracks]
[services.playlists]
[services.playlist_items]
table = "playlist_tracks"
"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        }
    }

    fn env(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => "RESTABLE_TEST_POSTGRES_URL",
            Backend::MySql => "RESTABLE_TEST_MYSQL_URL",
        }
    }

    /// The admin URL of a server backend, when this run has one.
    pub fn admin_url(self) -> Option<String> {
        if self == Backend::Sqlite {
            return None;
        }
        std::env::var(self.env()).ok().filter(|u| !u.is_empty())
    }
}

static NOTICE: [std::sync::Once; 2] = [std::sync::Once::new(), std::sync::Once::new()];

/// Every backend this run can test: SQLite always; PostgreSQL / MariaDB when their test
/// URLs are set. With RESTABLE_REQUIRE_BACKENDS=1 a missing one fails the test.
pub fn backends() -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite];
    let require = std::env::var("RESTABLE_REQUIRE_BACKENDS").is_ok_and(|v| v == "1");
    for (n, b) in [Backend::Postgres, Backend::MySql].into_iter().enumerate() {
        if b.admin_url().is_some() {
            out.push(b);
        } else if require {
            panic!("RESTABLE_REQUIRE_BACKENDS=1 but {} is not set", b.env());
        } else {
            // Written to the process's stderr itself, not with `eprintln!`: the test
            // harness captures the macros' output of a passing test, and a run that
            // skipped a backend would look like a full pass.
            NOTICE[n].call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "notice: {} not set, skipping {} tests (set it to run them)",
                    b.env(),
                    b.name()
                );
            });
        }
    }
    out
}

/// Split a SQL script into statements (on `;` at line ends; fixtures keep to that).
pub fn statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in script.lines() {
        let t = line.trim();
        if t.starts_with("--") || t.is_empty() {
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
        if t.ends_with(';') {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// Create a fresh database on a server backend; returns its URL.
fn fresh_database(rt: &tokio::runtime::Runtime, backend: Backend, n: u64) -> (String, String) {
    let admin = backend.admin_url().expect("admin url");
    let name = format!("restable_t{}_{n}", std::process::id());
    rt.block_on(async {
        match backend {
            Backend::Postgres => {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&admin)
                    .await
                    .expect("connect postgres");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name}"
                )))
                .execute(&mut c)
                .await
                .expect("drop");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut c)
                    .await
                    .expect("create database");
            }
            Backend::MySql => {
                use sqlx::Connection;
                let mut c = sqlx::MySqlConnection::connect(&admin)
                    .await
                    .expect("connect mysql");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name}"
                )))
                .execute(&mut c)
                .await
                .expect("drop");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                )))
                .execute(&mut c)
                .await
                .expect("create database");
            }
            Backend::Sqlite => unreachable!(),
        }
    });
    let base = match admin.rfind('/') {
        Some(i) if i > admin.find("://").map_or(0, |p| p + 2) => admin[..i].to_string(),
        _ => admin.clone(),
    };
    let query = admin
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    let base = base.split('?').next().unwrap_or(&base).to_string();
    (format!("{base}/{name}{query}"), name)
}

fn load_script(rt: &tokio::runtime::Runtime, backend: Backend, url: &str, script: &str) {
    rt.block_on(async {
        use sqlx::Connection;
        match backend {
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
                for st in statements(script) {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(st.clone()))
                        .execute(&mut c)
                        .await
                        .unwrap_or_else(|e| panic!("{e}: {st}"));
                }
            }
            Backend::MySql => {
                let mut c = sqlx::MySqlConnection::connect(url).await.expect("connect");
                for st in statements(script) {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(st.clone()))
                        .execute(&mut c)
                        .await
                        .unwrap_or_else(|e| panic!("{e}: {st}"));
                }
            }
            Backend::Sqlite => unreachable!(),
        }
    });
}

/// The text of `tests/fixtures/{name}.{backend}.sql`.
pub fn fixture(name: &str, backend: Backend) -> String {
    let path = format!(
        "{}/tests/fixtures/{name}.{}.sql",
        env!("CARGO_MANIFEST_DIR"),
        backend.name()
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

pub struct TestServer {
    pub backend: Backend,
    pub base: String,
    pub dir: tempfile::TempDir,
    runtime: Option<tokio::runtime::Runtime>,
    running: Option<restable::Running>,
    agent: ureq::Agent,
    /// The database URL the server uses.
    pub url: String,
    /// A server backend's database, dropped with the server.
    drop_db: Option<String>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let (Some(rt), Some(running)) = (self.runtime.as_ref(), self.running.take()) {
            let _ = rt.block_on(running.stop(Duration::from_millis(200)));
        }
        if let (Some(rt), Some(name), Some(admin)) = (
            self.runtime.as_ref(),
            self.drop_db.take(),
            self.backend.admin_url(),
        ) {
            let backend = self.backend;
            rt.block_on(async move {
                use sqlx::Connection;
                let sql = match backend {
                    Backend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    _ => format!("DROP DATABASE IF EXISTS {name}"),
                };
                match backend {
                    Backend::Postgres => {
                        if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                                .execute(&mut c)
                                .await;
                        }
                    }
                    Backend::MySql => {
                        if let Ok(mut c) = sqlx::MySqlConnection::connect(&admin).await {
                            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                                .execute(&mut c)
                                .await;
                        }
                    }
                    Backend::Sqlite => {}
                }
            });
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// A response: status, headers (lower-case names) and body text.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Assert an error response: status, `code`, and the four keys of the error shape.
    pub fn assert_error(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text);
        let v = self.json();
        assert_eq!(v["code"], code, "body: {}", self.text);
        let keys: Vec<&String> = v.as_object().expect("error object").keys().collect();
        assert_eq!(keys.len(), 4, "error keys: {keys:?}");
        for k in ["code", "message", "details", "hint"] {
            assert!(v.get(k).is_some(), "missing {k} in {}", self.text);
        }
        assert!(
            self.header("content-type")
                .unwrap_or("")
                .starts_with("application/json"),
            "error content-type"
        );
        v
    }
}

pub struct Req<'a> {
    server: &'a TestServer,
    method: &'a str,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl<'a> Req<'a> {
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }

    /// A JSON body (sets Content-Type).
    pub fn json(mut self, v: &Value) -> Self {
        self.headers
            .push(("content-type".into(), "application/json".into()));
        self.body = Some(v.to_string().into_bytes());
        self
    }

    /// A raw body with no Content-Type added.
    pub fn raw(mut self, body: &[u8]) -> Self {
        self.body = Some(body.to_vec());
        self
    }

    pub fn send(self) -> Resp {
        let url = format!("{}{}", self.server.base, self.path);
        let mut builder = ureq::http::Request::builder().method(self.method).uri(&url);
        for (k, v) in &self.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let body = self.body.unwrap_or_default();
        let req = builder.body(body).expect("request");
        let mut resp = self
            .server
            .agent
            .run(req)
            .unwrap_or_else(|e| panic!("{} {url}: {e}", self.method));
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let text = resp
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .unwrap_or_default();
        Resp {
            status,
            headers,
            text,
        }
    }
}

impl TestServer {
    /// A server on a fresh database loaded with `schema_sql`, exposing `services_toml`
    /// (the `[services.*]` sections, plus any `[server]` keys).
    pub fn start(backend: Backend, schema_sql: &str, services_toml: &str) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let runtime = runtime();
        let (url, drop_db) = match backend {
            Backend::Sqlite => {
                let path = dir.path().join(format!("test{n}.db"));
                let conn = rusqlite::Connection::open(&path).expect("open sqlite");
                conn.execute_batch(schema_sql).expect("load schema");
                (format!("sqlite://{}", path.display()), None)
            }
            Backend::Postgres | Backend::MySql => {
                let (url, name) = fresh_database(&runtime, backend, n);
                load_script(&runtime, backend, &url, schema_sql);
                (url, Some(name))
            }
        };
        let (server_part, rest) = split_server_section(services_toml);
        let toml = format!(
            "[server]\nbind = \"127.0.0.1:0\"\n{server_part}\n[database]\nurl = \"{url}\"\npool_size = 4\n{rest}"
        );
        let mut srv = Self::start_with_runtime(backend, dir, &toml, runtime);
        srv.url = url;
        srv.drop_db = drop_db;
        srv
    }

    /// A server on the fixture `tests/fixtures/{name}.{backend}.sql`.
    pub fn fixture(backend: Backend, name: &str, services_toml: &str) -> TestServer {
        Self::start(backend, &fixture(name, backend), services_toml)
    }

    pub fn music(backend: Backend) -> TestServer {
        Self::fixture(backend, "music", MUSIC_TOML)
    }

    pub fn start_with_config(backend: Backend, dir: tempfile::TempDir, toml: &str) -> TestServer {
        Self::start_with_runtime(backend, dir, toml, runtime())
    }

    fn start_with_runtime(
        backend: Backend,
        dir: tempfile::TempDir,
        toml: &str,
        runtime: tokio::runtime::Runtime,
    ) -> TestServer {
        let file: PathBuf = dir.path().join("services.toml");
        std::fs::write(&file, toml).expect("write config");
        let config = restable::Config::load_with_env(&file, &restable::Overrides::default(), &[])
            .unwrap_or_else(|e| panic!("config: {e}\n{toml}"));
        let running = runtime
            .block_on(restable::start(config, Duration::from_secs(2)))
            .unwrap_or_else(|e| panic!("start: {e}"));
        let base = format!("http://{}", running.addr);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // A 300 (an ambiguous embed) is an answer to check, not a redirect.
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        TestServer {
            backend,
            base,
            dir,
            runtime: Some(runtime),
            running: Some(running),
            agent,
            url: String::new(),
            drop_db: None,
        }
    }

    /// The running server itself, for tests that look inside (metrics upkeep).
    pub fn server(&self) -> &restable::http::Server {
        match &self.running {
            Some(r) => &r.server,
            None => panic!("the server has stopped"),
        }
    }

    pub fn req(&self, method: &'static str, path: &str) -> Req<'_> {
        Req {
            server: self,
            method,
            path: path.to_string(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn get(&self, path: &str) -> Resp {
        self.req("GET", path).send()
    }

    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.req("POST", path).json(body).send()
    }

    pub fn patch(&self, path: &str, body: &Value) -> Resp {
        self.req("PATCH", path).json(body).send()
    }

    pub fn put(&self, path: &str, body: &Value) -> Resp {
        self.req("PUT", path).json(body).send()
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.req("DELETE", path).send()
    }

    /// The name of a server backend's test database.
    pub fn database_name(&self) -> Option<&str> {
        self.drop_db.as_deref()
    }

    /// Close every connection the server has open to its database, from the database
    /// side (as a restart or an idle timeout of the database would).
    pub fn kill_connections(&self) {
        let (Some(rt), Some(admin), Some(db)) = (
            self.runtime.as_ref(),
            self.backend.admin_url(),
            self.database_name(),
        ) else {
            return;
        };
        rt.block_on(async {
            use sqlx::{Connection, Row};
            match self.backend {
                Backend::Postgres => {
                    let mut c = sqlx::PgConnection::connect(&admin).await.expect("connect");
                    sqlx::query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = $1 AND pid <> pg_backend_pid()",
                    )
                    .bind(db)
                    .execute(&mut c)
                    .await
                    .expect("terminate");
                }
                Backend::MySql => {
                    let mut c = sqlx::MySqlConnection::connect(&admin)
                        .await
                        .expect("connect");
                    let ids: Vec<i64> = sqlx::query(
                        "SELECT id FROM information_schema.processlist \
                         WHERE db = ? AND id <> CONNECTION_ID()",
                    )
                    .bind(db)
                    .fetch_all(&mut c)
                    .await
                    .expect("processlist")
                    .iter()
                    .map(|r| {
                        r.try_get::<i64, _>(0)
                            .or_else(|_| r.try_get::<u64, _>(0).map(|v| v as i64))
                            .expect("id")
                    })
                    .collect();
                    for id in ids {
                        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("KILL {id}")))
                            .execute(&mut c)
                            .await;
                    }
                }
                Backend::Sqlite => {}
            }
        });
    }

    /// `ids [..]` of a JSON array body whose objects have an `id`.
    pub fn ids(&self, path: &str) -> Vec<i64> {
        let r = self.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        r.json()
            .as_array()
            .expect("array")
            .iter()
            .map(|o| o["id"].as_i64().expect("id"))
            .collect()
    }
}

fn split_server_section(toml: &str) -> (String, String) {
    // Lines before the first `[` section header that is not `[server]` go into [server].
    let mut server = String::new();
    let mut rest = String::new();
    let mut in_server = false;
    for line in toml.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_server = t == "[server]";
            if in_server {
                continue;
            }
        }
        if in_server {
            server.push_str(line);
            server.push('\n');
        } else {
            rest.push_str(line);
            rest.push('\n');
        }
    }
    (server, rest)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Run `body` against every available backend, each with the music fixture.
pub fn each_backend(body: impl Fn(&TestServer)) {
    for b in backends() {
        let srv = TestServer::music(b);
        body(&srv);
    }
}

/// A `kB` field of this process's `/proc/self/status` (`VmRSS`, `VmHWM`), 0 where there
/// is no such file.
pub fn proc_status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
