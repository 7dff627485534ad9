//! Messages of protocol 1.6 for working inside a sandbox: commands as sessions
//! (output streamed as it is produced, stdin, signals, a terminal), files and
//! trees, pause and resume, logs and figures.
//!
//! Bytes travel as [`Data`], a base64 string. No message carries more than
//! [`MAX_CHUNK`] bytes of data, so a line stays far below the 8 MiB limit; a
//! file or a tree larger than that moves in several calls (`fs/read` at
//! offsets, `fs/tar_put` and `fs/tar_get` chunk by chunk, each chunk a call, so
//! the reader sets the pace).
//!
//! Paths name places inside the sandbox and are resolved there (against the
//! sandbox's own root, `..` and symbolic links included): an extension never
//! joins one onto a path of the host.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// The most bytes of data one message carries.
pub const MAX_CHUNK: usize = 1024 * 1024;

/// Bytes on the wire: a base64 string (standard alphabet, padded).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Data(pub Vec<u8>);

impl Data {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for Data {
    fn from(bytes: Vec<u8>) -> Self {
        Data(bytes)
    }
}

impl From<&[u8]> for Data {
    fn from(bytes: &[u8]) -> Self {
        Data(bytes.to_vec())
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Data({} bytes)", self.0.len())
    }
}

impl Serialize for Data {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map(Data)
            .map_err(|e| serde::de::Error::custom(format!("not base64: {e}")))
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// An answer that says only "done": `{}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Ack {}

/// The size of a terminal, in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalSize {
    pub rows: u16,
    pub cols: u16,
}

/// `exec/start` params: a command started in the sandbox, its output kept for
/// `exec/attach` (foreground use is `exec/start` then `exec/attach`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecStartParams {
    pub sandbox_id: String,
    pub argv: Vec<String>,
    /// The working folder, inside the sandbox; the image's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Variables added to the command's environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Which part of a multi-part sandbox runs it; the backend's default when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Run under a terminal of this size (feature `exec.pty`): stdout and
    /// stderr become one `terminal` stream and stdin is the terminal's input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pty: Option<TerminalSize>,
    /// Keep stdin open for `exec/write`; otherwise it reads as empty.
    #[serde(default, skip_serializing_if = "is_false")]
    pub stdin: bool,
    /// Killed after this many seconds; runs until it ends or is signalled when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
}

/// `exec/start` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecStarted {
    /// Names the command in every later call; unique within the sandbox.
    pub exec_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

/// `exec/attach` params: stream a command's output, from chunk `from_seq` on,
/// as `$/output` notifications carrying `output_token`, and answer with its
/// exit once it has ended and all its output was sent. Cancelling the call
/// detaches: the command goes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecAttachParams {
    pub sandbox_id: String,
    pub exec_id: String,
    pub output_token: Value,
    /// The first chunk wanted; chunks older than what the backend keeps are
    /// skipped (the first `seq` sent then says how many were lost).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub from_seq: u64,
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecExit {
    /// The exit status; 128 + the signal's number when a signal ended it, as a
    /// shell reports it.
    pub exit_code: i32,
    /// The signal that ended it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// It was killed at its `timeout_s`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub timed_out: bool,
    /// The `seq` the next chunk would have had: how many chunks it wrote.
    pub next_seq: u64,
}

/// Which stream a chunk of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputStream {
    Stdout,
    Stderr,
    /// A terminal's output (stdout and stderr under a PTY are one stream).
    Terminal,
}

/// `$/output` params, extension to host: one chunk of a stream a call with an
/// `output_token` asked for (`exec/attach`, `sandbox/logs`), always sent before
/// that call's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputParams {
    pub token: Value,
    /// Chunks of one command count from 0 without gaps (except what the
    /// backend no longer kept).
    pub seq: u64,
    pub stream: OutputStream,
    /// For logs: which part of the sandbox wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub data: Data,
}

