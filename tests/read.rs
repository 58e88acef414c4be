//! Reading: `GET`/`HEAD` on collections and items (SPEC §4.1, §4.2, §4.4, §4.5, §3), on
//! the music fixture (reference/postgrest-behaviour.md §11) and a type-mapping fixture.

mod common;
mod helpers;

use common::*;
use helpers::*;
use serde_json::{json, Value};

const JSON_CT: &str = "application/json; charset=utf-8";

// ---------------------------------------------------------------------------------------------
// select

#[test]
fn eq_filter_returns_rows_with_content_range() {
    each_backend(|s| {
        let r = s.get("/artists?id=eq.2");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!([{"id": 2, "name": "Accept"}]));
        assert_eq!(r.header("content-type"), Some(JSON_CT));
        assert_eq!(r.header("content-range"), Some("0-0/*"));
    });
}

#[test]
fn select_columns_and_aliases() {
    each_backend(|s| {
        let r = s.get("/artists?select=artistName:name&id=eq.1");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!([{"artistName": "AC/DC"}]));

        let r = s.get("/artists?select=id,title:name&id=eq.1");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!([{"id": 1, "title": "AC/DC"}]));
        // Output keys follow the select order.
        assert_eq!(r.text, r#"[{"id":1,"title":"AC/DC"}]"#);

        let r = s.get("/artists?select=name,id&id=eq.1");
        assert_eq!(r.text, r#"[{"name":"AC/DC","id":1}]"#);

        // Empty select and `*` mean every column.
        let r = s.get("/artists?select=&id=eq.1");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!([{"id": 1, "name": "AC/DC"}]));
        let r = s.get("/artists?select=*&id=eq.1");
        assert_eq!(r.json(), json!([{"id": 1, "name": "AC/DC"}]));
    });
}

