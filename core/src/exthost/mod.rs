//! The extension host: finds extension executables, starts them with `--stdio`,
//! does the handshake and speaks protocol v1 to them through a jsonrpsee client
//! over a stdio transport of ours. Every call has a deadline (cancel, grace, then
//! kill); a crash or a line that is not JSON-RPC fails the calls in flight with the
//! exit status and the tail of the extension's stderr.

mod client;
mod discovery;
pub mod environment;
mod error;
pub mod metrics;
mod process;
mod resident;
mod transport;

pub use client::{ExtensionClient, LaunchOptions};
pub use discovery::{Discovered, EXTENSION_PATH_ENV, find, find_all, search_dirs};
pub use error::HostError;
pub use process::StderrTail;
pub use resident::{OptionsFor, ResidentExtensions};

use sandboxer_ext_protocol::methods::{Deadline, MethodInfo};
use std::time::Duration;

/// Deadlines of calls to extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Spawn to `initialize` answered.
    pub handshake: Duration,
    /// Calls other than create and destroy.
    pub call: Duration,
    pub create: Duration,
    pub destroy: Duration,
    /// After `$/cancelRequest`: how long to wait before killing.
    pub grace: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            handshake: Duration::from_secs(10),
            call: Duration::from_secs(60),
            create: Duration::from_secs(600),
            destroy: Duration::from_secs(300),
            grace: Duration::from_secs(2),
        }
    }
}

impl Timeouts {
    /// The deadline for one method, by the class its definition names.
    pub fn for_method(&self, method: &MethodInfo) -> Duration {
        match method.deadline {
            Deadline::Create => self.create,
            Deadline::Destroy => self.destroy,
            Deadline::Handshake => self.handshake,
            Deadline::Call => self.call,
            // Bounded by what it streams; a caller cancels it.
            Deadline::Open => Duration::from_secs(365 * 24 * 3600),
        }
    }
}