/// `exec/write` params: bytes for a command's stdin (or its terminal), and
/// whether stdin ends after them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecWriteParams {
    pub sandbox_id: String,
    pub exec_id: String,
    #[serde(default)]
    pub data: Data,
    #[serde(default, skip_serializing_if = "is_false")]
    pub eof: bool,
}

/// A signal a caller may send to a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    /// SIGINT, what Ctrl-C sends.
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGKILL.
    Kill,
    /// SIGHUP.
    Hangup,
}

impl Signal {
    /// The signal's number on Linux.
    pub fn number(self) -> i32 {
        match self {
            Signal::Hangup => 1,
            Signal::Interrupt => 2,
            Signal::Kill => 9,
            Signal::Terminate => 15,
        }
    }
}

/// `exec/signal` params: the signal goes to the command's whole process group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecSignalParams {
    pub sandbox_id: String,
    pub exec_id: String,
    pub signal: Signal,
}

/// `exec/resize` params: a new size for a command's terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecResizeParams {
    pub sandbox_id: String,
    pub exec_id: String,
    #[serde(flatten)]
    pub size: TerminalSize,
}

/// `exec/list` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecListParams {
    pub sandbox_id: String,
}

/// One command a sandbox runs or ran (ended ones are kept a while, so that
/// their output and exit can still be read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecSession {
    pub exec_id: String,
    pub argv: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub pty: bool,
    /// RFC 3339.
    pub started_at: String,
    /// Absent while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExecExit>,
    /// Callers attached to it now (an open terminal counts as activity).
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub attached: u32,
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// `exec/list` result.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExecListResult {
    pub sessions: Vec<ExecSession>,
}

/// `fs/read` params: up to `length` bytes (at most [`MAX_CHUNK`]) from `offset`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsReadParams {
    pub sandbox_id: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub offset: u64,
    /// [`MAX_CHUNK`] when absent or larger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
}

impl FsReadParams {
    /// How many bytes to read: `length`, capped at [`MAX_CHUNK`].
    pub fn wanted(&self) -> usize {
        self.length.map_or(MAX_CHUNK, |n| {
            usize::try_from(n).unwrap_or(MAX_CHUNK).min(MAX_CHUNK)
        })
    }
}

/// `fs/read` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsReadResult {
    pub data: Data,
    /// The file's whole size.
    pub size: u64,
    /// Nothing follows `offset + data.len()`.
    pub eof: bool,
}

/// `fs/write` params: a file created (or emptied) and written, or appended to;
/// a file larger than [`MAX_CHUNK`] is one write then appends. The folders
/// above it are made when missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsWriteParams {
    pub sandbox_id: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub data: Data,
    #[serde(default, skip_serializing_if = "is_false")]
    pub append: bool,
    /// Permission bits of a file this call creates (0644 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// `fs/write` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsWriteResult {
    /// The file's size after the write.
    pub size: u64,
}

/// Params of the calls that name one path: `fs/list`, `fs/stat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsPathParams {
    pub sandbox_id: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// One entry of a folder, or what `fs/stat` says of a path (a symbolic link is
/// described itself, not what it points to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    pub name: String,
    /// The full path inside the sandbox.
    pub path: String,
    pub kind: FileKind,
    pub size: u64,
    /// Permission bits (`0o755` is 493).
    pub mode: u32,
    /// Last modification, seconds since the Unix epoch.
    pub modified_unix: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_target: Option<String>,
}

/// `fs/list` result, entries by name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FsListResult {
    pub entries: Vec<FileInfo>,
}

/// `fs/mkdir` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsMkdirParams {
    pub sandbox_id: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Make missing parents too, and succeed when it exists (`mkdir -p`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub parents: bool,
}

/// `fs/remove` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsRemoveParams {
    pub sandbox_id: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Remove a folder and everything in it; otherwise only files, links and
    /// empty folders.
    #[serde(default, skip_serializing_if = "is_false")]
    pub recursive: bool,
}

