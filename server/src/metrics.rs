//! `/metrics` in the Prometheus text format (the `prometheus` crate encodes it): the lake's part —
//! indicator gauges for each indicator's latest year (suppressed cells absent), ETL totals from the
//! run history, the lake version, build info — encoded once per loaded version, and the HTTP
//! request metrics, kept live.

use std::collections::BTreeMap;

use lms_lake::RunRecord;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use lms_queries::tables::ValueRow;

fn encode(registry: &Registry) -> String {
    let mut out = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut out).expect("text encoding to memory");
    String::from_utf8(out).expect("the text format is UTF-8")
}

/// The lake's metrics for one version.
pub fn lake_metrics(version: u64, values: &BTreeMap<String, Vec<ValueRow>>, runs: &[RunRecord]) -> String {
    let registry = Registry::new();
    let gauge = |name: &str, help: &str, labels: &[&str]| {
        let g = GaugeVec::new(Opts::new(name, help), labels).expect("metric");
        registry.register(Box::new(g.clone())).expect("register");
        g
    };
    let indicator = gauge(
        "lms_indicator_value",
        "Published indicator value for the latest year of each indicator, and its latest pooled three-year window (label period; suppressed cells absent)",
        &["indicator", "year", "period", "level", "rhf", "hf", "breakdown"],
    );
    for (id, rows) in values {
        // The latest single year and the latest pooled window (middle year) of the indicator.
        let latest = |pooled: bool| rows.iter().filter(|r| r.pooled() == pooled).map(|r| r.year).max();
        let (single, window) = (latest(false), latest(true));
        let shown = rows.iter().filter(|r| !r.suppressed && Some(r.year) == if r.pooled() { window } else { single });
        for r in shown {
            if let Some(v) = r.value {
                let year = r.year.to_string();
                indicator
                    .with_label_values(&[
                        id.as_str(),
                        year.as_str(),
                        r.period.as_str(),
                        r.level.as_str(),
                        r.rhf.as_deref().unwrap_or(""),
                        r.hf.as_deref().unwrap_or(""),
                        r.breakdown.as_str(),
                    ])
                    .set(v);
            }
        }
    }
    let counter = |name: &str, help: &str, labels: &[&str]| {
        let c = IntCounterVec::new(Opts::new(name, help), labels).expect("metric");
        registry.register(Box::new(c.clone())).expect("register");
        c
    };
    let loaded = counter("lms_etl_rows_loaded_total", "Rows loaded into the lake, by source", &["source"]);
    let rejected = counter(
        "lms_etl_rows_rejected_total",
        "Rows rejected by the contract, by source and rule",
        &["source", "rule"],
    );
    let last_success = gauge(
        "lms_etl_last_success_timestamp_seconds",
        "When the last successful ETL pass of the source ended (Unix time)",
        &["source"],
    );
    let duration = gauge("lms_etl_run_duration_seconds", "Duration of the last ETL pass of the source", &["source"]);
    let mut last: BTreeMap<&str, &RunRecord> = BTreeMap::new();
    for r in runs {
        loaded.with_label_values(&[r.source.as_str()]).inc_by(r.rows_loaded);
        for (rule, n) in &r.rejected_by_rule {
            rejected.with_label_values(&[r.source.as_str(), rule.as_str()]).inc_by(*n);
        }
        if r.status != lms_lake::RunStatus::Failed {
            let g = last_success.with_label_values(&[r.source.as_str()]);
            g.set(g.get().max(r.ended_at.timestamp_millis() as f64 / 1000.0));
        }
        let newest = last.entry(&r.source).or_insert(r);
        if r.started_at > newest.started_at {
            *newest = r;
        }
    }
    for (source, r) in last {
        duration.with_label_values(&[source]).set((r.ended_at - r.started_at).num_milliseconds() as f64 / 1000.0);
    }
    let lake_version = IntGauge::new("lms_lake_version", "The lake version being served").expect("metric");
    lake_version.set(version as i64);
    registry.register(Box::new(lake_version)).expect("register");
    let build = gauge("lms_build_info", "Build of the lms binary (always 1)", &["version"]);
    build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1.0);
    encode(&registry)
}

/// HTTP request metrics, live.
pub struct HttpMetrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    reads: IntCounterVec,
}

impl HttpMetrics {
    pub fn new() -> HttpMetrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("lms_http_requests_total", "HTTP requests by method, route and status"),
            &["method", "route", "status"],
        )
        .expect("metric");
        let duration = HistogramVec::new(
            HistogramOpts::new("lms_http_request_duration_seconds", "HTTP request latency by route")
                .buckets(prometheus::exponential_buckets(0.0001, 4.0, 9).expect("buckets")),
            &["route"],
        )
        .expect("metric");
        let reads = IntCounterVec::new(
            Opts::new(
                "lms_reads_total",
                "Reads of the published tables by channel and role (queries and value requests)",
            ),
            &["channel", "role"],
        )
        .expect("metric");
        registry.register(Box::new(requests.clone())).expect("register");
        registry.register(Box::new(duration.clone())).expect("register");
        registry.register(Box::new(reads.clone())).expect("register");
        HttpMetrics { registry, requests, duration, reads }
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests.with_label_values(&[method, route, &status.to_string()]).inc();
        self.duration.with_label_values(&[route]).observe(seconds);
    }

    /// One read (`crate::query::seen`).
    pub fn read(&self, channel: &str, role: &str) {
        self.reads.with_label_values(&[channel, role]).inc();
    }

    pub fn encode(&self) -> String {
        encode(&self.registry)
    }
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self::new()
    }
}
