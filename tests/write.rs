//! Writing: POST / PATCH / PUT / DELETE, Prefer, validation, constraint errors,
//! concurrency control and hostile input (SPEC §4.3, §4.4, §4.5, §5), on the music fixture
//! (reference/postgrest-behaviour.md §11.6, §11.7).

mod common;
mod helpers;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use helpers::*;
use serde_json::{json, Value};

const JSON_CT: &str = "application/json; charset=utf-8";
const OBJECT: &str = "application/vnd.pgrst.object+json";

fn artist_ids(s: &TestServer) -> Vec<i64> {
    s.ids("/artists?select=id")
}

// ---------------------------------------------------------------------------------------------
// POST

#[test]
fn post_object() {
    each_backend(|s| {
        let r = s.post("/artists", &json!({"id": 6, "name": "Deep Purple"}));
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json(), json!({"id": 6, "name": "Deep Purple"}));
        assert_eq!(r.header("location"), Some("/artists/6"));
        assert_eq!(r.header("content-type"), Some(JSON_CT));
        let r = s.get("/artists/6");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!({"id": 6, "name": "Deep Purple"}));

        // Defaults fill what is not given; the answer shows them.
        let r = s.post("/tracks", &json!({"id": 9, "name": "T", "album_id": 1}));
        assert_eq!(r.status, 201, "{}", r.text);
        assert!(r.text.contains("\"unit_price\":0.99"), "{}", r.text);
        assert_eq!(r.json()["genre"], Value::Null);
        assert_eq!(r.header("location"), Some("/tracks/9"));

        // Composite key: one segment per key column.
        let r = s.post("/playlist_items", &json!({"playlist_id": 3, "track_id": 8}));
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json(), json!({"playlist_id": 3, "track_id": 8}));
        assert_eq!(s.get("/playlist_items/3/8").status, 200);

        // An auto-generated key is in the answer and the Location.
        let r = s.post("/playlists", &json!({"name": "Generated"}));
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.json()["id"].as_i64().expect("generated id");
        assert_eq!(
            r.header("location"),
            Some(format!("/playlists/{id}").as_str())
        );
    });
}

#[test]
fn location_of_a_composite_key() {
    // SPEC §4.3: `Location: /{service}/{key}`, one segment per key column. RFC 3986 §2.3:
    // unreserved characters such as `_` are not percent-encoded by URI producers.
    each_backend(|s| {
        let r = s.post("/playlist_items", &json!({"playlist_id": 3, "track_id": 8}));
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.header("location"), Some("/playlist_items/3/8"));
        let r = s
            .req("POST", "/playlist_items")
            .header("prefer", "return=headers-only")
            .json(&json!({"playlist_id": 3, "track_id": 7}))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.text, "");
        assert_eq!(r.header("location"), Some("/playlist_items/3/7"));
        let r = s.put("/playlist_items/3/6", &json!({}));
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.header("location"), Some("/playlist_items/3/6"));
    });
}

#[test]
fn post_array() {
    each_backend(|s| {
        let body = json!([{"id": 6, "name": "Deep Purple"}, {"id": 7, "name": "Kiss"}]);
        let r = s.post("/artists", &body);
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json(), body);
        assert_eq!(r.header("location"), None);
        assert_eq!(artist_ids(s), [1, 2, 3, 4, 5, 6, 7]);

        // A one-element array answers with an array.
        let r = s.post("/artists", &json!([{"id": 8, "name": "Queen"}]));
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json(), json!([{"id": 8, "name": "Queen"}]));

        // Objects with different keys in one array.
        let r = s.post(
            "/albums",
            &json!([{"id": 8, "title": "A", "artist_id": 1},
                    {"id": 9, "title": "B", "artist_id": 1, "year": 1999}]),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(
            r.json(),
            json!([{"id": 8, "title": "A", "artist_id": 1, "year": null},
                   {"id": 9, "title": "B", "artist_id": 1, "year": 1999}])
        );
    });
}

#[test]
fn post_array_is_all_or_nothing() {
    each_backend(|s| {
        // A row the validation refuses, in the middle.
        let r = s.post(
            "/artists",
            &json!([{"id": 6, "name": "A"}, {"id": 7}, {"id": 8, "name": "C"}]),
        );
        let v = r.assert_error(400, "validation_failed");
        assert_eq!(problem_paths(&v), ["/1/name"]);
        assert_eq!(artist_ids(s), [1, 2, 3, 4, 5]);

        // A row the database refuses, in the middle.
        let r = s.post(
            "/artists",
            &json!([{"id": 6, "name": "A"}, {"id": 7, "name": "AC/DC"}, {"id": 8, "name": "C"}]),
        );
        r.assert_error(409, "unique_violation");
        assert_eq!(artist_ids(s), [1, 2, 3, 4, 5]);

        let r = s.post(
            "/albums",
            &json!([{"id": 8, "title": "A", "artist_id": 1},
                    {"id": 9, "title": "B", "artist_id": 999},
                    {"id": 10, "title": "C", "artist_id": 1}]),
        );
        r.assert_error(409, "foreign_key_violation");
        assert_eq!(s.ids("/albums?select=id"), [1, 2, 3, 4, 5, 6, 7]);
    });
}

#[test]
fn post_return_preferences() {
    each_backend(|s| {
        let r = s
            .req("POST", "/artists")
            .header("prefer", "return=minimal")
            .json(&json!({"id": 6, "name": "Deep Purple"}))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.text, "");
        assert_eq!(r.header("preference-applied"), Some("return=minimal"));
        assert_eq!(s.get("/artists/6").status, 200);

        let r = s
            .req("POST", "/artists")
            .header("prefer", "return=representation")
            .json(&json!({"id": 7, "name": "Kiss"}))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        // Always an array with an explicit return=representation.
        assert_eq!(r.json(), json!([{"id": 7, "name": "Kiss"}]));
        assert_eq!(
            r.header("preference-applied"),
            Some("return=representation")
        );

        let r = s
            .req("POST", "/artists?select=name")
            .header("prefer", "return=representation")
            .json(&json!({"id": 8, "name": "Queen"}))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json(), json!([{"name": "Queen"}]));

        let r = s
            .req("POST", "/artists")
            .header("prefer", "return=headers-only")
            .json(&json!({"id": 9, "name": "Rush"}))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.text, "");
        assert_eq!(r.header("location"), Some("/artists/9"));
        assert_eq!(artist_ids(s), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });
}

#[test]
fn post_to_an_item_url_is_405() {
    each_backend(|s| {
        let r = s.post("/artists/6", &json!({"id": 6, "name": "X"}));
        r.assert_error(405, "method_not_allowed");
        assert!(r.header("allow").is_some());
        assert_eq!(artist_ids(s), [1, 2, 3, 4, 5]);
    });
}

// ---------------------------------------------------------------------------------------------
// Validation

#[test]
fn unknown_key_is_a_validation_problem() {
    each_backend(|s| {
        let r = s.post(
            "/albums",
            &json!({"id": 8, "title": "X", "artist_id": 1, "bogus": 1}),
        );
        let v = r.assert_error(400, "validation_failed");
        let p = problems(&v);
        assert_eq!(p.len(), 1, "{v}");
        assert_eq!(p[0].0, "/bogus");
        assert!(p[0].1.contains("bogus"), "{v}");
        assert_eq!(s.get("/albums/8").status, 404);

        let v = s
            .patch("/albums?id=eq.1", &json!({"bogus": 1}))
            .assert_error(400, "validation_failed");
        assert_eq!(problem_paths(&v), ["/bogus"]);
    });
}

const HIDDEN_TOML: &str = r#"
[services.artists]
[services.albums]
[services.tracks]
hidden = ["genre"]
[services.playlists]
[services.playlist_items]
table = "playlist_tracks"
"#;

#[test]
fn hidden_column_in_a_body_is_like_an_unknown_key() {
    for b in backends() {
        let s = music_with(b, HIDDEN_TOML);
        let base = json!({"id": 9, "name": "T", "album_id": 1});
        let mut with_hidden = base.clone();
        with_hidden["genre"] = json!("Rock");
        let mut with_unknown = base.clone();
        with_unknown["nope"] = json!("Rock");
        let h = s.post("/tracks", &with_hidden);
        let n = s.post("/tracks", &with_unknown);
        let v = h.assert_error(400, "validation_failed");
        n.assert_error(400, "validation_failed");
        assert_eq!(problem_paths(&v), ["/genre"]);
        assert_eq!(h.text.replace("genre", "nope"), n.text);

        let h = s.patch("/tracks/1", &json!({"genre": "Pop"}));
        let n = s.patch("/tracks/1", &json!({"nope": "Pop"}));
        h.assert_error(400, "validation_failed");
        assert_eq!(h.text.replace("genre", "nope"), n.text);

        let h = s.put(
            "/tracks/1",
            &json!({"name": "N", "album_id": 1, "genre": "Pop"}),
        );
        let n = s.put(
            "/tracks/1",
            &json!({"name": "N", "album_id": 1, "nope": "Pop"}),
        );
        h.assert_error(400, "validation_failed");
        assert_eq!(h.text.replace("genre", "nope"), n.text);

        let h = s
            .req("POST", "/tracks?columns=id,name,album_id,genre")
            .json(&base)
            .send();
        let n = s
            .req("POST", "/tracks?columns=id,name,album_id,nope")
            .json(&base)
            .send();
        assert_eq!(h.status, 400, "{}", h.text);
        assert_eq!(h.text.replace("genre", "nope"), n.text);

        assert_eq!(s.get("/tracks/9").status, 404);
        // The hidden value was not changed either (seen through a service without `hidden`).
        let plain = second_server(&s, MUSIC_TOML);
        assert_eq!(plain.get("/tracks/1").json()["genre"], "Rock");
    }
}

