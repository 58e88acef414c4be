//! Benchmarks of the pure (no I/O) pipeline stages on a realistic `tracks` service:
//! request parsing, read planning, SQL building for each dialect, row encoding, and the
//! one-row insert plan. Run with `cargo bench --bench pipeline` (about a minute and a half
//! on 2 cores); add a filter to run a subset, e.g. `cargo bench --bench pipeline -- sql`.
//!
//! Every bench checks its output once before timing, so none measures an error path.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use poem::http::{header, HeaderMap, HeaderValue};
use restable::plan::write::{self, InsertOptions};
use restable::plan::{self, ReadPlan};
use restable::request::Format;
use restable::request::{Action, ApiRequest};
use restable::response::{Cell, RowEncoder};
use restable::schema::{Column, Method, Service, ServiceColumn, Table, ValueKind};
use restable::sql::{self, Dialect};

/// The server's default row cap (`[server] max_rows`).
const MAX_ROWS: u64 = 1000;

/// The backends, each with the column types its introspection reports for `tracks`.
#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
    MariaDb,
}

impl Backend {
    const ALL: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::MariaDb];

    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MariaDb => "mariadb",
        }
    }

    fn dialect(self) -> &'static dyn Dialect {
        match self {
            Backend::Sqlite => &sql::sqlite::Sqlite,
            Backend::Postgres => &sql::postgres::Postgres,
            Backend::MariaDb => &sql::mysql::MARIADB,
        }
    }

    /// Declared types of id, name, album_id, milliseconds, unit_price, genre, explicit,
    /// created_at as each database reports them.
    fn declared_types(self) -> [&'static str; 8] {
        match self {
            Backend::Sqlite => [
                "INTEGER",
                "TEXT",
                "INTEGER",
                "INTEGER",
                "NUMERIC(4,2)",
                "TEXT",
                "BOOLEAN",
                "TIMESTAMP",
            ],
            Backend::Postgres => [
                "integer",
                "text",
                "integer",
                "integer",
                "numeric(4,2)",
                "text",
                "boolean",
                "timestamp without time zone",
            ],
            Backend::MariaDb => [
                "int(11)",
                "text",
                "int(11)",
                "int(11)",
                "decimal(4,2)",
                "text",
                "tinyint(1)",
                "datetime",
            ],
        }
    }
}

/// The `tracks` table as a service exposes it with default settings: every column
/// visible, all methods, `max_rows = 1000`.
///
/// There is no public constructor for `Service` (the one in `state::build` needs a config
/// and a live database), so this mirrors what it does: `json_schema::row_schema`, then
/// the body validator from the patch schema without `additionalProperties`.
fn tracks(backend: Backend) -> Arc<Service> {
    let [t_id, t_name, t_album, t_ms, t_price, t_genre, t_explicit, t_created] =
        backend.declared_types();
    let id = Column {
        nullable: false,
        has_default: true,
        auto_increment: true,
        ..Column::plain("id", t_id, ValueKind::Integer)
    };
    let name = Column {
        nullable: false,
        ..Column::plain("name", t_name, ValueKind::Text)
    };
    let columns = vec![
        id,
        name,
        Column::plain("album_id", t_album, ValueKind::Integer),
        Column::plain("milliseconds", t_ms, ValueKind::Integer),
        Column::plain("unit_price", t_price, ValueKind::Decimal),
        Column::plain("genre", t_genre, ValueKind::Text),
        Column::plain("explicit", t_explicit, ValueKind::Boolean),
        Column::plain("created_at", t_created, ValueKind::Timestamp),
    ];
    let primary_key = vec!["id".to_string()];
    let table = Table {
        name: "tracks".into(),
        schema: None,
        bare_name: "tracks".into(),
        is_view: false,
        columns: columns.clone(),
        primary_key: primary_key.clone(),
        unique: Vec::new(),
        foreign_keys: Vec::new(),
    };
    let service_columns: Vec<ServiceColumn> = columns
        .into_iter()
        .map(|c| ServiceColumn {
            key_position: primary_key.iter().position(|k| *k == c.name),
            read_only: c.generated,
            column: c,
        })
        .collect();
    let service = Service::new(
        "tracks".into(),
        table,
        service_columns,
        primary_key,
        Method::ALL.to_vec(),
        MAX_ROWS,
        false,
    )
    .expect("the tracks service builds");
    Arc::new(service)
}

