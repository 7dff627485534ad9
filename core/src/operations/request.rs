//! What a create asks for (`CreateRequest`, shared by create, restore, the warm
//! pools and the canary), where its progress lines go, and what it answers.

use crate::attribution::Attribution;
use crate::store::SandboxRecord;
use sandboxer_ext_protocol::Labels;
use std::sync::Arc;
use std::time::Duration;

/// A request for a new sandbox.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    /// `profile.<name>` or `<name>`.
    pub profile: String,
    /// Lifetime; the profile's default when `None`.
    pub ttl: Option<Duration>,
    /// User labels (no `sandboxer.` keys).
    pub labels: Labels,
    pub host: Option<String>,
    pub attribution: Attribution,
    /// Return only once the sandbox is ready (or failed).
    pub wait: bool,
    /// A retried request with the same key (per consumer) gets the same sandbox.
    pub idempotency_key: Option<String>,
    /// Restore this snapshot (of the extension's) instead of creating afresh.
    pub from_snapshot: Option<String>,
    /// Where to show the extension's progress lines besides the log (the CLI
    /// passes its terminal; the library itself never prints).
    pub progress: Option<ProgressSink>,
}

/// Receives each progress line of a create, as `<id>: <message> (<percent>%)`.
#[derive(Clone)]
pub struct ProgressSink(pub Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressSink")
    }
}

/// A created sandbox, or the one an earlier request with the same idempotency
/// key created.
#[derive(Debug, Clone)]
pub struct CreateOutcome {
    pub record: SandboxRecord,
    pub reused: bool,
}