#[test]
fn read_only_columns_are_refused() {
    for b in backends() {
        let toml = r#"
[services.artists]
[services.albums]
read_only = ["year"]
[services.tracks]
[services.playlists]
[services.playlist_items]
table = "playlist_tracks"
"#;
        let s = music_with(b, toml);
        let v = s
            .post(
                "/albums",
                &json!({"id": 8, "title": "X", "artist_id": 1, "year": 1999}),
            )
            .assert_error(400, "validation_failed");
        let p = problems(&v);
        assert_eq!(p.len(), 1, "{v}");
        assert_eq!(p[0].0, "/year");
        assert!(
            p[0].1.contains("read-only") || p[0].1.contains("read only"),
            "{v}"
        );
        assert_eq!(s.get("/albums/8").status, 404);

        let v = s
            .patch("/albums/1", &json!({"year": 2000}))
            .assert_error(400, "validation_failed");
        assert_eq!(problem_paths(&v), ["/year"]);
        s.patch("/albums?id=eq.1", &json!({"title": "T", "year": 2000}))
            .assert_error(400, "validation_failed");
        s.req("POST", "/albums?columns=id,title,artist_id,year")
            .json(&json!({"id": 8, "title": "X", "artist_id": 1}))
            .send()
            .assert_error(400, "validation_failed");
        assert_eq!(s.get("/albums/1").json()["year"], 1981);
        assert_eq!(
            s.get("/albums/1").json()["title"],
            "For Those About To Rock"
        );

        // Readable, and writes without it work.
        let r = s.post("/albums", &json!({"id": 8, "title": "X", "artist_id": 1}));
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(
            r.json(),
            json!({"id": 8, "title": "X", "artist_id": 1, "year": null})
        );
        let r = s.patch("/albums/1", &json!({"title": "T"}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["year"], 1981);
    }
}

#[test]
fn wrong_json_types_are_validation_problems() {
    each_backend(|s| {
        let v = s
            .post(
                "/albums",
                &json!({"id": 8, "title": 5, "artist_id": "one", "year": 1.5}),
            )
            .assert_error(400, "validation_failed");
        assert_eq!(problem_paths(&v), ["/artist_id", "/title", "/year"]);
        let v = s
            .post("/artists", &json!({"id": 6, "name": null}))
            .assert_error(400, "validation_failed");
        assert_eq!(problem_paths(&v), ["/name"]);
        let v = s
            .post("/artists", &json!({"id": "6", "name": ["x"]}))
            .assert_error(400, "validation_failed");
        assert_eq!(problem_paths(&v), ["/id", "/name"]);
        let v = s
            .patch(
                "/tracks/1",
                &json!({"milliseconds": "long", "unit_price": "cheap"}),
            )
            .assert_error(400, "validation_failed");
        assert_eq!(problem_paths(&v), ["/milliseconds", "/unit_price"]);
        // Not an object at all.
        s.post("/artists", &json!("hello"))
            .assert_error(400, "validation_failed");
        s.post("/artists", &json!([1, 2]))
            .assert_error(400, "validation_failed");
        s.patch("/artists/1", &json!([{"name": "x"}]))
            .assert_error(400, "validation_failed");
        assert_eq!(artist_ids(s), [1, 2, 3, 4, 5]);
        assert_eq!(s.get("/artists/1").json()["name"], "AC/DC");
    });
}

#[test]
fn missing_not_null_columns_are_named_by_path() {
    each_backend(|s| {
        let v = s
            .post("/albums", &json!({"id": 8}))
            .assert_error(400, "validation_failed");
        assert_eq!(problem_paths(&v), ["/artist_id", "/title"]);
        let v = s
            .post("/artists", &json!([{"name": "ok"}, {"id": 9}]))
            .assert_error(400, "validation_failed");
        assert_eq!(problem_paths(&v), ["/1/name"]);
        for (path, message) in problems(&v) {
            assert!(message.contains("name"), "{path}: {message}");
        }
    });
}

#[test]
fn all_problems_are_listed_at_once() {
    each_backend(|s| {
        let r = s.post(
            "/albums",
            &json!([
                {"id": 8, "title": "ok", "artist_id": "x"},
                {"id": 9, "title": "ok", "artist_id": 1},
                {"id": 10, "title": 5, "bogus": true},
            ]),
        );
        let v = r.assert_error(400, "validation_failed");
        assert_eq!(
            problem_paths(&v),
            ["/0/artist_id", "/2/artist_id", "/2/bogus", "/2/title"]
        );
        for (_, message) in problems(&v) {
            assert!(!message.is_empty());
        }
        assert_eq!(s.ids("/albums?select=id"), [1, 2, 3, 4, 5, 6, 7]);
        // A key with a `/` or `~` is escaped in the pointer.
        let v = s
            .post(
                "/artists",
                &json!({"id": 6, "name": "x", "a/b": 1, "c~d": 2}),
            )
            .assert_error(400, "validation_failed");
        assert_eq!(problem_paths(&v), ["/a~1b", "/c~0d"]);
    });
}

#[test]
fn malformed_json_names_line_and_column() {
    each_backend(|s| {
        let r = s
            .req("POST", "/artists")
            .header("content-type", "application/json")
            .raw(b"{\"id\": 6,")
            .send();
        let v = r.assert_error(400, "invalid_json");
        let m = v["message"].as_str().unwrap();
        assert!(m.contains("line 1") && m.contains("column"), "{m}");

        let r = s
            .req("POST", "/artists")
            .header("content-type", "application/json")
            .raw(b"{\n  \"id\": 6,\n  oops\n}")
            .send();
        let v = r.assert_error(400, "invalid_json");
        let m = v["message"].as_str().unwrap();
        assert!(m.contains("line 3") && m.contains("column 3"), "{m}");

        for body in [&b"}{ x = 2"[..], b"[1,", b"nul", b"{\"a\":1}}"] {
            s.req("POST", "/artists")
                .header("content-type", "application/json")
                .raw(body)
                .send()
                .assert_error(400, "invalid_json");
        }
        s.req("PATCH", "/albums?id=eq.1")
            .header("content-type", "application/json")
            .raw(b"}{")
            .send()
            .assert_error(400, "invalid_json");
        s.req("PUT", "/artists/1")
            .header("content-type", "application/json")
            .raw(b"{'id': 1}")
            .send()
            .assert_error(400, "invalid_json");
        assert_eq!(artist_ids(s), [1, 2, 3, 4, 5]);
    });
}

#[test]
fn empty_body_is_invalid_json() {
    each_backend(|s| {
        for body in [&b""[..], b"   \n"] {
            s.req("POST", "/artists")
                .header("content-type", "application/json")
                .raw(body)
                .send()
                .assert_error(400, "invalid_json");
            s.req("PATCH", "/artists?id=eq.1")
                .header("content-type", "application/json")
                .raw(body)
                .send()
                .assert_error(400, "invalid_json");
        }
    });
}

#[test]
fn non_json_content_type_is_415() {
    each_backend(|s| {
        let body = br#"{"id": 6, "name": "Deep Purple"}"#;
        for ct in [
            "text/plain",
            "application/xml",
            "application/x-www-form-urlencoded",
            "text/csv",
        ] {
            s.req("POST", "/artists")
                .header("content-type", ct)
                .raw(body)
                .send()
                .assert_error(415, "unsupported_media_type");
        }
        // No Content-Type at all.
        s.req("POST", "/artists")
            .raw(body)
            .send()
            .assert_error(415, "unsupported_media_type");
        s.req("PATCH", "/artists?id=eq.1")
            .header("content-type", "text/plain")
            .raw(br#"{"name": "x"}"#)
            .send()
            .assert_error(415, "unsupported_media_type");
        assert_eq!(artist_ids(s), [1, 2, 3, 4, 5]);
        // A charset parameter is fine.
        let r = s
            .req("POST", "/artists")
            .header("content-type", "application/json; charset=utf-8")
            .raw(body)
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
    });
}

#[test]
fn body_over_max_body_bytes_is_413() {
    for b in backends() {
        let toml = format!("[server]\nmax_body_bytes = 200\n{MUSIC_TOML}");
        let s = music_with(b, &toml);
        let big = json!({"id": 6, "name": "x".repeat(300)});
        s.post("/artists", &big)
            .assert_error(413, "payload_too_large");
        s.patch("/artists/1", &json!({"name": "y".repeat(300)}))
            .assert_error(413, "payload_too_large");
        assert_eq!(artist_ids(&s), [1, 2, 3, 4, 5]);
        // Under the limit: fine.
        let r = s.post("/artists", &json!({"id": 6, "name": "small"}));
        assert_eq!(r.status, 201, "{}", r.text);
    }
}

#[test]
fn json_column_keeps_any_json_value() {
    // SPEC §3: JSON columns hold any JSON value, "stored and returned as JSON".
    for b in backends() {
        let s = types_server(b);
        for (id, doc) in [
            (12, json!("just a string")),
            (13, json!(42)),
            (14, json!([])),
            (15, json!(1.5)),
            (16, json!(true)),
            (17, json!({"n": 9_223_372_036_854_775_807_i64})),
        ] {
            let r = s.post("/things", &json!({"id": id, "doc": doc}));
            assert_eq!(r.status, 201, "{}", r.text);
            assert_eq!(r.json()["doc"], doc, "POST answer for {doc}");
            assert_eq!(
                s.get(&format!("/things/{id}")).json()["doc"],
                doc,
                "GET of {doc}"
            );
        }
    }
}

#[test]
fn type_mapping_on_write() {
    for b in backends() {
        let s = types_server(b);
        let body = json!({
            "id": 10, "big": 9_223_372_036_854_775_807_i64, "price": 12.34, "amount": 0.99,
            "ratio": 2.5, "flag": false, "born": "2020-01-31", "seen": "2020-01-31T10:20:30",
            "alarm": "08:15:00", "uid": "123e4567-e89b-12d3-a456-426614174999",
            "doc": {"x": [1, "two", null], "y": {"z": true}}, "pic": "aGk=", "code": "hello"
        });
        let r = s.post("/things", &body);
        assert_eq!(r.status, 201, "{}", r.text);
        for r in [&r, &s.get("/things/10")] {
            for part in [
                "\"big\":9223372036854775807",
                "\"price\":12.34",
                "\"amount\":0.99",
                "\"ratio\":2.5",
                "\"flag\":false",
                "\"born\":\"2020-01-31\"",
                "\"seen\":\"2020-01-31T10:20:30\"",
                "\"alarm\":\"08:15:00\"",
                "\"uid\":\"123e4567-e89b-12d3-a456-426614174999\"",
                "\"pic\":\"aGk=\"",
                "\"code\":\"hello\"",
            ] {
                assert!(r.text.contains(part), "{part} not in {}", r.text);
            }
            assert_eq!(
                r.json()["doc"],
                json!({"x": [1, "two", null], "y": {"z": true}})
            );
        }
        // A timestamp sent with a space comes back in ISO-8601 form; NUMERIC(4,2) has 2 digits.
        let r = s.post(
            "/things",
            &json!({"id": 11, "seen": "2021-06-07 08:09:10", "price": 1.1, "flag": true}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        assert!(
            r.text.contains("\"seen\":\"2021-06-07T08:09:10\""),
            "{}",
            r.text
        );
        assert!(r.text.contains("\"price\":1.10"), "{}", r.text);
        assert!(r.text.contains("\"flag\":true"), "{}", r.text);
        let r = s.patch("/things/1", &json!({"price": 2.5, "big": -1}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.text.contains("\"price\":2.50"), "{}", r.text);
        assert!(r.text.contains("\"big\":-1"), "{}", r.text);

        // Values that do not fit: every one reported, nothing written.
        let v = s
            .post(
                "/things",
                &serde_json::from_str::<Value>(
                    r#"{"id": 20, "big": 9223372036854775808, "born": "2020-02-30",
                        "seen": "yesterday", "uid": "nope", "pic": "!!", "flag": 1,
                        "code": "toolong", "ratio": "fast"}"#,
                )
                .unwrap(),
            )
            .assert_error(400, "validation_failed");
        assert_eq!(
            problem_paths(&v),
            ["/big", "/born", "/code", "/flag", "/pic", "/ratio", "/seen", "/uid"]
        );
        assert_eq!(s.get("/things/20").status, 404);
    }
}

// ---------------------------------------------------------------------------------------------
// columns= and missing=default

#[test]
fn columns_parameter_restricts_keys() {
    each_backend(|s| {
        let r = s.post(
            "/albums?columns=id,title,artist_id",
            &json!({"id": 8, "title": "X", "artist_id": 1, "bogus": 1, "year": 1999}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(
            r.json(),
            json!({"id": 8, "title": "X", "artist_id": 1, "year": null})
        );

        s.post("/albums?columns=id,helicopter", &json!({"id": 9}))
            .assert_error(400, "unknown_column");

        // Quoted names, as PostgREST clients send them; a missing key becomes NULL.
        let r = s.post(
            &u("/albums?columns=\"id\",\"title\",\"artist_id\",\"year\""),
            &json!([{"id": 10, "title": "A", "artist_id": 1},
                    {"id": 11, "title": "B", "artist_id": 1, "year": 1999}]),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(s.get("/albums/10").json()["year"], Value::Null);
        assert_eq!(s.get("/albums/11").json()["year"], 1999);
    });
}

#[test]
fn missing_default_uses_column_defaults() {
    each_backend(|s| {
        let r = s
            .req("POST", "/tracks?columns=id,name,album_id,unit_price")
            .header("prefer", "missing=default, return=representation")
            .json(&json!([{"id": 9, "name": "T", "album_id": 1}]))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        assert!(r.text.contains("\"unit_price\":0.99"), "{}", r.text);
        assert_eq!(r.json().as_array().map(Vec::len), Some(1));
        assert_eq!(
            r.header("preference-applied"),
            Some("missing=default, return=representation")
        );

        let r = s
            .req("POST", "/tracks?columns=id,name,album_id,unit_price")
            .header("prefer", "return=representation")
            .json(&json!([{"id": 10, "name": "U", "album_id": 1}]))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json()[0]["unit_price"], Value::Null);
        assert_eq!(s.get("/tracks/10").json()["unit_price"], Value::Null);
        assert!(s.get("/tracks/9").text.contains("\"unit_price\":0.99"));
    });
}

// ---------------------------------------------------------------------------------------------
// Upsert

#[test]
fn upsert_merge_duplicates() {
    each_backend(|s| {
        let r = s
            .req("POST", "/artists")
            .header(
                "prefer",
                "resolution=merge-duplicates, return=representation",
            )
            .json(&json!([{"id": 1, "name": "AC-DC"}, {"id": 6, "name": "Deep Purple"}]))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(
            r.json(),
            json!([{"id": 1, "name": "AC-DC"}, {"id": 6, "name": "Deep Purple"}])
        );
        assert_eq!(
            r.header("preference-applied"),
            Some("resolution=merge-duplicates, return=representation")
        );
        assert_eq!(s.get("/artists/1").json()["name"], "AC-DC");
        assert_eq!(s.get("/artists/6").json()["name"], "Deep Purple");

        // Only updates: 200.
        let r = s
            .req("POST", "/artists")
            .header("prefer", "resolution=merge-duplicates")
            .json(&json!([{"id": 1, "name": "AC/DC"}]))
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(s.get("/artists/1").json()["name"], "AC/DC");
        assert_eq!(artist_ids(s), [1, 2, 3, 4, 5, 6]);

        // One object.
        let r = s
            .req("POST", "/artists")
            .header("prefer", "resolution=merge-duplicates")
            .json(&json!({"id": 2, "name": "Accept!"}))
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!({"id": 2, "name": "Accept!"}));
    });
}

#[test]
fn upsert_ignore_duplicates_and_on_conflict() {
    each_backend(|s| {
        let r = s
            .req("POST", "/artists")
            .header(
                "prefer",
                "resolution=ignore-duplicates, return=representation",
            )
            .json(&json!([{"id": 1, "name": "X"}, {"id": 6, "name": "Deep Purple"}]))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json(), json!([{"id": 6, "name": "Deep Purple"}]));
        assert_eq!(s.get("/artists/1").json()["name"], "AC/DC");

        let r = s
            .req("POST", "/artists?on_conflict=name")
            .header(
                "prefer",
                "resolution=ignore-duplicates, return=representation",
            )
            .json(&json!([{"id": 10, "name": "Accept"}, {"id": 11, "name": "Queen"}]))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json(), json!([{"id": 11, "name": "Queen"}]));
        assert_eq!(s.get("/artists/10").status, 404);
        assert_eq!(artist_ids(s), [1, 2, 3, 4, 5, 6, 11]);

        // on_conflict on a unique column with merge: the existing row (id 2) is updated.
        let r = s
            .req("POST", "/tracks?on_conflict=id")
            .header("prefer", "resolution=merge-duplicates, return=representation")
            .json(&json!([{"id": 2, "name": "Put The Finger On You", "album_id": 1, "genre": "Hard Rock"}]))
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(s.get("/tracks/2").json()["genre"], "Hard Rock");

        // Without a resolution, a duplicate is an error.
        s.post("/artists", &json!({"id": 12, "name": "Queen"}))
            .assert_error(409, "unique_violation");
    });
}

// ---------------------------------------------------------------------------------------------
// PATCH

#[test]
fn patch_item() {
    each_backend(|s| {
        let r = s.patch("/artists/1", &json!({"name": "AC-DC"}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!({"id": 1, "name": "AC-DC"}));
        assert_eq!(r.header("content-type"), Some(JSON_CT));
        let get = s.get("/artists/1");
        assert_eq!(get.json(), json!({"id": 1, "name": "AC-DC"}));
        assert_eq!(r.header("etag"), get.header("etag"));

        let r = s.patch("/playlist_items/1/3", &json!({"track_id": 8}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!({"playlist_id": 1, "track_id": 8}));
        assert_eq!(s.get("/playlist_items/1/3").status, 404);
        assert_eq!(s.get("/playlist_items/1/8").status, 200);

        s.patch("/artists/999", &json!({"name": "x"}))
            .assert_error(404, "not_found");
        s.patch("/artists/abc", &json!({"name": "x"}))
            .assert_error(400, "invalid_value");
        s.patch("/playlist_items/1", &json!({"track_id": 2}))
            .assert_error(404, "not_found");
    });
}

#[test]
fn patch_with_filters() {
    each_backend(|s| {
        let r = s.patch("/albums?id=eq.7", &json!({"year": 2001}));
        assert_eq!(r.status, 204, "{}", r.text);
        assert_eq!(r.text, "");
        let r = s.get("/albums?id=eq.7&select=year");
        assert_eq!(r.json(), json!([{"year": 2001}]));

        let r = s.patch("/albums?id=eq.999", &json!({"year": 2001}));
        assert_eq!(r.status, 204, "{}", r.text);
        let r = s
            .req("PATCH", "/albums?id=eq.999")
            .header("prefer", "return=representation")
            .json(&json!({"year": 2001}))
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!([]));

        let r = s
            .req("PATCH", "/albums?artist_id=eq.1&select=id,year")
            .header("prefer", "return=representation, count=exact")
            .json(&json!({"year": 1990}))
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.json(),
            json!([{"id": 1, "year": 1990}, {"id": 2, "year": 1990}])
        );
        assert_eq!(r.header("content-range"), Some("0-1/2"));
        assert_eq!(
            r.header("preference-applied"),
            Some("return=representation, count=exact")
        );

        // Logic trees count as filters.
        let r = s.patch("/albums?or=(id.eq.3,id.eq.4)", &json!({"year": 1970}));
        assert_eq!(r.status, 204, "{}", r.text);
        assert_eq!(s.ids("/albums?year=eq.1970&select=id"), [3, 4]);

        // An empty object changes nothing.
        let r = s.patch("/albums?id=eq.5", &json!({}));
        assert_eq!(r.status, 204, "{}", r.text);
        assert_eq!(s.get("/albums/5").json()["year"], 1994);

        // Filter errors are reported before anything changes.
        s.patch("/albums?id=eq.abc", &json!({"year": 1}))
            .assert_error(400, "invalid_value");
        s.patch("/albums?nope=eq.1", &json!({"year": 1}))
            .assert_error(400, "unknown_column");
        s.patch("/albums?id=1", &json!({"year": 1}))
            .assert_error(400, "bad_filter");
        assert_eq!(s.get("/albums/6").json()["year"], 2002);
    });
}

#[test]
fn unfiltered_writes_are_refused() {
    each_backend(|s| {
        let before = snapshot(s, "albums");
        s.patch("/albums", &json!({"year": 2000}))
            .assert_error(400, "unfiltered_write");
        // select/order/limit are not filters.
        s.patch("/albums?select=id&order=id&limit=1", &json!({"year": 2000}))
            .assert_error(400, "unfiltered_write");
        s.delete("/playlist_items")
            .assert_error(400, "unfiltered_write");
        s.delete("/playlist_items?order=track_id&limit=1")
            .assert_error(400, "unfiltered_write");
        assert_eq!(snapshot(s, "albums"), before);
        assert_eq!(s.get("/playlist_items").json().as_array().unwrap().len(), 5);
        // A logic tree is a filter.
        let r = s.delete("/playlist_items?or=(playlist_id.eq.2)");
        assert_eq!(r.status, 204, "{}", r.text);
        assert_eq!(s.get("/playlist_items").json().as_array().unwrap().len(), 3);
    });
}

#[test]
fn unfiltered_writes_allowed_by_config() {
    for b in backends() {
        let toml = r#"
[services.artists]
[services.albums]
allow_unfiltered_writes = true
[services.tracks]
[services.playlists]
[services.playlist_items]
table = "playlist_tracks"
allow_unfiltered_writes = true
"#;
        let s = music_with(b, toml);
        let r = s.patch("/albums", &json!({"year": 2000}));
        assert_eq!(r.status, 204, "{}", r.text);
        let r = s.get("/albums?select=year");
        assert_eq!(r.json().as_array().unwrap().len(), 7);
        assert!(
            r.json()
                .as_array()
                .unwrap()
                .iter()
                .all(|v| v["year"] == 2000),
            "{}",
            r.text
        );
        let r = s.delete("/playlist_items");
        assert_eq!(r.status, 204, "{}", r.text);
        assert_eq!(s.get("/playlist_items").json(), json!([]));
        // Other services keep the guard.
        s.patch("/artists", &json!({"name": "x"}))
            .assert_error(400, "unfiltered_write");
    }
}

#[test]
fn max_affected_is_enforced() {
    each_backend(|s| {
        let before = snapshot(s, "albums");
        let r = s
            .req("PATCH", "/albums?artist_id=eq.1")
            .header("prefer", "max-affected=1")
            .json(&json!({"year": 1}))
            .send();
        r.assert_error(400, "max_affected_exceeded");
        assert_eq!(snapshot(s, "albums"), before);

        let r = s
            .req("DELETE", "/playlist_items?playlist_id=eq.2")
            .header("prefer", "max-affected=1")
            .send();
        r.assert_error(400, "max_affected_exceeded");
        assert_eq!(s.get("/playlist_items").json().as_array().unwrap().len(), 5);

        let r = s
            .req("PATCH", "/albums?artist_id=eq.1")
            .header("prefer", "max-affected=2")
            .json(&json!({"year": 1}))
            .send();
        assert_eq!(r.status, 204, "{}", r.text);
        assert_eq!(s.ids("/albums?year=eq.1&select=id"), [1, 2]);
    });
}

// ---------------------------------------------------------------------------------------------
// PUT

#[test]
fn put_item_inserts_then_replaces() {
    each_backend(|s| {
        let r = s.put("/artists/10", &json!({"id": 10, "name": "Queen"}));
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json(), json!({"id": 10, "name": "Queen"}));
        assert_eq!(r.header("location"), Some("/artists/10"));
        assert_eq!(
            s.get("/artists/10").json(),
            json!({"id": 10, "name": "Queen"})
        );

        // The key may come from the URL only.
        let r = s.put("/artists/1", &json!({"name": "AC-DC"}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!({"id": 1, "name": "AC-DC"}));
        assert_eq!(r.header("etag"), s.get("/artists/1").header("etag"));

        // Omitted nullable columns become NULL.
        let r = s.put("/albums/1", &json!({"title": "T", "artist_id": 1}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.json(),
            json!({"id": 1, "title": "T", "artist_id": 1, "year": null})
        );

        // Omitted columns with a default get the default.
        let r = s.put("/tracks/6", &json!({"name": "W", "album_id": 5}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.text.contains("\"unit_price\":0.99"), "{}", r.text);
        assert_eq!(r.json()["milliseconds"], Value::Null);
        assert_eq!(r.json()["genre"], Value::Null);
        assert!(s.get("/tracks/6").text.contains("\"unit_price\":0.99"));

        // Composite key from the URL.
        let r = s.put("/playlist_items/3/8", &json!({}));
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json(), json!({"playlist_id": 3, "track_id": 8}));
        let r = s.put(
            "/playlist_items/3/8",
            &json!({"playlist_id": 3, "track_id": 8}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    });
}

#[test]
fn put_needs_required_columns_and_a_matching_key() {
    each_backend(|s| {
        let v = s
            .put("/albums/1", &json!({"year": 1999}))
            .assert_error(400, "validation_failed");
        assert_eq!(problem_paths(&v), ["/artist_id", "/title"]);

        s.put("/artists/1", &json!({"id": 2, "name": "X"}))
            .assert_error(400, "key_mismatch");
        s.put(
            "/playlist_items/1/3",
            &json!({"playlist_id": 1, "track_id": 4}),
        )
        .assert_error(400, "key_mismatch");
        s.put("/artists/abc", &json!({"name": "X"}))
            .assert_error(400, "invalid_value");
        s.put("/playlist_items/1", &json!({}))
            .assert_error(404, "not_found");
        assert_eq!(s.get("/artists/1").json()["name"], "AC/DC");
        assert_eq!(s.get("/artists/2").json()["name"], "Accept");
        assert_eq!(s.get("/albums/1").json()["year"], 1981);
    });
}

#[test]
fn put_collection_form() {
    each_backend(|s| {
        let r = s
            .req("PUT", "/artists?id=eq.10")
            .header("prefer", "return=representation")
            .json(&json!({"id": 10, "name": "Queen"}))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json(), json!([{"id": 10, "name": "Queen"}]));

        let r = s
            .req("PUT", "/artists?id=eq.1")
            .header("prefer", "return=representation")
            .json(&json!({"id": 1, "name": "AC-DC"}))
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!([{"id": 1, "name": "AC-DC"}]));

        let r = s
            .req("PUT", "/artists?id=eq.1")
            .json(&json!({"id": 1, "name": "AC/DC"}))
            .send();
        assert_eq!(r.status, 204, "{}", r.text);
        assert_eq!(r.text, "");
        assert_eq!(s.get("/artists/1").json()["name"], "AC/DC");

        s.req("PUT", "/artists?id=eq.1")
            .json(&json!({"id": 2, "name": "X"}))
            .send()
            .assert_error(400, "key_mismatch");
        // Not exactly the primary key with eq.
        for url in [
            "/artists?name=eq.Queen",
            "/artists?id=gt.1",
            "/artists?id=eq.1&name=eq.AC/DC",
            "/playlist_items?playlist_id=eq.3",
        ] {
            let r = s
                .req("PUT", url)
                .json(&json!({"id": 1, "name": "X"}))
                .send();
            let v = r.assert_error(400, "bad_filter");
            assert!(
                v["message"].as_str().unwrap_or("").starts_with(
                    "Filters must include all and only primary key columns with 'eq' operators"
                ),
                "{url}: {v}"
            );
            assert_eq!(r.header("allow"), None, "{url}");
        }
        let r = s
            .req("PUT", "/artists?id=eq.1&limit=1")
            .json(&json!({"id": 1, "name": "X"}))
            .send();
        assert_error_shape(&r, 400);
        assert_eq!(s.get("/artists/1").json()["name"], "AC/DC");

        let r = s
            .req("PUT", "/playlist_items?playlist_id=eq.3&track_id=eq.8")
            .json(&json!({"playlist_id": 3, "track_id": 8}))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(s.get("/playlist_items/3/8").status, 200);
    });
}

// ---------------------------------------------------------------------------------------------
// DELETE

#[test]
fn delete_item() {
    each_backend(|s| {
        let r = s.delete("/artists/5");
        assert_eq!(r.status, 204, "{}", r.text);
        assert_eq!(r.text, "");
        s.get("/artists/5").assert_error(404, "not_found");
        s.delete("/artists/5").assert_error(404, "not_found");
        let r = s.delete("/playlist_items/1/3");
        assert_eq!(r.status, 204, "{}", r.text);
        assert_eq!(s.get("/playlist_items/1/3").status, 404);
        s.delete("/tracks/abc").assert_error(400, "invalid_value");
        s.delete("/playlist_items/1").assert_error(404, "not_found");
        assert_eq!(artist_ids(s), [1, 2, 3, 4]);
    });
}

#[test]
fn delete_with_filters() {
    each_backend(|s| {
        let r = s.delete("/tracks?id=eq.8");
        assert_eq!(r.status, 204, "{}", r.text);
        assert_eq!(r.text, "");
        assert_eq!(r.header("content-range"), Some("*/*"));

        let r = s
            .req("DELETE", "/tracks?id=eq.6&select=id,name")
            .header("prefer", "return=representation, count=exact")
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!([{"id": 6, "name": "Walk On Water"}]));
        assert_eq!(r.header("content-range"), Some("*/1"));

        let r = s
            .req("DELETE", "/tracks?id=eq.999")
            .header("prefer", "return=representation")
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!([]));

        let r = s.delete("/playlist_items?playlist_id=eq.1&track_id=in.(1,3)");
        assert_eq!(r.status, 204, "{}", r.text);
        let left = s.get("/playlist_items").json();
        assert_eq!(
            left,
            json!([{"playlist_id": 1, "track_id": 7}, {"playlist_id": 2, "track_id": 4},
                   {"playlist_id": 2, "track_id": 5}])
        );
        assert_eq!(s.ids("/tracks?select=id"), [1, 2, 3, 4, 5, 7]);
    });
}

// ---------------------------------------------------------------------------------------------
// Prefer: tx, Preference-Applied

#[test]
fn tx_rollback_is_a_dry_run() {
    each_backend(|s| {
        let r = s
            .req("POST", "/artists")
            .header("prefer", "tx=rollback")
            .json(&json!({"id": 6, "name": "Deep Purple"}))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json(), json!({"id": 6, "name": "Deep Purple"}));
        assert!(r
            .header("preference-applied")
            .unwrap_or("")
            .contains("tx=rollback"));
        assert_eq!(s.get("/artists/6").status, 404);

        let r = s
            .req("PATCH", "/albums?id=eq.1")
            .header("prefer", "tx=rollback, return=representation")
            .json(&json!({"year": 1}))
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()[0]["year"], 1);
        assert_eq!(s.get("/albums/1").json()["year"], 1981);

        let r = s
            .req("DELETE", "/artists/5")
            .header("prefer", "tx=rollback")
            .send();
        assert_eq!(r.status, 204, "{}", r.text);
        assert_eq!(s.get("/artists/5").status, 200);

        let r = s
            .req("PUT", "/artists/10")
            .header("prefer", "tx=rollback")
            .json(&json!({"name": "Queen"}))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(s.get("/artists/10").status, 404);
        assert_eq!(artist_ids(s), [1, 2, 3, 4, 5]);
    });
}

