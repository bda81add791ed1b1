//! Who is calling, from a request's headers: a bearer (or Basic) token, else the session cookie a
//! browser got by signing in (`crate::session`). One place, for the endpoints and the access log.

use axum::http::{HeaderMap, Method, header};

use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::session::cookie_value;
use crate::state::AppState;

/// How the caller showed who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    Token,
    Cookie,
    /// A server without tokens: everyone is an analyst.
    Nothing,
}

/// The caller of a request, and how they showed it.
pub fn caller(state: &AppState, headers: &HeaderMap) -> Result<(Caller, Shown), ApiError> {
    let tokens = &state.options.tokens;
    if tokens.is_empty() {
        return Ok((tokens.caller(None)?, Shown::Nothing));
    }
    if let Some(authorization) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return Ok((tokens.caller(Some(authorization))?, Shown::Token));
    }
    let value = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(cookie_value)
        .ok_or(ApiError::Unauthorized)?;
    let name = state.sessions.verify(value).ok_or(ApiError::Unauthorized)?;
    // The token must still be configured: its role is the one it has now.
    let token = tokens.0.iter().filter(|t| t.name == name).max_by_key(|t| t.role).ok_or(ApiError::Unauthorized)?;
    Ok((Caller { token: Some(name), role: token.role }, Shown::Cookie))
}

/// The caller, if they have at least `needed`. A request that changes something or runs SQL
/// (`POST`) on a cookie must come from this server's own page: its `Origin` is this host's.
pub fn require(state: &AppState, method: &Method, headers: &HeaderMap, needed: Role) -> Result<Caller, ApiError> {
    let (caller, shown) = caller(state, headers)?;
    if caller.role < needed {
        return Err(ApiError::Forbidden(needed));
    }
    if shown == Shown::Cookie && method == Method::POST && !same_origin(headers) {
        return Err(ApiError::BadRequest("a request on a session must come from this server's page (Origin)".into()));
    }
    Ok(caller)
}

/// Whether the request's `Origin` names the host it was sent to.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(scheme, rest)| (scheme == "http" || scheme == "https") && rest == host),
        _ => false,
    }
}

/// Whether the request came over TLS (as a proxy in front says), or cookies are always `Secure`.
pub fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    state.options.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}
