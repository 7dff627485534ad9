//! The fault suite: sandboxer with compose-ssh (and the fixture, for a hang) under
//! faults — the extension killed at random points of create and destroy, an
//! extension that hangs, podman failing a command, sshd stopped in the middle of a
//! destroy, the daemon killed during creates. After recovery (one reconcile pass,
//! and failed destroys retried until done) `recovery::assert_consistent` holds:
//! every labelled backend resource is recorded or reaped, and no record points at
//! nothing without saying so.

// Shared with the end-to-end tests; not every helper is used here.
#[allow(dead_code)]
#[path = "../e2e/support.rs"]
mod support;

#[allow(dead_code)]
#[path = "../common/daemon.rs"]
mod daemon_support;

mod daemon_killed;
mod fleet;
mod hang;
mod killed;
mod podman_fails;
mod recovery;
mod sshd_down;
