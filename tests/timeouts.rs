//! `request_timeout_ms`: a statement that runs longer is stopped and answered with 504
//! `timeout`, quickly, and the connection goes back to the pool usable.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn slow_statements_get_504_and_the_pool_stays_healthy() {
    for b in backends() {
        let sql = format!("{}\n{}", fixture("music", b), fixture("slow", b));
        let toml = format!(
            "[server]\nrequest_timeout_ms = 700\n{MUSIC_TOML}\n[services.slow]\nprimary_key = [\"n\"]\nmethods = [\"GET\"]\n"
        );
        let s = TestServer::start(b, &sql, &toml);
        for _ in 0..2 {
            let t = Instant::now();
            let r = s.get("/slow");
            let took = t.elapsed();
            let v = r.assert_error(504, "timeout");
            // The message names the limit in force.
            assert_eq!(
                v["message"],
                "the request took longer than 700 ms",
                "{}",
                b.name()
            );
            assert!(
                took < Duration::from_secs(5),
                "{}: the 504 took {took:?}",
                b.name()
            );
        }
        // Every connection of the (small) pool is still good for the next requests.
        for _ in 0..6 {
            let r = s.get("/artists?id=eq.1");
            assert_eq!(r.status, 200, "{}: {}", b.name(), r.text);
        }
    }
}

#[test]
fn slow_sqlite_writes_get_504_and_later_writes_go_through() {
    // Writes wait in a queue drained by one thread; a write past its deadline is stopped
    // there (by the progress handler), and the queue goes on.
    let sql = format!(
        "{}\n{}\nCREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n\
         CREATE TRIGGER jobs_slow AFTER INSERT ON jobs WHEN NEW.name = 'slow'\n\
         BEGIN SELECT n FROM slow; END;",
        fixture("music", Backend::Sqlite),
        fixture("slow", Backend::Sqlite)
    );
    let toml = format!("[server]\nrequest_timeout_ms = 700\n{MUSIC_TOML}\n[services.jobs]\n");
    let s = TestServer::start(Backend::Sqlite, &sql, &toml);
    std::thread::scope(|scope| {
        let slow = scope.spawn(|| {
            let t = Instant::now();
            let r = s.post("/jobs", &serde_json::json!({"id": 1, "name": "slow"}));
            (r, t.elapsed())
        });
        std::thread::sleep(Duration::from_millis(100));
        // Queued behind the slow one: answered once it has been stopped.
        let r = s.post("/jobs", &serde_json::json!({"id": 2, "name": "quick"}));
        assert!(r.status == 201 || r.status == 504, "{}", r.text);
        let (r, took) = slow.join().expect("slow writer");
        let v = r.assert_error(504, "timeout");
        assert_eq!(v["message"], "the request took longer than 700 ms");
        assert!(took < Duration::from_secs(5), "the 504 took {took:?}");
    });
    let r = s.post("/jobs", &serde_json::json!({"id": 3, "name": "quick"}));
    assert_eq!(r.status, 201, "{}", r.text);
    let r = s.get("/jobs?select=id&name=eq.slow");
    assert_eq!(r.json(), serde_json::json!([]));
    let r = s.get("/jobs?select=id&id=eq.3");
    assert_eq!(r.json(), serde_json::json!([{"id": 3}]));
}

#[test]
fn a_slow_sqlite_write_does_not_take_the_writes_sharing_its_transaction_down() {
    // Writes that queue up together share a transaction (group commit). A slow one that
    // joined such a group is cut short, the group runs again without it, and it then
    // runs alone: the quick writes are answered 201 at once instead of waiting for the
    // slow one's 504.
    let sql = format!(
        "{}\n{}\nCREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n\
         CREATE TRIGGER jobs_wait AFTER INSERT ON jobs WHEN NEW.name = 'wait'\n\
         BEGIN SELECT max(x) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 \
         FROM c WHERE x < 1000000) SELECT x FROM c); END;\n\
         CREATE TRIGGER jobs_slow AFTER INSERT ON jobs WHEN NEW.name = 'slow'\n\
         BEGIN SELECT n FROM slow; END;",
        fixture("music", Backend::Sqlite),
        fixture("slow", Backend::Sqlite)
    );
    let toml = format!("[server]\nrequest_timeout_ms = 3000\n{MUSIC_TOML}\n[services.jobs]\n");
    let s = TestServer::start(Backend::Sqlite, &sql, &toml);
    let post = |id: i64, name: &str| {
        let t = Instant::now();
        let r = s.post("/jobs", &serde_json::json!({"id": id, "name": name}));
        (r, t.elapsed())
    };
    std::thread::scope(|scope| {
        let wait = scope.spawn(|| post(1, "wait"));
        std::thread::sleep(Duration::from_millis(40));
        let quick = scope.spawn(|| post(2, "quick"));
        std::thread::sleep(Duration::from_millis(40));
        let slow = scope.spawn(|| post(3, "slow"));
        for (writer, name) in [(wait, "wait"), (quick, "quick")] {
            let (r, took) = writer.join().expect("writer");
            assert_eq!(r.status, 201, "{name}: {}", r.text);
            assert!(
                took < Duration::from_millis(2500),
                "{name} waited for the slow write: {took:?}"
            );
        }
        let (r, _) = slow.join().expect("slow writer");
        r.assert_error(504, "timeout");
    });
    let r = s.get("/jobs?select=id,name&order=id");
    assert_eq!(
        r.json(),
        serde_json::json!([{"id": 1, "name": "wait"}, {"id": 2, "name": "quick"}])
    );
}
