//! Aggregate functions in `select` (SPEC 4.2, reference/postgrest-behaviour.md §6), on
//! every backend: `count()`, `sum()`, `avg()`, `min()`, `max()`, grouping by the other
//! selected columns, aliases, casts of the result, filters before aggregation, order on
//! an aggregate or a grouping column, paging and counts of groups, aggregates inside
//! embeds, exact decimals, errors, and the `aggregates` switch (server-wide and per
//! service, off by default).

mod common;

use common::*;
use serde_json::{json, Value};

/// The music fixture with aggregates on (server-wide), and `extra` services.toml text.
fn server(b: Backend, config: &str) -> TestServer {
    TestServer::fixture(b, "music", config)
}

fn on(b: Backend) -> TestServer {
    server(b, &format!("[server]\naggregates = true\n{MUSIC_TOML}"))
}

fn each_on(body: impl Fn(&TestServer)) {
    for b in backends() {
        body(&on(b));
    }
}

fn get(s: &TestServer, path: &str) -> Value {
    let r = s.get(path);
    assert_eq!(r.status, 200, "{} {path}: {}", s.backend.name(), r.text);
    r.json()
}

/// The body's text, for exact decimals (serde_json would read them as numbers).
fn text(s: &TestServer, path: &str) -> String {
    let r = s.get(path);
    assert_eq!(r.status, 200, "{} {path}: {}", s.backend.name(), r.text);
    r.text
}

#[test]
fn count_sum_avg_min_max_over_all_rows() {
    each_on(|s| {
        assert_eq!(get(s, "/tracks?select=count()"), json!([{"count": 8}]));
        assert_eq!(get(s, "/tracks?select=n:count()"), json!([{"n": 8}]));
        // Exact bytes: integers stay integers, decimals keep their digits.
        assert_eq!(
            text(
                s,
                "/tracks?select=ms:milliseconds.sum(),price:unit_price.sum()"
            ),
            r#"[{"ms":2246622,"price":8.82}]"#
        );
        // PostgreSQL's avg: numeric, at least 16 significant digits (its division's
        // scale), the same digits on every backend.
        assert_eq!(
            text(
                s,
                "/tracks?select=ms:milliseconds.avg(),price:unit_price.avg()"
            ),
            r#"[{"ms":280827.750000000000,"price":1.10250000000000000000}]"#
        );
        assert_eq!(
            text(
                s,
                "/tracks?select=lo:unit_price.min(),hi:unit_price.max(),first:name.min(),longest:milliseconds.max()"
            ),
            r#"[{"lo":0.99,"hi":1.29,"first":"Balls to the Wall","longest":343719}]"#
        );
        // `col.count()` counts the column's non-NULL values, `count()` the rows.
        assert_eq!(
            get(s, "/tracks?select=rows:count(),genres:genre.count()"),
            json!([{"rows": 8, "genres": 7}])
        );
        // PostgREST's legacy `select=count`.
        assert_eq!(get(s, "/tracks?select=count"), json!([{"count": 8}]));
    });
}

#[test]
fn other_selected_columns_are_the_grouping() {
    each_on(|s| {
        // Without an order, groups come in the order of their grouping columns (NULL last).
        assert_eq!(
            text(
                s,
                "/tracks?select=genre,count(),ms:milliseconds.sum(),price:unit_price.sum()"
            ),
            concat!(
                r#"[{"genre":"Alternative","count":2,"ms":516380,"price":2.58},"#,
                r#"{"genre":"Metal","count":2,"ms":573181,"price":1.98},"#,
                r#"{"genre":"Rock","count":3,"ms":861381,"price":2.97},"#,
                r#"{"genre":null,"count":1,"ms":295680,"price":1.29}]"#
            )
        );
        // Aliased grouping columns; several grouping columns.
        assert_eq!(
            get(
                s,
                "/tracks?select=g:genre,price:unit_price,count()&genre=in.(Rock,Alternative)"
            ),
            json!([
                {"g": "Alternative", "price": 1.29, "count": 2},
                {"g": "Rock", "price": 0.99, "count": 3}
            ])
        );
        // Filters apply before aggregation.
        assert_eq!(
            get(
                s,
                "/tracks?select=album_id,count()&milliseconds=gt.250000&album_id=lte.3"
            ),
            json!([{"album_id": 1, "count": 1}, {"album_id": 2, "count": 1}, {"album_id": 3, "count": 1}])
        );
        assert_eq!(
            get(s, "/tracks?select=count()&genre=eq.Jazz"),
            json!([{"count": 0}])
        );
        assert_eq!(
            get(s, "/tracks?select=milliseconds.sum()&genre=eq.Jazz"),
            json!([{"sum": null}])
        );
        // `*` beside an aggregate groups by every column, as PostgREST expands it.
        assert_eq!(
            get(s, "/artists?select=*,count()&id=lte.2"),
            json!([{"id": 1, "name": "AC/DC", "count": 1}, {"id": 2, "name": "Accept", "count": 1}])
        );
        // CSV.
        let r = s
            .req("GET", "/tracks?select=genre,count()&genre=not.is.null")
            .header("Accept", "text/csv")
            .send();
        assert_eq!(r.status, 200);
        assert_eq!(r.text, "genre,count\nAlternative,2\nMetal,2\nRock,3");
    });
}

