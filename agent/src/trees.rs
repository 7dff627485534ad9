//! Trees in and out as tar streams, a chunk per call. Going in, chunks are fed
//! to an unpacker on a thread of its own in the order of their offsets (a
//! caller may send several at once; each waits for its turn); coming out, a packer
//! thread fills a channel of two chunks, so a reader that stops pulling stops
//! the packing (nothing is buffered whole). A transfer without a call for
//! [`IDLE_LIMIT`] is dropped.

use crate::files::io_error;
use sandboxer_ext_protocol::sdk::{ErrorKind, ErrorObject, ExtResult};
use sandboxer_ext_protocol::{Data, FsTarGetResult, FsTarPutResult, MAX_CHUNK};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long a transfer may wait for its next call.
pub const IDLE_LIMIT: Duration = Duration::from_secs(60);

type Outcome = Result<(), ErrorObject>;

struct Upload {
    path: PathBuf,
    chunks: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    unpacker: Option<tokio::task::JoinHandle<Outcome>>,
    received: u64,
    used: Instant,
    /// Woken whenever `received` moves: chunks waiting for their turn look.
    moved: Arc<tokio::sync::Notify>,
}

struct Download {
    chunks: mpsc::Receiver<io::Result<Vec<u8>>>,
    /// The chunk read ahead, to know whether the one sent is the last.
    ahead: Option<Vec<u8>>,
    used: Instant,
}

/// Every transfer in progress.
#[derive(Default)]
pub struct Transfers {
    uploads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Upload>>>>,
    downloads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Download>>>>,
    counter: AtomicU64,
}

fn unknown(transfer_id: &str) -> ErrorObject {
    ErrorObject::domain(
        ErrorKind::NotFound,
        format!(
            "no transfer {transfer_id:?} (it finished, failed, or waited over {}s for its next \
             chunk); start again without a transfer_id",
            IDLE_LIMIT.as_secs()
        ),
    )
}

/// Reads what the upload's calls send, as one stream.
struct ChunkReader {
    chunks: std::sync::mpsc::Receiver<Vec<u8>>,
    current: io::Cursor<Vec<u8>>,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.current.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            match self.chunks.recv() {
                Ok(next) => self.current = io::Cursor::new(next),
                Err(_) => return Ok(0),
            }
        }
    }
}

/// Writes the packer's output as chunks of [`MAX_CHUNK`] into the channel.
struct ChunkWriter {
    chunks: mpsc::Sender<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self, chunk: Vec<u8>) -> io::Result<()> {
        self.chunks
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the reader went away"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        while self.buf.len() >= MAX_CHUNK {
            let rest = self.buf.split_off(MAX_CHUNK);
            let chunk = std::mem::replace(&mut self.buf, rest);
            self.send(chunk)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = std::mem::take(&mut self.buf);
            self.send(chunk)?;
        }
        Ok(())
    }
}

fn unpack(into: &Path, from: impl Read) -> Outcome {
    let mut archive = tar::Archive::new(from);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    archive.set_unpack_xattrs(false);
    archive
        .unpack(into)
        .map_err(|e| io_error("unpacking a tar stream into", into, e))
}

/// Counts what passes through it.
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Unpacks a whole tar stream read from `from` into folder `into` (made when
/// missing), as a chunked upload does; what follows the archive's end is read
/// and dropped, so the writer never meets a closed pipe. The bytes read.
pub fn unpack_whole(into: &Path, from: impl Read) -> Result<u64, ErrorObject> {
    std::fs::create_dir_all(into).map_err(|e| io_error("making folder", into, e))?;
    let mut counted = Counted {
        inner: from,
        count: 0,
    };
    unpack(into, &mut counted)?;
    io::copy(&mut counted, &mut io::sink()).map_err(|e| io_error("reading after", into, e))?;
    Ok(counted.count)
}

fn pack(path: &Path, into: &mut ChunkWriter) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    let name = path
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut builder = tar::Builder::new(&mut *into);
    builder.follow_symlinks(false);
    if meta.is_dir() {
        builder.append_dir_all(&name, path)?;
    } else {
        builder.append_path_with_name(path, &name)?;
    }
    builder.finish()?;
    drop(builder);
    into.flush()
}

impl Transfers {
    fn next_id(&self, prefix: &str) -> String {
        format!(
            "{prefix}-{}",
            self.counter.fetch_add(1, Ordering::SeqCst) + 1
        )
    }

    /// Drops transfers idle over [`IDLE_LIMIT`].
    pub fn sweep(&self) {
        let now = Instant::now();
        let fresh = |used: Instant| now.duration_since(used) < IDLE_LIMIT;
        self.uploads
            .lock()
            .expect("uploads poisoned")
            .retain(|_, u| u.try_lock().map_or(true, |u| fresh(u.used)));
        self.downloads
            .lock()
            .expect("downloads poisoned")
            .retain(|_, d| d.try_lock().map_or(true, |d| fresh(d.used)));
    }

