//! E2B's API as sandboxer understands it, written once for both directions:
//! the daemon serves it (`server/src/e2b`) and `sandboxer-ext-e2b` calls it.
//! Worked out from the official `e2b` SDK's behaviour (2.63) and E2B's
//! published protocol definitions; see `docs/e2b.md`.
//!
//! - `control`: the control plane's JSON (`/v2/sandboxes`, …) and its errors.
//! - `envd`: the in-sandbox daemon's process and filesystem messages, in
//!   proto3's JSON mapping.
//! - `connect`: the Connect protocol's envelopes and error codes, as envd's
//!   JSON codec uses them.
//! - `metadata`: the list call's `metadata` query parameter.

pub mod connect;
pub mod control;
pub mod envd;
pub mod metadata;

/// The envd version sandboxer's E2B API reports: the SDK gates features on it
/// (0.4 no user header, 0.5.7 raw uploads, 0.6.4 every watch option).
pub const ENVD_VERSION: &str = "0.6.4";
/// The port the SDK names in `E2b-Sandbox-Port`.
pub const ENVD_PORT: u16 = 49983;
/// The headers the SDK's envd calls carry.
pub const SANDBOX_ID_HEADER: &str = "e2b-sandbox-id";
pub const ACCESS_TOKEN_HEADER: &str = "x-access-token";
/// The control plane's API key header.
pub const API_KEY_HEADER: &str = "x-api-key";
/// Tells the SDK whether to retry a 429/5xx.
pub const SHOULD_RETRY_HEADER: &str = "should-retry";
/// The list call's next page.
pub const NEXT_TOKEN_HEADER: &str = "x-next-token";
