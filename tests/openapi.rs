//! `GET /openapi.json` and `restable openapi` (SPEC §1, §4.1): an OpenAPI 3.1 document of
//! every service, only the methods each allows, no hidden column anywhere, and valid by
//! `openapi-spec-validator` when Python has it.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

/// Music with `tracks.genre` hidden, `playlists` read-only by method, and the junction
/// table exposed twice: once as a service, once for embedding only.
const TOML: &str = r#"
[services.artists]
[services.albums]
[services.tracks]
hidden = ["genre"]
[services.playlists]
methods = ["GET"]
[services.playlist_items]
table = "playlist_tracks"
[services.junction]
table = "playlist_tracks"
methods = []
"#;

const ALL: [&str; 5] = ["get", "post", "patch", "put", "delete"];

fn methods_of(path_item: &Value) -> Vec<&str> {
    let obj = path_item.as_object().expect("path item");
    ALL.iter()
        .copied()
        .chain(["head"])
        .filter(|m| obj.contains_key(*m))
        .collect()
}

fn assert_ref(v: &Value, target: &str, what: &str) {
    assert_eq!(
        v["$ref"],
        format!("#/components/schemas/{target}"),
        "{what}: {v}"
    );
}

/// The interpreter to validate with: `$RESTABLE_TEST_PYTHON`, else `python3`, when it can
/// import `openapi_spec_validator`.
fn validator_python() -> Option<String> {
    let python = std::env::var("RESTABLE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(python)
}

fn validate_with_python(doc: &Value) {
    let Some(python) = validator_python() else {
        eprintln!(
            "notice: python3 cannot import openapi_spec_validator; skipping the validation \
             (pip install openapi-spec-validator, or set RESTABLE_TEST_PYTHON)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, doc.to_string()).expect("write document");
    let out = Command::new(&python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("run openapi_spec_validator");
    assert!(
        out.status.success(),
        "openapi-spec-validator failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check_document(doc: &Value, text: &str) {
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["jsonSchemaDialect"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/",
        "/openapi.json",
        "/_health",
        "/_ready",
        "/_schema/{service}",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }

    // Every service with methods, and its item path named after the key columns.
    for svc in ["artists", "albums", "tracks"] {
        let coll = &paths[&format!("/{svc}")];
        assert_eq!(methods_of(coll), [&ALL[..], &["head"]].concat(), "{svc}");
        let item = &paths[&format!("/{svc}/{{id}}")];
        assert_eq!(
            methods_of(item),
            ["get", "patch", "put", "delete", "head"],
            "{svc}"
        );
        assert_eq!(item["parameters"][0]["name"], "id");
        assert_eq!(item["parameters"][0]["in"], "path");
        assert_eq!(item["parameters"][0]["schema"]["type"], "integer");
    }
    let composite = &paths["/playlist_items/{playlist_id}/{track_id}"];
    let names: Vec<&str> = composite["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["playlist_id", "track_id"]);

    // Only the allowed methods.
    assert_eq!(methods_of(&paths["/playlists"]), ["get", "head"]);
    assert_eq!(methods_of(&paths["/playlists/{id}"]), ["get", "head"]);
    // Embedding-only services are in components, not in paths.
    assert!(
        !paths.keys().any(|p| p.starts_with("/junction")),
        "{paths:?}"
    );
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for s in [
        "artists",
        "albums",
        "tracks",
        "playlists",
        "playlist_items",
        "junction",
        "Error",
    ] {
        assert!(schemas.contains_key(s), "components.schemas.{s}");
    }
    assert!(schemas["tracks"].get("$schema").is_none());
    assert_eq!(schemas["tracks"]["type"], "object");
    assert!(schemas["tracks"]["properties"].get("unit_price").is_some());
    let err = &schemas["Error"];
    assert_eq!(
        err["required"],
        serde_json::json!(["code", "message", "details", "hint"])
    );

    // The hidden column is nowhere.
    assert!(!text.contains("genre"), "hidden column in the document");

    // Parameters: the grammar and one filter per visible column.
    let get = &paths["/tracks"]["get"];
    let params: Vec<(&str, &str)> = get["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().expect("name"),
                p["in"].as_str().expect("in"),
            )
        })
        .collect();
    for p in [
        "select", "order", "limit", "offset", "id", "name", "album_id",
    ] {
        assert!(params.contains(&(p, "query")), "{p} in {params:?}");
    }
    for h in ["Range", "Prefer", "Accept"] {
        assert!(params.contains(&(h, "header")), "{h} in {params:?}");
    }
    let filter = get["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "album_id")
        .unwrap();
    assert!(filter["description"].as_str().unwrap().contains("op.value"));

    // Request and response schemas reference the components.
    let ok = &get["responses"]["200"]["content"];
    assert_eq!(ok["application/json"]["schema"]["type"], "array");
    assert_ref(
        &ok["application/json"]["schema"]["items"],
        "tracks",
        "GET 200",
    );
    assert!(ok.get("text/csv").is_some());
    assert!(get["responses"].get("206").is_some());
    for status in ["400", "404", "406", "416"] {
        assert_ref(
            &get["responses"][status]["content"]["application/json"]["schema"],
            "Error",
            status,
        );
    }
    let post = &paths["/tracks"]["post"];
    let body = &post["requestBody"]["content"]["application/json"]["schema"]["oneOf"];
    assert_ref(&body[0], "tracks", "POST object");
    assert_ref(&body[1]["items"], "tracks", "POST array");
    assert!(post["responses"].get("201").is_some());
    let patch = &paths["/tracks/{id}"]["patch"];
    let patch_body = &patch["requestBody"]["content"]["application/json"]["schema"];
    assert!(patch_body.get("required").is_none(), "{patch_body}");
    assert!(patch_body["properties"].get("name").is_some());
    assert_ref(
        &paths["/tracks/{id}"]["put"]["requestBody"]["content"]["application/json"]["schema"],
        "tracks",
        "PUT",
    );
    assert_ref(
        &paths["/tracks/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"],
        "tracks",
        "GET item",
    );
    // Every $ref points at an existing component.
    for (i, _) in text.match_indices("#/components/schemas/") {
        let rest = &text[i + "#/components/schemas/".len()..];
        let name: String = rest.chars().take_while(|c| *c != '"').collect();
        assert!(schemas.contains_key(&name), "dangling $ref {name}");
    }
}

#[test]
fn openapi_document_on_every_backend() {
    for b in backends() {
        let s = TestServer::fixture(b, "music", TOML);
        let r = s.get("/openapi.json");
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r
            .header("content-type")
            .unwrap_or("")
            .starts_with("application/json"));
        let doc = r.json();
        check_document(&doc, &r.text);
        validate_with_python(&doc);

        let head = s.req("HEAD", "/openapi.json").send();
        assert_eq!(head.status, 200);
        // The index points at it.
        assert_eq!(s.get("/").json()["openapi"], "/openapi.json");
    }
}

#[test]
fn openapi_cli_prints_the_document() {
    let s = TestServer::fixture(Backend::Sqlite, "music", TOML);
    let file = s.dir.path().join("cli.toml");
    std::fs::write(&file, format!("[database]\nurl = \"{}\"\n{TOML}", s.url))
        .expect("write config");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_restable"));
    for (k, _) in std::env::vars() {
        if k.starts_with("RESTABLE_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(["openapi", "--config"])
        .arg(&file)
        .output()
        .expect("run restable openapi");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let doc: Value = serde_json::from_str(&text).expect("stdout is JSON");
    check_document(&doc, &text);
    // The same document the server serves.
    assert_eq!(doc, s.get("/openapi.json").json());

    // A broken config: exit 1, nothing on stdout.
    let bad = s.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        format!("[database]\nurl = \"{}\"\n[services.nope]\n", s.url),
    )
    .expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_restable"))
        .args(["openapi", "--config"])
        .arg(&bad)
        .env_remove("RESTABLE_DATABASE_URL")
        .output()
        .expect("run restable openapi");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}
