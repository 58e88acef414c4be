//! Route handlers: the pipeline for data routes and the small operational routes.

use std::sync::Arc;

use bytes::Bytes;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986's unreserved characters is escaped in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
use poem::http::{header, HeaderName, HeaderValue, Method as HttpMethod, StatusCode};
use poem::{Body, Request, Response};
use serde_json::{json, Value};

use super::{error_response, POSITION, PREFERENCE_APPLIED, RANGE_UNIT};
use crate::auth::Caller;
use crate::config::Backend;
use crate::error::{ApiError, ApiResult};
use crate::exec::{ReadOutput, ReadRequest, RowBody, WriteOp, WriteOutput, WriteRequest};
use crate::plan::write::{self, Assign, DeletePlan, InsertOptions, UpdatePlan};
use crate::plan::{self, Condition, Selected, Session};
use crate::request::ast::{CmpOp, Operation};
use crate::request::prefer::{Applied, ReturnPref, Tx};
use crate::request::Format;
use crate::request::{Action, ApiRequest};
use crate::response::etag;
use crate::schema::{Method, Service};
use crate::state::AppState;

/// The role a request ran as, for its log line (a response extension; never the token).
#[derive(Clone)]
pub struct Role(pub String);

pub async fn handle(state: &Arc<AppState>, mut req: Request) -> Response {
    let mut body = Some(req.take_body());
    let mut role = None;
    // The whole body must arrive within body_timeout_ms of the head (a client that sends
    // it a byte at a time must not hold a connection, and maybe a pool slot, for ever).
    let body_deadline = tokio::time::Instant::now()
        + std::time::Duration::from_millis(state.config.server.body_timeout_ms);
    let mut resp = match BODY_DEADLINE
        .scope(body_deadline, route(state, req, &mut body, &mut role))
        .await
    {
        Ok(r) => r,
        Err(e) => {
            let mut resp = error_response(&e);
            if matches!(e, ApiError::BodyTimeout { .. }) {
                // The rest of the body may still come: the connection cannot be reused.
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            resp
        }
    };
    if let Some(role) = role {
        resp.extensions_mut().insert(Role(role));
    }
    if let Some(unread) = body.filter(|b| !b.is_empty()) {
        // Answered without reading the body (an early 4xx): read it anyway, within the
        // body limit and the body deadline, so the client is not cut off while it is
        // still sending.
        let limit = usize::try_from(state.config.server.max_body_bytes).unwrap_or(usize::MAX);
        let _ = tokio::time::timeout_at(body_deadline, Box::pin(collect_body(unread, limit))).await;
    }
    resp
}

tokio::task_local! {
    /// When the request body must have arrived whole (`body_timeout_ms` after the head).
    static BODY_DEADLINE: tokio::time::Instant;
}

/// The whole body, or `PayloadTooLarge` past `limit` bytes. A body that arrives in one
/// frame (most do) is returned as it came, without a copy.
async fn collect_body(body: Body, limit: usize) -> Result<Bytes, poem::error::ReadBodyError> {
    use futures_util::StreamExt;
    let mut frames = body.into_bytes_stream();
    let mut first: Option<Bytes> = None;
    let mut joined = bytes::BytesMut::new();
    let mut len = 0usize;
    while let Some(frame) = frames.next().await {
        let frame = frame?;
        len = len.saturating_add(frame.len());
        if len > limit {
            return Err(poem::error::ReadBodyError::PayloadTooLarge);
        }
        match first.take() {
            None if joined.is_empty() => first = Some(frame),
            prior => {
                if let Some(prior) = prior {
                    joined.extend_from_slice(&prior);
                }
                joined.extend_from_slice(&frame);
            }
        }
    }
    Ok(first.unwrap_or_else(|| joined.freeze()))
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(Body::from(Bytes::from(v.to_string())))
}

fn decode_segment(s: &str) -> ApiResult<String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| ApiError::bad_request("bad_path", "the URL path is not valid UTF-8"))
}

/// The `Allow` header of a route, as PostgREST writes it (`OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE`:
/// that order, no spaces): the service's methods, PUT only with a primary key, and no POST
/// on an item route (`/{service}/{key}`), which only GET, HEAD, PATCH, PUT and DELETE serve.
fn allow_header(svc: &Service, item: bool) -> String {
    let mut out = vec!["OPTIONS"];
    for m in [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
    ] {
        let usable = match m {
            Method::Post => !item,
            Method::Put => !svc.primary_key.is_empty(),
            _ => true,
        };
        if !usable || !svc.allows(m) {
            continue;
        }
        out.push(m.as_str());
        if m == Method::Get {
            out.push("HEAD");
        }
    }
    out.join(",")
}

fn not_allowed(svc: &Service, method: &str, item: bool) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        service: svc.name.clone(),
        allow: allow_header(svc, item),
    }
}