#[test]
fn preference_applied_echoes_honoured_preferences() {
    each_backend(|s| {
        let r = s
            .req("POST", "/albums")
            .header("prefer", "return=representation, count=exact")
            .json(
                &json!([{"id": 8, "title": "Powerage", "artist_id": 1, "year": 1978},
                          {"id": 9, "title": "Let There Be Rock", "artist_id": 1, "year": 1977}]),
            )
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json().as_array().map(Vec::len), Some(2));
        assert_eq!(r.header("content-range"), Some("*/2"));
        assert_eq!(
            r.header("preference-applied"),
            Some("return=representation, count=exact")
        );

        // Preferences in separate headers, unknown ones ignored.
        let r = s
            .req("POST", "/artists")
            .header("prefer", "return=minimal")
            .header("prefer", "foo=bar")
            .json(&json!({"id": 6, "name": "Deep Purple"}))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.text, "");
        assert_eq!(r.header("preference-applied"), Some("return=minimal"));

        // ... unless handling=strict.
        let r = s
            .req("POST", "/artists")
            .header("prefer", "handling=strict, foo=bar")
            .json(&json!({"id": 7, "name": "Kiss"}))
            .send();
        let v = assert_error_shape(&r, 400);
        assert!(v.to_string().contains("foo=bar"), "{v}");
        assert_eq!(s.get("/artists/7").status, 404);
        let r = s
            .req("GET", "/artists?id=eq.1")
            .header("prefer", "handling=lenient, foo")
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
    });
}

