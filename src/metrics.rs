//! Metrics for operators: `GET /metrics` in the Prometheus text format.
//!
//! Request rates and latencies by route template, the database writer's
//! queue and commit groups, the connection pools, imports and exports in
//! progress, and how long audit entries wait to be durable; plus the
//! process's own CPU, memory and file descriptors. Labels are route
//! templates, methods, statuses, pool and report names: never a path, an
//! id, a query or anything a person typed, so nothing personal can reach a
//! metric.
//!
//! The series are process-wide (one registry per process, as Prometheus
//! expects of a target); several API processes on one PostgreSQL are
//! several targets. Reading them takes the bearer token `metrics.token`:
//! not an account's token, which a scraper could not renew, and nothing
//! that opens the API.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::config::MetricsSettings;
use crate::error::ApiError;
use crate::http::routes::resource;

/// Every series the service exports, registered in one registry.
struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_seconds: HistogramVec,
    writer_queue: IntGauge,
    writer_group_size: Histogram,
    writer_commit_seconds: Histogram,
    writer_groups: IntCounterVec,
    pool_open: IntGaugeVec,
    pool_in_use: IntGaugeVec,
    pool_wait_seconds: HistogramVec,
    pool_timeouts: IntCounterVec,
    imports_running: IntGauge,
    import_bytes: IntCounterVec,
    import_households: IntCounterVec,
    exports_running: IntGaugeVec,
    export_rows: IntCounterVec,
    audit_lag_seconds: Histogram,
    audit_events: IntCounter,
}

/// Latency buckets, in seconds: 1 ms to 30 s.
const SECONDS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Registers `metric` in `registry` and returns it.
fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: M,
) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("a valid, new metric");
    metric
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    registered(
        registry,
        IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric"),
    )
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    registered(
        registry,
        IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid metric"),
    )
}

fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    registered(
        registry,
        HistogramVec::new(opts, labels).expect("a valid metric"),
    )
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    registered(
        registry,
        Histogram::with_opts(opts).expect("a valid metric"),
    )
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    registered(registry, IntGauge::new(name, help).expect("a valid metric"))
}

impl Metrics {
    fn new() -> Metrics {
        let registry = Registry::new();
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("the process collector registers once");
        Metrics {
            http_requests: counter_vec(
                &registry,
                "refuge_http_requests_total",
                "HTTP requests answered, by method, route template and status.",
                &["method", "route", "status"],
            ),
            http_seconds: histogram_vec(
                &registry,
                "refuge_http_request_duration_seconds",
                "Time to answer an HTTP request (until its body starts), by method and route template.",
                &["method", "route"],
                &SECONDS,
            ),
            writer_queue: gauge(
                &registry,
                "refuge_db_writer_queue_depth",
                "Writes waiting for the database writer.",
            ),
            writer_group_size: histogram(
                &registry,
                "refuge_db_writer_group_size",
                "Writes committed together in one transaction.",
                &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
            ),
            writer_commit_seconds: histogram(
                &registry,
                "refuge_db_writer_group_duration_seconds",
                "Time from taking a group of writes to its durable commit.",
                &SECONDS,
            ),
            writer_groups: counter_vec(
                &registry,
                "refuge_db_writer_groups_total",
                "Groups of writes, by outcome (committed or failed).",
                &["outcome"],
            ),
            pool_open: gauge_vec(
                &registry,
                "refuge_db_pool_connections",
                "Open database connections, by pool (read or write).",
                &["pool"],
            ),
            pool_in_use: gauge_vec(
                &registry,
                "refuge_db_pool_connections_in_use",
                "Database connections checked out, by pool.",
                &["pool"],
            ),
            pool_wait_seconds: histogram_vec(
                &registry,
                "refuge_db_pool_wait_seconds",
                "Time waited for a database connection, by pool.",
                &["pool"],
                &SECONDS,
            ),
            pool_timeouts: counter_vec(
                &registry,
                "refuge_db_pool_timeouts_total",
                "Waits for a database connection that timed out, by pool.",
                &["pool"],
            ),
            imports_running: gauge(&registry, "refuge_imports_running", "CSV imports in progress."),
            import_bytes: counter_vec(
                &registry,
                "refuge_import_bytes_read_total",
                "Bytes of import files read, by pass (validating or writing).",
                &["pass"],
            ),
            import_households: counter_vec(
                &registry,
                "refuge_import_households_total",
                "Households of finished imports, by outcome (created or unchanged).",
                &["outcome"],
            ),
            exports_running: gauge_vec(
                &registry,
                "refuge_exports_running",
                "CSV reports being written, by report.",
                &["report"],
            ),
            export_rows: counter_vec(
                &registry,
                "refuge_export_rows_total",
                "Rows of CSV reports written, by report.",
                &["report"],
            ),
            audit_lag_seconds: histogram(
                &registry,
                "refuge_audit_write_lag_seconds",
                "Time from an audited action to its audit entries being durable.",
                &SECONDS,
            ),
            audit_events: registered(
                &registry,
                IntCounter::new("refuge_audit_events_written_total", "Audit entries committed.")
                    .expect("a valid metric"),
            ),
            registry,
        }
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// Counts an answered request. `route` is the matched route template (or a
/// fixed placeholder), never the path.
pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let m = &*METRICS;
    m.http_requests
        .with_label_values(&[method, route, itoa::Buffer::new().format(status)])
        .inc();
    m.http_seconds
        .with_label_values(&[method, route])
        .observe(elapsed.as_secs_f64());
}

/// `n` writes were handed to the database writer (or, negative, could not be).
pub fn write_queued(n: i64) {
    METRICS.writer_queue.add(n);
}

/// The writer took `size` queued writes into one group.
pub fn writes_taken(size: usize) {
    METRICS.writer_queue.sub(size as i64);
    METRICS.writer_group_size.observe(size as f64);
}

/// A group taken at `started` has committed (or failed); `audited` holds
/// when each of its audited writes was queued, and how many entries it had.
pub fn group_done(started: Instant, committed: bool, audited: &[(Instant, usize)]) {
    let m = &*METRICS;
    let now = Instant::now();
    m.writer_commit_seconds
        .observe(now.duration_since(started).as_secs_f64());
    m.writer_groups
        .with_label_values(&[if committed { "committed" } else { "failed" }])
        .inc();
    if committed {
        for (queued, events) in audited {
            m.audit_lag_seconds
                .observe(now.duration_since(*queued).as_secs_f64());
            m.audit_events.inc_by(*events as u64);
        }
    }
}

/// Keeps the pool gauges and wait times of one connection pool (`read`,
/// `write` or `all`), as r2d2 reports its events: its series are looked up
/// once, not at every checkout.
#[derive(Debug)]
pub struct PoolEvents {
    open: IntGauge,
    in_use: IntGauge,
    wait_seconds: Histogram,
    timeouts: IntCounter,
}

impl PoolEvents {
    pub fn new(pool: &str) -> PoolEvents {
        let m = &*METRICS;
        PoolEvents {
            open: m.pool_open.with_label_values(&[pool]),
            in_use: m.pool_in_use.with_label_values(&[pool]),
            wait_seconds: m.pool_wait_seconds.with_label_values(&[pool]),
            timeouts: m.pool_timeouts.with_label_values(&[pool]),
        }
    }
}

impl r2d2::HandleEvent for PoolEvents {
    fn handle_acquire(&self, _: r2d2::event::AcquireEvent) {
        self.open.inc();
    }