#[test]
fn select_unknown_column_is_400_naming_it() {
    each_backend(|s| {
        let v = s
            .get("/artists?select=id,nope")
            .assert_error(400, "unknown_column");
        assert!(v["message"].as_str().unwrap().contains("nope"), "{v}");
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

/// The body an unknown column `nope` gets must equal the one `genre` (hidden) gets, up to
/// the name itself.
fn same_as_nonexistent(s: &TestServer, hidden_url: &str, missing_url: &str) {
    let h = s.get(&u(hidden_url));
    let m = s.get(&u(missing_url));
    assert_eq!(h.status, m.status, "{} vs {}", h.text, m.text);
    assert!(h.status >= 400, "{}", h.text);
    assert_eq!(
        h.text.replace("genre", "nope"),
        m.text,
        "{hidden_url} vs {missing_url}"
    );
}

#[test]
fn hidden_column_behaves_like_a_nonexistent_one() {
    for b in backends() {
        let s = music_with(b, HIDDEN_TOML);
        s.get("/tracks?select=genre")
            .assert_error(400, "unknown_column");
        same_as_nonexistent(&s, "/tracks?select=genre", "/tracks?select=nope");
        same_as_nonexistent(&s, "/tracks?select=id,g:genre", "/tracks?select=id,g:nope");
        same_as_nonexistent(&s, "/tracks?genre=eq.Rock", "/tracks?nope=eq.Rock");
        same_as_nonexistent(&s, "/tracks?genre=is.null", "/tracks?nope=is.null");
        same_as_nonexistent(
            &s,
            "/tracks?or=(genre.eq.Rock,id.eq.1)",
            "/tracks?or=(nope.eq.Rock,id.eq.1)",
        );
        same_as_nonexistent(&s, "/tracks?order=genre", "/tracks?order=nope");
        same_as_nonexistent(&s, "/tracks/1?select=genre", "/tracks/1?select=nope");
        // Never served.
        let r = s.get("/tracks?id=eq.1");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.json(),
            json!([{"id": 1, "name": "For Those About To Rock (We Salute You)", "album_id": 1,
                    "milliseconds": 343719, "unit_price": 0.99}])
        );
        assert!(!r.text.contains("genre"));
        let r = s.get("/tracks/3");
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(
            !r.text.contains("genre") && !r.text.contains("Rock\""),
            "{}",
            r.text
        );
        let r = s
            .req("GET", "/tracks?id=eq.1&select=*")
            .header("accept", "text/csv")
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r
            .text
            .starts_with("id,name,album_id,milliseconds,unit_price\n"));
        // Not documented either.
        let r = s.get("/_schema/tracks");
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(!r.text.contains("genre"), "{}", r.text);
    }
}

// ---------------------------------------------------------------------------------------------
// Filters

#[test]
fn comparison_operators() {
    each_backend(|s| {
        assert_eq!(
            get_ids(s, "/artists?id=not.eq.2&select=id&order=id"),
            [1, 3, 4, 5]
        );
        let r = s.get("/artists?id=not.eq.2&select=id&order=id");
        assert_eq!(r.header("content-range"), Some("0-3/*"));
        // NULL is never equal or unequal to anything.
        assert_eq!(
            get_ids(s, "/albums?year=neq.1980&select=id&order=id"),
            [1, 3, 4, 5, 6]
        );
        assert_eq!(get_ids(s, "/albums?year=gt.1983&select=id"), [5, 6]);
        assert_eq!(get_ids(s, "/albums?year=gte.1983&select=id"), [3, 5, 6]);
        assert_eq!(get_ids(s, "/albums?year=lt.1981&select=id"), [2]);
        assert_eq!(get_ids(s, "/albums?year=lte.1981&select=id"), [1, 2]);
        assert_eq!(get_ids(s, "/artists?name=gt.B&select=id"), [5]);
        assert_eq!(get_ids(s, "/artists?name=eq.AC/DC&select=id"), [1]);
        // The value is everything after `eq.`: dots are allowed.
        assert_eq!(
            get_ids(s, "/tracks?unit_price=eq.1.29&select=id&order=id"),
            [6, 7, 8]
        );
        assert_eq!(
            get_ids(s, "/tracks?unit_price=lt.1&select=id"),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(get_ids(s, "/artists?id=eq.999"), Vec::<i64>::new());
    });
}

#[test]
fn repeated_filters_on_one_column_are_anded() {
    each_backend(|s| {
        assert_eq!(
            get_ids(
                s,
                "/tracks?milliseconds=gte.300000&milliseconds=lte.343000&select=id&order=id"
            ),
            [3, 4]
        );
        assert_eq!(
            get_ids(s, "/albums?id=gt.1&id=lt.4&id=neq.2&select=id"),
            [3]
        );
    });
}

#[test]
fn like_is_case_sensitive_and_ilike_is_not() {
    each_backend(|s| {
        assert_eq!(get_ids(s, "/albums?title=like.*Rock*&select=id"), [1]);
        assert_eq!(
            get_ids(s, "/albums?title=like.*rock*&select=id"),
            Vec::<i64>::new()
        );
        assert_eq!(get_ids(s, "/albums?title=ilike.*rock*&select=id"), [1]);
        assert_eq!(get_ids(s, "/albums?title=ilike.*ROCK*&select=id"), [1]);
        // `%` works as the wildcard too.
        assert_eq!(get_ids(s, "/albums?title=like.%25Black&select=id"), [2]);
        assert_eq!(get_ids(s, "/albums?title=ilike.back%25&select=id"), [2]);
        // Without a wildcard the pattern matches whole values only.
        assert_eq!(
            get_ids(s, "/albums?title=like.Black&select=id"),
            Vec::<i64>::new()
        );
        assert_eq!(
            get_ids(s, "/artists?name=like.A*&select=id&order=id"),
            [1, 2, 3, 4]
        );
        assert_eq!(
            get_ids(s, "/artists?name=like.a*&select=id"),
            Vec::<i64>::new()
        );
        assert_eq!(
            get_ids(s, "/artists?name=ilike.a*&select=id&order=id"),
            [1, 2, 3, 4]
        );
        assert_eq!(get_ids(s, "/artists?name=not.like.A*&select=id"), [5]);
        assert_eq!(get_ids(s, "/artists?name=not.ilike.a*&select=id"), [5]);
    });
}

#[test]
fn match_and_imatch_are_regular_expressions() {
    each_backend(|s| {
        assert_eq!(
            get_ids(s, "/artists?name=match.^A[a-z]&select=id&order=id"),
            [2, 3, 4]
        );
        assert_eq!(
            get_ids(s, "/artists?name=match.^a&select=id"),
            Vec::<i64>::new()
        );
        assert_eq!(
            get_ids(s, "/artists?name=imatch.^a[a-z]&select=id&order=id"),
            [1, 2, 3, 4]
        );
        assert_eq!(get_ids(s, "/artists?name=match.Nash$&select=id"), [5]);
        assert_eq!(get_ids(s, "/artists?name=not.match.^A&select=id"), [5]);
    });
}

#[test]
fn in_lists() {
    each_backend(|s| {
        let r = s.get("/artists?id=in.(1,3)&select=name&order=id");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!([{"name": "AC/DC"}, {"name": "Aerosmith"}]));
        assert_eq!(
            get_ids(s, "/artists?id=not.in.(1,2,3)&select=id&order=id"),
            [4, 5]
        );
        assert_eq!(get_ids(s, "/artists?id=in.()"), Vec::<i64>::new());
        assert_eq!(
            get_ids(s, "/artists?id=not.in.()&select=id"),
            [1, 2, 3, 4, 5]
        );
        // A quoted element keeps its comma.
        assert_eq!(
            get_ids(
                s,
                "/artists?name=in.(\"Crosby, Stills and Nash\",Accept)&select=id&order=id"
            ),
            [2, 5]
        );
        assert_eq!(
            get_ids(s, "/artists?name=in.(\"AC/DC\",\"Accept\")&select=id"),
            [1, 2]
        );
        // Parentheses inside a quoted element.
        assert_eq!(
            get_ids(
                s,
                "/tracks?name=in.(\"For Those About To Rock (We Salute You)\")&select=id"
            ),
            [1]
        );
        // A typed column checks every element.
        s.get(&u("/artists?id=in.(1,x)"))
            .assert_error(400, "invalid_value");
    });
}

#[test]
fn is_null_and_is_not_null() {
    each_backend(|s| {
        assert_eq!(get_ids(s, "/albums?year=is.null&select=id"), [7]);
        assert_eq!(get_ids(s, "/albums?year=is.NULL&select=id"), [7]);
        assert_eq!(
            get_ids(s, "/albums?year=not.is.null&select=id"),
            [1, 2, 3, 4, 5, 6]
        );
        assert_eq!(
            get_ids(s, "/albums?year=is.not_null&select=id"),
            [1, 2, 3, 4, 5, 6]
        );
        assert_eq!(get_ids(s, "/tracks?genre=is.null&select=id"), [6]);
        s.get("/albums?year=is.nil").assert_error(400, "bad_filter");
    });
}

#[test]
fn is_true_and_is_false_on_a_boolean_column() {
    for b in backends() {
        let s = types_server(b);
        assert_eq!(get_ids(&s, "/things?flag=is.true&select=id"), [1]);
        assert_eq!(get_ids(&s, "/things?flag=is.TRUE&select=id"), [1]);
        assert_eq!(get_ids(&s, "/things?flag=is.false&select=id"), [2]);
        assert_eq!(get_ids(&s, "/things?flag=is.null&select=id"), [3]);
        assert_eq!(get_ids(&s, "/things?flag=not.is.true&select=id"), [2, 3]);
        assert_eq!(get_ids(&s, "/things?flag=eq.true&select=id"), [1]);
        assert_eq!(get_ids(&s, "/things?flag=eq.false&select=id"), [2]);
    }
}

#[test]
fn isdistinct_treats_null_as_a_value() {
    each_backend(|s| {
        assert_eq!(
            get_ids(s, "/albums?year=isdistinct.1980&select=id&order=id"),
            [1, 3, 4, 5, 6, 7]
        );
        assert_eq!(
            get_ids(s, "/albums?year=not.isdistinct.1980&select=id"),
            [2]
        );
        assert_eq!(
            get_ids(s, "/tracks?genre=isdistinct.Rock&select=id"),
            [4, 5, 6, 7, 8]
        );
    });
}

#[test]
fn any_and_all_modifiers() {
    each_backend(|s| {
        assert_eq!(
            get_ids(
                s,
                "/tracks?genre=eq(any).{Metal,Alternative}&select=id&order=id"
            ),
            [4, 5, 7, 8]
        );
        assert_eq!(
            get_ids(s, "/artists?name=like(any).{AC*,Au*}&select=id&order=id"),
            [1, 4]
        );
        assert_eq!(
            get_ids(s, "/artists?name=like(all).{A*,*s*}&select=id&order=id"),
            [3, 4]
        );
        assert_eq!(
            get_ids(s, "/artists?name=ilike(any).{ac*,*nash}&select=id&order=id"),
            [1, 2, 5]
        );
        assert_eq!(get_ids(s, "/artists?id=gt(all).{1,3}&select=id"), [4, 5]);
        assert_eq!(get_ids(s, "/artists?id=lt(any).{2,3}&select=id"), [1, 2]);
        assert_eq!(
            get_ids(
                s,
                "/artists?name=eq(any).{\"Crosby, Stills and Nash\",Accept}&select=id"
            ),
            [2, 5]
        );
        assert_eq!(
            get_ids(s, "/artists?name=not.like(any).{AC*,Au*}&select=id"),
            [2, 3, 5]
        );
        // Empty lists: (any) matches no row, (all) every row; `eq(any).{}` once was `IN ()`.
        let none: [i64; 0] = [];
        assert_eq!(get_ids(s, "/artists?id=eq(any).{}&select=id"), none);
        assert_eq!(
            get_ids(s, "/artists?id=not.eq(any).{}&select=id&order=id"),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(
            get_ids(s, "/artists?id=gt(all).{}&select=id&order=id"),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(
            get_ids(s, "/artists?or=(id.eq(any).{},id.eq.2)&select=id"),
            [2]
        );
    });
}

#[test]
fn or_and_trees() {
    each_backend(|s| {
        assert_eq!(
            get_ids(
                s,
                "/albums?or=(year.lt.1981,year.gt.2000)&select=id&order=id"
            ),
            [2, 6]
        );
        assert_eq!(
            get_ids(
                s,
                "/albums?and=(artist_id.eq.1,or(year.eq.1980,year.is.null))&select=id"
            ),
            [2]
        );
        assert_eq!(
            get_ids(
                s,
                "/albums?not.or=(artist_id.eq.1,artist_id.eq.2)&select=id&order=id"
            ),
            [5, 6, 7]
        );
        assert_eq!(
            get_ids(
                s,
                "/artists?or=(name.eq.\"Crosby, Stills and Nash\",id.eq.1)&select=id&order=id"
            ),
            [1, 5]
        );
        // Nested and negated groups, and negated filters inside a tree.
        assert_eq!(
            get_ids(
                s,
                "/albums?or=(and(artist_id.eq.1,year.eq.1981),not.and(artist_id.neq.3,year.not.is.null))&select=id&order=id"
            ),
            [1, 5, 7]
        );
        assert_eq!(
            get_ids(
                s,
                "/albums?not.and=(artist_id.eq.1,year.gt.1980)&select=id&order=id"
            ),
            [2, 3, 4, 5, 6, 7]
        );
        assert_eq!(
            get_ids(
                s,
                "/albums?or=(title.like.*Rock*,title.ilike.*black*)&select=id&order=id"
            ),
            [1, 2]
        );
        assert_eq!(
            get_ids(
                s,
                "/artists?or=(id.in.(1,2),name.eq.Audioslave)&select=id&order=id"
            ),
            [1, 2, 4]
        );
        // A tree and column filters are ANDed; two trees too.
        assert_eq!(
            get_ids(
                s,
                "/albums?or=(year.lt.1982,year.gt.1990)&artist_id=eq.1&select=id&order=id"
            ),
            [1, 2]
        );
        assert_eq!(
            get_ids(
                s,
                "/albums?or=(id.eq.1,id.eq.2,id.eq.3)&or=(id.eq.3,id.eq.4)&select=id"
            ),
            [3]
        );
        s.get("/artists?or=()").assert_error(400, "bad_filter");
        s.get("/artists?or=(id.eq.1")
            .assert_error(400, "bad_filter");
        s.get("/artists?or=(nope.eq.1)")
            .assert_error(400, "unknown_column");
        s.get("/artists?or=(id.eq.x)")
            .assert_error(400, "invalid_value");
    });
}

#[test]
fn plus_decodes_to_a_space() {
    each_backend(|s| {
        assert_eq!(get_ids(s, "/albums?title=eq.Back+in+Black&select=id"), [2]);
        assert_eq!(get_ids(s, "/albums?title=like.Back+in*&select=id"), [2]);
        assert_eq!(
            get_ids(s, "/albums?title=eq.Back%20in%20Black&select=id"),
            [2]
        );
        // An encoded plus is a plus.
        assert_eq!(
            get_ids(s, "/albums?title=eq.Back%2Bin%2BBlack&select=id"),
            Vec::<i64>::new()
        );
    });
}

#[test]
fn bad_filter_syntax_is_400_bad_filter() {
    each_backend(|s| {
        for url in [
            "/artists?id=1",
            "/artists?id=foo.1",
            "/artists?id=eq",
            "/artists?id=in.1,2",
            "/albums?order=year.sideways",
            "/albums?order=year.asc.nullsmiddle",
        ] {
            s.get(url).assert_error(400, "bad_filter");
        }
        let v = s.get("/artists?id=1").assert_error(400, "bad_filter");
        assert!(v["message"].as_str().unwrap().contains("filter"), "{v}");
        s.get("/artists?nope=eq.1")
            .assert_error(400, "unknown_column");
        s.get("/albums?order=nope.desc")
            .assert_error(400, "unknown_column");
    });
}

#[test]
fn values_that_do_not_fit_the_column_are_invalid_value() {
    each_backend(|s| {
        for url in [
            "/tracks?id=eq.abc",
            "/tracks?id=gt.1.5",
            "/tracks?unit_price=eq.cheap",
            "/albums?year=isdistinct.soon",
            "/tracks?id=eq(any).{1,x}",
            "/tracks?id=eq.99999999999999999999",
        ] {
            let v = s.get(url).assert_error(400, "invalid_value");
            assert!(v["message"].is_string(), "{v}");
        }
        let v = s
            .get("/tracks?id=eq.abc")
            .assert_error(400, "invalid_value");
        assert!(v.to_string().contains("abc"), "{v}");
    });
}

// ---------------------------------------------------------------------------------------------
// Order

#[test]
fn order_directions_and_null_placement() {
    each_backend(|s| {
        // PostgreSQL defaults: NULLs last ascending, first descending.
        assert_eq!(
            get_ids(s, "/albums?select=id&order=year.asc"),
            [2, 1, 4, 3, 5, 6, 7]
        );
        assert_eq!(
            get_ids(s, "/albums?select=id&order=year"),
            [2, 1, 4, 3, 5, 6, 7]
        );
        assert_eq!(
            get_ids(s, "/albums?select=id&order=year.desc"),
            [7, 6, 5, 3, 4, 1, 2]
        );
        assert_eq!(
            get_ids(s, "/albums?select=id&order=year.desc.nullslast"),
            [6, 5, 3, 4, 1, 2, 7]
        );
        assert_eq!(
            get_ids(s, "/albums?select=id&order=year.nullsfirst"),
            [7, 2, 1, 4, 3, 5, 6]
        );
        assert_eq!(
            get_ids(s, "/albums?select=id&order=year.asc.nullsfirst"),
            [7, 2, 1, 4, 3, 5, 6]
        );
        assert_eq!(
            get_ids(s, "/tracks?select=id&order=unit_price.desc,id"),
            [6, 7, 8, 1, 2, 3, 4, 5]
        );
        assert_eq!(
            get_ids(s, "/tracks?select=id&order=unit_price.desc,id.desc"),
            [8, 7, 6, 5, 4, 3, 2, 1]
        );
        assert_eq!(
            get_ids(s, "/albums?select=id&order=title.desc"),
            [7, 4, 1, 5, 3, 2, 6]
        );
        // Ties are broken by the primary key.
        assert_eq!(
            get_ids(s, "/albums?select=id&order=artist_id.desc"),
            [6, 5, 7, 3, 4, 1, 2]
        );
        assert_eq!(
            get_ids(s, "/tracks?select=id&order=genre.nullsfirst"),
            [6, 7, 8, 4, 5, 1, 2, 3]
        );
    });
}

#[test]
fn default_order_is_the_primary_key() {
    each_backend(|s| {
        for body in [
            json!({"id": 10, "name": "Queen"}),
            json!({"id": 7, "name": "Kiss"}),
        ] {
            assert_eq!(s.post("/artists", &body).status, 201);
        }
        assert_eq!(s.ids("/artists"), [1, 2, 3, 4, 5, 7, 10]);
        // Composite key: (playlist_id, track_id) order, not insertion order.
        for (p, t) in [(3, 8), (1, 2), (2, 1)] {
            let r = s.post("/playlist_items", &json!({"playlist_id": p, "track_id": t}));
            assert_eq!(r.status, 201, "{}", r.text);
        }
        let r = s.get("/playlist_items");
        assert_eq!(r.status, 200, "{}", r.text);
        let pairs: Vec<(i64, i64)> = r
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["playlist_id"].as_i64().unwrap(),
                    o["track_id"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            pairs,
            [
                (1, 1),
                (1, 2),
                (1, 3),
                (1, 7),
                (2, 1),
                (2, 4),
                (2, 5),
                (3, 8)
            ]
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Paging and counting

#[test]
fn limit_and_offset() {
    each_backend(|s| {
        let r = s.get("/tracks?select=id&order=id&limit=3&offset=2");
        assert_eq!(ids(&r), [3, 4, 5]);
        assert_eq!(r.header("content-range"), Some("2-4/*"));
        let r = s.get("/tracks?select=id&order=id&limit=3");
        assert_eq!(ids(&r), [1, 2, 3]);
        assert_eq!(r.header("content-range"), Some("0-2/*"));
        let r = s.get("/tracks?limit=0");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!([]));
        assert_eq!(r.header("content-range"), Some("*/*"));
        // Past the end without a count: just empty.
        let r = s.get("/tracks?offset=100");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!([]));
        assert_eq!(r.header("content-range"), Some("*/*"));
        let r = s.get("/tracks?select=id&limit=100&offset=6");
        assert_eq!(ids(&r), [7, 8]);
        assert_eq!(r.header("content-range"), Some("6-7/*"));
    });
}

#[test]
fn negative_offset_counts_as_zero() {
    // SPEC is silent; PostgREST (reference §11.4 case 30) treats `offset=-4` as 0.
    each_backend(|s| {
        let r = s.get("/tracks?select=id&order=id&offset=-4");
        assert_eq!(ids(&r), [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(r.header("content-range"), Some("0-7/*"));
    });
}

#[test]
fn negative_limit_is_416() {
    each_backend(|s| {
        let v = s
            .get("/tracks?limit=-1")
            .assert_error(416, "range_not_satisfiable");
        assert_eq!(
            v["details"],
            "Limit should be greater than or equal to zero."
        );
    });
}

#[test]
fn range_header_pages() {
    each_backend(|s| {
        let r = s
            .req("GET", "/tracks?select=id&order=id")
            .header("range-unit", "items")
            .header("range", "0-1")
            .send();
        assert_eq!(ids(&r), [1, 2]);
        assert_eq!(r.header("content-range"), Some("0-1/*"));
        let r = s
            .req("GET", "/tracks?select=id&order=id")
            .header("range", "6-")
            .send();
        assert_eq!(ids(&r), [7, 8]);
        assert_eq!(r.header("content-range"), Some("6-7/*"));
        let r = s
            .req("GET", "/tracks?select=id&order=id&limit=1")
            .header("range", "0-1")
            .send();
        assert_eq!(ids(&r), [1]);
        let r = s
            .req("GET", "/tracks?select=id&order=id")
            .header("range", "2-4")
            .header("prefer", "count=exact")
            .send();
        assert_eq!(r.status, 206, "{}", r.text);
        assert_eq!(ids_any(&r), [3, 4, 5]);
        assert_eq!(r.header("content-range"), Some("2-4/8"));
        s.req("GET", "/tracks")
            .header("range", "3-1")
            .send()
            .assert_error(416, "range_not_satisfiable");
    });
}

#[test]
fn count_exact() {
    each_backend(|s| {
        let r = s
            .req("GET", "/tracks?select=id&order=id&limit=3")
            .header("prefer", "count=exact")
            .send();
        assert_eq!(r.status, 206, "{}", r.text);
        assert_eq!(ids_any(&r), [1, 2, 3]);
        assert_eq!(r.header("content-range"), Some("0-2/8"));
        assert_eq!(r.header("preference-applied"), Some("count=exact"));

        let r = s
            .req("GET", "/tracks?select=id&order=id")
            .header("prefer", "count=exact")
            .send();
        assert_eq!(ids(&r).len(), 8);
        assert_eq!(r.header("content-range"), Some("0-7/8"));

        let r = s
            .req("GET", "/tracks?select=id&genre=eq.Rock&limit=2&offset=1")
            .header("prefer", "count=exact")
            .send();
        assert_eq!(r.status, 206, "{}", r.text);
        assert_eq!(ids_any(&r), [2, 3]);
        assert_eq!(r.header("content-range"), Some("1-2/3"));
    });
}

#[test]
fn count_exact_of_an_empty_result() {
    // SPEC §4.2: `*/0` when the total is 0.
    each_backend(|s| {
        let r = s
            .req("GET", "/tracks?id=eq.999")
            .header("prefer", "count=exact")
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!([]));
        assert_eq!(r.header("content-range"), Some("*/0"));
        let r = s
            .req("GET", "/tracks?limit=0")
            .header("prefer", "count=exact")
            .send();
        assert_eq!(r.json(), json!([]));
        assert_eq!(r.header("content-range"), Some("*/8"));
    });
}

#[test]
fn offset_past_the_end_with_count_is_416() {
    each_backend(|s| {
        let r = s
            .req("GET", "/tracks?offset=100")
            .header("prefer", "count=exact")
            .send();
        let v = r.assert_error(416, "range_not_satisfiable");
        assert_eq!(
            v["details"],
            "An offset of 100 was requested, but there are only 8 rows."
        );
        assert_eq!(r.header("content-range"), Some("*/8"));
    });
}

#[test]
fn link_next_when_more_rows_exist() {
    each_backend(|s| {
        let r = s.get("/tracks?select=id&order=id&limit=3");
        assert_eq!(ids(&r), [1, 2, 3]);
        let link = r.header("link").expect("Link header");
        assert!(link.starts_with("</tracks?"), "{link}");
        assert!(link.ends_with(">; rel=\"next\""), "{link}");
        assert!(
            link.contains("limit=3") && link.contains("offset=3"),
            "{link}"
        );
        assert!(link.contains("select=id"), "{link}");

        // Following the link gives the next page.
        let next = link
            .trim_start_matches('<')
            .split('>')
            .next()
            .unwrap()
            .to_string();
        let r = s.get(&next);
        assert_eq!(ids(&r), [4, 5, 6]);

        // With a known total, the last page has no next link.
        let r = s
            .req("GET", "/tracks?select=id&order=id&limit=3&offset=6")
            .header("prefer", "count=exact")
            .send();
        // 206: the total (8) exceeds what was returned (2).
        assert_eq!(r.status, 206, "{}", r.text);
        assert_eq!(r.header("content-range"), Some("6-7/8"));
        assert_eq!(r.header("link"), None);
        let r = s
            .req("GET", "/tracks?select=id&order=id&limit=3&offset=3")
            .header("prefer", "count=exact")
            .send();
        assert_eq!(r.status, 206, "{}", r.text);
        assert!(r.header("link").unwrap_or("").contains("offset=6"));
        // Everything returned: no link.
        let r = s.get("/tracks?select=id");
        assert_eq!(r.header("link"), None);
        let r = s.get("/tracks?select=id&limit=100");
        assert_eq!(r.header("link"), None);
    });
}

#[test]
fn no_link_next_on_the_last_full_page() {
    // SPEC §4.2: the Link header is there "when more rows exist": a page that happens to be
    // full but is the last one has none.
    each_backend(|s| {
        let r = s.get("/tracks?select=id&order=id&limit=4&offset=4");
        assert_eq!(ids(&r), [5, 6, 7, 8]);
        assert_eq!(r.header("link"), None, "no row after id 8");
    });
}

#[test]
fn server_max_rows_caps_every_response() {
    for b in backends() {
        let toml = format!("[server]\nmax_rows = 3\n{MUSIC_TOML}");
        let s = music_with(b, &toml);
        let r = s.get("/tracks?select=id");
        assert_eq!(ids(&r), [1, 2, 3]);
        assert_eq!(r.header("content-range"), Some("0-2/*"));
        assert_eq!(get_ids(&s, "/tracks?select=id&limit=5"), [1, 2, 3]);
        assert_eq!(get_ids(&s, "/tracks?select=id&limit=2"), [1, 2]);
        assert_eq!(get_ids(&s, "/tracks?select=id&offset=6"), [7, 8]);
        let r = s
            .req("GET", "/tracks?select=id")
            .header("prefer", "count=exact")
            .send();
        assert_eq!(r.status, 206, "{}", r.text);
        assert_eq!(r.header("content-range"), Some("0-2/8"));
        assert!(r.header("link").unwrap_or("").contains("offset=3"));
        let r = s
            .req("GET", "/tracks?select=id")
            .header("range", "0-6")
            .send();
        assert_eq!(ids(&r), [1, 2, 3]);
    }
}

#[test]
fn service_max_rows_caps_that_service() {
    for b in backends() {
        let toml = r#"
[server]
max_rows = 3
[services.artists]
[services.albums]
[services.tracks]
[services.playlists]
[services.playlist_items]
table = "playlist_tracks"
max_rows = 2
"#;
        let s = music_with(b, toml);
        let r = s.get("/playlist_items");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.json(),
            json!([{"playlist_id": 1, "track_id": 1}, {"playlist_id": 1, "track_id": 3}])
        );
        assert_eq!(r.header("content-range"), Some("0-1/*"));
        assert_eq!(s.ids("/tracks?select=id"), [1, 2, 3]);
        let r = s
            .req("GET", "/playlist_items?limit=10")
            .header("prefer", "count=exact")
            .send();
        assert_eq!(r.status, 206, "{}", r.text);
        assert_eq!(r.header("content-range"), Some("0-1/5"));
    }
}

// ---------------------------------------------------------------------------------------------
// Representations

#[test]
fn csv_output() {
    each_backend(|s| {
        let r = s
            .req("GET", "/artists?select=id,name&id=in.(1,5)&order=id")
            .header("accept", "text/csv")
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
        assert_eq!(r.text, "id,name\n1,AC/DC\n5,\"Crosby, Stills and Nash\"");
        assert_eq!(r.header("content-range"), Some("0-1/*"));

        // NULL is an empty field; aliases name the header.
        let r = s
            .req("GET", "/albums?select=id,released:year&id=in.(6,7)")
            .header("accept", "text/csv")
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.text, "id,released\n6,2002\n7,");

        // Quotes inside a value are doubled.
        let p = s.post("/artists", &json!({"id": 6, "name": "Say \"Hi\""}));
        assert_eq!(p.status, 201, "{}", p.text);
        let r = s
            .req("GET", "/artists?id=eq.6")
            .header("accept", "text/csv")
            .send();
        assert_eq!(r.text, "id,name\n6,\"Say \"\"Hi\"\"\"");

        // Decimals keep their digits.
        let r = s
            .req("GET", "/tracks?select=id,unit_price&id=in.(5,6)")
            .header("accept", "text/csv")
            .send();
        assert_eq!(r.text, "id,unit_price\n5,0.99\n6,1.29");
    });
}

#[test]
fn singular_object_accept() {
    each_backend(|s| {
        let r = s
            .req("GET", "/artists?id=eq.1")
            .header("accept", "application/vnd.pgrst.object+json")
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!({"id": 1, "name": "AC/DC"}));
        assert_eq!(
            r.header("content-type"),
            Some("application/vnd.pgrst.object+json; charset=utf-8")
        );

        let v = s
            .req("GET", "/artists?id=eq.999")
            .header("accept", "application/vnd.pgrst.object+json")
            .send()
            .assert_error(406, "not_acceptable");
        assert_eq!(v["details"], "The result contains 0 rows");

        let v = s
            .req("GET", "/albums?artist_id=eq.1")
            .header("accept", "application/vnd.pgrst.object+json")
            .send()
            .assert_error(406, "not_acceptable");
        assert_eq!(v["details"], "The result contains 2 rows");

        let v = s
            .req("GET", "/albums")
            .header("accept", "application/vnd.pgrst.object+json")
            .send()
            .assert_error(406, "not_acceptable");
        assert_eq!(v["details"], "The result contains 7 rows");
    });
}

#[test]
fn unknown_accept_is_406() {
    each_backend(|s| {
        let v = s
            .req("GET", "/artists")
            .header("accept", "text/unknown")
            .send()
            .assert_error(406, "not_acceptable");
        assert!(
            v["message"].as_str().unwrap().contains("text/unknown"),
            "{v}"
        );
        s.req("GET", "/artists")
            .header("accept", "application/xml")
            .send()
            .assert_error(406, "not_acceptable");
        let r = s
            .req("GET", "/artists?select=id")
            .header("accept", "text/unknown, */*")
            .send();
        assert_eq!(ids(&r), [1, 2, 3, 4, 5]);
        assert_eq!(r.header("content-type"), Some(JSON_CT));
        let r = s
            .req("GET", "/artists?select=id")
            .header("accept", "application/json")
            .send();
        assert_eq!(ids(&r), [1, 2, 3, 4, 5]);
    });
}

#[test]
fn head_with_count_has_headers_and_no_body() {
    each_backend(|s| {
        let r = s
            .req("HEAD", "/tracks")
            .header("prefer", "count=exact")
            .send();
        assert_eq!(r.status, 200);
        assert_eq!(r.text, "");
        assert_eq!(r.header("content-range"), Some("0-7/8"));
        assert_eq!(r.header("content-type"), Some(JSON_CT));

        let r = s
            .req("HEAD", "/tracks?limit=2")
            .header("prefer", "count=exact")
            .send();
        assert_eq!(r.status, 206);
        assert_eq!(r.text, "");
        assert_eq!(r.header("content-range"), Some("0-1/8"));

        let r = s.req("HEAD", "/artists/1").send();
        assert_eq!(r.status, 200);
        assert_eq!(r.text, "");
        let get = s.get("/artists/1");
        assert!(get.header("etag").is_some());
        assert_eq!(r.header("etag"), get.header("etag"));

        assert_eq!(s.req("HEAD", "/nope").send().status, 404);
        assert_eq!(s.req("HEAD", "/artists/999").send().status, 404);
        assert_eq!(s.req("HEAD", "/tracks?id=eq.abc").send().status, 400);
    });
}

#[test]
fn head_without_count_has_the_same_headers_as_get() {
    // SPEC §4.1: HEAD works wherever GET does — same status and headers, no body.
    each_backend(|s| {
        let get = s.get("/tracks?select=id&limit=3");
        let head = s.req("HEAD", "/tracks?select=id&limit=3").send();
        assert_eq!(head.status, get.status);
        assert_eq!(head.text, "");
        assert_eq!(get.header("content-range"), Some("0-2/*"));
        assert_eq!(head.header("content-range"), get.header("content-range"));
        assert_eq!(head.header("content-type"), get.header("content-type"));
        assert_eq!(head.header("link").is_some(), get.header("link").is_some());
    });
}

// ---------------------------------------------------------------------------------------------
// Items

#[test]
fn item_by_key() {
    each_backend(|s| {
        let r = s.get("/artists/1");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!({"id": 1, "name": "AC/DC"}));
        assert_eq!(r.header("content-type"), Some(JSON_CT));
        let etag = r.header("etag").expect("ETag on an item");
        assert!(
            etag.starts_with('"') && etag.ends_with('"'),
            "strong ETag: {etag}"
        );

        // Trailing slash and select.
        let r = s.get("/artists/1?select=name");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!({"name": "AC/DC"}));

        // Composite key: one segment per key column, in key order.
        let r = s.get("/playlist_items/1/3");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!({"playlist_id": 1, "track_id": 3}));
        s.get("/playlist_items/3/1").assert_error(404, "not_found");

        // An encoded segment.
        let r = s.get("/albums/%37");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["title"], "Unreleased Demos");
    });
}

