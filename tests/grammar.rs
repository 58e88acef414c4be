//! PostgREST's answers to the less common requests (issue 20): PUT with a one-element
//! array, `columns=` on PATCH, empty PATCH bodies, `Content-Range`/`Content-Location` of
//! writes and reads, `Preference-Applied` only for what was applied, `Allow`, planner
//! estimates for `count=planned`, negative and empty paging values, PUT filters that are
//! not the key, and constraint details. On every backend.

mod common;

use common::*;
use serde_json::json;

const NO_KEY_SQL: &str = "CREATE TABLE notes (body VARCHAR(40), n INTEGER);\n";

fn with_notes(b: Backend) -> TestServer {
    let sql = format!("{}\n{NO_KEY_SQL}", common::fixture("music", b));
    TestServer::start(b, &sql, &format!("{MUSIC_TOML}[services.notes]\n"))
}

#[test]
fn put_accepts_a_one_element_array() {
    each_backend(|s| {
        let b = s.backend.name();
        let r = s
            .req("PUT", "/artists?id=eq.1")
            .header("prefer", "return=representation")
            .json(&json!([{"id": 1, "name": "AC-DC"}]))
            .send();
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(r.json(), json!([{"id": 1, "name": "AC-DC"}]), "{b}");
        let r = s
            .req("PUT", "/artists/10")
            .json(&json!([{"name": "Queen"}]))
            .send();
        assert_eq!(r.status, 201, "{b}: {}", r.text);
        assert_eq!(s.get("/artists/10").json()["name"], "Queen", "{b}");
        // Two elements are still not one row.
        let r = s
            .req("PUT", "/artists?id=eq.1")
            .json(&json!([{"id": 1, "name": "A"}, {"id": 1, "name": "B"}]))
            .send();
        r.assert_error(400, "validation_failed");
        assert_eq!(s.get("/artists/1").json()["name"], "AC-DC", "{b}");
    });
}

#[test]
fn patch_honours_columns() {
    each_backend(|s| {
        let b = s.backend.name();
        // Keys outside `columns=` are ignored, even ones that are not columns.
        let r = s
            .req("PATCH", "/albums?id=eq.1&columns=year")
            .header("prefer", "return=representation")
            .json(&json!({"year": 1999, "title": "Ignored", "bogus": 1}))
            .send();
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(
            r.json(),
            json!([{"id": 1, "title": "For Those About To Rock", "artist_id": 1, "year": 1999}]),
            "{b}"
        );
        // A listed key the body lacks becomes NULL.
        let r = s
            .req("PATCH", "/albums?id=eq.2&columns=year,title")
            .header("prefer", "return=representation")
            .json(&json!({"title": "Back in Black (remaster)"}))
            .send();
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(r.json()[0]["year"], json!(null), "{b}");
        assert_eq!(r.json()[0]["title"], "Back in Black (remaster)", "{b}");
        // ... or its default with missing=default.
        let r = s
            .req("PATCH", "/tracks?id=eq.6&columns=unit_price,genre")
            .header("prefer", "return=representation, missing=default")
            .json(&json!({"genre": "Rock"}))
            .send();
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert!(r.text.contains("\"unit_price\":0.99"), "{b}: {}", r.text);
        assert_eq!(
            r.header("preference-applied"),
            Some("missing=default, return=representation"),
            "{b}"
        );
        // A listed name that is not a column is a 400, and nothing changes.
        let r = s
            .req("PATCH", "/albums?id=eq.3&columns=year,helicopter")
            .json(&json!({"year": 1}))
            .send();
        assert_eq!(r.status, 400, "{b}: {}", r.text);
        assert!(r.text.contains("helicopter"), "{b}: {}", r.text);
        assert_eq!(s.get("/albums/3").json()["year"], 1983, "{b}");
    });
}

#[test]
fn empty_patch_changes_nothing() {
    each_backend(|s| {
        let b = s.backend.name();
        {
            let body = json!({});
            let r = s.req("PATCH", "/albums?id=eq.1").json(&body).send();
            assert_eq!(r.status, 204, "{b} {body}: {}", r.text);
            assert_eq!(r.text, "");
            assert_eq!(r.header("content-range"), Some("*/*"), "{b} {body}");
            let r = s
                .req("PATCH", "/albums?id=eq.1")
                .header("prefer", "return=representation")
                .json(&body)
                .send();
            assert_eq!(r.status, 200, "{b} {body}: {}", r.text);
            assert_eq!(r.json(), json!([]), "{b} {body}");
            assert_eq!(r.header("content-range"), Some("*/*"), "{b} {body}");
        }
        // A bad filter is still a bad filter.
        s.req("PATCH", "/albums?nope=eq.1")
            .json(&json!({}))
            .send()
            .assert_error(400, "unknown_column");
    });
}

