//! CORS from `cors_origins`: allowed origins get the headers (with Content-Range and the
//! other response headers exposed), others get none; preflights are answered.

mod common;

use common::*;

const TOML: &str = "[server]\ncors_origins = [\"https://app.example.com\"]\n[services.artists]\n";

#[test]
fn cors_for_configured_origins_only() {
    for b in backends() {
        let s = TestServer::fixture(b, "music", TOML);
        let r = s
            .req("GET", "/artists?id=eq.1")
            .header("origin", "https://app.example.com")
            .send();
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), serde_json::json!([{"id": 1, "name": "AC/DC"}]));
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.example.com")
        );
        let exposed = r.header("access-control-expose-headers").unwrap_or("");
        for h in [
            "Content-Range",
            "Location",
            "ETag",
            "Preference-Applied",
            "Restable-Position",
            "x-request-id",
        ] {
            assert!(exposed.contains(h), "{h} not exposed: {exposed}");
        }

        let r = s
            .req("GET", "/artists?id=eq.1")
            .header("origin", "https://evil.example.com")
            .send();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("access-control-allow-origin"), None);

        let r = s
            .req("OPTIONS", "/artists")
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type, prefer")
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r
            .header("access-control-allow-methods")
            .unwrap_or("")
            .contains("POST"));
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("content-type, prefer")
        );
        assert_eq!(r.header("access-control-max-age"), Some("86400"));
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.example.com")
        );
    }
}

#[test]
fn cors_wildcard_and_credentials_as_postgrest() {
    let star = "[server]\ncors_origins = [\"*\"]\n[services.artists]\n";
    for b in backends() {
        let s = TestServer::fixture(b, "music", star);
        let r = s
            .req("GET", "/artists?id=eq.1")
            .header("origin", "https://anything.example")
            .send();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert_eq!(r.header("access-control-allow-credentials"), None);
        let r = s
            .req("OPTIONS", "/artists")
            .header("origin", "https://anything.example")
            .header("access-control-request-method", "POST")
            .send();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert!(r
            .header("access-control-allow-methods")
            .unwrap_or("")
            .contains("POST"));

        // A listed origin: echoed, with credentials, on preflights and answers.
        let s = TestServer::fixture(b, "music", TOML);
        let r = s
            .req("OPTIONS", "/artists")
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "POST")
            .send();
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.example.com")
        );
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        let r = s
            .req("GET", "/artists?id=eq.1")
            .header("origin", "https://app.example.com")
            .send();
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(r.header("vary"), Some("Origin"));
    }
}
