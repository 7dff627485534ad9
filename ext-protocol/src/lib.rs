//! The sandboxer extension protocol, version 1: wire types and pure helpers, plus
//! (behind `io`) the async line codec and per-sandbox locks the host and the SDK
//! share, and (behind `sdk`) the SDK a Rust extension author uses.
//!
//! The modules outside `io` and `sdk` do no I/O: they are messages, error codes,
//! the version rule, name rules, bounds on documents and line framing. `docs/protocol.md` states the
//! contract these types implement.

pub mod errors;
pub mod features;
pub mod framing;
pub mod inside;
pub mod limits;
pub mod messages;
pub mod methods;
pub mod money;
pub mod names;
pub mod version;

#[cfg(feature = "io")]
pub mod io;
#[cfg(feature = "io")]
pub mod locks;
#[cfg(feature = "sdk")]
pub mod sdk;

pub use errors::{ErrorData, ErrorKind, ErrorObject, codes};
pub use inside::*;
pub use messages::*;
pub use version::{PROTOCOL_VERSION, ProtocolVersion};

/// Environment variable the host sets in every extension's environment.
pub const PROTOCOL_ENV: &str = "SANDBOXER_PROTOCOL";
/// Command-line flag that tells an extension it was started by a host.
pub const STDIO_FLAG: &str = "--stdio";
/// Prefix of every extension executable's file name.
pub const EXECUTABLE_PREFIX: &str = "sandboxer-ext-";
/// Prefix of every extension id in profiles and output (`ext.<name>`).
pub const EXTENSION_ID_PREFIX: &str = "ext.";
/// Label every backend resource carries, naming the sandbox that owns it.
pub const LABEL_SANDBOX_ID: &str = "sandboxer.id";
