//! Embedding related rows (SPEC 4.6, reference/postgrest-behaviour.md §5 and §11.3), on
//! every backend: shapes, per-embed parameters, `!inner`, filters on an embed, ordering
//! by a to-one embed, disambiguation, errors, formats, counts and paging of parents.

mod common;

use common::*;
use serde_json::{json, Value};

/// The music fixture plus tables for self-references, two foreign keys to one table and a
/// composite foreign key (table-level constraints: MySQL ignores inline REFERENCES).
const EXTRA: &str = "
CREATE TABLE employees (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL, manager_id INTEGER NULL,
  CONSTRAINT employees_manager_id_fkey FOREIGN KEY (manager_id) REFERENCES employees(id));
INSERT INTO employees VALUES (1,'Ann',NULL);
INSERT INTO employees VALUES (2,'Bob',1);
INSERT INTO employees VALUES (3,'Cid',1);
INSERT INTO employees VALUES (4,'Dee',2);
CREATE TABLE addresses (id INTEGER PRIMARY KEY, city VARCHAR(40) NOT NULL);
INSERT INTO addresses VALUES (1,'Oslo');
INSERT INTO addresses VALUES (2,'Rome');
CREATE TABLE orders (id INTEGER PRIMARY KEY, billing_id INTEGER NOT NULL, shipping_id INTEGER NOT NULL,
  CONSTRAINT orders_billing_id_fkey FOREIGN KEY (billing_id) REFERENCES addresses(id),
  CONSTRAINT orders_shipping_id_fkey FOREIGN KEY (shipping_id) REFERENCES addresses(id));
INSERT INTO orders VALUES (1,1,2);
CREATE TABLE regions (country VARCHAR(2) NOT NULL, code VARCHAR(4) NOT NULL, name VARCHAR(40),
  PRIMARY KEY (country, code));
INSERT INTO regions VALUES ('NO','03','Oslo');
INSERT INTO regions VALUES ('IT','RM','Roma');
CREATE TABLE stores (id INTEGER PRIMARY KEY, country VARCHAR(2), code VARCHAR(4),
  CONSTRAINT stores_region_fkey FOREIGN KEY (country, code) REFERENCES regions(country, code));
INSERT INTO stores VALUES (1,'NO','03');
INSERT INTO stores VALUES (2,'IT','RM');
INSERT INTO stores VALUES (3,NULL,NULL);
";

const EXTRA_TOML: &str = "
[services.employees]
[services.addresses]
[services.orders]
[services.regions]
[services.stores]
";

fn server(b: Backend) -> TestServer {
    let sql = format!("{}\n{EXTRA}", fixture("music", b));
    TestServer::start(b, &sql, &format!("{MUSIC_TOML}{EXTRA_TOML}"))
}

/// `body` on every backend, with the extra tables.
fn each_extra(body: impl Fn(&TestServer)) {
    for b in backends() {
        body(&server(b));
    }
}

fn get(s: &TestServer, path: &str) -> Value {
    let r = s.get(path);
    assert_eq!(r.status, 200, "{} {path}: {}", s.backend.name(), r.text);
    r.json()
}

#[test]
fn many_to_one_one_to_many_and_many_to_many_shapes() {
    each_extra(|s| {
        // §11.3 item 16: many-to-one is an object.
        assert_eq!(
            get(s, "/albums?select=title,artist:artists(name)&id=eq.3"),
            json!([{"title": "Balls to the Wall", "artist": {"name": "Accept"}}])
        );
        // Item 17: one-to-many is an array, ordered and paged per parent, `[]` when none.
        assert_eq!(
            get(
                s,
                "/artists?select=name,albums(title)&id=eq.2&albums.order=year.asc"
            ),
            json!([{"name": "Accept", "albums": [{"title": "Restless and Wild"}, {"title": "Balls to the Wall"}]}])
        );
        assert_eq!(
            get(
                s,
                "/artists?select=id,albums(id)&id=eq.1&albums.order=id.desc&albums.limit=1"
            ),
            json!([{"id": 1, "albums": [{"id": 2}]}])
        );
        assert_eq!(
            get(s, "/artists?select=id,albums(id)&id=eq.5"),
            json!([{"id": 5, "albums": []}])
        );
        // Item 18: many-to-many through the junction.
        assert_eq!(
            get(
                s,
                "/playlists?select=name,tracks(id)&id=eq.2&tracks.order=id"
            ),
            json!([{"name": "Heavy", "tracks": [{"id": 4}, {"id": 5}]}])
        );
        assert_eq!(
            get(s, "/playlists?select=id,tracks(id)&id=eq.3"),
            json!([{"id": 3, "tracks": []}])
        );
        // A to-one embed with no row is null.
        assert_eq!(
            get(s, "/stores?select=id,regions(name)&order=id"),
            json!([
                {"id": 1, "regions": {"name": "Oslo"}},
                {"id": 2, "regions": {"name": "Roma"}},
                {"id": 3, "regions": null}
            ])
        );
    });
}