// ---------------------------------------------------------------------------------------------
// Constraint errors

#[test]
fn unique_violation_is_409_naming_the_constraint() {
    each_backend(|s| {
        let v = s
            .post("/artists", &json!({"id": 1, "name": "Other"}))
            .assert_error(409, "unique_violation");
        let all = v.to_string();
        assert!(all.contains("artists_pkey"), "{v}");
        assert!(all.contains("23505"), "{v}");

        let v = s
            .post("/artists", &json!({"id": 7, "name": "AC/DC"}))
            .assert_error(409, "unique_violation");
        let all = v.to_string();
        assert!(all.contains("artists_name_key"), "{v}");
        assert!(all.contains("name"), "{v}");
        assert!(all.contains("23505"), "{v}");

        s.patch("/artists/2", &json!({"name": "AC/DC"}))
            .assert_error(409, "unique_violation");
        s.put("/artists/2", &json!({"name": "AC/DC"}))
            .assert_error(409, "unique_violation");
        s.post("/playlist_items", &json!({"playlist_id": 1, "track_id": 1}))
            .assert_error(409, "unique_violation");
        assert_eq!(s.get("/artists/2").json()["name"], "Accept");
        assert_eq!(artist_ids(s), [1, 2, 3, 4, 5]);
    });
}

