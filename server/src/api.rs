//! The endpoints of interfaces.md. Every handler checks the caller's role first, then reads the
//! loaded [`View`]; none touches the lake's files except `POST /api/v1/sql`, which runs over the
//! published tables of the loaded version.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::access::{ReadOf, counted};
use crate::auth::Role;
use crate::error::ApiError;
use crate::query::{self, Channel};
use crate::state::{ApiRow, AppState, ValueRow, View};

/// Checks the role (a token, or a browser's session) and that a version is loaded.
pub(crate) fn admit(state: &AppState, headers: &HeaderMap, role: Role) -> Result<Arc<View>, ApiError> {
    crate::credential::require(state, &axum::http::Method::GET, headers, role)?;
    // Every read passes the one hook, SQL or not: for these in `crate::access::logged`.
    state.ready()
}

/// `304 Not Modified` when the caller has this version.
pub(crate) fn not_modified(view: &View, headers: &HeaderMap) -> Option<Response> {
    let tag = headers.get(header::IF_NONE_MATCH)?.to_str().ok()?;
    let matches =
        tag.split(',').map(str::trim).any(|t| t == view.etag || t == "*" || t.trim_start_matches("W/") == view.etag);
    matches.then(|| {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        r.headers_mut().insert(header::ETAG, HeaderValue::from_str(&view.etag).expect("etag"));
        r
    })
}

pub(crate) fn with_etag(view: &View, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::ETAG, HeaderValue::from_str(&view.etag).expect("etag"));
    r
}

fn json_body<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| ApiError::Internal(e.to_string()))
}

pub async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, ApiError> {
    let view = state.ready()?;
    Ok(Json(serde_json::json!({"status": "ready", "version": view.version, "digest": view.digest})))
}

/// Which publication is served: lake version, commit time, the content digest of the published
/// tables and the definitions (thresholds, indicator files, reference data) they were built from.
/// No entity tag: the version moves with a republish that keeps the tag.
pub async fn publication(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let view = admit(&state, &headers, Role::Dashboard)?;
    let body = serde_json::json!({
        "version": view.version,
        "committed_at": view.committed_at.map(|t| t.to_rfc3339()),
        "digest": view.digest,
        "digested_tables": lms_queries::publish::DIGESTED,
        "definitions": view.definitions,
        "reference_version": view.definitions.as_deref().and_then(|d| d.split(';').find_map(|p| p.strip_prefix("reference="))),
        "etag": view.etag,
    });
    Ok(Json(body).into_response())
}

pub async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    crate::credential::require(&state, &axum::http::Method::GET, &headers, Role::Dashboard)?;
    let mut text = state.view().map(|v| v.metrics.clone()).unwrap_or_default();
    text.push_str(&state.http.encode());
    let mut r = Response::new(Body::from(text));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    Ok(r)
}

/// The catalogue entry of the API: the header of the indicator's file.
pub async fn catalogue(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let view = admit(&state, &headers, Role::Dashboard)?;
    if let Some(r) = not_modified(&view, &headers) {
        return Ok(r);
    }
    Ok(with_etag(&view, "application/json", json_body(&view.catalogue)?))
}

/// Filters of `GET /api/v1/indicators/{id}`.
#[derive(Debug, Default)]
struct Filters {
    from: Option<i32>,
    to: Option<i32>,
    level: Option<String>,
    rhf: Option<String>,
    hf: Option<String>,
    breakdown: Option<String>,
    /// `YYYY` or `YYYY-YYYY`; `all` for both; none: the single years.
    period: Option<String>,
    csv: bool,
    /// `format=parquet`: the cells as a Parquet file of the published table's schema.
    parquet: bool,
}

