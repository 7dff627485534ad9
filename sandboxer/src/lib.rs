//! The `sandboxer` package: the binary (the command line of `sandboxer-cli` with
//! the daemon of `sandboxer-server` behind `sandboxer serve`), and `client`, the
//! typed client of the daemon's HTTP API offering the same verbs as the local core
//! (`sandboxer_core::api::Verbs`).

pub use sandboxer_cli::client;
