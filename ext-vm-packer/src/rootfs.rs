//! Debian root file systems (recipes of kind `debian`): `mmdebstrap --variant=
//! minbase --mode=root` with busybox (the guest's `init`), dropbear and
//! e2fsprogs beside the recipe's packages, from the host's apt sources; then
//! furnished like any guest, made into an ext4 file system without mounting
//! anything (`mkfs.ext4 -d`) and compressed into the image's qcow2 base disk.
//!
//! Packages come from the Debian archive through apt; the recipe's `commands`
//! do not run here but inside the booted guest (see `backend`), because a chroot
//! on the host is no boundary for a root command.

use crate::disk;
use crate::furnish::{Layout, furnish};
use crate::initramfs::{DISK_INIT, DISK_INIT_SCRIPT, Tools};
use crate::spec::Recipe;
use crate::tree;
use std::path::Path;
use std::process::Command;

/// Packages every Debian guest has: its `init`, its ssh server, `resize2fs`.
pub const BASE_PACKAGES: [&str; 3] = ["busybox", "dropbear-bin", "e2fsprogs"];

/// Free room left on a new file system beyond what the tree uses.
const HEADROOM_MB: u64 = 256;

/// The host's Debian release (`VERSION_CODENAME`), `bookworm` if unknown.
pub fn host_suite() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("VERSION_CODENAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "bookworm".into())
}

/// The host's apt sources file for Debian, which mmdebstrap pastes into the tree.
pub fn host_sources() -> Result<std::path::PathBuf, String> {
    [
        "/etc/apt/sources.list.d/debian.sources",
        "/etc/apt/sources.list",
    ]
    .iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.is_file())
    .ok_or_else(|| {
        "the host has no apt sources for Debian (/etc/apt/sources.list.d/debian.sources or \
         /etc/apt/sources.list), which Debian recipes are built from: add the host's Debian \
         mirror there"
            .into()
    })
}

/// Builds `recipe`'s disk at `disk_out` (qcow2), working in `work`; the guest's
/// host key line.
pub fn build(
    recipe: &Recipe,
    extension_key: &str,
    tools: &Tools,
    work: &Path,
    disk_out: &Path,
) -> Result<String, String> {
    let root = work.join("rootfs");
    let suite = recipe.suite.clone().unwrap_or_else(host_suite);
    let mut include: Vec<&str> = BASE_PACKAGES.to_vec();
    include.extend(recipe.packages.iter().map(String::as_str));
    let out = Command::new("mmdebstrap")
        .args(["--variant=minbase", "--mode=root", "--quiet"])
        .arg(format!("--include={}", include.join(",")))
        .arg(&suite)
        .arg(&root)
        .arg(host_sources()?)
        .output()
        .map_err(|e| format!("mmdebstrap: {e} (run `make setup-vm-host`)"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(8).collect();
        return Err(format!(
            "mmdebstrap {suite} with {}: {}",
            include.join(","),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    tree::write(&root, DISK_INIT, DISK_INIT_SCRIPT.as_bytes(), 0o755)?;
    tree::write(&root, "/etc/hostname", b"sandbox\n", 0o644)?;
    tree::write(&root, "/etc/hosts", b"127.0.0.1 localhost sandbox\n", 0o644)?;
    tree::write(&root, "/etc/resolv.conf", b"nameserver 10.0.2.3\n", 0o644)?;
    let layout = Layout {
        dropbear: "/usr/sbin/dropbear",
        modules: vec![],
    };
    let host_key = furnish(&root, recipe, extension_key, tools, &layout)?;
    let raw = work.join("rootfs.ext4");
    let size_mb = tree::bytes_under(&root, 512, 4096) / (1 << 20) * 13 / 10 + HEADROOM_MB;
    let out = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "sandbox", "-d"])
        .arg(&root)
        .arg(&raw)
        .arg(format!("{size_mb}M"))
        .output()
        .map_err(|e| format!("mkfs.ext4: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "mkfs.ext4: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    disk::compress(&raw, disk_out)?;
    let _ = std::fs::remove_file(&raw);
    Ok(host_key)
}
