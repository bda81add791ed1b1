//! What the server serves, held in memory per lake version: the published tables are read once when
//! a version is loaded, so a dashboard poll costs no Parquet scan; a new version is loaded beside the
//! old one and swapped in atomically (readers holding the old one finish with it).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use lms_lake::{Lake, RunRecord};
use lms_queries::{Access, Indicator, Warehouse};
use serde::Serialize;

use crate::auth::Tokens;
use crate::error::ApiError;
use crate::metrics::{HttpMetrics, lake_metrics};

/// How the server behaves; every field has a default.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// The lake, `file://…` or `s3://…`.
    pub lake_url: String,
    pub tokens: Tokens,
    /// `POST /api/v1/sql` returns at most this many rows.
    pub sql_row_limit: usize,
    /// `POST /api/v1/sql` gives up after this long.
    pub sql_timeout: Duration,
    /// Every other request gives up after this long.
    pub request_timeout: Duration,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Largest SQL statement accepted, over every channel.
    pub max_statement_bytes: usize,
    /// Connections open at once on each listener; beyond it a connection gets one answer (probes
    /// answer, everything else 503) and is closed.
    pub max_connections: usize,
    /// A connection that sends no complete request head (or no next request) for this long is closed.
    pub header_read_timeout: Duration,
    /// A PostgreSQL connection without a byte either way for this long is closed (a psql session
    /// left open; longer than HTTP's, since people type there).
    pub postgres_idle_timeout: Duration,
    /// Requests handled at once; more wait.
    pub concurrency: usize,
    /// SQL queries running at once (each holds its permit until its answer is sent); more wait.
    pub sql_concurrency: usize,
    /// How often the lake is checked for a new version (and for new run history).
    pub refresh_every: Duration,
    /// Whether every read is written to the access log (`lms_lake::access`). Off only to measure
    /// what the log costs: a register of health data keeps it on.
    pub access_log: bool,
    /// How long a browser's session (`crate::session`) lasts after signing in.
    pub session_lifetime: Duration,
    /// Session cookies always `Secure` (else only where a proxy says the request came over TLS).
    pub secure_cookies: bool,
}

impl ServerOptions {
    pub fn new(lake_url: &str) -> ServerOptions {
        ServerOptions {
            lake_url: lake_url.to_string(),
            tokens: Tokens::default(),
            sql_row_limit: 100_000,
            sql_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            max_body_bytes: 64 * 1024,
            max_statement_bytes: 64 * 1024,
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            postgres_idle_timeout: Duration::from_secs(15 * 60),
            concurrency: 512,
            sql_concurrency: 2,
            refresh_every: Duration::from_secs(10),
            access_log: true,
            session_lifetime: Duration::from_secs(8 * 3600),
            secure_cookies: false,
        }
    }
}

/// The published tables' rows, as `lms_queries::tables` reads them.
pub use lms_queries::tables::{FreshnessRow, FunnelRow, TrendRow, ValueRow, VariationRow};

/// One lake version as the server serves it.
pub struct View {
    pub version: u64,
    /// The published tables' content digest and the definitions they were built from (the commit's
    /// `digest` and `published`).
    pub digest: Option<String>,
    pub definitions: Option<String>,
    pub committed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The entity tag of everything served from the published tables (see [`entity_tag`]).
    pub etag: String,
    pub catalogue: &'static [Indicator],
    /// Cells by indicator, in (year, level, rhf, hf, breakdown) order.
    pub values: BTreeMap<String, Vec<ValueRow>>,
    /// The unfiltered JSON of each indicator's cells, ready to send.
    pub values_json: BTreeMap<String, Bytes>,
    /// Each cell's JSON object, aligned with `values`: a filtered answer joins the ones it keeps.
    pub row_json: BTreeMap<String, Vec<Box<str>>>,
    pub variation: BTreeMap<String, Vec<VariationRow>>,
    /// Funnel rows by indicator (share indicators), in (year, level, breakdown, rhf, hf) order.
    pub funnel: BTreeMap<String, Vec<FunnelRow>>,
    /// Recent trends by indicator (shares and standardised rates), in (level, rhf, hf, breakdown) order.
    pub trend: BTreeMap<String, Vec<TrendRow>>,
    pub freshness: Vec<FreshnessRow>,
    pub runs: Vec<RunRecord>,
    /// The lake's part of `/metrics` (indicators, ETL, lake version, build), encoded once.
    pub metrics: String,
    /// A read-only session over the published tables of this version, for `POST /api/v1/sql`.
    pub warehouse: Warehouse,
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "View(version {})", self.version)
    }
}