/// `fs/rename` params: `from` moved to `to` (replacing a file there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsRenameParams {
    pub sandbox_id: String,
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// `fs/tar_put` params: one chunk of a tar stream unpacked into folder `path`
/// (made when missing). The first call has no `transfer_id` and its answer
/// gives one; later calls carry it and may be sent without waiting for the
/// answers before (each says where it goes by `offset`, and is applied in that
/// order); the call with `done` finishes the unpack and answers once every
/// file is written. A transfer left without calls for a minute is dropped.
///
/// To an extension that declares the feature `fs.tar_from_socket`, the host
/// may instead name a Unix socket it listens on (`from_socket`): the
/// extension connects, reads the whole stream as raw bytes to its end,
/// unpacks it, and answers once (`received` then counts every byte; the
/// chunk fields are unused). No base64, no messages: the way for large trees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsTarPutParams {
    pub sandbox_id: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<String>,
    /// Bytes of the stream before this chunk (0 for the first).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub offset: u64,
    #[serde(default)]
    pub data: Data,
    #[serde(default, skip_serializing_if = "is_false")]
    pub done: bool,
    /// The path of a Unix socket to read the whole stream from (feature
    /// `fs.tar_from_socket` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_socket: Option<String>,
}

/// `fs/tar_put` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsTarPutResult {
    pub transfer_id: String,
    /// Bytes of the tar stream received so far.
    pub received: u64,
}

/// `fs/tar_get` params: the next chunk of a tar stream of `path` (a folder,
/// with everything in it, or one file). The first call names `path` and no
/// `transfer_id`; the answer gives one, which later calls carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsTarGetParams {
    pub sandbox_id: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<String>,
}

/// `fs/tar_get` result: up to [`MAX_CHUNK`] bytes; `eof` on the last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsTarGetResult {
    pub transfer_id: String,
    pub data: Data,
    pub eof: bool,
}

/// `sandbox/pause` and `sandbox/resume` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseParams {
    pub sandbox_id: String,
}

/// `sandbox/logs` params: what the sandbox's processes wrote to their output
/// (the backend's log of it), as `$/output` notifications carrying
/// `output_token`. Without `follow` the call answers once the log so far was
/// sent; with it, when the sandbox stops or the caller cancels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogsParams {
    pub sandbox_id: String,
    pub output_token: Value,
    /// One part of the sandbox only; all of them when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub follow: bool,
    /// Only the last this many lines of each part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<u64>,
}

/// What one part of a sandbox uses, or the sum over all of them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Figures {
    /// Percent of one CPU (200 is two CPUs busy).
    pub cpu_percent: f64,
    pub memory_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit_bytes: Option<u64>,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
    /// Bytes written to the sandbox's own filesystem layer, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_bytes: Option<u64>,
    pub pids: u64,
}

/// `sandbox/metrics` result.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MetricsResult {
    /// RFC 3339: when they were taken.
    pub at: String,
    pub total: Figures,
    /// Per part of the sandbox (compose services), when it has several.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, Figures>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_base64_on_the_wire_and_refuses_anything_else() {
        let d = Data(b"hi\x00\xff".to_vec());
        assert_eq!(serde_json::to_string(&d).unwrap(), r#""aGkA/w==""#);
        assert_eq!(serde_json::from_str::<Data>(r#""aGkA/w==""#).unwrap(), d);
        assert!(serde_json::from_str::<Data>(r#""not base64!""#).is_err());
        assert_eq!(format!("{d:?}"), "Data(4 bytes)");
    }

    #[test]
    fn a_read_never_asks_more_than_a_chunk() {
        let p = |length| FsReadParams {
            sandbox_id: "a".into(),
            path: "/f".into(),
            service: None,
            offset: 0,
            length,
        };
        assert_eq!(p(None).wanted(), MAX_CHUNK);
        assert_eq!(p(Some(10)).wanted(), 10);
        assert_eq!(p(Some(u64::MAX)).wanted(), MAX_CHUNK);
    }
}