#[test]
fn item_errors() {
    each_backend(|s| {
        s.get("/artists/999").assert_error(404, "not_found");
        s.get("/tracks/abc").assert_error(400, "invalid_value");
        s.get("/playlist_items/x/1")
            .assert_error(400, "invalid_value");
        // Wrong number of key segments.
        s.get("/playlist_items/1").assert_error(404, "not_found");
        s.get("/playlist_items/1/3/4")
            .assert_error(404, "not_found");
        s.get("/artists/1/2").assert_error(404, "not_found");
        // An item filtered away by a filter is not there.
        s.get("/artists/1?name=eq.Accept")
            .assert_error(404, "not_found");
    });
}

#[test]
fn etag_and_if_none_match() {
    each_backend(|s| {
        let r = s.get("/albums/3");
        assert_eq!(r.status, 200);
        let tag = r.header("etag").expect("etag").to_string();
        // Stable for the same row.
        assert_eq!(s.get("/albums/3").header("etag"), Some(tag.as_str()));
        // Different rows, different tags.
        assert_ne!(s.get("/albums/4").header("etag"), Some(tag.as_str()));

        let r = s
            .req("GET", "/albums/3")
            .header("if-none-match", &tag)
            .send();
        assert_eq!(r.status, 304);
        assert_eq!(r.text, "");
        assert_eq!(r.header("etag"), Some(tag.as_str()));

        let r = s
            .req("GET", "/albums/3")
            .header("if-none-match", "\"0000000000000000\"")
            .send();
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["title"], "Balls to the Wall");

        // After a change the old tag no longer matches.
        let p = s.patch("/albums/3", &json!({"year": 1984}));
        assert_eq!(p.status, 200, "{}", p.text);
        let r = s
            .req("GET", "/albums/3")
            .header("if-none-match", &tag)
            .send();
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["year"], 1984);
        assert_ne!(r.header("etag"), Some(tag.as_str()));
    });
}

