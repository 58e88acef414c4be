//! JSON paths (`data->a->>b`, `data->0`, `data->-1`) in select, filters, logic trees,
//! order and writes, and casts in select (`id::text`, `data->>n::int`), on every backend
//! (issue 20, items 1 and 2). Bodies are compared as text: every backend must give the
//! same bytes.

mod common;

use common::*;
use serde_json::json;

/// A table of our own: JSON documents (`data`: jsonb on PostgreSQL; `doc`: plain json,
/// which PostgreSQL keeps as written) next to columns of the kinds casts convert.
fn items(b: Backend) -> TestServer {
    items_with(b, "[services.items]\n")
}

/// The same table served with `config` as services.toml.
fn items_with(b: Backend, config: &str) -> TestServer {
    let (jsonb, datetime) = match b {
        Backend::Postgres => ("JSONB", "TIMESTAMP"),
        Backend::MySql => ("JSON", "DATETIME"),
        Backend::Sqlite => ("JSON", "TIMESTAMP"),
    };
    // A SQL string literal; MySQL reads backslashes in it as escapes.
    let lit = |s: &str| {
        let mut s = s.replace('\'', "''");
        if b == Backend::MySql {
            s = s.replace('\\', "\\\\");
        }
        format!("'{s}'")
    };
    let docs = [
        // Keys in jsonb's order (shorter first), so that every backend writes them alike.
        r#"{"n":3,"ok":true,"name":"apple","tags":["red","fruit"],"price":1.50,"nested":{"k":"v","deep":{"x":1}}}"#,
        r#"{"n":10,"ok":false,"name":"Banana","tags":["yellow"],"nested":{"k":"w"}}"#,
        r#"{"n":"7","ok":null,"name":"cherry","tags":[]}"#,
        r#"{"n":2.5,"name":"d\"ate \u00e9"}"#,
        "[1,2,3]",
    ];
    let d = |i: usize| docs.get(i).map_or("NULL".to_string(), |s| lit(s));
    let sql = format!(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, label VARCHAR(40) NOT NULL, \
         price NUMERIC(6,2), ratio DOUBLE PRECISION, flag BOOLEAN, made DATE, seen {datetime}, \
         data {jsonb}, doc JSON);\n\
         INSERT INTO items VALUES \
         (1, 'apple', 2.50, 2.5, TRUE, '2024-02-29', '2024-01-02 03:04:05', {}, {}),\
         (2, 'Banana', 0.99, -1.5, FALSE, '1999-12-31', '1999-12-31 23:59:59', {}, NULL),\
         (3, 'cherry', NULL, NULL, NULL, NULL, NULL, {}, NULL),\
         (4, 'date', 1.00, 0.25, TRUE, '2000-01-01', '2000-01-01 00:00:00', {}, NULL),\
         (5, 'list', NULL, NULL, NULL, NULL, NULL, {}, NULL),\
         (6, 'none', NULL, NULL, NULL, NULL, NULL, NULL, NULL);\n",
        d(0),
        lit(r#"{"b": 1, "a": [1, 2], "s": "x\u0041"}"#),
        d(1),
        d(2),
        d(3),
        d(4),
    );
    TestServer::start(b, &sql, config)
}

fn each_items(body: impl Fn(&TestServer)) {
    for b in backends() {
        body(&items(b));
    }
}

/// `path` with what a URL cannot hold as it is percent-encoded (`>`, `"`, spaces,
/// backslashes, non-ASCII); `?`, `&` and `=` are kept.
fn url(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 16);
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"?&=/,.()*:!-_~'{}$@;".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn get(s: &TestServer, path: &str) -> Resp {
    s.get(&url(path))
}

/// The body of a 200 read, as text.
fn body(s: &TestServer, path: &str) -> String {
    let r = get(s, path);
    assert_eq!(r.status, 200, "{} {path}: {}", s.backend.name(), r.text);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{path}"
    );
    r.text
}

fn ids(s: &TestServer, query: &str) -> Vec<i64> {
    s.ids(&url(&format!("/items?select=id&{query}")))
}

