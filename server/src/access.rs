//! The HTTP side of the access log: one middleware that passes every request of the data routes
//! (all but the probes) through [`crate::query::seen`] once its answer is complete, with the token's
//! name, the peer, the path, the tables and rows the handler reports ([`ReadOf`]) and the outcome
//! its status stands for. A handler's answer is in memory by then (SQL's too), so no byte of it is
//! sent before its line is written.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lms_lake::access::Outcome;

use crate::query::{self, Channel, Seen};
use crate::state::AppState;

/// The peer of a connection, put on each of its requests by the server.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub std::net::SocketAddr);

/// What a handler read, on its response: rows answered, the tables read where the route does not
/// say ([`tables_of`]), and the statement for SQL.
#[derive(Clone, Debug, Default)]
pub struct ReadOf {
    pub rows: u64,
    pub tables: Option<Vec<String>>,
    pub what: Option<String>,
}

/// `response` marked as answering `rows` rows.
pub fn counted(mut response: Response, rows: usize) -> Response {
    response.extensions_mut().insert(ReadOf { rows: rows as u64, ..ReadOf::default() });
    response
}

/// The published tables a route reads (the SQL endpoint reports its own).
pub fn tables_of(route: &str) -> &'static [&'static str] {
    match route {
        "/" => &["indicator_values", "trend"],
        "/metrics" => &["indicator_values", "data_freshness"],
        "/api/v1/indicators/{id}" | "/api/v1/indicators/{id}/jsonstat" => &["indicator_values"],
        "/api/v1/indicators/{id}/funnel" => &["funnel"],
        "/api/v1/variation/{id}" => &["variation"],
        "/api/v1/trend/{id}" => &["trend"],
        "/api/v1/sources" => &["data_freshness"],
        "/api/v1/availability" => &["indicator_values"],
        _ => &[],
    }
}

/// The outcome an HTTP status stands for.
fn outcome(status: u16) -> Outcome {
    match status {
        200..=399 => Outcome::Ok,
        401 | 403 | 413 => Outcome::Refused,
        _ => Outcome::Error,
    }
}

/// The middleware: the request runs, then its read is seen; when the line cannot be written the
/// answer is replaced by the error.
pub async fn logged(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let client = request.extensions().get::<ClientAddr>().map(|c| c.0);
    let route = request.extensions().get::<MatchedPath>().map_or("", |p| p.as_str()).to_string();
    let path = request.uri().path_and_query().map_or_else(|| request.uri().path().to_string(), |p| p.to_string());
    let caller = crate::credential::caller(&state, request.headers()).ok().map(|(c, _)| c);
    let response = next.run(request).await;
    let read = response.extensions().get::<ReadOf>().cloned().unwrap_or_default();
    let seen = Seen {
        caller,
        channel: if route == "/api/v1/sql" { Channel::Http } else { Channel::Values },
        client,
        what: read.what.unwrap_or(path),
        tables: read.tables.unwrap_or_else(|| tables_of(&route).iter().map(|t| t.to_string()).collect()),
        rows: read.rows,
        outcome: outcome(response.status().as_u16()),
    };
    match query::seen(&state, seen).await {
        Ok(()) => response,
        Err(e) => e.into_response(),
    }
}