#[test]
fn post_content_range_and_read_content_location() {
    each_backend(|s| {
        let b = s.backend.name();
        let r = s
            .req("POST", "/artists?select=id,name")
            .header("prefer", "return=representation")
            .json(&json!({"id": 6, "name": "Deep Purple"}))
            .send();
        assert_eq!(r.status, 201, "{b}: {}", r.text);
        assert_eq!(r.json(), json!([{"id": 6, "name": "Deep Purple"}]));
        assert_eq!(r.header("content-range"), Some("*/*"), "{b}");
        assert_eq!(
            r.header("preference-applied"),
            Some("return=representation"),
            "{b}"
        );
        let r = s
            .req("POST", "/artists")
            .header("prefer", "return=minimal")
            .json(&json!({"id": 7, "name": "Queen"}))
            .send();
        assert_eq!(r.status, 201, "{b}: {}", r.text);
        assert_eq!(r.header("content-range"), Some("*/*"), "{b}");
        let r = s
            .req("POST", "/artists")
            .header("prefer", "count=exact")
            .json(&json!([{"id": 8, "name": "A"}, {"id": 9, "name": "B"}]))
            .send();
        assert_eq!(r.header("content-range"), Some("*/2"), "{b}");

        // Reads say where they came from, parameters sorted by name.
        let r = s.get("/artists?select=id&id=eq.1");
        assert_eq!(
            r.header("content-location"),
            Some("/artists?id=eq.1&select=id"),
            "{b}"
        );
        let r = s.get("/artists");
        assert_eq!(r.header("content-location"), Some("/artists"), "{b}");
        let r = s.get("/artists?name=eq.Crosby,%20Stills%20and%20Nash");
        assert_eq!(
            r.header("content-location"),
            Some("/artists?name=eq.Crosby%2C%20Stills%20and%20Nash"),
            "{b}"
        );
    });
}

#[test]
fn preference_applied_only_when_applied() {
    for b in backends() {
        let s = with_notes(b);
        let b = b.name();
        // No key and no on_conflict: the resolution is not applied (a plain insert).
        let r = s
            .req("POST", "/notes")
            .header(
                "prefer",
                "resolution=merge-duplicates, return=representation",
            )
            .json(&json!({"body": "x", "n": 1}))
            .send();
        assert_eq!(r.status, 201, "{b}: {}", r.text);
        assert_eq!(
            r.header("preference-applied"),
            Some("return=representation"),
            "{b}"
        );
        // With a key it is.
        let r = s
            .req("POST", "/artists")
            .header(
                "prefer",
                "resolution=merge-duplicates, return=representation",
            )
            .json(&json!([{"id": 1, "name": "AC-DC"}]))
            .send();
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(
            r.header("preference-applied"),
            Some("resolution=merge-duplicates, return=representation"),
            "{b}"
        );
        // missing= is a POST/PATCH preference, max-affected a PATCH/DELETE one, return
        // a write one.
        let r = s
            .req("DELETE", "/artists?id=eq.5")
            .header("prefer", "missing=default, return=minimal, max-affected=5")
            .send();
        assert_eq!(r.status, 204, "{b}: {}", r.text);
        assert_eq!(
            r.header("preference-applied"),
            Some("return=minimal, max-affected=5"),
            "{b}"
        );
        let r = s
            .req("PUT", "/artists/1")
            .header("prefer", "max-affected=5, missing=default, return=minimal")
            .json(&json!({"name": "AC/DC"}))
            .send();
        assert_eq!(
            r.header("preference-applied"),
            Some("return=minimal"),
            "{b}"
        );
        let r = s
            .req("GET", "/artists?id=eq.1")
            .header("prefer", "return=representation, count=exact")
            .send();
        assert_eq!(r.header("preference-applied"), Some("count=exact"), "{b}");
    }
}