#[test]
fn order_paging_and_counts_of_groups() {
    each_on(|s| {
        // By an aggregate's output name, then the grouping columns.
        assert_eq!(
            get(s, "/tracks?select=genre,n:count()&order=n.desc"),
            json!([
                {"genre": "Rock", "n": 3},
                {"genre": "Alternative", "n": 2},
                {"genre": "Metal", "n": 2},
                {"genre": null, "n": 1}
            ])
        );
        assert_eq!(
            get(
                s,
                "/tracks?select=album_id,sum:milliseconds.sum()&order=sum.asc&limit=2"
            ),
            json!([{"album_id": 4, "sum": 230619}, {"album_id": 5, "sum": 295680}])
        );
        // By the function's name when there is no alias; by a grouping column.
        assert_eq!(
            get(
                s,
                "/tracks?select=genre,count()&order=count.asc,genre.desc&limit=2"
            ),
            json!([{"genre": null, "count": 1}, {"genre": "Metal", "count": 2}])
        );
        assert_eq!(
            get(
                s,
                "/tracks?select=genre,count()&order=genre.desc.nullslast&limit=1"
            ),
            json!([{"genre": "Rock", "count": 3}])
        );
        // limit/offset page the groups; Prefer: count=exact counts them.
        let r = s
            .req("GET", "/tracks?select=genre,count()&limit=2&offset=1")
            .header("Prefer", "count=exact")
            .send();
        assert_eq!(r.status, 206, "{}", r.text);
        assert_eq!(r.header("content-range"), Some("1-2/4"));
        assert_eq!(
            r.json(),
            json!([{"genre": "Metal", "count": 2}, {"genre": "Rock", "count": 3}])
        );
        let r = s
            .req("GET", "/tracks?select=count()")
            .header("Prefer", "count=exact")
            .send();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-range"), Some("0-0/1"));
        let r = s
            .req("GET", "/tracks?select=album_id,count()&album_id=gt.2")
            .header("Prefer", "count=planned")
            .send();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-range"), Some("0-3/4"), "{}", r.text);
        let r = s.get("/tracks?select=genre,count()&limit=3");
        assert_eq!(r.header("content-range"), Some("0-2/*"));
        assert!(r.header("link").is_some_and(|l| l.contains("offset=3")));
    });
}

#[test]
fn casts_of_the_result() {
    each_on(|s| {
        assert_eq!(
            text(
                s,
                "/tracks?select=c:count()::text,total:unit_price.sum()::float,ms:milliseconds.avg()::int,p:unit_price.avg()::numeric"
            ),
            r#"[{"c":"8","total":8.82,"ms":280828,"p":1.10250000000000000000}]"#
        );
        assert_eq!(
            get(
                s,
                "/tracks?select=genre,s:milliseconds.sum()::text&genre=eq.Rock"
            ),
            json!([{"genre": "Rock", "s": "861381"}])
        );
        assert_eq!(
            text(s, "/tracks?select=p:unit_price.max()::text"),
            r#"[{"p":"1.29"}]"#
        );
    });
}

