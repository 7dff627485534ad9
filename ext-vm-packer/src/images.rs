//! Images, built once per recipe and kept by the recipe's hash: a folder
//! `images/<hash>/` with the guest kernel, the initramfs (the whole root, or a
//! disk image's first stage), the base disk `disk.qcow2` of a Debian recipe,
//! the guest's host key (as a known-hosts line), and `templates/<shape>/` — a
//! booted guest of one machine shape saved to a file (with its frozen disk),
//! which every sandbox of that shape is restored from. A build happens in a folder of its own and is renamed into place, so
//! two builds of one recipe never see each other's half-made files.

use crate::initramfs::{self, Tools};
use crate::kernel::Kernel;
use crate::rootfs;
use crate::spec::{Recipe, RecipeKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Changes whenever what a build makes from one recipe changes.
const BUILDER_VERSION: &str = "vm-packer-3";

/// A built image.
#[derive(Debug, Clone)]
pub struct Image {
    pub hash: String,
    pub dir: PathBuf,
}

/// What `image.json` records about an image.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRecord {
    pub hash: String,
    pub kernel_release: String,
    pub recipe: Recipe,
    pub built_at: String,
    /// `profile.x@version` that first built it.
    #[serde(default)]
    pub profile: Option<String>,
}

impl Image {
    pub fn kernel(&self) -> PathBuf {
        self.dir.join("vmlinuz")
    }
    pub fn initramfs(&self) -> PathBuf {
        self.dir.join("initramfs.cpio")
    }
    /// `sandboxer-vm ssh-ed25519 AAAA…`: the guest's host key, for ssh.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }
    /// The base disk, which only images of a disk recipe have.
    pub fn disk(&self) -> Option<PathBuf> {
        Some(self.dir.join("disk.qcow2")).filter(|d| d.is_file())
    }
    /// The saved guest of `shape`, once one was made.
    pub fn template(&self, shape: &str) -> PathBuf {
        self.dir.join("templates").join(shape).join("state.mig")
    }
}

/// The alias every guest's host key is known under.
pub const HOST_KEY_ALIAS: &str = "sandboxer-vm";

/// The images of one state folder.
#[derive(Clone)]
pub struct Images {
    pub dir: PathBuf,
    pub tools: Tools,
}

impl Images {
    pub fn new(state_dir: &Path) -> Images {
        Images {
            dir: state_dir.join("images"),
            tools: Tools::default(),
        }
    }