    /// One chunk of an upload into folder `path`.
    pub async fn put(
        &self,
        path: &str,
        transfer_id: Option<&str>,
        offset: u64,
        data: Data,
        done: bool,
    ) -> ExtResult<FsTarPutResult> {
        let (transfer_id, upload) = match transfer_id {
            Some(id) => {
                let upload = self
                    .uploads
                    .lock()
                    .expect("uploads poisoned")
                    .get(id)
                    .cloned()
                    .ok_or_else(|| unknown(id))?;
                (id.to_string(), upload)
            }
            None => {
                let into = PathBuf::from(path);
                std::fs::create_dir_all(&into).map_err(|e| io_error("making folder", &into, e))?;
                let (tx, rx) = std::sync::mpsc::sync_channel(4);
                let reader = ChunkReader {
                    chunks: rx,
                    current: io::Cursor::new(vec![]),
                };
                let target = into.clone();
                let unpacker = tokio::task::spawn_blocking(move || unpack(&target, reader));
                let id = self.next_id("put");
                let upload = Arc::new(tokio::sync::Mutex::new(Upload {
                    path: into,
                    chunks: Some(tx),
                    unpacker: Some(unpacker),
                    received: 0,
                    used: Instant::now(),
                    moved: Arc::default(),
                }));
                self.uploads
                    .lock()
                    .expect("uploads poisoned")
                    .insert(id.clone(), upload.clone());
                (id, upload)
            }
        };
        // This chunk's turn: every byte before its offset has been fed.
        let mut up = loop {
            let up = upload.lock().await;
            if up.received == offset {
                break up;
            }
            if up.received > offset {
                return Err(ErrorObject::invalid_argument(
                    "offset",
                    format!(
                        "transfer {transfer_id} already has {} bytes; a chunk at {offset} is \
                         a repeat",
                        up.received
                    ),
                ));
            }
            let moved = up.moved.clone();
            let turn = moved.notified();
            tokio::pin!(turn);
            turn.as_mut().enable();
            drop(up);
            if tokio::time::timeout(IDLE_LIMIT, turn).await.is_err() {
                return Err(ErrorObject::domain(
                    ErrorKind::InvalidArgument,
                    format!("transfer {transfer_id}: the bytes before offset {offset} never came"),
                ));
            }
        };
        up.used = Instant::now();
        if up.path != Path::new(path) {
            return Err(ErrorObject::invalid_argument(
                "path",
                format!(
                    "transfer {transfer_id} unpacks into {}, not {path}",
                    up.path.display()
                ),
            ));
        }
        let Some(sender) = up.chunks.clone() else {
            return Err(unknown(&transfer_id));
        };
        let sent = if data.is_empty() {
            Ok(())
        } else {
            let len = data.len() as u64;
            let sent = tokio::task::spawn_blocking(move || sender.send(data.0))
                .await
                .expect("the send task does not panic");
            up.received += len;
            sent
        };
        up.moved.notify_waiters();
        if sent.is_err() || done {
            // Either the unpacker stopped (its error says why) or this was the
            // last chunk: close the stream and wait for the unpack to end.
            up.chunks = None;
            let unpacker = up.unpacker.take().expect("an upload in progress unpacks");
            self.uploads
                .lock()
                .expect("uploads poisoned")
                .remove(&transfer_id);
            let outcome = unpacker.await.map_err(|e| {
                ErrorObject::domain(ErrorKind::Internal, format!("the unpacker failed: {e}"))
            })?;
            outcome?;
            if !done {
                return Err(ErrorObject::domain(
                    ErrorKind::InvalidArgument,
                    "the tar stream ended before its last chunk",
                ));
            }
        }
        Ok(FsTarPutResult {
            transfer_id,
            received: up.received,
        })
    }

    /// The next chunk of a download of `path`.
    pub async fn get(&self, path: &str, transfer_id: Option<&str>) -> ExtResult<FsTarGetResult> {
        let (transfer_id, download) = match transfer_id {
            Some(id) => {
                let download = self
                    .downloads
                    .lock()
                    .expect("downloads poisoned")
                    .get(id)
                    .cloned()
                    .ok_or_else(|| unknown(id))?;
                (id.to_string(), download)
            }
            None => {
                let from = PathBuf::from(path);
                std::fs::symlink_metadata(&from).map_err(|e| io_error("reading", &from, e))?;
                let (tx, rx) = mpsc::channel(2);
                tokio::task::spawn_blocking(move || {
                    let mut writer = ChunkWriter {
                        chunks: tx.clone(),
                        buf: Vec::with_capacity(MAX_CHUNK),
                    };
                    if let Err(e) = pack(&from, &mut writer) {
                        let _ = tx.blocking_send(Err(e));
                    }
                });
                let id = self.next_id("get");
                let download = Arc::new(tokio::sync::Mutex::new(Download {
                    chunks: rx,
                    ahead: None,
                    used: Instant::now(),
                }));
                self.downloads
                    .lock()
                    .expect("downloads poisoned")
                    .insert(id.clone(), download.clone());
                (id, download)
            }
        };
        let mut down = download.lock().await;
        down.used = Instant::now();
        let failed = |e: io::Error| io_error("packing", Path::new(path), e);
        let this = match down.ahead.take() {
            Some(chunk) => Some(chunk),
            None => down.chunks.recv().await.transpose().map_err(failed)?,
        };
        let next = match this {
            Some(_) => down.chunks.recv().await.transpose().map_err(failed)?,
            None => None,
        };
        let eof = next.is_none();
        down.ahead = next;
        if eof {
            self.downloads
                .lock()
                .expect("downloads poisoned")
                .remove(&transfer_id);
        }
        Ok(FsTarGetResult {
            transfer_id,
            data: Data(this.unwrap_or_default()),
            eof,
        })
    }
}
