//! Hardening (issue 19): every list of the query grammar is bounded below what any backend
//! accepts, `select` gives each key once, a large bad body gets a small error, item routes
//! never allow POST, and `max-affected` is checked after the statement. On every backend.

mod common;

use common::*;
use serde_json::{json, Value};

fn list(item: &str, n: usize) -> String {
    vec![item; n].join(",")
}

// ---------------------------------------------------------------------------------------------
// Bounded lists

#[test]
fn a_select_list_past_the_limit_is_400_on_every_backend() {
    each_backend(|s| {
        // SQLite refused 2,001 entries with a 500, PostgreSQL 1,664 with a 400
        // payload_too_large: now every backend says the same, before any SQL.
        for n in [501, 1_664, 2_001] {
            let r = s.get(&format!("/tracks?select={}", list("id", n)));
            let v = r.assert_error(400, "bad_filter");
            assert_eq!(
                v["message"],
                "too many entries in select: at most 500 are allowed",
                "{}",
                s.backend.name()
            );
        }
        // 500 entries are fine, distinct output names included.
        let aliases: Vec<String> = (0..500).map(|i| format!("a{i}:id")).collect();
        let r = s.get(&format!("/artists?id=eq.1&select={}", aliases.join(",")));
        assert_eq!(r.status, 200, "{}: {}", s.backend.name(), r.text);
        let row = &r.json()[0];
        assert_eq!(row.as_object().map(|o| o.len()), Some(500), "{}", r.text);
        assert_eq!(row["a499"], 1);
    });
}

