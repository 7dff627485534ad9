//! The `sandboxer` package: the command line (`cli`, run by the binary) and
//! `client`, a typed client of the daemon's HTTP API offering the same verbs as
//! the local core (`sandboxer_core::api::Verbs`).

pub mod cli;
pub mod client;
