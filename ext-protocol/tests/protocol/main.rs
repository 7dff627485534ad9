//! Integration tests of the protocol crate: golden wire files, the SDK's loop and
//! the in-process harness.

mod golden;
mod harness;
mod sdk_loop;