/// One GET request as the router hands it to `ApiRequest::parse`.
struct Case {
    name: &'static str,
    key: Option<Vec<String>>,
    query: &'static str,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "by_key",
            key: Some(vec!["123".to_string()]),
            query: "",
        },
        Case {
            name: "limit",
            key: None,
            query: "limit=50",
        },
        Case {
            name: "filtered",
            key: None,
            query: "album_id=eq.42",
        },
        Case {
            name: "complex",
            key: None,
            query: "select=id,name,album_id\
                    &or=(genre.eq.Rock,and(milliseconds.gt.200000,explicit.is.true))\
                    &order=name.desc.nullslast,id&limit=50&offset=100&name=ilike.*love*",
        },
    ]
}

/// The headers a typical client sends that the parser looks at.
fn headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    h
}

fn parse(case: &Case, headers: &HeaderMap) -> ApiRequest {
    ApiRequest::parse(Action::Get, "tracks", case.key.clone(), case.query, headers)
        .expect("the benchmark request parses")
}

fn read_plan(svc: &Arc<Service>, req: &ApiRequest) -> ReadPlan {
    plan::read_plan(
        &Default::default(),
        svc,
        &req.query,
        req.key.as_deref(),
        req.range,
        &Default::default(),
    )
    .expect("the benchmark request plans")
}

fn check_parsed(case: &Case, req: &ApiRequest) {
    let q = &req.query;
    match case.name {
        "by_key" => assert_eq!(req.key.as_deref(), Some(&["123".to_string()][..])),
        "limit" => assert_eq!(q.limit, vec![(vec![], 50)]),
        "filtered" => assert_eq!(q.filters.len(), 1),
        "complex" => {
            assert_eq!(q.select.as_ref().map(Vec::len), Some(3));
            assert_eq!(q.logic.len(), 1);
            assert_eq!(q.filters.len(), 1);
            assert_eq!(q.order.first().map(|(_, t)| t.len()), Some(2));
            assert_eq!(q.limit, vec![(vec![], 50)]);
            assert_eq!(q.offset, vec![(vec![], 100)]);
        }
        other => unreachable!("unknown case {other}"),
    }
}

fn check_plan(case: &Case, p: &ReadPlan) {
    match case.name {
        "by_key" => {
            assert!(p.filter.is_some());
            assert_eq!((p.limit, p.offset), (None, 0));
        }
        "limit" => {
            assert!(p.filter.is_none());
            assert_eq!((p.limit, p.offset), (Some(50), 0));
        }
        "filtered" => {
            assert!(p.filter.is_some());
            assert_eq!((p.limit, p.offset), (Some(MAX_ROWS), 0));
        }
        "complex" => {
            assert_eq!(p.select.len(), 3);
            assert!(p.filter.is_some());
            assert_eq!(p.order.len(), 2);
            assert_eq!((p.limit, p.offset), (Some(50), 100));
        }
        other => unreachable!("unknown case {other}"),
    }
}

fn check_sql(case: &Case, backend: Backend, stmt: &sql::Statement) {
    let what = format!("{} {}: {}", backend.name(), case.name, stmt.sql);
    assert!(stmt.sql.starts_with("SELECT "), "{what}");
    assert!(stmt.sql.contains("tracks"), "{what}");
    assert!(
        stmt.sql.contains(" WHERE ") == (case.name != "limit"),
        "{what}"
    );
    match case.name {
        "by_key" => assert!(!stmt.sql.contains("LIMIT"), "{what}"),
        _ => assert!(stmt.sql.contains("LIMIT"), "{what}"),
    }
    if case.name == "complex" {
        assert!(stmt.sql.contains(" OR "), "{what}");
        assert!(stmt.sql.contains("OFFSET"), "{what}");
        // genre, milliseconds, the ilike pattern, limit, offset.
        assert_eq!(stmt.params.len(), 5, "{what}");
    }
}

fn bench_parse(c: &mut Criterion) {
    let headers = headers();
    let mut g = c.benchmark_group("parse");
    for case in cases() {
        check_parsed(&case, &parse(&case, &headers));
        g.bench_function(case.name, |b| {
            // The key Vec is cloned in the loop: the router allocates it per request too.
            b.iter(|| {
                black_box(ApiRequest::parse(
                    black_box(Action::Get),
                    black_box("tracks"),
                    black_box(case.key.clone()),
                    black_box(case.query),
                    black_box(&headers),
                ))
            })
        });
    }
    g.finish();
}