impl Filters {
    fn parse(q: &HashMap<String, String>) -> Result<Filters, ApiError> {
        let year = |k: &str| -> Result<Option<i32>, ApiError> {
            q.get(k)
                .map(|v| {
                    v.parse::<i32>().map_err(|_| ApiError::BadRequest(format!("{k}={v}: expected a year such as 2024")))
                })
                .transpose()
        };
        let mut f = Filters { from: year("from")?, to: year("to")?, ..Filters::default() };
        if let Some(y) = year("year")? {
            f.from = Some(y);
            f.to = Some(y);
        }
        for (k, v) in q {
            match k.as_str() {
                "year" | "from" | "to" => {}
                "level" => {
                    if !["national", "rhf", "hf"].contains(&v.as_str()) {
                        return Err(ApiError::BadRequest(format!("level={v}: expected national, rhf or hf")));
                    }
                    f.level = Some(v.clone());
                }
                "rhf" => f.rhf = Some(v.clone()),
                "hf" => f.hf = Some(v.clone()),
                "breakdown" => f.breakdown = Some(v.clone()),
                "period" => {
                    let year = |t: &str| t.len() == 4 && t.bytes().all(|b| b.is_ascii_digit());
                    let ok = v == "all" || year(v) || v.split_once('-').is_some_and(|(a, b)| year(a) && year(b));
                    if !ok {
                        return Err(ApiError::BadRequest(format!(
                            "period={v}: expected a year (2024), a pooled window (2023-2025) or all"
                        )));
                    }
                    f.period = Some(v.clone());
                }
                "format" => match v.as_str() {
                    "json" => (f.csv, f.parquet) = (false, false),
                    "csv" => (f.csv, f.parquet) = (true, false),
                    "parquet" => (f.csv, f.parquet) = (false, true),
                    _ => return Err(ApiError::BadRequest(format!("format={v}: expected json, csv or parquet"))),
                },
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "unknown parameter `{k}` (expected year, from, to, level, rhf, hf, breakdown, period, format)"
                    )));
                }
            }
        }
        Ok(f)
    }

    fn is_empty(&self) -> bool {
        self.from.is_none()
            && self.to.is_none()
            && self.level.is_none()
            && self.rhf.is_none()
            && self.hf.is_none()
            && self.breakdown.is_none()
            && self.period.is_none()
    }

    fn keep(&self, r: &ValueRow) -> bool {
        self.keeps_year(r.year)
            && self.keeps_unit(r.level, r.rhf.as_ref(), r.hf.as_ref(), &r.breakdown)
            && period_matches(self.period.as_deref(), &r.period)
    }

    fn keeps_year(&self, year: i32) -> bool {
        self.from.is_none_or(|y| year >= y) && self.to.is_none_or(|y| year <= y)
    }

    /// Whether the unit and breakdown filters keep a row of `level`, `rhf`, `hf` and `breakdown`.
    fn keeps_unit(
        &self,
        level: lms_queries::Level,
        rhf: Option<&String>,
        hf: Option<&String>,
        breakdown: &str,
    ) -> bool {
        self.level.as_ref().is_none_or(|l| level.as_str() == l)
            && self.rhf.as_ref().is_none_or(|x| rhf == Some(x))
            && self.hf.as_ref().is_none_or(|x| hf == Some(x))
            && self.breakdown.as_ref().is_none_or(|b| breakdown == b)
    }
}

/// Whether a row of `period` answers the filter `period=` (none: the single years; `all`: every
/// row; else that period).
fn period_matches(filter: Option<&str>, period: &str) -> bool {
    match filter {
        None => period.len() == 4,
        Some("all") => true,
        Some(p) => period == p,
    }
}

pub(crate) fn known<'a>(view: &'a View, id: &str) -> Result<&'a lms_queries::Indicator, ApiError> {
    view.catalogue
        .iter()
        .find(|i| i.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("no indicator `{id}` (GET /api/v1/indicators lists them)")))
}

/// One batch as a Parquet file (zstd, the lake's compression), a download named `filename`.
fn parquet_answer(
    view: &View,
    batch: &datafusion::arrow::array::RecordBatch,
    filename: &str,
) -> Result<Response, ApiError> {
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::basic::{Compression, ZstdLevel};
    use datafusion::parquet::file::properties::WriterProperties;
    let internal = |e: &dyn std::fmt::Display| ApiError::Internal(e.to_string());
    let level = ZstdLevel::try_new(3).map_err(|e| internal(&e))?;
    let props = WriterProperties::builder().set_compression(Compression::ZSTD(level)).build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).map_err(|e| internal(&e))?;
    w.write(batch).map_err(|e| internal(&e))?;
    w.close().map_err(|e| internal(&e))?;
    let mut r = with_etag(view, "application/vnd.apache.parquet", out);
    let disposition = format!("attachment; filename=\"{filename}\"");
    r.headers_mut().insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).map_err(|e| internal(&e))?);
    Ok(r)
}