async fn route(
    state: &Arc<AppState>,
    req: Request,
    body: &mut Option<Body>,
    role: &mut Option<String>,
) -> ApiResult<Response> {
    let path = req.uri().path().to_string();
    if super::admin::is_admin_path(&path) {
        return super::admin::serve(
            state.config.server.admin_enabled(),
            req.method(),
            &path,
            req.uri().query(),
            req.headers(),
        );
    }
    let raw_segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut segments = raw_segments
        .iter()
        .map(|s| decode_segment(s))
        .collect::<ApiResult<Vec<String>>>()?;
    if segments.len() > 1 && segments.last().is_some_and(String::is_empty) {
        segments.pop();
    }
    let method = req.method().clone();
    let is_read = method == HttpMethod::GET || method == HttpMethod::HEAD;
    let first = segments.first().map(String::as_str).unwrap_or("");
    // Who is asking, for the routes that show or touch services (not health, readiness,
    // metrics or CORS preflights).
    let needs_caller = match first {
        // The admin page's files: the page asks for a token itself.
        "_health" | "_ready" | "_metrics" | "_admin" => false,
        _ => method != HttpMethod::OPTIONS,
    };
    let caller = match (&state.auth, needs_caller) {
        (Some(auth), true) => {
            let authorization = req
                .headers()
                .get(header::AUTHORIZATION)
                .map(|v| v.as_bytes());
            // A token seen before is known at once; verifying a new one is boxed, so the
            // request's future does not carry it.
            let caller = match auth.known_caller(authorization) {
                Some(known) => known?,
                None => Box::pin(auth.caller(authorization)).await?,
            };
            let name = caller.role.as_deref().unwrap_or("-");
            tracing::Span::current().record("role", name);
            *role = Some(name.to_string());
            caller
        }
        _ => Caller::open(),
    };

    // Operational routes.
    match (first, segments.len()) {
        ("", 1) if is_read => return Ok(index(state, &caller)),
        ("_health", 1) if is_read => {
            return Ok(json_response(StatusCode::OK, &json!({"status": "ok"})))
        }
        ("_ready", 1) if is_read => {
            // Each database this instance uses, by role: the primary pinged now, the
            // replicas as last checked (twice a second). 503 only when the primary does
            // not answer: reads fall back to it, so replicas down still serve.
            let instance = state.config.server.instance_id();
            let replicas = ready_replicas(state);
            return Ok(if state.db.ping().await {
                json_response(
                    StatusCode::OK,
                    &json!({
                        "status": "ready",
                        "instance": instance,
                        "primary": {"status": "up"},
                        "replicas": replicas,
                    }),
                )
            } else {
                let e = ApiError::DbUnavailable {
                    details: "the database does not answer".into(),
                };
                let mut body: Value = serde_json::from_str(&e.body_text()).unwrap_or(Value::Null);
                if let Value::Object(o) = &mut body {
                    o.insert("status".into(), json!("unavailable"));
                    o.insert("instance".into(), json!(instance));
                    o.insert("primary".into(), json!({"status": "down"}));
                    o.insert("replicas".into(), replicas);
                }
                json_response(StatusCode::SERVICE_UNAVAILABLE, &body)
            });
        }
        ("openapi.json", 1) if is_read => {
            return Ok(json_response(
                StatusCode::OK,
                &crate::openapi::document_for(&state.cache, None, caller.role.as_deref()),
            ))
        }
        ("_schema", 2) if is_read => {
            let svc = service(state, &segments[1])?;
            if svc.methods_for(caller.role.as_deref()).is_empty() && svc.roles.is_some() {
                return Err(not_found_service(&segments[1]));
            }
            let doc = crate::schema::json_schema::document(
                &svc.json_schema,
                &svc.columns,
                &svc.primary_key,
                &svc.relationships,
            );
            return Ok(json_response(StatusCode::OK, &doc));
        }
        _ => {}
    }
    if first.starts_with('_') || first.is_empty() {
        return Err(ApiError::not_found(format!("no route for {path}")));
    }
    let svc = Arc::clone(service(state, first)?);
    let key = if segments.len() > 1 {
        Some(segments[1..].to_vec())
    } else {
        None
    };

    let action = match method {
        HttpMethod::GET => Action::Get,
        HttpMethod::HEAD => Action::Head,
        HttpMethod::POST => Action::Post,
        HttpMethod::PATCH => Action::Patch,
        HttpMethod::PUT => Action::Put,
        HttpMethod::DELETE => Action::Delete,
        HttpMethod::OPTIONS => return Ok(options(state, &req, &svc, key.is_some())),
        other => return Err(not_allowed(&svc, other.as_str(), key.is_some())),
    };
    let needed = match action {
        Action::Get | Action::Head => Method::Get,
        Action::Post => Method::Post,
        Action::Patch => Method::Patch,
        Action::Put => Method::Put,
        Action::Delete => Method::Delete,
    };
    if !svc.allows(needed) || (action == Action::Post && key.is_some()) {
        return Err(not_allowed(&svc, method.as_str(), key.is_some()));
    }
    if !svc.permits(caller.role.as_deref(), needed) {
        let message = format!(
            "role '{}' may not {} '{}'",
            caller.role.as_deref().unwrap_or("(none)"),
            needed.as_str(),
            svc.name
        );
        return Err(if caller.token {
            ApiError::Forbidden { message }
        } else {
            ApiError::Unauthorized {
                message,
                invalid_token: false,
            }
        });
    }

    let raw_query = req.uri().query().unwrap_or("").to_string();
    let api = ApiRequest::parse(action, &svc.name, key, &raw_query, req.headers())?;

    let body = if matches!(action, Action::Post | Action::Patch | Action::Put) {
        Some(Box::pin(read_body(state, &req, body)).await?)
    } else {
        None
    };
    // With `database_roles`, the statements run as the caller's database role.
    let mut session = if state.config.auth.database_roles {
        Session::for_caller(&caller, method.as_str(), req.uri().path())?
    } else {
        Session::none()
    };
    // `Prefer: timezone=` on PostgreSQL, for a zone the tz database has (else it is not
    // applied): the encoder writes timestamps in it, and the session sets it so that the
    // JSON the database builds (embeds) says the same.
    let zone = match (&api.prefer.timezone, state.db.backend()) {
        (Some(name), Backend::Postgres) => crate::response::zone(name).inspect(|_| {
            session.settings.push(("timezone", name.clone()));
        }),
        _ => None,
    };
    let who = Who {
        caller: &caller,
        session: &session,
        zone: zone.as_ref(),
    };
    let after = match action {
        Action::Get | Action::Head => read_position(state, req.headers())?,
        _ => None,
    };
    let result = match action {
        // Each branch's future is boxed so the request future poem moves onto the heap
        // holds none of them inline (moving large futures cost more than the query did).
        Action::Get | Action::Head => Box::pin(read(state, &svc, &api, who, after)).await,
        Action::Post => Box::pin(post(state, &svc, &api, body.as_ref(), who)).await,
        Action::Patch => Box::pin(patch(state, &svc, &api, body.as_ref(), who)).await,
        Action::Put => Box::pin(put(state, &svc, &api, body.as_ref(), who)).await,
        Action::Delete => Box::pin(delete(state, &svc, &api, who)).await,
    };
    // The database refused the caller's role a privilege: like every refusal, 401 for
    // a request without a token (PostgREST's answer to SQLSTATE 42501 for anonymous).
    match result {
        Err(ApiError::Forbidden { message })
            if !caller.token && state.config.auth.database_roles =>
        {
            Err(ApiError::Unauthorized {
                message,
                invalid_token: false,
            })
        }
        other => other,
    }
}