fn bench_plan(c: &mut Criterion) {
    let headers = headers();
    let svc = tracks(Backend::Sqlite);
    let mut g = c.benchmark_group("plan");
    for case in cases() {
        let req = parse(&case, &headers);
        check_plan(&case, &read_plan(&svc, &req));
        g.bench_function(case.name, |b| {
            b.iter(|| {
                black_box(plan::read_plan(
                    black_box(&Default::default()),
                    black_box(&svc),
                    black_box(&req.query),
                    black_box(req.key.as_deref()),
                    black_box(req.range),
                    black_box(&Default::default()),
                ))
            })
        });
    }
    g.finish();
}

fn bench_sql(c: &mut Criterion) {
    let headers = headers();
    // `sql_select` builds the text afresh; `sql_select_cached` is what a request gets: the
    // text from the service's shape cache, only the parameters collected.
    type Build = fn(&dyn sql::Dialect, &ReadPlan) -> sql::Statement;
    let groups: [(&str, Build); 2] = [
        ("sql_select", sql::build_select),
        ("sql_select_cached", sql::select),
    ];
    for (group, build) in groups {
        let mut g = c.benchmark_group(group);
        for backend in Backend::ALL {
            let svc = tracks(backend);
            let d = backend.dialect();
            for case in cases() {
                let p = read_plan(&svc, &parse(&case, &headers));
                // Twice: the second one of a cached shape comes from the cache.
                check_sql(&case, backend, &build(d, &p));
                check_sql(&case, backend, &build(d, &p));
                g.bench_with_input(BenchmarkId::new(backend.name(), case.name), &p, |b, p| {
                    b.iter(|| black_box(build(black_box(d), black_box(p))))
                });
            }
        }
        g.finish();
    }
}

/// One row of `tracks` as a driver hands it over.
struct TrackRow {
    id: i64,
    name: String,
    album_id: Option<i64>,
    milliseconds: i64,
    unit_price: f64,
    genre: Option<&'static str>,
    explicit: bool,
    created_at: String,
}

const NAMES: [&str; 12] = [
    "For Those About To Rock (We Salute You)",
    "Balls to the Wall",
    "Fast As a Shark",
    "Restless and Wild",
    "Princess of the Dawn",
    "Let's Get It Up",
    "Hell Ain't A Bad Place To Be",
    "Dude (Looks Like A Lady)",
    "Say \"Hello\", Goodbye",
    "Livin' On The Edge",
    "Garota de Ipanema",
    "Überall, wo du bist",
];

const GENRES: [&str; 6] = ["Rock", "Jazz", "Metal", "Latin", "Blues", "Alternative"];

fn track_rows(n: usize) -> Vec<TrackRow> {
    (0..n)
        .map(|i| {
            let id = i64::try_from(i).expect("row index fits i64") + 1;
            TrackRow {
                id,
                name: format!("{} #{id}", NAMES[i % NAMES.len()]),
                // Some NULLs, as real data has them.
                album_id: (i % 13 != 0).then_some(id / 10 + 1),
                milliseconds: 180_000 + (id * 7_919) % 240_000,
                unit_price: if i % 5 == 0 { 1.99 } else { 0.99 },
                genre: (i % 9 != 0).then_some(GENRES[i % GENRES.len()]),
                explicit: i % 4 == 0,
                created_at: format!(
                    "2024-{:02}-{:02} {:02}:{:02}:{:02}",
                    i % 12 + 1,
                    i % 28 + 1,
                    i % 24,
                    i % 60,
                    (i * 7) % 60
                ),
            }
        })
        .collect()
}

/// The cells of one row in SQLite's representation (booleans as 0/1, decimals as REAL,
/// timestamps as text).
fn cell(r: &TrackRow, i: usize) -> Cell<'_> {
    match i {
        0 => Cell::Int(r.id),
        1 => Cell::Text(&r.name),
        2 => r.album_id.map_or(Cell::Null, Cell::Int),
        3 => Cell::Int(r.milliseconds),
        4 => Cell::Float(r.unit_price),
        5 => r.genre.map_or(Cell::Null, Cell::Text),
        6 => Cell::Int(i64::from(r.explicit)),
        7 => Cell::Text(&r.created_at),
        _ => Cell::Null,
    }
}

/// A whole response body, as the read flow writes it.
fn encode(enc: &RowEncoder, rows: &[TrackRow]) -> Vec<u8> {
    let mut out = Vec::new();
    enc.start(&mut out);
    for (n, r) in (0u64..).zip(rows) {
        enc.separator(&mut out, n);
        enc.row(&mut out, |i| cell(r, i));
    }
    enc.end(&mut out);
    out
}

