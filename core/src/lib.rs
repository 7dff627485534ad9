//! sandboxer's core: profiles, the extension host, the store, the sandbox
//! lifecycle, events, usage and budgets (`operations`), and the verbs every
//! surface offers (`api`). The daemon (`sandboxer-server`) and the command line
//! (`sandboxer`) are built on it; nothing here parses flags, serves HTTP or
//! prints.

pub mod api;
pub mod attribution;
pub mod config;
pub mod endpoints;
pub mod error;
pub mod exthost;
pub mod ids;
pub mod labels;
pub mod lifecycle;
pub mod money;
pub mod operations;
pub mod profile;
pub mod redact;
pub mod secrets;
pub mod store;
pub mod suggest;
pub mod time;

pub use error::{Error, ErrorClass, Result};

/// This build's version, sent to extensions in the handshake.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
