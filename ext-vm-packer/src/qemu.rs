//! The QEMU command line of one machine, as an argv (no shell): the accelerator,
//! the machine's shape (memory, vCPUs), the image's kernel and initramfs, a
//! restricted user network with the forwarded loopback ports and the allowed
//! endpoints, a VM generation id (so restored clones reseed their randomness),
//! the QMP socket, and the sandbox id in `-name` so the process is found by it.
//! QEMU drops to an unprivileged account and runs under its seccomp sandbox.

use crate::accel::Accel;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The `-name` of a sandbox's machine: how its process is found.
pub fn guest_name(sandbox_id: &str) -> String {
    format!("sbx-{sandbox_id}")
}

/// One destination the guest may reach: `guest_ip:port` inside is carried to
/// `host:port` outside (by `socat`, started by QEMU per connection).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AllowedEndpoint {
    /// As the profile or request wrote it (`HOST:PORT`).
    pub destination: String,
    pub host: String,
    pub port: u16,
    /// The address the guest connects to (in QEMU's user network).
    pub guest_ip: String,
}

/// Guest addresses of allowed endpoints: 10.0.2.100, .101, …
pub const FIRST_ALLOWED_GUEST_IP: u8 = 100;
/// At most this many allowed endpoints per sandbox.
pub const MAX_ALLOWED: usize = 100;

impl AllowedEndpoint {
    /// `HOST:PORT` checked (host: letters, digits, `.` and `-` only — it ends up
    /// in a command QEMU runs through a shell), the `index`th guest address.
    pub fn parse(destination: &str, index: usize) -> Result<AllowedEndpoint, String> {
        let (host, port) = destination
            .rsplit_once(':')
            .ok_or_else(|| format!("{destination:?} is not HOST:PORT"))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("{destination:?}: the port is not 1–65535"))?;
        let plain = !host.is_empty()
            && host.len() <= 253
            && !host.starts_with(['-', '.'])
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !plain {
            return Err(format!(
                "{destination:?}: the host may hold only letters, digits, '.' and '-'"
            ));
        }
        if index >= MAX_ALLOWED {
            return Err(format!("at most {MAX_ALLOWED} allowed endpoints"));
        }
        Ok(AllowedEndpoint {
            destination: destination.to_string(),
            host: host.to_string(),
            port,
            guest_ip: format!("10.0.2.{}", FIRST_ALLOWED_GUEST_IP as usize + index),
        })
    }
}

/// Everything that decides a machine's command line.
#[derive(Debug, Clone)]
pub struct LaunchPlan {
    pub qemu: PathBuf,
    pub accel: Accel,
    pub memory_mb: u64,
    pub cpus: u32,
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
    pub sandbox_id: String,
    /// The machine's folder: QMP socket, serial log, pid file.
    pub dir: PathBuf,
    /// The host address forwards listen on (loopback unless the host is remote).
    pub forward_address: std::net::Ipv4Addr,
    /// (port on the forward address, port in the guest).
    pub forwards: Vec<(u16, u16)>,
    pub allowed: Vec<AllowedEndpoint>,
    /// `network.egress: allow` without a list: the guest reaches out freely.
    pub egress_open: bool,
    /// The account QEMU drops to (None: stay who we are).
    pub run_as: Option<String>,
    /// Waits for a saved state (`migrate-incoming`) instead of booting.
    pub incoming: bool,
    /// The machine's own disk (a qcow2 overlay), for images that have one.
    pub disk: Option<PathBuf>,
}

/// The machine model: the devices `LaunchPlan::args` gives every machine. A
/// saved machine (template, snapshot) restores only into the same model, so
/// this changes whenever those devices do.
pub const MACHINE_MODEL: &str = "q35v1";

/// The shape a template is saved for: a restored machine must match it.
pub fn shape(accel: Accel, memory_mb: u64, cpus: u32) -> String {
    format!("{}-m{memory_mb}-c{cpus}-{MACHINE_MODEL}", accel.as_str())
}

impl LaunchPlan {
    pub fn qmp_socket(dir: &Path) -> PathBuf {
        dir.join("qmp.sock")
    }
    pub fn serial_log(dir: &Path) -> PathBuf {
        dir.join("serial.log")
    }
    pub fn pid_file(dir: &Path) -> PathBuf {
        dir.join("qemu.pid")
    }

