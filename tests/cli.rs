//! The real `restable` binary (SPEC §1, §2): `check`, `init`, start-up errors (exit code 2
//! naming the file and the key), serving, SIGTERM/SIGINT, and the override precedence
//! flag > env > file.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_restable");

/// A `restable` command with no `RESTABLE_*` variables inherited from the test run.
fn restable() -> Command {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("RESTABLE_") || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
    c.env("RESTABLE_LOG", "info").env("NO_COLOR", "1");
    c
}

/// A database of backend `b` loaded with the music fixture (and `users` when asked), kept
/// alive by the returned test server; its URL is `server.url`.
fn database(b: Backend, with_users: bool) -> TestServer {
    let mut sql = fixture("music", b);
    let mut toml = MUSIC_TOML.to_string();
    if with_users {
        sql.push('\n');
        sql.push_str(&fixture("users", b));
        toml.push_str("[services.users]\n");
    }
    TestServer::start(b, &sql, &toml)
}

/// Write `services` (the `[services.*]` part) plus `[server]`/`[database]` sections into
/// `dir/services.toml`.
fn write_config(dir: &Path, url: &str, bind: &str, services: &str) -> PathBuf {
    let file = dir.join("services.toml");
    let text = format!(
        "[server]\nbind = \"{bind}\"\n\n[database]\nurl = \"{url}\"\npool_size = 2\n\n{services}"
    );
    std::fs::write(&file, text).expect("write config");
    file
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap().port()
}

/// A running `restable` child: its output lines (stdout and stderr) as they come.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    fn spawn(cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn restable");
        let (tx, rx) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        for stream in [
            Box::new(out) as Box<dyn std::io::Read + Send>,
            Box::new(err) as Box<dyn std::io::Read + Send>,
        ] {
            let tx = tx.clone();
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        Proc {
            child,
            lines: rx,
            log,
        }
    }

    fn output(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Wait for a line containing `needle`; returns it.
    fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!(
                    "no line with {needle:?} within {timeout:?}:\n{}",
                    self.output()
                ),
            }
        }
    }

    /// The address from the `listening on http://ADDR` log line.
    fn listening(&self) -> String {
        let line = self.wait_for("listening on http://", Duration::from_secs(30));
        let at = line.find("listening on http://").unwrap() + "listening on http://".len();
        line[at..]
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string()
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                // Let the reader threads drain the pipes.
                std::thread::sleep(Duration::from_millis(100));
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(st.success(), "kill -{sig} failed");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn http_get(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut r = agent
        .get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_string().unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------
// check

#[test]
fn check_prints_one_line_per_service_and_exits_0() {
    for b in backends() {
        let db = database(b, false);
        let dir = tempfile::tempdir().unwrap();
        let file = write_config(dir.path(), &db.url, "127.0.0.1:0", MUSIC_TOML);
        let out = restable()
            .arg("check")
            .arg("--config")
            .arg(&file)
            .output()
            .expect("run check");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(0),
            "stdout:\n{stdout}\nstderr:\n{stderr}"
        );
        let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 5, "one line per service:\n{stdout}");
        for svc in ["artists", "albums", "tracks", "playlists", "playlist_items"] {
            let n = lines
                .iter()
                .filter(|l| l.contains(&format!("/{svc} ")) || l.ends_with(&format!("/{svc}")))
                .count();
            assert_eq!(n, 1, "/{svc} in:\n{stdout}");
        }
        let pi = lines
            .iter()
            .find(|l| l.contains("/playlist_items"))
            .unwrap();
        assert!(pi.contains("playlist_tracks"), "{pi}");

        // The config file can come from $RESTABLE_CONFIG.
        let out = restable()
            .arg("check")
            .env("RESTABLE_CONFIG", &file)
            .current_dir(dir.path().parent().unwrap())
            .output()
            .expect("run check");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5);
    }
}