#[test]
fn per_embed_offset_applies_per_parent() {
    each_backend(|s| {
        assert_eq!(
            get(
                s,
                "/artists?select=id,albums(id)&id=lte.2&order=id&albums.order=id&albums.offset=1"
            ),
            json!([{"id": 1, "albums": [{"id": 2}]}, {"id": 2, "albums": [{"id": 4}]}])
        );
        assert_eq!(
            get(s, "/artists?select=id,albums(id)&id=lte.2&order=id&albums.order=id.desc&albums.limit=1&albums.offset=1"),
            json!([{"id": 1, "albums": [{"id": 1}]}, {"id": 2, "albums": [{"id": 3}]}])
        );
    });
}

#[test]
fn nesting_aliases_star_and_the_same_relation_twice() {
    each_backend(|s| {
        assert_eq!(
            get(
                s,
                "/artists?select=name,albums(title,tracks(name))&id=eq.2&albums.order=id&albums.tracks.order=id"
            ),
            json!([{"name": "Accept", "albums": [
                {"title": "Balls to the Wall", "tracks": [{"name": "Balls to the Wall"}]},
                {"title": "Restless and Wild", "tracks": [{"name": "Fast As a Shark"}]}
            ]}])
        );
        // `*` inside an embed, with the decimal kept exact.
        assert_eq!(
            get(s, "/albums?select=id,tracks(*)&id=eq.5"),
            json!([{"id": 5, "tracks": [{"id": 6, "name": "Walk On Water", "album_id": 5,
                "milliseconds": 295680, "unit_price": 1.29, "genre": null}]}])
        );
        let r = s.get("/albums?select=id,tracks(unit_price)&id=eq.1");
        assert!(
            r.text.contains("\"unit_price\":0.99"),
            "{}: {}",
            s.backend.name(),
            r.text
        );
        // The same relation under two aliases with different filters.
        assert_eq!(
            get(
                s,
                "/albums?select=id,rock:tracks(id),short:tracks(id)&id=eq.1&rock.genre=eq.Rock&short.milliseconds=lt.300000&rock.order=id"
            ),
            json!([{"id": 1, "rock": [{"id": 1}, {"id": 2}], "short": [{"id": 2}]}])
        );
        // An aliased embed's parameters may use the relation's name too.
        assert_eq!(
            get(
                s,
                "/artists?select=id,records:albums(id)&id=eq.1&albums.order=id.desc"
            ),
            json!([{"id": 1, "records": [{"id": 2}, {"id": 1}]}])
        );
    });
}

#[test]
fn embedded_filters_inner_and_filters_on_the_embed() {
    each_backend(|s| {
        // Item 19: an embedded filter leaves the parents.
        let v = get(
            s,
            "/artists?select=id,albums(title)&albums.year=gt.2000&order=id",
        );
        assert_eq!(v.as_array().map(Vec::len), Some(5));
        assert_eq!(v[3], json!({"id": 4, "albums": [{"title": "Audioslave"}]}));
        assert_eq!(v[0], json!({"id": 1, "albums": []}));
        // Item 20: `!inner` and `rel=not.is.null` drop the parents without a match.
        let want = json!([{"id": 4, "albums": [{"title": "Audioslave"}]}]);
        assert_eq!(
            get(
                s,
                "/artists?select=id,albums!inner(title)&albums.year=gt.2000"
            ),
            want
        );
        assert_eq!(
            get(
                s,
                "/artists?select=id,albums(title)&albums.year=gt.2000&albums=not.is.null"
            ),
            want
        );
        // `is.null`: the parents without a match.
        assert_eq!(
            get(s, "/artists?select=id,albums()&albums=is.null&order=id"),
            json!([{"id": 5}])
        );
        // An empty embed filters without being written; inside `or`.
        assert_eq!(
            get(
                s,
                "/artists?select=id,albums()&albums.year=lt.1981&albums=not.is.null"
            ),
            json!([{"id": 1}])
        );
        assert_eq!(
            get(
                s,
                "/artists?select=id,albums()&or=(albums.not.is.null,id.eq.5)&albums.year=gt.1990&order=id"
            ),
            json!([{"id": 3}, {"id": 4}, {"id": 5}])
        );
        // Many-to-many with !inner and a filter on the far side.
        assert_eq!(
            get(
                s,
                "/playlists?select=id,tracks!inner(id)&tracks.genre=eq.Metal"
            ),
            json!([{"id": 2, "tracks": [{"id": 4}, {"id": 5}]}])
        );
        // Counts and Content-Range count parents only.
        let r = s
            .req(
                "GET",
                "/artists?select=id,albums!inner(id)&albums.year=gt.1990",
            )
            .header("Prefer", "count=exact")
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("content-range"), Some("0-1/2"));
    });
}

