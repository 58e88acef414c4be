//! HTTP: poem glue. Routes a request to the index, the operational endpoints or a
//! service, runs the pipeline (ApiRequest -> Plan -> execute) and renders the outcome:
//! status, headers (Content-Range, Location, ETag, Preference-Applied, CORS, request id)
//! and body. Errors become `ApiError` JSON here and nowhere else.

mod admin;
mod handlers;
pub mod listen;
pub mod metrics;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use poem::http::{header, HeaderName, HeaderValue, StatusCode};
use poem::{Body, Endpoint, Request, Response};
use tracing::Instrument;

use crate::error::ApiError;

pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub(crate) const PREFERENCE_APPLIED: HeaderName = HeaderName::from_static("preference-applied");
pub(crate) const RANGE_UNIT: HeaderName = HeaderName::from_static("range-unit");
/// Read your writes (`[database] replicas`): a write answers the primary's log position
/// in it; a read that sends it back runs only where that position has been replayed.
pub(crate) const POSITION: HeaderName = HeaderName::from_static("restable-position");
use crate::state::AppState;

/// What every request handler shares: the swappable state and request-id generation.
pub struct Server {
    pub state: ArcSwap<AppState>,
    next_id: AtomicU64,
    id_prefix: u32,
    pub metrics: metrics::Metrics,
    /// Held while a new state is built and swapped in (SIGHUP, the config file, a schema
    /// change), so that two reloads never race and the later one always wins.
    pub reloading: tokio::sync::Mutex<()>,
}

impl Server {
    pub fn new(state: AppState) -> Arc<Server> {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
            .unwrap_or(0)
            ^ std::process::id();
        Arc::new(Server {
            state: ArcSwap::from_pointee(state),
            next_id: AtomicU64::new(1),
            id_prefix: seed,
            metrics: metrics::Metrics::new(),
            reloading: tokio::sync::Mutex::new(()),
        })
    }

    fn request_id(&self, req: &Request) -> String {
        if let Some(id) = req
            .headers()
            .get(X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 200)
        {
            return id.to_string();
        }
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        // "{prefix:08x}-{n:012x}", without the formatting machinery.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut id = String::with_capacity(21);
        for shift in (0..8).rev() {
            id.push(char::from(
                HEX[((self.id_prefix >> (shift * 4)) & 15) as usize],
            ));
        }
        id.push('-');
        for shift in (0..12).rev() {
            id.push(char::from(HEX[((n >> (shift * 4)) & 15) as usize]));
        }
        id
    }
}

/// The poem endpoint: every request goes through `Api::call`.
pub struct Api {
    pub server: Arc<Server>,
}

impl Endpoint for Api {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let id = self.server.request_id(&req);
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        // The span costs a tenth of a small request when it is recorded, so it is a debug
        // span; errors name the request themselves (`REQUEST_ID`).
        let span = tracing::debug_span!(
            "request",
            request_id = %id,
            %method,
            %path,
            role = tracing::field::Empty
        );
        let state = self.server.state.load_full();
        let started = std::time::Instant::now();
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        let service_label = if state.cache.service(first).is_some() {
            first
        } else {
            metrics::OTHER
        };
        let method_label = metrics::method_label(&method);
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let is_metrics = path == "/_metrics"
            && (method == poem::http::Method::GET || method == poem::http::Method::HEAD);
        let resp = async {
            let resp = if is_metrics {
                metrics_response(&self.server.metrics, &state)
            } else {
                handlers::handle(&state, req).await
            };
            let status = resp.status().as_u16();
            let role = resp
                .extensions()
                .get::<handlers::Role>()
                .map_or("-", |r| r.0.as_str())
                .to_string();
            if status >= 500 {
                tracing::error!(request_id = %id, %method, %path, %role, status, "request failed");
            } else if status == 401 || status == 403 {
                tracing::info!(request_id = %id, %method, %path, %role, status, "request refused");
            } else {
                tracing::debug!(status, "request done");
            }
            resp
        };
        let mut resp = REQUEST_ID.scope(id.clone(), resp.instrument(span)).await;
        if let Ok(v) = HeaderValue::from_str(&id) {
            resp.headers_mut().insert(X_REQUEST_ID, v);
        }
        if let Some(origin) = origin {
            cors_headers(&state.config.server.cors_origins, &origin, &mut resp);
        }
        self.server.metrics.record(
            service_label,
            method_label,
            resp.status().as_u16(),
            started.elapsed(),
        );
        Ok(resp)
    }
}

fn metrics_response(m: &metrics::Metrics, state: &AppState) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(Body::from(m.render(state)))
}

const EXPOSED: &str =
    "Content-Range, Content-Location, Location, ETag, Preference-Applied, Range-Unit, Restable-Position, x-request-id";

fn origin_allowed(allowed: &[String], origin: &str) -> bool {
    allowed.iter().any(|o| o == "*" || o == origin)
}

/// The CORS headers of an answer to `origin`, as PostgREST (wai-cors) writes them: with
/// `"*"` configured, `Access-Control-Allow-Origin: *` (a wildcard, so no credentials); for
/// a listed origin, the origin itself, `Access-Control-Allow-Credentials: true` and
/// `Vary: Origin`. Origins not allowed get nothing.
fn cors_headers(allowed: &[String], origin: &str, resp: &mut Response) {
    let listed = allowed.iter().any(|o| o == origin);
    if !listed && !allowed.iter().any(|o| o == "*") {
        return;
    }
    let h = resp.headers_mut();
    if listed {
        let Ok(v) = HeaderValue::from_str(origin) else {
            return;
        };
        h.insert("access-control-allow-origin", v);
        h.insert(
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        );
        h.insert("vary", HeaderValue::from_static("Origin"));
    } else {
        h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    }
    h.insert(
        "access-control-expose-headers",
        HeaderValue::from_static(EXPOSED),
    );
}

tokio::task_local! {
    /// The id of the request this task is answering, for error logs.
    static REQUEST_ID: String;
}

/// The JSON error response for `e`.
pub fn error_response(e: &ApiError) -> Response {
    if let ApiError::Internal { details } = e {
        let request_id = REQUEST_ID.try_with(String::clone).unwrap_or_default();
        tracing::error!(%request_id, details = %details, "internal error");
    }
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(Body::from(Bytes::from(e.body_text())));
    match e {
        ApiError::MethodNotAllowed { allow, .. } => {
            if let Ok(v) = HeaderValue::from_str(allow) {
                resp.headers_mut().insert("allow", v);
            }
        }
        ApiError::NotWritable { .. } => {
            resp.headers_mut()
                .insert("allow", HeaderValue::from_static("OPTIONS,GET,HEAD"));
        }
        ApiError::Unauthorized { invalid_token, .. } => {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(if *invalid_token {
                    "Bearer error=\"invalid_token\""
                } else {
                    "Bearer"
                }),
            );
        }
        _ => {}
    }
    if let ApiError::RangeNotSatisfiable {
        total: Some(total), ..
    } = e
    {
        if let Ok(v) = HeaderValue::from_str(&format!("*/{total}")) {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    resp
}