#[test]
fn aggregates_inside_embeds() {
    each_on(|s| {
        // To-many: one object per group; without grouping one object, even with no rows.
        assert_eq!(
            text(
                s,
                "/albums?select=title,tracks(milliseconds.sum())&id=in.(1,6,7)"
            ),
            concat!(
                r#"[{"title":"For Those About To Rock","tracks":[{"sum":549381}]},"#,
                r#"{"title":"Audioslave","tracks":[{"sum":516380}]},"#,
                r#"{"title":"Unreleased Demos","tracks":[{"sum":null}]}]"#
            )
        );
        assert_eq!(
            get(s, "/artists?select=name,albums(count())&order=id"),
            json!([
                {"name": "AC/DC", "albums": [{"count": 2}]},
                {"name": "Accept", "albums": [{"count": 2}]},
                {"name": "Aerosmith", "albums": [{"count": 2}]},
                {"name": "Audioslave", "albums": [{"count": 1}]},
                {"name": "Crosby, Stills and Nash", "albums": [{"count": 0}]}
            ])
        );
        // Exact decimals and averages inside the embedded JSON.
        assert_eq!(
            text(
                s,
                "/albums?select=id,tracks(n:count(),price:unit_price.sum(),avg:unit_price.avg(),hi:milliseconds.max())&id=in.(1,6)"
            ),
            concat!(
                r#"[{"id":1,"tracks":[{"n":2,"price":1.98,"avg":0.99000000000000000000,"hi":343719}]},"#,
                r#"{"id":6,"tracks":[{"n":2,"price":2.58,"avg":1.29000000000000000000,"hi":294000}]}]"#
            )
        );
        // Through a junction.
        assert_eq!(
            text(s, "/playlists?select=name,tracks(count(),unit_price.sum())"),
            concat!(
                r#"[{"name":"Music","tracks":[{"count":3,"sum":3.27}]},"#,
                r#"{"name":"Heavy","tracks":[{"count":2,"sum":1.98}]},"#,
                r#"{"name":"Empty","tracks":[{"count":0,"sum":null}]}]"#
            )
        );
        // Grouped inside the embed, ordered and paged per parent.
        assert_eq!(
            get(
                s,
                "/playlists?select=name,tracks(genre,count())&tracks.order=genre"
            ),
            json!([
                {"name": "Music", "tracks": [{"genre": "Alternative", "count": 1}, {"genre": "Rock", "count": 2}]},
                {"name": "Heavy", "tracks": [{"genre": "Metal", "count": 2}]},
                {"name": "Empty", "tracks": []}
            ])
        );
        assert_eq!(
            get(
                s,
                "/artists?select=name,albums(year,n:count())&albums.order=n.desc,year.desc&albums.limit=1&id=in.(1,3)"
            ),
            json!([
                {"name": "AC/DC", "albums": [{"year": 1981, "n": 1}]},
                {"name": "Aerosmith", "albums": [{"year": null, "n": 1}]}
            ])
        );
        // Filters of the embedded rows apply before aggregation; to-one.
        assert_eq!(
            get(
                s,
                "/albums?select=title,tracks(genre,ms:milliseconds.sum())&tracks.milliseconds=gt.300000&id=lte.3"
            ),
            json!([
                {"title": "For Those About To Rock", "tracks": [{"genre": "Rock", "ms": 343719}]},
                {"title": "Back in Black", "tracks": [{"genre": "Rock", "ms": 312000}]},
                {"title": "Balls to the Wall", "tracks": [{"genre": "Metal", "ms": 342562}]}
            ])
        );
        assert_eq!(
            get(s, "/albums?select=title,artists(count())&id=eq.1"),
            json!([{"title": "For Those About To Rock", "artists": {"count": 1}}])
        );
    });
}

