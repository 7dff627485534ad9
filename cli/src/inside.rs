//! The command line's side of working inside a sandbox: `sandboxer cp` (trees
//! in and out as tar streams, like `docker cp`) and `sandboxer exec -i/-t`
//! (a command as a session: output as it comes, this terminal's input, raw
//! mode and resizes under `-t`, the command's exit status as ours).
//!
//! What comes out of a sandbox is written here only inside the destination:
//! every tar entry is unpacked with `unpack_in`, which refuses entries that
//! climb out (`..`, absolute paths) or go through a link pointing out.

use bytes::Bytes;
use futures::StreamExt;
use sandboxer_core::api::{ByteStream, FileQuery, ResizeRequest, StdinWrite, Verbs};
use sandboxer_core::error::{Error, Result};
use sandboxer_core::operations::{Attached, StartCommand};
use sandboxer_ext_protocol::{Data, ExecExit, FileKind, TerminalSize};
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use tokio::io::AsyncReadExt;

/// One side of a copy: a path here, or `ID:PATH` in a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Local(PathBuf),
    Sandbox { id: String, path: String },
}

impl Place {
    /// `ID:/path` is in a sandbox (the path must be absolute there); anything
    /// else is here (`./a:b` stays local).
    pub fn parse(text: &str) -> Place {
        match text.split_once(':') {
            Some((id, path)) if !id.is_empty() && !id.contains('/') && path.starts_with('/') => {
                Place::Sandbox {
                    id: id.into(),
                    path: path.into(),
                }
            }
            _ => Place::Local(PathBuf::from(text)),
        }
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::Invalid(message.into())
}

fn io(e: std::io::Error) -> Error {
    Error::Invalid(format!("this terminal: {e}"))
}

fn base_name(path: &str) -> Result<String> {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| invalid(format!("{path:?} names no file or folder")))
}

fn parent_of(path: &str) -> String {
    match Path::new(path).parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_string_lossy().into_owned(),
        _ => "/".into(),
    }
}

/// Copies `from` to `to`, one side in a sandbox; the bytes moved.
pub async fn copy(v: &impl Verbs, from: &str, to: &str, service: Option<String>) -> Result<u64> {
    match (Place::parse(from), Place::parse(to)) {
        (Place::Local(src), Place::Sandbox { id, path }) => {
            upload(v, &src, &id, &path, service).await
        }
        (Place::Sandbox { id, path }, Place::Local(dst)) => {
            download(v, &id, &path, &dst, service).await
        }
        (Place::Local(_), Place::Local(_)) => Err(invalid(
            "cp copies into or out of a sandbox: write one side as ID:/path",
        )),
        (Place::Sandbox { .. }, Place::Sandbox { .. }) => Err(invalid(
            "cp copies between this machine and one sandbox, not between two sandboxes",
        )),
    }
}

/// Into a sandbox: into folder `path` when it is one (as `path/NAME`), else
/// as `path` itself.
async fn upload(
    v: &impl Verbs,
    src: &Path,
    id: &str,
    path: &str,
    service: Option<String>,
) -> Result<u64> {
    let meta =
        std::fs::symlink_metadata(src).map_err(|e| invalid(format!("{}: {e}", src.display())))?;
    let at = FileQuery {
        service: service.clone(),
        ..FileQuery::at(path)
    };
    let (folder, name) = match v.stat_file(id, &at).await {
        Ok(info) if info.kind == FileKind::Dir => (
            path.to_string(),
            src.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| invalid(format!("{} names no file", src.display())))?,
        ),
        _ => (parent_of(path), base_name(path)?),
    };
    let body = pack(src.to_path_buf(), name, meta.is_dir());
    let query = FileQuery {
        service,
        ..FileQuery::at(&folder)
    };
    Ok(v.put_tree(id, &query, body).await?.bytes)
}

/// A tar stream of `src` under the name `name`, packed on a thread as it is
/// read (links are kept as links).
fn pack(src: PathBuf, name: String, is_dir: bool) -> ByteStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes>>(4);
    std::thread::spawn(move || {
        struct Sender(tokio::sync::mpsc::Sender<Result<Bytes>>);
        impl Write for Sender {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0
                    .blocking_send(Ok(Bytes::copy_from_slice(buf)))
                    .map_err(|_| std::io::Error::other("the upload stopped"))?;
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let writer = std::io::BufWriter::with_capacity(256 * 1024, Sender(tx.clone()));
        let mut builder = tar::Builder::new(writer);
        builder.follow_symlinks(false);
        let packed = if is_dir {
            builder.append_dir_all(&name, &src)
        } else {
            builder.append_path_with_name(&src, &name)
        }
        .and_then(|_| builder.into_inner().and_then(|mut w| w.flush()));
        if let Err(e) = packed {
            let _ = tx.blocking_send(Err(invalid(format!("packing {}: {e}", src.display()))));
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) }).boxed()
}