#[test]
fn allow_lists_methods_as_postgrest() {
    for b in backends() {
        let s = with_notes(b);
        let b = b.name();
        let r = s.req("OPTIONS", "/artists").send();
        assert_eq!(r.status, 200, "{b}");
        assert_eq!(
            r.header("allow"),
            Some("OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"),
            "{b}"
        );
        // No primary key: no PUT.
        let r = s.req("OPTIONS", "/notes").send();
        assert_eq!(
            r.header("allow"),
            Some("OPTIONS,GET,HEAD,POST,PATCH,DELETE"),
            "{b}"
        );
        let r = s
            .req("PUT", "/notes?body=eq.x")
            .json(&json!({"body": "x"}))
            .send();
        r.assert_error(405, "method_not_allowed");
        assert_eq!(
            r.header("allow"),
            Some("OPTIONS,GET,HEAD,POST,PATCH,DELETE"),
            "{b}"
        );
        // PUT filters that are not the key: 400 naming the rule, no Allow.
        let r = s
            .req("PUT", "/tracks?name=eq.x")
            .json(&json!({"id": 1, "name": "x", "album_id": 1}))
            .send();
        let v = r.assert_error(400, "bad_filter");
        assert!(
            v["message"]
                .as_str()
                .unwrap_or("")
                .contains("all and only primary key columns with 'eq' operators"),
            "{b}: {v}"
        );
        assert_eq!(r.header("allow"), None, "{b}");
    }
}

#[test]
fn planned_counts() {
    each_backend(|s| {
        let b = s.backend.name();
        for pref in ["count=planned", "count=estimated"] {
            // One row by its key: the planner knows it is one.
            let r = s
                .req("GET", "/tracks?id=eq.1")
                .header("prefer", pref)
                .send();
            assert_eq!(r.status, 200, "{b} {pref}: {}", r.text);
            assert_eq!(r.header("content-range"), Some("0-0/1"), "{b} {pref}");
            assert_eq!(r.header("preference-applied"), Some(pref), "{b}");
        }
        // A page of an (estimated) larger whole: 206 with the estimate as the total.
        let r = s
            .req("GET", "/tracks?select=id&order=id&limit=2")
            .header("prefer", "count=planned")
            .send();
        assert_eq!(r.status, 206, "{b}: {}", r.text);
        let range = r.header("content-range").unwrap_or("");
        let total: u64 = range
            .strip_prefix("0-1/")
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("{b}: {range}"));
        assert!(total > 2, "{b}: {range}");
        if s.backend != Backend::Postgres {
            // Elsewhere the count is exact.
            assert_eq!(range, "0-1/8", "{b}");
        }
    });
}

#[test]
fn paging_values_as_postgrest() {
    each_backend(|s| {
        let b = s.backend.name();
        // Negative offsets count from the start; empty values are ignored.
        for q in [
            "offset=-1",
            "offset=-4",
            "offset=",
            "limit=",
            "limit=&offset=",
        ] {
            let r = s.get(&format!("/tracks?select=id&order=id&{q}"));
            assert_eq!(r.status, 200, "{b} {q}: {}", r.text);
            assert_eq!(r.header("content-range"), Some("0-7/*"), "{b} {q}");
        }
        let r = s.get("/tracks?select=id&order=id&limit=2&offset=-1");
        assert_eq!(r.json(), json!([{"id": 1}, {"id": 2}]), "{b}");
        // A negative limit: 416 at the top level.
        let r = s.get("/tracks?limit=-1");
        let v = r.assert_error(416, "range_not_satisfiable");
        assert_eq!(
            v["details"],
            "Limit should be greater than or equal to zero."
        );
        // In an embed, an empty embed.
        let r = s.get("/artists?select=id,albums(id)&id=eq.1&albums.limit=-1");
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(r.json(), json!([{"id": 1, "albums": []}]), "{b}");
    });
}

#[test]
fn unique_violation_details_name_constraint_and_sqlstate() {
    each_backend(|s| {
        let b = s.backend.name();
        let cases = [
            s.post("/artists", &json!({"id": 1, "name": "Other"})),
            s.post("/artists", &json!({"id": 7, "name": "AC/DC"})),
            s.patch("/artists/2", &json!({"name": "AC/DC"})),
            s.put("/artists/2", &json!({"name": "AC/DC"})),
            s.req("POST", "/artists")
                .header("prefer", "resolution=merge-duplicates")
                .json(&json!({"id": 2, "name": "AC/DC"}))
                .send(),
        ];
        let expected = [
            "artists_pkey",
            "artists_name_key",
            "artists_name_key",
            "artists_name_key",
            "artists_name_key",
        ];
        for (r, constraint) in cases.iter().zip(expected) {
            let v = r.assert_error(409, "unique_violation");
            let details = v["details"].as_str().unwrap_or("");
            assert!(
                details.contains(&format!("constraint {constraint}")),
                "{b}: {v}"
            );
            assert!(details.contains("SQLSTATE 23505"), "{b}: {v}");
        }
    });
}

