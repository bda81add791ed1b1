//! Signing in and out from a browser: the form `/` offers a caller without a credential on a server
//! with tokens, `POST /signin` (a token, then a session cookie; `crate::session`) and
//! `POST /signout`. Neither reads a table; both pass the access log like every request, without
//! the token: only the path is recorded.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::credential;
use crate::error::ApiError;
use crate::session::Sessions;
use crate::state::AppState;

/// The sign-in page: one field, the token (as a password field, so it is not shown or kept).
pub fn form(error: Option<&str>) -> String {
    let error = error.map(|e| format!(r#"<p class="error" role="alert">{e}</p>"#)).unwrap_or_default();
    format!(
        r#"<!doctype html><html lang="nb"><head><meta charset="utf-8"><title>LMS Monitor — logg inn</title><style>
body{{font-family:system-ui,sans-serif;margin:3rem auto;max-width:26rem;color:#1d2733}}label{{display:block;margin:.8rem 0 .3rem}}
input{{font:inherit;width:100%;padding:.4rem}}button{{font:inherit;margin-top:1rem;padding:.4rem 1rem}}.error{{color:#a61b1b}}
</style></head><body><h1>LMS Monitor</h1><p>Logg inn med tilgangsnøkkelen (token) du har fått. / Sign in with your token.</p>{error}
<form method="post" action="/signin"><label for="token">Token</label><input id="token" name="token" type="password" autocomplete="current-password" required>
<button type="submit">Logg inn / Sign in</button></form></body></html>"#
    )
}

fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// To `/`, setting `cookie`.
fn to_overview(cookie: String) -> Result<Response, ApiError> {
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/"));
    r.headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.to_string()))?);
    Ok(r)
}

/// `POST /signin` (`token=…`, form-encoded): a valid token gives a session cookie and a redirect to
/// the page; anything else the form again with 401. Only from this server's own page (`Origin`), so
/// no other site can sign a browser in under a token of its choosing.
pub async fn sign_in(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    if state.options.tokens.is_empty() {
        return Err(ApiError::NotFound("this server has no tokens: there is nothing to sign in with".into()));
    }
    if !credential::same_origin(&headers) {
        return Err(ApiError::BadRequest("signing in must come from this server's page (Origin)".into()));
    }
    let secret = fields.get("token").map(|t| t.trim()).unwrap_or_default();
    let Ok(caller) = state.options.tokens.caller(Some(&format!("Bearer {secret}"))) else {
        return Ok(html(StatusCode::UNAUTHORIZED, form(Some("Ukjent token. / Unknown token."))));
    };
    let name = caller.token.expect("a configured token has a name");
    to_overview(state.sessions.set_cookie(&state.sessions.issue(&name), credential::secure(&state, &headers)))
}

/// `POST /signout`: the browser drops its session cookie (a cookie cannot be revoked at the server
/// before its expiry: a restart, or removing the token, ends every session).
pub async fn sign_out(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    if !credential::same_origin(&headers) {
        return Err(ApiError::BadRequest("signing out must come from this server's page (Origin)".into()));
    }
    to_overview(Sessions::clear_cookie(credential::secure(&state, &headers)))
}

/// The answer to a browser on `/` without a credential: the form, 401, without the
/// `WWW-Authenticate` that would open the browser's own password dialog.
pub fn unauthorized_page() -> Response {
    html(StatusCode::UNAUTHORIZED, form(None))
}