#[test]
fn unknown_service_is_404() {
    each_backend(|s| {
        let v = s.get("/nope").assert_error(404, "not_found");
        assert!(v["message"].as_str().unwrap().contains("nope"), "{v}");
        s.get("/nope/1").assert_error(404, "not_found");
        s.get("/nope?id=eq.1").assert_error(404, "not_found");
        // The table behind a renamed service is not reachable by its own name.
        s.get("/playlist_tracks").assert_error(404, "not_found");
        s.get("/_nope").assert_error(404, "not_found");
    });
}

// ---------------------------------------------------------------------------------------------
// Types (SPEC §3)

#[test]
fn type_mapping_on_read() {
    for b in backends() {
        let s = types_server(b);
        let r = s.get("/things/1");
        assert_eq!(r.status, 200, "{}", r.text);
        // Exact text: integers and decimals must not go through a float.
        for part in [
            "\"big\":9223372036854775807",
            "\"price\":1.10",
            "\"amount\":0.99",
            "\"ratio\":1.5",
            "\"flag\":true",
            "\"born\":\"2024-02-29\"",
            "\"seen\":\"2024-01-02T03:04:05\"",
            "\"alarm\":\"12:30:00\"",
            "\"uid\":\"123e4567-e89b-12d3-a456-426614174000\"",
            "\"pic\":\"aGkAAQ==\"",
            "\"code\":\"abc\"",
        ] {
            assert!(r.text.contains(part), "{part} not in {}", r.text);
        }
        let v = r.json();
        assert_eq!(v["doc"], json!({"a": [1, 2, {"b": null}]}));
        assert_eq!(v["big"].as_i64(), Some(i64::MAX));

        let r = s.get("/things/2");
        assert_eq!(r.status, 200, "{}", r.text);
        for part in [
            "\"big\":-9223372036854775808",
            "\"price\":0.99",
            "\"amount\":12.5",
            "\"ratio\":-0.25",
            "\"flag\":false",
            "\"seen\":\"1999-12-31T23:59:59\"",
            "\"pic\":\"\"",
        ] {
            assert!(r.text.contains(part), "{part} not in {}", r.text);
        }
        assert_eq!(r.json()["doc"], json!([1, "two", true]));
        assert_eq!(r.json()["big"].as_i64(), Some(i64::MIN));

        let r = s.get("/things/3");
        assert_eq!(r.status, 200, "{}", r.text);
        let v = r.json();
        for (k, val) in v.as_object().unwrap() {
            if k != "id" {
                assert!(val.is_null(), "{k} should be null: {}", r.text);
            }
        }
    }
}

