//! One error type for every endpoint and channel, and the one table from each kind to its HTTP
//! status (`{"error": {"code", "message"}}`), gRPC code (Flight SQL) and SQLSTATE (PostgreSQL
//! protocol). Nothing matches on message text.
//!
//! | error | HTTP | code | gRPC | SQLSTATE |
//! |---|---|---|---|---|
//! | bad parameter | 400 | `bad_request` | `INVALID_ARGUMENT` | 22023 |
//! | no or unknown token | 401 | `unauthorized` | `UNAUTHENTICATED` | 28P01 |
//! | role too low | 403 | `forbidden` | `PERMISSION_DENIED` | 42501 |
//! | unknown indicator or path | 404 | `not_found` | `NOT_FOUND` | 42P01 |
//! | no answer format the caller accepts | 406 | `not_acceptable` | `INVALID_ARGUMENT` | 0A000 |
//! | body or statement too large | 413 | `payload_too_large` | `RESOURCE_EXHAUSTED` | 54000 |
//! | SQL that does not plan, run, or is not read-only | 422 | `invalid_sql` | `INVALID_ARGUMENT` | 42000 |
//! | no published lake version loaded yet | 503 | `not_ready` | `UNAVAILABLE` | 57P03 |
//! | the request took too long | 503 | `timeout` | `DEADLINE_EXCEEDED` | 57014 |
//! | the listener is at its connection cap | 503 | `too_many_connections` | `RESOURCE_EXHAUSTED` | 53300 |
//! | the access log cannot be written (no answer is sent unlogged) | 503 | `access_log` | `UNAVAILABLE` | 58030 |
//! | anything else | 500 | `internal` | `INTERNAL` | XX000 |

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::role::Role;

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
    #[error("the server has as many connections as it takes; try again")]
    TooManyConnections,
    #[error("the read could not be written to the access log, so it is not answered: {0}")]
    AccessLog(String),
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
            ApiError::NotReady | ApiError::Timeout(_) | ApiError::TooManyConnections | ApiError::AccessLog(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
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
            ApiError::TooManyConnections => "too_many_connections",
            ApiError::AccessLog(_) => "access_log",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl ApiError {
    /// The gRPC status code (the table above).
    pub fn grpc(&self) -> tonic::Code {
        match self {
            ApiError::BadRequest(_) | ApiError::NotAcceptable(_) | ApiError::InvalidSql(_) => {
                tonic::Code::InvalidArgument
            }
            ApiError::Unauthorized => tonic::Code::Unauthenticated,
            ApiError::Forbidden(_) => tonic::Code::PermissionDenied,
            ApiError::NotFound(_) => tonic::Code::NotFound,
            ApiError::PayloadTooLarge(_) | ApiError::TooManyConnections => tonic::Code::ResourceExhausted,
            ApiError::NotReady | ApiError::AccessLog(_) => tonic::Code::Unavailable,
            ApiError::Timeout(_) => tonic::Code::DeadlineExceeded,
            ApiError::Internal(_) => tonic::Code::Internal,
        }
    }

    /// The SQLSTATE (the table above).
    pub fn sqlstate(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "22023",
            ApiError::Unauthorized => "28P01",
            ApiError::Forbidden(_) => "42501",
            ApiError::NotFound(_) => "42P01",
            ApiError::NotAcceptable(_) => "0A000",
            ApiError::PayloadTooLarge(_) => "54000",
            ApiError::InvalidSql(_) => "42000",
            ApiError::NotReady => "57P03",
            ApiError::Timeout(_) => "57014",
            ApiError::TooManyConnections => "53300",
            ApiError::AccessLog(_) => "58030",
            ApiError::Internal(_) => "XX000",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if matches!(self, ApiError::Internal(_) | ApiError::AccessLog(_)) {
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
