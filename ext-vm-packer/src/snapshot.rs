//! Snapshots: a machine's whole state (memory, devices — and so the files in its
//! in-memory root) saved by QEMU to `snapshots/<id>/state.mig`, a copy of its
//! disk overlay `disk.qcow2` when it has one (taken while the machine stood
//! still), and a manifest naming the image and the machine shape a restore must
//! boot with.

use sandboxer_ext_protocol::{JsonObject, Snapshot};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Snapshot ids of this extension start with this.
pub const PREFIX: &str = "vmsnap-";

/// `manifest.json` of a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotManifest {
    pub snapshot_id: String,
    pub snapshot_name: String,
    pub sandbox_id: String,
    pub image: String,
    pub accel: String,
    pub memory_mb: u64,
    pub cpus: u32,
    #[serde(default)]
    pub disk_mb: Option<u64>,
    /// `qemu::MACHINE_MODEL` of the machine it was taken from.
    #[serde(default)]
    pub model: String,
    pub taken_at: String,
    pub size_bytes: u64,
}

/// The id of snapshot `name` of `sandbox_id`; names are letters, digits, `-`, `_`, `.`.
pub fn snapshot_id(sandbox_id: &str, name: &str) -> Result<String, String> {
    let plain = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !plain {
        return Err(format!(
            "snapshot name {name:?}: 1–63 letters, digits, '-', '_' or '.', not starting with '.'"
        ));
    }
    Ok(format!("{PREFIX}{sandbox_id}-{name}"))
}

/// The snapshots of one state folder.
#[derive(Debug, Clone)]
pub struct Snapshots {
    pub dir: PathBuf,
}

impl Snapshots {
    pub fn new(state_dir: &Path) -> Snapshots {
        Snapshots {
            dir: state_dir.join("snapshots"),
        }
    }

    /// The folder of snapshot `id`, when `id` is one of ours (no path tricks).
    pub fn folder(&self, id: &str) -> Option<PathBuf> {
        let ours = id.starts_with(PREFIX)
            && !id.contains('/')
            && !id.contains("..")
            && id.bytes().all(|b| b.is_ascii_graphic());
        ours.then(|| self.dir.join(id))
    }

    pub fn state_file(&self, id: &str) -> Option<PathBuf> {
        self.folder(id).map(|f| f.join("state.mig"))
    }

    pub fn read(&self, id: &str) -> Option<SnapshotManifest> {
        let bytes = std::fs::read(self.folder(id)?.join("manifest.json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Keeps `state` and the machine's `disk` copy, if it has a disk (both
    /// moved in), under `manifest`'s id.
    pub fn keep(
        &self,
        manifest: &SnapshotManifest,
        state: &Path,
        disk: Option<&Path>,
    ) -> Result<(), String> {
        let folder = self
            .folder(&manifest.snapshot_id)
            .ok_or_else(|| format!("{}: not a snapshot id", manifest.snapshot_id))?;
        let tmp = self.dir.join(format!(".{}.tmp", manifest.snapshot_id));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(state, tmp.join("state.mig")).map_err(|e| e.to_string())?;
        if let Some(disk) = disk {
            std::fs::rename(disk, tmp.join("disk.qcow2")).map_err(|e| e.to_string())?;
        }
        std::fs::write(
            tmp.join("manifest.json"),
            serde_json::to_vec_pretty(manifest).expect("manifest serializes"),
        )
        .map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &folder).map_err(|e| format!("{}: {e}", folder.display()))
    }

    pub fn list(&self) -> Vec<SnapshotManifest> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return vec![];
        };
        let mut all: Vec<SnapshotManifest> = entries
            .flatten()
            .filter_map(|e| self.read(e.file_name().to_str()?))
            .collect();
        all.sort_by(|a, b| a.snapshot_id.cmp(&b.snapshot_id));
        all
    }

    pub fn delete(&self, id: &str) -> Result<(), String> {
        let Some(folder) = self.folder(id) else {
            return Ok(());
        };
        match std::fs::remove_dir_all(&folder) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
            _ => Ok(()),
        }
    }
}

impl SnapshotManifest {
    pub fn to_snapshot(&self) -> Snapshot {
        let mut details = JsonObject::new();
        details.insert("image".into(), json!(self.image));
        details.insert("memory_mb".into(), json!(self.memory_mb));
        details.insert("cpus".into(), json!(self.cpus));
        details.insert("accelerator".into(), json!(self.accel));
        details.insert("taken_at".into(), json!(self.taken_at));
        details.insert("size_bytes".into(), json!(self.size_bytes));
        Snapshot {
            snapshot_id: self.snapshot_id.clone(),
            snapshot_name: Some(self.snapshot_name.clone()),
            sandbox_id: Some(self.sandbox_id.clone()),
            labels: Default::default(),
            details,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_cannot_walk_out_of_the_folder() {
        assert_eq!(snapshot_id("abc", "one").unwrap(), "vmsnap-abc-one");
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(snapshot_id("abc", bad).is_err(), "{bad}");
        }
        let s = Snapshots::new(Path::new("/state"));
        assert!(s.folder("vmsnap-a/../../etc").is_none());
        assert!(s.folder("other-snap").is_none());
        assert_eq!(
            s.folder("vmsnap-a-b").unwrap(),
            Path::new("/state/snapshots/vmsnap-a-b")
        );
    }
}
