//! What sandboxer puts into every guest's root, whichever kind of image holds
//! it: the keys let in as root over ssh, a host key made for the image,
//! busybox `init`'s table (dropbear, the recipe's services, the ready marker),
//! the first boot steps and the recipe's files.
//!
//! Nothing the recipe says reaches a shell on the host: files are written by
//! this process (never through a link out of the tree, see `tree`), services
//! become scripts inside the image.

use crate::initramfs::{GUEST_ADDRESS, GUEST_GATEWAY, READY_MARKER, Tools};
use crate::spec::Recipe;
use crate::tree;
use std::path::Path;
use std::process::{Command, Stdio};

/// Where the guest's programs are, which differs between kinds of image.
pub struct Layout {
    /// dropbear inside the guest.
    pub dropbear: &'static str,
    /// Modules the boot script loads (`/lib/modules/…` in the guest), in order;
    /// empty when an earlier stage loaded them.
    pub modules: Vec<String>,
}

/// Furnishes `root` for `recipe`; the guest's host key line (`ssh-ed25519 AAAA…`).
pub fn furnish(
    root: &Path,
    recipe: &Recipe,
    extension_key: &str,
    tools: &Tools,
    layout: &Layout,
) -> Result<String, String> {
    let mut keys = format!("{}\n", extension_key.trim());
    for key in &recipe.authorized_keys {
        keys.push_str(key.trim());
        keys.push('\n');
    }
    tree::write(root, "/root/.ssh/authorized_keys", keys.as_bytes(), 0o600)?;
    std::fs::set_permissions(
        root.join("root/.ssh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .map_err(|e| e.to_string())?;
    // Made beside the tree, then written into it like any other file.
    let made = root.with_extension("host-key");
    let host_key = make_host_key(tools, &made)?;
    let key_file = std::fs::read(&made).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&made);
    tree::write(
        root,
        "/etc/dropbear/dropbear_ed25519_host_key",
        &key_file,
        0o600,
    )?;
    let mut inittab = format!(
        "::sysinit:/etc/sandboxer/boot\n::respawn:{} -F -s -p 22 -r /etc/dropbear/dropbear_ed25519_host_key\n",
        layout.dropbear
    );
    for (i, service) in recipe.services.iter().enumerate() {
        let script = format!(
            "#!/bin/sh\n# service {i} of the recipe\nexec /bin/sh -c {} >>/var/log/service-{i}.log 2>&1\n",
            shlex::try_quote(service).map_err(|e| format!("services[{i}]: {e}"))?
        );
        tree::write(
            root,
            &format!("/etc/sandboxer/services/{i}"),
            script.as_bytes(),
            0o755,
        )?;
        inittab.push_str(&format!("::respawn:/etc/sandboxer/services/{i}\n"));
    }
    inittab.push_str(&format!(
        "::once:/bin/sh -c 'echo {READY_MARKER} > /dev/ttyS0'\n::ctrlaltdel:/bin/busybox poweroff -f\n"
    ));
    tree::write(root, "/etc/inittab", inittab.as_bytes(), 0o644)?;
    tree::write(
        root,
        "/etc/profile.d/sandboxer-secrets.sh",
        crate::secrets::LOGIN_SCRIPT.as_bytes(),
        0o644,
    )?;
    tree::write(
        root,
        "/etc/sandboxer/boot",
        boot_script(&layout.modules).as_bytes(),
        0o755,
    )?;
    for (path, content) in &recipe.files {
        let mode = if content.starts_with("#!") {
            0o755
        } else {
            0o644
        };
        tree::write(root, path, content.as_bytes(), mode)?;
    }
    Ok(host_key)
}

/// The guest's first steps: modules, network (QEMU's user network, static), name.
fn boot_script(modules: &[String]) -> String {
    let mut script = String::from("#!/bin/sh\nexport PATH=/usr/lib/sandboxer/bin:$PATH\n");
    for m in modules {
        script.push_str(&format!("insmod {m}\n"));
    }
    script.push_str(&format!(
        "ip link set lo up
ip link set eth0 up
ip addr add {GUEST_ADDRESS}/24 dev eth0
ip route add default via {GUEST_GATEWAY}
hostname sandbox
"
    ));
    script
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
