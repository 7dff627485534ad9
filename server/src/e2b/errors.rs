//! The E2B API's two error shapes. The control plane and envd's plain HTTP
//! routes (`/files`, `/health`) answer `{"code": <status>, "message"}`; envd's
//! RPCs answer Connect errors (`{"code": "not_found", "message"}`). Both come
//! from the core's error classes; the SDK turns each into its typed exception.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sandboxer_core::error::{Error, ErrorClass};
use sandboxer_e2b::connect::{Code, ConnectError};
use sandboxer_e2b::control::ErrorBody;

/// A control-plane (or plain envd route) error.
#[derive(Debug)]
pub struct ControlError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds a refused caller should wait (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl ControlError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ControlError {
        ControlError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429: too many creates; try again in `seconds`.
    pub fn too_many(message: impl Into<String>, seconds: u64) -> ControlError {
        ControlError {
            retry_after: Some(seconds),
            ..ControlError::new(StatusCode::TOO_MANY_REQUESTS, message)
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ControlError {
        ControlError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ControlError {
        ControlError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ControlError {
        ControlError::new(StatusCode::UNAUTHORIZED, message)
    }
}

impl From<Error> for ControlError {
    fn from(e: Error) -> ControlError {
        let status = StatusCode::from_u16(e.class().status()).expect("classes name real statuses");
        ControlError::new(status, e.to_string())
    }
}

impl From<ConnectError> for ControlError {
    fn from(e: ConnectError) -> ControlError {
        let status = StatusCode::from_u16(e.code.status()).expect("codes name real statuses");
        ControlError::new(status, e.message)
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, "e2b: {}", self.message);
        } else {
            tracing::debug!(status = %self.status, "e2b: {}", self.message);
        }
        let body = ErrorBody {
            code: self.status.as_u16(),
            message: self.message,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        // The SDK retries 429 and 5xx unless told not to; only an unavailable
        // backend is worth another try.
        if self.status != StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                sandboxer_e2b::SHOULD_RETRY_HEADER,
                HeaderValue::from_static("false"),
            );
        }
        response
    }
}

pub type ControlResult<T> = Result<T, ControlError>;

/// The Connect code of a core error.
pub fn code_of(class: ErrorClass) -> Code {
    match class {
        ErrorClass::Invalid => Code::InvalidArgument,
        ErrorClass::Unauthorized => Code::Unauthenticated,
        ErrorClass::Forbidden => Code::PermissionDenied,
        ErrorClass::NotFound => Code::NotFound,
        ErrorClass::Refused | ErrorClass::IdempotencyMismatch => Code::FailedPrecondition,
        ErrorClass::Unsupported => Code::Unimplemented,
        ErrorClass::Unavailable => Code::Unavailable,
        ErrorClass::Backend | ErrorClass::Internal => Code::Internal,
    }
}

/// An envd RPC's error, answered as a unary Connect error.
#[derive(Debug)]
pub struct RpcError(pub ConnectError);

impl RpcError {
    pub fn new(code: Code, message: impl Into<String>) -> RpcError {
        RpcError(ConnectError::new(code, message))
    }
}

impl From<Error> for RpcError {
    fn from(e: Error) -> RpcError {
        RpcError(connect_error(&e))
    }
}

impl From<ConnectError> for RpcError {
    fn from(e: ConnectError) -> RpcError {
        RpcError(e)
    }
}

/// A core error as a Connect error.
pub fn connect_error(e: &Error) -> ConnectError {
    ConnectError::new(code_of(e.class()), e.to_string())
}

impl IntoResponse for RpcError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.status()).expect("codes name real statuses");
        if status.is_server_error() {
            tracing::error!(code = ?self.0.code, "e2b rpc: {}", self.0.message);
        } else {
            tracing::debug!(code = ?self.0.code, "e2b rpc: {}", self.0.message);
        }
        (status, Json(self.0)).into_response()
    }
}

pub type RpcResult<T> = Result<T, RpcError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_their_class() {
        let e = ControlError::from(Error::SandboxNotFound("x".into()));
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        let r = RpcError::from(Error::Invalid("cwd".into()));
        assert_eq!(r.0.code, Code::InvalidArgument);
        assert_eq!(code_of(ErrorClass::Unsupported), Code::Unimplemented);
    }
}