/// CSV of rows with a header from their fields (nothing for no rows).
fn csv_of<T: Serialize>(rows: &[T]) -> Result<Vec<u8>, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r).map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    w.into_inner().map_err(|e| ApiError::Internal(e.to_string()))
}

/// CSV of indicator rows, with `time` first.
fn rows_csv(rows: &[&ValueRow]) -> Result<Vec<u8>, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(ApiRow::from(*r)).map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    if rows.is_empty() {
        // The header of the rows: `time`, then the table's columns.
        let schema = lms_queries::tables::indicator_values_schema();
        let names = schema.fields().iter().map(|f| f.name().as_str());
        w.write_record(std::iter::once("time").chain(names)).map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    w.into_inner().map_err(|e| ApiError::Internal(e.to_string()))
}

pub async fn indicator(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let view = admit(&state, &headers, Role::Dashboard)?;
    known(&view, &id)?;
    let filters = Filters::parse(&q)?;
    if let Some(r) = not_modified(&view, &headers) {
        return Ok(r);
    }
    if filters.parquet {
        let kept: Vec<ValueRow> =
            view.values.get(&id).into_iter().flatten().filter(|r| filters.keep(r)).cloned().collect();
        let batch = ValueRow::to_batch(&kept).map_err(|e| ApiError::Internal(e.to_string()))?;
        return Ok(counted(parquet_answer(&view, &batch, &format!("{id}.parquet"))?, kept.len()));
    }
    if !filters.csv && filters.is_empty() {
        let body = view.values_json.get(&id).cloned().unwrap_or_else(|| Bytes::from_static(b"[]"));
        let rows = view.values.get(&id).map_or(0, Vec::len);
        return Ok(counted(with_etag(&view, "application/json", body), rows));
    }
    let (Some(rows), Some(json)) = (view.values.get(&id), view.row_json.get(&id)) else {
        return Ok(with_etag(&view, "application/json", Bytes::from_static(b"[]")));
    };
    if filters.csv {
        let kept: Vec<&ValueRow> = rows.iter().filter(|r| filters.keep(r)).collect();
        return Ok(counted(with_etag(&view, "text/csv; charset=utf-8", rows_csv(&kept)?), kept.len()));
    }
    // The rows' JSON was written when the version was loaded: a poll only picks and joins.
    let kept: Vec<&str> = rows.iter().zip(json).filter(|(r, _)| filters.keep(r)).map(|(_, j)| &**j).collect();
    let n = kept.len();
    Ok(counted(with_etag(&view, "application/json", crate::state::join_json(kept.into_iter())), n))
}

/// `GET /api/v1/indicators/{id}/jsonstat`: the indicator as a JSON-stat 2.0 dataset
/// (`crate::jsonstat`), with PxWebApi v2's selection (`valueCodes[period]=2023,2024`).
pub async fn jsonstat(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let view = admit(&state, &headers, Role::Dashboard)?;
    known(&view, &id)?;
    let dataset = crate::jsonstat::dataset(&view, &id, &q)?;
    if let Some(r) = not_modified(&view, &headers) {
        return Ok(r);
    }
    let values = dataset.get("value").and_then(|v| v.as_array()).map_or(0, Vec::len);
    Ok(counted(with_etag(&view, "application/json", json_body(&dataset)?), values))
}