#[test]
fn type_mapping_in_filters() {
    for b in backends() {
        let s = types_server(b);
        assert_eq!(
            get_ids(&s, "/things?big=eq.9223372036854775807&select=id"),
            [1]
        );
        assert_eq!(
            get_ids(&s, "/things?big=eq.-9223372036854775808&select=id"),
            [2]
        );
        assert_eq!(get_ids(&s, "/things?price=eq.1.10&select=id"), [1]);
        assert_eq!(get_ids(&s, "/things?price=eq.1.1&select=id"), [1]);
        assert_eq!(get_ids(&s, "/things?amount=gt.1&select=id"), [2]);
        assert_eq!(get_ids(&s, "/things?born=gt.2000-01-01&select=id"), [1]);
        assert_eq!(get_ids(&s, "/things?born=eq.1999-12-31&select=id"), [2]);
        assert_eq!(
            get_ids(&s, "/things?seen=lt.2000-01-01T00:00:00&select=id"),
            [2]
        );
        assert_eq!(
            get_ids(
                &s,
                "/things?uid=eq.123e4567-e89b-12d3-a456-426614174000&select=id"
            ),
            [1]
        );
        assert_eq!(get_ids(&s, "/things?doc=is.null&select=id"), [3]);
        assert_eq!(get_ids(&s, "/things?code=like.a*&select=id"), [1]);
    }
}

