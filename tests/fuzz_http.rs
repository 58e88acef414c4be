//! A request fuzzer (SPEC §5: hostile input gets a 4xx, never a 500 or a hang): whole HTTP
//! requests generated with proptest — paths (services, item keys, percent escapes,
//! invalid UTF-8), query-grammar fragments, headers (Prefer, Range, Accept, Content-Type,
//! If-Match), bodies (JSON of every shape and none) — sent as raw bytes to a running
//! server on every backend for `RESTABLE_FUZZ_SECONDS` (default 20) each. Any 5xx, a
//! request without an answer within 8 s, or a server that stops answering fails the run
//! and prints the request. The regression cases in `tests/fuzz_corpus/*.txt` are replayed
//! first (format in `tests/fuzz_corpus/README.md`). `RESTABLE_FUZZ_SEED` repeats a run.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

const ANSWER_WITHIN: Duration = Duration::from_secs(8);

// ---- generation ------------------------------------------------------------------------

const COLUMNS: &[&str] = &[
    "id",
    "name",
    "title",
    "artist_id",
    "year",
    "album_id",
    "milliseconds",
    "unit_price",
    "genre",
    "playlist_id",
    "track_id",
    "nope",
    "\"name\"",
    "name->>x",
    "albums",
    "artists(name)",
    "*",
    "",
];

fn pct(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// A value as it appears in a URL: plain, quoted, percent-encoded bytes, huge numbers.
fn url_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 _.,*%-]{0,12}",
        "-?[0-9]{1,40}(\\.[0-9]{1,5})?",
        Just("1e400".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        "\"[a-z,()\\\\\"]{0,10}\"",
        "\\([a-z0-9,\"]{0,20}\\)",
        "\\{[a-z0-9,\"]{0,20}\\}",
        prop::collection::vec(any::<u8>(), 0..8).prop_map(|b| pct(&b)),
        "[\\PC]{0,8}".prop_map(|s| pct(s.as_bytes())),
    ]
}

fn operator() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "eq",
        "neq",
        "gt",
        "gte",
        "lt",
        "lte",
        "like",
        "ilike",
        "match",
        "imatch",
        "in",
        "is",
        "isdistinct",
        "fts",
        "cs",
        "cd",
        "ov",
        "not.eq",
        "not.in",
        "eq(any)",
        "like(all)",
        "not",
        "",
        "zz",
    ])
}

fn filter() -> impl Strategy<Value = String> {
    (prop::sample::select(COLUMNS), operator(), url_value())
        .prop_map(|(c, op, v)| format!("{c}={op}.{v}"))
}

/// A logic tree `or=(...)`, nested up to a few levels, sometimes unbalanced.
fn logic_tree() -> impl Strategy<Value = String> {
    let leaf = (prop::sample::select(COLUMNS), operator(), url_value())
        .prop_map(|(c, op, v)| format!("{c}.{op}.{v}"));
    let tree = leaf.prop_recursive(4, 24, 4, |inner| {
        (
            prop::sample::select(vec!["or", "and", "not.or", "not.and", "xor", ""]),
            prop::collection::vec(inner, 0..4),
        )
            .prop_map(|(k, parts)| format!("{k}({})", parts.join(",")))
    });
    (
        prop::sample::select(vec!["or", "and", "not.or", "not.and", "albums.or"]),
        tree,
        prop::sample::select(vec!["", ")", "(", ",,"]),
    )
        .prop_map(|(k, t, junk)| {
            let t = t.trim_start_matches(|c: char| c.is_ascii_alphabetic() || c == '.');
            format!("{k}={t}{junk}")
        })
}

/// Fragments that are valid on `/artists` (and some other services), so that requests
/// get past parsing into planning, SQL and the database.
fn sane_fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        (0i64..12).prop_map(|n| format!("id=eq.{n}")),
        (0i64..12).prop_map(|n| format!("id=gt.{n}")),
        "[a-zA-Z*]{0,4}".prop_map(|v| format!("name=like.*{v}*")),
        Just("select=id,name".to_string()),
        Just("select=*".to_string()),
        Just("order=id.desc".to_string()),
        Just("order=name.asc.nullsfirst".to_string()),
        (0i64..10).prop_map(|n| format!("limit={n}")),
        (0i64..10).prop_map(|n| format!("offset={n}")),
        (0i64..12, 0i64..12).prop_map(|(a, b)| format!("or=(id.eq.{a},id.eq.{b})")),
        Just("on_conflict=id".to_string()),
        Just("columns=id,name".to_string()),
    ]
}