/// `GET /api/v1/indicators/{id}/funnel` (share indicators): each shown unit's share, the national
/// share and the funnel limits; filters `year`, `level` (`rhf`, `hf`), `breakdown` (`breakdown=` the
/// totals), `format=json|csv`.
pub async fn funnel(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let view = admit(&state, &headers, Role::Dashboard)?;
    let indicator = known(&view, &id)?;
    if indicator.unit != lms_queries::catalogue::Unit::Share {
        return Err(ApiError::NotFound(format!("`{id}` has no funnel (funnels are drawn for shares)")));
    }
    let (mut year, mut level, mut breakdown, mut csv) = (None, None, None, false);
    for (k, v) in &q {
        match k.as_str() {
            "year" => {
                year = Some(v.parse::<i32>().map_err(|_| ApiError::BadRequest(format!("year `{v}`: expected YYYY")))?)
            }
            "level" => match v.as_str() {
                "rhf" | "hf" => level = Some(v.clone()),
                _ => return Err(ApiError::BadRequest(format!("level `{v}`: expected rhf or hf"))),
            },
            "breakdown" => breakdown = Some(v.clone()),
            "format" => match v.as_str() {
                "json" => csv = false,
                "csv" => csv = true,
                _ => return Err(ApiError::BadRequest(format!("format `{v}`: expected json or csv"))),
            },
            other => return Err(ApiError::BadRequest(format!("unknown parameter `{other}`"))),
        }
    }
    if let Some(r) = not_modified(&view, &headers) {
        return Ok(r);
    }
    let rows: Vec<&crate::state::FunnelRow> = view
        .funnel
        .get(&id)
        .map(|rows| {
            rows.iter()
                .filter(|r| year.is_none_or(|y| r.year == y))
                .filter(|r| level.as_ref().is_none_or(|l| &r.level == l))
                .filter(|r| breakdown.as_ref().is_none_or(|b| &r.breakdown == b))
                .collect()
        })
        .unwrap_or_default();
    if csv {
        return Ok(counted(with_etag(&view, "text/csv; charset=utf-8", csv_of(&rows)?), rows.len()));
    }
    Ok(counted(with_etag(&view, "application/json", json_body(&rows)?), rows.len()))
}

/// `GET /api/v1/legend` (`?format=csv` for CSV): every reason a cell can be hidden for, with a
/// sentence in Norwegian bokmål and in English (the table `legend`).
pub async fn legend(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let view = admit(&state, &headers, Role::Dashboard)?;
    if let Some(r) = not_modified(&view, &headers) {
        return Ok(r);
    }
    #[derive(Serialize)]
    struct Row {
        reason: &'static str,
        text_nb: &'static str,
        text_en: &'static str,
    }
    let rows: Vec<Row> = lms_queries::suppress::LEGEND
        .iter()
        .map(|(reason, nb, en)| Row { reason: reason.as_str(), text_nb: nb, text_en: en })
        .collect();
    match q.get("format").map(String::as_str) {
        Some("csv") => Ok(with_etag(&view, "text/csv; charset=utf-8", csv_of(&rows)?)),
        None | Some("json") => Ok(with_etag(&view, "application/json", json_body(&rows)?)),
        Some(other) => Err(ApiError::BadRequest(format!("format `{other}`: expected json or csv"))),
    }
}

pub async fn variation(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let view = admit(&state, &headers, Role::Dashboard)?;
    known(&view, &id)?;
    let Some(rows) = view.variation.get(&id) else {
        return Err(ApiError::NotFound(format!(
            "`{id}` has no variation table (it is computed for the residence-view standardised rates)"
        )));
    };
    if let Some(r) = not_modified(&view, &headers) {
        return Ok(r);
    }
    #[derive(Serialize)]
    struct Row<'a> {
        time: String,
        #[serde(flatten)]
        row: &'a crate::state::VariationRow,
    }
    // The single years, as before pooled windows; `period=all` or a window for those.
    let period = q.get("period").map(String::as_str);
    let rows: Vec<Row> = rows
        .iter()
        .filter(|r| period_matches(period, &r.period))
        .map(|row| Row { time: format!("{}-01-01T00:00:00Z", row.year), row })
        .collect();
    Ok(counted(with_etag(&view, "application/json", json_body(&rows)?), rows.len()))
}