#[test]
fn select_json_paths() {
    each_items(|s| {
        let b = s.backend.name();
        // `->` is JSON, `->>` text; unaliased, the key is the path's last key.
        assert_eq!(
            body(
                s,
                "/items?select=id,data->name,nt:data->>name,data->nested->>k,data->tags->0,\
                 last:data->tags->-1,data->nested->deep&id=lte.3"
            ),
            r#"[{"id":1,"name":"apple","nt":"apple","k":"v","tags":"red","last":"fruit","deep":{"x":1}},{"id":2,"name":"Banana","nt":"Banana","k":"w","tags":"yellow","last":"yellow","deep":null},{"id":3,"name":"cherry","nt":"cherry","k":null,"tags":null,"last":null,"deep":null}]"#,
            "{b}"
        );
        // Numbers keep their digits, true and JSON null as such; `->>` gives their text
        // and SQL null for JSON null; a missing key or a NULL column is null.
        assert_eq!(
            body(
                s,
                "/items?select=id,data->n,nt:data->>n,data->ok,okt:data->>ok,data->price,pt:data->>price"
            ),
            r#"[{"id":1,"n":3,"nt":"3","ok":true,"okt":"true","price":1.50,"pt":"1.50"},{"id":2,"n":10,"nt":"10","ok":false,"okt":"false","price":null,"pt":null},{"id":3,"n":"7","nt":"7","ok":null,"okt":null,"price":null,"pt":null},{"id":4,"n":2.5,"nt":"2.5","ok":null,"okt":null,"price":null,"pt":null},{"id":5,"n":null,"nt":null,"ok":null,"okt":null,"price":null,"pt":null},{"id":6,"n":null,"nt":null,"ok":null,"okt":null,"price":null,"pt":null}]"#,
            "{b}"
        );
        // Array indexes, from the end too; an index into an object, or past the end, finds
        // nothing (MariaDB would read `$[0]` of an object as the object).
        assert_eq!(
            body(
                s,
                "/items?select=id,a:data->0,z:data->-1,t:data->>1,far:data->7,back:data->-9&id=in.(1,5)"
            ),
            r#"[{"id":1,"a":null,"z":null,"t":null,"far":null,"back":null},{"id":5,"a":1,"z":3,"t":"2","far":null,"back":null}]"#,
            "{b}"
        );
        // An unaliased path ending in an index is named after the last key, or the column.
        assert_eq!(
            body(s, "/items?select=data->1&id=eq.5"),
            r#"[{"data":2}]"#,
            "{b}"
        );
        // Objects and arrays as JSON (compact), or as their text with `->>`; strings with
        // escapes written one way.
        assert_eq!(
            body(
                s,
                "/items?select=data->nested,t:data->>tags,data->tags&id=eq.1"
            ),
            r#"[{"nested":{"k":"v","deep":{"x":1}},"t":"[\"red\",\"fruit\"]","tags":["red","fruit"]}]"#,
            "{b}"
        );
        assert_eq!(
            body(s, "/items?select=data->name,t:data->>name&id=eq.4"),
            r#"[{"name":"d\"ate é","t":"d\"ate é"}]"#,
            "{b}"
        );
        // A plain `json` column (kept as written by PostgreSQL): normalised all the same.
        assert_eq!(
            body(s, "/items?select=doc->a,doc->>b,doc->s,x:doc->>s&id=eq.1"),
            r#"[{"a":[1,2],"b":"1","s":"xA","x":"xA"}]"#,
            "{b}"
        );
        // Next to `*`, and as one object.
        let r = s
            .req("GET", &url("/items?select=*,data->>name&id=eq.2"))
            .header("accept", "application/vnd.pgrst.object+json")
            .send();
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(r.json()["name"], "Banana", "{b}");
        assert_eq!(r.json()["label"], "Banana", "{b}");
        // nulls=stripped leaves out what the path did not find.
        let r = s
            .req(
                "GET",
                &url("/items?select=id,data->>name,data->ok&id=in.(3,5)"),
            )
            .header("accept", "application/vnd.pgrst.array+json;nulls=stripped")
            .send();
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(r.text, r#"[{"id":3,"name":"cherry"},{"id":5}]"#, "{b}");
        // CSV: text unquoted, JSON as its text.
        let r = s
            .req(
                "GET",
                &url("/items?select=id,data->>name,data->tags&id=in.(1,6)"),
            )
            .header("accept", "text/csv")
            .send();
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(
            r.text, "id,name,tags\n1,apple,\"[\"\"red\"\",\"\"fruit\"\"]\"\n6,,",
            "{b}"
        );
    });
}

#[test]
fn filter_on_json_paths() {
    each_items(|s| {
        let b = s.backend.name();
        let cases: &[(&str, &[i64])] = &[
            // `->>` compares text.
            ("data->>name=eq.apple", &[1]),
            ("data->>n=eq.3", &[1]),
            ("data->>n=eq.7", &[3]),
            ("data->>n=gt.3", &[3]),
            ("data->>name=not.eq.apple", &[2, 3, 4]),
            ("data->>name=isdistinct.apple", &[2, 3, 4, 5, 6]),
            ("data->>name=in.(apple,cherry)", &[1, 3]),
            ("data->>name=like.*an*", &[2]),
            ("data->>name=ilike.b*", &[2]),
            ("data->>name=match.^c", &[3]),
            ("data->>name=imatch.^C", &[3]),
            ("data->>name=eq(any).{apple,Banana}", &[1, 2]),
            ("data->>name=like(all).{*a*,*e*}", &[1, 4]),
            ("data->nested->>k=eq.w", &[2]),
            ("data->>ok=eq.true", &[1]),
            // `->` compares JSON: numbers as numbers, strings in double quotes, and a
            // value of another type by PostgreSQL's order of jsonb types (null < string <
            // number < boolean < array < object).
            ("data->n=gt.3", &[2]),
            ("data->n=gte.2.5", &[1, 2, 4]),
            ("data->n=lt.3", &[3, 4]),
            ("data->n=eq.7", &[]),
            ("data->n=eq.\"7\"", &[3]),
            ("data->n=eq.10.0", &[2]),
            ("data->n=neq.3", &[2, 3, 4]),
            ("data->n=in.(3,10)", &[1, 2]),
            ("data->n=isdistinct.3", &[2, 3, 4, 5, 6]),
            ("data->ok=eq.true", &[1]),
            ("data->ok=eq.false", &[2]),
            ("data->ok=eq.null", &[3]),
            ("data->ok=gt.null", &[1, 2]),
            ("data->name=eq.\"d\\\"ate é\"", &[4]),
            ("data->name=gt.\"b\"", &[3, 4]),
            ("data->tags->0=eq.\"red\"", &[1]),
            ("data->nested->deep->x=eq.1", &[1]),
            // SQL NULL: a missing key (or a NULL column); `->>` also JSON null.
            ("data->ok=is.null", &[4, 5, 6]),
            ("data->>ok=is.null", &[3, 4, 5, 6]),
            ("data->ok=not.is.null", &[1, 2, 3]),
            // Array indexes.
            ("data->>0=eq.1", &[5]),
            ("data->-1=eq.3", &[5]),
            ("data->0=gte.1", &[5]),
            ("data->tags->-1=eq.\"fruit\"", &[1]),
            // A plain `json` column (PostgreSQL has no `=` on `json`: compared as jsonb).
            ("doc->b=eq.1", &[1]),
            ("doc->>s=eq.xA", &[1]),
            ("doc->a->1=gt.1", &[1]),
            // In logic trees.
            ("or=(data->>name.eq.apple,data->n.gt.5)", &[1, 2]),
            ("and=(data->ok.is.null,data->>name.not.eq.list)", &[4]),
            ("not.or=(data->n.gte.3,data->n.is.null)", &[3, 4]),
            ("or=(data->>name.eq.\"a,b\",data->>name.eq.date)", &[]),
        ];
        for (q, want) in cases {
            assert_eq!(ids(s, q), *want, "{b}: {q}");
        }
    });
}

#[test]
fn order_by_json_paths() {
    each_items(|s| {
        let b = s.backend.name();
        let cases: &[(&str, &[i64])] = &[
            // Text: byte order, NULLs last ascending and first descending.
            ("order=data->>name", &[2, 1, 3, 4, 5, 6]),
            ("order=data->>name.desc", &[5, 6, 4, 3, 1, 2]),
            ("order=data->>n", &[2, 4, 1, 3, 5, 6]),
            // JSON: by type (a string before any number), numbers by value.
            ("order=data->n", &[3, 4, 1, 2, 5, 6]),
            ("order=data->n.desc", &[5, 6, 2, 1, 4, 3]),
            ("order=data->n.desc.nullslast", &[2, 1, 4, 3, 5, 6]),
            ("order=data->ok.nullsfirst,id.desc", &[6, 5, 4, 3, 2, 1]),
            ("order=data->-1.desc,id", &[1, 2, 3, 4, 6, 5]),
            ("order=data->ok,data->>name", &[3, 2, 1, 4, 5, 6]),
        ];
        for (q, want) in cases {
            assert_eq!(ids(s, q), *want, "{b}: {q}");
        }
    });
}

#[test]
fn json_paths_in_writes() {
    each_items(|s| {
        let b = s.backend.name();
        // PATCH filtered by a path, returning paths.
        let r = s
            .req(
                "PATCH",
                &url("/items?data->>name=eq.Banana&select=id,label,data->>name"),
            )
            .header("prefer", "return=representation")
            .json(&json!({"label": "B"}))
            .send();
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(r.text, r#"[{"id":2,"label":"B","name":"Banana"}]"#, "{b}");
        // A path filter counts as a filter for an unfiltered-write check.
        let r = s
            .req("PATCH", &url("/items?data->n=gt.100"))
            .json(&json!({"label": "none"}))
            .send();
        assert_eq!(r.status, 204, "{b}: {}", r.text);
        // DELETE by a JSON comparison.
        let r = s
            .req("DELETE", &url("/items?data->n=gte.3&select=id,n:data->n"))
            .header("prefer", "return=representation")
            .send();
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(r.text, r#"[{"id":1,"n":3},{"id":2,"n":10}]"#, "{b}");
        assert_eq!(ids(s, "order=id"), [3, 4, 5, 6], "{b}");
        // POST answering with paths and casts.
        let r = s
            .req(
                "POST",
                &url("/items?select=id::text,data->tags->0,data->>n::int"),
            )
            .header("prefer", "return=representation")
            .json(&json!({"id": 7, "label": "new", "data": {"n": "42", "tags": ["a"]}}))
            .send();
        assert_eq!(r.status, 201, "{b}: {}", r.text);
        assert_eq!(r.text, r#"[{"id":"7","tags":"a","n":42}]"#, "{b}");
        // The filters of a write are checked as a read's are.
        let r = s.req("DELETE", &url("/items?label->>x=eq.1")).send();
        r.assert_error(400, "bad_filter");
        assert_eq!(ids(s, "order=id"), [3, 4, 5, 6, 7], "{b}");
    });
}

#[test]
fn casts_in_select() {
    each_items(|s| {
        let b = s.backend.name();
        // Decimals round half away from zero, floats half to even, as PostgreSQL does;
        // text is PostgreSQL's text form.
        assert_eq!(
            body(
                s,
                "/items?select=id::text,p:price::float,pt:price::text,pi:price::int,r:ratio::int,\
                 rn:ratio::numeric,f:flag::text,fi:flag::int,m:made::text,sd:seen::date,\
                 st:seen::text,l:label::int,lj:label::json&id=in.(1,2,3)"
            ),
            r#"[{"id":"1","p":2.5,"pt":"2.50","pi":3,"r":2,"rn":2.5,"f":"true","fi":1,"m":"2024-02-29","sd":"2024-01-02","st":"2024-01-02 03:04:05","l":null,"lj":null},{"id":"2","p":0.99,"pt":"0.99","pi":1,"r":-2,"rn":-1.5,"f":"false","fi":0,"m":"1999-12-31","sd":"1999-12-31","st":"1999-12-31 23:59:59","l":null,"lj":null},{"id":"3","p":null,"pt":null,"pi":null,"r":null,"rn":null,"f":null,"fi":null,"m":null,"sd":null,"st":null,"l":null,"lj":null}]"#,
            "{b}"
        );
        // Casts of JSON path values: `->>` text parsed, `->` JSON read.
        assert_eq!(
            body(
                s,
                "/items?select=id,data->>n::int,nf:data->n::float,nt:data->n::text,\
                 ok:data->ok::boolean,okt:data->ok::text,j:data->>nested::json,\
                 pr:data->price::numeric,tags:data->tags::text&id=lte.4"
            ),
            r#"[{"id":1,"n":3,"nf":3,"nt":"3","ok":true,"okt":"true","j":{"k":"v","deep":{"x":1}},"pr":1.50,"tags":"[\"red\",\"fruit\"]"},{"id":2,"n":10,"nf":10,"nt":"10","ok":false,"okt":"false","j":{"k":"w"},"pr":null,"tags":"[\"yellow\"]"},{"id":3,"n":7,"nf":7,"nt":"\"7\"","ok":null,"okt":"null","j":null,"pr":null,"tags":"[]"},{"id":4,"n":null,"nf":2.5,"nt":"2.5","ok":null,"okt":null,"j":null,"pr":null,"tags":null}]"#,
            "{b}"
        );
        // Type names as PostgreSQL spells them, any case.
        assert_eq!(
            body(
                s,
                "/items?select=a:id::INTEGER,b:id::bigint,c:id::double precision,d:id::decimal,e:id::varchar,f:label::jsonb&id=eq.1"
            ),
            r#"[{"a":1,"b":1,"c":1,"d":1,"e":"1","f":null}]"#,
            "{b}"
        );
        // CSV writes the cast values.
        let r = s
            .req(
                "GET",
                &url("/items?select=id::text,p:price::float,f:flag::text&id=in.(1,3)"),
            )
            .header("accept", "text/csv")
            .send();
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(r.text, "id,p,f\n1,2.5,true\n3,,", "{b}");
        // Unknown types: 400 naming the type.
        let r = get(s, "/items?select=id::money");
        let e = r.assert_error(400, "bad_filter");
        assert!(
            e["message"].as_str().is_some_and(|m| m.contains("'money'")),
            "{b}: {e}"
        );
        assert!(
            e["details"].as_str().is_some_and(|h| h.contains("numeric")),
            "{b}: {e}"
        );
        get(s, "/items?select=data->>n::int4range").assert_error(400, "bad_filter");
    });
}

#[test]
fn bad_json_paths_are_400s() {
    each_items(|s| {
        let b = s.backend.name();
        // A path on a column that does not hold JSON names the column.
        for path in [
            "/items?select=label->a",
            "/items?label->>a=eq.x",
            "/items?order=label->a",
            "/items?or=(label->>a.eq.x)",
        ] {
            let e = get(s, path).assert_error(400, "bad_filter");
            let msg = e["message"].as_str().unwrap_or_default();
            assert!(
                msg.contains("'label'") && msg.contains("not JSON"),
                "{b} {path}: {e}"
            );
        }
        get(s, "/items?select=nope->a").assert_error(400, "unknown_column");
        get(s, "/items?nope->>a=eq.1").assert_error(400, "unknown_column");
        // `->>` gives text: nothing can follow it.
        let e = get(s, "/items?select=data->>a->b").assert_error(400, "bad_filter");
        assert!(
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("last step")),
            "{b}: {e}"
        );
        // A `->` comparison needs a JSON scalar.
        let e = get(s, "/items?data->name=eq.apple").assert_error(400, "invalid_value");
        assert!(
            e["details"].as_str().is_some_and(|d| d.contains("->>")),
            "{b}: {e}"
        );
        get(s, "/items?data->tags=eq.[\"red\",\"fruit\"]").assert_error(400, "bad_filter");
        // Text operators need `->>`; is.true needs a boolean column.
        get(s, "/items?data->name=like.a*").assert_error(400, "bad_filter");
        get(s, "/items?data->ok=is.true").assert_error(400, "bad_filter");
        // Syntax, as PostgREST words it.
        let e = get(s, "/items?select=data->>--34").assert_error(400, "bad_filter");
        assert_eq!(
            e["message"], "\"failed to parse select parameter (data->>--34)\" (line 1, column 9)",
            "{b}"
        );
        get(s, "/items?data->a.b=eq.1").assert_error(400, "bad_filter");
        get(s, "/items?columns=data->a").assert_error(400, "bad_filter");
    });
}

#[test]
fn paths_and_casts_inside_embeds_are_refused() {
    each_backend(|s| {
        let b = s.backend.name();
        for path in [
            "/albums?select=id,artists(name::text)",
            "/albums?select=id,artists(name->a)",
            "/albums?select=id,...artists(name::text)",
            "/albums?select=id,artists(name)&order=artists(name->a)",
        ] {
            let e = get(s, path).assert_error(400, "bad_filter");
            assert!(
                e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("embedded")),
                "{b} {path}: {e}"
            );
        }
        // Casts at the top level of a read with embeds are fine.
        let r = get(s, "/albums?select=id::text,artists(name)&id=eq.1");
        assert_eq!(r.status, 200, "{b}: {}", r.text);
        assert_eq!(r.text, r#"[{"id":"1","artists":{"name":"AC/DC"}}]"#, "{b}");
        // And a cast of a music column.
        let r = get(
            s,
            "/tracks?select=id,unit_price::text,milliseconds::float&id=eq.6",
        );
        assert_eq!(
            r.text, r#"[{"id":6,"unit_price":"1.29","milliseconds":295680}]"#,
            "{b}"
        );
    });
}

/// With aggregates on: a cast of a grouping column is converted like any other, an
/// aggregate's own cast is the database's; a JSON path cannot be grouped or aggregated
/// yet, and `cs`/`cd`/`ov` take the JSON column, not a path: each a clear 400.
#[test]
fn paths_and_casts_beside_aggregates_and_containment() {
    for b in backends() {
        let s = items_with(b, "[server]\naggregates = true\n[services.items]\n");
        let b = b.name();
        assert_eq!(
            body(
                &s,
                "/items?select=f:flag::int,total:price.sum(),n:count()::text&id=lte.4&order=flag"
            ),
            r#"[{"f":0,"total":0.99,"n":"1"},{"f":1,"total":3.50,"n":"2"},{"f":null,"total":null,"n":"1"}]"#,
            "{b}"
        );
        assert_eq!(
            body(&s, "/items?select=made::text,count()&id=lte.2&order=made"),
            r#"[{"made":"1999-12-31","count":1},{"made":"2024-02-29","count":1}]"#,
            "{b}"
        );
        for (path, words) in [
            ("/items?select=data->>name,count()", "cannot be grouped"),
            ("/items?select=data->n.sum()", "aggregate of a JSON path"),
            (
                "/items?select=flag,count()&order=data->>name",
                "not a JSON path",
            ),
            (
                "/items?data->tags=cs.[\"red\"]",
                "not supported on a JSON path",
            ),
        ] {
            let r = get(&s, path);
            assert_eq!(r.status, 400, "{b} {path}: {}", r.text);
            let e = r.json();
            let text = format!("{} {}", e["message"], e["details"]);
            assert!(text.contains(words), "{b} {path}: {e}");
        }
        // Containment on the JSON column itself still works beside paths.
        assert_eq!(
            body(
                &s,
                "/items?select=id,data->>name&data=cs.{\"tags\":[\"red\"]}"
            ),
            r#"[{"id":1,"name":"apple"}]"#,
            "{b}"
        );
    }
}
