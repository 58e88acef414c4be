//! Schema changes reach a running instance without a SIGHUP (SPEC 6): on PostgreSQL after
//! `NOTIFY restable, 'reload'` (and after its LISTEN connection was cut), on SQLite and
//! MariaDB within `[database] schema_poll_ms`. A re-introspection that fails keeps the old
//! schema cache serving.

mod common;

use std::time::{Duration, Instant};

use common::*;

const POLL_TOML: &str = "schema_poll_ms = 100\n";

/// Run `sql` (one statement) on the test database through a connection of its own.
fn run_sql(srv: &TestServer, sql: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match srv.backend {
        Backend::Sqlite => {
            let path = srv.url.trim_start_matches("sqlite://");
            let c = rusqlite::Connection::open(path).expect("open sqlite");
            c.execute_batch(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        Backend::Postgres => rt.block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&srv.url)
                .await
                .expect("connect");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }),
        Backend::MySql => rt.block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::MySqlConnection::connect(&srv.url)
                .await
                .expect("connect");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }),
    }
}

fn add_column(srv: &TestServer, table: &str, column: &str) {
    let ty = match srv.backend {
        Backend::MySql => "VARCHAR(40)",
        _ => "TEXT",
    };
    run_sql(
        srv,
        &format!("ALTER TABLE {table} ADD COLUMN {column} {ty} NULL"),
    );
}

/// Wait (up to `within`) until `?select=column` is served; on PostgreSQL `NOTIFY` every
/// 200 ms meanwhile (the LISTEN connection may still be connecting). How long it took.
fn served_within(srv: &TestServer, column: &str, notify: bool, within: Duration) -> Duration {
    let started = Instant::now();
    let mut notified = Instant::now() - Duration::from_secs(1);
    loop {
        if notify && notified.elapsed() >= Duration::from_millis(200) {
            run_sql(srv, "NOTIFY restable, 'reload'");
            notified = Instant::now();
        }
        let r = srv.get(&format!("/artists?select=id,{column}&id=eq.1"));
        if r.status == 200 {
            assert_eq!(r.json()[0][column], serde_json::Value::Null, "{}", r.text);
            return started.elapsed();
        }
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(
            started.elapsed() < within,
            "{}: column {column} still not served after {within:?}: {}",
            srv.backend.name(),
            r.text
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn server(backend: Backend) -> TestServer {
    let toml = if backend == Backend::Postgres {
        MUSIC_TOML.to_string()
    } else {
        format!("{POLL_TOML}{MUSIC_TOML}")
    };
    TestServer::fixture(backend, "music", &toml)
}

#[test]
fn a_new_column_is_served_without_sighup() {
    for b in backends() {
        let srv = server(b);
        let pg = b == Backend::Postgres;
        assert_eq!(srv.get("/artists?select=country").status, 400);
        add_column(&srv, "artists", "country");
        let took = served_within(&srv, "country", pg, Duration::from_secs(10));
        eprintln!("{}: new column served after {took:?}", b.name());
        if !pg {
            // Within the interval, give or take an introspection.
            assert!(took < Duration::from_secs(3), "{}: {took:?}", b.name());
        }
        // Writes use the new cache too.
        let r = srv.patch("/artists?id=eq.1", &serde_json::json!({"country": "AU"}));
        assert_eq!(r.status, 204, "{}", r.text);
        assert_eq!(
            srv.get("/artists?select=country&id=eq.1").json()[0]["country"],
            "AU"
        );
    }
}

#[test]
fn a_failed_reintrospection_keeps_the_old_cache() {
    for b in backends() {
        let srv = server(b);
        let pg = b == Backend::Postgres;
        add_column(&srv, "artists", "first_change");
        served_within(&srv, "first_change", pg, Duration::from_secs(10));
        // A configured table disappears: the rebuild fails, the old cache keeps serving
        // (the new column of the same change is not picked up).
        add_column(&srv, "artists", "second_change");
        run_sql(&srv, "DROP TABLE playlist_tracks");
        if pg {
            for _ in 0..5 {
                run_sql(&srv, "NOTIFY restable, 'reload'");
                std::thread::sleep(Duration::from_millis(200));
            }
        } else {
            std::thread::sleep(Duration::from_millis(1000));
        }
        assert_eq!(srv.get("/artists?select=second_change").status, 400);
        let r = srv.get("/artists?select=first_change&id=eq.1");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(srv.get("/_ready").status, 200);
    }
}

/// The LISTEN connection is cut (as a database restart would): it reconnects by itself
/// and re-introspects, since notifications may have been missed meanwhile.
#[test]
fn postgres_listen_reconnects_after_an_outage() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let srv = server(Backend::Postgres);
    add_column(&srv, "artists", "before_cut");
    served_within(&srv, "before_cut", true, Duration::from_secs(10));
    srv.kill_connections();
    // Changed while the listener is (or may be) down, and no NOTIFY sent: the
    // re-introspection after reconnecting picks it up.
    add_column(&srv, "artists", "while_cut");
    let took = served_within(&srv, "while_cut", false, Duration::from_secs(10));
    eprintln!("postgres: change made during the outage served {took:?} after it");
}

/// The event trigger docs/operations.md gives: any DDL notifies, no NOTIFY by hand.
#[test]
fn postgres_event_trigger_from_the_docs_notifies_on_ddl() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let srv = server(Backend::Postgres);
    // Once this is served, the LISTEN connection is up.
    add_column(&srv, "artists", "listening");
    served_within(&srv, "listening", true, Duration::from_secs(10));
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md"))
        .expect("operations.md");
    let start = doc
        .find("CREATE OR REPLACE FUNCTION restable_watch()")
        .expect("the event trigger in operations.md");
    let sql = &doc[start..];
    let sql = &sql[..sql.find("```").expect("end of the block")];
    run_sql(&srv, sql);
    add_column(&srv, "artists", "by_trigger");
    let took = served_within(&srv, "by_trigger", false, Duration::from_secs(10));
    eprintln!("postgres: DDL served {took:?} later through the event trigger");
}