fn check_encoded(format: Format, rows: usize, body: &[u8]) {
    match format {
        Format::Object => {
            let v: serde_json::Value = serde_json::from_slice(body).expect("valid JSON");
            let obj = v.as_object().expect("one object");
            assert_eq!(obj.len(), 8);
            assert_eq!(obj["created_at"], "2024-01-01T00:00:00");
            assert!(obj["unit_price"].is_number());
            assert_eq!(obj["explicit"], true);
        }
        Format::Json => {
            let v: serde_json::Value = serde_json::from_slice(body).expect("valid JSON");
            let items = v.as_array().expect("an array");
            assert_eq!(items.len(), rows);
            assert!(items
                .iter()
                .all(|o| o.as_object().map(|o| o.len()) == Some(8)));
        }
        Format::Csv => {
            let text = std::str::from_utf8(body).expect("UTF-8 CSV");
            let mut lines = text.lines();
            assert_eq!(
                lines.next(),
                Some("id,name,album_id,milliseconds,unit_price,genre,explicit,created_at")
            );
            // No name holds a newline, so one line per row.
            assert_eq!(lines.count(), rows);
        }
    }
}

fn bench_encode(c: &mut Criterion) {
    let svc = tracks(Backend::Sqlite);
    let encoder = |format| {
        RowEncoder::new(
            format,
            svc.columns.iter().map(|c| (c.name.as_str(), &c.column)),
        )
    };
    let mut g = c.benchmark_group("encode");
    for (name, format, n) in [
        ("object_1", Format::Object, 1usize),
        ("json_50", Format::Json, 50),
        ("json_1000", Format::Json, 1000),
        ("csv_1000", Format::Csv, 1000),
    ] {
        let enc = encoder(format);
        let rows = track_rows(n);
        check_encoded(format, n, &encode(&enc, &rows));
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(name, |b| {
            b.iter(|| black_box(encode(black_box(&enc), black_box(&rows))))
        });
    }
    g.finish();
}

const INSERT_BODY: &[u8] = br#"{"name":"Love In An Elevator","album_id":42,"milliseconds":321828,"unit_price":0.99,"genre":"Rock","explicit":false,"created_at":"2024-05-01T12:34:56"}"#;

/// POST /tracks with a one-row body: parse the JSON, validate it, plan the insert.
fn insert_plan(svc: &Arc<Service>, body: &[u8]) -> restable::error::ApiResult<write::InsertPlan> {
    let opts = InsertOptions {
        columns: None,
        missing: None,
        on_conflict: None,
        resolution: None,
    };
    let returning = plan::resolve_select(svc, None)?;
    write::insert_plan(svc, body, &opts, returning)
}

fn bench_write(c: &mut Criterion) {
    let svc = tracks(Backend::Sqlite);
    let mut g = c.benchmark_group("insert_one");
    let p = insert_plan(&svc, INSERT_BODY).expect("the benchmark body plans");
    assert!(p.single);
    assert_eq!(p.row_count, 1);
    assert_eq!(p.batches[0].columns.len(), 7);
    g.bench_function("plan", |b| {
        b.iter(|| black_box(insert_plan(black_box(&svc), black_box(INSERT_BODY))))
    });
    // The same plan as INSERT ... RETURNING text for each dialect.
    for backend in Backend::ALL {
        let svc = tracks(backend);
        let d = backend.dialect();
        let p = insert_plan(&svc, INSERT_BODY).expect("the benchmark body plans");
        let stmts = sql::insert(d, &svc, &p.batches[0], None, &p.returning);
        assert_eq!(stmts.len(), 1);
        assert!(stmts[0].sql.starts_with("INSERT INTO "), "{}", stmts[0].sql);
        assert_eq!(stmts[0].params.len(), 7);
        g.bench_function(BenchmarkId::new("sql", backend.name()), |b| {
            b.iter(|| {
                black_box(sql::insert(
                    black_box(d),
                    black_box(&svc),
                    black_box(&p.batches[0]),
                    None,
                    black_box(&p.returning),
                ))
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(40)
        .without_plots()
}

criterion_group! {
    name = pipeline;
    config = config();
    targets = bench_parse, bench_plan, bench_sql, bench_encode, bench_write
}
criterion_main!(pipeline);
