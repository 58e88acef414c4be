//! `GET /_metrics` (SPEC §4.1): Prometheus text with requests by service/method/status, a
//! latency histogram, pool gauges and database errors, on every backend.

mod common;

use common::*;

/// The value of the sample line `name{labels}` (labels exactly as rendered).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[test]
fn metrics_count_requests_by_service_method_status() {
    each_backend(|s| {
        for _ in 0..3 {
            assert_eq!(s.get("/artists?id=eq.1").status, 200);
        }
        assert_eq!(s.get("/artists/999999").status, 404);
        assert_eq!(s.get("/artists?nope=eq.1").status, 400);
        assert_eq!(s.req("HEAD", "/albums").send().status, 200);
        assert_eq!(s.get("/no_such_service").status, 404);
        assert_eq!(s.get("/_health").status, 200);

        let r = s.get("/_metrics");
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(
            r.header("content-type")
                .unwrap_or("")
                .starts_with("text/plain; version=0.0.4"),
            "{:?}",
            r.header("content-type")
        );
        let t = &r.text;
        let req = |service: &str, method: &str, status: u16| {
            sample(
                t,
                &format!(
                    "restable_requests_total{{service=\"{service}\",method=\"{method}\",status=\"{status}\"}}"
                ),
            )
        };
        assert_eq!(req("artists", "GET", 200), Some(3.0), "{t}");
        assert_eq!(req("artists", "GET", 404), Some(1.0), "{t}");
        assert_eq!(req("artists", "GET", 400), Some(1.0), "{t}");
        assert_eq!(req("albums", "HEAD", 200), Some(1.0), "{t}");
        // Unknown services and operational routes share one label.
        assert_eq!(req("_other", "GET", 404), Some(1.0), "{t}");
        assert_eq!(req("_other", "GET", 200), Some(1.0), "{t}");
        assert!(t.contains("# TYPE restable_requests_total counter"), "{t}");
        assert!(
            t.contains("# TYPE restable_request_duration_seconds histogram"),
            "{t}"
        );
        assert_eq!(
            sample(
                t,
                "restable_request_duration_seconds_count{service=\"artists\",method=\"GET\"}"
            ),
            Some(5.0),
            "{t}"
        );
        assert!(
            t.contains("restable_request_duration_seconds_bucket{service=\"artists\",method=\"GET\",le=\"+Inf\"} 5"),
            "{t}"
        );
        let idle = sample(t, "restable_pool_connections{state=\"idle\"}");
        let in_use = sample(t, "restable_pool_connections{state=\"in_use\"}");
        assert!(idle.is_some() && in_use.is_some(), "{t}");
        // No 5xx so far: no database errors recorded.
        assert!(!t.contains("restable_db_errors_total{"), "{t}");

        // The page counts itself on the next read.
        let again = s.get("/_metrics").text;
        assert!(
            sample(
                &again,
                "restable_requests_total{service=\"_other\",method=\"GET\",status=\"200\"}"
            ) >= Some(2.0)
        );
    });
}