/// Who a request acts as: the verified caller, and the database session its statements
/// run under (empty unless `database_roles`).
#[derive(Clone, Copy)]
struct Who<'a> {
    caller: &'a Caller,
    session: &'a Session,
    /// `Prefer: timezone=`, when it names a zone and the backend is PostgreSQL.
    zone: Option<&'a crate::response::Zone>,
}

impl Who<'_> {
    /// `applied`, with `timezone=` when it is applied.
    fn applied(self, applied: Applied) -> Applied {
        Applied {
            timezone: self.zone.is_some(),
            ..applied
        }
    }
}

/// `/_ready`'s `replicas`: each one's URL (no password), status (`up`, `lagging`,
/// `down`), lag in milliseconds when it answers, and why when it is down.
fn ready_replicas(state: &AppState) -> Value {
    Value::Array(
        state
            .db
            .replicas()
            .into_iter()
            .map(|r| {
                let mut o = json!({"url": r.url, "status": r.health.as_str(), "lag_ms": r.lag_ms});
                if let (Some(reason), Value::Object(m)) = (r.reason, &mut o) {
                    m.insert("reason".into(), json!(reason));
                }
                o
            })
            .collect(),
    )
}

fn not_found_service(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "Could not find the service '{name}'; GET / lists the services"
    ))
}

fn service<'a>(state: &'a AppState, name: &str) -> ApiResult<&'a Arc<Service>> {
    state
        .cache
        .service(name)
        .ok_or_else(|| not_found_service(name))
}

/// The services the caller may use, with the methods their role may use.
fn index(state: &AppState, caller: &Caller) -> Response {
    let services: Vec<Value> = state
        .cache
        .services
        .values()
        .filter_map(|s| {
            let methods = s.methods_for(caller.role.as_deref());
            (!methods.is_empty()).then(|| {
                json!({
                    "name": s.name,
                    "url": format!("/{}", s.name),
                    "methods": methods.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
                    "schema": format!("/_schema/{}", s.name),
                })
            })
        })
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"services": services, "openapi": "/openapi.json"}),
    )
}

fn options(state: &AppState, req: &Request, svc: &Service, item: bool) -> Response {
    let allow = allow_header(svc, item);
    let mut resp = Response::builder()
        .status(StatusCode::OK)
        .body(Body::empty());
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&allow) {
        h.insert("allow", v.clone());
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok());
        let preflight = req.headers().contains_key("access-control-request-method");
        if let (Some(origin), true) = (origin, preflight) {
            if super::origin_allowed(&state.config.server.cors_origins, origin) {
                h.insert("access-control-allow-methods", v);
                let asked = req
                    .headers()
                    .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                    .cloned()
                    .unwrap_or_else(|| {
                        HeaderValue::from_static("Authorization, Content-Type, Prefer, Range")
                    });
                h.insert("access-control-allow-headers", asked);
                h.insert("access-control-max-age", HeaderValue::from_static("86400"));
            }
        }
    }
    resp
}

