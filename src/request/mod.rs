//! ApiRequest: what an HTTP request asks for, parsed from its URL and headers only —
//! the query grammar, `Prefer`, `Range`, `Accept`, preconditions. Knows URLs and headers,
//! never the schema cache or SQL.

pub mod ast;
pub mod grammar;
pub mod prefer;

use poem::http::header::{ACCEPT, IF_MATCH, IF_NONE_MATCH, RANGE};
use poem::http::{HeaderMap, HeaderName};

const PREFER: HeaderName = HeaderName::from_static("prefer");

use crate::error::{ApiError, ApiResult};
use ast::{ParseError, QueryParams};
use prefer::Preferences;

/// The representation a client asked for with `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json`: an array of objects.
    Json,
    /// `application/vnd.pgrst.object+json`: exactly one object.
    Object,
    /// `text/csv`: header line and one line per row, RFC 4180.
    Csv,
}

impl Format {
    /// The `Content-Type` of an answer in this format; `stripped`: with `nulls=stripped`
    /// (PostgREST names the vendor type then).
    pub fn content_type_for(self, stripped: bool) -> &'static str {
        match (self, stripped) {
            (Format::Json, true) => {
                "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8"
            }
            (Format::Object, true) => {
                "application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8"
            }
            _ => self.content_type(),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json; charset=utf-8",
            Format::Object => "application/vnd.pgrst.object+json; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// The HTTP methods a data route understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Get,
    Head,
    Post,
    Patch,
    Put,
    Delete,
}

#[derive(Debug)]
pub struct ApiRequest {
    pub action: Action,
    pub service: String,
    /// Key path segments of `/{service}/{k1}/{k2}`, percent-decoded.
    pub key: Option<Vec<String>>,
    pub query: QueryParams,
    /// The query string as sent (for `Link: rel=next`).
    pub raw_query: String,
    pub prefer: Preferences,
    pub range: Option<(u64, Option<u64>)>,
    pub format: Format,
    /// `Accept: ...;nulls=stripped`: leave null-valued keys out of the rows.
    pub strip_nulls: bool,
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
}

impl From<ParseError> for ApiError {
    fn from(e: ParseError) -> Self {
        if e.too_many {
            // Well-formed but too long: the message names the list and its limit.
            return ApiError::bad_filter(e.details, None);
        }
        ApiError::bad_filter(e.postgrest_message(), Some(e.details))
    }
}

/// Decode a query string into pairs: `+` is a space, `%XX` escapes are decoded, and
/// text that is not UTF-8 is refused (so no value is silently altered).
pub fn query_pairs(raw: &str) -> ApiResult<Vec<(String, String)>> {
    let decode = |s: &str| -> ApiResult<String> {
        let spaced = s.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| {
                ApiError::bad_request(
                    "bad_query",
                    "the query string is not valid UTF-8 once percent-decoded",
                )
            })
    };
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

fn is_paging_key(key: &str, what: &str) -> bool {
    key == what || key.ends_with(&format!(".{what}"))
}

/// Parse the query string. `limit`/`offset` follow PostgREST: an empty one is ignored, a
/// negative offset counts as 0, a negative top-level limit is 416 and a negative embed
/// limit (`albums.limit=-1`) an empty embed; anything else that is not a whole number is a
/// 400.
pub fn parse_query(raw: &str) -> ApiResult<QueryParams> {
    let mut pairs = query_pairs(raw)?;
    pairs.retain(|(k, v)| {
        let paging = is_paging_key(k, "limit") || is_paging_key(k, "offset");
        !(paging && v.trim().is_empty())
    });
    for (k, v) in pairs.iter_mut() {
        let paging = is_paging_key(k, "limit") || is_paging_key(k, "offset");
        if !paging {
            continue;
        }
        let trimmed = v.trim().to_string();
        match trimmed.parse::<i64>() {
            Ok(n) if n < 0 && k != "limit" && is_paging_key(k, "limit") => *v = "0".into(),
            Ok(n) if n < 0 && is_paging_key(k, "limit") => {
                return Err(ApiError::RangeNotSatisfiable {
                    message: "Requested range not satisfiable".into(),
                    details: "Limit should be greater than or equal to zero.".into(),
                    total: None,
                });
            }
            // A negative offset counts from the start.
            Ok(n) if n < 0 => *v = "0".into(),
            Ok(_) => *v = trimmed,
            Err(_) => {
                return Err(ApiError::bad_filter(
                    format!("{k} must be a whole number, not '{v}'"),
                    None,
                ))
            }
        }
    }
    Ok(grammar::parse_query(&pairs)?)
}

/// The representation to answer with, from `Accept` (q-values respected).
pub fn negotiate(accept: Option<&str>) -> ApiResult<Format> {
    negotiate_media(accept).map(|(f, _)| f)
}

/// As [`negotiate`], and whether null-valued keys are to be left out
/// (`application/vnd.pgrst.array+json;nulls=stripped`, or the same parameter on
/// `application/vnd.pgrst.object+json`, as PostgREST).
pub fn negotiate_media(accept: Option<&str>) -> ApiResult<(Format, bool)> {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok((Format::Json, false));
    };
    let mut candidates: Vec<(f32, usize, &str, bool)> = Vec::new();
    for (n, part) in accept.split(',').enumerate() {
        let mut pieces = part.split(';');
        let mime = pieces.next().unwrap_or("").trim();
        let mut q = 1.0f32;
        let mut stripped = false;
        for p in pieces {
            let p = p.trim();
            if let Some(v) = p.strip_prefix("q=") {
                q = v.trim().parse().unwrap_or(1.0);
            } else if p.eq_ignore_ascii_case("nulls=stripped") {
                stripped = true;
            }
        }
        if q > 0.0 && !mime.is_empty() {
            candidates.push((q, n, mime, stripped));
        }
    }
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, _, mime, stripped) in &candidates {
        let m = mime.to_ascii_lowercase();
        let f = match m.as_str() {
            "application/json" | "application/*" | "*/*" => Some((Format::Json, false)),
            "application/vnd.pgrst.array+json" | "application/vnd.pgrst.array" => {
                Some((Format::Json, *stripped))
            }
            "text/csv" => Some((Format::Csv, false)),
            "application/vnd.pgrst.object+json" | "application/vnd.pgrst.object" => {
                Some((Format::Object, *stripped))
            }
            _ => None,
        };
        if let Some(f) = f {
            return Ok(f);
        }
    }
    Err(ApiError::NotAcceptable {
        message: format!("None of these media types are available: {accept}"),
        details: Some(
            "available: application/json, text/csv, application/vnd.pgrst.object+json".into(),
        ),
    })
}

