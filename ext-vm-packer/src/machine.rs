//! One sandbox's machine: its folder `machines/<id>/` (the record `machine.json`,
//! QMP socket, serial log, pid file, made before QEMU starts so a crash leaves it
//! findable), starting QEMU, and stopping it. The folder belongs to the account
//! QEMU runs as, which writes snapshots there.

use crate::accel::Accel;
use crate::qemu::{AllowedEndpoint, LaunchPlan, guest_name};
use crate::qmp::Qmp;
use sandboxer_ext_protocol::Labels;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One forwarded endpoint of a machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forward {
    pub name: String,
    pub protocol: String,
    pub host_port: u16,
    pub guest_port: u16,
}

/// What a machine was started from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum Origin {
    /// The image's template (a booted guest saved once).
    Template,
    Snapshot(String),
}

/// `machine.json`: everything about a machine but its secrets (it has none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineRecord {
    pub sandbox_id: String,
    pub labels: Labels,
    /// Digest of the create's identity: a retried create is recognized by it.
    pub request: String,
    pub image: String,
    pub accel: String,
    pub memory_mb: u64,
    pub cpus: u32,
    /// The disk size asked for (disk images only; None: the image's own).
    #[serde(default)]
    pub disk_mb: Option<u64>,
    pub ssh_port: u16,
    pub forwards: Vec<Forward>,
    pub allowed: Vec<AllowedEndpoint>,
    pub egress_open: bool,
    /// The names of the create's secrets (their values are only in the guest).
    #[serde(default)]
    pub secret_names: Vec<String>,
    pub origin: Origin,
    pub created_at: String,
    pub expires_at: String,
    /// Set once the guest answered and its endpoints are ready.
    pub ready: bool,
}

/// The machines of one state folder.
#[derive(Debug, Clone)]
pub struct Machines {
    pub dir: PathBuf,
}

impl Machines {
    pub fn new(state_dir: &Path) -> Machines {
        Machines {
            dir: state_dir.join("machines"),
        }
    }

    pub fn folder(&self, sandbox_id: &str) -> PathBuf {
        self.dir.join(sandbox_id)
    }

    /// Makes the machine's folder and writes its record, before anything runs.
    /// The folder is handed to `owner` (QEMU's account).
    pub fn prepare(
        &self,
        record: &MachineRecord,
        owner: Option<(u32, u32)>,
    ) -> Result<PathBuf, String> {
        let dir = self.folder(&record.sandbox_id);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| e.to_string())?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
        }
        self.write(record)?;
        Ok(dir)
    }

    /// Writes `record` (atomically: a crash leaves the old one or the new one).
    pub fn write(&self, record: &MachineRecord) -> Result<(), String> {
        let dir = self.folder(&record.sandbox_id);
        let tmp = dir.join("machine.json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(record).expect("record serializes"),
        )
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, dir.join("machine.json")).map_err(|e| e.to_string())
    }

    pub fn read(&self, sandbox_id: &str) -> Option<MachineRecord> {
        let bytes = std::fs::read(self.folder(sandbox_id).join("machine.json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Stops the machine of `sandbox_id` (QMP `quit`, then SIGKILL to whatever
    /// process still carries its name) and removes its folder.
    pub async fn destroy(&self, sandbox_id: &str, pid: Option<u32>) -> Result<(), String> {
        let dir = self.folder(sandbox_id);
        if let Ok(mut qmp) = Qmp::connect(&LaunchPlan::qmp_socket(&dir)).await {
            let _ = qmp.execute("quit", None).await;
        }
        if let Some(pid) = pid {
            kill_and_wait(pid, &guest_name(sandbox_id)).await;
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("{}: {e}", dir.display())),
        }
    }
}

/// Starts QEMU for `plan` (it daemonizes once the machine is set up); its
/// complaint when it refuses.
pub async fn start(plan: &LaunchPlan) -> Result<(), String> {
    let out = tokio::process::Command::new(&plan.qemu)
        .args(plan.args())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("{}: {e}", plan.qemu.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "QEMU did not start: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The accelerator of a record.
pub fn accel_of(record: &MachineRecord) -> Accel {
    if record.accel == "kvm" {
        Accel::Kvm
    } else {
        Accel::Tcg
    }
}

/// Whether process `pid` is a QEMU carrying `name` (a pid may be reused).
pub fn is_machine(pid: u32, name: &str) -> bool {
    crate::inventory::cmdline(pid)
        .map(|args| crate::inventory::guest_of(&args).as_deref() == Some(name))
        .unwrap_or(false)
}

/// SIGKILL to `pid` if it is still the machine `name`, then waits until it is gone.
pub async fn kill_and_wait(pid: u32, name: &str) {
    for _ in 0..200 {
        if !is_machine(pid, name) {
            return;
        }
        // SAFETY: kill(2) with a pid checked just above to be this machine.
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The account QEMU drops to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// Who QEMU runs as: an account (when the extension is root), or the
/// extension's own user (None); an error says why it cannot start machines.
pub type QemuUser = Result<Option<RunAs>, String>;

/// The uid and gid of account `name`, from /etc/passwd.
pub fn account(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() > 3 && fields[0] == name)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
            .flatten()
    })
}
