//! Authentication and authorization (SPEC 4.7) on every backend: tokens (HMAC secret, PEM
//! public key, JWKS file and URL with key rotation), forged and expired tokens, roles per
//! service, what the index and OpenAPI show each role, and row ownership in reads,
//! counts, embeds and every kind of write, with a randomized check that no filter an
//! owner sends ever shows or changes another owner's rows.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use common::*;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &str = "restable-test-secret-0123456789-abcdefghijkl";
const SECRET_ENV: &str = "RESTABLE_TEST_JWT_SECRET";

fn key_file(name: &str) -> String {
    format!("{}/tests/fixtures/auth/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn hs(claims: Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("encode")
}

fn rs(claims: Value, kid: Option<&str>, private: &str) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = kid.map(str::to_string);
    let pem = std::fs::read(key_file(private)).expect("key");
    encode(&h, &claims, &EncodingKey::from_rsa_pem(&pem).expect("rsa")).expect("encode")
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

const SQL: &str = "
CREATE TABLE topics (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL);
INSERT INTO topics VALUES (1, 'work');
INSERT INTO topics VALUES (2, 'home');
CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id VARCHAR(40) NOT NULL, topic_id INTEGER,
  body VARCHAR(200), n INTEGER,
  CONSTRAINT notes_topic_id_fkey FOREIGN KEY (topic_id) REFERENCES topics(id));
INSERT INTO notes VALUES (1, 'u1', 1, 'a', 1);
INSERT INTO notes VALUES (2, 'u1', 2, 'b', 2);
INSERT INTO notes VALUES (3, 'u2', 1, 'c', 3);
INSERT INTO notes VALUES (4, 'u2', 2, 'd', 4);
INSERT INTO notes VALUES (5, 'u3', 1, 'e', 5);
";

