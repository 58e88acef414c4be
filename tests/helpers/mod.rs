//! Helpers shared by the read/write integration tests (on top of `common`): URL
//! encoding for readable test URLs, fixtures per backend, and small assertions.
#![allow(dead_code)]

use serde_json::Value;

use crate::common::{fixture, Backend, Resp, TestServer, MUSIC_TOML};

pub const TYPES_TOML: &str = "[services.things]\n";

/// A server on the music fixture with a custom services.toml.
pub fn music_with(b: Backend, toml: &str) -> TestServer {
    TestServer::fixture(b, "music", toml)
}

/// The music fixture plus `constraints.{backend}.sql` (table `ratings` with a named CHECK
/// constraint), services `MUSIC_TOML` + `[services.ratings]`.
pub fn music_and_constraints(b: Backend) -> TestServer {
    let sql = format!("{}\n{}", fixture("music", b), fixture("constraints", b));
    let toml = format!("{MUSIC_TOML}\n[services.ratings]\n");
    TestServer::start(b, &sql, &toml)
}

/// The type-mapping fixture (SPEC §3): table `things` with one column of every kind.
pub fn types_server(b: Backend) -> TestServer {
    TestServer::fixture(b, "types", TYPES_TOML)
}

/// Percent-encode what a URI may not contain (spaces, quotes, braces, non-ASCII, ...),
/// leaving the URL grammar's characters and existing `%XX` escapes alone. `+` stays a `+`
/// (the server decodes it to a space); write `%2B` for a literal plus.
pub fn u(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `id`s of a JSON array body, in order (asserts a 200).
pub fn ids(r: &Resp) -> Vec<i64> {
    assert_eq!(r.status, 200, "body: {}", r.text);
    ids_any(r)
}

/// The `id`s of a JSON array body, in order, whatever the status.
pub fn ids_any(r: &Resp) -> Vec<i64> {
    r.json()
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {}", r.text))
        .iter()
        .map(|o| o["id"].as_i64().unwrap_or_else(|| panic!("no id in {o}")))
        .collect()
}

/// GET `path` (through `u`) and return the ids, asserting 200.
pub fn get_ids(s: &TestServer, path: &str) -> Vec<i64> {
    ids(&s.get(&u(path)))
}

/// An error whose code SPEC does not fix: status and PostgREST's four-key shape.
pub fn assert_error_shape(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "body: {}", r.text);
    assert_shape(r)
}

/// Any 4xx with the error shape (hostile input: SPEC only promises "a 4xx").
pub fn assert_client_error(r: &Resp) -> Value {
    assert!(
        (400..500).contains(&r.status),
        "expected a 4xx, got {}: {}",
        r.status,
        r.text
    );
    assert_shape(r)
}

fn assert_shape(r: &Resp) -> Value {
    let v = r.json();
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("error body not an object: {}", r.text));
    assert_eq!(obj.len(), 4, "error keys: {}", r.text);
    for k in ["code", "message", "details", "hint"] {
        assert!(obj.contains_key(k), "missing {k} in {}", r.text);
    }
    assert!(v["code"].is_string(), "code not a string: {}", r.text);
    v
}

/// The problems of a `validation_failed` body as (path, message) pairs.
pub fn problems(v: &Value) -> Vec<(String, String)> {
    v["details"]
        .as_array()
        .unwrap_or_else(|| panic!("details is not an array: {v}"))
        .iter()
        .map(|p| {
            (
                p["path"].as_str().expect("path").to_string(),
                p["message"].as_str().expect("message").to_string(),
            )
        })
        .collect()
}

/// Just the paths of `problems`, sorted.
pub fn problem_paths(v: &Value) -> Vec<String> {
    let mut p: Vec<String> = problems(v).into_iter().map(|(p, _)| p).collect();
    p.sort();
    p
}

/// The whole table of a service as JSON (ordered by key), for "nothing changed" checks.
pub fn snapshot(s: &TestServer, service: &str) -> Value {
    let r = s.get(&format!("/{service}"));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

/// Another server on the same database as `s`, exposing `services_toml`.
pub fn second_server(s: &TestServer, services_toml: &str) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!(
        "[server]\nbind = \"127.0.0.1:0\"\n[database]\nurl = \"{}\"\npool_size = 2\n{services_toml}",
        s.url
    );
    TestServer::start_with_config(s.backend, dir, &toml)
}
