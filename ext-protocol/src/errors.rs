//! Error codes of protocol v1: the standard JSON-RPC codes, the protocol's own, and
//! the domain errors (1000–1999) that carry `data: {kind, retryable, details?}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// Numeric error codes.
pub mod codes {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;
    pub const NOT_INITIALIZED: i64 = -32002;
    pub const CANCELLED: i64 = -32800;
}

/// The kind of a domain error; each has a fixed code and retryability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    InvalidArgument,
    FailedPrecondition,
    ResourceExhausted,
    Unavailable,
    Unimplemented,
    DeadlineExceeded,
    PermissionDenied,
    Internal,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::InvalidArgument,
        ErrorKind::FailedPrecondition,
        ErrorKind::ResourceExhausted,
        ErrorKind::Unavailable,
        ErrorKind::Unimplemented,
        ErrorKind::DeadlineExceeded,
        ErrorKind::PermissionDenied,
        ErrorKind::Internal,
    ];

    /// The code this kind is sent with.
    pub fn code(self) -> i64 {
        match self {
            ErrorKind::NotFound => 1001,
            ErrorKind::AlreadyExists => 1002,
            ErrorKind::InvalidArgument => 1003,
            ErrorKind::FailedPrecondition => 1004,
            ErrorKind::ResourceExhausted => 1005,
            ErrorKind::Unavailable => 1006,
            ErrorKind::Unimplemented => 1007,
            ErrorKind::DeadlineExceeded => 1008,
            ErrorKind::PermissionDenied => 1009,
            ErrorKind::Internal => 1010,
        }
    }

    /// The kind a domain code stands for, if it is one.
    pub fn from_code(code: i64) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// Whether a caller may retry the same call and hope for success.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::ResourceExhausted | ErrorKind::Unavailable | ErrorKind::DeadlineExceeded
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "NotFound",
            ErrorKind::AlreadyExists => "AlreadyExists",
            ErrorKind::InvalidArgument => "InvalidArgument",
            ErrorKind::FailedPrecondition => "FailedPrecondition",
            ErrorKind::ResourceExhausted => "ResourceExhausted",
            ErrorKind::Unavailable => "Unavailable",
            ErrorKind::Unimplemented => "Unimplemented",
            ErrorKind::DeadlineExceeded => "DeadlineExceeded",
            ErrorKind::PermissionDenied => "PermissionDenied",
            ErrorKind::Internal => "Internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `data` member of a domain error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorData {
    pub kind: ErrorKind,
    pub retryable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

/// A JSON-RPC error object as it travels on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    /// A domain error of `kind` with a message for people.
    pub fn domain(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::domain_with_details(kind, message, None)
    }

    /// A domain error with `data.details`.
    pub fn domain_with_details(
        kind: ErrorKind,
        message: impl Into<String>,
        details: Option<Value>,
    ) -> Self {
        let data = ErrorData {
            kind,
            retryable: kind.retryable(),
            details,
        };
        ErrorObject {
            code: kind.code(),
            message: message.into(),
            data: Some(serde_json::to_value(data).expect("ErrorData serializes")),
        }
    }

    /// InvalidArgument naming the offending field in `data.details.field`.
    pub fn invalid_argument(field: &str, message: impl Into<String>) -> Self {
        Self::domain_with_details(
            ErrorKind::InvalidArgument,
            message,
            Some(serde_json::json!({ "field": field })),
        )
    }

    /// A standard JSON-RPC error without data.
    pub fn standard(code: i64, message: impl Into<String>) -> Self {
        ErrorObject {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// The domain data, when this is a well-formed domain error.
    pub fn domain_data(&self) -> Option<ErrorData> {
        let data: ErrorData = serde_json::from_value(self.data.clone()?).ok()?;
        (data.kind.code() == self.code).then_some(data)
    }

    /// The domain kind, from `data.kind` or else from the code.
    pub fn kind(&self) -> Option<ErrorKind> {
        self.domain_data()
            .map(|d| d.kind)
            .or_else(|| ErrorKind::from_code(self.code))
    }
}

impl fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            Some(kind) => write!(f, "{kind} ({}): {}", self.code, self.message),
            None => write!(f, "error {}: {}", self.code, self.message),
        }
    }
}

impl std::error::Error for ErrorObject {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_retryability_match_the_contract() {
        let table = [
            (ErrorKind::NotFound, 1001, false),
            (ErrorKind::AlreadyExists, 1002, false),
            (ErrorKind::InvalidArgument, 1003, false),
            (ErrorKind::FailedPrecondition, 1004, false),
            (ErrorKind::ResourceExhausted, 1005, true),
            (ErrorKind::Unavailable, 1006, true),
            (ErrorKind::Unimplemented, 1007, false),
            (ErrorKind::DeadlineExceeded, 1008, true),
            (ErrorKind::PermissionDenied, 1009, false),
            (ErrorKind::Internal, 1010, false),
        ];
        for (kind, code, retryable) in table {
            assert_eq!(kind.code(), code, "{kind}");
            assert_eq!(kind.retryable(), retryable, "{kind}");
            assert_eq!(ErrorKind::from_code(code), Some(kind));
        }
        assert_eq!(ErrorKind::from_code(1011), None);
    }

    #[test]
    fn invalid_argument_names_the_field() {
        let e = ErrorObject::invalid_argument("sandbox_id", "missing");
        let data = e.domain_data().unwrap();
        assert_eq!(data.kind, ErrorKind::InvalidArgument);
        assert_eq!(data.details.unwrap()["field"], "sandbox_id");
        assert_eq!(e.code, 1003);
    }

    #[test]
    fn data_with_a_kind_that_contradicts_the_code_is_not_domain_data() {
        let mut e = ErrorObject::domain(ErrorKind::NotFound, "x");
        e.code = 1002;
        assert!(e.domain_data().is_none());
    }
}