#[test]
fn ordering_parents_by_a_to_one_embed() {
    each_backend(|s| {
        // Item 23.
        let v = get(
            s,
            "/albums?select=id,artists(id)&order=artists(id).desc,id.asc&limit=3",
        );
        let ids: Vec<i64> = v
            .as_array()
            .expect("array")
            .iter()
            .map(|r| r["id"].as_i64().expect("id"))
            .collect();
        assert_eq!(ids, [6, 5, 7], "{}", s.backend.name());
        s.get("/artists?select=id,albums(id)&order=albums(id)")
            .assert_error(400, "bad_filter");
        s.get("/albums?select=id&order=artists(name)")
            .assert_error(400, "bad_filter");
    });
}

#[test]
fn legacy_count_of_related_rows() {
    each_backend(|s| {
        // Item 24.
        assert_eq!(
            get(s, "/artists?select=name,albums(count)&id=eq.1"),
            json!([{"name": "AC/DC", "albums": [{"count": 2}]}])
        );
    });
}

#[test]
fn self_references_two_keys_to_one_table_and_composite_keys() {
    each_extra(|s| {
        // The rows referencing this one (children) by default.
        assert_eq!(
            get(s, "/employees?select=name,employees(name)&id=eq.1"),
            json!([{"name": "Ann", "employees": [{"name": "Bob"}, {"name": "Cid"}]}])
        );
        // The referenced row through the foreign key column.
        assert_eq!(
            get(s, "/employees?select=name,manager:manager_id(name)&id=eq.4"),
            json!([{"name": "Dee", "manager": {"name": "Bob"}}])
        );
        assert_eq!(
            get(
                s,
                "/employees?select=name,boss:employees!manager_id(name)&id=eq.2"
            ),
            json!([{"name": "Bob", "boss": {"name": "Ann"}}])
        );
        // Two foreign keys to one table: ambiguous without a hint (300), then by
        // constraint or column.
        let r = s.get("/orders?select=id,addresses(city)");
        let v = r.assert_error(300, "ambiguous_relationship");
        assert_eq!(v["details"].as_array().map(Vec::len), Some(2), "{v}");
        assert!(
            v["hint"]
                .as_str()
                .unwrap_or("")
                .contains("addresses!orders_billing_id_fkey"),
            "{v}"
        );
        assert_eq!(
            get(
                s,
                "/orders?select=id,billing:addresses!orders_billing_id_fkey(city),shipping:addresses!shipping_id(city)"
            ),
            json!([{"id": 1, "billing": {"city": "Oslo"}, "shipping": {"city": "Rome"}}])
        );
        // The other direction.
        assert_eq!(
            get(s, "/addresses?select=city,orders!billing_id(id)&order=id"),
            json!([{"city": "Oslo", "orders": [{"id": 1}]}, {"city": "Rome", "orders": []}])
        );
        // A composite foreign key.
        assert_eq!(
            get(s, "/regions?select=name,stores(id)&order=name"),
            json!([{"name": "Oslo", "stores": [{"id": 1}]}, {"name": "Roma", "stores": [{"id": 2}]}])
        );
    });
}

