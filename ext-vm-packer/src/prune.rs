//! What holds each image — machines, snapshots, template builds in progress —
//! and removing images nothing holds. A lock file keeps prune and creates
//! apart across processes (the CLI's extension and the daemon's): a create
//! holds it shared from building the image until its machine runs, a prune
//! takes it exclusively or refuses at once.

use crate::images::{ImageRecord, Images};
use crate::machine::Machines;
use crate::snapshot::Snapshots;
use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Image hash → what uses it (`sandbox <id>`, `snapshot <id>`, `template build`).
pub fn users(
    machines: &Machines,
    snapshots: &Snapshots,
    builds: &Path,
) -> BTreeMap<String, Vec<String>> {
    let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(&machines.dir) {
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if let Some(record) = machines.read(&id) {
                users
                    .entry(record.image)
                    .or_default()
                    .push(format!("sandbox {id}"));
            }
        }
    }
    for snapshot in snapshots.list() {
        users
            .entry(snapshot.image)
            .or_default()
            .push(format!("snapshot {}", snapshot.snapshot_id));
    }
    if let Ok(entries) = std::fs::read_dir(builds) {
        for entry in entries.flatten() {
            if let Ok(hash) = std::fs::read_to_string(entry.path().join("image")) {
                users
                    .entry(hash.trim().to_string())
                    .or_default()
                    .push("a template build".into());
            }
        }
    }
    users
}

/// Removes image `record` (renamed away first, so it vanishes at once).
pub fn remove(images: &Images, record: &ImageRecord) -> Result<(), String> {
    let dir = images.dir.join(&record.hash);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let trash = images.dir.join(format!(".removed-{}-{nanos}", record.hash));
    std::fs::rename(&dir, &trash).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::remove_dir_all(&trash).map_err(|e| format!("{}: {e}", trash.display()))
}

/// A held lock on the images folder; released on drop.
pub struct ImagesLock {
    _file: File,
}

impl ImagesLock {
    fn open(images: &Images) -> Result<File, String> {
        std::fs::create_dir_all(&images.dir).map_err(|e| e.to_string())?;
        let path = images.dir.join(".lock");
        File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Shared: waits while a prune runs (call it off the async threads).
    pub fn shared(images: &Images) -> Result<ImagesLock, String> {
        let file = Self::open(images)?;
        // SAFETY: flock(2) on a file descriptor this value owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH) } != 0 {
            return Err(format!(
                "locking images: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(ImagesLock { _file: file })
    }

    /// Exclusive, now or never: None while any create holds it.
    pub fn exclusive_now(images: &Images) -> Result<Option<ImagesLock>, String> {
        let file = Self::open(images)?;
        // SAFETY: flock(2) on a file descriptor this value owns.
        let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        Ok(taken.then_some(ImagesLock { _file: file }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prune_cannot_take_the_lock_while_a_create_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let images = Images::new(dir.path());
        let create = ImagesLock::shared(&images).unwrap();
        let other_create = ImagesLock::shared(&images).unwrap();
        assert!(ImagesLock::exclusive_now(&images).unwrap().is_none());
        drop((create, other_create));
        let prune = ImagesLock::exclusive_now(&images).unwrap();
        assert!(prune.is_some());
    }
}