    /// The argv (without the program).
    pub fn args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |s: &str| a.push(s.into());
        push("-accel");
        push(self.accel.as_str());
        push("-machine");
        push("q35");
        push("-cpu");
        push(if self.accel == Accel::Kvm {
            "host"
        } else {
            "max"
        });
        push("-m");
        push(&self.memory_mb.to_string());
        push("-smp");
        push(&self.cpus.to_string());
        for fixed in ["-nodefaults", "-no-user-config", "-display", "none"] {
            push(fixed);
        }
        push("-name");
        push(&format!(
            "guest={},process=sbx-vm",
            guest_name(&self.sandbox_id)
        ));
        push("-netdev");
        push(&self.netdev());
        push("-device");
        push("virtio-net-pci,netdev=n0");
        push("-device");
        push("virtio-rng-pci");
        push("-device");
        push("vmgenid,guid=auto");
        if let Some(disk) = &self.disk {
            // JSON: a path is a string there, whatever commas it holds.
            push("-blockdev");
            push(
                &serde_json::json!({"driver": "qcow2", "node-name": crate::disk::NODE,
                    "file": {"driver": "file", "filename": disk}})
                .to_string(),
            );
            push("-device");
            push(&format!("virtio-blk-pci,drive={}", crate::disk::NODE));
        }
        push("-append");
        push("console=ttyS0 quiet panic=-1");
        push("-sandbox");
        push("on,obsolete=deny,resourcecontrol=deny");
        if let Some(user) = &self.run_as {
            push("-run-with");
            push(&format!("user={user}"));
        }
        push("-daemonize");
        if self.incoming {
            push("-incoming");
            push("defer");
        }
        let mut path = |flag: &str, prefix: &str, p: &Path, suffix: &str| {
            a.push(flag.into());
            let mut value = OsString::from(prefix);
            value.push(p.as_os_str());
            value.push(suffix);
            a.push(value);
        };
        path("-kernel", "", &self.kernel, "");
        path("-initrd", "", &self.initramfs, "");
        path("-serial", "file:", &Self::serial_log(&self.dir), "");
        path(
            "-qmp",
            "unix:",
            &Self::qmp_socket(&self.dir),
            ",server=on,wait=off",
        );
        path("-pidfile", "", &Self::pid_file(&self.dir), "");
        a
    }

    /// The user network: restricted (no way out, no way to the host) unless
    /// egress is open; forwards from ports on the forward address; one `guestfwd` per allowed
    /// endpoint.
    fn netdev(&self) -> String {
        let mut n = String::from("user,id=n0");
        if !self.egress_open {
            n.push_str(",restrict=on");
        }
        for (host, guest) in &self.forwards {
            n.push_str(&format!(
                ",hostfwd=tcp:{}:{host}-:{guest}",
                self.forward_address
            ));
        }
        for e in &self.allowed {
            n.push_str(&format!(
                ",guestfwd=tcp:{}:{}-cmd:socat - TCP:{}:{}",
                e.guest_ip, e.port, e.host, e.port
            ));
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> LaunchPlan {
        LaunchPlan {
            qemu: "qemu-system-x86_64".into(),
            accel: Accel::Tcg,
            memory_mb: 256,
            cpus: 1,
            kernel: "/img/vmlinuz".into(),
            initramfs: "/img/initramfs.cpio".into(),
            sandbox_id: "abc".into(),
            dir: "/state/machines/abc".into(),
            forward_address: std::net::Ipv4Addr::LOCALHOST,
            forwards: vec![(40022, 22), (40080, 8080)],
            allowed: vec![AllowedEndpoint::parse("127.0.0.1:4000", 0).unwrap()],
            egress_open: false,
            run_as: Some("sandboxer-vm".into()),
            incoming: true,
            disk: None,
        }
    }

    fn joined(p: &LaunchPlan) -> String {
        p.args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_network_is_restricted_with_forwards_and_allowed_endpoints() {
        let args = joined(&plan());
        assert!(args.contains(
            "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:40022-:22,hostfwd=tcp:127.0.0.1:40080-:8080,\
             guestfwd=tcp:10.0.2.100:4000-cmd:socat - TCP:127.0.0.1:4000"
        ), "{args}");
        assert!(args.contains("-name guest=sbx-abc,process=sbx-vm"));
        assert!(args.contains("-incoming defer"));
        assert!(args.contains("-run-with user=sandboxer-vm"));
        assert!(args.contains("vmgenid,guid=auto"));
        assert!(args.contains("-qmp unix:/state/machines/abc/qmp.sock,server=on,wait=off"));
        let open = LaunchPlan {
            egress_open: true,
            ..plan()
        };
        assert!(!joined(&open).contains("restrict=on"));
    }

    #[test]
    fn the_machine_model_changes_with_the_devices() {
        // Saved machines restore only into the devices they were saved with:
        // whoever changes this list changes MACHINE_MODEL with it.
        let args: Vec<String> = plan()
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let devices: Vec<&str> = args
            .windows(2)
            .filter(|w| w[0] == "-device" || w[0] == "-machine")
            .map(|w| w[1].as_str())
            .collect();
        assert_eq!(
            (MACHINE_MODEL, devices),
            (
                "q35v1",
                vec![
                    "q35",
                    "virtio-net-pci,netdev=n0",
                    "virtio-rng-pci",
                    "vmgenid,guid=auto"
                ]
            )
        );
    }

    #[test]
    fn a_disk_is_a_block_node_whatever_its_path_holds() {
        assert!(!joined(&plan()).contains("-blockdev"));
        let with_disk = LaunchPlan {
            disk: Some("/state/m,x/disk.qcow2".into()),
            ..plan()
        };
        let args = with_disk.args();
        let at = args.iter().position(|a| a == "-blockdev").unwrap();
        let node: serde_json::Value =
            serde_json::from_str(&args[at + 1].to_string_lossy()).unwrap();
        assert_eq!(node["file"]["filename"], "/state/m,x/disk.qcow2");
        assert_eq!(node["node-name"], crate::disk::NODE);
        assert!(joined(&with_disk).contains("-device virtio-blk-pci,drive=disk0"));
    }

    #[test]
    fn an_allowed_endpoint_cannot_carry_a_shell_word() {
        for bad in [
            "a;rm -rf /:80",
            "$(id):80",
            "a b:80",
            "host:0",
            "host:99999",
            "host",
            "-oProxy:80",
            "a,b:80",
            ":80",
        ] {
            assert!(AllowedEndpoint::parse(bad, 0).is_err(), "{bad}");
        }
        let ok = AllowedEndpoint::parse("db.internal-1:5432", 3).unwrap();
        assert_eq!(ok.guest_ip, "10.0.2.103");
        assert!(AllowedEndpoint::parse("a:1", MAX_ALLOWED).is_err());
    }
}
