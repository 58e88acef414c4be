//! Read replicas on PostgreSQL (`[database] replicas`, SPEC 6, docs/scaling.md §3), against
//! a real streaming replica: the test starts its own primary (`initdb`, `wal_level =
//! replica`) and a standby (`pg_basebackup -R`) on free ports under a temporary folder, as
//! the `postgres` OS user, and stops both at the end. Reads go to the replica (a view
//! shows `pg_is_in_recovery()` where it runs, and a replica whose replay is paused shows
//! old rows), writes to the primary; a write's `Restable-Position` read back is served
//! where it has been replayed; a replica lagging past `max_replica_lag_ms` or stopped is
//! skipped and the first comes back by itself; `/_ready` and `/_metrics` show them.
//! Skipped, with a notice, when the PostgreSQL server binaries are not installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// Run a PostgreSQL program as the `postgres` OS user (the tests run as root, which the
/// server refuses); panics with its output when it fails.
fn pg(program: &str, args: &[&str]) {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(Path::new(BIN).join(program))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("runuser {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn append(file: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    f.write_all(text.as_bytes()).expect("append");
}

/// A primary and its streaming replica, stopped and removed when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    primary_port: u16,
    replica_port: u16,
    /// Which data folders have a running server.
    running: Vec<PathBuf>,
}

