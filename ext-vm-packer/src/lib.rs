//! The vm-packer backend. Each sandbox is a QEMU virtual machine booted from an
//! image built from the profile's recipe (a guest kernel and an initramfs made of
//! busybox, dropbear and the recipe's files and services, or a Debian root file
//! system on a qcow2 disk), restored from the
//! image's template (a booted guest saved once) so that a create takes well under a
//! second even without hardware virtualization. Every QEMU process, folder and
//! socket carries the sandbox id. Only this crate knows QEMU.
//!
//! - `config`: the extension's options (state folder, guest kernel, accelerator,
//!   the user QEMU runs as).
//! - `spec`: the profile spec (recipe, endpoints, the machine's size).
//! - `kernel`: the guest kernel and its modules, in load order.
//! - `furnish`: what sandboxer puts into every guest's root (keys, init table,
//!   services, files).
//! - `tree`: writing into a guest's root folder without leaving it.
//! - `initramfs`: initramfs archives (a whole root, or a disk's first stage).
//! - `rootfs`: Debian root file systems made into a base disk.
//! - `disk`: qcow2 disks and overlays through `qemu-img`.
//! - `images`: images built once per recipe hash and kept; their templates.
//! - `accel`: which accelerator this host gives (KVM or TCG).
//! - `qemu`: the QEMU command line of a machine.
//! - `qmp`: QEMU's machine protocol (stop, migrate, continue, quit).
//! - `ports`: free loopback ports for forwarded endpoints.
//! - `guest`: commands in a guest over ssh.
//! - `machine`: one sandbox's folder, process and record.
//! - `inventory`: every machine this extension runs, found by its id.
//! - `snapshot`: snapshots as saved machine state.
//! - `secrets`: a create's secrets in the guest (tmpfs env file, never on the host).
//! - `prune`: what holds each image, removing the rest, and the images lock.
//! - `doctor`: `host/doctor`, what this host needs, checked, with fixes.
//! - `backend`: the protocol methods for machines on this host (`LocalVms`).
//! - `remote`: the relay's remote hosts and the ssh connection to each.
//! - `relay`: the protocol methods relayed over remote hosts (placement, which
//!   host holds what, merged answers).
//! - `extension`: `VmPacker`, local machines or the relay, by the options.

pub mod accel;
pub mod backend;
pub mod config;
pub mod disk;
pub mod doctor;
pub mod extension;
pub mod furnish;
pub mod guest;
pub mod images;
pub mod initramfs;
pub mod inventory;
pub mod kernel;
pub mod machine;
pub mod ports;
pub mod prune;
pub mod qemu;
pub mod qmp;
pub mod relay;
pub mod remote;
pub mod rootfs;
pub mod secrets;
pub mod snapshot;
pub mod spec;
pub mod tree;

pub use extension::VmPacker;