    fn handle_release(&self, _: r2d2::event::ReleaseEvent) {
        self.open.dec();
    }

    fn handle_checkout(&self, event: r2d2::event::CheckoutEvent) {
        self.in_use.inc();
        self.wait_seconds.observe(event.duration().as_secs_f64());
    }

    fn handle_timeout(&self, event: r2d2::event::TimeoutEvent) {
        self.timeouts.inc();
        self.wait_seconds.observe(event.timeout().as_secs_f64());
    }

    fn handle_checkin(&self, _: r2d2::event::CheckinEvent) {
        self.in_use.dec();
    }
}

/// An import in progress: counted as running until dropped.
pub struct ImportRun {
    /// Per pass (validating, writing): its byte counter, and how far into
    /// the file this import had been counted.
    passes: [(IntCounter, AtomicU64); 2],
}

impl ImportRun {
    pub fn start() -> ImportRun {
        METRICS.imports_running.inc();
        let pass = |name| {
            (
                METRICS.import_bytes.with_label_values(&[name]),
                AtomicU64::new(0),
            )
        };
        ImportRun {
            passes: [pass("validating"), pass("writing")],
        }
    }

    /// The validating (or the writing) pass has read the file up to `offset`.
    pub fn read_to(&self, writing: bool, offset: u64) {
        let (bytes, counted) = &self.passes[usize::from(writing)];
        let before = counted.fetch_max(offset, Ordering::Relaxed);
        bytes.inc_by(offset.saturating_sub(before));
    }

    /// The import finished, creating and leaving unchanged these households.
    pub fn finished(&self, created: u64, unchanged: u64) {
        let households = &METRICS.import_households;
        households.with_label_values(&["created"]).inc_by(created);
        households
            .with_label_values(&["unchanged"])
            .inc_by(unchanged);
    }
}

impl Drop for ImportRun {
    fn drop(&mut self) {
        METRICS.imports_running.dec();
    }
}

/// A CSV report being written: counted as running until dropped, and its
/// rows as they are written.
pub struct ExportRun {
    running: IntGauge,
    rows: IntCounter,
}

impl ExportRun {
    pub fn start(report: &str) -> ExportRun {
        let running = METRICS.exports_running.with_label_values(&[report]);
        running.inc();
        ExportRun {
            running,
            rows: METRICS.export_rows.with_label_values(&[report]),
        }
    }

    /// One more row written.
    pub fn row(&self) {
        self.rows.inc();
    }
}

impl Drop for ExportRun {
    fn drop(&mut self) {
        self.running.dec();
    }
}

/// The metrics token's digest (none: metrics off), compared instead of the
/// token so that the time a comparison takes says nothing about the token.
pub struct ScrapeToken(Option<[u8; 32]>);

impl ScrapeToken {
    pub fn new(settings: &MetricsSettings) -> ScrapeToken {
        let token = settings.token.expose_secret();
        ScrapeToken((!token.is_empty()).then(|| digest(token)))
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// `GET /metrics`: every series, in the Prometheus text format (0.0.4).
/// A request without a token is 401 whether metrics are on or off (404).
async fn scrape(req: HttpRequest, token: web::Data<ScrapeToken>) -> Result<HttpResponse, ApiError> {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized {
            detail: "send the metrics token as a bearer token",
            invalid_token: false,
        })?;
    let Some(expected) = token.0 else {
        return Err(ApiError::NotFound(
            "metrics are off: set metrics.token to turn them on".into(),
        ));
    };
    if digest(given.trim()) != expected {
        return Err(ApiError::Unauthorized {
            detail: "this is not the metrics token",
            invalid_token: true,
        });
    }
    let mut body = Vec::with_capacity(16 * 1024);
    let encoder = TextEncoder::new();
    encoder
        .encode(&METRICS.registry.gather(), &mut body)
        .map_err(|error| ApiError::internal(format!("encoding the metrics: {error}")))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, encoder.format_type()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

/// The metrics route, at the root (outside `/api/v1`); the app holds the
/// [`ScrapeToken`].
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/metrics").get(scrape));
}