/// A row of the indicator API: the cell with `time`, 1 January of its year, first (flat, so the
/// same struct writes JSON and CSV).
#[derive(Serialize)]
pub struct ApiRow<'a> {
    pub time: String,
    pub indicator: &'a str,
    pub year: i32,
    pub period: &'a str,
    pub level: &'a str,
    pub rhf: Option<&'a str>,
    pub hf: Option<&'a str>,
    pub breakdown: &'a str,
    pub numerator: Option<i64>,
    pub denominator: Option<f64>,
    pub value: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub ci99_low: Option<f64>,
    pub ci99_high: Option<f64>,
    pub suppressed: bool,
    pub suppression_reason: Option<&'a str>,
    pub compared: Option<&'a str>,
    pub coverage: Option<f64>,
    pub target: Option<&'a str>,
}

impl<'a> From<&'a ValueRow> for ApiRow<'a> {
    fn from(r: &'a ValueRow) -> Self {
        ApiRow {
            time: format!("{}-01-01T00:00:00Z", r.year),
            indicator: &r.indicator,
            year: r.year,
            period: &r.period,
            level: r.level.as_str(),
            rhf: r.rhf.as_deref(),
            hf: r.hf.as_deref(),
            breakdown: &r.breakdown,
            numerator: r.numerator,
            denominator: r.denominator,
            value: r.value,
            ci_low: r.ci_low,
            ci_high: r.ci_high,
            ci99_low: r.ci99_low,
            ci99_high: r.ci99_high,
            suppressed: r.suppressed,
            suppression_reason: r.suppression_reason.map(|s| s.as_str()),
            compared: r.compared.map(|c| c.as_str()),
            coverage: r.coverage,
            target: r.target.map(|t| t.as_str()),
        }
    }
}

/// `[a,b,…]` from JSON objects.
pub fn join_json<'a>(rows: impl Iterator<Item = &'a str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    out.push(b'[');
    for (i, r) in rows.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(r.as_bytes());
    }
    out.push(b']');
    out
}

/// The answer of `sql` as rows of `T`, read by `read`.
async fn rows<T>(
    w: &Warehouse,
    sql: &str,
    read: fn(&[RecordBatch]) -> Result<Vec<T>, lms_queries::QueryError>,
) -> Result<Vec<T>, ApiError> {
    let batches = w.sql(sql).await.map_err(|e| ApiError::Internal(format!("{sql}: {e}")))?;
    read(&batches).map_err(|e| ApiError::Internal(format!("{sql}: {e}")))
}

/// What BI tools ask when they connect over Flight SQL or HTTP SQL (the PostgreSQL protocol's
/// session has its own): `current_schema()` and `current_database()`, the names the tables are
/// registered under (`version()` is DataFusion's).
fn connect_functions() -> Vec<datafusion::logical_expr::ScalarUDF> {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    use datafusion::scalar::ScalarValue;
    [("current_schema", "public"), ("current_database", "datafusion")]
        .into_iter()
        .map(|(name, value)| {
            let answer = move |_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(value.into()))));
            create_udf(name, vec![], DataType::Utf8, Volatility::Immutable, std::sync::Arc::new(answer))
        })
        .collect()
}

impl View {
    /// Loads the published tables of the lake's newest version, with `runs` as its run history.
    pub async fn load(lake: &Lake, runs: Vec<RunRecord>) -> Result<View, ApiError> {
        let snapshot = lake.snapshot().await.map_err(|e| ApiError::Internal(e.to_string()))?;
        let warehouse =
            Warehouse::at(lake, &snapshot, Access::Published).await.map_err(|e| ApiError::Internal(e.to_string()))?;
        for udf in connect_functions() {
            warehouse.context().register_udf(udf);
        }
        let cells: Vec<ValueRow> = rows(
            &warehouse,
            "SELECT * FROM indicator_values ORDER BY indicator, year, period, \
             CASE level WHEN 'national' THEN 0 WHEN 'rhf' THEN 1 ELSE 2 END, rhf, hf, breakdown",
            ValueRow::read,
        )
        .await?;
        let mut values: BTreeMap<String, Vec<ValueRow>> = BTreeMap::new();
        for c in cells {
            values.entry(c.indicator.clone()).or_default().push(c);
        }
        let row_json: BTreeMap<String, Vec<Box<str>>> = values
            .iter()
            .map(|(id, rows)| {
                let json = rows
                    .iter()
                    .map(|r| serde_json::to_string(&ApiRow::from(r)).expect("rows serialise").into_boxed_str())
                    .collect();
                (id.clone(), json)
            })
            .collect();
        // The answer without filters: the single years (pooled windows on request, `period=`).
        let values_json = row_json
            .iter()
            .map(|(id, rows)| {
                let singles = rows.iter().zip(&values[id]).filter(|(_, v)| !v.pooled()).map(|(r, _)| &**r);
                (id.clone(), Bytes::from(join_json(singles)))
            })
            .collect();
        let mut variation: BTreeMap<String, Vec<VariationRow>> = BTreeMap::new();
        for v in
            rows(&warehouse, "SELECT * FROM variation ORDER BY indicator, year, period", VariationRow::read).await?
        {
            variation.entry(v.indicator.clone()).or_default().push(v);
        }
        let mut funnel: BTreeMap<String, Vec<FunnelRow>> = BTreeMap::new();
        let sql = "SELECT * FROM funnel ORDER BY indicator, year, level, breakdown, rhf, hf";
        for f in rows(&warehouse, sql, FunnelRow::read).await? {
            funnel.entry(f.indicator.clone()).or_default().push(f);
        }
        let mut trend: BTreeMap<String, Vec<TrendRow>> = BTreeMap::new();
        let sql = "SELECT * FROM trend ORDER BY indicator, \
                   CASE level WHEN 'national' THEN 0 WHEN 'rhf' THEN 1 ELSE 2 END, rhf, hf, breakdown";
        for t in rows(&warehouse, sql, TrendRow::read).await? {
            trend.entry(t.indicator.clone()).or_default().push(t);
        }
        let freshness = rows(&warehouse, FreshnessRow::QUERY, FreshnessRow::read).await?;
        let catalogue = lms_queries::catalogue::embedded();
        let metrics = lake_metrics(snapshot.version, &values, &runs);
        Ok(View {
            version: snapshot.version,
            etag: entity_tag(&snapshot),
            digest: snapshot.digest.clone(),
            definitions: snapshot.published.clone(),
            committed_at: snapshot.committed_at,
            catalogue,
            values,
            values_json,
            row_json,
            variation,
            funnel,
            trend,
            freshness,
            runs,
            metrics,
            warehouse,
        })
    }
}

