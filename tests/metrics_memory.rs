//! The latency histogram of `/_metrics` keeps each sample until it is folded in; a running
//! server folds them every second, so its memory does not grow with the number of requests
//! when nobody scrapes `/_metrics`. One test per process, so nothing else moves the RSS.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn unscraped_latency_samples_do_not_accumulate() {
    if !cfg!(target_os = "linux") {
        eprintln!("skipped: RSS is read from /proc");
        return;
    }
    let srv = TestServer::music(Backend::Sqlite);
    assert_eq!(srv.get("/artists?limit=1").status, 200);
    let metrics = &srv.server().metrics;
    // 8 rounds of 250,000 samples: 16 MB if they were all kept. Each round waits for the
    // server's own upkeep (every second) before the next, as a busy server would see it.
    const ROUND: usize = 250_000;
    let mut before = 0;
    for round in 0..8 {
        let started = Instant::now();
        for i in 0..ROUND {
            metrics.record(
                "artists",
                "GET",
                200,
                Duration::from_micros(i as u64 % 5_000),
            );
        }
        std::thread::sleep(Duration::from_millis(1_300).saturating_sub(started.elapsed()));
        if round == 1 {
            // The first rounds warm the allocator up; count from here.
            before = proc_status_kb("VmRSS");
        }
    }
    let grown = proc_status_kb("VmRSS").saturating_sub(before);
    assert!(
        grown < 4_096,
        "RSS grew by {grown} KiB over 1.5M unscraped samples"
    );

    // Every sample still counts.
    let r = srv.get("/_metrics");
    assert_eq!(r.status, 200);
    let count = r
        .text
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                "restable_request_duration_seconds_count{service=\"artists\",method=\"GET\"}",
            )
        })
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(count >= 8.0 * ROUND as f64, "{}", r.text);
}