/// Out of a sandbox: into folder `dst` when it is one (as `dst/NAME`), else as
/// `dst` itself.
async fn download(
    v: &impl Verbs,
    id: &str,
    path: &str,
    dst: &Path,
    service: Option<String>,
) -> Result<u64> {
    let name = base_name(path)?;
    let (folder, rename) = if dst.is_dir() {
        (dst.to_path_buf(), None)
    } else {
        let parent = dst
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let new_name = dst
            .file_name()
            .ok_or_else(|| invalid(format!("{} names no file", dst.display())))?
            .to_string_lossy()
            .into_owned();
        (parent, Some(new_name))
    };
    let query = FileQuery {
        service,
        ..FileQuery::at(path)
    };
    let tar = v.get_tree(id, &query).await?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Bytes>(4);
    let unpacker = std::thread::spawn(move || unpack(rx, &folder, &name, rename.as_deref()));
    let mut total = 0u64;
    let mut tar = tar;
    while let Some(piece) = tar.next().await {
        let piece = piece?;
        total += piece.len() as u64;
        if tx.send(piece).is_err() {
            break;
        }
    }
    drop(tx);
    unpacker
        .join()
        .map_err(|_| invalid("the unpacker failed"))??;
    Ok(total)
}

/// Reads what the channel carries, as one stream.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.recv() {
                Ok(next) => self.current = next,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Unpacks a tar stream whose entries are under `name` into `folder`, that