async fn read_body(state: &AppState, req: &Request, body: &mut Option<Body>) -> ApiResult<Bytes> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" {
        return Err(ApiError::UnsupportedMediaType {
            message: if ct.is_empty() {
                "the request body needs Content-Type: application/json".into()
            } else {
                format!("Content-Type '{ct}' is not supported; send application/json")
            },
        });
    }
    let limit = state.config.server.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let Some(body) = body.take() else {
        return Err(ApiError::internal("the request body was read twice"));
    };
    let deadline = BODY_DEADLINE.try_with(|d| *d).unwrap_or_else(|_| {
        tokio::time::Instant::now()
            + std::time::Duration::from_millis(state.config.server.body_timeout_ms)
    });
    tokio::time::timeout_at(
        deadline,
        collect_body(body, usize::try_from(limit).unwrap_or(usize::MAX)),
    )
    .await
    .map_err(|_| ApiError::BodyTimeout {
        ms: state.config.server.body_timeout_ms,
    })?
    .map_err(|e| match e {
        poem::error::ReadBodyError::PayloadTooLarge => ApiError::PayloadTooLarge { limit },
        other => {
            ApiError::bad_request("bad_body", format!("cannot read the request body: {other}"))
        }
    })
}

fn content_range(lower: u64, rows: u64, total: Option<u64>) -> String {
    let total_s = total.map_or_else(|| "*".to_string(), |t| t.to_string());
    if rows == 0 {
        format!("*/{total_s}")
    } else {
        format!("{lower}-{}/{total_s}", lower + rows - 1)
    }
}

fn set(resp: &mut Response, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

fn next_link(api_query: &str, path: &str, next_offset: u64, limit: u64) -> String {
    let mut pairs: Vec<(String, String)> = crate::request::query_pairs(api_query)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k != "offset" && k != "limit")
        .collect();
    pairs.push(("limit".into(), limit.to_string()));
    pairs.push(("offset".into(), next_offset.to_string()));
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("<{path}?{q}>; rel=\"next\"")
}

/// `Content-Location` of a read, as PostgREST writes it: `/service?<the query parameters
/// sorted by name>` (no `?` when there are none), each name and value percent-encoded.
/// Left out when it would be longer than `MAX_CONTENT_LOCATION` bytes (a long `in.(...)`
/// list): a header that size would break clients' header limits.
fn content_location(service: &str, raw_query: &str) -> Option<String> {
    if raw_query.len() > MAX_CONTENT_LOCATION {
        return None;
    }
    let mut out = format!("/{}", utf8_percent_encode(service, SEGMENT));
    let mut pairs = crate::request::query_pairs(raw_query).unwrap_or_default();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    for (n, (k, v)) in pairs.iter().enumerate() {
        out.push(if n == 0 { '?' } else { '&' });
        out.push_str(&utf8_percent_encode(k, SEGMENT).to_string());
        out.push('=');
        out.push_str(&utf8_percent_encode(v, SEGMENT).to_string());
    }
    (out.len() <= MAX_CONTENT_LOCATION).then_some(out)
}

/// The longest `Content-Location` sent.
const MAX_CONTENT_LOCATION: usize = 4096;

fn is_count(api: &ApiRequest) -> bool {
    api.prefer.count.is_some()
}

/// What a read honours of `Prefer`.
const READ_APPLIED: Applied = Applied {
    resolution: false,
    missing: false,
    return_: false,
    count: true,
    tx: false,
    handling: true,
    timezone: false,
    max_affected: false,
};

/// What a write of `action` honours of `Prefer` (PostgREST's `responsePreferences`):
/// `return`, `count`, `tx` and `handling` always, `missing` on POST and PATCH,
/// `max-affected` on PATCH and DELETE. `resolution` is set by the caller, only for an
/// insert that did upsert (a key or `on_conflict` to resolve on).
fn write_applied(action: Action) -> Applied {
    Applied {
        resolution: false,
        missing: matches!(action, Action::Post | Action::Patch),
        return_: true,
        count: true,
        tx: true,
        handling: true,
        timezone: false,
        max_affected: matches!(action, Action::Patch | Action::Delete),
    }
}

/// With `handling=strict`, a preference restable will not apply (one it does not know is
/// refused earlier, in `ApiRequest::parse`) is refused too, before anything runs:
/// `timezone=`, `resolution=` where there is no key to resolve on, `return=` on a read,
/// `missing=` outside POST and PATCH, `max-affected=` outside PATCH and DELETE.
fn strict(api: &ApiRequest, applied: Applied) -> ApiResult<()> {
    if !api.prefer.is_strict() {
        return Ok(());
    }
    let unapplied = api.prefer.not_applied(applied);
    if unapplied.is_empty() {
        return Ok(());
    }
    Err(ApiError::BadRequest {
        code: "bad_preference",
        message: "Invalid preferences given with handling=strict".into(),
        details: Some(format!(
            "Preferences that cannot be applied here: {}",
            unapplied.join(", ")
        )),
    })
}

fn with_applied(mut resp: Response, api: &ApiRequest, applied: Applied) -> Response {
    if let Some(a) = api.prefer.applied_header(applied) {
        set(&mut resp, PREFERENCE_APPLIED, &a);
    }
    resp
}

fn body_of(out: RowBody) -> Body {
    match out {
        RowBody::Full(b) => Body::from(b),
        RowBody::Stream { first, rest } => {
            let head =
                futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(first) });
            let tail = futures_util::stream::unfold(rest, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            });
            Body::from_bytes_stream(futures_util::StreamExt::chain(head, tail))
        }
    }
}

