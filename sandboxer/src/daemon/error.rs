//! The daemon's one error type: a status, a stable machine-readable code and a
//! message for people, as `{"error": {"code", "message"}}`. 4xx are the caller's
//! doing and are not logged as errors.

use crate::error::Error;
use crate::exthost::HostError;
use crate::profile::ProfileError;
use crate::store::StoreError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} {id:?} not found"),
        )
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let message = e.to_string();
        let (status, code) = match &e {
            Error::SandboxNotFound(_)
            | Error::SnapshotNotFound(_)
            | Error::Store(StoreError::NotFound(_)) => (StatusCode::NOT_FOUND, "not_found"),
            Error::Profile(ProfileError::Unknown { .. }) => (StatusCode::NOT_FOUND, "not_found"),
            Error::Extension(HostError::NotFound { .. } | HostError::BadName(_)) => {
                (StatusCode::NOT_FOUND, "not_found")
            }
            Error::Profile(_) | Error::Invalid(_) | Error::Secret(_) | Error::Config(_) => {
                (StatusCode::BAD_REQUEST, "invalid_request")
            }
            Error::Refused(_) | Error::Store(StoreError::BadTransition { .. }) => {
                (StatusCode::CONFLICT, "conflict")
            }
            Error::IdempotencyMismatch(_) => (StatusCode::CONFLICT, "idempotency_mismatch"),
            Error::Extension(HostError::Unsupported { .. }) => {
                (StatusCode::NOT_IMPLEMENTED, "unsupported")
            }
            Error::Extension(h) if h.retryable() => {
                (StatusCode::SERVICE_UNAVAILABLE, "backend_unavailable")
            }
            Error::Extension(_) | Error::Backend(_) => (StatusCode::BAD_GATEWAY, "backend_error"),
            Error::Store(_) | Error::Remote { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        ApiError {
            status,
            code,
            message,
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