/// first component renamed to `rename` when given (unpacked into a staging
/// folder there, then moved). An entry that would land outside stops the
/// unpack with an error.
pub fn unpack(
    rx: std::sync::mpsc::Receiver<Bytes>,
    folder: &Path,
    name: &str,
    rename: Option<&str>,
) -> Result<()> {
    std::fs::create_dir_all(folder).map_err(|e| invalid(format!("{}: {e}", folder.display())))?;
    let staging = rename.map(|_| {
        folder.join(format!(
            ".sandboxer-cp-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ))
    });
    let into = staging.clone().unwrap_or_else(|| folder.to_path_buf());
    let outcome = unpack_entries(rx, &into, name).and_then(|()| match (rename, &staging) {
        (Some(new), Some(staged)) => std::fs::rename(staged.join(name), folder.join(new))
            .map_err(|e| invalid(format!("moving it to {}: {e}", folder.join(new).display()))),
        _ => Ok(()),
    });
    if let Some(staged) = staging {
        let _ = std::fs::remove_dir_all(staged);
    }
    outcome
}

fn unpack_entries(rx: std::sync::mpsc::Receiver<Bytes>, into: &Path, name: &str) -> Result<()> {
    std::fs::create_dir_all(into).map_err(|e| invalid(format!("{}: {e}", into.display())))?;
    let mut archive = tar::Archive::new(ChannelReader {
        rx,
        current: Bytes::new(),
    });
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    let entries = archive
        .entries()
        .map_err(|e| invalid(format!("reading the tar stream: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| invalid(format!("reading the tar stream: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| invalid(format!("a tar entry's name: {e}")))?
            .into_owned();
        let climbs = path.components().any(|c| {
            matches!(
                c,
                Component::ParentDir | Component::RootDir | Component::Prefix(_)
            )
        });
        if climbs || path.components().next() != Some(Component::Normal(name.as_ref())) {
            return Err(invalid(format!(
                "the sandbox sent an entry {} outside {name}: refused, nothing more unpacked",
                path.display()
            )));
        }
        let unpacked = entry
            .unpack_in(into)
            .map_err(|e| invalid(format!("unpacking {}: {e}: refused", path.display())))?;
        if !unpacked {
            return Err(invalid(format!(
                "the sandbox sent {}, which would land outside {}: refused",
                path.display(),
                into.display()
            )));
        }
    }
    Ok(())
}

/// Puts this terminal in raw mode until dropped (under `exec -t`).
struct RawMode;

impl RawMode {
    fn enter() -> Option<RawMode> {
        crossterm::terminal::enable_raw_mode().ok().map(|_| RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

fn terminal_size() -> TerminalSize {
    let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
    TerminalSize { rows, cols }
}

/// Runs a command as a session: its output here as it comes, this process's
/// stdin to it (`interactive`), under a terminal of this one's size (`tty`,
/// which also puts this terminal in raw mode and passes on resizes). The
/// command's exit.
pub async fn session(
    v: &impl Verbs,
    id: &str,
    mut request: StartCommand,
    interactive: bool,
    tty: bool,
) -> Result<ExecExit> {
    use std::io::IsTerminal;
    request.stdin = interactive;
    if tty {
        request.pty = Some(terminal_size());
    }
    let started = v.start_command(id, request).await?;
    let exec_id = started.exec_id;
    let _raw = (tty && std::io::stdin().is_terminal())
        .then(RawMode::enter)
        .flatten();
    let mut output = v.attach(id, &exec_id, Default::default()).await?;
    let shown = async {
        let mut stdout = std::io::stdout();
        let mut stderr = std::io::stderr();
        while let Some(event) = output.next().await {
            match event? {
                Attached::Output { stream, data, .. } => {
                    let out: &mut dyn Write = match stream {
                        sandboxer_ext_protocol::OutputStream::Stderr => &mut stderr,
                        _ => &mut stdout,
                    };
                    out.write_all(&data.0)
                        .and_then(|()| out.flush())
                        .map_err(io)?;
                }
                Attached::Exited(exit) => return Ok(exit),
            }
        }
        Err(invalid("the command's output ended before its exit"))
    };
    let fed = async {
        if !interactive {
            return std::future::pending::<Result<()>>().await;
        }
        let mut stdin = tokio::io::stdin();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = stdin.read(&mut buf).await.map_err(io)?;
            let write = StdinWrite {
                data: Data(buf[..n].to_vec()),
                eof: n == 0,
            };
            v.write_stdin(id, &exec_id, write).await?;
            if n == 0 {
                return std::future::pending::<Result<()>>().await;
            }
        }
    };
    let resized = async {
        if !tty {
            return std::future::pending::<Result<()>>().await;
        }
        let mut winch =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
                .map_err(io)?;
        while winch.recv().await.is_some() {
            let size = terminal_size();
            let request = ResizeRequest {
                rows: size.rows,
                cols: size.cols,
            };
            // A resize that does not arrive is not worth ending the session.
            if let Err(e) = v.resize(id, &exec_id, request).await {
                tracing::debug!("resize: {e}");
            }
        }
        std::future::pending::<Result<()>>().await
    };
    tokio::select! {
        exit = shown => exit,
        Err(e) = fed => Err(e),
        Err(e) = resized => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_a_sandbox_only_with_an_id_and_an_absolute_path() {
        assert_eq!(
            Place::parse("sbx-1:/work/a"),
            Place::Sandbox {
                id: "sbx-1".into(),
                path: "/work/a".into()
            }
        );
        for local in ["./a:b", "a:relative", "/abs/path", ":/x", "dir/x:/y"] {
            assert!(matches!(Place::parse(local), Place::Local(_)), "{local}");
        }
    }

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = tar::Builder::new(vec![]);
        for (name, data) in entries {
            let mut header = tar::Header::new_old();
            header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            out.append(&header, *data).unwrap();
        }
        out.into_inner().unwrap()
    }

    fn feed(bytes: Vec<u8>) -> std::sync::mpsc::Receiver<Bytes> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        std::thread::spawn(move || {
            for piece in bytes.chunks(700) {
                let _ = tx.send(Bytes::copy_from_slice(piece));
            }
        });
        rx
    }

    #[test]
    fn a_tree_lands_inside_the_destination_renamed_as_asked() {
        let dir = tempfile::tempdir().unwrap();
        let tar = tar_of(&[("out/a.txt", b"a"), ("out/sub/b.txt", b"b")]);
        unpack(feed(tar), dir.path(), "out", Some("copy")).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("copy/sub/b.txt")).unwrap(),
            b"b"
        );
        assert!(!dir.path().join("out").exists());
    }

    #[test]
    fn hostile_entries_from_a_sandbox_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let escape = outside.path().join("escaped");
        let climbing = format!("out/../../../../../..{}", escape.display());
        for entries in [
            vec![("out/ok", &b"1"[..]), (climbing.as_str(), &b"x"[..])],
            vec![("other/file", &b"x"[..])],
        ] {
            let err = unpack(feed(tar_of(&entries)), dir.path(), "out", None).unwrap_err();
            assert!(err.to_string().contains("refused"), "{err}");
        }
        assert!(!escape.exists());
        // A link pointing out, then a file through it.
        let mut out = tar::Builder::new(vec![]);
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        out.append_link(&mut link, "out/link", outside.path())
            .unwrap();
        let mut file = tar::Header::new_gnu();
        file.set_size(1);
        file.set_mode(0o644);
        out.append_data(&mut file, "out/link/through", &b"x"[..])
            .unwrap();
        let tar = out.into_inner().unwrap();
        assert!(unpack(feed(tar), dir.path(), "out", None).is_err());
        assert!(!outside.path().join("through").exists());
    }
}
