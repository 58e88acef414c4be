//! Connections are reused only when the work on them ended cleanly: failed statements,
//! reads that stopped before their last row, clients that went away mid-stream and
//! connections the database closed must leave every later request working, and the pool
//! no bigger than `pool_size`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::*;
use serde_json::json;

fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// 100,000 rows of about 120 bytes of JSON each: 12 MB, far more than one part.
fn big_table(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => {
            "CREATE TABLE big (id INTEGER PRIMARY KEY, t TEXT NOT NULL);
             WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000)
             INSERT INTO big SELECT x, printf('%0100d', x) FROM n;"
        }
        Backend::Postgres => {
            "CREATE TABLE big (id int PRIMARY KEY, t text NOT NULL);
             INSERT INTO big SELECT x, lpad(x::text, 100, '0') FROM generate_series(1, 100000) x;"
        }
        Backend::MySql => {
            "CREATE TABLE big (id int PRIMARY KEY, t text NOT NULL);
             SET SESSION max_recursive_iterations = 200000;
             INSERT INTO big WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000)
             SELECT x, LPAD(x, 100, '0') FROM n;"
        }
    }
}

/// Read the first bytes of a large response, then hang up.
fn read_some_and_hang_up(s: &TestServer, path: &str) {
    let addr = s.base.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).expect("connect");
    write!(tcp, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("send");
    let mut buf = vec![0u8; 300 * 1024];
    let mut got = 0;
    while got < buf.len() {
        match tcp.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    assert!(
        got > 64 * 1024,
        "{}: only {got} bytes came before hanging up",
        s.backend.name()
    );
}

#[test]
fn failed_and_unfinished_work_leaves_the_pool_usable() {
    for b in backends() {
        let sql = format!("{}\n{}", fixture("music", b), big_table(b));
        let toml = format!("[server]\nmax_rows = 0\n{MUSIC_TOML}\n[services.big]\n");
        let s = TestServer::start(b, &sql, &toml);
        let name = b.name();
        // More rounds than the pool has connections (4), so every connection sees each.
        for round in 0..6 {
            // A statement the database refuses, inside a write transaction.
            let r = s.post("/artists", &json!({"id": 1, "name": "again"}));
            r.assert_error(409, "unique_violation");
            // A singular read that finds several rows.
            let r = s
                .req("GET", "/artists")
                .header("accept", "application/vnd.pgrst.object+json")
                .send();
            r.assert_error(406, "not_acceptable");
            // A page read one row past its end (the lookahead row is never sent).
            let r = s.get("/artists?select=id&limit=1");
            assert_eq!(r.status, 200, "{name}: {}", r.text);
            assert_eq!(r.json(), json!([{"id": 1}]), "{name}");
            // A large read whose client goes away mid-stream.
            if round < 2 {
                read_some_and_hang_up(&s, "/big");
            }
            // A write that succeeds, and one rolled back on purpose.
            let id = 100 + round;
            let r = s.post("/artists", &json!({"id": id, "name": format!("n{id}")}));
            assert_eq!(r.status, 201, "{name}: {}", r.text);
            let r = s
                .req("PATCH", &format!("/artists/{id}"))
                .header("prefer", "tx=rollback")
                .json(&json!({"name": "never"}))
                .send();
            assert_eq!(r.status, 200, "{name}: {}", r.text);
        }
        // Every connection still answers, with what was committed and nothing else.
        for _ in 0..8 {
            let r = s.get("/artists?id=gte.100&select=id,name&order=id");
            assert_eq!(r.status, 200, "{name}: {}", r.text);
            assert_eq!(
                r.json(),
                json!([{"id": 100, "name": "n100"}, {"id": 101, "name": "n101"},
                       {"id": 102, "name": "n102"}, {"id": 103, "name": "n103"},
                       {"id": 104, "name": "n104"}, {"id": 105, "name": "n105"}]),
                "{name}"
            );
            let r = s.get("/big/100000");
            assert_eq!(r.status, 200, "{name}: {}", r.text);
        }
        let whole = s.get("/big?select=id");
        assert_eq!(whole.status, 200, "{name}");
        assert_eq!(
            whole.json().as_array().map(Vec::len),
            Some(100_000),
            "{name}"
        );
        let m = s.get("/_metrics").text;
        let idle = sample(&m, "restable_pool_connections{state=\"idle\"}").unwrap_or(-1.0);
        let in_use = sample(&m, "restable_pool_connections{state=\"in_use\"}").unwrap_or(-1.0);
        assert!(idle >= 0.0 && in_use >= 0.0, "{name}: {m}");
        // SQLite counts its writer too.
        assert!(idle + in_use <= 5.0, "{name}: {idle} idle, {in_use} in use");
    }
}

#[test]
fn connections_the_database_closed_are_replaced_without_failing_requests() {
    for b in backends() {
        if b == Backend::Sqlite {
            continue;
        }
        let s = TestServer::music(b);
        let name = b.name();
        // Open a few connections, then have the database close all of them.
        let warm: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| s.get("/tracks?limit=5").status))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
        });
        assert_eq!(warm, vec![200; 4], "{name}");
        s.kill_connections();
        let r = s.get("/artists/1");
        assert_eq!(r.status, 200, "{name}: {}", r.text);
        assert_eq!(r.json(), json!({"id": 1, "name": "AC/DC"}), "{name}");
        let r = s.post("/artists", &json!({"id": 77, "name": "Rainbow"}));
        assert_eq!(r.status, 201, "{name}: {}", r.text);
        let r = s.patch("/artists/77", &json!({"name": "Rainbow (UK)"}));
        assert_eq!(r.status, 200, "{name}: {}", r.text);
        assert_eq!(s.ids("/artists?id=eq.77"), vec![77], "{name}");
        s.kill_connections();
        let r = s.post("/artists", &json!({"id": 78, "name": "Dio"}));
        assert_eq!(r.status, 201, "{name}: {}", r.text);
        s.kill_connections();
        assert_eq!(s.get("/_ready").status, 200, "{name}");
        s.kill_connections();
        let r = s.get("/artists?id=gte.77&select=id&order=id");
        assert_eq!(r.json(), json!([{"id": 77}, {"id": 78}]), "{name}");
    }
}
