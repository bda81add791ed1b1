//! LMS Monitor's HTTP server (axum): the published tables for Grafana (Prometheus metrics; JSON and
//! CSV in the shape of Grafana's Infinity data source), controllers (sources, run history), analysts
//! (read-only SQL) and people (an overview page). It reads only the lake's published tables, never
//! the extracts; person-level tables are not registered in its sessions, whatever the SQL says.
//!
//! ```text
//! GET  /healthz, /readyz                     anyone
//! GET  /metrics, /, /api/v1/indicators[/{id}], /api/v1/variation/{id}   dashboard+
//! GET  /api/v1/sources, /api/v1/runs          controller+
//! POST /api/v1/sql                            analyst
//! ```

pub mod api;
pub mod auth;
pub mod error;
pub mod flight;
pub mod jsonstat;
pub mod metrics;
pub mod page;
pub mod postgres;
pub mod state;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Query, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use auth::{Role, Token, Tokens};
pub use error::ApiError;
pub use state::{AppState, ServerOptions, View};

/// The routes, with their limits and metrics.
pub fn router(state: Arc<AppState>) -> Router {
    let options = state.options.clone();
    Router::new()
        .route("/", get(overview))
        .route("/metrics", get(api::metrics))
        .route("/api/v1/indicators", get(api::catalogue))
        .route("/api/v1/indicators/{id}", get(api::indicator))
        .route("/api/v1/indicators/{id}/funnel", get(api::funnel))
        .route("/api/v1/indicators/{id}/jsonstat", get(api::jsonstat))
        .route("/api/v1/variation/{id}", get(api::variation))
        .route("/api/v1/legend", get(api::legend))
        .route("/api/v1/publication", get(api::publication))
        .route("/api/v1/sources", get(api::sources))
        .route("/api/v1/runs", get(api::runs))
        .route("/api/v1/sql", post(api::sql))
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(options.concurrency))
        // Probes answer whatever the load: outside the limits.
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .with_state(state)
}

/// Records each request in the HTTP metrics; gives JSON errors to the framework's own rejections
/// (a body over the limit, a bad path) and bounds every request but SQL (which has its own) in time.
async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_string();
    let limit = state.options.request_timeout;
    let response = if route == "/api/v1/sql" {
        next.run(request).await
    } else {
        match tokio::time::timeout(limit, next.run(request)).await {
            Ok(r) => r,
            Err(_) => ApiError::Timeout(limit.as_secs()).into_response(),
        }
    };
    let response = match response.status().as_u16() {
        413 if !is_json(&response) => ApiError::PayloadTooLarge(state.options.max_body_bytes).into_response(),
        400 | 415 | 422 if !is_json(&response) => {
            ApiError::BadRequest(format!("the request could not be read ({})", response.status())).into_response()
        }
        _ => response,
    };
    state.http.observe(&method, &route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

fn is_json(r: &Response) -> bool {
    r.headers().get(header::CONTENT_TYPE).is_some_and(|c| c.as_bytes().starts_with(b"application/json"))
}

async fn overview(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let view = api::admit(&state, &headers, Role::Dashboard)?;
    if let Some(r) = api::not_modified(&view, &headers) {
        return Ok(r);
    }
    let id = q.get("indicator").map(String::as_str);
    let html = page::render(&view, id)
        .ok_or_else(|| ApiError::NotFound(format!("no indicator `{}`", id.unwrap_or_default())))?;
    Ok(api::with_etag(&view, "text/html; charset=utf-8", html))
}

/// Serves `state` on `listener` until `shutdown` completes, checking the lake for a new version
/// every `refresh_every`. In-flight requests finish before it returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The first load runs in the background (its first tick is immediate): probes get 503 until it
    // is done rather than hanging.
    let refresher = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(state.options.refresh_every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = state.refresh().await {
                    tracing::warn!(error = %e, "refreshing from the lake failed; serving the version loaded");
                }
            }
        })
    };
    let result = axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await;
    refresher.abort();
    result
}