impl Cluster {
    /// `None` when the server binaries are not installed here.
    fn start() -> Option<Cluster> {
        if !Path::new(BIN).join("pg_basebackup").exists() {
            eprintln!("NOTICE: {BIN} has no PostgreSQL server binaries: replica tests skipped");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()
            .expect("chown");
        assert!(status.success(), "chown the temp dir to postgres");
        let mut c = Cluster {
            primary_port: free_port(),
            replica_port: free_port(),
            dir,
            running: Vec::new(),
        };
        let primary = c.path("primary");
        let replica = c.path("replica");
        pg(
            "initdb",
            &[
                "-D",
                &primary,
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let sockets = c.dir.path().display().to_string();
        append(
            &Path::new(&primary).join("postgresql.conf"),
            &format!(
                "\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{sockets}'\n\
                 wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\nfsync = off\n\
                 synchronous_commit = on\nfull_page_writes = off\nshared_buffers = 16MB\nmax_connections = 60\n",
                c.primary_port
            ),
        );
        append(
            &Path::new(&primary).join("pg_hba.conf"),
            "\nhost replication all 127.0.0.1/32 trust\n",
        );
        c.pg_start(&primary);
        pg(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &c.primary_port.to_string(),
                "-U",
                "postgres",
                "-D",
                &replica,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
        );
        // The copied configuration names the primary's port: the last setting wins.
        append(
            &Path::new(&replica).join("postgresql.conf"),
            &format!("\nport = {}\n", c.replica_port),
        );
        c.pg_start(&replica);
        Some(c)
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn pg_start(&mut self, data: &str) {
        let log = format!("{data}.log");
        pg(
            "pg_ctl",
            &["-D", data, "-l", &log, "-w", "-t", "30", "start"],
        );
        self.running.push(PathBuf::from(data));
    }

    fn stop_replica(&mut self) {
        let replica = PathBuf::from(self.path("replica"));
        pg(
            "pg_ctl",
            &[
                "-D",
                &replica.display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
        self.running.retain(|d| d != &replica);
    }

    fn primary_url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres",
            self.primary_port
        )
    }

    fn replica_url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres",
            self.replica_port
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for data in self.running.drain(..).rev() {
            let _ = Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(Path::new(BIN).join("pg_ctl"))
                .args([
                    "-D",
                    &data.display().to_string(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ])
                .output();
        }
        // The temporary folder goes with `dir`.
    }
}

/// Run `sql` on `url`; the first column of the first row, as text, if any.
fn sql(url: &str, sql: &str) -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        use sqlx::{Connection, Row};
        let mut c = sqlx::PgConnection::connect(url)
            .await
            .unwrap_or_else(|e| panic!("connect {url}: {e}"));
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_all(&mut c)
            .await
            .unwrap_or_else(|e| panic!("{e}: {sql}"));
        rows.first()
            .and_then(|r| r.try_get::<Option<String>, _>(0).ok().flatten())
    })
}

/// Wait (at most `secs`) until `ok()`; panics naming `what` otherwise.
fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < end, "waited {secs} s for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

const SCHEMA: &str = "
CREATE TABLE notes (id SERIAL PRIMARY KEY, body TEXT NOT NULL,
  standby BOOLEAN NOT NULL DEFAULT pg_is_in_recovery());
INSERT INTO notes (body) VALUES ('first');
CREATE VIEW where_am_i AS SELECT 1 AS id, pg_is_in_recovery() AS standby,
  current_user::text AS who;
CREATE ROLE replica_reader NOLOGIN;
GRANT SELECT ON notes, where_am_i TO replica_reader;
";

const SERVICES: &str = "
[services.notes]
[services.where_am_i]
primary_key = [\"id\"]
methods = [\"GET\"]
";

fn server(c: &Cluster, max_lag_ms: u64, extra: &str) -> TestServer {
    let toml = format!(
        "[server]\nbind = \"127.0.0.1:0\"\n[database]\nurl = \"{}\"\nreplicas = [\"{}\"]\n\
         max_replica_lag_ms = {max_lag_ms}\npool_size = 4\nacquire_timeout_ms = 1000\n{extra}\n{SERVICES}",
        c.primary_url(),
        c.replica_url()
    );
    TestServer::start_with_config(
        Backend::Postgres,
        tempfile::tempdir().expect("tempdir"),
        &toml,
    )
}

fn replica_status(s: &TestServer) -> (u16, Value) {
    let r = s.get("/_ready");
    let v = r.json();
    (r.status, v["replicas"][0].clone())
}

fn bodies(s: &TestServer, position: Option<&str>) -> Vec<String> {
    let mut req = s.req("GET", "/notes?order=id");
    if let Some(p) = position {
        req = req.header("Restable-Position", p);
    }
    let r = req.send();
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
        .as_array()
        .expect("rows")
        .iter()
        .map(|n| n["body"].as_str().unwrap_or("").to_string())
        .collect()
}

/// `restable_db_reads_total{target="..."}`.
fn reads(s: &TestServer, target: &str) -> u64 {
    let text = s.get("/_metrics").text;
    let prefix = format!("restable_db_reads_total{{target=\"{target}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no {prefix} in /_metrics:\n{text}")) as u64
}

fn post(s: &TestServer, body: &str) -> String {
    let r = s
        .req("POST", "/notes")
        .header("Prefer", "return=representation")
        .json(&json!({ "body": body }))
        .send();
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()[0]["standby"], false, "written on the primary");
    let pos = r
        .header("restable-position")
        .unwrap_or_else(|| panic!("no Restable-Position on a write: {:?}", r.headers))
        .to_string();
    let (hi, lo) = pos.split_once('/').expect("an LSN such as 0/3000148");
    assert!(
        u64::from_str_radix(hi, 16).is_ok() && u64::from_str_radix(lo, 16).is_ok(),
        "{pos}"
    );
    pos
}

#[test]
fn reads_on_a_streaming_replica_writes_on_the_primary() {
    let Some(mut c) = Cluster::start() else {
        return;
    };
    let started = Instant::now();
    sql(&c.primary_url(), SCHEMA);
    wait_until("the schema on the replica", 20, || {
        sql(
            &c.replica_url(),
            "SELECT count(*)::text FROM pg_class WHERE relname = 'where_am_i'",
        )
        .as_deref()
            == Some("1")
    });

    // ---- Reads on the replica; read your writes; writes on the primary.
    let s = server(&c, 60_000, "");
    wait_until("the replica up in /_ready", 10, || {
        replica_status(&s).1["status"] == "up"
    });
    let (status, rep) = replica_status(&s);
    assert_eq!(status, 200);
    assert_eq!(rep["url"], c.replica_url());
    assert!(rep["lag_ms"].as_u64().is_some(), "{rep}");
    for _ in 0..3 {
        let r = s.get("/where_am_i/1");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["standby"], true, "a read runs on the replica");
    }
    let p1 = post(&s, "before pause");
    // The token read back: served once replayed (at once by the primary until the next
    // check shows the replica has it).
    assert!(bodies(&s, Some(&p1)).contains(&"before pause".to_string()));
    wait_until("the replica replays the first write", 10, || {
        bodies(&s, None).contains(&"before pause".to_string())
    });
    // Wait for a check that has seen the replay, so that p1 is known replayed.
    std::thread::sleep(Duration::from_millis(700));

