//! A fleet (SPEC 6): three restable servers on one PostgreSQL / MariaDB database, as three
//! instances behind a load balancer would be. Every promise holds across them: of eight
//! clients racing `If-Match` edits of one row through different instances exactly one
//! wins and the others get 412; concurrent bulk inserts through all of them lose nothing,
//! and every instance counts the same rows.

mod common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::json;

use common::*;

const INSTANCES: usize = 3;

/// The first server owns a fresh database (dropped with it); the others serve the same one.
struct Fleet {
    others: Vec<TestServer>,
    first: TestServer,
}

impl Fleet {
    fn start(backend: Backend) -> Fleet {
        let first = TestServer::fixture(
            backend,
            "music",
            &format!("[server]\nmax_rows = 0\n{MUSIC_TOML}"),
        );
        let others = (1..INSTANCES)
            .map(|_| {
                let dir = tempfile::tempdir().expect("tempdir");
                let toml = format!(
                    "[server]\nbind = \"127.0.0.1:0\"\nmax_rows = 0\n[database]\nurl = \"{}\"\npool_size = 4\n{MUSIC_TOML}",
                    first.url
                );
                let mut s = TestServer::start_with_config(backend, dir, &toml);
                s.url = first.url.clone();
                s
            })
            .collect();
        Fleet { others, first }
    }

    fn instance(&self, i: usize) -> &TestServer {
        match i % INSTANCES {
            0 => &self.first,
            n => &self.others[n - 1],
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // The instances sharing the database stop before its owner drops it.
        self.others.clear();
    }
}

fn server_backends() -> Vec<Backend> {
    backends()
        .into_iter()
        .filter(|b| *b != Backend::Sqlite)
        .collect()
}

#[test]
fn if_match_races_through_three_instances_have_one_winner() {
    const CLIENTS: usize = 8;
    const ROUNDS: usize = 10;
    for b in server_backends() {
        let fleet = Arc::new(Fleet::start(b));
        let started = Instant::now();
        for round in 0..ROUNDS {
            let tag = fleet.first.get("/artists/1");
            assert_eq!(tag.status, 200, "{}", tag.text);
            let tag = tag.header("etag").expect("etag").to_string();
            let barrier = Arc::new(Barrier::new(CLIENTS));
            let handles: Vec<_> = (0..CLIENTS)
                .map(|c| {
                    let (fleet, barrier, tag) =
                        (Arc::clone(&fleet), Arc::clone(&barrier), tag.clone());
                    std::thread::spawn(move || {
                        let srv = fleet.instance(c);
                        let name = format!("round {round} client {c}");
                        barrier.wait();
                        // Alternate PATCH and PUT: both check the ETag atomically.
                        let r = if c % 2 == 0 {
                            srv.req("PATCH", "/artists/1")
                                .header("if-match", &tag)
                                .json(&json!({ "name": name }))
                                .send()
                        } else {
                            srv.req("PUT", "/artists/1")
                                .header("if-match", &tag)
                                .json(&json!({ "id": 1, "name": name }))
                                .send()
                        };
                        (r.status, name, r.text)
                    })
                })
                .collect();
            let results: Vec<(u16, String, String)> = handles
                .into_iter()
                .map(|h| h.join().expect("client"))
                .collect();
            let winners: Vec<&(u16, String, String)> = results
                .iter()
                .filter(|(s, _, _)| (200..300).contains(s))
                .collect();
            assert_eq!(winners.len(), 1, "{}: round {round}: {results:?}", b.name());
            for (status, _, text) in &results {
                assert!(
                    (200..300).contains(status) || *status == 412,
                    "{}: round {round}: {status} {text}",
                    b.name()
                );
            }
            // Every instance sees the winner's edit.
            for i in 0..INSTANCES {
                let r = fleet.instance(i).get("/artists/1");
                assert_eq!(r.json()["name"], winners[0].1.as_str(), "{}", b.name());
            }
        }
        eprintln!(
            "{}: {ROUNDS} rounds of {CLIENTS} If-Match clients over {INSTANCES} instances: one winner each, {:?}",
            b.name(),
            started.elapsed()
        );
    }
}

fn count(srv: &TestServer, path: &str) -> u64 {
    let r = srv
        .req("GET", path)
        .header("prefer", "count=exact")
        .header("range", "0-0")
        .send();
    assert!(r.status == 200 || r.status == 206, "{}", r.text);
    let range = r.header("content-range").expect("content-range");
    range
        .rsplit('/')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("content-range {range}"))
}

#[test]
fn bulk_inserts_through_every_instance_lose_nothing() {
    const WRITERS_PER_INSTANCE: usize = 4;
    const BATCHES: usize = 10;
    const ROWS: usize = 50;
    for b in server_backends() {
        let fleet = Arc::new(Fleet::start(b));
        let before = count(&fleet.first, "/playlists");
        let started = Instant::now();
        let handles: Vec<_> = (0..INSTANCES * WRITERS_PER_INSTANCE)
            .map(|w| {
                let fleet = Arc::clone(&fleet);
                std::thread::spawn(move || {
                    let srv = fleet.instance(w);
                    for batch in 0..BATCHES {
                        let rows: Vec<_> = (0..ROWS)
                            .map(|i| json!({ "name": format!("bulk {w}/{batch}/{i}") }))
                            .collect();
                        let r = srv.post("/playlists", &json!(rows));
                        assert_eq!(r.status, 201, "writer {w} batch {batch}: {}", r.text);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("writer");
        }
        let took = started.elapsed();
        let written = (INSTANCES * WRITERS_PER_INSTANCE * BATCHES * ROWS) as u64;
        for i in 0..INSTANCES {
            let srv = fleet.instance(i);
            assert_eq!(count(srv, "/playlists"), before + written, "{}", b.name());
            assert_eq!(
                count(srv, "/playlists?name=like.bulk*"),
                written,
                "{}",
                b.name()
            );
        }
        // No row was written twice: the names are distinct.
        let r = fleet
            .instance(1)
            .get("/playlists?select=name&name=like.bulk*&limit=100000");
        let mut names: Vec<String> = r
            .json()
            .as_array()
            .expect("array")
            .iter()
            .map(|o| o["name"].as_str().expect("name").to_string())
            .collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "{}", b.name());
        eprintln!(
            "{}: {written} rows in {} bulk inserts through {INSTANCES} instances in {took:?}; counts agree",
            b.name(),
            INSTANCES * WRITERS_PER_INSTANCE * BATCHES
        );
        assert!(took < Duration::from_secs(90), "{took:?}");
    }
}