fn query_fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => sane_fragment(),
        4 => filter(),
        2 => logic_tree(),
        2 => prop::collection::vec(prop::sample::select(COLUMNS), 0..5)
            .prop_map(|c| format!("select={}", c.join(","))),
        1 => "select=[a-z_*,():!.\\->]{0,40}".prop_map(|s| s),
        2 => (prop::sample::select(COLUMNS), prop::sample::select(vec!["", ".asc", ".desc", ".nullsfirst", ".desc.nullslast", ".x"]))
            .prop_map(|(c, d)| format!("order={c}{d}")),
        2 => (prop::sample::select(vec!["limit", "offset"]), prop_oneof![
            "-?[0-9]{1,25}",
            Just("".to_string()),
            "[a-z]{1,4}",
        ]).prop_map(|(k, v)| format!("{k}={v}")),
        1 => prop::sample::select(COLUMNS).prop_map(|c| format!("on_conflict={c}")),
        1 => prop::collection::vec(prop::sample::select(COLUMNS), 0..4)
            .prop_map(|c| format!("columns={}", c.join(","))),
        1 => "[\\PC]{0,20}".prop_map(|s| pct(s.as_bytes())),
        1 => "[a-z=&.,()%]{0,30}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec![
            "/artists", "/albums", "/tracks", "/playlists", "/playlist_items", "/",
            "/_health", "/_ready", "/_schema", "/_schema/artists", "/_schema/nope",
            "/_metrics", "/openapi.json", "/nope", "//artists", "/artists/", "/_x",
        ]).prop_map(str::to_string),
        3 => (
            prop::sample::select(vec!["/artists", "/albums", "/tracks", "/playlist_items", "/nope"]),
            prop_oneof![
                "[0-9]{1,3}",
                "-?[0-9]{1,30}",
                "[0-9]{1,2},[0-9]{1,2}",
                "[a-zA-Z.,()*]{0,6}",
                prop::collection::vec(any::<u8>(), 1..6).prop_map(|b| pct(&b)),
                Just("1/2".to_string()),
            ],
        ).prop_map(|(s, k)| format!("{s}/{k}")),
        1 => prop::collection::vec(any::<u8>(), 1..10).prop_map(|b| format!("/{}", pct(&b))),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let prefer = prop::collection::vec(
        prop::sample::select(vec![
            "return=representation",
            "return=minimal",
            "return=headers-only",
            "count=exact",
            "count=planned",
            "count=estimated",
            "resolution=merge-duplicates",
            "resolution=ignore-duplicates",
            "missing=default",
            "tx=rollback",
            "tx=commit",
            "max-affected=1",
            "max-affected=-5",
            "max-affected=99999999999999999999",
            "handling=strict",
            "handling=lenient",
            "params=single-object",
            "bogus=1",
            "",
        ]),
        0..4,
    )
    .prop_map(|p| ("Prefer".to_string(), p.join(", ")));
    let range = prop_oneof![
        "[0-9]{1,3}-[0-9]{0,3}",
        "-?[0-9]{1,25}-[0-9]{1,25}",
        "[a-z0-9=, -]{0,12}",
    ]
    .prop_map(|r| ("Range".to_string(), r));
    let accept = prop::sample::select(vec![
        "application/json",
        "text/csv",
        "application/vnd.pgrst.object+json",
        "application/vnd.pgrst.object",
        "application/geo+json",
        "*/*",
        "text/*",
        "image/png",
        "application/json;q=0",
        "",
        "garbage/",
    ])
    .prop_map(|a| ("Accept".to_string(), a.to_string()));
    let if_match = prop_oneof![
        Just("*".to_string()),
        "\"[a-zA-Z0-9/+=]{0,30}\"",
        "W/\"[a-z0-9]{0,8}\"",
        "[\\PC]{0,10}".prop_map(|s| s.chars().filter(|c| c.is_ascii_graphic()).collect()),
    ];
    let conditional = (
        prop::sample::select(vec!["If-Match", "If-None-Match"]),
        if_match,
    )
        .prop_map(|(k, v)| (k.to_string(), v));
    let other = prop_oneof![
        Just(("Range-Unit".to_string(), "items".to_string())),
        Just(("Range-Unit".to_string(), "bytes".to_string())),
        Just(("Origin".to_string(), "https://a.example".to_string())),
        Just(("Accept-Profile".to_string(), "public".to_string())),
        Just(("X-Request-Id".to_string(), "x".repeat(300))),
        Just(("Expect".to_string(), "100-continue".to_string())),
    ];
    prop::collection::vec(
        prop_oneof![2 => prefer, 1 => range, 2 => accept, 1 => conditional, 1 => other],
        0..5,
    )
}

