//! Initramfs archives. For an image of kind `initramfs` it is the guest's whole
//! root: busybox (its `init` runs the guest), dropbear with the libraries it
//! links, the kernel's virtio modules, and what `furnish` adds. For a disk image
//! it is only the first stage, which mounts the disk and hands over to it.
//! Packed as an uncompressed `newc` cpio archive (an uncompressed initramfs
//! unpacks faster under emulation) by busybox's `cpio`.

use crate::furnish::{Layout, furnish};
use crate::kernel::Kernel;
use crate::spec::Recipe;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Printed on the guest's serial console once its services are started.
pub const READY_MARKER: &str = "SANDBOXER-GUEST-READY";
/// The guest's address in QEMU's user network, and its gateway.
pub const GUEST_ADDRESS: &str = "10.0.2.15";
pub const GUEST_GATEWAY: &str = "10.0.2.2";

/// Where the host tools an image is made of are found.
#[derive(Debug, Clone)]
pub struct Tools {
    pub busybox: PathBuf,
    pub dropbear: PathBuf,
    pub dropbearkey: PathBuf,
}

impl Default for Tools {
    fn default() -> Self {
        Tools {
            busybox: "/bin/busybox".into(),
            dropbear: "/usr/sbin/dropbear".into(),
            dropbearkey: "/usr/bin/dropbearkey".into(),
        }
    }
}

/// What a build leaves: the archive and the guest's ssh host key line.
pub struct Built {
    pub initramfs: PathBuf,
    /// `ssh-ed25519 AAAA…` of the guest's host key.
    pub host_key: String,
}

/// Builds the initramfs of `recipe` into `out` (a new file), working in `work`.
/// `extension_key` is the extension's own public key (it runs commands as root).
pub fn build(
    recipe: &Recipe,
    kernel: &Kernel,
    extension_key: &str,
    tools: &Tools,
    work: &Path,
    out: &Path,
) -> Result<Built, String> {
    let root = work.join("root");
    let modules = base_tree(&root, tools, &kernel.modules)?;
    copy(&tools.dropbear, &root.join("sbin/dropbear"), 0o755)?;
    for library in linked_libraries(&tools.dropbear)? {
        let inside = root.join(library.strip_prefix("/").unwrap_or(&library));
        fs::create_dir_all(inside.parent().unwrap()).map_err(|e| e.to_string())?;
        copy(&library, &inside, 0o755)?;
    }
    write(
        &root,
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\n",
        0o644,
    )?;
    write(&root, "etc/group", "root:x:0:\n", 0o644)?;
    write(&root, "etc/shells", "/bin/sh\n", 0o644)?;
    write(&root, "etc/hosts", "127.0.0.1 localhost sandbox\n", 0o644)?;
    write(
        &root,
        "etc/profile",
        "for f in /etc/profile.d/*.sh; do [ -r \"$f\" ] && . \"$f\"; done\n",
        0o644,
    )?;
    write(&root, "init", INIT, 0o755)?;
    let layout = Layout {
        dropbear: "/sbin/dropbear",
        modules,
    };
    let host_key = furnish(&root, recipe, extension_key, tools, &layout)?;
    pack(&tools.busybox, &root, out)?;
    Ok(Built {
        initramfs: out.to_path_buf(),
        host_key,
    })
}

/// Builds the first stage of a disk image's boot into `out`: busybox and the
/// kernel's modules (disk ones included), and an `/init` that loads them, mounts
/// the disk and hands over to its `/sbin/sandboxer-init`.
pub fn build_stage1(
    modules: &[PathBuf],
    tools: &Tools,
    work: &Path,
    out: &Path,
) -> Result<(), String> {
    let root = work.join("stage1");
    let order = base_tree(&root, tools, modules)?;
    let mut init = String::from(
        "#!/bin/busybox sh\n/bin/busybox --install -s /bin\nmount -t proc proc /proc\n\
         mount -t sysfs sys /sys\nmount -t devtmpfs dev /dev\n",
    );
    for m in &order {
        init.push_str(&format!("insmod {m}\n"));
    }
    init.push_str(&format!(
        "mkdir -p /newroot\nmount -t ext4 -o rw {DISK} /newroot || {{ echo 'no root disk'; poweroff -f; }}\n\
         umount /proc /sys\nmount --move /dev /newroot/dev\nexec switch_root /newroot {DISK_INIT}\n"
    ));
    write(&root, "init", &init, 0o755)?;
    pack(&tools.busybox, &root, out)
}