/// `Range: 0-24` (also `items=0-24`); other forms are ignored as PostgREST does.
pub fn parse_range(h: Option<&str>) -> ApiResult<Option<(u64, Option<u64>)>> {
    let Some(h) = h else { return Ok(None) };
    let h = h.trim();
    let h = h.strip_prefix("items=").unwrap_or(h);
    let Some((lo, hi)) = h.split_once('-') else {
        return Ok(None);
    };
    let Ok(lo) = lo.trim().parse::<u64>() else {
        return Ok(None);
    };
    let hi = hi.trim();
    if hi.is_empty() {
        return Ok(Some((lo, None)));
    }
    let Ok(hi) = hi.parse::<u64>() else {
        return Ok(None);
    };
    if lo > hi {
        return Err(ApiError::RangeNotSatisfiable {
            message: "Requested range not satisfiable".into(),
            details: "The lower boundary must be lower than or equal to the upper boundary in the Range header.".into(),
            total: None,
        });
    }
    Ok(Some((lo, Some(hi))))
}

fn header(headers: &HeaderMap, name: HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl ApiRequest {
    pub fn parse(
        action: Action,
        service: &str,
        key: Option<Vec<String>>,
        raw_query: &str,
        headers: &HeaderMap,
    ) -> ApiResult<ApiRequest> {
        let prefer = prefer::parse_prefer(
            headers
                .get_all(PREFER)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        if let Some(violation) = prefer.strict_violation() {
            return Err(ApiError::BadRequest {
                code: "bad_preference",
                message: "Invalid preferences given with handling=strict".into(),
                details: Some(violation),
            });
        }
        let query = parse_query(raw_query)?;
        let (format, strip_nulls) = negotiate_media(header(headers, ACCEPT))?;
        // Like PostgREST, the Range header only pages GET requests.
        let range = if action == Action::Get {
            parse_range(header(headers, RANGE))?
        } else {
            None
        };
        Ok(ApiRequest {
            action,
            service: service.to_string(),
            key,
            query,
            raw_query: raw_query.to_string(),
            prefer,
            range,
            format,
            strip_nulls,
            if_match: header(headers, IF_MATCH).map(str::to_string),
            if_none_match: header(headers, IF_NONE_MATCH).map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        assert_eq!(negotiate(None).unwrap(), Format::Json);
        assert_eq!(negotiate(Some("text/csv")).unwrap(), Format::Csv);
        assert_eq!(negotiate(Some("text/unknown, */*")).unwrap(), Format::Json);
        assert_eq!(
            negotiate(Some("application/json;q=0.5, text/csv")).unwrap(),
            Format::Csv
        );
        assert_eq!(
            negotiate(Some("application/vnd.pgrst.object+json")).unwrap(),
            Format::Object
        );
        assert!(negotiate(Some("text/unknown")).is_err());
        assert_eq!(
            negotiate_media(Some("application/vnd.pgrst.array+json;nulls=stripped")).unwrap(),
            (Format::Json, true)
        );
        assert_eq!(
            negotiate_media(Some("application/vnd.pgrst.object+json; nulls=stripped")).unwrap(),
            (Format::Object, true)
        );
        assert_eq!(
            negotiate_media(Some("application/json;nulls=stripped")).unwrap(),
            (Format::Json, false)
        );
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(Some("0-24")).unwrap(), Some((0, Some(24))));
        assert_eq!(parse_range(Some("10-")).unwrap(), Some((10, None)));
        assert_eq!(parse_range(Some("bytes")).unwrap(), None);
        assert!(parse_range(Some("3-1")).is_err());
    }

    #[test]
    fn paging_values() {
        assert!(matches!(
            parse_query("limit=-1"),
            Err(ApiError::RangeNotSatisfiable { .. })
        ));
        assert_eq!(parse_query("offset=-4").unwrap().offset[0].1, 0);
        assert!(parse_query("limit=abc").is_err());
        assert!(parse_query("limit=&offset=").unwrap().limit.is_empty());
        assert_eq!(parse_query("albums.limit=-1").unwrap().limit[0].1, 0);
        assert_eq!(
            parse_query("name=eq.a+b").unwrap().filters[0].1.column,
            "name"
        );
    }
}