/// Bad configurations: each names its file and its key, and stops start-up with code 2.
fn bad_configs() -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "unknown key in a service",
            format!("{MUSIC_TOML}hiden = [\"name\"]\n"),
            "hiden",
        ),
        ("unknown key in [server]", MUSIC_TOML.to_string(), "bindd"),
        (
            "missing table",
            format!("{MUSIC_TOML}[services.nope]\n"),
            "services.nope",
        ),
        (
            "missing table under another name",
            format!("{MUSIC_TOML}[services.gone]\ntable = \"no_such_table\"\n"),
            "services.gone",
        ),
        (
            "hidden column that does not exist",
            "[services.artists]\nhidden = [\"no_such_column\"]\n".to_string(),
            "services.artists.hidden",
        ),
        (
            "read_only column that does not exist",
            "[services.artists]\nread_only = [\"no_such_column\"]\n".to_string(),
            "services.artists.read_only",
        ),
        (
            "service name starting with _",
            "[services._x]\ntable = \"artists\"\n".to_string(),
            "services._x",
        ),
    ]
}

fn config_for(dir: &Path, url: &str, what: &str, services: &str) -> PathBuf {
    let file = write_config(dir, url, "127.0.0.1:0", services);
    if what == "unknown key in [server]" {
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, text.replace("[server]\n", "[server]\nbindd = 1\n")).unwrap();
    }
    file
}

#[test]
fn startup_errors_exit_2_naming_file_and_key() {
    for b in backends() {
        let db = database(b, false);
        for (what, services, key) in bad_configs() {
            let dir = tempfile::tempdir().unwrap();
            let file = config_for(dir.path(), &db.url, what, &services);
            let mut p = Proc::spawn(restable().arg("--config").arg(&file));
            let st = p.wait_exit(Duration::from_secs(20));
            let out = p.output();
            let st = st.unwrap_or_else(|| panic!("{what}: still running:\n{out}"));
            assert_eq!(st.code(), Some(2), "{what}:\n{out}");
            assert!(
                out.contains(&file.display().to_string()),
                "{what}: file not named:\n{out}"
            );
            assert!(out.contains(key), "{what}: {key} not named:\n{out}");
        }
    }
}

#[test]
fn check_reports_config_errors_naming_file_and_key() {
    for b in backends() {
        let db = database(b, false);
        for (what, services, key) in bad_configs() {
            let dir = tempfile::tempdir().unwrap();
            let file = config_for(dir.path(), &db.url, what, &services);
            let out = restable()
                .arg("check")
                .arg("--config")
                .arg(&file)
                .output()
                .expect("run check");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_ne!(out.status.code(), Some(0), "{what}:\n{stderr}");
            assert!(out.status.code().is_some(), "{what}: killed by a signal");
            assert!(
                stderr.contains(&file.display().to_string()),
                "{what}: file not named:\n{stderr}"
            );
            assert!(stderr.contains(key), "{what}: {key} not named:\n{stderr}");
        }
    }
}

#[test]
fn missing_config_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nope.toml");
    let mut p = Proc::spawn(restable().arg("--config").arg(&file));
    let st = p
        .wait_exit(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("still running:\n{}", p.output()));
    assert_eq!(st.code(), Some(2), "{}", p.output());
    assert!(p.output().contains("nope.toml"), "{}", p.output());
}

// ---------------------------------------------------------------------------------------------
// init

#[test]
fn init_prints_a_services_toml_for_every_table() {
    for b in backends() {
        let db = database(b, true);
        let out = restable()
            .arg("init")
            .arg("--database-url")
            .arg(&db.url)
            .output()
            .expect("run init");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: toml::Table = stdout
            .parse()
            .unwrap_or_else(|e| panic!("not TOML ({e}):\n{stdout}"));
        assert_eq!(
            doc["database"]["url"].as_str(),
            Some(db.url.as_str()),
            "{stdout}"
        );
        let services = doc["services"].as_table().expect("[services.*]");
        let mut tables: Vec<String> = services
            .iter()
            .map(|(name, t)| {
                t.get("table")
                    .and_then(|v| v.as_str())
                    .unwrap_or(name)
                    .to_string()
            })
            .collect();
        tables.sort();
        assert_eq!(
            tables,
            [
                "albums",
                "artists",
                "playlist_tracks",
                "playlists",
                "tracks",
                "users"
            ],
            "{stdout}"
        );
        let users = services
            .iter()
            .find(|(n, t)| {
                *n == "users" || t.get("table").and_then(|v| v.as_str()) == Some("users")
            })
            .map(|(_, t)| t)
            .unwrap();
        let hidden: Vec<&str> = users["hidden"]
            .as_array()
            .expect("hidden suggested for users")
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(hidden, ["password"], "{stdout}");
        for (name, t) in services {
            if name != "users" {
                assert!(t.get("hidden").is_none(), "{name}: {stdout}");
            }
        }

        // What it prints is a working configuration.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("services.toml");
        std::fs::write(&file, &stdout).unwrap();
        let out = restable()
            .arg("check")
            .arg("--config")
            .arg(&file)
            .output()
            .expect("run check");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 6);
    }
}

