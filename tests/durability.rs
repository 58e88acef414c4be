//! Nothing acknowledged is lost (SPEC §5): concurrent writers post multi-row batches to
//! the real `restable` binary, which is killed with SIGKILL in the middle of the load and
//! started again, twice. Afterwards every acknowledged (2xx) batch is in the database
//! whole, and every batch is there whole or not at all.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_restable");
const WRITERS: u64 = 4;
/// Load before each kill.
const LOAD: Duration = Duration::from_millis(1500);
const KILLS: usize = 2;

const SCHEMA: &str = "CREATE TABLE events (\n  id BIGINT PRIMARY KEY,\n  batch BIGINT NOT NULL,\n  size INTEGER NOT NULL\n);\n";

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A running server process, killed with SIGKILL (and reaped) when dropped.
struct Server(Child);

impl Server {
    fn kill_9(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the binary on `port` and wait until `/_health` answers.
fn start(config: &std::path::Path, port: u16) -> Server {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("RESTABLE_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    let child = Server(
        cmd.arg("--config")
            .arg(config)
            .env("RESTABLE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn restable"),
    );
    let agent = agent();
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = agent
            .get(&format!("http://127.0.0.1:{port}/_health"))
            .call()
        {
            if r.status().as_u16() == 200 {
                return child;
            }
        }
        assert!(Instant::now() < until, "restable did not start on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}

/// What the writers know: batch -> size, for batches acknowledged and for all sent.
#[derive(Default)]
struct Ledger {
    acked: BTreeMap<u64, u64>,
    sent: BTreeMap<u64, u64>,
}

fn write_until(port: u16, stop: &AtomicBool, writer: u64, next: &mut u64, ledger: &Mutex<Ledger>) {
    let agent = agent();
    let url = format!("http://127.0.0.1:{port}/events");
    while !stop.load(Ordering::Relaxed) {
        *next += 1;
        let batch = writer * 1_000_000 + *next;
        // 1 to 20 rows, varying with the batch.
        let size = 1 + (batch * 7919) % 20;
        let rows: Vec<Value> = (0..size)
            .map(|i| json!({"id": batch * 100 + i, "batch": batch, "size": size}))
            .collect();
        ledger.lock().expect("ledger").sent.insert(batch, size);
        let r = agent
            .post(&url)
            .header("Prefer", "return=minimal")
            .send_json(Value::Array(rows));
        match r {
            Ok(r) if r.status().is_success() => {
                ledger.lock().expect("ledger").acked.insert(batch, size);
            }
            Ok(r) if r.status().as_u16() >= 500 && r.status().as_u16() != 503 => {
                panic!("batch {batch}: {}", r.status());
            }
            // The server is gone (killed) or refusing: try again shortly.
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[test]
fn acknowledged_writes_survive_kill_9_and_batches_are_all_or_nothing() {
    for b in backends() {
        let started = Instant::now();
        let db = TestServer::start(b, SCHEMA, "[server]\nmax_rows = 0\n[services.events]\n");
        let port = free_port();
        let config = db.dir.path().join("child.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nbind = \"127.0.0.1:{port}\"\n[database]\nurl = \"{}\"\npool_size = 4\n[services.events]\n",
                db.url
            ),
        )
        .expect("write config");
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let mut next = vec![0u64; WRITERS as usize];
        for round in 0..=KILLS {
            let child = start(&config, port);
            let stop = AtomicBool::new(false);
            std::thread::scope(|scope| {
                for (w, next) in next.iter_mut().enumerate() {
                    let (stop, ledger) = (&stop, Arc::clone(&ledger));
                    scope.spawn(move || write_until(port, stop, w as u64 + 1, next, &ledger));
                }
                std::thread::sleep(LOAD);
                // SIGKILL, in the middle of the writes (the last round too).
                child.kill_9();
                if round < KILLS {
                    std::thread::sleep(Duration::from_millis(200));
                }
                stop.store(true, Ordering::Relaxed);
            });
        }

        // What the database holds, read through the in-process server on the same data.
        let r = db.get("/events?select=id,batch,size&order=id");
        assert_eq!(r.status, 200, "{}: {}", b.name(), r.text);
        let rows = r.json();
        let rows = rows.as_array().expect("array");
        let mut found: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
        for row in rows {
            let (Some(id), Some(batch)) = (row["id"].as_u64(), row["batch"].as_u64()) else {
                panic!("{}: {row}", b.name());
            };
            found.entry(batch).or_default().insert(id);
        }
        let ledger = ledger.lock().expect("ledger");
        let mut acked_rows = 0;
        for (batch, size) in &ledger.acked {
            acked_rows += size;
            let want: BTreeSet<u64> = (0..*size).map(|i| batch * 100 + i).collect();
            assert_eq!(
                found.get(batch),
                Some(&want),
                "{}: acknowledged batch {batch} of {size} rows is not there whole",
                b.name()
            );
        }
        for (batch, ids) in &found {
            let size = ledger.sent.get(batch).copied().unwrap_or(0);
            assert_eq!(
                ids.len() as u64,
                size,
                "{}: batch {batch} has {} of its {size} rows",
                b.name(),
                ids.len()
            );
        }
        let unacked_present = found
            .keys()
            .filter(|k| !ledger.acked.contains_key(k))
            .count();
        let unacked_absent = ledger.sent.len() - ledger.acked.len() - unacked_present;
        eprintln!(
            "{}: {} batches ({acked_rows} rows) acknowledged, all found whole among {} rows; \
             {} batches unanswered when killed: {unacked_present} committed whole, \
             {unacked_absent} absent; {:?}",
            b.name(),
            ledger.acked.len(),
            rows.len(),
            ledger.sent.len() - ledger.acked.len(),
            started.elapsed()
        );
        assert!(
            ledger.acked.len() > 20,
            "{}: too few writes went through",
            b.name()
        );
    }
}
