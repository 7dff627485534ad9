//! qcow2 disks through `qemu-img`: a compressed base made from a raw file
//! system, an overlay on a backing disk (a machine's, a template's), a disk's
//! virtual size. Paths go to `qemu-img` as arguments, never through a shell.

use std::path::Path;
use std::process::Command;

/// The block node every machine's disk is (for QMP `block_resize`).
pub const NODE: &str = "disk0";

fn qemu_img(args: &[&std::ffi::OsStr]) -> Result<Vec<u8>, String> {
    let out = Command::new("qemu-img")
        .args(args)
        .output()
        .map_err(|e| format!("qemu-img: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "qemu-img {}: {}",
            args.first()
                .map(|a| a.to_string_lossy())
                .unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// A compressed qcow2 copy of the raw image `raw` at `out`.
pub fn compress(raw: &Path, out: &Path) -> Result<(), String> {
    qemu_img(&[
        "convert".as_ref(),
        "-c".as_ref(),
        "-f".as_ref(),
        "raw".as_ref(),
        "-O".as_ref(),
        "qcow2".as_ref(),
        raw.as_os_str(),
        out.as_os_str(),
    ])
    .map(drop)
}

/// A new qcow2 overlay at `path` on `backing` (which it never writes).
pub fn overlay(backing: &Path, path: &Path) -> Result<(), String> {
    let absolute =
        std::fs::canonicalize(backing).map_err(|e| format!("{}: {e}", backing.display()))?;
    qemu_img(&[
        "create".as_ref(),
        "-q".as_ref(),
        "-f".as_ref(),
        "qcow2".as_ref(),
        "-F".as_ref(),
        "qcow2".as_ref(),
        "-b".as_ref(),
        absolute.as_os_str(),
        path.as_os_str(),
    ])
    .map(drop)
}

/// The size the guest sees of the disk at `path`, in bytes.
pub fn virtual_size(path: &Path) -> Result<u64, String> {
    let out = qemu_img(&[
        "info".as_ref(),
        "--output=json".as_ref(),
        "-U".as_ref(),
        path.as_os_str(),
    ])?;
    let info: serde_json::Value =
        serde_json::from_slice(&out).map_err(|e| format!("qemu-img info: {e}"))?;
    info["virtual-size"]
        .as_u64()
        .ok_or_else(|| format!("qemu-img info gave no virtual-size for {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overlay_has_its_backing_size_and_never_writes_it() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("fs.raw");
        std::fs::write(&raw, vec![7u8; 4 << 20]).unwrap();
        let base = dir.path().join("base.qcow2");
        compress(&raw, &base).unwrap();
        assert_eq!(virtual_size(&base).unwrap(), 4 << 20);
        let before = std::fs::read(&base).unwrap();
        let top = dir.path().join("top.qcow2");
        overlay(&base, &top).unwrap();
        assert_eq!(virtual_size(&top).unwrap(), 4 << 20);
        assert_eq!(std::fs::read(&base).unwrap(), before);
        assert!(overlay(&dir.path().join("missing.qcow2"), &dir.path().join("x")).is_err());
    }
}