/// `GET /api/v1/trend/{id}`: the recent trend of each series of a share or standardised rate
/// (indicators.md, "Recent trend"), with the value endpoint's filters (`level`, `rhf`, `hf`,
/// `breakdown`; `year`, `from` and `to` on the trend's last year) and `format=json|csv|parquet`.
pub async fn trend(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let view = admit(&state, &headers, Role::Dashboard)?;
    known(&view, &id)?;
    let filters = Filters::parse(&q)?;
    let Some(rows) = view.trend.get(&id) else {
        return Err(ApiError::NotFound(format!(
            "`{id}` has no trend (it is computed for the shares and the standardised rates)"
        )));
    };
    if let Some(r) = not_modified(&view, &headers) {
        return Ok(r);
    }
    let rows: Vec<&crate::state::TrendRow> = rows
        .iter()
        .filter(|r| {
            filters.keeps_unit(r.level, r.rhf.as_ref(), r.hf.as_ref(), &r.breakdown)
                && (filters.from.is_none() && filters.to.is_none() || r.to_year.is_some_and(|t| filters.keeps_year(t)))
        })
        .collect();
    if filters.csv {
        return Ok(counted(with_etag(&view, "text/csv; charset=utf-8", csv_of(&rows)?), rows.len()));
    }
    if filters.parquet {
        let owned: Vec<crate::state::TrendRow> = rows.iter().map(|r| (*r).clone()).collect();
        let batch = crate::state::TrendRow::to_batch(&owned).map_err(|e| ApiError::Internal(e.to_string()))?;
        return Ok(counted(parquet_answer(&view, &batch, &format!("{id}-trend.parquet"))?, rows.len()));
    }
    Ok(counted(with_etag(&view, "application/json", json_body(&rows)?), rows.len()))
}

/// Freshness per source, with its last run and last success.
pub async fn sources(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let view = admit(&state, &headers, Role::Controller)?;
    #[derive(Serialize)]
    struct Source<'a> {
        source: &'a str,
        last_run: Option<&'a lms_lake::RunRecord>,
        last_success: Option<String>,
        extracts: Vec<&'a crate::state::FreshnessRow>,
    }
    let mut names: Vec<&str> = view.runs.iter().map(|r| r.source.as_str()).collect();
    names.extend(view.freshness.iter().map(|f| f.source.as_str()));
    names.sort();
    names.dedup();
    let out: Vec<Source> = names
        .into_iter()
        .map(|name| {
            let runs = view.runs.iter().filter(|r| r.source == name);
            Source {
                source: name,
                last_run: runs.clone().max_by_key(|r| r.started_at),
                last_success: runs
                    .filter(|r| r.status != lms_lake::RunStatus::Failed)
                    .map(|r| r.ended_at)
                    .max()
                    .map(|t| t.to_rfc3339()),
                extracts: view.freshness.iter().filter(|f| f.source == name).collect(),
            }
        })
        .collect();
    Ok(Json(serde_json::to_value(out).map_err(|e| ApiError::Internal(e.to_string()))?).into_response())
}

/// Run history, newest first; `limit` (default 100), `source`.
pub async fn runs(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let view = admit(&state, &headers, Role::Controller)?;
    let limit = match q.get("limit") {
        Some(v) => v.parse::<usize>().map_err(|_| ApiError::BadRequest(format!("limit={v}: expected a number")))?,
        None => 100,
    };
    let mut runs: Vec<&lms_lake::RunRecord> =
        view.runs.iter().filter(|r| q.get("source").is_none_or(|s| &r.source == s)).collect();
    runs.sort_by_key(|r| std::cmp::Reverse(r.started_at));
    runs.truncate(limit);
    Ok(Json(serde_json::to_value(runs).map_err(|e| ApiError::Internal(e.to_string()))?).into_response())
}

/// What `POST /api/v1/sql` answers in.
#[derive(Clone, Copy, Debug, PartialEq)]
enum SqlFormat {
    Json,
    Csv,
    Arrow,
}

fn sql_format(headers: &HeaderMap) -> Result<SqlFormat, ApiError> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    for part in accept.split(',').map(|p| p.split(';').next().unwrap_or("").trim()) {
        match part {
            "application/json" | "*/*" | "application/*" => return Ok(SqlFormat::Json),
            "text/csv" => return Ok(SqlFormat::Csv),
            "application/vnd.apache.arrow.stream" => return Ok(SqlFormat::Arrow),
            _ => {}
        }
    }
    Err(ApiError::NotAcceptable(format!(
        "Accept: {accept}: expected application/json, text/csv or application/vnd.apache.arrow.stream"
    )))
}