#[test]
fn invalid_dates_uuids_and_numbers_in_filters_are_invalid_value() {
    for b in backends() {
        let s = types_server(b);
        for url in [
            "/things?born=eq.2024-02-30",
            "/things?born=eq.yesterday",
            "/things?born=gt.2024-13-01",
            "/things?seen=eq.2024-01-02T25:00:00",
            "/things?seen=lt.not-a-time",
            "/things?uid=eq.not-a-uuid",
            "/things?uid=in.(123e4567-e89b-12d3-a456-426614174000,nope)",
            "/things?big=eq.9223372036854775808",
            "/things?price=eq.1.2.3",
            "/things?flag=eq.maybe",
            "/things?ratio=eq.fast",
            "/things?alarm=eq.25:99",
        ] {
            s.get(url).assert_error(400, "invalid_value");
        }
    }
}

#[test]
fn type_schema() {
    for b in backends() {
        let s = types_server(b);
        let r = s.get("/_schema/things");
        assert_eq!(r.status, 200, "{}", r.text);
        let v = r.json();
        let p = &v["properties"];
        assert_eq!(p["id"]["type"], "integer");
        assert_eq!(p["big"]["type"], json!(["integer", "null"]));
        assert_eq!(p["price"]["type"], json!(["number", "null"]));
        assert_eq!(p["ratio"]["type"], json!(["number", "null"]));
        assert_eq!(p["flag"]["type"], json!(["boolean", "null"]));
        assert_eq!(p["born"]["format"], "date");
        assert_eq!(p["seen"]["format"], "date-time");
        assert_eq!(p["uid"]["format"], "uuid");
        assert_eq!(p["pic"]["contentEncoding"], "base64");
        assert_eq!(p["code"]["maxLength"], 5);
        assert!(
            p["doc"].get("type").is_none(),
            "JSON takes any value: {}",
            p["doc"]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Methods, index, schema, operational routes

#[test]
fn method_not_allowed_has_allow_header() {
    for b in backends() {
        let toml = r#"
[services.artists]
[services.albums]
[services.tracks]
[services.playlists]
methods = ["GET"]
[services.playlist_items]
table = "playlist_tracks"
"#;
        let s = music_with(b, toml);
        assert_eq!(s.ids("/playlists"), [1, 2, 3]);
        assert_eq!(s.get("/playlists/1").status, 200);
        let r = s.post("/playlists", &json!({"id": 4, "name": "New"}));
        r.assert_error(405, "method_not_allowed");
        let allow = r.header("allow").expect("Allow header");
        assert!(allow.contains("GET"), "{allow}");
        assert!(
            !allow.contains("POST") && !allow.contains("DELETE"),
            "{allow}"
        );
        for r in [
            s.patch("/playlists?id=eq.1", &json!({"name": "x"})),
            s.patch("/playlists/1", &json!({"name": "x"})),
            s.put("/playlists/1", &json!({"id": 1, "name": "x"})),
            s.delete("/playlists?id=eq.1"),
            s.delete("/playlists/1"),
        ] {
            r.assert_error(405, "method_not_allowed");
            assert!(r.header("allow").is_some());
        }
        // Nothing changed.
        assert_eq!(
            s.get("/playlists/1").json(),
            json!({"id": 1, "name": "Music"})
        );
        assert_eq!(s.ids("/playlists"), [1, 2, 3]);
    }
}

#[test]
fn index_lists_the_services() {
    for b in backends() {
        let toml = r#"
[services.artists]
[services.albums]
[services.tracks]
[services.playlists]
methods = ["GET"]
[services.playlist_items]
table = "playlist_tracks"
"#;
        let s = music_with(b, toml);
        let r = s.get("/");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("content-type"), Some(JSON_CT));
        let v = r.json();
        assert_eq!(v["openapi"], "/openapi.json");
        let services = v["services"].as_array().expect("services");
        let mut names: Vec<&str> = services
            .iter()
            .map(|x| x["name"].as_str().unwrap())
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["albums", "artists", "playlist_items", "playlists", "tracks"]
        );
        let pl = services.iter().find(|x| x["name"] == "playlists").unwrap();
        assert_eq!(
            *pl,
            json!({"name": "playlists", "url": "/playlists", "methods": ["GET"],
                   "schema": "/_schema/playlists"})
        );
        let ar = services.iter().find(|x| x["name"] == "artists").unwrap();
        assert_eq!(ar["url"], "/artists");
        assert_eq!(ar["schema"], "/_schema/artists");
        let mut methods: Vec<&str> = ar["methods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        methods.sort_unstable();
        assert_eq!(methods, ["DELETE", "GET", "PATCH", "POST", "PUT"]);
        let pi = services
            .iter()
            .find(|x| x["name"] == "playlist_items")
            .unwrap();
        assert_eq!(pi["url"], "/playlist_items");
    }
}

#[test]
fn schema_endpoint() {
    for b in backends() {
        let toml = r#"
[services.artists]
[services.albums]
[services.tracks]
hidden = ["genre"]
read_only = ["milliseconds"]
[services.playlists]
[services.playlist_items]
table = "playlist_tracks"
"#;
        let s = music_with(b, toml);
        let r = s.get("/_schema/tracks");
        assert_eq!(r.status, 200, "{}", r.text);
        let v = r.json();
        assert_eq!(v["type"], "object");
        assert!(v["$schema"].as_str().unwrap().contains("2020-12"), "{v}");
        let props = v["properties"].as_object().expect("properties");
        let mut keys: Vec<&String> = props.keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["album_id", "id", "milliseconds", "name", "unit_price"]
        );
        assert_eq!(v["required"], json!(["name", "album_id"]));
        assert_eq!(props["id"]["type"], "integer");
        assert_eq!(props["name"]["type"], "string");
        assert_eq!(props["milliseconds"]["readOnly"], true);
        assert_eq!(props["milliseconds"]["type"], json!(["integer", "null"]));
        assert_eq!(props["unit_price"]["type"], json!(["number", "null"]));
        assert!(props["name"].get("readOnly").is_none());

        let r = s.get("/_schema/playlist_items");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["required"], json!(["playlist_id", "track_id"]));

        let r = s.get("/_schema/artists");
        assert_eq!(r.json()["required"], json!(["name"]));

        s.get("/_schema/nope").assert_error(404, "not_found");
        s.get("/_schema/playlist_tracks")
            .assert_error(404, "not_found");
    }
}

