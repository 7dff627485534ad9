//! The daemon's one error type: a status, a stable machine-readable code and a
//! message for people, as `{"error": {"code", "message"}}`. The core's errors
//! get theirs from their `ErrorClass`; the transport's own (401, 405, 408, 413)
//! are made here. 4xx are the caller's doing and are not logged as errors.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sandboxer_core::error::Error;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn unauthorized(message: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let class = e.class();
        ApiError {
            status: StatusCode::from_u16(class.status()).expect("classes name real statuses"),
            code: class.code(),
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, "{}", self.message);
        } else {
            tracing::debug!(code = self.code, "{}", self.message);
        }
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
