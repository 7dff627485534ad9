//! The core's error type and its one classification: every error is of one
//! `ErrorClass`, which the CLI maps to an exit code and the daemon to an HTTP
//! status and code (and the client maps back from that code).

use crate::exthost::HostError;
use crate::profile::ProfileError;
use crate::secrets::SecretError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Extension(#[from] HostError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("{0}")]
    Config(String),
    /// Input that cannot be used, saying which and why.
    #[error("{0}")]
    Invalid(String),
    /// A request refused by policy or by the sandbox's state.
    #[error("{0}")]
    Refused(String),
    /// A caller asking for what its scope does not allow (another project).
    #[error("{0}")]
    Forbidden(String),
    #[error("sandbox {0:?} not found; `sandboxer list` shows the sandboxes you can see")]
    SandboxNotFound(String),
    #[error("snapshot {0:?} not found; `sandboxer snapshot list` shows them")]
    SnapshotNotFound(String),
    /// An idempotency key repeated with a request unlike its first one.
    #[error("{0}")]
    IdempotencyMismatch(String),
    /// The backend reported the sandbox failed.
    #[error("{0}")]
    Backend(String),
    /// What a sandbox's extension said of the caller's own input inside the
    /// sandbox (a path that is not there, an argument it cannot take):
    /// the caller's error, in the extension's words ([`Error::inside`]).
    #[error("{message}")]
    Inside { class: ErrorClass, message: String },
    /// The daemon answered with an error (through `sandboxer::client`).
    #[error("{message} (the daemon answered {status} {code})")]
    Remote {
        class: ErrorClass,
        status: u16,
        code: String,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an error is, whoever reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Bad flags, bad input, or a bad profile or configuration.
    Invalid,
    /// The sandbox, snapshot, profile or extension does not exist (or the
    /// caller may not see it).
    NotFound,
    /// Refused by policy or by the sandbox's state (TTL ceiling, a bad transition).
    Refused,
    /// An idempotency key reused for a different request.
    IdempotencyMismatch,
    /// An optional method the extension does not offer.
    Unsupported,
    /// No credentials, or unknown ones.
    Unauthorized,
    /// Credentials that do not reach this far (another project, admin-only).
    Forbidden,
    /// The backend is unavailable for now; trying again may succeed.
    Unavailable,
    /// The extension or its backend failed, crashed, timed out or broke the
    /// protocol; or the daemon could not be reached.
    Backend,
    /// Anything else (the state file, an internal error).
    Internal,
}

impl ErrorClass {
    /// Every class, for tests that map each one.
    pub const ALL: [ErrorClass; 10] = [
        ErrorClass::Invalid,
        ErrorClass::NotFound,
        ErrorClass::Refused,
        ErrorClass::IdempotencyMismatch,
        ErrorClass::Unsupported,
        ErrorClass::Unauthorized,
        ErrorClass::Forbidden,
        ErrorClass::Unavailable,
        ErrorClass::Backend,
        ErrorClass::Internal,
    ];

    /// The HTTP status the daemon answers with.
    pub fn status(self) -> u16 {
        match self {
            ErrorClass::Invalid => 400,
            ErrorClass::Unauthorized => 401,
            ErrorClass::Forbidden => 403,
            ErrorClass::NotFound => 404,
            ErrorClass::Refused | ErrorClass::IdempotencyMismatch => 409,
            ErrorClass::Internal => 500,
            ErrorClass::Unsupported => 501,
            ErrorClass::Backend => 502,
            ErrorClass::Unavailable => 503,
        }
    }

    /// The stable, machine-readable code of the daemon's error body.
    pub fn code(self) -> &'static str {
        match self {
            ErrorClass::Invalid => "invalid_request",
            ErrorClass::NotFound => "not_found",
            ErrorClass::Refused => "conflict",
            ErrorClass::IdempotencyMismatch => "idempotency_mismatch",
            ErrorClass::Unsupported => "unsupported",
            ErrorClass::Unauthorized => "unauthorized",
            ErrorClass::Forbidden => "forbidden",
            ErrorClass::Unavailable => "backend_unavailable",
            ErrorClass::Backend => "backend_error",
            ErrorClass::Internal => "internal",
        }
    }

    /// The class of a daemon's answer: by its code, else by its status (the
    /// transport's own refusals: 405, 408, 413).
    pub fn of_answer(status: u16, code: &str) -> ErrorClass {
        if let Some(class) = ErrorClass::ALL.into_iter().find(|c| c.code() == code) {
            return class;
        }
        match status {
            400..=499 if status != 401 && status != 403 && status != 404 => ErrorClass::Invalid,
            401 => ErrorClass::Unauthorized,
            403 => ErrorClass::Forbidden,
            404 => ErrorClass::NotFound,
            503 => ErrorClass::Unavailable,
            0 | 502 | 504 => ErrorClass::Backend,
            _ => ErrorClass::Internal,
        }
    }
}