#[test]
fn init_and_check_refuse_a_missing_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo.db");
    let url = format!("sqlite://{}", missing.display());
    let out = restable()
        .arg("init")
        .arg("--database-url")
        .arg(&url)
        .output()
        .expect("run init");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        stderr.trim_end(),
        format!(
            "restable init: the SQLite database {} does not exist (check the path in the database URL)",
            missing.display()
        )
    );
    assert!(!missing.exists(), "init created {}", missing.display());

    // `check` too (exit 1, as for every problem it finds), with the path resolved
    // against the config file's folder.
    let file = write_config(
        dir.path(),
        "sqlite://typo.db",
        "127.0.0.1:0",
        "[services.t]\n",
    );
    let out = restable()
        .arg("check")
        .arg("--config")
        .arg(&file)
        .output()
        .expect("run check");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains(&format!("{} does not exist", missing.display())),
        "{stderr}"
    );
    assert!(!missing.exists(), "check created {}", missing.display());
}

#[test]
fn init_names_services_after_awkward_tables() {
    for b in backends() {
        let sql = match b {
            Backend::Sqlite => {
                "CREATE TABLE \"Order Items\" (id INTEGER PRIMARY KEY, qty INTEGER);\n\
                 CREATE TABLE order_items (id INTEGER PRIMARY KEY);\n"
            }
            Backend::Postgres => {
                "CREATE TABLE \"Order Items\" (id INTEGER PRIMARY KEY, qty INTEGER);\n\
                 CREATE TABLE order_items (id INTEGER PRIMARY KEY);\n\
                 CREATE SCHEMA sales;\n\
                 CREATE TABLE sales.orders (id INTEGER PRIMARY KEY);\n"
            }
            Backend::MySql => {
                "CREATE TABLE `Order Items` (id INTEGER PRIMARY KEY, qty INTEGER);\n\
                 CREATE TABLE order_items (id INTEGER PRIMARY KEY);\n"
            }
        };
        let db = TestServer::start(b, sql, "[services.order_items]\n");
        let out = restable()
            .arg("init")
            .arg("--database-url")
            .arg(&db.url)
            .output()
            .expect("run init");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(out.status.code(), Some(0), "{}", b.name());
        let doc: toml::Table = stdout
            .parse()
            .unwrap_or_else(|e| panic!("not TOML ({e}):\n{stdout}"));
        let services = doc["services"].as_table().expect("[services.*]");
        let mut found: Vec<(String, Option<String>)> = services
            .iter()
            .map(|(name, t)| {
                let table = t.get("table").and_then(|v| v.as_str()).map(String::from);
                (name.clone(), table)
            })
            .collect();
        found.sort();
        // A table whose name is already a service name keeps it.
        let mut want = vec![
            ("order_items".to_string(), None),
            ("order_items_2".to_string(), Some("Order Items".to_string())),
        ];
        if b == Backend::Postgres {
            want.push(("sales_orders".to_string(), Some("sales.orders".to_string())));
        }
        want.sort();
        assert_eq!(found, want, "{}: {stdout}", b.name());
        assert!(
            stdout.contains("# table Order Items (2 columns, key id)"),
            "{stdout}"
        );

        // It is a working configuration.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("services.toml");
        std::fs::write(&file, &stdout).unwrap();
        let out = restable()
            .arg("check")
            .arg("--config")
            .arg(&file)
            .output()
            .expect("run check");
        let printed = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{printed}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            printed.contains("/order_items_2") && printed.contains("(1 column, key: id)"),
            "{printed}"
        );
    }
}

