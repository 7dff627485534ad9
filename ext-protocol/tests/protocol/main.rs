//! Integration tests of the protocol crate: golden wire files and the SDK's loop.

mod golden;
mod sdk_loop;
