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
            r.assert_error(504, "timeout");
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