/// The log position a read must see (`Restable-Position`, sent back from a write's
/// answer): only with replicas, where writes send it; else the header is ignored.
fn read_position(state: &AppState, headers: &poem::http::HeaderMap) -> ApiResult<Option<u64>> {
    if !state.db.has_replicas() {
        return Ok(None);
    }
    let Some(value) = headers.get(POSITION) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    state.db.parse_position(text).map(Some).ok_or_else(|| {
        ApiError::BadRequest {
            code: "bad_position",
            message: "The Restable-Position header is not a log position".into(),
            details: Some(format!(
                "'{}' is not a position such as 0/3000148: send back the Restable-Position header of a write's answer unchanged",
                text.chars().take(64).collect::<String>()
            )),
        }
    })
}

async fn read(
    state: &AppState,
    svc: &Arc<Service>,
    api: &ApiRequest,
    who: Who<'_>,
    after: Option<u64>,
) -> ApiResult<Response> {
    let caller = who.caller;
    strict(api, who.applied(READ_APPLIED))?;
    let item = api.key.is_some();
    let mut plan = plan::read_plan(
        &state.cache,
        svc,
        &api.query,
        api.key.as_deref(),
        api.range,
        caller,
    )?;
    let format = if item && api.format == Format::Json {
        Format::Object
    } else {
        api.format
    };
    let (offset, limit) = (plan.offset, plan.limit);
    // Without a count, one extra row tells whether a next page exists.
    let count = is_count(api) && !item;
    let lookahead = !item && !count && format != Format::Object && limit.is_some_and(|l| l > 0);
    if lookahead {
        plan.limit = limit.map(|l| l.saturating_add(1));
    }
    // The planner estimates rows, not the groups of an aggregated read: those are counted.
    let estimable = !plan::aggregate::aggregated(&plan.select);
    let out: ReadOutput = state
        .db
        .read(ReadRequest {
            plan,
            format,
            count,
            estimate: api
                .prefer
                .count
                .filter(|c| *c != crate::request::prefer::CountPref::Exact && estimable),
            strip_nulls: api.strip_nulls,
            lookahead,
            session: who.session.clone(),
            zone: who.zone.cloned(),
            after,
        })
        .await
        .map_err(|e| match (&e, item) {
            (
                ApiError::NotAcceptable {
                    details: Some(d), ..
                },
                true,
            ) if d.contains(" 0 rows") => {
                ApiError::not_found(format!("no row of '{}' has this key", svc.name))
            }
            _ => e,
        })?;
    if item {
        let RowBody::Full(bytes) = out.body else {
            return Err(ApiError::internal("an item response was streamed"));
        };
        let tag = etag(&bytes);
        if let Some(inm) = &api.if_none_match {
            if inm.trim() == "*" || inm.split(',').any(|t| t.trim() == tag) {
                let mut resp = Response::builder()
                    .status(StatusCode::NOT_MODIFIED)
                    .body(Body::empty());
                set(&mut resp, header::ETAG, &tag);
                return Ok(resp);
            }
        }
        let body = if api.action == Action::Head {
            Bytes::new()
        } else {
            bytes
        };
        let ct = if api.format == Format::Json && !api.strip_nulls {
            "application/json; charset=utf-8"
        } else {
            format.content_type_for(api.strip_nulls)
        };
        let mut resp = Response::builder()
            .status(StatusCode::OK)
            .content_type(ct)
            .body(Body::from(body));
        set(&mut resp, header::ETAG, &tag);
        return Ok(resp);
    }
    if let Some(total) = out.total {
        if offset > 0 && offset > total {
            return Err(ApiError::RangeNotSatisfiable {
                message: "Requested range not satisfiable".into(),
                details: format!(
                    "An offset of {offset} was requested, but there are only {total} rows."
                ),
                total: Some(total),
            });
        }
    }
    let status = match out.total {
        Some(total) if out.rows < total && format != Format::Object => StatusCode::PARTIAL_CONTENT,
        _ => StatusCode::OK,
    };
    let more = match out.total {
        Some(total) => offset + out.rows < total,
        None => out.more,
    };
    let rows = out.rows;
    let body = if api.action == Action::Head {
        Body::empty()
    } else {
        body_of(out.body)
    };
    let mut resp = Response::builder()
        .status(status)
        .content_type(format.content_type_for(api.strip_nulls))
        .body(body);
    if format != Format::Object {
        set(
            &mut resp,
            header::CONTENT_RANGE,
            &content_range(offset, rows, out.total),
        );
        set(&mut resp, RANGE_UNIT, "items");
    }
    if let Some(loc) = content_location(&svc.name, &api.raw_query) {
        set(&mut resp, header::CONTENT_LOCATION, &loc);
    }
    if more {
        if let Some(l) = limit.filter(|l| *l > 0) {
            let path = format!("/{}", utf8_percent_encode(&svc.name, SEGMENT));
            let link = next_link(&api.raw_query, &path, offset + rows, l);
            set(&mut resp, header::LINK, &link);
        }
    }
    Ok(with_applied(resp, api, who.applied(READ_APPLIED)))
}

/// The columns and embeds a write's answer shows (`?select=`).
fn returning(
    state: &AppState,
    svc: &Arc<Service>,
    api: &ApiRequest,
    caller: &Caller,
) -> ApiResult<(Vec<Selected>, Vec<plan::Embed>)> {
    plan::write_returning(&state.cache, svc, &api.query, caller)
}

fn write_format(api: &ApiRequest) -> Format {
    api.format
}