#[test]
fn every_other_list_is_bounded_too() {
    each_backend(|s| {
        let b = s.backend.name();
        let message = |path: &str| {
            let r = s.get(path);
            let v = r.assert_error(400, "bad_filter");
            v["message"].as_str().unwrap_or_default().to_string()
        };
        // order: 100 terms are fine, 101 are not.
        let r = s.get(&format!("/artists?order={}", list("name.desc", 100)));
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(
            message(&format!("/artists?order={}", list("name", 101))),
            "too many terms in order: at most 100 are allowed"
        );
        // Conditions: filters, logic-tree members and (any)/(all) elements together.
        let conditions = "too many conditions: at most 500 filters, logic-tree members and \
                          (any)/(all) elements are allowed in one request";
        let filters = |n: usize| vec!["id=gt.0"; n].join("&");
        let r = s.get(&format!("/artists?select=id&{}", filters(500)));
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(r.json().as_array().map(Vec::len), Some(5), "{b}");
        assert_eq!(message(&format!("/artists?{}", filters(501))), conditions);
        let tree = |n: usize| format!("({})", list("id.eq.2", n));
        let r = s.get(&format!("/artists?select=id&or={}", tree(499)));
        assert_eq!(r.text, r#"[{"id":2}]"#, "{b}");
        assert_eq!(
            message(&format!("/artists?or={}&id=gt.0", tree(500))),
            conditions
        );
        let any = format!("like(any).{{{}}}", list("A*", 300));
        let r = s.get(&format!("/artists?select=id&name={any}"));
        assert_eq!(r.text, r#"[{"id":1},{"id":2},{"id":3},{"id":4}]"#, "{b}");
        assert_eq!(
            message(&format!("/artists?name={any}&id={any}")),
            conditions
        );
        // in.(...): 10,000 values in one request.
        let values: Vec<String> = (1..=10_000).map(|i| i.to_string()).collect();
        let r = s.get(&format!(
            "/artists?select=id&id=in.({})&order=id",
            values.join(",")
        ));
        assert_eq!(
            r.text, r#"[{"id":1},{"id":2},{"id":3},{"id":4},{"id":5}]"#,
            "{b}"
        );
        assert_eq!(
            message(&format!(
                "/artists?id=in.({})&name=in.(x)",
                values.join(",")
            )),
            "too many values in in.(...) lists: at most 10000 are allowed in one request"
        );
        // columns= and on_conflict= on a write.
        let r = s
            .req("POST", &format!("/artists?columns={}", list("name", 1_001)))
            .json(&json!({"name": "X"}))
            .send();
        let v = r.assert_error(400, "bad_filter");
        assert_eq!(
            v["message"],
            "too many names in columns: at most 1000 are allowed"
        );
        let r = s
            .req("POST", &format!("/artists?on_conflict={}", list("id", 33)))
            .header("prefer", "resolution=merge-duplicates")
            .json(&json!({"id": 1, "name": "X"}))
            .send();
        let v = r.assert_error(400, "bad_filter");
        assert_eq!(
            v["message"],
            "too many names in on_conflict: at most 32 are allowed"
        );
        // Nothing was written.
        assert_eq!(s.ids("/artists?select=id"), [1, 2, 3, 4, 5]);
    });
}

// ---------------------------------------------------------------------------------------------
// select: one key per output name

#[test]
fn select_gives_each_key_once() {
    each_backend(|s| {
        let b = s.backend.name();
        let r = s.get("/artists?select=id,id&id=eq.1");
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(r.text, r#"[{"id":1}]"#, "{b}");
        let r = s.get("/artists?select=*,id,name,*&id=eq.1");
        assert_eq!(r.text, r#"[{"id":1,"name":"AC/DC"}]"#, "{b}");
        let r = s.get("/artists?select=name,*&id=eq.1");
        assert_eq!(r.text, r#"[{"name":"AC/DC","id":1}]"#, "{b}");
        // The same output name twice: the first one stays.
        let r = s.get("/artists?select=x:id,x:name,name&id=eq.1");
        assert_eq!(r.text, r#"[{"x":1,"name":"AC/DC"}]"#, "{b}");
        let r = s.get("/artists/1?select=id,id,name");
        assert_eq!(r.text, r#"{"id":1,"name":"AC/DC"}"#, "{b}");
        let r = s
            .req("GET", "/artists?select=id,id,name&id=eq.1")
            .header("accept", "text/csv")
            .send();
        assert_eq!(r.text, "id,name\n1,AC/DC", "{b}");
        // A write's representation too.
        let r = s
            .req("POST", "/artists?select=id,name,id")
            .header("prefer", "return=representation")
            .json(&json!({"id": 6, "name": "Can"}))
            .send();
        assert_eq!(r.status, 201, "{b}: {}", r.text);
        assert_eq!(r.text, r#"[{"id":6,"name":"Can"}]"#, "{b}");
    });
}

// ---------------------------------------------------------------------------------------------
// Error amplification

/// The last entry of a capped `details` list.
fn more_entry(v: &Value) -> String {
    let details = v["details"].as_array().expect("details");
    assert_eq!(details.len(), 101, "{v}");
    assert_eq!(details[100]["path"], "", "{v}");
    details[100]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_large_bad_body_gets_a_small_error() {
    each_backend(|s| {
        let b = s.backend.name();
        // 50,000 objects with three unknown keys each (1 MB): 150,000 problems.
        let body = format!("[{}]", list(r#"{"x":1,"y":1,"z":1}"#, 50_000));
        assert!(body.len() < 1_048_576);
        let r = s
            .req("POST", "/artists")
            .header("content-type", "application/json")
            .raw(body.as_bytes())
            .send();
        let v = r.assert_error(400, "validation_failed");
        assert!(r.text.len() < 64 * 1024, "{b}: {} bytes", r.text.len());
        let details = v["details"].as_array().expect("details");
        assert_eq!(
            details[0],
            json!({"path": "/0/x", "message": "'x' is not a column of 'artists'"}),
            "{b}"
        );
        // Every object also lacks `name` (and on a backend without a generated key,
        // nothing else): 4 problems per object, the first 100 listed.
        assert_eq!(
            more_entry(&v),
            "... and 199900 more problems not listed (the first 100 are)",
            "{b}"
        );

        // 100,000 empty objects: one missing column each.
        let body = format!("[{}]", list("{}", 100_000));
        let r = s
            .req("POST", "/artists")
            .header("content-type", "application/json")
            .raw(body.as_bytes())
            .send();
        let v = r.assert_error(400, "validation_failed");
        assert!(r.text.len() < 64 * 1024, "{b}: {} bytes", r.text.len());
        assert_eq!(
            v["details"][99],
            json!({"path": "/99/name", "message": "required column 'name' is missing"}),
            "{b}"
        );
        assert_eq!(
            more_entry(&v),
            "... and 99900 more problems not listed (the first 100 are)",
            "{b}"
        );
        // A body with 101 problems lists 100 and says one more.
        let body = format!("[{}]", list("{}", 101));
        let r = s
            .req("POST", "/artists")
            .header("content-type", "application/json")
            .raw(body.as_bytes())
            .send();
        let v = r.assert_error(400, "validation_failed");
        assert_eq!(
            more_entry(&v),
            "... and 1 more problem not listed (the first 100 are)",
            "{b}"
        );
        // 100 problems: all listed, no extra entry.
        let body = format!("[{}]", list("{}", 100));
        let r = s
            .req("POST", "/artists")
            .header("content-type", "application/json")
            .raw(body.as_bytes())
            .send();
        let v = r.assert_error(400, "validation_failed");
        assert_eq!(v["details"].as_array().map(Vec::len), Some(100), "{b}");
        assert_eq!(s.ids("/artists?select=id"), [1, 2, 3, 4, 5]);
    });
}

#[test]
fn a_long_unknown_key_is_quoted_short() {
    each_backend(|s| {
        let key = "k".repeat(10_000);
        let r = s.post("/artists", &json!({"name": "X", key.clone(): 1}));
        let v = r.assert_error(400, "validation_failed");
        assert_eq!(
            v["details"],
            json!([{
                "path": format!("/{key}"),
                "message": format!("'{}...' is not a column of 'artists'", &key[..64]),
            }]),
            "{}",
            s.backend.name()
        );
        assert!(r.text.len() < 10_400, "{}", r.text.len());
    });
}

// ---------------------------------------------------------------------------------------------
// Allow on item routes

#[test]
fn item_routes_never_allow_post() {
    each_backend(|s| {
        let b = s.backend.name();
        let r = s.post("/albums/1", &json!({"id": 1, "title": "X", "artist_id": 1}));
        let v = r.assert_error(405, "method_not_allowed");
        assert_eq!(
            r.header("allow"),
            Some("OPTIONS,GET,HEAD,PUT,PATCH,DELETE"),
            "{b}"
        );
        assert_eq!(
            v["details"], "Allowed: OPTIONS,GET,HEAD,PUT,PATCH,DELETE",
            "{b}"
        );
        let r = s.req("OPTIONS", "/artists/1").send();
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(r.text, "");
        assert_eq!(
            r.header("allow"),
            Some("OPTIONS,GET,HEAD,PUT,PATCH,DELETE"),
            "{b}"
        );
        let r = s.req("OPTIONS", "/playlist_items/1/1").send();
        assert_eq!(
            r.header("allow"),
            Some("OPTIONS,GET,HEAD,PUT,PATCH,DELETE"),
            "{b}"
        );
        // The collection route still allows POST.
        let r = s.req("OPTIONS", "/artists").send();
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(
            r.header("allow"),
            Some("OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"),
            "{b}"
        );
        let r = s.req("TRACE", "/artists/1").send();
        r.assert_error(405, "method_not_allowed");
        assert_eq!(
            r.header("allow"),
            Some("OPTIONS,GET,HEAD,PUT,PATCH,DELETE"),
            "{b}"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// max-affected

#[test]
fn max_affected_is_checked_after_the_statement() {
    each_backend(|s| {
        let b = s.backend.name();
        // The DELETE itself fails on a foreign key before any count: 409, as in PostgREST.
        let r = s
            .req("DELETE", "/artists?id=gt.0")
            .header("prefer", "max-affected=2")
            .send();
        r.assert_error(409, "foreign_key_violation");
        // A statement that succeeds but touches too many rows: 400, rolled back.
        let r = s
            .req("DELETE", "/playlist_items?playlist_id=eq.1")
            .header("prefer", "max-affected=2")
            .send();
        let v = r.assert_error(400, "max_affected_exceeded");
        assert_eq!(
            v["message"], "the request would affect 3 rows, more than max-affected=2",
            "{b}"
        );
        assert_eq!(v["details"], "The query affects 3 rows", "{b}");
        let r = s.get("/playlist_items?playlist_id=eq.1&select=track_id&order=track_id");
        assert_eq!(
            r.text, r#"[{"track_id":1},{"track_id":3},{"track_id":7}]"#,
            "{b}"
        );
        // Within the limit it goes through.
        let r = s
            .req("DELETE", "/playlist_items?playlist_id=eq.1")
            .header("prefer", "max-affected=3")
            .send();
        assert_eq!(r.status, 204, "{b}: {}", r.text);
        assert_eq!(s.get("/playlist_items?playlist_id=eq.1").text, "[]");
        assert_eq!(s.ids("/artists?select=id"), [1, 2, 3, 4, 5]);
    });
}

// ---------------------------------------------------------------------------------------------
// Small things

#[test]
fn an_enum_message_names_a_few_values_not_all() {
    // SQLite has no enumerated types (a CHECK constraint is not read as one): the
    // server backends only.
    let labels: Vec<String> = (0..1000).map(|i| format!("'v{i}'")).collect();
    for b in backends() {
        let sql = match b {
            Backend::Sqlite => continue,
            Backend::Postgres => format!(
                "CREATE TYPE big AS ENUM ({});\nCREATE TABLE e (id INTEGER PRIMARY KEY, v big);\n",
                labels.join(",")
            ),
            Backend::MySql => format!(
                "CREATE TABLE e (id INTEGER PRIMARY KEY, v ENUM({}));\n",
                labels.join(",")
            ),
        };
        // (The nullable column also takes null: 1,001 candidates.)
        let s = TestServer::start(b, &sql, "[services.e]\n");
        let r = s.post("/e", &json!({"id": 1, "v": "zzz"}));
        let v = r.assert_error(400, "validation_failed");
        assert_eq!(
            v["details"],
            json!([{"path": "/v", "message": "\"zzz\" is not one of \"v0\", \"v1\" or 999 other candidates"}]),
            "{}",
            b.name()
        );
        let r = s.post("/e", &json!({"id": 1, "v": "v999"}));
        assert_eq!(r.status, 201, "{}: {}", b.name(), r.text);
    }
}

// ---------------------------------------------------------------------------------------------
// Decimals: declared precision and scale, and finiteness, on every backend

#[test]
fn a_decimal_must_fit_its_declared_precision_on_every_backend() {
    // tracks.unit_price is NUMERIC(4,2) (DECIMAL(4,2) on MariaDB). SQLite took 1e400
    // (stored as Infinity, read back as null), 1e30, 1,001 digits and 100.
    each_backend(|s| {
        let b = s.backend.name();
        let huge = format!("1{}", "0".repeat(1000));
        let out_of_range = |t: &str| {
            let head: String = t.chars().take(40).collect();
            let shown = if head.len() < t.len() {
                format!("{head}...")
            } else {
                head
            };
            format!("{shown} is out of range for a decimal column")
        };
        let too_big = |t: &str| {
            format!(
                "{t} does not fit {}: at most 2 digits before the decimal point",
                if s.backend == Backend::Sqlite {
                    "NUMERIC(4,2)"
                } else if s.backend == Backend::Postgres {
                    "numeric(4,2)"
                } else {
                    "decimal(4,2)"
                }
            )
        };
        let cases = [
            // (serde_json writes an exponent with its sign.)
            ("1e400", out_of_range("1e+400")),
            (huge.as_str(), out_of_range(&huge)),
            ("1e30", too_big("1e+30")),
            ("100", too_big("100")),
            ("-99.995", too_big("-99.995")),
        ];
        for (value, message) in &cases {
            for (body, path) in [
                (
                    format!(r#"{{"id":20,"name":"X","album_id":1,"unit_price":{value}}}"#),
                    "/unit_price",
                ),
                (
                    format!(
                        r#"[{{"id":20,"name":"X","album_id":1,"unit_price":1}},{{"id":21,"name":"Y","album_id":1,"unit_price":{value}}}]"#
                    ),
                    "/1/unit_price",
                ),
            ] {
                let r = s
                    .req("POST", "/tracks")
                    .header("content-type", "application/json")
                    .raw(body.as_bytes())
                    .send();
                let v = r.assert_error(400, "validation_failed");
                assert_eq!(
                    v["details"],
                    json!([{"path": path, "message": message}]),
                    "{b}: {value}"
                );
            }
            let r = s
                .req("PATCH", "/tracks/1")
                .header("content-type", "application/json")
                .raw(format!(r#"{{"unit_price":{value}}}"#).as_bytes())
                .send();
            let v = r.assert_error(400, "validation_failed");
            assert_eq!(v["details"][0]["message"], *message, "{b}: {value}");
        }
        // What fits is kept exactly.
        let r = s
            .req("POST", "/tracks?select=id,unit_price")
            .header("content-type", "application/json")
            .raw(br#"[{"id":20,"name":"X","album_id":1,"unit_price":99.99},{"id":21,"name":"Y","album_id":1,"unit_price":-0.01}]"#)
            .send();
        assert_eq!(r.status, 201, "{b}: {}", r.text);
        assert_eq!(
            r.text, r#"[{"id":20,"unit_price":99.99},{"id":21,"unit_price":-0.01}]"#,
            "{b}"
        );
        let r = s.get("/tracks?select=unit_price&id=gte.20&order=id");
        assert_eq!(
            r.text, r#"[{"unit_price":99.99},{"unit_price":-0.01}]"#,
            "{b}"
        );
        assert_eq!(
            s.get("/tracks/1?select=unit_price").text,
            r#"{"unit_price":0.99}"#
        );
    });
}
