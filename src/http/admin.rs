//! The admin page at `/_admin/`: the embedded HTML, JavaScript, CSS and icon (compiled into
//! the binary, nothing fetched at run time), their content types, ETags and cache headers,
//! the `/_admin` -> `/_admin/` redirect and the on/off switch (`[server] admin`).
//!
//! It must not know about services, the database or the API's rules: the page is a client
//! of the public API like any other, so it gets the same limits, auth and hidden columns.

use std::sync::OnceLock;

use poem::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use poem::{Body, Response};

use crate::error::{ApiError, ApiResult};

/// The URL prefix the page lives under.
pub const PREFIX: &str = "/_admin";

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: [Asset; 4] = [
    Asset {
        path: "/_admin/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("admin/index.html"),
    },
    Asset {
        path: "/_admin/admin.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("admin/admin.js"),
    },
    Asset {
        path: "/_admin/admin.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("admin/admin.css"),
    },
    Asset {
        path: "/_admin/favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("admin/favicon.svg"),
    },
];

/// Only the page's own files may run or be loaded; requests go to this origin only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   img-src 'self' data: blob:; connect-src 'self'; form-action 'none'; \
                   base-uri 'none'; frame-ancestors 'none'";

/// The ETag of each asset (hashed once, on first use).
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| crate::response::etag(a.body))
            .collect()
    })
}

/// True for `/_admin` and everything under `/_admin/`.
pub fn is_admin_path(path: &str) -> bool {
    path == PREFIX
        || path
            .strip_prefix(PREFIX)
            .is_some_and(|r| r.starts_with('/'))
}

/// The answer to a request for an admin path (`is_admin_path`). Off: 404, as for any
/// unknown route.
pub fn serve(
    enabled: bool,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    if !enabled {
        return Err(ApiError::not_found(format!("no route for {path}")));
    }
    if method != Method::GET && method != Method::HEAD {
        return Err(ApiError::MethodNotAllowed {
            method: method.to_string(),
            service: PREFIX.into(),
            allow: "GET, HEAD".into(),
        });
    }
    if path == PREFIX {
        let location = match query {
            Some(q) if !q.is_empty() => format!("{PREFIX}/?{q}"),
            _ => format!("{PREFIX}/"),
        };
        let mut resp = Response::builder()
            .status(StatusCode::PERMANENT_REDIRECT)
            .body(Body::empty());
        if let Ok(v) = HeaderValue::from_str(&location) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        return Ok(resp);
    }
    let path = if path == "/_admin/index.html" {
        "/_admin/"
    } else {
        path
    };
    let Some(n) = ASSETS.iter().position(|a| a.path == path) else {
        return Err(ApiError::not_found(format!("no route for {path}")));
    };
    let asset = &ASSETS[n];
    let etag = &etags()[n];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if fresh {
        Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
    } else {
        let body = if method == Method::HEAD {
            Body::empty()
        } else {
            Body::from(bytes::Bytes::from_static(asset.body))
        };
        Response::builder()
            .status(StatusCode::OK)
            .content_type(asset.content_type)
            .body(body)
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    // Revalidate every time (a cheap 304): an upgraded binary never serves a stale page.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if asset.content_type.starts_with("text/html") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_paths() {
        assert!(is_admin_path("/_admin"));
        assert!(is_admin_path("/_admin/"));
        assert!(is_admin_path("/_admin/admin.js"));
        assert!(!is_admin_path("/_administrators"));
        assert!(!is_admin_path("/tracks"));
    }

    #[test]
    fn every_asset_has_an_etag_and_a_body() {
        assert_eq!(etags().len(), ASSETS.len());
        for a in &ASSETS {
            assert!(!a.body.is_empty(), "{}", a.path);
        }
    }
}
