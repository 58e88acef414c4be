//! Large reads are streamed from the database cursor: peak memory must not grow with
//! the number of rows returned. One test per process, so nothing else moves the peak.

mod common;

use std::io::Read;

use common::*;

/// Read a whole response body in small pieces, returning (bytes, newline/comma count).
fn drain(srv: &TestServer, path: &str, accept: &str) -> (u64, u64, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .get(format!("{}{path}", srv.base))
        .header("accept", accept)
        .call()
        .expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    let range = resp
        .headers()
        .get("content-range")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
    let mut buf = vec![0u8; 64 * 1024];
    let (mut bytes, mut seps) = (0u64, 0u64);
    let sep = if accept == "text/csv" { b'\n' } else { b'}' };
    loop {
        let n = reader.read(&mut buf).expect("read body");
        if n == 0 {
            break;
        }
        bytes += n as u64;
        seps += buf[..n].iter().filter(|b| **b == sep).count() as u64;
    }
    (bytes, seps, range)
}

#[test]
fn peak_memory_stays_flat_from_100k_to_1m_rows() {
    if !cfg!(target_os = "linux") {
        eprintln!("skipped: peak RSS is read from /proc");
        return;
    }
    let schema = "CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price NUMERIC(10,2), flag BOOLEAN);\n\
        WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)\n\
        INSERT INTO big SELECT x, 'track number ' || x, x * 0.25, x % 2 FROM c;";
    let srv = TestServer::start(
        Backend::Sqlite,
        schema,
        "[server]\nmax_rows = 0\n[services.big]\n",
    );
    // Warm up allocator and caches, then take the baseline at 100k rows.
    let (_, rows, range) = drain(&srv, "/big", "application/json");
    assert_eq!(rows, 100_000);
    assert_eq!(range, "0-99999/*");
    let base = proc_status_kb("VmHWM");

    let db = srv.dir.path().join("test0.db");
    let db = if db.exists() {
        db
    } else {
        std::fs::read_dir(srv.dir.path())
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "db"))
            .expect("db file")
    };
    let conn = rusqlite::Connection::open(db).expect("open");
    conn.execute_batch(
        "WITH RECURSIVE c(x) AS (SELECT 100001 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000)\n\
         INSERT INTO big SELECT x, 'track number ' || x, x * 0.25, x % 2 FROM c;",
    )
    .expect("grow to 1M rows");
    drop(conn);

    let (bytes, rows, range) = drain(&srv, "/big", "application/json");
    assert_eq!(rows, 1_000_000);
    assert_eq!(range, "0-999999/*");
    assert!(bytes > 50_000_000, "a 1M-row body has {bytes} bytes");
    let (_, lines, _) = drain(&srv, "/big", "text/csv");
    assert_eq!(lines, 1_000_000, "header + 1M rows, no trailing newline");
    let grown_kb = proc_status_kb("VmHWM").saturating_sub(base);
    eprintln!("peak RSS grew by {grown_kb} KiB from 100k to 1M rows ({bytes} bytes of JSON)");
    assert!(
        grown_kb < 16 * 1024,
        "peak RSS grew by {grown_kb} KiB between a 100k-row and a 1M-row export"
    );
}