#[test]
fn bad_aggregates_are_400_naming_what_is_wrong() {
    each_on(|s| {
        let e = s
            .get("/tracks?select=name.sum()")
            .assert_error(400, "bad_filter");
        let m = e["message"].as_str().unwrap_or_default();
        assert!(m.contains("sum()") && m.contains("'name'"), "{m}");
        let e = s
            .get("/tracks?select=genre.avg()")
            .assert_error(400, "bad_filter");
        assert!(e["message"].as_str().unwrap_or_default().contains("avg()"));
        s.get("/tracks?select=nope.sum()")
            .assert_error(400, "unknown_column");
        let e = s
            .get("/tracks?select=count()::date")
            .assert_error(400, "bad_filter");
        assert!(e["message"].as_str().unwrap_or_default().contains("date"));
        let e = s
            .get("/tracks?select=milliseconds.total()")
            .assert_error(400, "bad_filter");
        assert!(e["details"]
            .as_str()
            .unwrap_or_default()
            .contains("aggregate function"));
        // Two aggregates under one name.
        let e = s
            .get("/tracks?select=milliseconds.sum(),unit_price.sum()")
            .assert_error(400, "bad_filter");
        assert!(e["message"].as_str().unwrap_or_default().contains("'sum'"));
        // Ordering by a column that is aggregated, not grouped.
        let e = s
            .get("/tracks?select=genre,count()&order=milliseconds")
            .assert_error(400, "bad_filter");
        assert!(e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("milliseconds"));
        // Beside an embed; in a write's answer.
        s.get("/albums?select=count(),artists(name)")
            .assert_error(400, "bad_filter");
        s.post("/artists?select=count()", &json!({"id": 90, "name": "X"}))
            .assert_error(400, "bad_filter");
        s.post("/artists?select=count", &json!({"id": 90, "name": "X"}))
            .assert_error(400, "bad_filter");
        assert_eq!(get(s, "/artists?id=eq.90"), json!([]));
    });
}

#[test]
fn aggregates_are_off_unless_configured() {
    for b in backends() {
        // Off by default, as PostgREST's db-aggregates-enabled.
        let s = TestServer::music(b);
        for path in [
            "/tracks?select=count()",
            "/tracks?select=genre,milliseconds.sum()",
            "/albums?select=title,tracks(count())",
        ] {
            let e = s.get(path).assert_error(400, "aggregates_not_allowed");
            assert_eq!(e["message"], "Use of aggregate functions is not allowed");
        }
        // PostgREST's legacy counts are not aggregates.
        assert_eq!(get(&s, "/tracks?select=count"), json!([{"count": 8}]));
        assert_eq!(
            get(&s, "/artists?select=name,albums(count)&id=eq.1"),
            json!([{"name": "AC/DC", "albums": [{"count": 2}]}])
        );
        drop(s);
        // On for the server, off for one service; off for the server, on for one.
        let s = server(
            b,
            &MUSIC_TOML.replace(
                "[services.artists]",
                "[server]\naggregates = true\n[services.artists]\naggregates = false",
            ),
        );
        s.get("/artists?select=count()")
            .assert_error(400, "aggregates_not_allowed");
        assert_eq!(get(&s, "/albums?select=count()"), json!([{"count": 7}]));
        // An embed is aggregated under its own service's setting.
        s.get("/albums?select=title,artists(count())")
            .assert_error(400, "aggregates_not_allowed");
        drop(s);
        let s = server(
            b,
            &MUSIC_TOML.replace("[services.tracks]", "[services.tracks]\naggregates = true"),
        );
        assert_eq!(get(&s, "/tracks?select=count()"), json!([{"count": 8}]));
        assert_eq!(
            get(&s, "/albums?select=id,tracks(count())&id=eq.6"),
            json!([{"id": 6, "tracks": [{"count": 2}]}])
        );
        s.get("/albums?select=count()")
            .assert_error(400, "aggregates_not_allowed");
    }
}

#[test]
fn an_aggregate_is_bounded_by_the_request_timeout() {
    for b in backends() {
        let sql = format!("{}\n{}", fixture("music", b), fixture("slow", b));
        let toml = format!(
            "[server]\nrequest_timeout_ms = 700\naggregates = true\n{MUSIC_TOML}\n[services.slow]\nprimary_key = [\"n\"]\nmethods = [\"GET\"]\n"
        );
        let s = TestServer::start(b, &sql, &toml);
        // MariaDB counts the view's rows without calling its SLEEP(): aggregate that.
        let path = match b {
            Backend::MySql => "/slow?select=z.max()",
            _ => "/slow?select=count()",
        };
        let v = s.get(path).assert_error(504, "timeout");
        assert_eq!(v["message"], "the request took longer than 700 ms");
        assert_eq!(get(&s, "/tracks?select=count()"), json!([{"count": 8}]));
    }
}
