//! The security suite, compose-ssh half (the core half is
//! `sandboxer/tests/core/security.rs`): real podman containers over the real sshd
//! on 127.0.0.1. A profile that asks for the host is refused with the field named;
//! code in a sandbox runs as an unprivileged host user and cannot reach the host's
//! services; secrets a service prints reach nothing but the sandbox; another
//! installation's sandboxes are never reaped; an E2B provider key reaches E2B
//! and nothing else, a fleet's database password nothing but the store;
//! `sandboxer doctor` passes on a
//! prepared host and names the fix on a broken one.

mod containment;
#[path = "../common/daemon.rs"]
#[allow(dead_code)] // Shared with the e2e and fault suites, which use all of it.
mod daemon_support;
mod doctor;
#[path = "../common/e2b_provider.rs"]
mod e2b_provider;
mod fleet;
mod installations;
mod secrets;
#[path = "../e2e/support.rs"]
#[allow(dead_code)]
mod support;