#[test]
fn init_without_a_database_url_fails() {
    let out = restable().arg("init").output().expect("run init");
    assert_ne!(out.status.code(), Some(0));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("database-url"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// serving and signals

#[test]
fn serves_and_exits_0_on_sigterm() {
    for b in backends() {
        let db = database(b, false);
        let dir = tempfile::tempdir().unwrap();
        let file = write_config(dir.path(), &db.url, "127.0.0.1:9", MUSIC_TOML);
        let port = free_port();
        let mut p = Proc::spawn(
            restable()
                .arg("--config")
                .arg(&file)
                .arg("--bind")
                .arg(format!("127.0.0.1:{port}")),
        );
        let addr = p.listening();
        assert_eq!(addr, format!("127.0.0.1:{port}"), "{}", p.output());
        // One log line per service.
        let out = p.output();
        for svc in ["artists", "albums", "tracks", "playlists", "playlist_items"] {
            assert!(out.contains(&format!("/{svc} -> table")), "{svc}:\n{out}");
        }
        let (status, body) = http_get(&format!("http://{addr}/artists?id=eq.1"));
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            json!([{"id": 1, "name": "AC/DC"}])
        );
        let (status, _) = http_get(&format!("http://{addr}/_health"));
        assert_eq!(status, 200);

        p.signal("TERM");
        let st = p
            .wait_exit(Duration::from_secs(15))
            .unwrap_or_else(|| panic!("still running after SIGTERM:\n{}", p.output()));
        assert_eq!(st.code(), Some(0), "{}", p.output());
        // No longer listening.
        assert!(std::net::TcpStream::connect(&addr).is_err());
    }
}

#[test]
fn startup_says_listening_once_and_counts_columns() {
    for b in backends() {
        let db = TestServer::start(
            b,
            "CREATE TABLE one (id INTEGER PRIMARY KEY);\n",
            "[services.one]\n",
        );
        let dir = tempfile::tempdir().unwrap();
        let file = write_config(dir.path(), &db.url, "127.0.0.1:0", "[services.one]\n");
        let mut p = Proc::spawn(restable().arg("--config").arg(&file));
        let addr = p.listening();
        // The server answers, so anything logged at start-up is in by now.
        let (status, _) = http_get(&format!("http://{addr}/_health"));
        assert_eq!(status, 200);
        std::thread::sleep(Duration::from_millis(200));
        let out = p.output();
        let listening: Vec<&str> = out.lines().filter(|l| l.contains("listening")).collect();
        assert_eq!(listening.len(), 1, "{}: {out}", b.name());
        assert!(
            listening[0].ends_with(&format!(" INFO listening on http://{addr}")),
            "{out}"
        );
        assert!(!out.contains("server started"), "{out}");
        assert!(
            out.lines().any(
                |l| l.ends_with(" INFO GET/POST/PATCH/PUT/DELETE /one -> table one (1 column)")
            ),
            "{}: {out}",
            b.name()
        );
        p.signal("TERM");
        let st = p.wait_exit(Duration::from_secs(15));
        assert_eq!(st.and_then(|s| s.code()), Some(0), "{}", p.output());
    }
}

#[test]
fn help_names_each_variable_once() {
    let out = restable().arg("--help").output().expect("run --help");
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(help.matches("RESTABLE_LOG_FORMAT").count(), 1, "{help}");
    assert_eq!(help.matches("RESTABLE_CONFIG").count(), 1, "{help}");
}

#[test]
fn exits_0_on_sigint() {
    for b in backends() {
        let db = database(b, false);
        let dir = tempfile::tempdir().unwrap();
        let file = write_config(dir.path(), &db.url, "127.0.0.1:0", MUSIC_TOML);
        let port = free_port();
        let mut p = Proc::spawn(
            restable()
                .arg("--config")
                .arg(&file)
                .arg("--bind")
                .arg(format!("127.0.0.1:{port}")),
        );
        let addr = p.listening();
        assert_eq!(http_get(&format!("http://{addr}/artists/2")).0, 200);
        p.signal("INT");
        let st = p
            .wait_exit(Duration::from_secs(15))
            .unwrap_or_else(|| panic!("still running after SIGINT:\n{}", p.output()));
        assert_eq!(st.code(), Some(0), "{}", p.output());
    }
}

// ---------------------------------------------------------------------------------------------
// Precedence: flag > env > file

/// Two databases: `a` is the music fixture, `b` the same with artist 1 renamed "B-side".
fn two_databases(b: Backend) -> (TestServer, TestServer) {
    let a = database(b, false);
    let other = database(b, false);
    let r = other.patch("/artists/1", &json!({"name": "B-side"}));
    assert_eq!(r.status, 200, "{}", r.text);
    (a, other)
}

fn artist_1(addr: &str) -> String {
    let (status, body) = http_get(&format!("http://{addr}/artists/1"));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["name"].as_str().unwrap().to_string()
}

#[test]
fn env_overrides_the_file() {
    for b in backends() {
        let (a, other) = two_databases(b);
        let dir = tempfile::tempdir().unwrap();
        // The file names database `other` and an address we must not end up on.
        let file_port = free_port();
        let file = write_config(
            dir.path(),
            &other.url,
            &format!("127.0.0.1:{file_port}"),
            MUSIC_TOML,
        );
        let port = free_port();
        let mut p = Proc::spawn(
            restable()
                .arg("--config")
                .arg(&file)
                .env("RESTABLE_SERVER_BIND", format!("127.0.0.1:{port}"))
                .env("RESTABLE_DATABASE_URL", &a.url),
        );
        let addr = p.listening();
        assert_eq!(addr, format!("127.0.0.1:{port}"), "{}", p.output());
        assert_eq!(artist_1(&addr), "AC/DC");
        assert!(std::net::TcpStream::connect(("127.0.0.1", file_port)).is_err());
        // (The exit code on SIGTERM is `serves_and_exits_0_on_sigterm`'s business.)
        p.signal("TERM");
        assert!(
            p.wait_exit(Duration::from_secs(15)).is_some(),
            "{}",
            p.output()
        );
    }
}

#[test]
fn flags_override_env() {
    for b in backends() {
        let (a, other) = two_databases(b);
        let dir = tempfile::tempdir().unwrap();
        let file = write_config(dir.path(), &a.url, "127.0.0.1:0", MUSIC_TOML);
        let env_port = free_port();
        let flag_port = free_port();
        let mut p = Proc::spawn(
            restable()
                .arg("--config")
                .arg(&file)
                .arg("--bind")
                .arg(format!("127.0.0.1:{flag_port}"))
                .arg("--database-url")
                .arg(&other.url)
                .env("RESTABLE_SERVER_BIND", format!("127.0.0.1:{env_port}"))
                .env("RESTABLE_DATABASE_URL", &a.url),
        );
        let addr = p.listening();
        assert_eq!(addr, format!("127.0.0.1:{flag_port}"), "{}", p.output());
        assert_eq!(artist_1(&addr), "B-side");
        assert!(std::net::TcpStream::connect(("127.0.0.1", env_port)).is_err());
        // (The exit code on SIGTERM is `serves_and_exits_0_on_sigterm`'s business.)
        p.signal("TERM");
        assert!(
            p.wait_exit(Duration::from_secs(15)).is_some(),
            "{}",
            p.output()
        );
    }
}

#[test]
fn env_overrides_apply_to_check() {
    for b in backends() {
        let db = database(b, false);
        let dir = tempfile::tempdir().unwrap();
        // The file's database does not have the tables; the environment's does.
        let empty = dir.path().join("empty.db");
        let file = write_config(
            dir.path(),
            &format!("sqlite://{}", empty.display()),
            "127.0.0.1:0",
            MUSIC_TOML,
        );
        let out = restable()
            .arg("check")
            .arg("--config")
            .arg(&file)
            .output()
            .expect("run check");
        assert_ne!(out.status.code(), Some(0));
        let out = restable()
            .arg("check")
            .arg("--config")
            .arg(&file)
            .env("RESTABLE_DATABASE_URL", &db.url)
            .output()
            .expect("run check");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// reload

/// Poll `url` until its status is `want` (reloads are picked up within about a second).
fn eventually(url: &str, want: u16) -> (u16, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = http_get(url);
        if got.0 == want || std::time::Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_config_file_written_in_steps_is_reloaded_once_complete() {
    // An editor (or `echo >`) truncates the file, then writes it, maybe in parts and within
    // one tick of the file clock: the server must end up on the complete file.
    let b = Backend::Sqlite;
    let db = database(b, false);
    let dir = tempfile::tempdir().unwrap();
    let bind = format!("127.0.0.1:{}", free_port());
    let file = write_config(dir.path(), &db.url, &bind, "[services.artists]\n");
    let full = std::fs::read_to_string(&file).unwrap() + "[services.albums]\n";
    let mut p = Proc::spawn(restable().arg("--config").arg(&file));
    let base = format!("http://{}", p.listening());
    for round in 0..3 {
        let mut f = std::fs::File::create(&file).unwrap();
        let (head, tail) = full.split_at(full.len() / 2);
        std::io::Write::write_all(&mut f, head.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(20 * round));
        std::io::Write::write_all(&mut f, tail.as_bytes()).unwrap();
        drop(f);
        let (status, body) = eventually(&format!("{base}/albums?id=eq.1&select=title"), 200);
        assert_eq!(status, 200, "round {round}: {body}\n{}", p.output());
        // Back to one service for the next round.
        write_config(dir.path(), &db.url, &bind, "[services.artists]\n");
        let (status, _) = eventually(&format!("{base}/albums"), 404);
        assert_eq!(status, 404, "round {round}\n{}", p.output());
    }
    p.signal("TERM");
    let st = p.wait_exit(Duration::from_secs(15));
    assert_eq!(st.and_then(|s| s.code()), Some(0), "{}", p.output());
}

#[test]
fn reload_on_file_change_and_sighup_keeps_the_old_config_when_broken() {
    for b in backends() {
        let db = database(b, false);
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let file = write_config(dir.path(), &db.url, &bind, "[services.artists]\n");
        let mut p = Proc::spawn(restable().arg("--config").arg(&file));
        let addr = p.listening();
        let base = format!("http://{addr}");
        assert_eq!(http_get(&format!("{base}/albums")).0, 404);

        // Adding a service.
        write_config(
            dir.path(),
            &db.url,
            &bind,
            "[services.artists]\n[services.albums]\n",
        );
        let (status, body) = eventually(&format!("{base}/albums?id=eq.1&select=title"), 200);
        assert_eq!(status, 200, "{}: {body}\n{}", b.name(), p.output());
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            json!([{"title": "For Those About To Rock"}])
        );

        // Hiding a column.
        write_config(
            dir.path(),
            &db.url,
            &bind,
            "[services.artists]\n[services.albums]\nhidden = [\"year\"]\n",
        );
        let (status, _) = eventually(&format!("{base}/albums?select=year"), 400);
        assert_eq!(status, 400, "{}\n{}", b.name(), p.output());
        let (_, body) = http_get(&format!("{base}/albums?id=eq.1"));
        assert!(!body.contains("year"), "{body}");

        // A broken edit: the previous configuration keeps serving, and the log says why.
        std::fs::write(&file, "[services.albums\nthis is not toml").unwrap();
        p.wait_for("reload failed", Duration::from_secs(10));
        assert_eq!(http_get(&format!("{base}/albums?id=eq.1")).0, 200);

        // Removing a service, picked up on SIGHUP as well.
        write_config(dir.path(), &db.url, &bind, "[services.artists]\n");
        p.signal("HUP");
        let (status, _) = eventually(&format!("{base}/albums"), 404);
        assert_eq!(status, 404, "{}\n{}", b.name(), p.output());
        assert_eq!(http_get(&format!("{base}/artists?id=eq.1")).0, 200);

        p.signal("TERM");
        let st = p.wait_exit(Duration::from_secs(15));
        assert_eq!(st.and_then(|s| s.code()), Some(0), "{}", p.output());
    }
}

#[test]
fn json_logs_carry_the_request_id() {
    let db = database(Backend::Sqlite, false);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let file = write_config(
        dir.path(),
        &db.url,
        &format!("127.0.0.1:{port}"),
        MUSIC_TOML,
    );
    let p = Proc::spawn(
        restable()
            .env("RESTABLE_LOG", "debug")
            .arg("--log-format")
            .arg("json")
            .arg("--config")
            .arg(&file),
    );
    let line = p.wait_for("listening on http://", Duration::from_secs(30));
    let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(v["level"], "INFO", "{line}");
    // A request with our id: its log lines are JSON objects naming it.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    use std::io::Write as _;
    s.write_all(b"GET /artists?id=eq.1 HTTP/1.1\r\nHost: x\r\nx-request-id: trace-me-42\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    use std::io::Read as _;
    let _ = s.read_to_string(&mut answer);
    assert!(answer.contains("x-request-id: trace-me-42"), "{answer}");
    let line = p.wait_for("trace-me-42", Duration::from_secs(10));
    let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(v["span"]["request_id"], "trace-me-42", "{line}");
    assert_eq!(v["span"]["path"], "/artists", "{line}");
}

#[test]
fn sigterm_lets_requests_in_flight_finish() {
    // A view that takes a second or two to read on SQLite.
    let sql = format!(
        "{}\nCREATE VIEW slow AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000) SELECT max(x) AS n FROM c;\n",
        fixture("music", Backend::Sqlite)
    );
    let db = TestServer::start(Backend::Sqlite, &sql, MUSIC_TOML);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let file = write_config(
        dir.path(),
        &db.url,
        &format!("127.0.0.1:{port}"),
        "[services.slow]\nprimary_key = [\"n\"]\n",
    );
    let mut p = Proc::spawn(restable().arg("--config").arg(&file));
    let addr = p.listening();
    let url = format!("http://{addr}/slow");
    let started = Instant::now();
    let request = std::thread::spawn(move || http_get(&url));
    std::thread::sleep(Duration::from_millis(300));
    p.signal("TERM");
    let (status, body) = request.join().expect("request thread");
    assert_eq!(status, 200, "{body}\n{}", p.output());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        json!([{"n": 10000000}])
    );
    let st = p.wait_exit(Duration::from_secs(15));
    assert_eq!(st.and_then(|s| s.code()), Some(0), "{}", p.output());
    eprintln!("the request took {:?}", started.elapsed());
}

/// `[server] instance_id` starts every log line after the configuration is loaded (text
/// and JSON), and `/_ready` names it.
#[test]
fn log_lines_and_ready_carry_the_instance_id() {
    let db = TestServer::start(
        Backend::Sqlite,
        "CREATE TABLE one (id INTEGER PRIMARY KEY);\n",
        "[services.one]\n",
    );
    for json in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let file = write_config(dir.path(), &db.url, "127.0.0.1:0", "[services.one]\n");
        let mut cmd = restable();
        cmd.arg("--config")
            .arg(&file)
            .env("RESTABLE_SERVER_INSTANCE_ID", "web-7");
        if json {
            cmd.arg("--log-format").arg("json");
        }
        let mut p = Proc::spawn(&mut cmd);
        let addr = p.listening();
        // In JSON the address ends the message: `...:1234"}`.
        let addr = addr.trim_end_matches(['"', '}']).to_string();
        let (status, body) = http_get(&format!("http://{addr}/_ready"));
        assert_eq!(status, 200);
        let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(ready["instance"], "web-7", "{body}");
        assert_eq!(ready["primary"]["status"], "up", "{body}");
        std::thread::sleep(Duration::from_millis(200));
        let out = p.output();
        let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(!lines.is_empty(), "{out}");
        for line in lines {
            if json {
                let v: serde_json::Value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
                assert_eq!(v["instance"], "web-7", "{line}");
                assert!(line.starts_with("{\"instance\":\"web-7\","), "{line}");
            } else {
                assert!(line.starts_with("[web-7] "), "{line}");
            }
        }
        p.signal("TERM");
        p.wait_exit(Duration::from_secs(15));
    }
}
