//! End-to-end tests of sandboxer with the compose-ssh extension (real podman
//! containers on this machine, reached through the real sshd on 127.0.0.1 that
//! `scripts/setup-host.sh` prepares) and with vm-packer (real QEMU machines).

mod backends;
mod compose;
mod daemon;
#[path = "../common/daemon.rs"]
mod daemon_support;
mod daytona;
mod e2b;
#[path = "../common/e2b_provider.rs"]
mod e2b_provider;
mod egress;
mod grpc_shapes;
mod hostile;
mod inside;
mod ledger;
mod mcp;
mod modal;
mod openshell;
mod placement;
mod proxy;
mod python_sdk;
mod recording;
mod routing;
mod secrets;
mod support;
mod vm;
mod vm_hosts;
