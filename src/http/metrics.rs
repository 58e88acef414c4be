//! Prometheus metrics: one recorder per server (not the process-global one, so servers in
//! one process keep separate numbers), fed by `Api::call` after each request and rendered
//! as text by `GET /_metrics`. Pool gauges are sampled when the page is rendered.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use metrics::{Counter, Histogram};

use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::state::AppState;

pub const REQUESTS: &str = "restable_requests_total";
pub const DURATION: &str = "restable_request_duration_seconds";
pub const DB_ERRORS: &str = "restable_db_errors_total";
pub const POOL: &str = "restable_pool_connections";
pub const READS: &str = "restable_db_reads_total";

/// Latency buckets, seconds: 1 ms to 10 s.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// Registered handles by service, then (method, status): recording a request is an
    /// atomic add, with no label strings built or hashed into the registry.
    series: RwLock<HashMap<String, BySeries>>,
}

/// One service's series by (method, status).
type BySeries = HashMap<(&'static str, u16), Series>;

/// The handles one (service, method, status) records into.
#[derive(Clone)]
struct Series {
    requests: Counter,
    duration: Histogram,
    db_errors: Option<Counter>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let builder = PrometheusBuilder::new();
        let builder = match builder.set_buckets_for_metric(Matcher::Full(DURATION.into()), BUCKETS)
        {
            Ok(b) => b,
            // Only an empty bucket list fails; fall back to a summary.
            Err(_) => PrometheusBuilder::new(),
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_counter!(
                REQUESTS,
                "HTTP requests answered, by service, method and status"
            );
            metrics::describe_histogram!(
                DURATION,
                metrics::Unit::Seconds,
                "Time to produce the response head, by service and method"
            );
            metrics::describe_counter!(
                DB_ERRORS,
                "Requests to a service that ended in a 5xx (database unavailable, timeout, internal error)"
            );
            metrics::describe_gauge!(POOL, "Database connections by state (in_use, idle)");
            metrics::describe_counter!(
                READS,
                "Reads run on the database, by target (primary, replica); only with [database] replicas"
            );
        });
        Metrics {
            recorder,
            handle,
            series: RwLock::new(HashMap::new()),
        }
    }

    fn register(&self, service: &str, method: &'static str, status: u16) -> Series {
        metrics::with_local_recorder(&self.recorder, || {
            let service = service.to_string();
            Series {
                requests: metrics::counter!(
                    REQUESTS,
                    "service" => service.clone(),
                    "method" => method,
                    "status" => status.to_string()
                ),
                duration: metrics::histogram!(
                    DURATION,
                    "service" => service.clone(),
                    "method" => method
                ),
                db_errors: (status >= 500 && service != OTHER)
                    .then(|| metrics::counter!(DB_ERRORS, "service" => service)),
            }
        })
    }

    /// Record one answered request.
    pub fn record(&self, service: &str, method: &'static str, status: u16, elapsed: Duration) {
        let known = self
            .series
            .read()
            .ok()
            .and_then(|m| m.get(service)?.get(&(method, status)).cloned());
        let series = match known {
            Some(s) => s,
            None => {
                let s = self.register(service, method, status);
                if let Ok(mut m) = self.series.write() {
                    m.entry(service.to_string())
                        .or_default()
                        .insert((method, status), s.clone());
                }
                s
            }
        };
        series.requests.increment(1);
        series.duration.record(elapsed.as_secs_f64());
        if let Some(c) = &series.db_errors {
            c.increment(1);
        }
    }

    /// The text exposition (format 0.0.4), with the pool gauges sampled now.
    pub fn render(&self, state: &AppState) -> String {
        let (size, idle) = state.db.pool_stats();
        let reads = state.db.reads_by_target();
        metrics::with_local_recorder(&self.recorder, || {
            metrics::gauge!(POOL, "state" => "in_use").set(size.saturating_sub(idle) as f64);
            metrics::gauge!(POOL, "state" => "idle").set(idle as f64);
            // Counted by the executor (an atomic add per read), copied in here.
            if let Some((primary, replica)) = reads {
                metrics::counter!(READS, "target" => "primary").absolute(primary);
                metrics::counter!(READS, "target" => "replica").absolute(replica);
            }
        });
        self.upkeep();
        self.handle.render()
    }

    /// Fold the latency samples recorded since the last call into the histogram. Until
    /// then each sample is kept (8 bytes a request), so a server nobody scrapes would grow
    /// without this; `crate::start` calls it every [`UPKEEP_EVERY`].
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// How often a running server folds its latency samples (see [`Metrics::upkeep`]).
pub const UPKEEP_EVERY: Duration = Duration::from_secs(1);

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The `service` label of requests that are not for a known service.
pub const OTHER: &str = "_other";

/// The `method` label: the usual methods by name, anything else as `_other`.
pub fn method_label(m: &poem::http::Method) -> &'static str {
    match m.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PATCH" => "PATCH",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => OTHER,
    }
}
