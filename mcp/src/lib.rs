//! sandboxer's verbs as Model Context Protocol tools, on the official Rust SDK
//! (`rmcp`): what `sandboxer mcp` serves over stdio (on the local core or a
//! daemon) and what the daemon serves at `/mcp` (streamable HTTP, each call as
//! its bearer token's caller).
//!
//! - `access`: how a tool call reaches the verbs, and as whom.
//! - `tools`: the tools and their arguments, each one verb call; profiles as
//!   resources.
//! - `answers`: verb results and errors as tool results (an error is a tool
//!   error carrying the stable code and the message's fix, never a protocol
//!   failure).
//! - `serve`: the stdio server and the HTTP service.

mod access;
mod answers;
mod serve;
mod tools;

pub use access::Access;
pub use serve::{http_service, serve_stdio};
pub use tools::Tools;