fn toml(extra_auth: &str) -> String {
    format!(
        "
[auth]
mode = \"jwt\"
jwt_secret_env = \"{SECRET_ENV}\"
anonymous_role = \"anon\"
audience = \"restable\"
leeway_s = 0
{extra_auth}

[services.artists]
[services.artists.roles]
anon = [\"GET\"]
editor = [\"GET\", \"POST\", \"PATCH\", \"PUT\", \"DELETE\"]

[services.albums]

[services.tracks]
[services.tracks.roles]
editor = [\"GET\"]

[services.playlists]
[services.playlist_items]
table = \"playlist_tracks\"

[services.topics]
[services.notes]
owner_column = \"user_id\"
"
    )
}

fn start(b: Backend, extra_auth: &str) -> TestServer {
    std::env::set_var(SECRET_ENV, SECRET);
    let sql = format!("{}\n{SQL}", fixture("music", b));
    TestServer::start(b, &sql, &toml(extra_auth))
}

fn token(role: &str, sub: &str) -> String {
    hs(json!({"role": role, "sub": sub, "aud": "restable", "exp": now() + 600}))
}

fn as_(s: &TestServer, method: &'static str, path: &str, tok: &str) -> Resp {
    s.req(method, path)
        .header("Authorization", &format!("Bearer {tok}"))
        .send()
}

fn with_body(s: &TestServer, method: &'static str, path: &str, tok: &str, body: &Value) -> Resp {
    s.req(method, path)
        .header("Authorization", &format!("Bearer {tok}"))
        .json(body)
        .send()
}

fn ids(r: &Resp) -> Vec<i64> {
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v["id"].as_i64().expect("id"))
        .collect()
}

#[test]
fn roles_decide_methods_401_without_a_token_403_with_one() {
    for b in backends() {
        let s = start(b, "");
        let editor = token("editor", "u1");
        let viewer = token("viewer", "u1");
        // The anonymous role may read artists, not write them.
        assert_eq!(s.get("/artists?id=eq.1").status, 200);
        let r = s.post("/artists", &json!({"id": 9, "name": "X"}));
        let v = r.assert_error(401, "unauthorized");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{v}");
        // A token of a role that may not: 403.
        with_body(
            &s,
            "POST",
            "/artists",
            &viewer,
            &json!({"id": 9, "name": "X"}),
        )
        .assert_error(403, "forbidden");
        let r = with_body(
            &s,
            "POST",
            "/artists",
            &editor,
            &json!({"id": 9, "name": "X"}),
        );
        assert_eq!(r.status, 201, "{}: {}", b.name(), r.text);
        // tracks: editors only.
        s.get("/tracks").assert_error(401, "unauthorized");
        as_(&s, "GET", "/tracks", &viewer).assert_error(403, "forbidden");
        assert_eq!(as_(&s, "GET", "/tracks?id=eq.1", &editor).status, 200);
        // albums has no roles: open to every role.
        assert_eq!(s.get("/albums?id=eq.1").status, 200);
        assert_eq!(as_(&s, "GET", "/albums?id=eq.1", &viewer).status, 200);
        // Health and readiness need no token.
        assert_eq!(s.get("/_health").status, 200);
        assert_eq!(s.get("/_ready").status, 200);
        // The index and OpenAPI show each role what it may use.
        let anon = s.get("/").json();
        let names: Vec<&str> = anon["services"]
            .as_array()
            .expect("services")
            .iter()
            .filter_map(|s| s["name"].as_str())
            .collect();
        assert!(!names.contains(&"tracks"), "{anon}");
        let artists = anon["services"]
            .as_array()
            .expect("services")
            .iter()
            .find(|s| s["name"] == "artists")
            .expect("artists");
        assert_eq!(artists["methods"], json!(["GET"]));
        let ed = as_(&s, "GET", "/", &editor).json();
        assert!(ed.to_string().contains("\"tracks\""), "{ed}");
        let doc = s.get("/openapi.json").json();
        assert!(doc["paths"].get("/tracks").is_none());
        assert!(doc["paths"]["/artists"].get("post").is_none());
        assert!(doc["paths"]["/artists"].get("get").is_some());
        let doc = as_(&s, "GET", "/openapi.json", &editor).json();
        assert!(doc["paths"]["/artists"].get("post").is_some());
        s.get("/_schema/tracks").assert_error(404, "not_found");
    }
}

#[test]
fn forged_expired_and_malformed_tokens_are_401() {
    for b in backends() {
        let s = start(b, "");
        let t = now();
        let wrong_key = encode(
            &Header::new(Algorithm::HS256),
            &json!({"role": "editor", "aud": "restable", "exp": t + 600}),
            &EncodingKey::from_secret(b"not-the-secret-not-the-secret-not-the-secret"),
        )
        .expect("encode");
        let none = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(&format!(
                r#"{{"role":"editor","aud":"restable","exp":{}}}"#,
                t + 600
            ))
        );
        let expired = hs(json!({"role": "editor", "aud": "restable", "exp": t - 1}));
        let not_yet =
            hs(json!({"role": "editor", "aud": "restable", "exp": t + 600, "nbf": t + 300}));
        let wrong_aud = hs(json!({"role": "editor", "aud": "other", "exp": t + 600}));
        let no_aud = hs(json!({"role": "editor", "exp": t + 600}));
        let tampered = {
            let good = token("viewer", "u1");
            let parts: Vec<&str> = good.split('.').collect();
            let claims = b64(&format!(
                r#"{{"role":"editor","aud":"restable","exp":{}}}"#,
                t + 600
            ));
            format!("{}.{}.{}", parts[0], claims, parts[2])
        };
        for (what, bad) in [
            ("wrong key", wrong_key),
            ("alg none", none),
            ("expired by a second", expired),
            ("future nbf", not_yet),
            ("wrong aud", wrong_aud),
            ("no aud", no_aud),
            ("tampered claims", tampered),
            ("garbage", "garbage".to_string()),
            ("three dots", "a.b.c".to_string()),
        ] {
            let r = as_(&s, "GET", "/albums?id=eq.1", &bad);
            let v = r.assert_error(401, "unauthorized");
            assert_eq!(
                r.header("www-authenticate"),
                Some("Bearer error=\"invalid_token\""),
                "{}: {what}: {v}",
                b.name()
            );
            // The answer does not say which check failed.
            assert_eq!(v["message"], "the bearer token is not valid", "{what}");
        }
        let r = s
            .req("GET", "/albums")
            .header("Authorization", "Basic dXNlcjpwYXNz")
            .send();
        r.assert_error(401, "unauthorized");
    }
}

#[test]
fn public_key_file_refuses_the_hs256_confusion() {
    let b = Backend::Sqlite;
    let extra = format!(
        "jwt_public_key_file = \"{}\"\nanonymous_role = \"anon\"",
        key_file("rsa_public.pem")
    );
    let s = {
        std::env::set_var(SECRET_ENV, SECRET);
        let sql = format!("{}\n{SQL}", fixture("music", b));
        let t = toml("")
            .replace(&format!("jwt_secret_env = \"{SECRET_ENV}\"\n"), "")
            .replace("anonymous_role = \"anon\"\n", &format!("{extra}\n"));
        TestServer::start(b, &sql, &t)
    };
    let claims = json!({"role": "editor", "aud": "restable", "exp": now() + 600});
    let good = rs(claims.clone(), None, "rsa_private.pem");
    assert_eq!(as_(&s, "GET", "/tracks?id=eq.1", &good).status, 200);
    // The public key's bytes used as an HMAC secret: the classic algorithm confusion.
    let public = std::fs::read(key_file("rsa_public.pem")).expect("pem");
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&public),
    )
    .expect("encode");
    as_(&s, "GET", "/tracks", &confused).assert_error(401, "unauthorized");
    // Another RSA key.
    let other = rs(claims, None, "rsa2_private.pem");
    as_(&s, "GET", "/tracks", &other).assert_error(401, "unauthorized");
}