fn wants_rows(api: &ApiRequest, default: bool) -> bool {
    match api.prefer.return_ {
        Some(ReturnPref::Representation) => true,
        Some(ReturnPref::Minimal) | Some(ReturnPref::HeadersOnly) => {
            // A singular Accept still needs the rows to check there is exactly one.
            api.format == Format::Object
        }
        // A singular Accept needs the rows to check there is exactly one.
        None => default || api.format == Format::Object,
    }
}

fn rollback(api: &ApiRequest) -> bool {
    api.prefer.tx == Some(Tx::Rollback)
}

fn location(svc: &Service, key: &[String]) -> String {
    let mut out = format!("/{}", utf8_percent_encode(&svc.name, SEGMENT));
    for k in key {
        out.push('/');
        out.push_str(&utf8_percent_encode(k, SEGMENT).to_string());
    }
    out
}

/// A write's answer: status, the rows (when wanted) and the usual headers.
fn write_response(
    api: &ApiRequest,
    status: StatusCode,
    out: &WriteOutput,
    body_rows: bool,
    single_object: bool,
    applied: Applied,
) -> Response {
    let format = write_format(api);
    let mut resp = if body_rows
        && !(api.prefer.return_ == Some(ReturnPref::Minimal)
            || api.prefer.return_ == Some(ReturnPref::HeadersOnly))
    {
        let mut body = out.body.clone();
        let single_object = single_object && !(api.strip_nulls && format == Format::Json);
        if single_object && format == Format::Json && body.len() >= 2 {
            // `[{...}]` -> `{...}` for a one-object write without an explicit Prefer.
            body = body.slice(1..body.len() - 1);
        }
        let ct = if single_object && format == Format::Json && !api.strip_nulls {
            "application/json; charset=utf-8"
        } else {
            format.content_type_for(api.strip_nulls)
        };
        Response::builder()
            .status(status)
            .content_type(ct)
            .body(Body::from(body))
    } else {
        let st = if status == StatusCode::OK {
            StatusCode::NO_CONTENT
        } else {
            status
        };
        Response::builder().status(st).body(Body::empty())
    };
    if api.prefer.count.is_some() {
        set(&mut resp, header::CONTENT_RANGE, &format!("*/{}", out.rows));
    }
    if let Some(p) = &out.position {
        set(&mut resp, POSITION, p);
    }
    with_applied(resp, api, applied)
}

/// Request bodies from this size on are parsed off the runtime's threads.
const LARGE_BODY: usize = 64 * 1024;

/// Large bodies parsed at once: one per core. With one blocking thread per request, 64
/// concurrent 1,000-row POSTs made 64 threads share 2 cores with the runtime's workers,
/// which then got a sliver of the CPU, and the p99 of bulk inserts at 64 connections was
/// 1.2-1.5x the reference's; waiting here is in arrival order and costs no thread.
fn parse_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| tokio::sync::Semaphore::new(crate::cores()))
}

