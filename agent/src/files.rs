//! Files inside the sandbox: read and write in chunks, list, stat, make a
//! folder, remove, rename. The agent runs in the sandbox's own mount namespace,
//! so every path (`..` and symbolic links included) resolves within the
//! sandbox's root; nothing here is joined onto a path of the host. A relative
//! path is taken from the agent's working folder (the image's).

use sandboxer_ext_protocol::sdk::{ErrorKind, ErrorObject, ExtResult};
use sandboxer_ext_protocol::{
    Data, FileInfo, FileKind, FsListResult, FsReadParams, FsReadResult, FsWriteParams,
    FsWriteResult,
};
use std::fs::{self, Metadata, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Permission bits of a file `fs/write` creates when the call names none.
const DEFAULT_FILE_MODE: u32 = 0o644;

/// An I/O error as the protocol's error, naming the path.
pub fn io_error(what: &str, path: &Path, e: io::Error) -> ErrorObject {
    let kind = match e.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => ErrorKind::InvalidArgument,
        io::ErrorKind::DirectoryNotEmpty | io::ErrorKind::IsADirectory => {
            ErrorKind::FailedPrecondition
        }
        io::ErrorKind::NotADirectory => ErrorKind::FailedPrecondition,
        _ => ErrorKind::Internal,
    };
    ErrorObject::domain(kind, format!("{what} {}: {e}", path.display()))
}

fn path_of(path: &str) -> ExtResult<PathBuf> {
    if path.is_empty() {
        return Err(ErrorObject::invalid_argument("path", "path is empty"));
    }
    if path.contains('\0') {
        return Err(ErrorObject::invalid_argument(
            "path",
            "path contains a NUL byte",
        ));
    }
    Ok(PathBuf::from(path))
}

fn kind_of(meta: &Metadata) -> FileKind {
    let t = meta.file_type();
    if t.is_symlink() {
        FileKind::Symlink
    } else if t.is_dir() {
        FileKind::Dir
    } else if t.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    }
}

/// What a path is; a symbolic link is described itself.
pub fn info(path: &Path) -> io::Result<FileInfo> {
    let meta = fs::symlink_metadata(path)?;
    let link_target = meta
        .file_type()
        .is_symlink()
        .then(|| fs::read_link(path).ok())
        .flatten()
        .map(|t| t.to_string_lossy().into_owned());
    Ok(FileInfo {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".into()),
        path: path.to_string_lossy().into_owned(),
        kind: kind_of(&meta),
        size: meta.len(),
        mode: meta.permissions().mode() & 0o7777,
        modified_unix: meta.mtime(),
        link_target,
    })
}

pub fn read(params: &FsReadParams) -> ExtResult<FsReadResult> {
    let path = path_of(&params.path)?;
    let mut file = fs::File::open(&path).map_err(|e| io_error("reading", &path, e))?;
    let meta = file.metadata().map_err(|e| io_error("reading", &path, e))?;
    if meta.is_dir() {
        return Err(ErrorObject::domain(
            ErrorKind::FailedPrecondition,
            format!("{} is a folder (fs/list reads folders)", path.display()),
        ));
    }
    file.seek(SeekFrom::Start(params.offset))
        .map_err(|e| io_error("reading", &path, e))?;
    let mut data = Vec::with_capacity(params.wanted().min(meta.len() as usize));
    file.take(params.wanted() as u64)
        .read_to_end(&mut data)
        .map_err(|e| io_error("reading", &path, e))?;
    let end = params.offset + data.len() as u64;
    Ok(FsReadResult {
        eof: end >= meta.len(),
        size: meta.len(),
        data: Data(data),
    })
}

pub fn write(params: &FsWriteParams) -> ExtResult<FsWriteResult> {
    let path = path_of(&params.path)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| io_error("making the folder of", &path, e))?;
    }
    let mut options = OpenOptions::new();
    options
        .create(true)
        .mode(params.mode.unwrap_or(DEFAULT_FILE_MODE) & 0o7777);
    if params.append {
        options.append(true);
    } else {
        options.write(true).truncate(true);
    }
    let mut file = options
        .open(&path)
        .map_err(|e| io_error("writing", &path, e))?;
    file.write_all(&params.data.0)
        .map_err(|e| io_error("writing", &path, e))?;
    let size = file
        .metadata()
        .map_err(|e| io_error("writing", &path, e))?
        .len();
    Ok(FsWriteResult { size })
}

pub fn list(path: &str) -> ExtResult<FsListResult> {
    let path = path_of(path)?;
    let mut entries = vec![];
    for entry in fs::read_dir(&path).map_err(|e| io_error("listing", &path, e))? {
        let entry = entry.map_err(|e| io_error("listing", &path, e))?;
        // An entry removed while we list is left out.
        if let Ok(i) = info(&entry.path()) {
            entries.push(i);
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(FsListResult { entries })
}

pub fn stat(path: &str) -> ExtResult<FileInfo> {
    let path = path_of(path)?;
    info(&path).map_err(|e| io_error("reading", &path, e))
}

pub fn mkdir(path: &str, parents: bool) -> ExtResult<()> {
    let path = path_of(path)?;
    let made = if parents {
        fs::create_dir_all(&path)
    } else {
        fs::create_dir(&path)
    };
    made.map_err(|e| io_error("making folder", &path, e))
}

pub fn remove(path: &str, recursive: bool) -> ExtResult<()> {
    let path = path_of(path)?;
    let meta = fs::symlink_metadata(&path).map_err(|e| io_error("removing", &path, e))?;
    let removed = match (meta.is_dir(), recursive) {
        (true, true) => fs::remove_dir_all(&path),
        (true, false) => fs::remove_dir(&path),
        (false, _) => fs::remove_file(&path),
    };
    removed.map_err(|e| io_error("removing", &path, e))
}

pub fn rename(from: &str, to: &str) -> ExtResult<()> {
    let (from, to) = (path_of(from)?, path_of(to)?);
    fs::rename(&from, &to).map_err(|e| io_error("renaming", &from, e))
}
