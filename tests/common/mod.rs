//! Test harness: a real restable server on a fresh database per test, driven over real
//! HTTP. `each_backend` runs one test body on every backend available: SQLite always,
//! PostgreSQL / MariaDB when their test URLs are set (see README "Tests").
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;

/// The music fixture: the same rows on every backend (PostgREST's acceptance fixture).
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
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
        }
    }
}

/// Every backend this run can test.
pub fn backends() -> Vec<Backend> {
    vec![Backend::Sqlite]
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

pub struct TestServer {
    pub backend: Backend,
    pub base: String,
    pub dir: tempfile::TempDir,
    runtime: Option<tokio::runtime::Runtime>,
    running: Option<restable::Running>,
    agent: ureq::Agent,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let (Some(rt), Some(running)) = (self.runtime.as_ref(), self.running.take()) {
            let _ = rt.block_on(running.stop(Duration::from_millis(200)));
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
        let url = match backend {
            Backend::Sqlite => {
                let path = dir.path().join(format!("test{n}.db"));
                let conn = rusqlite::Connection::open(&path).expect("open sqlite");
                conn.execute_batch(schema_sql).expect("load schema");
                format!("sqlite://{}", path.display())
            }
        };
        let (server_part, rest) = split_server_section(services_toml);
        let toml = format!(
            "[server]\nbind = \"127.0.0.1:0\"\n{server_part}\n[database]\nurl = \"{url}\"\npool_size = 4\n{rest}"
        );
        Self::start_with_config(backend, dir, &toml)
    }

    pub fn music(backend: Backend) -> TestServer {
        Self::start(backend, MUSIC_SQLITE, MUSIC_TOML)
    }

    pub fn start_with_config(backend: Backend, dir: tempfile::TempDir, toml: &str) -> TestServer {
        let file: PathBuf = dir.path().join("services.toml");
        std::fs::write(&file, toml).expect("write config");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let config = restable::Config::load_with_env(&file, &restable::Overrides::default(), &[])
            .unwrap_or_else(|e| panic!("config: {e}\n{toml}"));
        let running = runtime
            .block_on(restable::start(config, Duration::from_secs(2)))
            .unwrap_or_else(|e| panic!("start: {e}"));
        let base = format!("http://{}", running.addr);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
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

/// Run `body` against every available backend, each with the music fixture.
pub fn each_backend(body: impl Fn(&TestServer)) {
    for b in backends() {
        let srv = TestServer::music(b);
        body(&srv);
    }
}