async fn post(
    state: &AppState,
    svc: &Arc<Service>,
    api: &ApiRequest,
    body: Option<&Bytes>,
    who: Who<'_>,
) -> ApiResult<Response> {
    let caller = who.caller;
    let (returning, embeds) = returning(state, svc, api, caller)?;
    let body = body.cloned().unwrap_or_default();
    let mut plan = if body.len() < LARGE_BODY {
        write::insert_plan(
            svc,
            &body,
            &InsertOptions {
                columns: api.query.columns.as_deref(),
                missing: api.prefer.missing,
                on_conflict: api.query.on_conflict.as_deref(),
                resolution: api.prefer.resolution,
            },
            returning,
        )?
    } else {
        // Parsing and checking a large body takes milliseconds: done on the blocking pool,
        // so that the runtime's threads keep serving the other connections meanwhile.
        let (svc, columns, on_conflict) = (
            Arc::clone(svc),
            api.query.columns.clone(),
            api.query.on_conflict.clone(),
        );
        let (missing, resolution) = (api.prefer.missing, api.prefer.resolution);
        let _slot = parse_slots()
            .acquire()
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            write::insert_plan(
                &svc,
                &body,
                &InsertOptions {
                    columns: columns.as_deref(),
                    missing,
                    on_conflict: on_conflict.as_deref(),
                    resolution,
                },
                returning,
            )
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??
    };
    plan::owner::own_insert(&mut plan, caller)?;
    let single = plan.single;
    let applied = Applied {
        resolution: plan.on_conflict.is_some(),
        ..who.applied(write_applied(Action::Post))
    };
    strict(api, applied)?;
    let upsert_merge = plan
        .on_conflict
        .as_ref()
        .is_some_and(|c| c.resolution == crate::request::prefer::Resolution::MergeDuplicates);
    let explicit_repr = api.prefer.return_ == Some(ReturnPref::Representation);
    let out = state
        .db
        .write(WriteRequest {
            op: WriteOp::Insert(plan),
            format: write_format(api),
            strip_nulls: api.strip_nulls,
            want_rows: wants_rows(api, true),
            rollback: rollback(api),
            max_affected: None,
            if_match: None,
            embeds,
            session: who.session.clone(),
            zone: who.zone.cloned(),
        })
        .await?;
    let status = if upsert_merge && out.inserted == 0 {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut resp = write_response(api, status, &out, true, single && !explicit_repr, applied);
    if resp.status() == StatusCode::NO_CONTENT {
        resp.set_status(status);
    }
    // PostgREST: every insert answers `Content-Range: */*` (`*/n` with a count).
    if api.prefer.count.is_none() {
        set(&mut resp, header::CONTENT_RANGE, "*/*");
    }
    if out.keys.len() == 1 && !svc.primary_key.is_empty() && !rollback(api) {
        set(&mut resp, header::LOCATION, &location(svc, &out.keys[0]));
    }
    Ok(resp)
}

fn has_row_filter(api: &ApiRequest) -> bool {
    !api.query.filters.is_empty() || !api.query.logic.is_empty()
}

fn guarded_filter(svc: &Arc<Service>, api: &ApiRequest) -> ApiResult<Option<Condition>> {
    match &api.key {
        Some(key) => {
            let kc = plan::key_condition(svc, key)?;
            Ok(Some(match plan::root_condition(svc, &api.query)? {
                Some(f) => Condition::And(vec![kc, f]),
                None => kc,
            }))
        }
        None => {
            if !has_row_filter(api) && !svc.allow_unfiltered_writes {
                return Err(ApiError::UnfilteredWrite);
            }
            plan::root_condition(svc, &api.query)
        }
    }
}

fn item_missing(svc: &Service) -> ApiError {
    ApiError::not_found(format!("no row of '{}' has this key", svc.name))
}

async fn patch(
    state: &AppState,
    svc: &Arc<Service>,
    api: &ApiRequest,
    body: Option<&Bytes>,
    who: Who<'_>,
) -> ApiResult<Response> {
    let caller = who.caller;
    let value = write::parse_json(body.map_or(&[][..], |b| &b[..]))?;
    let set_values: Vec<(usize, Assign)> = write::patch_assignments(
        svc,
        &value,
        api.query.columns.as_deref(),
        api.prefer.missing,
    )?;
    plan::owner::own_update(svc, &set_values, caller)?;
    let filter = plan::owner::confine(svc, caller, guarded_filter(svc, api)?)?;
    let item = api.key.is_some();
    let (ret_cols, embeds) = returning(state, svc, api, caller)?;
    let applied = who.applied(write_applied(Action::Patch));
    strict(api, applied)?;
    if set_values.is_empty() && !item {
        // Nothing to set (`{}`, `[]`): PostgREST runs no UPDATE and answers 204, or 200
        // `[]` with `return=representation`, with `Content-Range: */*`.
        return empty_patch(api, applied);
    }
    let out = state
        .db
        .write(WriteRequest {
            op: WriteOp::Update(UpdatePlan {
                service: Arc::clone(svc),
                set: set_values,
                filter,
                returning: ret_cols,
            }),
            format: write_format(api),
            strip_nulls: api.strip_nulls,
            want_rows: wants_rows(api, item) || item,
            rollback: rollback(api),
            max_affected: api.prefer.max_affected,
            if_match: if item { api.if_match.clone() } else { None },
            embeds,
            session: who.session.clone(),
            zone: who.zone.cloned(),
        })
        .await?;
    if item && out.rows == 0 {
        return Err(item_missing(svc));
    }
    if item {
        let explicit_repr = api.prefer.return_ == Some(ReturnPref::Representation);
        let mut resp = write_response(api, StatusCode::OK, &out, true, !explicit_repr, applied);
        if api.query.select.is_none() && resp.status() == StatusCode::OK {
            let tag = etag(strip_array(&out.body));
            set(&mut resp, header::ETAG, &tag);
        }
        return Ok(resp);
    }
    let repr = api.prefer.return_ == Some(ReturnPref::Representation);
    let mut resp = write_response(api, StatusCode::OK, &out, repr, false, applied);
    let range = content_range(0, out.rows, api.prefer.count.map(|_| out.rows));
    set(&mut resp, header::CONTENT_RANGE, &range);
    Ok(resp)
}

/// The answer to a PATCH that sets nothing: no statement runs.
fn empty_patch(api: &ApiRequest, applied: Applied) -> ApiResult<Response> {
    if api.format == Format::Object {
        return Err(ApiError::NotAcceptable {
            message: "Cannot coerce the result to a single JSON object".into(),
            details: Some("The result contains 0 rows".into()),
        });
    }
    let mut resp = if api.prefer.return_ == Some(ReturnPref::Representation) {
        let body: &'static [u8] = if api.format == Format::Csv {
            b""
        } else {
            b"[]"
        };
        Response::builder()
            .status(StatusCode::OK)
            .content_type(api.format.content_type_for(api.strip_nulls))
            .body(Body::from(Bytes::from_static(body)))
    } else {
        Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(Body::empty())
    };
    let total = if api.prefer.count.is_some() {
        "*/0"
    } else {
        "*/*"
    };
    set(&mut resp, header::CONTENT_RANGE, total);
    Ok(with_applied(resp, api, applied))
}

fn strip_array(b: &Bytes) -> &[u8] {
    if b.len() >= 2 && b[0] == b'[' {
        &b[1..b.len() - 1]
    } else {
        b
    }
}