#[test]
fn errors_name_what_is_wrong() {
    each_backend(|s| {
        // Item 21: a parameter for an embed not in select.
        let v = s
            .get("/artists?select=id&albums.year=eq.1980")
            .assert_error(400, "bad_filter");
        assert_eq!(
            v["message"],
            "'albums' is not an embedded resource in this request"
        );
        // Item 22: no relationship.
        let v = s
            .get("/artists?select=*,playlists(*)")
            .assert_error(400, "no_relationship");
        assert_eq!(
            v["message"],
            "Could not find a relationship between 'artists' and 'playlists' in the schema cache"
        );
        s.get("/artists?select=*,nope(*)")
            .assert_error(400, "no_relationship");
        // An unknown column inside an embed is named.
        let v = s
            .get("/artists?select=id,albums(nope)")
            .assert_error(400, "unknown_column");
        assert!(
            v["message"].as_str().unwrap_or("").contains("'nope'"),
            "{v}"
        );
        s.get("/artists?select=id,albums(id)&albums.nope=eq.1")
            .assert_error(400, "unknown_column");
        s.get("/artists?select=id,albums(id)&albums.id=eq.x")
            .assert_error(400, "invalid_value");
        // Only is.null / not.is.null on an embed itself.
        s.get("/artists?select=id,albums(id)&albums=eq.1")
            .assert_error(400, "bad_filter");
        // Depth is bounded.
        let deep = "/artists?select=albums(artists(albums(artists(albums(artists(albums(artists(albums(id)))))))))";
        s.get(deep).assert_error(400, "bad_filter");
    });
}

#[test]
fn hidden_columns_stay_invisible_inside_embeds() {
    for b in backends() {
        let toml = "
[services.artists]
[services.albums]
[services.tracks]
hidden = [\"genre\"]
[services.playlists]
[services.playlist_items]
table = \"playlist_tracks\"
";
        let s = TestServer::start(b, &fixture("music", b), toml);
        let v = get(&s, "/albums?select=id,tracks(*)&id=eq.5");
        assert!(v[0]["tracks"][0].get("genre").is_none(), "{v}");
        s.get("/albums?select=id,tracks(genre)")
            .assert_error(400, "unknown_column");
        s.get("/albums?select=id,tracks(id)&tracks.genre=eq.Rock")
            .assert_error(400, "unknown_column");
        s.get("/albums?select=id,tracks(id)&tracks.order=genre")
            .assert_error(400, "unknown_column");
    }
}

#[test]
fn formats_items_and_paging_of_parents() {
    each_backend(|s| {
        // An item with its embeds, and its ETag covers them.
        let r = s.get("/albums/3?select=title,artists(name)");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.json(),
            json!({"title": "Balls to the Wall", "artists": {"name": "Accept"}})
        );
        assert!(r.header("etag").is_some());
        let plain = s.get("/albums/3?select=title");
        assert_ne!(r.header("etag"), plain.header("etag"));
        // The singular media type.
        let r = s
            .req(
                "GET",
                "/artists?select=name,albums(id)&id=eq.2&albums.order=id",
            )
            .header("Accept", "application/vnd.pgrst.object+json")
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.json(),
            json!({"name": "Accept", "albums": [{"id": 3}, {"id": 4}]})
        );
        // CSV: the embed is a JSON text cell.
        let r = s
            .req("GET", "/albums?select=id,artists(name)&id=eq.3")
            .header("Accept", "text/csv")
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.text, "id,artists\n3,\"{\"\"name\"\":\"\"Accept\"\"}\"");
        // Paging applies to the parents; every backend gives the same bytes.
        let r = s.get("/artists?select=id,albums(id)&order=id&limit=2&albums.order=id");
        assert_eq!(r.status, 200);
        assert_eq!(
            r.text,
            r#"[{"id":1,"albums":[{"id":1},{"id":2}]},{"id":2,"albums":[{"id":3},{"id":4}]}]"#
        );
        assert_eq!(r.header("content-range"), Some("0-1/*"));
    });
}

#[test]
fn max_rows_caps_parents_and_each_embedded_array() {
    for b in backends() {
        let toml = "
[server]
max_rows = 3
[services.artists]
[services.albums]
max_rows = 1
[services.tracks]
[services.playlists]
[services.playlist_items]
table = \"playlist_tracks\"
";
        let s = TestServer::start(b, &fixture("music", b), toml);
        let v = get(&s, "/artists?select=id,albums(id)&order=id&albums.order=id");
        assert_eq!(
            v,
            json!([{"id": 1, "albums": [{"id": 1}]}, {"id": 2, "albums": [{"id": 3}]}, {"id": 3, "albums": [{"id": 5}]}])
        );
    }
}