#[test]
fn health_and_ready() {
    each_backend(|s| {
        let r = s.get("/_health");
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.json().is_object());
        let r = s.get("/_ready");
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.json().is_object());
        assert_eq!(s.req("HEAD", "/_health").send().status, 200);
    });
}

#[test]
fn request_id_is_echoed_or_generated() {
    each_backend(|s| {
        let r = s
            .req("GET", "/artists/1")
            .header("x-request-id", "abc-123")
            .send();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-request-id"), Some("abc-123"));
        let r = s.get("/nope");
        r.assert_error(404, "not_found");
        assert!(!r.header("x-request-id").unwrap_or("").is_empty());
    });
}

#[test]
fn accept_profile_headers_are_ignored() {
    each_backend(|s| {
        let r = s
            .req("GET", "/artists?id=eq.1")
            .header("accept-profile", "public")
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!([{"id": 1, "name": "AC/DC"}]));
    });
}

#[test]
fn many_rows_stream_as_valid_json() {
    each_backend(|s| {
        let rows: Vec<Value> = (100..2100)
            .map(|i| json!({"id": i, "name": format!("Artist number {i} {}", "x".repeat(300))}))
            .collect();
        let r = s
            .req("POST", "/artists")
            .header("prefer", "return=minimal")
            .json(&Value::Array(rows))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        let toml_cap = s.get("/artists?select=id&limit=5000");
        // The default server cap is 1000 rows.
        assert_eq!(ids(&toml_cap).len(), 1000);
        let r = s
            .req("GET", "/artists?offset=5&limit=1000")
            .header("prefer", "count=exact")
            .send();
        assert_eq!(r.status, 206, "{}", r.text);
        let all = ids_any(&r);
        assert_eq!(all.len(), 1000);
        assert_eq!(all[0], 100);
        assert_eq!(r.header("content-range"), Some("5-1004/2005"));
        // Without a count: a page larger than one part (~340 KB) is still streamed whole,
        // with the exact range and the next link.
        let r = s.get("/artists?offset=5&limit=1000");
        assert_eq!(r.status, 200, "{}", r.text);
        let page = ids_any(&r);
        assert_eq!(page.len(), 1000);
        assert_eq!(page[0], 100);
        assert_eq!(page[999], 1099);
        assert_eq!(r.header("content-range"), Some("5-1004/*"));
        assert!(
            r.header("link").is_some_and(|l| l.contains("offset=1005")),
            "{:?}",
            r.header("link")
        );
    });
}

