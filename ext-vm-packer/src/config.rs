//! The extension's options (from the host's configuration, `extensions.vm-packer.
//! options`): where images, machines and snapshots are kept, which guest kernel
//! boots, which accelerator runs guests and which user QEMU runs as.

use serde::Deserialize;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Where `scripts/setup-vm-host.sh` puts the guest kernel.
pub const DEFAULT_KERNEL: &str = "/var/lib/sandboxer-vm/kernel/current";
/// The extension's folder: images, machines, snapshots and its ssh key.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/sandboxer-vm";
/// The unprivileged account `scripts/setup-vm-host.sh` makes for QEMU.
pub const DEFAULT_RUN_AS: &str = "sandboxer-vm";

/// Which accelerator runs guests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccelChoice {
    /// KVM where the CPU has hardware virtualization, TCG otherwise.
    #[default]
    Auto,
    Kvm,
    Tcg,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// A folder with `vmlinuz` and `modules/*.ko` (a Debian kernel's).
    #[serde(default = "default_kernel")]
    pub kernel: PathBuf,
    #[serde(default)]
    pub accelerator: AccelChoice,
    /// The account QEMU drops to after start (when the extension runs as root).
    #[serde(default = "default_run_as")]
    pub run_as: String,
    /// The QEMU system emulator.
    #[serde(default = "default_qemu")]
    pub qemu: PathBuf,
    /// At most this many machines run at once (each costs its memory).
    #[serde(default = "default_max_machines")]
    pub max_machines: usize,
    /// The address machines' endpoints are forwarded from: loopback for a core on
    /// this host, the host's own address when the core reaches it over the network
    /// (a remote host of the relay, see `relay`).
    #[serde(default = "default_forward_address")]
    pub forward_address: Ipv4Addr,
}

impl Options {
    pub fn from_json(options: serde_json::Map<String, serde_json::Value>) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::Object(options)).map_err(|e| e.to_string())
    }
}

fn default_state_dir() -> PathBuf {
    DEFAULT_STATE_DIR.into()
}

fn default_kernel() -> PathBuf {
    DEFAULT_KERNEL.into()
}

fn default_run_as() -> String {
    DEFAULT_RUN_AS.into()
}

fn default_qemu() -> PathBuf {
    "qemu-system-x86_64".into()
}

fn default_max_machines() -> usize {
    16
}

fn default_forward_address() -> Ipv4Addr {
    Ipv4Addr::LOCALHOST
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_fill_in_and_unknown_options_are_refused() {
        let o = Options::from_json(Default::default()).unwrap();
        assert_eq!(o.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
        assert_eq!(o.accelerator, AccelChoice::Auto);
        assert_eq!(o.forward_address, Ipv4Addr::LOCALHOST);
        let bad = json!({"stat_dir": "/x"}).as_object().unwrap().clone();
        assert!(Options::from_json(bad).unwrap_err().contains("stat_dir"));
    }
}