/// `PUT /{service}?pk=eq.v`: the key as URL segments, or why not. A service without a
/// primary key does not serve PUT (405, its `Allow` without PUT); filters other than
/// exactly `eq` on every key column are a 400 naming the rule (PostgREST answers 405
/// PGRST105 with the same message, though its `Allow` lists PUT).
fn put_key_from_filters(svc: &Service, api: &ApiRequest) -> ApiResult<Vec<String>> {
    if svc.primary_key.is_empty() {
        return Err(ApiError::MethodNotAllowed {
            method: "PUT".into(),
            service: svc.name.clone(),
            allow: allow_header(svc, false),
        });
    }
    let bad = || {
        ApiError::bad_request(
            "bad_filter",
            format!(
                "Filters must include all and only primary key columns with 'eq' operators ({})",
                svc.primary_key.join(", ")
            ),
        )
    };
    if !api.query.logic.is_empty() {
        return Err(bad());
    }
    let mut key = Vec::new();
    for pk in &svc.primary_key {
        let found: Vec<_> = api
            .query
            .filters
            .iter()
            .filter(|(p, f)| p.is_empty() && &f.column == pk && f.path.is_empty())
            .collect();
        match found.as_slice() {
            [(_, f)] if !f.negated => match &f.operation {
                Operation::Compare {
                    op: CmpOp::Eq,
                    value,
                } => key.push(value.clone()),
                _ => return Err(bad()),
            },
            _ => return Err(bad()),
        }
    }
    if api.query.filters.len() != svc.primary_key.len() {
        return Err(bad());
    }
    Ok(key)
}

async fn put(
    state: &AppState,
    svc: &Arc<Service>,
    api: &ApiRequest,
    body: Option<&Bytes>,
    who: Who<'_>,
) -> ApiResult<Response> {
    let caller = who.caller;
    let key = match &api.key {
        Some(k) => k.clone(),
        None => put_key_from_filters(svc, api)?,
    };
    strict(api, who.applied(write_applied(Action::Put)))?;
    if !api.query.limit.is_empty() || !api.query.offset.is_empty() {
        return Err(ApiError::bad_request(
            "bad_filter",
            "limit and offset cannot be used with PUT",
        ));
    }
    let value = write::parse_json(body.map_or(&[][..], |b| &b[..]))?;
    let (ret_cols, embeds) = returning(state, svc, api, caller)?;
    let mut plan = write::put_plan(svc, &key, write::put_body(&value), ret_cols)?;
    plan::owner::own_put(&mut plan, caller)?;
    let item = api.key.is_some();
    let out = state
        .db
        .write(WriteRequest {
            op: WriteOp::Put(plan),
            format: write_format(api),
            strip_nulls: api.strip_nulls,
            want_rows: wants_rows(api, item) || item,
            rollback: rollback(api),
            max_affected: None,
            if_match: api.if_match.clone(),
            embeds,
            session: who.session.clone(),
            zone: who.zone.cloned(),
        })
        .await?;
    let status = if out.inserted > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let show = item || api.prefer.return_ == Some(ReturnPref::Representation);
    let explicit_repr = api.prefer.return_ == Some(ReturnPref::Representation);
    let mut resp = write_response(
        api,
        status,
        &out,
        show,
        item && !explicit_repr,
        who.applied(write_applied(Action::Put)),
    );
    if resp.status() == StatusCode::NO_CONTENT && status == StatusCode::CREATED {
        resp.set_status(StatusCode::CREATED);
    }
    if item && api.query.select.is_none() && !resp.status().eq(&StatusCode::NO_CONTENT) {
        let tag = etag(strip_array(&out.body));
        set(&mut resp, header::ETAG, &tag);
    }
    if status == StatusCode::CREATED && !rollback(api) {
        set(&mut resp, header::LOCATION, &location(svc, &key));
    }
    Ok(resp)
}

async fn delete(
    state: &AppState,
    svc: &Arc<Service>,
    api: &ApiRequest,
    who: Who<'_>,
) -> ApiResult<Response> {
    let caller = who.caller;
    strict(api, who.applied(write_applied(Action::Delete)))?;
    let filter = plan::owner::confine(svc, caller, guarded_filter(svc, api)?)?;
    let item = api.key.is_some();
    let repr = api.prefer.return_ == Some(ReturnPref::Representation);
    let (ret_cols, embeds) = returning(state, svc, api, caller)?;
    let out = state
        .db
        .write(WriteRequest {
            op: WriteOp::Delete(DeletePlan {
                service: Arc::clone(svc),
                filter,
                returning: ret_cols,
            }),
            format: write_format(api),
            strip_nulls: api.strip_nulls,
            want_rows: repr || api.format == Format::Object,
            rollback: rollback(api),
            max_affected: api.prefer.max_affected,
            if_match: if item { api.if_match.clone() } else { None },
            embeds,
            session: who.session.clone(),
            zone: who.zone.cloned(),
        })
        .await?;
    if item && out.rows == 0 {
        return Err(item_missing(svc));
    }
    let mut resp = write_response(
        api,
        StatusCode::OK,
        &out,
        repr,
        item && api.format != Format::Csv,
        who.applied(write_applied(Action::Delete)),
    );
    if !item || api.prefer.count.is_some() {
        let total = api.prefer.count.map(|_| out.rows);
        set(
            &mut resp,
            header::CONTENT_RANGE,
            &format!(
                "*/{}",
                total.map_or_else(|| "*".to_string(), |t| t.to_string())
            ),
        );
    }
    Ok(resp)
}