const STRIPPED: &str = "application/vnd.pgrst.array+json;nulls=stripped";
const STRIPPED_OBJECT: &str = "application/vnd.pgrst.object+json;nulls=stripped";

#[test]
fn nulls_stripped() {
    each_backend(|s| {
        let b = s.backend.name();
        let r = s
            .req("GET", "/albums?select=id,year&id=in.(6,7)&order=id")
            .header("accept", STRIPPED)
            .send();
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(r.text, r#"[{"id":6,"year":2002},{"id":7}]"#, "{b}");
        assert_eq!(
            r.header("content-type"),
            Some("application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8"),
            "{b}"
        );
        let r = s
            .req("GET", "/albums?select=id,title,year&id=eq.7")
            .header("accept", STRIPPED_OBJECT)
            .send();
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(r.text, r#"{"id":7,"title":"Unreleased Demos"}"#, "{b}");
        assert_eq!(
            r.header("content-type"),
            Some("application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8"),
            "{b}"
        );
        // Not singular: 406, as without the parameter.
        s.req("GET", "/albums")
            .header("accept", STRIPPED_OBJECT)
            .send()
            .assert_error(406, "not_acceptable");
        // Only nulls: an empty object. Top-level keys only: embedded rows keep theirs.
        let r = s
            .req("GET", "/albums?select=year,artist:artists(id,name)&id=eq.7")
            .header("accept", STRIPPED)
            .send();
        assert_eq!(r.text, r#"[{"artist":{"id":3,"name":"Aerosmith"}}]"#, "{b}");
        let r = s
            .req("GET", "/albums?select=year&id=eq.7")
            .header("accept", STRIPPED)
            .send();
        assert_eq!(r.text, "[{}]", "{b}");
        // Writes.
        let r = s
            .req("POST", "/tracks?select=id,name,genre,milliseconds")
            .header("accept", STRIPPED)
            .header("prefer", "return=representation")
            .json(&json!({"id": 9, "name": "T", "album_id": 1}))
            .send();
        assert_eq!(r.status, 201, "{b}: {}", r.text);
        assert_eq!(r.text, r#"[{"id":9,"name":"T"}]"#, "{b}");
        let r = s
            .req("PATCH", "/albums?id=eq.3&select=id,year")
            .header("accept", STRIPPED)
            .header("prefer", "return=representation")
            .json(&json!({"year": null}))
            .send();
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(r.text, r#"[{"id":3}]"#, "{b}");
        // An item route gives an object.
        let r = s
            .req("GET", "/albums/7?select=id,year")
            .header("accept", STRIPPED_OBJECT)
            .send();
        assert_eq!(r.text, r#"{"id":7}"#, "{b}");
    });
}

#[test]
fn strict_handling_refuses_what_it_cannot_apply() {
    for b in backends() {
        let s = with_notes(b);
        let b = b.name();
        let refused = |r: Resp, token: &str| {
            let v = r.assert_error(400, "bad_preference");
            assert_eq!(
                v["message"],
                "Invalid preferences given with handling=strict"
            );
            assert!(
                v["details"].as_str().unwrap_or("").contains(token),
                "{b}: {v}"
            );
        };
        // Unknown tokens, as before.
        refused(
            s.req("GET", "/artists")
                .header("prefer", "handling=strict, foo")
                .send(),
            "foo",
        );
        // timezone= naming no zone is never applied; a real zone only on PostgreSQL.
        refused(
            s.req("GET", "/artists")
                .header("prefer", "handling=strict, timezone=Nowhere/Else")
                .send(),
            "timezone=Nowhere/Else",
        );
        if s.backend != Backend::Postgres {
            refused(
                s.req("GET", "/artists")
                    .header("prefer", "handling=strict, timezone=UTC")
                    .send(),
                "timezone=UTC",
            );
        }
        // return= on a read.
        refused(
            s.req("GET", "/artists")
                .header("prefer", "handling=strict, return=representation")
                .send(),
            "return=representation",
        );
        // resolution= without a key to resolve on: nothing inserted.
        refused(
            s.req("POST", "/notes")
                .header("prefer", "handling=strict, resolution=merge-duplicates")
                .json(&json!({"body": "x"}))
                .send(),
            "resolution=merge-duplicates",
        );
        assert_eq!(s.get("/notes").json(), json!([]), "{b}");
        // max-affected= on a POST, missing= on a DELETE.
        refused(
            s.req("POST", "/artists")
                .header("prefer", "handling=strict, max-affected=1")
                .json(&json!({"id": 20, "name": "X"}))
                .send(),
            "max-affected=1",
        );
        refused(
            s.req("DELETE", "/artists?id=eq.5")
                .header("prefer", "handling=strict, missing=default")
                .send(),
            "missing=default",
        );
        assert_eq!(s.get("/artists/5").status, 200, "{b}");
        // What is applied passes, and is echoed.
        let r = s
            .req("POST", "/artists")
            .header(
                "prefer",
                "handling=strict, resolution=merge-duplicates, return=minimal",
            )
            .json(&json!({"id": 1, "name": "AC/DC"}))
            .send();
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(
            r.header("preference-applied"),
            Some("resolution=merge-duplicates, return=minimal, handling=strict"),
            "{b}"
        );
        // Lenient (the default) ignores them all.
        let r = s
            .req("GET", "/artists?id=eq.1")
            .header("prefer", "timezone=Nowhere/Else, return=minimal")
            .send();
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(r.header("preference-applied"), None, "{b}");
    }
}

/// A table and a column named outside ASCII, served under a name outside ASCII.
#[test]
fn names_outside_ascii() {
    const PATH: &str = "/%D9%85%D9%88%D8%A7%D8%B1%D8%AF"; // موارد
    const COLUMN: &str = "%D8%A7%D8%B3%D9%85"; // اسم
    for b in backends() {
        let (t, c) = if b == Backend::MySql {
            ("`موارد`", "`اسم`")
        } else {
            ("\"موارد\"", "\"اسم\"")
        };
        let sql = format!(
            "CREATE TABLE {t} (id INTEGER PRIMARY KEY, {c} VARCHAR(40));\n\
             INSERT INTO {t} VALUES (1, 'x');\nINSERT INTO {t} VALUES (2, 'y');\n"
        );
        let s = TestServer::start(b, &sql, "[services.\"موارد\"]\n");
        let b = b.name();
        let r = s.get(&format!("{PATH}?{COLUMN}=eq.x"));
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(r.json(), json!([{"id": 1, "اسم": "x"}]), "{b}");
        let r = s.get(&format!("{PATH}?select=id&order=id&limit=1"));
        assert_eq!(r.json(), json!([{"id": 1}]), "{b}");
        assert_eq!(
            r.header("link"),
            Some(format!("<{PATH}?select=id&order=id&limit=1&offset=1>; rel=\"next\"").as_str()),
            "{b}"
        );
        assert_eq!(
            r.header("content-location"),
            Some(format!("{PATH}?limit=1&order=id&select=id").as_str()),
            "{b}"
        );
        let r = s.post(PATH, &json!({"id": 3, "اسم": "z"}));
        assert_eq!(r.status, 201, "{b}: {}", r.text);
        assert_eq!(
            r.header("location"),
            Some(format!("{PATH}/3").as_str()),
            "{b}"
        );
        assert_eq!(s.get(&format!("{PATH}/3")).json()["اسم"], "z", "{b}");
        let index = s.get("/").json();
        assert_eq!(index["services"][0]["name"], "موارد", "{b}");
    }
}

/// PostgreSQL: a table in another schema, `table = "sales.orders"`.
#[test]
fn a_table_in_another_schema() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let sql = "CREATE SCHEMA sales;\n\
               CREATE TABLE sales.orders (id INTEGER PRIMARY KEY, total NUMERIC(8,2));\n\
               INSERT INTO sales.orders VALUES (1, 10.50);\n\
               CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT);\n";
    let s = TestServer::start(
        Backend::Postgres,
        sql,
        "[services.orders]\ntable = \"sales.orders\"\n[services.public_orders]\ntable = \"orders\"\n",
    );
    let r = s.get("/orders");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.text, r#"[{"id":1,"total":10.50}]"#);
    let r = s.post("/orders", &json!({"id": 2, "total": 3.25}));
    assert_eq!(r.status, 201, "{}", r.text);
    let r = s.patch("/orders?id=eq.2", &json!({"total": 4}));
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(s.get("/orders/2").text, r#"{"id":2,"total":4.00}"#);
    assert_eq!(s.get("/public_orders").json(), json!([]));
}

/// `Prefer: timezone=` on PostgreSQL: timestamps with a time zone in the zone asked for,
/// at the top level, in embeds, in CSV and in write answers; `Preference-Applied` says so.
/// A zone the tz database does not have is ignored (400 with `handling=strict`). Elsewhere
/// it is not applied.
#[test]
fn timezone_on_postgres() {
    for b in backends() {
        let (ts, tsz) = match b {
            Backend::Postgres => ("TIMESTAMP", "TIMESTAMPTZ"),
            Backend::MySql => ("DATETIME", "TIMESTAMP NULL"),
            Backend::Sqlite => ("TIMESTAMP", "TIMESTAMPTZ"),
        };
        let sql = format!(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, at {tsz}, local_at {ts}, parent_id INTEGER,
               CONSTRAINT events_parent_fkey FOREIGN KEY (parent_id) REFERENCES events(id));
             INSERT INTO events VALUES (1, '2024-01-01 12:00:00', '2024-01-01 12:00:00', NULL);
             INSERT INTO events VALUES (2, '2024-07-01 12:00:00.5', '2024-07-01 12:00:00', 1);"
        );
        let s = TestServer::start(b, &sql, "[services.events]\n");
        let name = b.name();
        let zoned = |tz: &str, path: &str| {
            s.req("GET", path)
                .header("prefer", &format!("timezone={tz}"))
                .send()
        };
        if b != Backend::Postgres {
            let r = zoned("America/Los_Angeles", "/events?select=id&id=eq.1");
            assert_eq!(r.status, 200, "{name}: {}", r.text);
            assert_eq!(r.header("preference-applied"), None, "{name}");
            continue;
        }
        let r = zoned(
            "America/Los_Angeles",
            "/events?select=id,at,local_at,children:events(at)&order=id",
        );
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.header("preference-applied"),
            Some("timezone=America/Los_Angeles")
        );
        assert_eq!(
            r.json(),
            json!([
                {"id": 1, "at": "2024-01-01T04:00:00-08:00", "local_at": "2024-01-01T12:00:00",
                 "children": [{"at": "2024-07-01T05:00:00.5-07:00"}]},
                {"id": 2, "at": "2024-07-01T05:00:00.5-07:00", "local_at": "2024-07-01T12:00:00",
                 "children": []}
            ])
        );
        // Half-hour offsets; CSV too.
        let r = s
            .req("GET", "/events?select=at&id=eq.1")
            .header("prefer", "timezone=Asia/Kolkata")
            .header("accept", "text/csv")
            .send();
        assert_eq!(r.text, "at\n2024-01-01T17:30:00+05:30");
        // A write's answer.
        let r = s
            .req("PATCH", "/events?id=eq.1")
            .header("prefer", "return=representation, timezone=Europe/Paris")
            .json(&json!({"local_at": "2024-01-02T00:00:00"}))
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()[0]["at"], "2024-01-01T13:00:00+01:00");
        assert_eq!(
            r.header("preference-applied"),
            Some("return=representation, timezone=Europe/Paris")
        );
        // Filters keep their own offset.
        let r = zoned(
            "America/Los_Angeles",
            "/events?select=id&at=lt.2024-01-01T12:00:01Z",
        );
        assert_eq!(r.json(), json!([{"id": 1}]));
        // Without the preference, and with a zone nobody has: UTC, nothing echoed.
        assert_eq!(
            s.get("/events?select=at&id=eq.1").json(),
            json!([{"at": "2024-01-01T12:00:00+00:00"}])
        );
        let r = zoned("Nowhere/Else", "/events?select=at&id=eq.1");
        assert_eq!(r.json(), json!([{"at": "2024-01-01T12:00:00+00:00"}]));
        assert_eq!(r.header("preference-applied"), None);
        s.req("GET", "/events")
            .header("prefer", "handling=strict, timezone=Nowhere/Else")
            .send()
            .assert_error(400, "bad_preference");
        // The zone ends with the request: the next one on the same connection is UTC.
        assert_eq!(
            s.get("/events?select=children:events(at)&id=eq.1").json(),
            json!([{"children": [{"at": "2024-07-01T12:00:00.5+00:00"}]}])
        );
    }
}
