//! Arrays, ranges and containment (issue 20 item 4): `cs`/`cd`/`ov` on JSON columns with
//! PostgreSQL's jsonb semantics on every backend; PostgreSQL array columns as JSON arrays
//! in answers and bodies, ranges as their text, and `cs cd ov sl sr nxr nxl adj` on them
//! (PostgreSQL only: the other backends have no such types).

mod common;

use common::*;
use serde_json::{json, Value};

/// The docs fixture: JSON documents, the same rows on every backend (on PostgreSQL `tags`
/// is jsonb and `data` json, which the filters cast).
fn docs(b: Backend) -> TestServer {
    TestServer::fixture(b, "docs", "[services.docs]\n")
}

/// `path` with the characters a URI cannot hold as they are percent-encoded (`&`, `=`
/// and the grammar's punctuation kept).
fn enc(path: &str) -> String {
    let mut out = String::new();
    for c in path.chars() {
        if c.is_ascii_alphanumeric() || "/?&=.,()*:-_~!$';@".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    out
}

fn get(s: &TestServer, path: &str) -> Resp {
    s.get(&enc(path))
}

fn ids(s: &TestServer, query: &str) -> Vec<i64> {
    let r = get(s, &format!("/docs?select=id&{query}"));
    assert_eq!(r.status, 200, "{} {query}: {}", s.backend.name(), r.text);
    r.json()
        .as_array()
        .unwrap_or_else(|| panic!("{query}: {}", r.text))
        .iter()
        .map(|row| row["id"].as_i64().expect("id"))
        .collect()
}

/// Every backend answers as PostgreSQL's jsonb `@>` / `<@` (checked against PostgreSQL
/// itself: its rows are the expected lists).
#[test]
fn json_containment_as_jsonb_on_every_backend() {
    let cases: &[(&str, &[i64])] = &[
        (r#"tags=cs.["rock"]"#, &[1, 3]),
        // postgrest-js sends an array as an array literal.
        ("tags=cs.{rock}", &[1, 3]),
        ("tags=cs.{rock,pop}", &[1]),
        // At the top level an array contains a scalar it holds.
        (r#"tags=cs."rock""#, &[1, 3, 6]),
        // Only at the top level: a nested array is not searched.
        (r#"tags=cs.["nested"]"#, &[]),
        (r#"tags=cs.[["nested"]]"#, &[3]),
        (r#"tags=cd.["rock","pop","jazz"]"#, &[1, 2, 4, 6]),
        ("tags=cd.{rock,pop,jazz}", &[1, 2, 4, 6]),
        // NULL never matches, negated or not.
        (r#"tags=not.cs.["rock"]"#, &[2, 4, 6]),
        ("tags=ov.{jazz,pop}", &[1, 2]),
        (r#"tags=ov.["nope"]"#, &[]),
        ("tags=ov.{}", &[]),
        (r#"data=cs.{"a":1}"#, &[1, 3]),
        (r#"data=cs.{"b":{"c":[2]}}"#, &[1]),
        (r#"data=cs.{"b":{"c":3}}"#, &[3]),
        // An array never contains an object, nor an object an array.
        (r#"data=cs.{"b":{"c":[3]}}"#, &[]),
        (r#"data=cs.{"b":{}}"#, &[1, 3]),
        (r#"data=cs.{"x":true}"#, &[]),
        (r#"data=cs.[{"x":true}]"#, &[4]),
        (r#"data=cs.[{}]"#, &[4]),
        // Numbers compare by value: 1.0 contains 1.
        ("data=cs.1", &[4, 6]),
        (r#"data=cd.{"a":1,"b":{"c":[1,2,3]}}"#, &[1]),
        (r#"data=cd.{"a":1,"b":{"c":[1,2,3]},"z":0}"#, &[1]),
        (r#"data=cd.{"a":2,"b":1}"#, &[2]),
        (r#"data=cd.[1,2,{"x":true,"y":1},5]"#, &[4, 6]),
        ("data=cd.[1]", &[6]),
        (r#"data=not.cd.{"a":2}"#, &[1, 3, 4, 6]),
        // In logic trees, negated inside, and next to other filters.
        (r#"or=(tags.cs.{jazz},data.cs.{"a":1})"#, &[1, 2, 3]),
        ("or=(tags.not.cs.{rock},name.eq.one)&id=lt.5", &[1, 2, 4]),
        (
            r#"not.and=(tags.cd.{rock,pop,jazz},data.cs.{"a":2})"#,
            &[1, 3, 4, 6],
        ),
    ];
    for b in backends() {
        let s = docs(b);
        for (query, want) in cases {
            assert_eq!(ids(&s, query), want.to_vec(), "{} {query}", b.name());
        }
        // The answer is the row as it is stored, whatever matched it.
        let r = get(&s, r#"/docs?tags=cs.{jazz}"#);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.json(),
            json!([{"id": 2, "name": "two", "tags": ["jazz"], "data": {"a": 2}}]),
            "{}",
            b.name()
        );
        assert_eq!(r.header("content-range"), Some("0-0/*"), "{}", b.name());
    }
}

#[test]
fn json_containment_in_writes_and_embeds() {
    for b in backends() {
        let s = docs(b);
        let name = b.name();
        let r = s
            .req("PATCH", &enc(r#"/docs?tags=cs.["rock"]&data=cs.{"b":{}}"#))
            .header("prefer", "return=representation")
            .json(&json!({"name": "rocks"}))
            .send();
        assert_eq!(r.status, 200, "{name}: {}", r.text);
        let patched: Vec<i64> = r
            .json()
            .as_array()
            .expect("rows")
            .iter()
            .map(|row| row["id"].as_i64().expect("id"))
            .collect();
        assert_eq!(patched, vec![1, 3], "{name}");
        assert_eq!(r.header("content-range"), Some("0-1/*"), "{name}");
        let r = s
            .req("DELETE", &enc("/docs?tags=cd.{jazz}"))
            .header("prefer", "count=exact")
            .send();
        assert_eq!(r.status, 204, "{name}: {}", r.text);
        assert_eq!(r.header("content-range"), Some("*/2"), "{name}");
        assert_eq!(ids(&s, "order=id"), vec![1, 3, 5, 6], "{name}");
        assert_eq!(ids(&s, "name=eq.rocks"), vec![1, 3], "{name}");
        // A stored document with keys that need quoting in a path.
        let r = s.post(
            "/docs",
            &json!({"id": 7, "name": "odd", "data": {"a \"b\"": {"c.d": [true, null]}}}),
        );
        assert_eq!(r.status, 201, "{name}: {}", r.text);
        assert_eq!(
            ids(&s, r#"data=cs.{"a \"b\"":{"c.d":[null]}}"#),
            vec![7],
            "{name}"
        );
        assert_eq!(
            ids(&s, r#"data=cd.{"a \"b\"":{"c.d":[true,null,1]}}"#),
            vec![7],
            "{name}"
        );
        assert_eq!(
            ids(&s, r#"data=cs.{"a \"B\"":{}}"#),
            Vec::<i64>::new(),
            "{name}"
        );
    }
}

#[test]
fn containment_on_the_wrong_column_or_value_is_400() {
    for b in backends() {
        let s = docs(b);
        let name = b.name();
        let r = get(&s, "/docs?name=cs.{a}");
        let e = r.assert_error(400, "bad_filter");
        assert_eq!(
            e["message"],
            json!("operator 'cs' needs an array, range or JSON column, but column 'name' is VARCHAR(20)"
                .replace("VARCHAR(20)", declared(b))),
            "{name}"
        );
        let r = get(&s, "/docs?data=sl.[1,2)");
        let e = r.assert_error(400, "bad_filter");
        assert!(
            e["message"].as_str().is_some_and(
                |m| m.starts_with("operator 'sl' needs a range column, but column 'data'")
            ),
            "{name}: {e}"
        );
        let r = get(&s, "/docs?or=(id.eq.1,data.adj.x)");
        r.assert_error(400, "bad_filter");
        let r = get(&s, "/docs?tags=cs.rock");
        let e = r.assert_error(400, "invalid_value");
        assert_eq!(e["message"], "invalid value for column 'tags'", "{name}");
        assert_eq!(
            e["details"], "'rock' is neither JSON nor an array literal ({a,b})",
            "{name}"
        );
        let r = get(&s, r#"/docs?tags=ov.{"a":1}"#);
        let e = r.assert_error(400, "invalid_value");
        assert!(
            e["details"]
                .as_str()
                .is_some_and(|d| d.contains("needs an array")),
            "{name}: {e}"
        );
        let r = get(&s, "/docs?tags=cs(any).{a}");
        r.assert_error(400, "bad_filter");
        let deep = format!("{}1{}", "[".repeat(20), "]".repeat(20));
        let r = get(&s, &format!("/docs?data=cs.{deep}"));
        let e = r.assert_error(400, "bad_filter");
        assert!(
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("too large")),
            "{name}: {e}"
        );
        // Still a JSON column for other operators.
        let r = get(&s, "/docs?data=eq.1");
        r.assert_error(400, "bad_filter");
    }
}

fn declared(b: Backend) -> &'static str {
    match b {
        Backend::Postgres => "character varying(20)",
        Backend::MySql => "varchar(20)",
        Backend::Sqlite => "VARCHAR(20)",
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL arrays and ranges

/// The PostgreSQL server of this run with the items table, `None` when the run has none.
fn items() -> Option<TestServer> {
    if !backends().contains(&Backend::Postgres) {
        return None;
    }
    Some(TestServer::fixture(
        Backend::Postgres,
        "docs",
        "[services.items]\n[services.item_notes]\n",
    ))
}

/// Numbers with their digits as written (`1.50` is not `1.5` to an exact decimal).
fn decimals(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

fn item_ids(s: &TestServer, query: &str) -> Vec<i64> {
    let r = get(s, &format!("/items?select=id&{query}"));
    assert_eq!(r.status, 200, "{query}: {}", r.text);
    r.json()
        .as_array()
        .unwrap_or_else(|| panic!("{query}: {}", r.text))
        .iter()
        .map(|row| row["id"].as_i64().expect("id"))
        .collect()
}

#[test]
fn postgres_arrays_and_ranges_in_answers() {
    let Some(s) = items() else { return };
    assert_eq!(s.backend, Backend::Postgres);
    let r = get(&s, "/items?order=id");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json(),
        json!([
            {"id": 1, "tags": ["rock", "pop"], "nums": [1, 2, 3], "grid": [[1, 2], [3, 4]],
             "prices": decimals("[1.50,2.00]"), "span": "[1,10)",
             "during": "[\"2024-01-01 00:00:00+00\",\"2024-02-01 00:00:00+00\")"},
            {"id": 2, "tags": ["jazz", "a \"b\""], "nums": [2, null], "grid": null,
             "prices": [], "span": "[5,7)", "during": "[\"2024-03-01 00:00:00+00\",)"},
            {"id": 3, "tags": [], "nums": [], "grid": [], "prices": null, "span": "empty",
             "during": null},
            {"id": 4, "tags": null, "nums": null, "grid": null, "prices": null, "span": null,
             "during": null}
        ])
    );
    // Exact decimals keep their digits.
    assert!(r.text.contains(r#""prices":[1.50,2.00]"#), "{}", r.text);
    // Embedded rows too.
    let r = get(
        &s,
        "/items?select=id,item_notes(id,labels)&id=lt.3&item_notes.order=id",
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json(),
        json!([
            {"id": 1, "item_notes": [{"id": 1, "labels": ["a", "b"]}, {"id": 2, "labels": null}]},
            {"id": 2, "item_notes": [{"id": 3, "labels": ["c"]}]}
        ])
    );
    let r = get(&s, "/item_notes?select=labels,items(tags,span)&id=eq.3");
    assert_eq!(
        r.json(),
        json!([{"labels": ["c"], "items": {"tags": ["jazz", "a \"b\""], "span": "[5,7)"}}])
    );
    // The schema says array, with its items' type.
    let r = get(&s, "/_schema/items");
    assert_eq!(r.status, 200, "{}", r.text);
    let props = &r.json()["properties"];
    assert_eq!(
        props["tags"],
        json!({"type": ["array", "null"], "items": {"type": ["string", "array", "null"]},
               "description": "text[]"})
    );
    assert_eq!(
        props["nums"]["items"],
        json!({"type": ["integer", "array", "null"]})
    );
    assert_eq!(props["span"]["type"], json!(["string", "null"]));
}

#[test]
fn postgres_arrays_and_ranges_in_bodies() {
    let Some(s) = items() else { return };
    let r = s
        .req("POST", "/items")
        .header("prefer", "return=representation")
        .json(
            &json!({"tags": ["x,y", "{z}", null, "back\\slash \"q\""], "nums": [7, null],
                      "grid": [[1, 2], [3, null]], "prices": [0.1, 12.25], "span": "[3,4]",
                      "during": "[2024-05-01T00:00:00Z,2024-05-02T00:00:00Z)"}),
        )
        .send();
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.json(),
        json!([{"id": 5, "tags": ["x,y", "{z}", null, "back\\slash \"q\""], "nums": [7, null],
                "grid": [[1, 2], [3, null]], "prices": decimals("[0.10,12.25]"), "span": "[3,5)",
                "during": "[\"2024-05-01 00:00:00+00\",\"2024-05-02 00:00:00+00\")"}])
    );
    // Several rows at once, and an empty array.
    let r = s
        .req("POST", "/items")
        .header("prefer", "return=representation")
        .json(&json!([{"tags": [], "nums": [1]}, {"tags": ["only"], "nums": null}]))
        .send();
    assert_eq!(r.status, 201, "{}", r.text);
    let rows = r.json();
    assert_eq!(rows[0]["tags"], json!([]));
    assert_eq!(rows[1]["tags"], json!(["only"]));
    // PATCH and PUT.
    let r = s
        .req("PATCH", &enc("/items?id=eq.1"))
        .header("prefer", "return=representation")
        .json(&json!({"tags": ["new"], "span": "(0,3)"}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()[0]["tags"], json!(["new"]));
    assert_eq!(r.json()[0]["span"], json!("[1,3)"));
    let r = s
        .req("PUT", "/items?id=eq.4")
        .header("prefer", "return=representation")
        .json(&json!({"id": 4, "nums": [4, 4]}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()[0]["nums"], json!([4, 4]));
    // Values the column cannot take: the body's types, then PostgreSQL's own check.
    let r = s.post("/items", &json!({"nums": ["a"]}));
    r.assert_error(400, "validation_failed");
    // A JSON array, not an array literal's text, in POST and PATCH alike.
    let r = s.post("/items", &json!({"tags": "{rock}"}));
    r.assert_error(400, "validation_failed");
    let r = s.patch("/items?id=eq.1", &json!({"tags": "{rock}"}));
    r.assert_error(400, "validation_failed");
    let r = s.post("/items", &json!({"grid": [[1, 2], [3]]}));
    r.assert_error(400, "invalid_value");
    let r = s.post("/items", &json!({"span": "[5,1)"}));
    r.assert_error(400, "invalid_value");
    let r = s.post("/items", &json!({"tags": {"a": 1}}));
    r.assert_error(400, "validation_failed");
}

#[test]
fn postgres_array_and_range_operators() {
    let Some(s) = items() else { return };
    let cases: &[(&str, &[i64])] = &[
        ("tags=cs.{rock}", &[1]),
        ("tags=cs.{}", &[1, 2, 3]),
        (r#"tags=cs.{"a \"b\""}"#, &[2]),
        ("nums=cd.{1,2,3,4}", &[1, 3]),
        ("tags=ov.{jazz,pop}", &[1, 2]),
        ("tags=not.cs.{rock}", &[2, 3]),
        ("tags=eq.{jazz,\"a \\\"b\\\"\"}", &[2]),
        ("grid=cs.{4}", &[1]),
        ("or=(tags.cs.{rock},tags.cs.{jazz})", &[1, 2]),
        ("and=(tags.not.cd.{rock},nums.ov.{2})", &[1, 2]),
        ("and=(tags.not.cd.{rock,pop},nums.ov.{2})", &[2]),
        ("span=cs.[2,3)", &[1]),
        ("span=cs.[6,6]", &[1, 2]),
        ("span=cd.[0,100)", &[1, 2, 3]),
        ("span=ov.[6,8)", &[1, 2]),
        ("span=sl.[20,30)", &[1, 2]),
        ("span=sr.[0,2)", &[2]),
        ("span=nxr.[0,8)", &[2]),
        ("span=nxl.[3,8)", &[2]),
        ("span=adj.[10,12)", &[1]),
        ("span=not.adj.[10,12)", &[2, 3]),
        ("or=(span.adj.\"[10,12)\",span.sr.\"[0,2)\")", &[1, 2]),
        ("span=eq.[1,9]", &[1]),
        (
            "during=cs.[2024-01-05T00:00:00Z,2024-01-06T00:00:00Z)",
            &[1],
        ),
        (
            "during=sr.[2024-02-10T00:00:00Z,2024-02-11T00:00:00Z)",
            &[2],
        ),
    ];
    for (query, want) in cases {
        assert_eq!(item_ids(&s, query), want.to_vec(), "{query}");
    }
    // Filters on embedded rows.
    let r = get(
        &s,
        "/items?select=id,item_notes(id)&id=eq.1&item_notes.labels=cs.{b}",
    );
    assert_eq!(r.json(), json!([{"id": 1, "item_notes": [{"id": 1}]}]));
    // Writes filtered by containment.
    let r = s
        .req("PATCH", &enc("/items?span=sl.[20,30)&tags=ov.{pop}"))
        .header("prefer", "return=representation")
        .json(&json!({"nums": [9]}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()[0]["id"], 1);
    assert_eq!(r.json().as_array().map(Vec::len), Some(1));
    // Operators the column cannot take, and values PostgreSQL refuses.
    let r = get(&s, "/items?tags=sl.{a}");
    let e = r.assert_error(400, "bad_filter");
    assert_eq!(
        e["message"],
        "operator 'sl' needs a range column, but column 'tags' is text[]"
    );
    let r = get(&s, "/items?id=cs.{1}");
    let e = r.assert_error(400, "bad_filter");
    assert_eq!(
        e["message"],
        "operator 'cs' needs an array, range or JSON column, but column 'id' is integer"
    );
    let r = get(&s, "/items?tags=like.*a*");
    r.assert_error(400, "bad_filter");
    let r = get(&s, "/items?nums=cs.{a}");
    r.assert_error(400, "invalid_value");
    let r = get(&s, "/items?span=cs.5");
    let e = r.assert_error(400, "invalid_value");
    assert!(e.to_string().contains("malformed range literal"), "{e}");
}

#[test]
fn postgres_arrays_in_csv() {
    let Some(s) = items() else { return };
    let r = s
        .req("GET", &enc("/items?select=id,tags,span&id=eq.2"))
        .header("accept", "text/csv")
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    let expected: Value =
        json!("id,tags,span\n2,\"[\"\"jazz\"\",\"\"a \\\"\"b\\\"\"\"\"]\",\"[5,7)\"");
    assert_eq!(json!(r.text.trim_end()), expected);
}