/// A constraint on a hidden column: the database's error names the column (and its
/// constraint names it too), the answer names neither, on every backend.
#[test]
fn constraint_errors_never_name_a_hidden_column() {
    let sql = "CREATE TABLE vault (id INTEGER PRIMARY KEY, name VARCHAR(40), \
               secret VARCHAR(40) NOT NULL);\n\
               CREATE TABLE tokens (id INTEGER PRIMARY KEY, name VARCHAR(40), \
               secret VARCHAR(40) DEFAULT 'same', CONSTRAINT tokens_secret_key UNIQUE (secret));\n";
    let toml =
        "[services.vault]\nhidden = [\"secret\"]\n[services.tokens]\nhidden = [\"secret\"]\n";
    for b in backends() {
        let s = TestServer::start(b, sql, toml);
        // NOT NULL on the hidden column: the body cannot set it, the database refuses.
        let v = s
            .post("/vault", &json!({"id": 1, "name": "a"}))
            .assert_error(400, "not_null_violation");
        assert_eq!(
            v["message"],
            "a column of \"vault\" violates a not-null constraint",
            "{}: {v}",
            b.name()
        );
        assert!(!v.to_string().contains("secret"), "{}: {v}", b.name());
        assert!(v.to_string().contains("23502"), "{}: {v}", b.name());
        // UNIQUE on the hidden column: the second row gets the same default.
        let r = s.post("/tokens", &json!({"id": 1, "name": "a"}));
        assert_eq!(r.status, 201, "{}: {}", b.name(), r.text);
        let v = s
            .post("/tokens", &json!({"id": 2, "name": "b"}))
            .assert_error(409, "unique_violation");
        assert!(!v.to_string().contains("secret"), "{}: {v}", b.name());
        assert!(v.to_string().contains("23505"), "{}: {v}", b.name());
        assert_eq!(s.get("/tokens?select=id").json(), json!([{"id": 1}]));
        // A unique violation on a visible key still names it.
        let v = s
            .post("/tokens", &json!({"id": 1, "name": "c"}))
            .assert_error(409, "unique_violation");
        assert_eq!(
            v["message"],
            "duplicate key value violates unique constraint \"tokens_pkey\"",
            "{}: {v}",
            b.name()
        );
        assert!(
            v.to_string().contains("Key (id) already exists."),
            "{}: {v}",
            b.name()
        );
    }
}

#[test]
fn foreign_key_violation_is_409() {
    each_backend(|s| {
        let v = s
            .post("/albums", &json!({"id": 8, "title": "X", "artist_id": 999}))
            .assert_error(409, "foreign_key_violation");
        assert!(v.to_string().contains("23503"), "{v}");
        // Still referenced.
        let v = s
            .delete("/artists/1")
            .assert_error(409, "foreign_key_violation");
        assert!(v.to_string().contains("23503"), "{v}");
        s.delete("/artists?id=eq.1")
            .assert_error(409, "foreign_key_violation");
        s.patch("/albums/1", &json!({"artist_id": 999}))
            .assert_error(409, "foreign_key_violation");
        assert_eq!(s.get("/albums/8").status, 404);
        assert_eq!(s.get("/artists/1").status, 200);
        assert_eq!(s.get("/albums/1").json()["artist_id"], 1);
    });
}

