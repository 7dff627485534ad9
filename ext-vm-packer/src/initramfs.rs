//! The guest's root file system, built from a recipe: busybox (its `init` runs
//! the guest), dropbear with the libraries it links, the kernel's virtio modules,
//! the recipe's files and services, the keys let in over ssh, and a host key made
//! for this image. Packed as an uncompressed `newc` cpio archive (an uncompressed
//! initramfs unpacks faster under emulation) by busybox's `cpio`.
//!
//! Nothing the recipe says reaches a shell on the host: files are written by
//! this process, services become scripts inside the image.

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
    for dir in [
        "bin",
        "sbin",
        "etc/dropbear",
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
    copy(&tools.dropbear, &root.join("sbin/dropbear"), 0o755)?;
    for library in linked_libraries(&tools.dropbear)? {
        let inside = root.join(library.strip_prefix("/").unwrap_or(&library));
        fs::create_dir_all(inside.parent().unwrap()).map_err(|e| e.to_string())?;
        copy(&library, &inside, 0o755)?;
    }
    let mut order = String::new();
    for module in &kernel.modules {
        let name = module.file_name().unwrap();
        copy(module, &root.join("lib/modules").join(name), 0o644)?;
        order.push_str(&format!("/lib/modules/{}\n", name.to_string_lossy()));
    }
    write(&root, "etc/sandboxer/modules", &order, 0o644)?;
    write(
        &root,
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\n",
        0o644,
    )?;
    write(&root, "etc/group", "root:x:0:\n", 0o644)?;
    write(&root, "etc/shells", "/bin/sh\n", 0o644)?;
    write(&root, "etc/hosts", "127.0.0.1 localhost sandbox\n", 0o644)?;
    let mut keys = format!("{}\n", extension_key.trim());
    for key in &recipe.authorized_keys {
        keys.push_str(key.trim());
        keys.push('\n');
    }
    write(&root, "root/.ssh/authorized_keys", &keys, 0o600)?;
    fs::set_permissions(root.join("root/.ssh"), fs::Permissions::from_mode(0o700))
        .map_err(|e| e.to_string())?;
    let host_key = make_host_key(tools, &root.join("etc/dropbear/dropbear_ed25519_host_key"))?;
    let mut inittab =
        String::from("::sysinit:/etc/sandboxer/boot\n::respawn:/sbin/dropbear -F -s -p 22\n");
    for (i, service) in recipe.services.iter().enumerate() {
        let script = format!(
            "#!/bin/sh\n# service {i} of the recipe\nexec /bin/sh -c {} >>/var/log/service-{i}.log 2>&1\n",
            shlex::try_quote(service).map_err(|e| format!("services[{i}]: {e}"))?
        );
        write(
            &root,
            &format!("etc/sandboxer/services/{i}"),
            &script,
            0o755,
        )?;
        inittab.push_str(&format!("::respawn:/etc/sandboxer/services/{i}\n"));
    }
    inittab.push_str(&format!(
        "::once:/bin/sh -c 'echo {READY_MARKER} > /dev/ttyS0'\n::ctrlaltdel:/bin/poweroff -f\n"
    ));
    write(&root, "etc/inittab", &inittab, 0o644)?;
    write(&root, "etc/sandboxer/boot", &boot_script(), 0o755)?;
    write(&root, "init", INIT, 0o755)?;
    for (path, content) in &recipe.files {
        let relative = path.trim_start_matches('/');
        let mode = if content.starts_with("#!") {
            0o755
        } else {
            0o644
        };
        if let Some(parent) = Path::new(relative).parent() {
            fs::create_dir_all(root.join(parent)).map_err(|e| format!("{path}: {e}"))?;
        }
        write(&root, relative, content, mode)?;
    }
    pack(&tools.busybox, &root, out)?;
    Ok(Built {
        initramfs: out.to_path_buf(),
        host_key,
    })
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

/// The guest's first steps: modules, network (QEMU's user network, static), name.
fn boot_script() -> String {
    format!(
        "#!/bin/sh
for m in $(cat /etc/sandboxer/modules); do insmod \"$m\"; done
ip link set lo up
ip link set eth0 up
ip addr add {GUEST_ADDRESS}/24 dev eth0
ip route add default via {GUEST_GATEWAY}
hostname sandbox
"
    )
}

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

/// A new ed25519 host key at `path` (dropbear's format); its public line.
fn make_host_key(tools: &Tools, path: &Path) -> Result<String, String> {
    let out = Command::new(&tools.dropbearkey)
        .args(["-t", "ed25519", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("dropbearkey: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with("ssh-ed25519 "))
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .ok_or_else(|| {
            format!(
                "dropbearkey gave no key: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
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
