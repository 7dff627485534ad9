//! Tests of the conformance kit itself: it passes good extensions (Rust, Python,
//! compose-ssh on the loopback host), fails exactly the checks that cover each
//! injected fault, writes well-formed reports, and cleans up after itself.

mod cleanup;
mod extensions;
mod faults;
mod reports;
mod support;