#[test]
fn not_null_violation_from_the_database_is_400() {
    for b in backends() {
        // `title` is read-only here, so the body check lets a row without it through and
        // the database's NOT NULL constraint is what refuses it.
        let toml = r#"
[services.artists]
[services.albums]
read_only = ["title"]
[services.tracks]
[services.playlists]
[services.playlist_items]
table = "playlist_tracks"
"#;
        let s = music_with(b, toml);
        let v = s
            .post("/albums", &json!({"id": 8, "artist_id": 1}))
            .assert_error(400, "not_null_violation");
        let all = v.to_string();
        assert!(all.contains("title"), "{v}");
        assert!(all.contains("23502"), "{v}");
        assert_eq!(s.get("/albums/8").status, 404);
    }
}

#[test]
fn check_violation_is_400() {
    for b in backends() {
        let s = music_and_constraints(b);
        let r = s.post("/ratings", &json!({"id": 3, "track_id": 1, "stars": 4}));
        assert_eq!(r.status, 201, "{}", r.text);
        let v = s
            .post("/ratings", &json!({"id": 4, "track_id": 1, "stars": 9}))
            .assert_error(400, "check_violation");
        let all = v.to_string();
        assert!(all.contains("stars_range"), "{v}");
        assert!(all.contains("23514"), "{v}");
        s.patch("/ratings/1", &json!({"stars": 0}))
            .assert_error(400, "check_violation");
        s.patch("/ratings?track_id=eq.1", &json!({"stars": 6}))
            .assert_error(400, "check_violation");
        assert_eq!(s.get("/ratings/1").json()["stars"], 5);
        assert_eq!(s.get("/ratings/4").status, 404);
        // Other constraints of the same table.
        s.post("/ratings", &json!({"id": 5, "track_id": 999, "stars": 3}))
            .assert_error(409, "foreign_key_violation");
    }
}

// ---------------------------------------------------------------------------------------------
// Concurrency control (SPEC §4.4)

#[test]
fn if_match_guards_item_writes() {
    each_backend(|s| {
        let tag1 = s
            .get("/artists/1")
            .header("etag")
            .expect("etag")
            .to_string();
        let r = s
            .req("PATCH", "/artists/1")
            .header("if-match", &tag1)
            .json(&json!({"name": "AC-DC"}))
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!({"id": 1, "name": "AC-DC"}));
        let tag2 = r.header("etag").expect("etag after PATCH").to_string();
        assert_ne!(tag1, tag2);
        assert_eq!(s.get("/artists/1").header("etag"), Some(tag2.as_str()));

        // A stale tag: 412 and nothing changes.
        for r in [
            s.req("PATCH", "/artists/1")
                .header("if-match", &tag1)
                .json(&json!({"name": "Lost update"}))
                .send(),
            s.req("PUT", "/artists/1")
                .header("if-match", &tag1)
                .json(&json!({"name": "Lost update"}))
                .send(),
            s.req("DELETE", "/artists/1")
                .header("if-match", &tag1)
                .send(),
        ] {
            r.assert_error(412, "precondition_failed");
        }
        assert_eq!(
            s.get("/artists/1").json(),
            json!({"id": 1, "name": "AC-DC"})
        );

        // The current tag works for PUT and DELETE too.
        let r = s
            .req("PUT", "/artists/1")
            .header("if-match", &tag2)
            .json(&json!({"name": "AC/DC"}))
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        let tag5 = s.get("/artists/5").header("etag").unwrap().to_string();
        s.req("DELETE", "/artists/5")
            .header("if-match", &tag1)
            .send()
            .assert_error(412, "precondition_failed");
        assert_eq!(s.get("/artists/5").status, 200);
        let r = s
            .req("DELETE", "/artists/5")
            .header("if-match", &tag5)
            .send();
        assert_eq!(r.status, 204, "{}", r.text);
        assert_eq!(s.get("/artists/5").status, 404);

        // `*` matches any existing row.
        let r = s
            .req("PATCH", "/artists/2")
            .header("if-match", "*")
            .json(&json!({"name": "Accept!"}))
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
    });
}

#[test]
fn singular_accept_on_a_multi_row_post_is_406_and_rolled_back() {
    each_backend(|s| {
        let v = s
            .req("POST", "/artists")
            .header("accept", OBJECT)
            .json(&json!([{"id": 6, "name": "A"}, {"id": 7, "name": "B"}]))
            .send()
            .assert_error(406, "not_acceptable");
        assert_eq!(v["details"], "The result contains 2 rows");
        assert_eq!(artist_ids(s), [1, 2, 3, 4, 5]);

        // Exactly one row: an object.
        let r = s
            .req("POST", "/artists")
            .header("accept", OBJECT)
            .json(&json!([{"id": 6, "name": "A"}]))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json(), json!({"id": 6, "name": "A"}));
    });
}

#[test]
fn singular_accept_on_a_multi_row_patch_is_406_and_rolled_back() {
    // SPEC §4.2: "a write asked for that way is rolled back" (reference §11.7 case 54),
    // whether or not the rows were asked for with return=representation.
    each_backend(|s| {
        let before = snapshot(s, "albums");
        let v = s
            .req("PATCH", "/albums?artist_id=eq.1")
            .header("accept", OBJECT)
            .json(&json!({"year": 1}))
            .send()
            .assert_error(406, "not_acceptable");
        assert_eq!(v["details"], "The result contains 2 rows");
        assert_eq!(snapshot(s, "albums"), before);

        let v = s
            .req("PATCH", "/albums?artist_id=eq.1")
            .header("accept", OBJECT)
            .header("prefer", "return=representation")
            .json(&json!({"year": 1}))
            .send()
            .assert_error(406, "not_acceptable");
        assert_eq!(v["details"], "The result contains 2 rows");
        assert_eq!(snapshot(s, "albums"), before);

        s.req("PATCH", "/albums?artist_id=eq.1")
            .header("accept", OBJECT)
            .header("prefer", "return=minimal")
            .json(&json!({"year": 1}))
            .send()
            .assert_error(406, "not_acceptable");
        assert_eq!(snapshot(s, "albums"), before);
    });
}

#[test]
fn singular_accept_on_a_multi_row_delete_is_406_and_rolled_back() {
    each_backend(|s| {
        let v = s
            .req("DELETE", "/playlist_items?playlist_id=eq.2")
            .header("accept", OBJECT)
            .send()
            .assert_error(406, "not_acceptable");
        assert_eq!(v["details"], "The result contains 2 rows");
        assert_eq!(s.get("/playlist_items").json().as_array().unwrap().len(), 5);

        let v = s
            .req("DELETE", "/tracks?id=lt.0")
            .header("accept", OBJECT)
            .send()
            .assert_error(406, "not_acceptable");
        assert_eq!(v["details"], "The result contains 0 rows");
    });
}

// ---------------------------------------------------------------------------------------------
// Bulk

#[test]
fn bulk_post_of_5000_rows() {
    each_backend(|s| {
        let rows: Vec<Value> = (1000..6000)
            .map(|i| json!({"id": i, "name": format!("Artist {i}")}))
            .collect();
        let r = s.post("/artists", &Value::Array(rows));
        assert_eq!(r.status, 201, "{}", &r.text[..r.text.len().min(500)]);
        let body = r.json();
        let back = body.as_array().expect("array");
        assert_eq!(back.len(), 5000);
        assert_eq!(back[0], json!({"id": 1000, "name": "Artist 1000"}));
        assert_eq!(back[4999], json!({"id": 5999, "name": "Artist 5999"}));
        let r = s
            .req("GET", "/artists?select=id&limit=1")
            .header("prefer", "count=exact")
            .send();
        assert_eq!(r.header("content-range"), Some("0-0/5005"));
        let r = s.get("/artists/5999");
        assert_eq!(r.json(), json!({"id": 5999, "name": "Artist 5999"}));
    });
}