    sql(&c.replica_url(), "SELECT pg_wal_replay_pause()::text");
    let p2 = post(&s, "while paused");
    // The primary's log moved on: p2 is past p1.
    let lsn = |p: &str| {
        let (h, l) = p.split_once('/').expect("lsn");
        (u64::from_str_radix(h, 16).expect("hex") << 32) | u64::from_str_radix(l, 16).expect("hex")
    };
    assert!(lsn(&p2) > lsn(&p1), "{p1} then {p2}");
    for _ in 0..3 {
        let plain = bodies(&s, None);
        assert!(
            plain.contains(&"before pause".to_string())
                && !plain.contains(&"while paused".to_string()),
            "a read without the token is served by the paused replica: {plain:?}"
        );
    }
    // With the older token the replica (it has replayed it) still serves; with the new
    // one only the primary can.
    assert!(!bodies(&s, Some(&p1)).contains(&"while paused".to_string()));
    for _ in 0..3 {
        assert!(
            bodies(&s, Some(&p2)).contains(&"while paused".to_string()),
            "a read with the write's token sees the write"
        );
    }
    // HEAD with the token too.
    let r = s
        .req("HEAD", "/notes")
        .header("Restable-Position", &p2)
        .send();
    assert_eq!(r.status, 200);
    // Writes go to the primary (a standby refuses them), a token sent with one is ignored.
    let r = s
        .req("PATCH", "/notes?body=eq.first")
        .header("Restable-Position", &p2)
        .json(&json!({"body": "first, edited"}))
        .send();
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.header("restable-position").is_some());
    let r = s.delete("/notes?body=eq.first,%20edited");
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.header("restable-position").is_some());
    // Prefer: tx=rollback commits nothing: no token.
    let r = s
        .req("POST", "/notes")
        .header("Prefer", "tx=rollback")
        .json(&json!({"body": "rolled back"}))
        .send();
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.header("restable-position"), None);
    assert_eq!(
        sql(
            &c.primary_url(),
            "SELECT string_agg(body, ',' ORDER BY id) FROM notes"
        )
        .as_deref(),
        Some("before pause,while paused")
    );

    // A malformed token: 400 naming the header.
    for bad in ["nope", "0/", "/1", "0/123456789", "g/1", "1/2/3"] {
        let r = s
            .req("GET", "/notes")
            .header("Restable-Position", bad)
            .send();
        let v = r.assert_error(400, "bad_position");
        assert!(
            v["message"]
                .as_str()
                .unwrap_or("")
                .contains("Restable-Position"),
            "{v}"
        );
    }
    // database_roles: the read's BEGIN READ ONLY and SET ROLE run on the standby too.
    std::env::set_var(
        "RESTABLE_TEST_REPLICA_SECRET",
        "replica-test-secret-0123456789abcdef",
    );
    let roles = server(
        &c,
        60_000,
        "[auth]\nmode = \"jwt\"\njwt_secret_env = \"RESTABLE_TEST_REPLICA_SECRET\"\n\
         anonymous_role = \"replica_reader\"\ndatabase_roles = true\n",
    );
    wait_until("the replica up for the roles server", 10, || {
        replica_status(&roles).1["status"] == "up"
    });
    let r = roles.get("/where_am_i/1");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["standby"], true);
    assert_eq!(r.json()["who"], "replica_reader");
    let r = roles.get("/notes?order=id");
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains("while paused"), "{}", r.text);
    drop(roles);

    assert!(reads(&s, "replica") >= 5, "reads counted on the replica");
    assert!(reads(&s, "primary") >= 3, "reads counted on the primary");
    sql(&c.replica_url(), "SELECT pg_wal_replay_resume()::text");
    drop(s);

    // ---- A replica lagging past max_replica_lag_ms is skipped, and comes back.
    let s = server(&c, 1000, "");
    wait_until("the replica up", 10, || {
        replica_status(&s).1["status"] == "up"
    });
    sql(&c.replica_url(), "SELECT pg_wal_replay_pause()::text");
    post(&s, "while lagging");
    wait_until("the replica lagging in /_ready", 15, || {
        let (status, rep) = replica_status(&s);
        status == 200 && rep["status"] == "lagging"
    });
    let (_, rep) = replica_status(&s);
    assert!(rep["lag_ms"].as_u64().unwrap_or(0) > 1000, "{rep}");
    let before = reads(&s, "replica");
    for _ in 0..3 {
        assert!(
            bodies(&s, None).contains(&"while lagging".to_string()),
            "a lagging replica is skipped"
        );
        assert_eq!(s.get("/where_am_i/1").json()["standby"], false);
    }
    assert_eq!(
        reads(&s, "replica"),
        before,
        "no read on the lagging replica"
    );
    sql(&c.replica_url(), "SELECT pg_wal_replay_resume()::text");
    wait_until("the replica back up", 15, || {
        replica_status(&s).1["status"] == "up"
    });
    assert_eq!(s.get("/where_am_i/1").json()["standby"], true);
    assert!(reads(&s, "replica") > before);
    assert!(bodies(&s, None).contains(&"while lagging".to_string()));

    // ---- The replica stopped: reads answer from the primary, /_ready stays 200.
    c.stop_replica();
    for _ in 0..5 {
        let r = s.get("/notes?order=id");
        assert_eq!(r.status, 200, "{}", r.text);
        let r = s.get("/where_am_i/1");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["standby"], false);
    }
    wait_until("the replica down in /_ready", 10, || {
        replica_status(&s).1["status"] == "down"
    });
    let (status, rep) = replica_status(&s);
    assert_eq!(status, 200, "the primary is up: ready");
    assert!(rep["reason"].as_str().is_some(), "{rep}");
    post(&s, "replica gone");
    eprintln!(
        "replica test body took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
