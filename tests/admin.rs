//! The admin page (SPEC §4.1 `GET /_admin/`, issue 18): served by the binary on every
//! backend with the right content types, ETags and cache headers, `/_admin` redirects,
//! `admin = false` (and the default on a non-loopback bind) gives 404, and the page finds
//! what it needs in the public API (`x-column-order`, `x-primary-key`, `x-foreign-keys`
//! in `/_schema/{service}`). The page itself is driven in a real browser by
//! tests/admin_browser (run from `.ci/run`).

mod common;

use common::*;
use serde_json::json;

const ASSETS: [(&str, &str); 4] = [
    ("/_admin/", "text/html; charset=utf-8"),
    ("/_admin/admin.js", "text/javascript; charset=utf-8"),
    ("/_admin/admin.css", "text/css; charset=utf-8"),
    ("/_admin/favicon.svg", "image/svg+xml"),
];

fn assert_served(s: &TestServer) {
    for (path, ty) in ASSETS {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{} {path}: {}", s.backend.name(), r.text);
        assert_eq!(r.header("content-type"), Some(ty), "{path}");
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{path}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        let etag = r.header("etag").expect("etag").to_string();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        assert!(!r.text.is_empty(), "{path}");
        // Revalidation: the same ETag gets 304 with no body.
        let again = s.req("GET", path).header("If-None-Match", &etag).send();
        assert_eq!(again.status, 304, "{path}");
        assert_eq!(again.header("etag"), Some(etag.as_str()));
        assert!(again.text.is_empty());
        let head = s.req("HEAD", path).send();
        assert_eq!(head.status, 200, "HEAD {path}");
        assert_eq!(head.header("content-type"), Some(ty));
    }
}

#[test]
fn the_page_and_its_assets_are_served_on_every_backend() {
    each_backend(|s| {
        assert_served(s);
        let page = s.get("/_admin/");
        assert!(
            page.text.contains("<script src=\"admin.js\""),
            "{}",
            page.text
        );
        // Nothing from elsewhere: every script and stylesheet is relative, and the policy
        // lets the page talk to this origin only.
        assert!(!page.text.contains("http://") && !page.text.contains("https://"));
        let csp = page.header("content-security-policy").expect("csp");
        assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"));
        let js = s.get("/_admin/admin.js").text;
        assert!(
            !js.contains("http://") && !js.contains("https://"),
            "no URL"
        );
        // The index page is also reachable by name; other paths are 404s as JSON.
        assert_eq!(s.get("/_admin/index.html").status, 200);
        s.get("/_admin/nope.js").assert_error(404, "not_found");
        s.req("POST", "/_admin/")
            .raw(b"")
            .send()
            .assert_error(405, "method_not_allowed");
        // The page's first request works.
        assert_eq!(s.get("/").status, 200);
    });
}

#[test]
fn admin_without_slash_redirects() {
    each_backend(|s| {
        let r = s.get("/_admin");
        assert_eq!(r.status, 308);
        assert_eq!(r.header("location"), Some("/_admin/"));
        let r = s.get("/_admin?x=1");
        assert_eq!(r.header("location"), Some("/_admin/?x=1"));
    });
}

#[test]
fn admin_false_gives_404() {
    for b in backends() {
        let s = TestServer::fixture(
            b,
            "music",
            &format!("[server]\nadmin = false\n{MUSIC_TOML}"),
        );
        for path in [
            "/_admin",
            "/_admin/",
            "/_admin/admin.js",
            "/_admin/admin.css",
        ] {
            s.get(path).assert_error(404, "not_found");
        }
        // The API is unaffected.
        assert_eq!(
            s.get("/artists?id=eq.1").json(),
            json!([{"id": 1, "name": "AC/DC"}])
        );
    }
}

#[test]
fn off_by_default_on_a_public_bind_and_on_when_asked() {
    let start = |server: &str| {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("m.db");
        let conn = rusqlite::Connection::open(&db).expect("open");
        conn.execute_batch(MUSIC_SQLITE).expect("load");
        let toml = format!(
            "[server]\n{server}\n[database]\nurl = \"sqlite://{}\"\n{MUSIC_TOML}",
            db.display()
        );
        TestServer::start_with_config(Backend::Sqlite, dir, &toml)
    };
    let public = start("bind = \"0.0.0.0:0\"");
    public.get("/_admin/").assert_error(404, "not_found");
    assert_eq!(public.get("/artists?id=eq.1").status, 200);
    let asked = start("bind = \"0.0.0.0:0\"\nadmin = true");
    assert_served(&asked);
}

#[test]
fn schema_documents_carry_order_key_and_foreign_keys() {
    each_backend(|s| {
        let v = s.get("/_schema/tracks").json();
        assert_eq!(
            v["x-column-order"],
            json!([
                "id",
                "name",
                "album_id",
                "milliseconds",
                "unit_price",
                "genre"
            ]),
            "{}",
            s.backend.name()
        );
        assert_eq!(v["x-primary-key"], json!(["id"]));
        assert_eq!(
            v["x-foreign-keys"],
            json!([{"columns": ["album_id"], "references": {"service": "albums", "columns": ["id"]}}])
        );
        let v = s.get("/_schema/playlist_items").json();
        assert_eq!(v["x-primary-key"], json!(["playlist_id", "track_id"]));
        let fks = v["x-foreign-keys"].as_array().expect("array");
        assert_eq!(fks.len(), 2, "{v}");
        assert!(fks.contains(
            &json!({"columns": ["track_id"], "references": {"service": "tracks", "columns": ["id"]}})
        ));
        // A service referencing nothing has an empty list; the row schema is unchanged.
        let v = s.get("/_schema/artists").json();
        assert_eq!(v["x-foreign-keys"], json!([]));
        assert_eq!(v["required"], json!(["name"]));
    });
}

#[test]
fn a_hidden_foreign_key_column_is_not_listed() {
    for b in backends() {
        let toml = MUSIC_TOML.replace(
            "[services.tracks]\n",
            "[services.tracks]\nhidden = [\"album_id\"]\n",
        );
        let s = TestServer::fixture(b, "music", &toml);
        let v = s.get("/_schema/tracks").json();
        assert_eq!(v["x-foreign-keys"], json!([]), "{}", b.name());
        assert!(!v.to_string().contains("album_id"), "{v}");
    }
}
