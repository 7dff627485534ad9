//! Writing a recipe's files into a guest's root folder on the host without ever
//! leaving it. A root file system holds links made for the guest (`/var/run →
//! /run`, `/etc/localtime → /usr/share/…`); followed on the host, an absolute one
//! would land outside the folder, in the host's own files. Here a link on the
//! way is followed only when it is relative and stays inside the folder
//! (Debian's `/bin → usr/bin`); the file itself replaces a link in its place and
//! is opened with `O_NOFOLLOW`. Also: how many bytes a folder's files take.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// The host path of guest folder `parts` under `root`, made where missing,
/// with every link on the way resolved inside `root`.
fn folder_inside(root: &Path, parts: &[&str], guest: &str) -> Result<PathBuf, String> {
    let mut at = root.to_path_buf();
    let mut hops = 0;
    let mut queue: Vec<String> = parts.iter().rev().map(|s| s.to_string()).collect();
    while let Some(part) = queue.pop() {
        let next = at.join(&part);
        match fs::symlink_metadata(&next) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                let target = fs::read_link(&next).map_err(|e| format!("{guest}: {e}"))?;
                let inside = target.is_relative()
                    && target
                        .components()
                        .all(|c| matches!(c, Component::Normal(_)));
                if !inside || hops > 8 {
                    return Err(format!(
                        "{guest}: its folder {} is a link leading out of the guest's tree; \
                         write the file at the link's target instead",
                        next.strip_prefix(root).unwrap_or(&next).display()
                    ));
                }
                for c in target.iter().rev() {
                    queue.push(c.to_string_lossy().into_owned());
                }
            }
            Ok(m) if m.is_dir() => at = next,
            Ok(_) => return Err(format!("{guest}: {} is a file, not a folder", part)),
            Err(_) => {
                fs::create_dir(&next).map_err(|e| format!("{guest}: {e}"))?;
                at = next;
            }
        }
    }
    Ok(at)
}

/// Writes `content` at `guest` (an absolute, normal guest path) under `root`
/// with `mode`.
pub fn write(root: &Path, guest: &str, content: &[u8], mode: u32) -> Result<(), String> {
    let parts: Vec<&str> = guest.split('/').filter(|p| !p.is_empty()).collect();
    let Some((name, folders)) = parts.split_last() else {
        return Err(format!("{guest}: not a file path"));
    };
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return Err(format!("{guest}: `.` and `..` are not allowed"));
    }
    let folder = folder_inside(root, folders, guest)?;
    let path = folder.join(name);
    if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
        fs::remove_file(&path).map_err(|e| format!("{guest}: {e}"))?;
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| format!("{guest}: {e}"))?;
    file.write_all(content)
        .map_err(|e| format!("{guest}: {e}"))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{guest}: {e}"))
}

/// Bytes the files under `dir` take (links not followed), counting each file
/// as at least `least_per_file` and each folder as `per_folder`: an image's
/// size with both 0, room for a file system with a block's worth.
pub fn bytes_under(dir: &Path, least_per_file: u64, per_folder: u64) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&e.path(), least_per_file, per_folder) + per_folder,
            _ => e
                .metadata()
                .map(|m| m.len().max(least_per_file))
                .unwrap_or(0),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_folder_is_measured_with_its_rounding() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("a/b")).unwrap();
        fs::write(root.path().join("a/one"), vec![0u8; 100]).unwrap();
        fs::write(root.path().join("a/b/two"), vec![0u8; 1000]).unwrap();
        symlink("/nowhere/big", root.path().join("a/link")).unwrap();
        assert_eq!(
            bytes_under(root.path(), 0, 0),
            1100 + "/nowhere/big".len() as u64
        );
        assert_eq!(
            bytes_under(root.path(), 512, 4096),
            512 + 1000 + 512 + 2 * 4096
        );
    }

    #[test]
    fn relative_links_inside_the_tree_are_followed() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("usr/bin")).unwrap();
        symlink("usr/bin", root.path().join("bin")).unwrap();
        write(root.path(), "/bin/tool", b"x", 0o755).unwrap();
        assert_eq!(fs::read(root.path().join("usr/bin/tool")).unwrap(), b"x");
        write(root.path(), "/new/deep/file", b"y", 0o644).unwrap();
        assert_eq!(fs::read(root.path().join("new/deep/file")).unwrap(), b"y");
    }

    #[test]
    fn no_link_leads_a_write_out_of_the_tree() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("var")).unwrap();
        fs::create_dir_all(root.path().join("etc")).unwrap();
        // A folder link to an absolute path, and one climbing out.
        symlink(outside.path(), root.path().join("var/run")).unwrap();
        symlink("../../..", root.path().join("etc/up")).unwrap();
        assert!(write(root.path(), "/var/run/x", b"x", 0o644).is_err());
        assert!(write(root.path(), "/etc/up/x", b"x", 0o644).is_err());
        // A file link is replaced, not written through.
        let target = outside.path().join("localtime");
        fs::write(&target, b"host's").unwrap();
        symlink(&target, root.path().join("etc/localtime")).unwrap();
        write(root.path(), "/etc/localtime", b"guest's", 0o644).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"host's");
        assert_eq!(
            fs::read(root.path().join("etc/localtime")).unwrap(),
            b"guest's"
        );
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 1);
    }
}