    /// The hash `recipe` is kept under, with this kernel and extension key.
    pub fn hash(recipe: &Recipe, kernel: &Kernel, extension_key: &str) -> String {
        let mut h = Sha256::new();
        h.update(BUILDER_VERSION.as_bytes());
        h.update([0]);
        h.update(kernel.release.as_bytes());
        h.update([0]);
        h.update(serde_json::to_vec(recipe).expect("recipe serializes"));
        h.update([0]);
        h.update(extension_key.trim().as_bytes());
        h.finalize()
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The image of `recipe`, built now unless it already is. The flag says
    /// whether this call built it.
    pub fn ensure(
        &self,
        recipe: &Recipe,
        kernel: &Kernel,
        extension_key: &str,
        profile: &str,
    ) -> Result<(Image, bool), String> {
        let hash = Self::hash(recipe, kernel, extension_key);
        let dir = self.dir.join(&hash);
        if dir.join("image.json").is_file() {
            return Ok((Image { hash, dir }, false));
        }
        fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let work = tempfile_dir(&self.dir, &hash)?;
        let result = self.build_into(recipe, kernel, extension_key, &hash, profile, &work);
        let outcome = result.and_then(|()| match fs::rename(work.join("image"), &dir) {
            Ok(()) => Ok(true),
            // Another build of the same recipe finished first: keep that one.
            Err(_) if dir.join("image.json").is_file() => Ok(false),
            Err(e) => Err(format!("{}: {e}", dir.display())),
        });
        let _ = fs::remove_dir_all(&work);
        Ok((Image { hash, dir }, outcome?))
    }

    fn build_into(
        &self,
        recipe: &Recipe,
        kernel: &Kernel,
        extension_key: &str,
        hash: &str,
        profile: &str,
        work: &Path,
    ) -> Result<(), String> {
        let image = work.join("image");
        fs::create_dir_all(image.join("templates")).map_err(|e| e.to_string())?;
        let host_key = match recipe.kind {
            RecipeKind::Initramfs => {
                initramfs::build(
                    recipe,
                    kernel,
                    extension_key,
                    &self.tools,
                    work,
                    &image.join("initramfs.cpio"),
                )?
                .host_key
            }
            RecipeKind::Debian => {
                let host_key = rootfs::build(
                    recipe,
                    extension_key,
                    &self.tools,
                    work,
                    &image.join("disk.qcow2"),
                )?;
                let modules: Vec<PathBuf> = kernel
                    .modules
                    .iter()
                    .chain(&kernel.disk_modules)
                    .cloned()
                    .collect();
                initramfs::build_stage1(
                    &modules,
                    &self.tools,
                    work,
                    &image.join("initramfs.cpio"),
                )?;
                host_key
            }
        };
        fs::copy(&kernel.vmlinuz, image.join("vmlinuz")).map_err(|e| e.to_string())?;
        fs::write(
            image.join("known_hosts"),
            format!("{HOST_KEY_ALIAS} {host_key}\n"),
        )
        .map_err(|e| e.to_string())?;
        let record = ImageRecord {
            hash: hash.to_string(),
            kernel_release: kernel.release.clone(),
            recipe: recipe.clone(),
            built_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            profile: Some(profile.to_string()),
        };
        fs::write(
            image.join("image.json"),
            serde_json::to_vec_pretty(&record).expect("record serializes"),
        )
        .map_err(|e| e.to_string())?;
        for entry in [
            "",
            "templates",
            "vmlinuz",
            "initramfs.cpio",
            "known_hosts",
            "image.json",
            "disk.qcow2",
        ] {
            if !image.join(entry).exists() {
                continue;
            }
            let mode = if entry.is_empty() || entry == "templates" {
                0o755
            } else {
                0o644
            };
            fs::set_permissions(image.join(entry), fs::Permissions::from_mode(mode))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The record of image `hash`, when it is built.
    pub fn read(&self, hash: &str) -> Option<ImageRecord> {
        let plain = !hash.is_empty() && hash.bytes().all(|b| b.is_ascii_hexdigit());
        if !plain {
            return None;
        }
        serde_json::from_slice(&fs::read(self.dir.join(hash).join("image.json")).ok()?).ok()
    }

    /// Every built image.
    pub fn list(&self) -> Vec<ImageRecord> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return vec![];
        };
        let mut records: Vec<ImageRecord> = entries
            .flatten()
            .filter_map(|e| fs::read(e.path().join("image.json")).ok())
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect();
        records.sort_by(|a, b| a.hash.cmp(&b.hash));
        records
    }
}

/// A new private working folder beside the images.
fn tempfile_dir(parent: &Path, hash: &str) -> Result<PathBuf, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let dir = parent.join(format!(".build-{hash}-{}-{nanos}", std::process::id()));
    fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(release: &str) -> Kernel {
        Kernel {
            vmlinuz: "/nowhere".into(),
            release: release.into(),
            modules: vec![],
            disk_modules: vec![],
        }
    }

    #[test]
    fn the_hash_changes_with_the_recipe_the_kernel_and_the_key() {
        let recipe = Recipe::default();
        let base = Images::hash(&recipe, &kernel("a"), "ssh-ed25519 K");
        assert_eq!(base, Images::hash(&recipe, &kernel("a"), "ssh-ed25519 K\n"));
        assert_ne!(base, Images::hash(&recipe, &kernel("b"), "ssh-ed25519 K"));
        assert_ne!(base, Images::hash(&recipe, &kernel("a"), "ssh-ed25519 L"));
        let mut other = recipe.clone();
        other.services.push("true".into());
        assert_ne!(base, Images::hash(&other, &kernel("a"), "ssh-ed25519 K"));
    }
}