#[test]
fn small_pages_that_scan_or_sort_many_rows_answer_in_full() {
    // A bounded page whose filter matches late, or whose order needs a sort, reads far
    // more rows than it returns. (SQLite tries small reads in the request's task under a
    // step budget, and such a read gives up there and runs again on the blocking pool.)
    for b in backends() {
        let s = TestServer::start(
            b,
            "CREATE TABLE nums (id INTEGER PRIMARY KEY, tag VARCHAR(20) NOT NULL);",
            "[services.nums]\n",
        );
        for chunk in 0..4 {
            let rows: Vec<Value> = (0..5_000)
                .map(|i| {
                    let id = chunk * 5_000 + i + 1;
                    json!({"id": id, "tag": format!("tag {:05}", 30_000 - id)})
                })
                .collect();
            let r = s
                .req("POST", "/nums")
                .header("prefer", "return=minimal")
                .json(&Value::Array(rows))
                .send();
            assert_eq!(r.status, 201, "{}", r.text);
        }
        for _ in 0..2 {
            let r = s.get("/nums?tag=eq.tag%2010001&limit=5");
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(r.json(), json!([{"id": 19999, "tag": "tag 10001"}]));
            let r = s.get("/nums?select=id&tag=like.tag*&order=tag.asc&limit=3");
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(
                r.json(),
                json!([{"id": 20000}, {"id": 19999}, {"id": 19998}])
            );
            let r = s
                .req("GET", "/nums?select=id&id=gte.11&limit=2")
                .header("prefer", "count=exact")
                .send();
            assert_eq!(r.status, 206, "{}", r.text);
            assert_eq!(r.header("content-range"), Some("0-1/19990"));
            assert_eq!(r.json(), json!([{"id": 11}, {"id": 12}]));
        }
    }
}

#[test]
fn postgres_dates_and_timestamps_read_as_postgres_writes_them() {
    // Read in binary and formatted by restable: must equal PostgreSQL's own to_json text,
    // edge values included (fractions, BC, five-digit years, infinity).
    for b in backends() {
        if b != Backend::Postgres {
            continue;
        }
        let s = TestServer::start(
            b,
            "CREATE TABLE times (id INTEGER PRIMARY KEY, ts TIMESTAMP, tz TIMESTAMPTZ, d DATE);\n\
             INSERT INTO times VALUES\n\
             (1, '2024-02-29 13:45:07.5', '2024-01-01 00:00:00+02', '2024-01-01'),\n\
             (2, '1999-12-31 23:59:59.999999', '0001-01-01 00:00:00 BC', '0044-03-15 BC'),\n\
             (3, '0044-03-15 12:00:00 BC', 'infinity', '10000-01-01'),\n\
             (4, '10000-01-01 00:00:00', '-infinity', 'infinity'),\n\
             (5, 'infinity', '1970-01-01 00:00:00.000001+00', '-infinity'),\n\
             (6, '4713-01-01 00:00:00 BC', NULL, '5874897-12-31'),\n\
             (7, '294276-12-31 23:59:59.999999', '2000-02-29 12:00:00.01+00', '2000-01-01');",
            "[services.times]\n",
        );
        let r = s.get("/times?order=id");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.json(),
            json!([
                {"id": 1, "ts": "2024-02-29T13:45:07.5", "tz": "2023-12-31T22:00:00+00:00", "d": "2024-01-01"},
                {"id": 2, "ts": "1999-12-31T23:59:59.999999", "tz": "0001-01-01T00:00:00+00:00 BC", "d": "0044-03-15 BC"},
                {"id": 3, "ts": "0044-03-15T12:00:00 BC", "tz": "infinity", "d": "10000-01-01"},
                {"id": 4, "ts": "10000-01-01T00:00:00", "tz": "-infinity", "d": "infinity"},
                {"id": 5, "ts": "infinity", "tz": "1970-01-01T00:00:00.000001+00:00", "d": "-infinity"},
                {"id": 6, "ts": "4713-01-01T00:00:00 BC", "tz": null, "d": "5874897-12-31"},
                {"id": 7, "ts": "294276-12-31T23:59:59.999999", "tz": "2000-02-29T12:00:00.01+00:00", "d": "2000-01-01"}
            ])
        );
        let csv = s
            .req("GET", "/times?id=eq.2&select=ts,tz,d")
            .header("accept", "text/csv")
            .send();
        assert_eq!(csv.status, 200, "{}", csv.text);
        assert_eq!(
            csv.text,
            "ts,tz,d\n1999-12-31T23:59:59.999999,0001-01-01T00:00:00+00:00 BC,0044-03-15 BC"
        );
        // A timestamp filter still compares as a timestamp.
        let r = s.get("/times?select=id&ts=gt.2000-01-01T00:00:00&order=id");
        assert_eq!(
            r.json(),
            json!([{"id": 1}, {"id": 4}, {"id": 5}, {"id": 7}])
        );
    }
}
