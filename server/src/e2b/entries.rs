//! What envd says of paths: sandboxer's file facts in envd's terms (Go's
//! mode bits and permission string), and a folder's listing `depth` levels
//! down — shared by the filesystem RPCs and the watchers.

use super::access::Envd;
use super::errors::RpcResult;
use sandboxer_core::api::{FileQuery, Verbs};
use sandboxer_e2b::envd::{EntryInfo, FileType};
use sandboxer_ext_protocol::{FileInfo, FileKind};

/// Go's `os.ModeDir` and `os.ModeSymlink`: envd reports Go's mode bits.
const GO_MODE_DIR: u32 = 1 << 31;
const GO_MODE_SYMLINK: u32 = 1 << 27;

/// What envd says of a path, from what the sandbox's extension said.
pub fn entry_of(info: &FileInfo) -> EntryInfo {
    let (kind, type_bits, letter) = match info.kind {
        FileKind::File => (FileType::File, 0, '-'),
        FileKind::Dir => (FileType::Directory, GO_MODE_DIR, 'd'),
        FileKind::Symlink => (FileType::Symlink, GO_MODE_SYMLINK, 'L'),
        FileKind::Other => (FileType::Unspecified, 0, '?'),
    };
    let perm = info.mode & 0o777;
    let mut permissions = String::from(letter);
    for (i, c) in "rwxrwxrwx".chars().enumerate() {
        permissions.push(if perm & (1 << (8 - i)) != 0 { c } else { '-' });
    }
    EntryInfo {
        name: info.name.clone(),
        kind,
        path: info.path.clone(),
        size: info.size,
        mode: perm | type_bits,
        permissions,
        owner: String::new(),
        group: String::new(),
        modified_time: chrono::DateTime::from_timestamp(info.modified_unix, 0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        symlink_target: info.link_target.clone(),
        is_symlink: info.kind == FileKind::Symlink,
    }
}

/// What a folder holds, `depth` levels down.
pub async fn listing(envd: &Envd, path: &str, depth: u32) -> RpcResult<Vec<EntryInfo>> {
    let mut entries = vec![];
    let mut level = vec![path.to_string()];
    for _ in 0..depth.max(1) {
        let mut next = vec![];
        for folder in level {
            for info in envd
                .verbs
                .list_files(envd.id(), &FileQuery::at(&folder))
                .await?
            {
                if info.kind == FileKind::Dir {
                    next.push(info.path.clone());
                }
                entries.push(entry_of(&info));
            }
        }
        level = next;
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_carry_gos_mode_bits_and_permissions() {
        let info = |kind, mode| FileInfo {
            name: "a".into(),
            path: "/w/a".into(),
            kind,
            size: 3,
            mode,
            modified_unix: 0,
            link_target: None,
        };
        let dir = entry_of(&info(FileKind::Dir, 0o755));
        assert_eq!(dir.mode, (1 << 31) | 0o755);
        assert_eq!(dir.permissions, "drwxr-xr-x");
        assert_eq!(dir.kind, FileType::Directory);
        let file = entry_of(&info(FileKind::File, 0o640));
        assert_eq!(file.permissions, "-rw-r-----");
        assert_eq!(file.modified_time.as_deref(), Some("1970-01-01T00:00:00Z"));
    }
}