/// A JWKS server on 127.0.0.1 whose key set the test can swap.
fn jwks_server(body: Arc<Mutex<String>>) -> (String, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/jwks.json", listener.local_addr().expect("addr"));
    let hits = Arc::new(Mutex::new(0usize));
    let counted = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            *counted.lock().expect("hits") += 1;
            let text = body.lock().expect("body").clone();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    (url, hits)
}

#[test]
fn jwks_url_follows_a_key_rotation_without_a_restart() {
    let body = Arc::new(Mutex::new(
        std::fs::read_to_string(key_file("jwks1.json")).expect("jwks1"),
    ));
    let (url, hits) = jwks_server(Arc::clone(&body));
    let b = Backend::Sqlite;
    let sql = format!("{}\n{SQL}", fixture("music", b));
    let t = toml("").replace(
        &format!("jwt_secret_env = \"{SECRET_ENV}\"\n"),
        &format!("jwks_url = \"{url}\"\njwks_refresh_s = 1\n"),
    );
    let s = TestServer::start(b, &sql, &t);
    assert_eq!(*hits.lock().expect("hits"), 1, "fetched at start");
    let claims = json!({"role": "editor", "aud": "restable", "exp": now() + 600});
    let k1 = rs(claims.clone(), Some("k1"), "rsa_private.pem");
    assert_eq!(as_(&s, "GET", "/tracks?id=eq.1", &k1).status, 200);
    // The identity provider rotates to k2.
    *body.lock().expect("body") = std::fs::read_to_string(key_file("jwks2.json")).expect("jwks2");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let k2 = rs(claims.clone(), Some("k2"), "rsa2_private.pem");
    let r = as_(&s, "GET", "/tracks?id=eq.1", &k2);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        *hits.lock().expect("hits"),
        2,
        "fetched again for the unknown kid"
    );
    // Unknown kids do not make the server fetch on every request.
    let k3 = rs(claims, Some("k3"), "rsa2_private.pem");
    for _ in 0..5 {
        as_(&s, "GET", "/tracks", &k3).assert_error(401, "unauthorized");
    }
    assert!(*hits.lock().expect("hits") <= 3, "refresh is rate-limited");
}