/// Bodies of 64 KiB or more are parsed off the runtime, a few at a time: many at once all
/// land, none lost or failed while waiting their turn.
#[test]
fn concurrent_large_bulk_posts_all_land() {
    each_backend(|s| {
        let codes: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..6)
                .map(|t| {
                    scope.spawn(move || {
                        let rows: Vec<Value> = (0..3000)
                            .map(|i| {
                                let id = 10_000 + t * 3000 + i;
                                json!({"id": id, "name": format!("Artist number {id}")})
                            })
                            .collect();
                        let body = Value::Array(rows);
                        assert!(body.to_string().len() > 64 * 1024);
                        s.req("POST", "/artists")
                            .header("prefer", "return=minimal")
                            .json(&body)
                            .send()
                            .status
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        assert_eq!(codes, [201; 6], "{}", s.backend.name());
        let r = s
            .req("GET", "/artists?select=id&limit=1")
            .header("prefer", "count=exact")
            .send();
        assert_eq!(r.header("content-range"), Some("0-0/18005"));
        assert_eq!(
            s.get("/artists/27999").json(),
            json!({"id": 27999, "name": "Artist number 27999"})
        );
    });
}

#[test]
fn bulk_post_beyond_one_statements_parameters_is_one_transaction() {
    for b in backends() {
        let toml = format!("[server]\nmax_body_bytes = 16_000_000\n{MUSIC_TOML}");
        let s = music_with(b, &toml);
        let row = |i: i64| {
            json!({"id": i, "name": format!("Track {i}"), "album_id": 1 + i % 7,
                   "milliseconds": i, "unit_price": 0.99, "genre": "Rock"})
        };
        // 20 000 rows x 6 columns = 120 000 parameters: several statements.
        let rows: Vec<Value> = (100..20_100).map(row).collect();
        let r = s
            .req("POST", "/tracks")
            .header("prefer", "return=minimal")
            .json(&Value::Array(rows))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        let r = s
            .req("GET", "/tracks?select=id&limit=1")
            .header("prefer", "count=exact")
            .send();
        assert_eq!(r.header("content-range"), Some("0-0/20008"));

        // A duplicate at the very end rolls back every chunk before it.
        let mut rows: Vec<Value> = (30_000..50_000).map(row).collect();
        rows.push(row(30_000));
        let r = s
            .req("POST", "/tracks")
            .header("prefer", "return=minimal")
            .json(&Value::Array(rows))
            .send();
        r.assert_error(409, "unique_violation");
        let r = s
            .req("GET", "/tracks?select=id&limit=1")
            .header("prefer", "count=exact")
            .send();
        assert_eq!(r.header("content-range"), Some("0-0/20008"));
        assert_eq!(s.get("/tracks/30000").status, 404);
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile input (SPEC §5): always a 4xx, never a 500 or a hang

#[test]
fn sql_metacharacters_in_values_are_just_data() {
    each_backend(|s| {
        for url in [
            "/artists?name=eq.'; DROP TABLE artists; --",
            "/artists?name=eq.\" OR 1=1 --",
            "/artists?name=like.*' OR '1'='1",
            // A pattern with a literal prefix is written into SQLite's SQL as a literal.
            "/artists?name=like.' OR '1'='1*",
            "/artists?name=like.x'); DELETE FROM artists; --*",
            "/artists?name=in.(\"a'); DELETE FROM artists; --\",x)",
            "/artists?or=(name.eq.x' OR 'a'='a,id.eq.0)",
            "/artists?name=match.'.*",
        ] {
            let r = s.get(&u(url));
            assert_eq!(r.status, 200, "{url}: {}", r.text);
            assert_eq!(r.json(), json!([]), "{url}");
        }
        let evil = "Robert'); DROP TABLE artists;-- \"\\ %_*";
        let r = s.post("/artists", &json!({"id": 6, "name": evil}));
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(s.get("/artists/6").json()["name"], evil);
        assert_eq!(get_ids(s, "/artists?name=like.*DROP TABLE*&select=id"), [6]);
        assert_eq!(
            get_ids(s, "/artists?name=like.Robert'); DROP*&select=id"),
            [6]
        );
        assert_eq!(
            get_ids(s, "/artists?name=like.Robert'');*&select=id"),
            Vec::<i64>::new()
        );
        let r = s.patch(
            &u("/artists?name=eq.Robert'); DROP TABLE artists;-- \"\\ %25_*"),
            &json!({"name": "Bobby"}),
        );
        assert_eq!(r.status, 204, "{}", r.text);
        assert_eq!(s.get("/artists/6").json()["name"], "Bobby");
        assert_eq!(artist_ids(s), [1, 2, 3, 4, 5, 6]);
    });
}

#[test]
fn sql_metacharacters_in_names_are_400() {
    each_backend(|s| {
        for url in [
            "/artists?\"x;drop\"=eq.1",
            "/artists?x;drop=eq.1",
            "/artists?id;drop table artists=eq.1",
            "/artists?select=\"x;drop\"",
            "/artists?select=id,name;drop",
            "/artists?select=id\"--",
            "/artists?order=\"id;drop\"",
            "/artists?order=id;drop",
            "/artists?or=(\"x;drop\".eq.1)",
            "/artists?id)=eq.1",
        ] {
            let r = s.get(&u(url));
            assert_eq!(r.status, 400, "{url}: {}", r.text);
            assert_client_error(&r);
        }
        s.get(&u("/artists?\"x;drop\"=eq.1"))
            .assert_error(400, "unknown_column");
        let r = s.post(
            "/artists",
            &json!({"id": 6, "name": "x", "name\"; DROP TABLE artists; --": 1}),
        );
        r.assert_error(400, "validation_failed");
        let r = s.post(
            &u("/artists?columns=id,\"name);drop\""),
            &json!({"id": 6, "name": "x"}),
        );
        assert_eq!(r.status, 400, "{}", r.text);
        assert_client_error(&r);
        let r = s
            .req("POST", &u("/artists?on_conflict=id;drop"))
            .header("prefer", "resolution=merge-duplicates")
            .json(&json!({"id": 6, "name": "x"}))
            .send();
        assert_eq!(r.status, 400, "{}", r.text);
        assert_client_error(&r);
        assert_eq!(artist_ids(s), [1, 2, 3, 4, 5]);
    });
}

#[test]
fn deeply_nested_logic_trees_are_400() {
    each_backend(|s| {
        let depth = 200;
        let tree = format!(
            "{}id.eq.1{}",
            "or(".repeat(depth - 1),
            ")".repeat(depth - 1)
        );
        let r = s.get(&format!("/artists?or=({tree})"));
        r.assert_error(400, "bad_filter");
        let tree = format!("{}id.eq.1{}", "not.and(".repeat(depth), ")".repeat(depth));
        let r = s.get(&format!("/artists?and=({tree})"));
        r.assert_error(400, "bad_filter");
        // Unbalanced.
        let r = s.get(&format!("/artists?or=({}", "or(".repeat(5000)));
        r.assert_error(400, "bad_filter");
        let r = s.delete(&format!("/artists?or=({tree})"));
        assert_eq!(r.status, 400, "{}", r.text);
        // Deep select nesting.
        let r = s.get(&format!(
            "/artists?select={}id{}",
            "a(".repeat(depth),
            ")".repeat(depth)
        ));
        assert_eq!(r.status, 400, "{}", r.text);
        assert_client_error(&r);
        // A reasonable depth still works.
        let tree = format!("{}id.eq.1{}", "or(".repeat(5), ")".repeat(5));
        assert_eq!(get_ids(s, &format!("/artists?or=({tree})&select=id")), [1]);
        assert_eq!(artist_ids(s), [1, 2, 3, 4, 5]);
    });
}

#[test]
fn deeply_nested_json_body_is_400() {
    each_backend(|s| {
        let depth = 100_000;
        let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let r = s
            .req("POST", "/artists")
            .header("content-type", "application/json")
            .raw(body.as_bytes())
            .send();
        assert_eq!(r.status, 400, "{}", &r.text[..r.text.len().min(300)]);
        assert_client_error(&r);
        let body = format!(
            "{{\"id\":6,\"name\":{}1{}}}",
            "{\"a\":".repeat(depth),
            "}".repeat(depth)
        );
        let r = s
            .req("POST", "/artists")
            .header("content-type", "application/json")
            .raw(body.as_bytes())
            .send();
        assert_eq!(r.status, 400, "{}", &r.text[..r.text.len().min(300)]);
        assert_client_error(&r);
        assert_eq!(artist_ids(s), [1, 2, 3, 4, 5]);
    });
}

/// Send a raw HTTP/1.1 request (for what an HTTP client library refuses to build) and
/// return the status and the body.
fn raw_http(s: &TestServer, request_target: &str) -> (u16, String) {
    let addr = s.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let req = format!("GET {request_target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).expect("write");
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn a_100_kb_query_string_is_4xx() {
    each_backend(|s| {
        let value = "A".repeat(100 * 1024);
        let (status, body) = raw_http(s, &format!("/artists?name=eq.{value}"));
        assert!((400..500).contains(&status), "{status}: {body}");
        let many = "id=gt.0&".repeat(100 * 1024 / 8);
        let (status, body) = raw_http(s, &format!("/artists?{many}"));
        assert!((400..500).contains(&status), "{status}: {body}");
        // The server is still fine.
        assert_eq!(artist_ids(s), [1, 2, 3, 4, 5]);
        // A long value that fits the URL limits is just data.
        let value = "A".repeat(30 * 1024);
        assert_eq!(
            get_ids(s, &format!("/artists?name=eq.{value}")),
            Vec::<i64>::new()
        );
    });
}

#[test]
fn invalid_utf8_in_the_path_or_names_is_4xx() {
    each_backend(|s| {
        assert_client_error(&s.get("/artists/%FF"));
        assert_client_error(&s.get("/%FF%FE"));
        assert_client_error(&s.get("/artists?%FF=eq.1"));
        assert_client_error(&s.get("/artists?select=%C3%28"));
        assert_client_error(&s.get("/artists?order=%E2%82"));
        assert_client_error(&s.delete("/artists/%C0%AF"));
        assert_eq!(artist_ids(s), [1, 2, 3, 4, 5]);
    });
}

#[test]
fn invalid_utf8_in_filter_values_is_4xx() {
    // SPEC §5: invalid UTF-8 gets a 4xx (not silently replaced by U+FFFD).
    each_backend(|s| {
        assert_client_error(&s.get("/artists?name=eq.%FF%FE"));
        assert_client_error(&s.get("/artists?name=in.(%C3%28,x)"));
        assert_client_error(&s.patch("/artists?name=eq.%FF", &json!({"name": "x"})));
        assert_eq!(s.get("/artists/1").json()["name"], "AC/DC");
    });
}

#[test]
fn invalid_utf8_in_a_body_is_400() {
    each_backend(|s| {
        let r = s
            .req("POST", "/artists")
            .header("content-type", "application/json")
            .raw(b"{\"id\": 6, \"name\": \"\xff\xfe\"}")
            .send();
        r.assert_error(400, "invalid_json");
        assert_eq!(artist_ids(s), [1, 2, 3, 4, 5]);
    });
}

#[test]
fn garbage_query_strings_are_400() {
    each_backend(|s| {
        for url in [
            "/artists?&&&=&",
            "/artists?=eq.1",
            "/artists?select=((((",
            "/artists?select=id,,name",
            "/artists?order=,,,",
            "/artists?id=in.((((",
            "/artists?id=eq(any).{{{",
            "/artists?or=)(",
            "/artists?id=not.not.not.eq.1",
        ] {
            let r = s.get(&u(url));
            assert_eq!(r.status, 400, "{url}: {}", r.text);
            assert_client_error(&r);
        }
    });
}

#[test]
fn writes_to_a_view_the_database_cannot_update_are_405() {
    for b in backends() {
        let sql = format!(
            "{}\nCREATE VIEW artist_names AS SELECT DISTINCT name FROM artists;\n",
            common::fixture("music", b)
        );
        let s = TestServer::start(
            b,
            &sql,
            "[services.artist_names]\nprimary_key = [\"name\"]\n",
        );
        let r = s.post("/artist_names", &json!({"name": "X"}));
        r.assert_error(405, "method_not_allowed");
        assert_eq!(r.header("allow"), Some("OPTIONS,GET,HEAD"), "{}", b.name());
        let r = s.get("/artist_names?name=eq.Accept");
        assert_eq!(r.status, 200, "{}: {}", b.name(), r.text);
        assert_eq!(r.json(), json!([{"name": "Accept"}]));
    }
}

#[test]
fn concurrent_if_match_writes_let_exactly_one_through() {
    each_backend(|s| {
        let tag = s
            .get("/artists/1")
            .header("etag")
            .expect("etag")
            .to_string();
        let codes: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let tag = tag.clone();
                    scope.spawn(move || {
                        s.req("PATCH", "/artists/1")
                            .header("if-match", &tag)
                            .json(&json!({"name": format!("AC/DC {i}")}))
                            .send()
                            .status
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        assert_eq!(
            codes.iter().filter(|&&c| c == 200).count(),
            1,
            "{}: {codes:?}",
            s.backend.name()
        );
        assert!(codes.iter().all(|&c| c == 200 || c == 412), "{codes:?}");
    });
}

#[test]
fn writes_to_a_read_only_sqlite_file_are_405() {
    // Load the data, then serve the same file with ?mode=ro.
    let seed = TestServer::fixture(Backend::Sqlite, "music", MUSIC_TOML);
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!(
        "[server]\nbind = \"127.0.0.1:0\"\n[database]\nurl = \"{}?mode=ro\"\n{MUSIC_TOML}",
        seed.url
    );
    let s = TestServer::start_with_config(Backend::Sqlite, dir, &toml);
    assert_eq!(
        s.get("/artists?id=eq.1&select=name").json(),
        json!([{"name": "AC/DC"}])
    );
    let r = s.post("/artists", &json!({"id": 9, "name": "X"}));
    let v = r.assert_error(405, "method_not_allowed");
    assert_eq!(
        v["message"],
        "'artists' cannot be written: the database is read-only"
    );
    assert_eq!(r.header("allow"), Some("OPTIONS,GET,HEAD"));
}

#[test]
fn concurrent_writes_succeed_and_fail_each_on_its_own() {
    // Many writers at once: on SQLite they share transactions (group commit), so a failed
    // write or a dry run must undo only itself, and every answer must mean committed.
    each_backend(|s| {
        let codes: Vec<(i64, u16)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..8)
                .map(|t| {
                    scope.spawn(move || {
                        let mut out = Vec::new();
                        for i in 0..25 {
                            let id = 1_000 + t * 100 + i;
                            let r = match i % 5 {
                                // A duplicate name: 409, nothing written.
                                0 => s.post("/artists", &json!({"id": id, "name": "AC/DC"})),
                                // A dry run: 201, nothing kept.
                                1 => s
                                    .req("POST", "/artists")
                                    .header("prefer", "tx=rollback")
                                    .json(&json!({"id": id, "name": format!("dry {id}")}))
                                    .send(),
                                // Two rows, the second a duplicate key: neither is written.
                                2 => s.post(
                                    "/artists",
                                    &json!([{"id": id, "name": format!("pair {id}")},
                                            {"id": 1, "name": format!("dup {id}")}]),
                                ),
                                _ => s.post(
                                    "/artists",
                                    &json!({"id": id, "name": format!("n {id}")}),
                                ),
                            };
                            out.push((id, r.status));
                        }
                        out
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("writer thread"))
                .collect()
        });
        let mut expected: Vec<i64> = vec![1, 2, 3, 4, 5];
        for (id, status) in &codes {
            match (id - 1_000) % 100 % 5 {
                0 | 2 => assert_eq!(*status, 409, "id {id}"),
                1 => assert_eq!(*status, 201, "id {id}"),
                _ => {
                    assert_eq!(*status, 201, "id {id}");
                    expected.push(*id);
                }
            }
        }
        expected.sort_unstable();
        assert_eq!(artist_ids(s), expected, "{}", s.backend.name());
        let r = s.get("/artists?id=gte.1000&select=id,name&order=id&limit=1");
        assert_eq!(r.json(), json!([{"id": 1003, "name": "n 1003"}]));
    });
}

#[test]
fn bulk_inserts_of_every_type_store_what_single_inserts_store() {
    // Arrays of rows take another path than single rows on some backends (PostgreSQL
    // sends one array per column); the stored values must be the same.
    for b in backends() {
        let s = types_server(b);
        let name = b.name();
        let rows = json!([
            {"big": 9223372036854775807i64, "price": 1.1, "amount": 1234.5678,
             "ratio": 1.5, "flag": true, "born": "2024-02-29", "seen": "2024-01-02T03:04:05",
             "alarm": "12:30:00.25", "uid": "123e4567-e89b-12d3-a456-426614174000",
             "doc": {"a": [1, 2, {"b": null}], "s": "x\"y"}, "pic": "aGkAAQ==", "code": "ab'c"},
            {"big": -9223372036854775808i64, "price": 0.99, "amount": 0, "ratio": -0.25,
             "flag": false, "born": "1999-12-31", "seen": "1999-12-31T23:59:59.5",
             "alarm": "00:00:00", "uid": "00000000-0000-0000-0000-000000000000",
             "doc": [1, "two", true], "pic": "", "code": "héllo"},
            {"big": null, "price": null, "amount": null, "ratio": null, "flag": null,
             "born": null, "seen": null, "alarm": null, "uid": null, "doc": null, "pic": null,
             "code": null}
        ]);
        // One at a time (ids 10..12), then all three in one request (ids 20..22).
        for (n, row) in rows.as_array().unwrap().iter().enumerate() {
            let mut row = row.clone();
            row["id"] = json!(10 + n);
            let r = s.post("/things", &row);
            assert_eq!(r.status, 201, "{name}: {}", r.text);
        }
        let mut bulk = rows.clone();
        for (n, row) in bulk.as_array_mut().unwrap().iter_mut().enumerate() {
            row["id"] = json!(20 + n);
        }
        let r = s
            .req("POST", "/things")
            .header("prefer", "return=representation")
            .json(&bulk)
            .send();
        assert_eq!(r.status, 201, "{name}: {}", r.text);
        let returned = r.json();
        assert_eq!(returned.as_array().map(Vec::len), Some(3), "{name}");
        assert_eq!(
            returned[0]["id"], 20,
            "{name}: rows come back in body order"
        );
        assert_eq!(returned[2]["id"], 22, "{name}");
        let one_by_one = s.get("/things?id=gte.10&id=lt.20&order=id").text;
        let together = s.get("/things?id=gte.20&order=id").text;
        assert_eq!(
            one_by_one.replace("\"id\":1", "\"id\":2"),
            together,
            "{name}"
        );
        assert!(
            together.contains("\"code\":\"héllo\""),
            "{name}: {together}"
        );
        assert!(
            together.contains("\"big\":-9223372036854775808"),
            "{name}: {together}"
        );
        assert!(together.contains("\"price\":1.10"), "{name}: {together}");

        // An upsert of an array updates what exists and inserts the rest.
        let r = s
            .req("POST", "/things?on_conflict=id")
            .header(
                "prefer",
                "resolution=merge-duplicates,return=representation",
            )
            .json(&json!([{"id": 20, "code": "new"}, {"id": 30, "code": "ins"}]))
            .send();
        assert_eq!(r.status, 201, "{name}: {}", r.text);
        let got = s
            .get("/things?id=in.(20,30)&select=id,code,flag&order=id")
            .json();
        assert_eq!(
            got,
            json!([{"id": 20, "code": "new", "flag": true}, {"id": 30, "code": "ins", "flag": null}]),
            "{name}"
        );
        // A bad value in one row of an array: nothing of the array is stored.
        let r = s.post(
            "/things",
            &json!([{"id": 40, "code": "ok"}, {"id": 41, "code": "far too long"}]),
        );
        assert!(r.status == 400, "{name}: {} {}", r.status, r.text);
        assert_eq!(s.get("/things?id=in.(40,41)").json(), json!([]), "{name}");
    }
}

/// One merge upsert naming a key twice: PostgreSQL refuses (SQLSTATE 21000) with a 400
/// that says so, and writes nothing; SQLite and MariaDB apply the rows in order.
#[test]
fn a_merge_upsert_naming_one_key_twice() {
    each_backend(|s| {
        let r = s
            .req("POST", "/artists")
            .header("Prefer", "resolution=merge-duplicates")
            .json(&json!([{"id": 9, "name": "A"}, {"id": 9, "name": "B"}]))
            .send();
        if s.backend == Backend::Postgres {
            let v = r.assert_error(400, "cardinality_violation");
            assert!(v["details"].as_str().unwrap_or("").contains("21000"), "{v}");
            assert_eq!(s.get("/artists/9").status, 404);
        } else {
            assert_eq!(r.status, 201, "{}: {}", s.backend.name(), r.text);
            assert_eq!(s.get("/artists/9").json()["name"], "B");
        }
    });
}