/// The guest's disk, and the program the first stage hands over to on it.
pub const DISK: &str = "/dev/vda";
pub const DISK_INIT: &str = "/sbin/sandboxer-init";

/// PID 1 on a disk image, started by the first stage: busybox's applets in a
/// folder of their own (the boot script's `ip`, `insmod`; never ahead of
/// Debian's programs on a user's PATH), the kernel's file systems, then busybox
/// `init` (Debian's busybox) with the table `furnish` wrote.
pub const DISK_INIT_SCRIPT: &str = "#!/bin/busybox sh
/bin/busybox mkdir -p /usr/lib/sandboxer/bin
/bin/busybox --install -s /usr/lib/sandboxer/bin
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mkdir -p /dev/pts && /bin/busybox mount -t devpts devpts /dev/pts
/bin/busybox mount -t tmpfs -o mode=0755 run /run
exec /bin/busybox init
";

/// The folders, busybox and the modules every initramfs has; the modules'
/// paths in the guest, in load order.
fn base_tree(root: &Path, tools: &Tools, modules: &[PathBuf]) -> Result<Vec<String>, String> {
    for dir in [
        "bin",
        "sbin",
        "etc/sandboxer/services",
        "root/.ssh",
        "proc",
        "sys",
        "dev",
        "tmp",
        "run",
        "var/log",
        "lib/modules",
        "usr/bin",
        "usr/sbin",
    ] {
        fs::create_dir_all(root.join(dir)).map_err(|e| format!("{dir}: {e}"))?;
    }
    std::os::unix::fs::symlink("/run", root.join("var/run")).map_err(|e| e.to_string())?;
    copy(&tools.busybox, &root.join("bin/busybox"), 0o755)?;
    let mut order = vec![];
    for module in modules {
        let name = module.file_name().unwrap().to_string_lossy().into_owned();
        copy(module, &root.join("lib/modules").join(&name), 0o644)?;
        order.push(format!("/lib/modules/{name}"));
    }
    Ok(order)
}

/// PID 1 until busybox's `init` takes over: the applets, the kernel's file
/// systems, then `init` (which reaps, and runs `/etc/inittab`).
const INIT: &str = "#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=0755 run /run
exec /bin/init
";

fn write(root: &Path, relative: &str, content: &str, mode: u32) -> Result<(), String> {
    let path = root.join(relative);
    fs::write(&path, content).map_err(|e| format!("{relative}: {e}"))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())
}

fn copy(from: &Path, to: &Path, mode: u32) -> Result<(), String> {
    fs::copy(from, to).map_err(|e| format!("{}: {e}", from.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())
}

/// The shared libraries `binary` loads (with the loader), by `ldd`.
fn linked_libraries(binary: &Path) -> Result<Vec<PathBuf>, String> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| format!("ldd: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ldd {}: {}",
            binary.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|word| word.starts_with('/'))
        .map(PathBuf::from)
        .collect())
}

/// Packs `root` into a `newc` cpio archive at `out`, every file owned by root.
fn pack(busybox: &Path, root: &Path, out: &Path) -> Result<(), String> {
    let mut list = String::new();
    collect(root, Path::new("."), &mut list).map_err(|e| e.to_string())?;
    let archive = fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut child = Command::new(busybox)
        .args(["cpio", "-o", "-H", "newc", "-R", "0:0"])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(archive)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("busybox cpio: {e}"))?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(list.as_bytes())
        .map_err(|e| e.to_string())?;
    let done = child.wait_with_output().map_err(|e| e.to_string())?;
    if !done.status.success() {
        return Err(format!(
            "busybox cpio: {}",
            String::from_utf8_lossy(&done.stderr)
        ));
    }
    Ok(())
}

/// Every path under `dir`, parents first, sorted (the archive is reproducible
/// in its order).
fn collect(root: &Path, dir: &Path, list: &mut String) -> std::io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(root.join(dir))?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = dir.join(entry.file_name());
        list.push_str(&path.to_string_lossy());
        list.push('\n');
        if entry.file_type()?.is_dir() {
            collect(root, &path, list)?;
        }
    }
    Ok(())
}
