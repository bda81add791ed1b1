//! LMS Monitor's HTTP server (axum): the published tables for Grafana (Prometheus metrics; JSON and
//! CSV in the shape of Grafana's Infinity data source), controllers (sources, run history), analysts
//! (read-only SQL) and people (an overview page). It reads only the lake's published tables, never
//! the extracts; person-level tables are not registered in its sessions, whatever the SQL says.
//!
//! ```text
//! GET  /healthz, /readyz                     anyone
//! GET  /metrics, /, /api/v1/indicators[/{id}], /api/v1/variation/{id}   dashboard+
//! GET  /api/v1/availability?indicator=&year=&level=&unit=                  dashboard+
//! GET  /api/v1/sources, /api/v1/runs          controller+
//! POST /api/v1/sql                            analyst
//! POST /signin, /signout                      a browser's session (crate::session)
//! ```

pub mod access;
pub mod api;
pub mod auth;
pub mod availability;
mod budgeted;
pub mod credential;
pub mod error;
pub mod flight;
pub mod jsonstat;
pub mod metrics;
pub mod page;
pub mod postgres;
pub mod query;
pub mod role;
pub mod session;
pub mod signin;
pub mod state;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use auth::{Role, Token, Tokens};
pub use error::ApiError;
pub use state::{AppState, ServerOptions, View};

/// The routes, with their limits and metrics.
pub fn router(state: Arc<AppState>) -> Router {
    let options = state.options.clone();
    let general = Router::new()
        .route("/", get(overview))
        .route("/metrics", get(api::metrics))
        .route("/api/v1/indicators", get(api::catalogue))
        .route("/api/v1/indicators/{id}", get(api::indicator))
        .route("/api/v1/indicators/{id}/funnel", get(api::funnel))
        .route("/api/v1/indicators/{id}/jsonstat", get(api::jsonstat))
        .route("/api/v1/variation/{id}", get(api::variation))
        .route("/api/v1/trend/{id}", get(api::trend))
        .route("/api/v1/legend", get(api::legend))
        .route("/api/v1/availability", get(availability::availability))
        .route("/api/v1/publication", get(api::publication))
        .route("/api/v1/sources", get(api::sources))
        .route("/api/v1/runs", get(api::runs))
        .route("/signin", post(signin::sign_in))
        .route("/signout", post(signin::sign_out))
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(options.concurrency));
    Router::new()
        .merge(general)
        // SQL waits for a permit of the query pool (`query`), not for a general request slot: a
        // queue of slow statements cannot stall the dashboards.
        .route("/api/v1/sql", post(api::sql))
        // Every read is written to the access log before its answer leaves (inside the time limit).
        .layer(axum::middleware::from_fn_with_state(state.clone(), access::logged))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        // Probes answer whatever the load: outside the limits.
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .layer(axum::middleware::from_fn(secure))
        .with_state(state)
}

/// What a connection beyond `max_connections` may ask: the probes; anything else is answered 503
/// `too_many_connections`, and the connection is closed after its one answer.
fn overflow_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .fallback(|| async { ApiError::TooManyConnections })
        .layer(axum::middleware::from_fn(secure))
        .with_state(state)
}

/// Headers on every answer: no sniffing of content types, no framing, and a content policy that
/// allows only the page's own inline style (it has no script).
async fn secure(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
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
    // A browser without a credential on a server with tokens: the sign-in form.
    let (caller, shown) = match credential::caller(&state, &headers) {
        Ok(c) => c,
        Err(ApiError::Unauthorized) if !headers.contains_key(header::AUTHORIZATION) => {
            return Ok(signin::unauthorized_page());
        }
        Err(e) => return Err(e),
    };
    let view = api::admit(&state, &headers, Role::Dashboard)?;
    let session_name = caller.token.as_deref().filter(|_| shown == credential::Shown::Cookie);
    if session_name.is_none()
        && let Some(r) = api::not_modified(&view, &headers)
    {
        return Ok(r);
    }
    let id = q.get("indicator").map(String::as_str);
    let html = page::render(&view, id, session_name)
        .ok_or_else(|| ApiError::NotFound(format!("no indicator `{}`", id.unwrap_or_default())))?;
    let mut r = api::with_etag(&view, "text/html; charset=utf-8", html);
    if session_name.is_some() {
        // A page with a person's name on it: not for shared caches, nor matched by the tag.
        r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
        r.headers_mut().remove(header::ETAG);
    }
    Ok(r)
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
    let result = serve_connections(listener, state, shutdown).await;
    refresher.abort();
    result
}

/// How many connections beyond `max_connections` get their one answer (probes) before the next
/// ones are closed unanswered.
const OVERFLOW: usize = 64;

/// Accepts connections until `shutdown`: at most `max_connections` served at once, each closed when
/// it sends no complete request head within `header_read_timeout` (idle keep-alive included); the
/// next `OVERFLOW` get one answer from [`overflow_router`]; beyond that they are closed at once.
/// In-flight requests finish before it returns.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    let options = state.options.clone();
    let (app, overflow_app) = (router(state.clone()), overflow_router(state));
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(options.header_read_timeout);
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(Some(options.header_read_timeout));
    let mut once = Builder::new(TokioExecutor::new()).http1_only();
    once.http1().timer(TokioTimer::new()).header_read_timeout(options.header_read_timeout).keep_alive(false);
    let connections = Arc::new(tokio::sync::Semaphore::new(options.max_connections.max(1)));
    let overflow = Arc::new(tokio::sync::Semaphore::new(OVERFLOW));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let io = TokioIo::new(tcp);
        if let Ok(permit) = connections.clone().try_acquire_owned() {
            // The peer goes on each request, for the access log.
            let app = tower::ServiceExt::map_request(app.clone(), move |mut r: axum::http::Request<_>| {
                r.extensions_mut().insert(access::ClientAddr(peer));
                r
            });
            let service = hyper_util::service::TowerToHyperService::new(app);
            let conn = graceful.watch(builder.serve_connection_with_upgrades(io, service).into_owned());
            tokio::spawn(async move {
                let _permit = permit;
                let _ = conn.await;
            });
        } else if let Ok(permit) = overflow.clone().try_acquire_owned() {
            let service = hyper_util::service::TowerToHyperService::new(overflow_app.clone());
            let conn = graceful.watch(once.serve_connection(io, service).into_owned());
            tokio::spawn(async move {
                let _permit = permit;
                let _ = conn.await;
            });
        }
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
