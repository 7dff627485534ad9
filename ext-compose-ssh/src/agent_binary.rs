//! `sandboxer-agent` as compose-ssh ships it: where the static binary is found
//! here, how it reaches a host (copied once into the host's workdir under a
//! name that changes with the binary) and where it is mounted, read-only, in
//! every service.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where the agent is inside every service.
pub const MOUNT_PATH: &str = "/.sandboxer/agent";
/// Is the agent at `$1/$2` on the host? Exit 3 when not; with `upload` as `$3`,
/// it is copied there from stdin (under a temporary name, then moved, so a
/// half-copied file is never run).
pub const AGENT_SCRIPT: &str = r#"set -eu
dir=$1 name=$2
[ -x "$dir/$name" ] && exit 0
[ "${3:-}" = upload ] || exit 3
mkdir -p "$dir"
tmp="$dir/.$name.$$"
cat > "$tmp"
chmod 755 "$tmp"
mv -f "$tmp" "$dir/$name"
"#;
/// The binary's file name.
const BINARY: &str = "sandboxer-agent";

/// The static agent binary on this machine, and the name it has on hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentBinary {
    pub local: PathBuf,
    /// `sandboxer-agent-<size>-<mtime>`: a rebuilt binary gets a new name, so a
    /// host never runs an old one and sandboxes keep the one they started with.
    pub name: String,
}

/// Whether an ELF file asks for a dynamic loader (a `PT_INTERP` header): such a
/// binary cannot run in an image without the host's C library.
fn is_dynamic(path: &Path) -> std::io::Result<bool> {
    let mut header = [0u8; 64];
    let mut file = std::fs::File::open(path)?;
    file.read_exact(&mut header)?;
    if &header[..4] != b"\x7fELF" || header[4] != 2 {
        return Err(std::io::Error::other("not a 64-bit ELF file"));
    }
    let u16_at = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]) as u64;
    let phoff = u64::from_le_bytes(header[32..40].try_into().expect("8 bytes"));
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    let mut table = vec![0u8; (phentsize * phnum) as usize];
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(phoff))?;
    file.read_exact(&mut table)?;
    const PT_INTERP: u32 = 3;
    Ok(table.chunks(phentsize as usize).any(|h| {
        h.len() >= 4 && u32::from_le_bytes(h[..4].try_into().expect("4 bytes")) == PT_INTERP
    }))
}

/// Candidates for the agent, best first: the configured path; the one next to
/// this executable (an install); the static build of the same profile in a
/// cargo target folder (`target/<triple>/<profile>/`, what `make agent` makes).
fn candidates(configured: Option<&Path>) -> Vec<PathBuf> {
    if let Some(path) = configured {
        return vec![path.to_path_buf()];
    }
    let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    else {
        return vec![];
    };
    let mut found = vec![dir.join(BINARY)];
    if let (Some(profile), Some(target)) = (dir.file_name(), dir.parent()) {
        let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
        found.push(target.join(triple).join(profile).join(BINARY));
    }
    found
}

/// The static agent binary, if one is found; a dynamic one is passed over.
pub fn locate(configured: Option<&Path>) -> Option<AgentBinary> {
    candidates(configured).into_iter().find_map(|local| {
        let meta = std::fs::metadata(&local).ok()?;
        if !meta.is_file() || is_dynamic(&local).unwrap_or(true) {
            return None;
        }
        let name = format!("{BINARY}-{}-{}", meta.len(), meta.mtime());
        Some(AgentBinary { local, name })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_binary_is_passed_over_and_a_missing_one_is_none() {
        // This test binary is linked dynamically.
        let me = std::env::current_exe().unwrap();
        assert!(is_dynamic(&me).unwrap());
        assert_eq!(locate(Some(&me)), None);
        assert_eq!(locate(Some(Path::new("/nonexistent/agent"))), None);
        assert!(is_dynamic(Path::new("/etc/hostname")).is_err());
    }
}
