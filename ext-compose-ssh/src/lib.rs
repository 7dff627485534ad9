//! The compose-ssh backend. Each sandbox is a podman-compose project
//! `sbx-<sandbox_id>` in its own folder on a host; every container, network and
//! volume carries `sandboxer.id` and the other labels. Only this crate knows podman.
//!
//! - `config`: the extension's options (hosts, containment exceptions).
//! - `shell`: quoting argv into a remote shell line.
//! - `ssh`: the one transport to a host (`Ssh`), local or over ssh.
//! - `podman`: argv builders and output parsing for podman and podman-compose.
//! - `doctor`: `host/doctor`, everything a host needs, checked, with fixes.
//! - `hardening`: what every container gets (no-new-privileges, a pids limit, the
//!   user namespace).
//! - `policy`: the containment policy (what a compose file may ask of a host).
//! - `project`: the effective compose file of a sandbox (labels, egress, secrets)
//!   and the runtime hardening every container gets.
//! - `inventory`: what a host holds, grouped by sandbox.
//! - `probe`: readiness checks.
//! - `placement`: which host a new sandbox goes to (headroom, marks).
//! - `snapshot`: snapshots (committed images, exported volumes) and their manifests.
//! - `backend`: the protocol methods.

pub mod backend;
pub mod config;
pub mod doctor;
pub mod hardening;
pub mod inventory;
pub mod placement;
pub mod podman;
pub mod podman_api;
pub mod policy;
pub mod probe;
pub mod project;
pub mod shell;
pub mod snapshot;
pub mod ssh;

pub use backend::ComposeSsh;