fn json_scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?[0-9]{1,30}",
        "-?[0-9]{1,5}\\.[0-9]{1,20}",
        Just("1e400".to_string()),
        Just("-0".to_string()),
        Just("1E-400".to_string()),
        Just("true".to_string()),
        Just("null".to_string()),
        "\"[a-zA-Z0-9 '\\\\;\\-]{0,20}\"",
        "[\\PC]{0,10}".prop_map(|s| serde_json::Value::String(s).to_string()),
        Just("\"\\u0000\"".to_string()),
        Just("\"\\ud800\"".to_string()),
    ]
}

fn json_value() -> impl Strategy<Value = String> {
    json_scalar().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((prop::sample::select(COLUMNS), inner), 0..4).prop_map(|kv| {
                let fields: Vec<String> = kv
                    .into_iter()
                    .map(|(k, v)| format!("{}:{v}", serde_json::Value::from(k)))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

fn object() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(COLUMNS), json_value()), 0..6).prop_map(|kv| {
        let fields: Vec<String> = kv
            .into_iter()
            .map(|(k, v)| format!("{}:{v}", serde_json::Value::from(k)))
            .collect();
        format!("{{{}}}", fields.join(","))
    })
}

/// A body `/artists` accepts, mostly (ids collide, names may repeat).
fn sane_body() -> impl Strategy<Value = String> {
    fn row() -> impl Strategy<Value = String> {
        (1i64..400, "[a-zA-Z ]{1,12}", json_scalar()).prop_map(|(id, name, odd)| {
            let name = if id % 7 == 0 {
                odd
            } else {
                serde_json::Value::from(name).to_string()
            };
            format!("{{\"id\":{id},\"name\":{name}}}")
        })
    }
    prop_oneof![
        row(),
        prop::collection::vec(row(), 1..6).prop_map(|v| format!("[{}]", v.join(","))),
    ]
}

fn body() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        3 => Just(None),
        4 => sane_body().prop_map(|b| Some(b.into_bytes())),
        4 => object().prop_map(|o| Some(o.into_bytes())),
        2 => prop::collection::vec(object(), 0..4).prop_map(|v| Some(format!("[{}]", v.join(",")).into_bytes())),
        1 => json_value().prop_map(|v| Some(v.into_bytes())),
        1 => (object(), 0usize..40).prop_map(|(o, cut)| {
            let mut b = o.into_bytes();
            b.truncate(b.len().saturating_sub(cut));
            Some(b)
        }),
        1 => (1usize..3000, prop::bool::ANY).prop_map(|(depth, arr)| {
            let (open, close) = if arr { ("[", "]") } else { ("{\"a\":", "}") };
            Some(format!("{}1{}", open.repeat(depth), close.repeat(depth)).into_bytes())
        }),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Some),
    ]
}

fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        6 => Just(Some("application/json")),
        1 => Just(None),
        1 => prop::sample::select(vec![
            "application/json; charset=utf-8", "text/plain", "text/csv", "application/x-www-form-urlencoded",
            "application/JSON", "application/json;", "garbage",
        ]).prop_map(Some),
    ]
}

fn request() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec![
            "GET", "GET", "HEAD", "POST", "POST", "PATCH", "PUT", "DELETE", "OPTIONS", "TRACE",
            "FOO",
        ]),
        path(),
        prop::collection::vec(query_fragment(), 0..5),
        headers(),
        content_type(),
        body(),
    )
        .prop_map(|(method, path, query, headers, ct, body)| {
            let mut out = Vec::new();
            out.extend_from_slice(method.as_bytes());
            out.push(b' ');
            // Spaces and other bytes HTTP forbids in a target are sent escaped.
            let target = if query.is_empty() {
                path
            } else {
                format!("{path}?{}", query.join("&"))
            };
            for b in target.bytes() {
                if b.is_ascii_graphic() && b != b'#' {
                    out.push(b);
                } else {
                    out.extend_from_slice(pct(&[b]).as_bytes());
                }
            }
            out.extend_from_slice(b" HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n");
            for (k, v) in headers {
                out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
            }
            if let Some(ct) = ct {
                out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
            }
            let body = body.unwrap_or_default();
            if !body.is_empty() || method != "GET" {
                out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&body);
            out
        })
}

// ---- sending -------------------------------------------------------------------------

