//! sandboxer's core: profiles, the extension host, the store, the sandbox
//! lifecycle, events and usage. The `sandboxer` binary is a thin CLI over this
//! library.

pub mod api;
pub mod attribution;
pub mod client;
pub mod config;
pub mod daemon;
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
