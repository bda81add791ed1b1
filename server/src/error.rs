//! One error type for every endpoint, and its HTTP status: `{"error": {"code", "message"}}`.
//!
//! | error | status | code |
//! |---|---|---|
//! | bad parameter | 400 | `bad_request` |
//! | no or unknown token | 401 | `unauthorized` |
//! | role too low | 403 | `forbidden` |
//! | unknown indicator or path | 404 | `not_found` |
//! | no answer format the caller accepts | 406 | `not_acceptable` |
//! | body too large | 413 | `payload_too_large` |
//! | SQL that does not plan, run, or is not read-only | 422 | `invalid_sql` |
//! | no published lake version loaded yet | 503 | `not_ready` |
//! | the request took too long | 503 | `timeout` |
//! | anything else | 500 | `internal` |

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::auth::Role;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("a valid bearer token is required (Authorization: Bearer <token>)")]
    Unauthorized,
    #[error("this needs the {0} role")]
    Forbidden(Role),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    NotAcceptable(String),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    InvalidSql(String),
    #[error("no published lake version is loaded yet")]
    NotReady,
    #[error("the request took longer than {0} s")]
    Timeout(u64),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::InvalidSql(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotReady | ApiError::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::NotAcceptable(_) => "not_acceptable",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::InvalidSql(_) => "invalid_sql",
            ApiError::NotReady => "not_ready",
            ApiError::Timeout(_) => "timeout",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if matches!(self, ApiError::Internal(_)) {
            tracing::error!(error = %self, "internal error");
        }
        let body = serde_json::json!({"error": {"code": self.code(), "message": self.to_string()}});
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, ApiError::Unauthorized) {
            response.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static(r#"Bearer, Basic realm="LMS Monitor""#),
            );
        }
        response
    }
}
