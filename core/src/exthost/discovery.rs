//! Finding extensions: an executable `sandboxer-ext-<name>` in, in order, each
//! directory of `SANDBOXER_EXTENSION_PATH`, the directory holding the running
//! `sandboxer` binary, then `PATH`. The first hit wins.

use super::HostError;
use sandboxer_ext_protocol::names::validate_extension_name;
use sandboxer_ext_protocol::{EXECUTABLE_PREFIX, EXTENSION_ID_PREFIX};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Colon-separated directories searched first.
pub const EXTENSION_PATH_ENV: &str = "SANDBOXER_EXTENSION_PATH";

/// An extension executable found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// `<name>`, without `ext.`.
    pub name: String,
    pub path: PathBuf,
}

/// The directories searched, in order.
pub fn search_dirs() -> Vec<PathBuf> {
    let split = |v: Option<OsString>| -> Vec<PathBuf> {
        v.map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default()
    };
    let mut dirs = split(std::env::var_os(EXTENSION_PATH_ENV));
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(dir);
    }
    dirs.extend(split(std::env::var_os("PATH")));
    dirs
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Every extension found, first hit per name, sorted by name.
pub fn find_all() -> Vec<Discovered> {
    let mut found: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dir in search_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<(String, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let file = e.file_name().into_string().ok()?;
                let name = file.strip_prefix(EXECUTABLE_PREFIX)?.to_string();
                validate_extension_name(&name).ok()?;
                Some((name, e.path()))
            })
            .filter(|(_, path)| is_executable(path))
            .collect();
        names.sort();
        for (name, path) in names {
            found.entry(name).or_insert(path);
        }
    }
    found
        .into_iter()
        .map(|(name, path)| Discovered { name, path })
        .collect()
}

/// Finds one extension by `<name>` or `ext.<name>`, with a did-you-mean when it
/// is not there.
pub fn find(name: &str) -> Result<Discovered, HostError> {
    let name = name.strip_prefix(EXTENSION_ID_PREFIX).unwrap_or(name);
    validate_extension_name(name).map_err(|e| HostError::BadName(e.to_string()))?;
    let file = format!("{EXECUTABLE_PREFIX}{name}");
    // `which` checks the executable bit and keeps the directories' order.
    if let Ok(dirs) = std::env::join_paths(search_dirs())
        && let Ok(path) = which::which_in(&file, Some(dirs), "/")
    {
        return Ok(Discovered {
            name: name.to_string(),
            path,
        });
    }
    let known = find_all();
    Err(HostError::NotFound {
        name: name.to_string(),
        hint: crate::suggest::hint(name, known.iter().map(|d| d.name.as_str())),
        searched: format!("{EXTENSION_PATH_ENV}, the sandboxer binary's folder and PATH"),
    })
}