/// The entity tag of a lake version's published tables: from their content digest and the
/// definitions (catalogue texts among them) they were built from, so a republish that changes
/// nothing keeps the tag and a cached answer stays valid across versions. A lake published before
/// digests were recorded falls back to its version, `"v{version}"`.
pub fn entity_tag(snapshot: &lms_lake::Snapshot) -> String {
    use sha2::Digest;
    match (&snapshot.digest, &snapshot.published) {
        (Some(digest), Some(definitions)) => {
            let mut h = sha2::Sha256::new();
            h.update(definitions.as_bytes());
            h.update([0]);
            h.update(digest.as_bytes());
            format!("\"p{}\"", hex::encode(&h.finalize()[..12]))
        }
        _ => format!("\"v{}\"", snapshot.version),
    }
}

/// The server's shared state.
pub struct AppState {
    pub options: ServerOptions,
    pub http: HttpMetrics,
    pub sql_permits: Arc<tokio::sync::Semaphore>,
    /// Where every read is written (`None` when `access_log` is off).
    pub access: Option<lms_lake::access::AccessLog>,
    /// The key that signs browsers' session cookies (drawn at start).
    pub sessions: crate::session::Sessions,
    lake: Lake,
    view: RwLock<Option<Arc<View>>>,
    /// Serialises loads, so two refreshes do not load the same version twice.
    loading: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AppState({})", self.options.lake_url)
    }
}

impl AppState {
    pub fn new(options: ServerOptions) -> Result<AppState, ApiError> {
        let lake = Lake::open(&options.lake_url).map_err(|e| ApiError::Internal(e.to_string()))?;
        let sql_permits = Arc::new(tokio::sync::Semaphore::new(options.sql_concurrency.max(1)));
        let access = options.access_log.then(|| lms_lake::access::AccessLog::new(&lake));
        let sessions = crate::session::Sessions::new(options.session_lifetime);
        Ok(AppState {
            options,
            http: HttpMetrics::new(),
            sql_permits,
            access,
            sessions,
            lake,
            view: RwLock::new(None),
            loading: Default::default(),
        })
    }

    /// The version being served, if one is loaded.
    pub fn view(&self) -> Option<Arc<View>> {
        self.view.read().expect("view lock").clone()
    }

    /// Loads the lake's newest version if it is not the one served, and the run history if it grew;
    /// returns the version served afterwards. An empty lake (version 0) is not served.
    pub async fn refresh(&self) -> Result<Option<u64>, ApiError> {
        let _one = self.loading.lock().await;
        let newest = self.lake.versions().await.map_err(|e| ApiError::Internal(e.to_string()))?.last().copied();
        let current = self.view();
        let Some(newest) = newest else { return Ok(None) };
        let runs = self.lake.runs().await.map_err(|e| ApiError::Internal(e.to_string()))?;
        if let Some(v) = &current
            && v.version == newest
            && v.runs.len() == runs.len()
        {
            return Ok(Some(newest));
        }
        let started = std::time::Instant::now();
        let view = View::load(&self.lake, runs).await?;
        tracing::info!(version = view.version, seconds = started.elapsed().as_secs_f64(), "serving lake version");
        let version = view.version;
        *self.view.write().expect("view lock") = Some(Arc::new(view));
        Ok(Some(version))
    }

    /// The view, or 503 when none is loaded.
    pub fn ready(&self) -> Result<Arc<View>, ApiError> {
        self.view().ok_or(ApiError::NotReady)
    }
}
