//! What can go wrong talking to an extension. Every variant that involves a
//! running extension carries the tail of its stderr.

use sandboxer_ext_protocol::{ErrorKind, ErrorObject};
use std::time::Duration;

fn tail_block(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::from("\n  (the extension wrote nothing to stderr)")
    } else {
        let lines: String = tail.lines().map(|l| format!("\n  | {l}")).collect();
        format!("\n  extension stderr (last lines):{lines}")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("extension {name:?} not found: no executable sandboxer-ext-{name} in {searched}{hint}")]
    NotFound {
        name: String,
        hint: String,
        searched: String,
    },
    #[error("invalid extension name: {0}")]
    BadName(String),
    #[error("cannot start extension {path}: {source}")]
    Spawn {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "extension {name} speaks protocol {theirs}, this sandboxer speaks {ours}: \
         upgrade one of them{}",
        tail_block(stderr_tail)
    )]
    VersionMismatch {
        name: String,
        ours: String,
        theirs: String,
        stderr_tail: String,
    },
    #[error(
        "handshake with extension {name} failed: {detail}{}",
        tail_block(stderr_tail)
    )]
    Handshake {
        name: String,
        detail: String,
        stderr_tail: String,
    },
    #[error(
        "extension {name} does not offer {method} (it is optional and not in its capabilities)"
    )]
    Unsupported { name: String, method: String },
    #[error(
        "{method} on extension {name} passed its deadline of {}s{}{}",
        deadline.as_secs_f64(),
        if *killed { "; it ignored the cancel and was killed" } else { "; it was cancelled" },
        tail_block(stderr_tail)
    )]
    Timeout {
        name: String,
        method: String,
        deadline: Duration,
        killed: bool,
        stderr_tail: String,
    },
    #[error(
        "extension {name} exited during {method} ({status}){}",
        tail_block(stderr_tail)
    )]
    Crashed {
        name: String,
        method: String,
        status: String,
        stderr_tail: String,
    },
    #[error(
        "extension {name} broke the protocol during {method}: {detail}; it was killed{}",
        tail_block(stderr_tail)
    )]
    ProtocolViolation {
        name: String,
        method: String,
        detail: String,
        stderr_tail: String,
    },
    /// The extension answered with an error object.
    #[error(
        "{method} on extension {name} failed: {error}{}",
        tail_block(stderr_tail)
    )]
    Remote {
        name: String,
        method: String,
        error: Box<ErrorObject>,
        stderr_tail: String,
    },
    #[error("{method} on extension {name}: the answer does not match the protocol: {detail}")]
    BadAnswer {
        name: String,
        method: String,
        detail: String,
    },
}

impl HostError {
    /// The domain kind of a `Remote` error.
    pub fn remote_kind(&self) -> Option<ErrorKind> {
        match self {
            HostError::Remote { error, .. } => error.kind(),
            _ => None,
        }
    }

    /// Whether the same call might succeed if tried again.
    pub fn retryable(&self) -> bool {
        match self {
            HostError::Remote { error, .. } => error
                .domain_data()
                .map(|d| d.retryable)
                .or_else(|| error.kind().map(ErrorKind::retryable))
                .unwrap_or(false),
            HostError::Timeout { .. } | HostError::Crashed { .. } => true,
            _ => false,
        }
    }
}
