//! The core's error type and the exit code each kind of failure maps to.

use crate::exthost::HostError;
use crate::profile::ProfileError;
use crate::secrets::SecretError;
use crate::store::StoreError;

/// Exit codes of the `sandboxer` binary (documented in `docs/cli.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    Success = 0,
    /// A failure not covered below (the state file, an internal error).
    Failure = 1,
    /// Bad flags, bad input, or a bad profile or configuration.
    Usage = 2,
    /// The sandbox, profile or extension does not exist.
    NotFound = 3,
    /// Refused by policy or by the sandbox's state (TTL ceiling, attribution).
    Refused = 4,
    /// The extension or its backend failed, crashed, timed out or broke the
    /// protocol.
    Backend = 5,
}

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
    /// The daemon answered with an error (`--server` mode).
    #[error("{message} (the daemon answered {status} {code})")]
    Remote {
        status: u16,
        code: String,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Profile(ProfileError::Unknown { .. }) => ExitCode::NotFound,
            Error::Profile(_) | Error::Config(_) | Error::Invalid(_) | Error::Secret(_) => {
                ExitCode::Usage
            }
            Error::Store(StoreError::BadTransition { .. }) => ExitCode::Refused,
            Error::Store(StoreError::NotFound(_))
            | Error::SandboxNotFound(_)
            | Error::SnapshotNotFound(_) => ExitCode::NotFound,
            Error::Store(_) => ExitCode::Failure,
            Error::Extension(HostError::NotFound { .. } | HostError::BadName(_)) => {
                ExitCode::NotFound
            }
            // An optional method the extension does not offer: a refusal, not a fault.
            Error::Extension(HostError::Unsupported { .. })
            | Error::Refused(_)
            | Error::IdempotencyMismatch(_) => ExitCode::Refused,
            Error::Extension(_) | Error::Backend(_) => ExitCode::Backend,
            Error::Remote { status, .. } => match status {
                404 => ExitCode::NotFound,
                400 | 422 => ExitCode::Usage,
                401 | 403 | 409 | 501 => ExitCode::Refused,
                0 | 500..=599 => ExitCode::Backend,
                _ => ExitCode::Failure,
            },
        }
    }
}