#[test]
fn row_ownership_confines_reads_counts_embeds_and_writes() {
    for b in backends() {
        let s = start(b, "");
        let u1 = token("anyone", "u1");
        let u2 = token("anyone", "u2");
        // Reads, items, counts.
        assert_eq!(ids(&as_(&s, "GET", "/notes?order=id", &u1)), [1, 2]);
        assert_eq!(ids(&as_(&s, "GET", "/notes?order=id", &u2)), [3, 4]);
        as_(&s, "GET", "/notes/3", &u1).assert_error(404, "not_found");
        assert_eq!(as_(&s, "GET", "/notes/1", &u1).status, 200);
        let r = s
            .req("GET", "/notes?or=(id.eq.3,user_id.eq.u2)")
            .header("Authorization", &format!("Bearer {u1}"))
            .header("Prefer", "count=exact")
            .send();
        assert_eq!(r.json(), json!([]));
        assert_eq!(r.header("content-range"), Some("*/0"));
        // Embeds of an owned service show the caller's rows only.
        let r = as_(
            &s,
            "GET",
            "/topics?select=id,notes(id)&order=id&notes.order=id",
            &u1,
        );
        assert_eq!(
            r.json(),
            json!([{"id": 1, "notes": [{"id": 1}]}, {"id": 2, "notes": [{"id": 2}]}]),
            "{}",
            b.name()
        );
        let r = as_(
            &s,
            "GET",
            "/topics?select=id,notes!inner(id)&notes.id=eq.3",
            &u1,
        );
        assert_eq!(r.json(), json!([]));
        // No token, or a token without the claim: 403 / 401.
        s.get("/notes").assert_error(403, "forbidden");
        let nosub = hs(json!({"role": "anyone", "aud": "restable", "exp": now() + 600}));
        as_(&s, "GET", "/notes", &nosub).assert_error(403, "forbidden");
        // Insert: the owner filled in; another owner refused.
        let r = with_body(&s, "POST", "/notes", &u1, &json!({"id": 10, "body": "x"}));
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json()["user_id"], "u1");
        with_body(
            &s,
            "POST",
            "/notes",
            &u1,
            &json!({"id": 11, "user_id": "u2"}),
        )
        .assert_error(403, "forbidden");
        let r = with_body(
            &s,
            "POST",
            "/notes",
            &u1,
            &json!({"id": 12, "user_id": "u1"}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        // PATCH and DELETE of another's rows change nothing; an item is 404.
        let r = with_body(
            &s,
            "PATCH",
            "/notes?id=in.(3,4)",
            &u1,
            &json!({"body": "hacked"}),
        );
        assert_eq!(r.status, 204, "{}", r.text);
        with_body(&s, "PATCH", "/notes/3", &u1, &json!({"body": "hacked"}))
            .assert_error(404, "not_found");
        as_(&s, "DELETE", "/notes/4", &u1).assert_error(404, "not_found");
        let r = as_(&s, "DELETE", "/notes?id=gte.3&id=lte.5", &u1);
        assert_eq!(r.status, 204, "{}", r.text);
        // A PATCH cannot give a row away.
        with_body(&s, "PATCH", "/notes/1", &u1, &json!({"user_id": "u2"}))
            .assert_error(403, "forbidden");
        // PUT of another's key: as if absent, and the existing row stays theirs.
        let r = with_body(
            &s,
            "PUT",
            "/notes/3",
            &u1,
            &json!({"id": 3, "body": "mine?"}),
        );
        assert!(
            r.status == 409 || r.status == 403,
            "{}: {}",
            b.name(),
            r.text
        );
        // A merge upsert cannot take over another's row.
        let r = s
            .req("POST", "/notes")
            .header("Authorization", &format!("Bearer {u1}"))
            .header("Prefer", "resolution=merge-duplicates")
            .json(&json!({"id": 4, "body": "taken"}))
            .send();
        r.assert_error(409, "unique_violation");
        // u2 still has its rows as they were.
        let r = as_(&s, "GET", "/notes?select=id,body&order=id", &u2);
        assert_eq!(
            r.json(),
            json!([{"id": 3, "body": "c"}, {"id": 4, "body": "d"}]),
            "{}",
            b.name()
        );
        // If-Match on another's row: as if absent.
        let etag = as_(&s, "GET", "/notes/3", &u2)
            .header("etag")
            .map(str::to_string)
            .expect("etag");
        let r = s
            .req("PATCH", "/notes/3")
            .header("Authorization", &format!("Bearer {u1}"))
            .header("If-Match", &etag)
            .json(&json!({"body": "x"}))
            .send();
        assert!(r.status == 404 || r.status == 412, "{}", r.text);
        assert_eq!(as_(&s, "GET", "/notes/3", &u2).json()["body"], "c");
    }
}

/// A tiny deterministic generator (no dependency on the order proptest shrinks in).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

fn random_filter(r: &mut Rng, depth: u32) -> String {
    let leaf = |r: &mut Rng| {
        let col = r.pick(&["id", "user_id", "n", "body", "topic_id"]);
        let val = match col {
            "user_id" => r.pick(&["u1", "u2", "u3", "x"]).to_string(),
            "body" => r.pick(&["a", "c", "d", "e"]).to_string(),
            _ => (r.next() % 7).to_string(),
        };
        let op = r.pick(&["eq", "neq", "gt", "lt", "gte", "lte"]);
        let not = if r.next().is_multiple_of(4) {
            "not."
        } else {
            ""
        };
        match r.next() % 5 {
            0 => format!("{col}.{not}is.null"),
            1 => format!("{col}.{not}in.({val},{})", r.next() % 5),
            _ => format!("{col}.{not}{op}.{val}"),
        }
    };
    if depth == 0 || r.next().is_multiple_of(3) {
        return leaf(r);
    }
    let op = r.pick(&["or", "and"]);
    let not = if r.next().is_multiple_of(4) {
        "not."
    } else {
        ""
    };
    let n = 1 + r.next() % 3;
    let parts: Vec<String> = (0..n).map(|_| random_filter(r, depth - 1)).collect();
    format!("{not}{op}({})", parts.join(","))
}

#[test]
fn no_filter_an_owner_sends_shows_or_changes_another_owners_rows() {
    for b in backends() {
        let s = start(b, "");
        let u1 = token("anyone", "u1");
        let u2 = token("anyone", "u2");
        let theirs = as_(&s, "GET", "/notes?order=id", &u2).text;
        let mut rng = Rng(0x5eed_1234_abcd_0001 ^ b.name().len() as u64);
        for i in 0..120u32 {
            let tree = random_filter(&mut rng, 3);
            let q = format!("or=({tree})");
            // Reads.
            let r = as_(&s, "GET", &format!("/notes?{q}"), &u1);
            assert_eq!(r.status, 200, "{q}: {}", r.text);
            for row in r.json().as_array().expect("rows") {
                assert_eq!(row["user_id"], "u1", "{}: {q} showed {row}", b.name());
            }
            // Writes.
            let r = with_body(&s, "PATCH", &format!("/notes?{q}"), &u1, &json!({"n": i}));
            assert!(r.status == 204, "{q}: {}", r.text);
            if i.is_multiple_of(10) {
                let r = as_(&s, "DELETE", &format!("/notes?{q}&id=gt.100"), &u1);
                assert_eq!(r.status, 204, "{q}: {}", r.text);
            }
        }
        assert_eq!(
            as_(&s, "GET", "/notes?order=id", &u2).text,
            theirs,
            "{}",
            b.name()
        );
    }
}

#[test]
fn config_checks() {
    for (toml, key) in [
        ("[auth]\nmode = \"magic\"\n[services.artists]\n", "auth.mode"),
        ("[auth]\nmode = \"jwt\"\n[services.artists]\n", "auth"),
        (
            "[services.artists]\nowner_column = \"name\"\n",
            "services.artists.owner_column",
        ),
        (
            "[services.artists.roles]\nanon = [\"GET\"]\n",
            "services.artists.roles",
        ),
        (
            "[auth]\nmode = \"jwt\"\njwt_secret_env = \"X\"\n[services.artists.roles]\nanon = [\"FETCH\"]\n",
            "services.artists.roles.anon",
        ),
        (
            "[auth]\nmode = \"jwt\"\njwt_secret_env = \"X\"\ndatabase_roles = true\n[services.artists]\n",
            "auth.database_roles",
        ),
    ] {
        let e = restable::config::Config::parse(
            toml,
            std::path::Path::new("services.toml"),
            &Default::default(),
            &[],
        )
        .expect_err(toml);
        assert_eq!(e.key, key, "{toml}: {e}");
    }
}