/// The request as printable text: `\r`, `\n`, `\\` and bytes outside printable ASCII as
/// escapes (the corpus format).
fn escape(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n\n"),
            b'\\' => out.push_str("\\\\"),
            b if b == b' ' || b.is_ascii_graphic() => out.push(char::from(b)),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// The corpus format back to bytes: newlines in the file are ignored (`\n` writes one).
fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let bytes: Vec<u8> = text.bytes().filter(|&b| b != b'\n').collect();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            match bytes[i + 1] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b'\\' => out.push(b'\\'),
                b'x' if i + 3 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).unwrap_or("00");
                    out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                    i += 2;
                }
                other => out.push(other),
            }
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Send one request; the status, or `None` when the server closed without answering.
/// Panics (with the request) when no answer comes in time.
fn send(addr: SocketAddr, request: &[u8]) -> Result<Option<u16>, String> {
    let mut tcp = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    tcp.set_read_timeout(Some(ANSWER_WITHIN))
        .map_err(|e| e.to_string())?;
    // The server may answer (and close) before reading all of a refused body.
    let _ = tcp.write_all(request);
    let mut response = Vec::new();
    let mut buf = [0u8; 8192];
    let started = Instant::now();
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                response.extend_from_slice(&buf[..n]);
                if response.len() > 1 << 20 {
                    break;
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return Err(format!("no answer within {:?}", started.elapsed()));
            }
            Err(_) => break,
        }
    }
    // The final status: after any `100 Continue`.
    let text = String::from_utf8_lossy(&response);
    Ok(text
        .split("HTTP/1.1 ")
        .filter_map(|r| r.get(..3).and_then(|s| s.parse::<u16>().ok()))
        .find(|s| *s >= 200))
}

/// Check one request: a status under 500, or a close without an answer while the server
/// still answers `/_health` (hyper drops some malformed requests that way).
fn check(addr: SocketAddr, request: &[u8]) -> Result<(), String> {
    match send(addr, request)? {
        Some(status) if status >= 500 => Err(format!("status {status}")),
        Some(_) => Ok(()),
        None => match send(
            addr,
            b"GET /_health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ) {
            Ok(Some(200)) => Ok(()),
            other => Err(format!(
                "closed without an answer, and then /_health gave {other:?}"
            )),
        },
    }
}

fn corpus() -> Vec<(String, Vec<u8>, bool)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "txt"));
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("corpus file");
            let excluded = text.lines().any(|l| l.starts_with("# excluded"));
            let body: String = text
                .lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n");
            (p.display().to_string(), unescape(&body), excluded)
        })
        .collect()
}

#[test]
fn escape_round_trips() {
    let raw = b"GET /a\\b\xff HTTP/1.1\r\nHost: x\r\n\r\n{\"a\":1}\n".to_vec();
    assert_eq!(unescape(&escape(&raw)), raw);
}

#[test]
fn hostile_requests_never_get_a_5xx_or_hang() {
    let seconds: u64 = std::env::var("RESTABLE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("RESTABLE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let cases = corpus();
    for b in backends() {
        let toml =
            format!("[server]\nrequest_timeout_ms = 3000\nbody_timeout_ms = 3000\n{MUSIC_TOML}");
        let s = TestServer::fixture(b, "music", &toml);
        let addr: SocketAddr = s.base.trim_start_matches("http://").parse().expect("addr");
        for (name, request, excluded) in &cases {
            if *excluded {
                continue;
            }
            if let Err(why) = check(addr, request) {
                panic!(
                    "{}: corpus case {name}: {why}\n{}",
                    b.name(),
                    escape(request)
                );
            }
        }
        let mut seed_bytes = [0u8; 32];
        seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
        );
        let strategy = request();
        let until = Instant::now() + Duration::from_secs(seconds);
        let mut sent = 0u64;
        let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
        while Instant::now() < until {
            let request = strategy
                .new_tree(&mut runner)
                .expect("generate a request")
                .current();
            sent += 1;
            match send(addr, &request) {
                Ok(Some(status)) if status < 500 => {
                    *statuses.entry(status).or_default() += 1;
                    continue;
                }
                _ => {}
            }
            if let Err(why) = check(addr, &request) {
                panic!(
                    "{}: request {sent} (RESTABLE_FUZZ_SEED={seed}): {why}; to keep it as a \
                     regression case, save this as tests/fuzz_corpus/NAME.txt:\n{}",
                    b.name(),
                    escape(&request)
                );
            }
        }
        eprintln!(
            "{}: {sent} fuzzed requests (seed {seed}) and {} corpus cases, no 5xx; statuses {statuses:?}",
            b.name(),
            cases.len()
        );
    }
}
