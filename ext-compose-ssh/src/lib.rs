//! The compose-ssh backend. Each sandbox is a podman-compose project
//! `sbx-<sandbox_id>` in its own folder on a host; every container, network and
//! volume carries `sandboxer.id` and the other labels. Only this crate knows podman.
//!
//! - `config`: the extension's options (hosts, containment exceptions).
//! - `shell`: quoting argv into a remote shell line.
//! - `ssh`: the one transport to a host (`Ssh`), local or over ssh.
//! - `podman`: argv builders and output parsing for podman and podman-compose.
//! - `podman_api`: reads over podman's REST socket.
//! - `doctor`: `host/doctor`, everything a host needs, checked, with fixes.
//! - `hardening`: what every container gets (no-new-privileges, a pids limit, the
//!   user namespace).
//! - `policy`: the containment policy (what a compose file may ask of a host, and
//!   the exceptions an operator grants).
//! - `spec`: the profile spec (compose file, readiness, endpoints, cost rate,
//!   placement constraints).
//! - `labels`: the labels sandboxer puts on resources, and their codecs.
//! - `project`: the effective compose file of a sandbox (labels, egress, secrets).
//! - `inventory`: what a host holds, grouped by sandbox.
//! - `snapshot`: snapshots (committed images, exported volumes) and their manifests.
//! - `host`: one host (`Host`) and what is run there, failures as `HostError`.
//! - `probe`: the HTTP readiness probe.
//! - `ready`: waiting until a new sandbox is ready.
//! - `fleet`: the configured hosts (`Fleet`): finding sandboxes and snapshots,
//!   placing new sandboxes, the containment verdict per host.
//! - `backend`: the protocol methods and the create pipeline.

pub mod agent;
pub mod agent_binary;
pub mod backend;
pub mod config;
pub mod doctor;
pub mod fleet;
pub mod hardening;
pub mod host;
pub mod inside;
pub mod inventory;
pub mod labels;
pub mod observe;
pub mod podman;
pub mod podman_api;
pub mod policy;
pub mod probe;
pub mod project;
pub mod ready;
pub mod shell;
pub mod snapshot;
pub mod spec;
pub mod ssh;

pub use backend::ComposeSsh;