/// Read-only SQL over the published tables of the loaded version: the body is the statement (text)
/// or `{"sql": "…"}`. The token is checked before the body is read; a few queries run at a time;
/// each has a deadline for planning and running; at most `sql_row_limit` rows. The answer is made
/// whole before it is sent, so its access-log line is written first (`crate::access`), and any error
/// is a status of its own.
pub async fn sql(State(state): State<Arc<AppState>>, request: axum::extract::Request) -> Result<Response, ApiError> {
    let headers = request.headers().clone();
    let role = crate::credential::require(&state, &axum::http::Method::POST, &headers, Role::Analyst)?.role;
    let view = state.ready()?;
    let format = sql_format(&headers)?;
    let timeout = state.options.sql_timeout;
    let max = state.options.max_body_bytes;
    let body = tokio::time::timeout(timeout, axum::body::to_bytes(request.into_body(), max))
        .await
        .map_err(|_| ApiError::Timeout(timeout.as_secs()))?
        .map_err(|_| ApiError::PayloadTooLarge(max))?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::BadRequest("the body is not UTF-8".into()))?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    let statement = if is_json {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ApiError::BadRequest(format!("JSON body: {e}")))?;
        v.get("sql")
            .and_then(|s| s.as_str())
            .ok_or_else(|| ApiError::BadRequest("JSON body: expected {\"sql\": \"…\"}".into()))?
            .to_string()
    } else {
        text.to_string()
    };
    let read =
        |rows: u64| ReadOf { rows, tables: Some(lms_queries::tables_read(&statement)), what: Some(statement.clone()) };
    let (mut response, rows) = match sql_answer(&state, &view, &statement, role, format).await {
        Ok(answered) => answered,
        Err(e) => {
            let mut r = e.into_response();
            r.extensions_mut().insert(read(0));
            return Ok(r);
        }
    };
    response.extensions_mut().insert(read(rows));
    Ok(response)
}

/// Runs `statement` and encodes the whole answer in `format`; its row count.
async fn sql_answer(
    state: &AppState,
    view: &View,
    statement: &str,
    role: Role,
    format: SqlFormat,
) -> Result<(Response, u64), ApiError> {
    let admission = query::admit(state, statement, Channel::Http, role).await?;
    let (schema, batches, rows) = query::answer(state, view, statement, admission).await?;
    let internal = |e: &dyn std::fmt::Display| ApiError::Internal(e.to_string());
    let (body, content_type) = match format {
        SqlFormat::Arrow => {
            let mut out = Vec::new();
            {
                let mut w = datafusion::arrow::ipc::writer::StreamWriter::try_new(&mut out, &schema)
                    .map_err(|e| internal(&e))?;
                for b in &batches {
                    w.write(b).map_err(|e| internal(&e))?;
                }
                w.finish().map_err(|e| internal(&e))?;
            }
            (out, "application/vnd.apache.arrow.stream")
        }
        SqlFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(schema.fields().iter().map(|f| f.name())).map_err(|e| internal(&e))?;
            let mut out = w.into_inner().map_err(|e| internal(&e))?;
            let batches: Vec<_> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
            // A type CSV cannot hold is the statement's error.
            out.extend(lms_queries::format::try_csv(&batches, false).map_err(|e| ApiError::InvalidSql(e.to_string()))?);
            (out, "text/csv; charset=utf-8")
        }
        SqlFormat::Json => {
            let batches: Vec<_> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
            let out = if batches.is_empty() {
                b"[]".to_vec()
            } else {
                lms_queries::format::try_json(&batches).map_err(|e| ApiError::InvalidSql(e.to_string()))?
            };
            (out, "application/json")
        }
    };
    let mut r = Response::new(Body::from(body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert("x-lms-row-limit", HeaderValue::from(state.options.sql_row_limit));
    h.insert("x-lms-lake-version", HeaderValue::from(view.version));
    Ok((r, rows))
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such path (see interfaces.md: /api/v1/indicators, /metrics, …)".into())
}