impl Error {
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Profile(ProfileError::Unknown { .. }) => ErrorClass::NotFound,
            Error::Profile(_) | Error::Config(_) | Error::Invalid(_) | Error::Secret(_) => {
                ErrorClass::Invalid
            }
            Error::Store(StoreError::BadTransition { .. }) | Error::Refused(_) => {
                ErrorClass::Refused
            }
            Error::Store(StoreError::NotFound(_))
            | Error::SandboxNotFound(_)
            | Error::SnapshotNotFound(_) => ErrorClass::NotFound,
            Error::Store(_) => ErrorClass::Internal,
            Error::Extension(HostError::NotFound { .. } | HostError::BadName(_)) => {
                ErrorClass::NotFound
            }
            // An optional method the extension does not offer: a refusal, not a fault.
            Error::Extension(HostError::Unsupported { .. }) => ErrorClass::Unsupported,
            Error::Extension(h) if h.retryable() => ErrorClass::Unavailable,
            Error::Extension(_) | Error::Backend(_) => ErrorClass::Backend,
            Error::IdempotencyMismatch(_) => ErrorClass::IdempotencyMismatch,
            Error::Forbidden(_) => ErrorClass::Forbidden,
            Error::Remote { class, .. } | Error::Inside { class, .. } => *class,
        }
    }

    /// This error as the answer to something asked inside a sandbox: an
    /// extension's NotFound, InvalidArgument, AlreadyExists or
    /// FailedPrecondition is about the caller's input there (a file that is
    /// not there is a 404, not a failing backend); anything else is unchanged.
    pub fn inside(self) -> Error {
        use sandboxer_ext_protocol::ErrorKind;
        let Error::Extension(HostError::Remote { error, .. }) = &self else {
            return self;
        };
        let class = match error.kind() {
            Some(ErrorKind::NotFound) => ErrorClass::NotFound,
            Some(ErrorKind::InvalidArgument) => ErrorClass::Invalid,
            Some(ErrorKind::AlreadyExists | ErrorKind::FailedPrecondition) => ErrorClass::Refused,
            _ => return self,
        };
        Error::Inside {
            class,
            message: error.message.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_an_extension_says_of_a_path_inside_is_the_callers_error() {
        use sandboxer_ext_protocol::{ErrorKind, ErrorObject};
        let remote = |kind| {
            Error::Extension(HostError::Remote {
                name: "x".into(),
                method: sandboxer_ext_protocol::methods::FsRead::METHOD.into(),
                error: Box::new(ErrorObject::domain(kind, "reading /a: No such file")),
                stderr_tail: String::new(),
            })
        };
        let missing = remote(ErrorKind::NotFound).inside();
        assert_eq!(missing.class(), ErrorClass::NotFound);
        assert_eq!(missing.to_string(), "reading /a: No such file");
        assert_eq!(
            remote(ErrorKind::InvalidArgument).inside().class(),
            ErrorClass::Invalid
        );
        // The backend failing stays the backend failing.
        assert_eq!(
            remote(ErrorKind::Internal).inside().class(),
            ErrorClass::Backend
        );
        assert_eq!(
            Error::SandboxNotFound("s".into()).inside().class(),
            ErrorClass::NotFound
        );
    }

    #[test]
    fn every_class_survives_the_trip_through_the_daemon() {
        for class in ErrorClass::ALL {
            assert_eq!(ErrorClass::of_answer(class.status(), class.code()), class);
        }
        assert_eq!(
            ErrorClass::of_answer(413, "payload_too_large"),
            ErrorClass::Invalid
        );
        assert_eq!(ErrorClass::of_answer(0, "unreachable"), ErrorClass::Backend);
    }
}