#[test]
fn embeds_in_write_answers() {
    each_backend(|s| {
        // POST with return=representation: the written row with its embed.
        let r = s
            .req("POST", "/albums?select=title,artist:artists(name)")
            .header("Prefer", "return=representation")
            .json(&json!({"id": 20, "title": "Powerage", "artist_id": 1}))
            .send();
        assert_eq!(r.status, 201, "{}: {}", s.backend.name(), r.text);
        assert_eq!(
            r.json(),
            json!([{"title": "Powerage", "artist": {"name": "AC/DC"}}])
        );
        assert_eq!(r.header("location"), Some("/albums/20"));
        // A bulk POST, rows in key order.
        let r = s
            .req("POST", "/albums?select=id,artists(id)")
            .header("Prefer", "return=representation")
            .json(&json!([
                {"id": 22, "title": "B", "artist_id": 2},
                {"id": 21, "title": "A", "artist_id": 3}
            ]))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(
            r.json(),
            json!([{"id": 21, "artists": {"id": 3}}, {"id": 22, "artists": {"id": 2}}])
        );
        // PATCH: the new state, the embed following the changed foreign key.
        let r = s
            .req("PATCH", "/albums?id=eq.20&select=id,artists(name)")
            .header("Prefer", "return=representation")
            .json(&json!({"artist_id": 2}))
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!([{"id": 20, "artists": {"name": "Accept"}}]));
        // Item PATCH answers the object.
        let r = s.patch(
            "/albums/20?select=title,tracks(id)",
            &json!({"title": "P2"}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!({"title": "P2", "tracks": []}));
        // PUT.
        let r = s
            .req("PUT", "/albums/23?select=id,artists(name)")
            .header("Prefer", "return=representation")
            .json(&json!({"id": 23, "title": "Put", "artist_id": 4}))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(
            r.json(),
            json!([{"id": 23, "artists": {"name": "Audioslave"}}])
        );
        // DELETE: the rows as they were, read before they went.
        let r = s
            .req("DELETE", "/albums?id=gte.20&select=id,artists(name)")
            .header("Prefer", "return=representation")
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.json(),
            json!([
                {"id": 20, "artists": {"name": "Accept"}},
                {"id": 21, "artists": {"name": "Aerosmith"}},
                {"id": 22, "artists": {"name": "Accept"}},
                {"id": 23, "artists": {"name": "Audioslave"}}
            ])
        );
        assert_eq!(s.get("/albums?id=gte.20").json(), json!([]));
        // A dry run answers the same and keeps nothing.
        let r = s
            .req("POST", "/albums?select=title,artists(name)")
            .header("Prefer", "return=representation,tx=rollback")
            .json(&json!({"id": 30, "title": "Dry", "artist_id": 5}))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(
            r.json(),
            json!([{"title": "Dry", "artists": {"name": "Crosby, Stills and Nash"}}])
        );
        assert_eq!(s.get("/albums?id=eq.30").json(), json!([]));
        // Unknown relations are refused before anything is written.
        s.req("POST", "/albums?select=id,nope(id)")
            .header("Prefer", "return=representation")
            .json(&json!({"id": 31, "title": "X", "artist_id": 1}))
            .send()
            .assert_error(400, "no_relationship");
        assert_eq!(s.get("/albums?id=eq.31").json(), json!([]));
    });
}

#[test]
fn spread_of_a_to_one_embed() {
    each_backend(|s| {
        assert_eq!(
            get(
                s,
                "/albums?select=title,...artists(artist_name:name,artist_id:id)&id=eq.3"
            ),
            json!([{"title": "Balls to the Wall", "artist_name": "Accept", "artist_id": 2}])
        );
        // With a decimal, and ordered by the spread embed.
        assert_eq!(
            get(
                s,
                "/tracks?select=id,...albums(title)&id=lte.2&order=albums(title),id"
            ),
            json!([
                {"id": 1, "title": "For Those About To Rock"},
                {"id": 2, "title": "For Those About To Rock"}
            ])
        );
        // CSV columns follow.
        let r = s
            .req("GET", "/albums?select=id,...artists(name)&id=eq.3")
            .header("Accept", "text/csv")
            .send();
        assert_eq!(r.text, "id,name\n3,Accept");
        // Only a to-one embed, at the top level, with columns.
        s.get("/artists?select=id,...albums(title)")
            .assert_error(400, "bad_filter");
        s.get("/albums?select=id,...artists(name,albums(id))")
            .assert_error(400, "bad_filter");
        s.get("/albums?select=id,...title")
            .assert_error(400, "bad_filter");
    });
}
