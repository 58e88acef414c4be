//! Embedding is bounded (SPEC 4.6, issue "Embedding"): a read with embeds is one statement
//! whatever the number of parent rows and the depth, and a write whose answer embeds
//! related rows runs as many statements for one row as for many. Counted from sqlx's own
//! per-statement events (target `sqlx::query`) on the server backends, where the test
//! server runs in this process.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

use common::*;
use serde_json::json;
use tracing_subscriber::layer::{Context, SubscriberExt};

static STATEMENTS: AtomicUsize = AtomicUsize::new(0);
static LAST: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Counts every statement sqlx runs, and keeps what they were for the failure message.
struct Count;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Count {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            let mut text = String::new();
            struct Visit<'a>(&'a mut String);
            impl tracing::field::Visit for Visit<'_> {
                fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                    if f.name() == "summary" {
                        self.0.push_str(&format!("{v:?}"));
                    }
                }
                fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
                    if f.name() == "summary" {
                        self.0.push_str(v);
                    }
                }
            }
            event.record(&mut Visit(&mut text));
            // The schema watcher's own statements (`LISTEN`, the schema-version check)
            // are not a request's.
            if text.starts_with("LISTEN") || text.contains("information_schema") {
                return;
            }
            STATEMENTS.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut last) = LAST.lock() {
                last.push(text);
            }
        }
    }
}

fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Count))
            .expect("a subscriber");
    });
}

/// The statements `request` ran, and what they were.
fn statements(request: impl FnOnce()) -> (usize, Vec<String>) {
    if let Ok(mut last) = LAST.lock() {
        last.clear();
    }
    let before = STATEMENTS.load(Ordering::SeqCst);
    request();
    let n = STATEMENTS.load(Ordering::SeqCst) - before;
    (n, LAST.lock().map(|l| l.clone()).unwrap_or_default())
}

#[test]
fn embeds_are_one_statement_whatever_the_rows() {
    install();
    for b in backends() {
        if b == Backend::Sqlite {
            // rusqlite has no such events; the SQL is the same shape (tests/embed.rs).
            continue;
        }
        let s = TestServer::music(b);
        let name = b.name();
        for path in [
            "/albums?select=title,artists(name),tracks(name)&limit=1",
            "/albums?select=title,artists(name),tracks(name)",
            "/artists?select=name,albums(title,tracks(name,albums(title)))",
            "/playlists?select=name,tracks(name)",
            "/artists?select=name,albums!inner(title)&albums.title=like.*a*&order=name",
            "/tracks?select=name,albums(title,artists(name))&albums.artists.name=neq.x&limit=5",
        ] {
            // Once to open the connection (its set-up statements are not the read's).
            assert_eq!(s.get(path).status, 200, "{name} {path}");
            let (n, what) = statements(|| {
                let r = s.get(path);
                assert_eq!(r.status, 200, "{name} {path}: {}", r.text);
                assert!(
                    r.json().as_array().is_some_and(|a| !a.is_empty()),
                    "{name} {path}"
                );
            });
            assert_eq!(n, 1, "{name} {path}: {what:?}");
        }
        // With a count, still bounded whatever the rows: the count rides along
        // (PostgreSQL), or is one more statement in the same snapshot (MariaDB: start,
        // count, read, commit).
        let (n, what) = statements(|| {
            let r = s
                .req("GET", "/albums?select=title,tracks(name)&limit=2")
                .header("prefer", "count=exact")
                .send();
            assert_eq!(r.status, 206, "{name}: {}", r.text);
        });
        assert!(n <= 4, "{name}: {what:?}");
        // A write answering with embeds: as many statements for ten rows as for one.
        let write = |rows: usize| {
            statements(|| {
                let body: Vec<_> = (0..rows)
                    .map(|i| json!({"title": format!("T{i}"), "artist_id": 1 + (i % 2)}))
                    .collect();
                let r = s
                    .req("POST", "/albums?select=title,artists(name)")
                    .header("prefer", "return=representation")
                    .json(&json!(body))
                    .send();
                assert_eq!(r.status, 201, "{name}: {}", r.text);
                assert_eq!(r.json().as_array().map(Vec::len), Some(rows), "{name}");
            })
        };
        let (one, what_one) = write(1);
        let (ten, what_ten) = write(10);
        assert_eq!(one, ten, "{name}: {what_one:?} / {what_ten:?}");
        assert!(one <= 5, "{name}: {what_one:?}");
    }
}
