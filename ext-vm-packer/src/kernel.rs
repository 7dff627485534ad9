//! The guest kernel: a Debian kernel's `vmlinuz` and the few modules a guest
//! loads (virtio PCI, network and entropy), unpacked by
//! `scripts/setup-vm-host.sh` into one folder. The modules' load order comes from
//! each module's own `depends=` (its `.modinfo`), so no `depmod` is needed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The modules a guest needs, before their dependencies.
pub const GUEST_MODULES: [&str; 3] = ["virtio_pci", "virtio_net", "virtio-rng"];
/// The modules a guest booting from a disk needs besides (ext4 asks the crypto
/// layer for crc32c, which nothing loads on demand in a first stage).
pub const DISK_MODULES: [&str; 3] = ["virtio_blk", "crc32c_generic", "ext4"];

#[derive(Debug, Clone)]
pub struct Kernel {
    pub vmlinuz: PathBuf,
    /// The kernel's release, e.g. `6.1.0-57-amd64` (part of every recipe's hash).
    pub release: String,
    /// `.ko` files in load order.
    pub modules: Vec<PathBuf>,
    /// `.ko` files a disk image's first stage loads after `modules`.
    pub disk_modules: Vec<PathBuf>,
}

impl Kernel {
    /// The kernel in `dir`, with its modules resolved; the error says what is
    /// missing and how to get it.
    pub fn load(dir: &Path) -> Result<Kernel, String> {
        let fix = "run `make setup-vm-host` (scripts/setup-vm-host.sh) to fetch a guest kernel";
        let vmlinuz = dir.join("vmlinuz");
        if !vmlinuz.is_file() {
            return Err(format!("no guest kernel at {}; {fix}", vmlinuz.display()));
        }
        let resolved = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let release = resolved
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut modules = Vec::new();
        let mut seen = BTreeSet::new();
        for name in GUEST_MODULES {
            add_with_dependencies(&dir.join("modules"), name, &mut seen, &mut modules)
                .map_err(|e| format!("{e}; {fix}"))?;
        }
        let mut disk_modules = Vec::new();
        for name in DISK_MODULES {
            add_with_dependencies(&dir.join("modules"), name, &mut seen, &mut disk_modules)
                .map_err(|e| format!("{e}; {fix}"))?;
        }
        Ok(Kernel {
            vmlinuz,
            release,
            modules,
            disk_modules,
        })
    }
}

/// Appends `name`'s dependencies, then `name`, each once.
fn add_with_dependencies(
    dir: &Path,
    name: &str,
    seen: &mut BTreeSet<String>,
    order: &mut Vec<PathBuf>,
) -> Result<(), String> {
    if !seen.insert(name.to_string()) {
        return Ok(());
    }
    let path = dir.join(format!("{name}.ko"));
    let bytes =
        std::fs::read(&path).map_err(|e| format!("guest module {}: {e}", path.display()))?;
    for dependency in depends_of(&bytes) {
        add_with_dependencies(dir, &dependency, seen, order)?;
    }
    order.push(path);
    Ok(())
}

/// The `depends=` entry of a module's `.modinfo` (NUL-separated `key=value`s).
fn depends_of(module: &[u8]) -> Vec<String> {
    const KEY: &[u8] = b"\0depends=";
    let Some(at) = module.windows(KEY.len()).position(|w| w == KEY) else {
        return vec![];
    };
    let rest = &module[at + KEY.len()..];
    let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    String::from_utf8_lossy(&rest[..end])
        .split(',')
        .filter(|d| !d.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(dir: &Path, name: &str, depends: &str) {
        let body = format!("\x7fELF...\0license=GPL\0depends={depends}\0intree=Y\0");
        std::fs::write(dir.join(format!("{name}.ko")), body).unwrap();
    }

    #[test]
    fn modules_come_after_what_they_depend_on() {
        let dir = tempfile::tempdir().unwrap();
        let modules = dir.path().join("6.1.0-test/modules");
        std::fs::create_dir_all(&modules).unwrap();
        std::fs::write(dir.path().join("6.1.0-test/vmlinuz"), b"k").unwrap();
        module(&modules, "virtio_ring", "");
        module(&modules, "virtio", "virtio_ring");
        module(&modules, "virtio_pci", "virtio_ring,virtio");
        module(&modules, "failover", "");
        module(&modules, "virtio_net", "virtio_ring,virtio,failover");
        module(&modules, "virtio-rng", "virtio,virtio_ring");
        module(&modules, "virtio_blk", "virtio,virtio_ring");
        module(&modules, "crc32c_generic", "");
        module(&modules, "crc16", "");
        module(&modules, "ext4", "mbcache,jbd2,crc16");
        module(&modules, "mbcache", "");
        module(&modules, "jbd2", "");
        let kernel = Kernel::load(&dir.path().join("6.1.0-test")).unwrap();
        let stems = |paths: &[PathBuf]| -> Vec<String> {
            paths
                .iter()
                .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            stems(&kernel.modules),
            [
                "virtio_ring",
                "virtio",
                "virtio_pci",
                "failover",
                "virtio_net",
                "virtio-rng"
            ]
        );
        assert_eq!(kernel.release, "6.1.0-test");
        assert_eq!(
            stems(&kernel.disk_modules),
            [
                "virtio_blk",
                "crc32c_generic",
                "mbcache",
                "jbd2",
                "crc16",
                "ext4"
            ],
            "after the base modules, none twice"
        );
    }

    #[test]
    fn a_missing_kernel_says_how_to_get_one() {
        let dir = tempfile::tempdir().unwrap();
        let e = Kernel::load(dir.path()).unwrap_err();
        assert!(e.contains("make setup-vm-host"), "{e}");
    }
}
