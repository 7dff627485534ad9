//! Commands as sessions: each started in a process group of its own (under a
//! terminal when asked), its output kept in order as numbered chunks (the last
//! [`KEEP_BYTES`] of it) for any number of attached callers, its stdin open
//! for writes, signals sent to its group, its exit recorded. Ended sessions are
//! kept a while so that a caller who re-attaches still reads the end.

use crate::pty::Terminal;
use sandboxer_ext_protocol::sdk::{ErrorKind, ErrorObject, ExtResult};
use sandboxer_ext_protocol::{
    ExecExit, ExecSession, ExecStartParams, OutputStream, Signal, TerminalSize,
};
use std::collections::{HashMap, VecDeque};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

/// How much of a session's output is kept for callers that attach late.
pub const KEEP_BYTES: usize = 4 * 1024 * 1024;
/// How long an ended session stays listed.
const KEEP_ENDED: Duration = Duration::from_secs(600);
/// The most ended sessions kept at once.
const MAX_ENDED: usize = 64;
/// After a command exits, how long its output may still arrive before the exit
/// is recorded (a background child can hold the pipes open for ever).
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);
/// The most bytes one read of a stream takes (one chunk).
const READ_BYTES: usize = 64 * 1024;

fn not_found(exec_id: &str) -> ErrorObject {
    ErrorObject::domain(
        ErrorKind::NotFound,
        format!("no command {exec_id:?} in this sandbox (exec/list shows those there are)"),
    )
}

/// One chunk of output.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub seq: u64,
    pub stream: OutputStream,
    pub data: Vec<u8>,
}

#[derive(Default)]
struct Output {
    chunks: VecDeque<Chunk>,
    kept: usize,
    next_seq: u64,
    exit: Option<ExecExit>,
    ended_at: Option<Instant>,
}

/// Where a session's stdin goes.
enum Input {
    Pipe(Box<dyn AsyncWrite + Send + Unpin>),
    Terminal,
    Closed,
}

/// One command.
pub struct Session {
    pub exec_id: String,
    argv: Vec<String>,
    started_at: String,
    pid: u32,
    terminal: Option<Terminal>,
    output: Mutex<Output>,
    /// Bumped on every change of `output`; attached callers wait on it.
    changed: watch::Sender<u64>,
    input: tokio::sync::Mutex<Input>,
    attached: AtomicU32,
}

impl Session {
    fn push(&self, stream: OutputStream, data: Vec<u8>) {
        let mut out = self.output.lock().expect("output poisoned");
        let seq = out.next_seq;
        out.next_seq += 1;
        out.kept += data.len();
        out.chunks.push_back(Chunk { seq, stream, data });
        while out.kept > KEEP_BYTES && out.chunks.len() > 1 {
            let old = out.chunks.pop_front().expect("more than one chunk");
            out.kept -= old.data.len();
        }
        drop(out);
        self.changed.send_modify(|n| *n += 1);
    }

    fn finish(&self, exit: ExecExit) {
        let mut out = self.output.lock().expect("output poisoned");
        if out.exit.is_none() {
            out.exit = Some(ExecExit {
                next_seq: out.next_seq,
                ..exit
            });
            out.ended_at = Some(Instant::now());
        }
        drop(out);
        self.changed.send_modify(|n| *n += 1);
    }

    /// The chunks from `from` on, and the exit once every chunk up to it is
    /// among them.
    pub fn since(&self, from: u64) -> (Vec<Chunk>, Option<ExecExit>) {
        let out = self.output.lock().expect("output poisoned");
        let chunks: Vec<Chunk> = out
            .chunks
            .iter()
            .filter(|c| c.seq >= from)
            .cloned()
            .collect();
        (chunks, out.exit.clone())
    }

    /// Waits until the output changes after `seen` was read.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Counts a caller as attached until the guard drops.
    pub fn attach(self: &Arc<Self>) -> AttachGuard {
        self.attached.fetch_add(1, Ordering::SeqCst);
        AttachGuard(self.clone())
    }

    pub fn describe(&self) -> ExecSession {
        let out = self.output.lock().expect("output poisoned");
        ExecSession {
            exec_id: self.exec_id.clone(),
            argv: self.argv.clone(),
            service: None,
            pty: self.terminal.is_some(),
            started_at: self.started_at.clone(),
            exit: out.exit.clone(),
            attached: self.attached.load(Ordering::SeqCst),
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    fn ended_at(&self) -> Option<Instant> {
        self.output.lock().expect("output poisoned").ended_at
    }

    /// Bytes for stdin, then its end when `eof` (under a terminal: the
    /// terminal's end-of-file character).
    pub async fn write(&self, data: &[u8], eof: bool) -> ExtResult<()> {
        let mut input = self.input.lock().await;
        let failed = |e: std::io::Error| {
            ErrorObject::domain(
                ErrorKind::FailedPrecondition,
                format!("command {}'s stdin: {e}", self.exec_id),
            )
        };
        match &mut *input {
            Input::Closed if data.is_empty() => {}
            Input::Closed => {
                return Err(ErrorObject::domain(
                    ErrorKind::FailedPrecondition,
                    format!(
                        "command {}'s stdin is closed (start it with stdin: true to write to it)",
                        self.exec_id
                    ),
                ));
            }
            Input::Pipe(pipe) => {
                pipe.write_all(data).await.map_err(failed)?;
                pipe.flush().await.map_err(failed)?;
                if eof {
                    *input = Input::Closed;
                }
            }
            Input::Terminal => {
                let terminal = self.terminal.as_ref().expect("a terminal session");
                let mut bytes = data.to_vec();
                if eof {
                    bytes.push(terminal.eof_char());
                }
                terminal.write(&bytes).await.map_err(failed)?;
            }
        }
        Ok(())
    }

    /// Sends `signal` to the command's process group (under a terminal, an
    /// interrupt goes to the terminal's foreground group, as Ctrl-C would).
    pub fn signal(&self, signal: Signal) -> ExtResult<()> {
        if self.output.lock().expect("output poisoned").exit.is_some() {
            return Ok(());
        }
        let group = match (&self.terminal, signal) {
            (Some(t), Signal::Interrupt) => t.foreground_group().unwrap_or(self.pid as i32),
            _ => self.pid as i32,
        };
        // SAFETY: kill(2) with a negative pid signals a process group; no memory
        // is touched.
        let rc = unsafe { libc::kill(-group, signal.number()) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ESRCH) {
                return Err(ErrorObject::domain(
                    ErrorKind::Internal,
                    format!("signalling command {}: {e}", self.exec_id),
                ));
            }
        }
        Ok(())
    }

    pub fn resize(&self, size: TerminalSize) -> ExtResult<()> {
        let Some(terminal) = &self.terminal else {
            return Err(ErrorObject::domain(
                ErrorKind::FailedPrecondition,
                format!(
                    "command {} has no terminal to resize (start it with pty)",
                    self.exec_id
                ),
            ));
        };
        terminal.resize(size).map_err(|e| {
            ErrorObject::domain(ErrorKind::Internal, format!("resizing the terminal: {e}"))
        })
    }
}

/// Keeps a session counted as attached.
pub struct AttachGuard(Arc<Session>);

impl Drop for AttachGuard {
    fn drop(&mut self) {
        self.0.attached.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Every session of this agent.
#[derive(Default)]
pub struct Sessions {
    all: Mutex<HashMap<String, Arc<Session>>>,
    counter: AtomicU64,
}

impl Sessions {
    pub fn get(&self, exec_id: &str) -> ExtResult<Arc<Session>> {
        self.all
            .lock()
            .expect("sessions poisoned")
            .get(exec_id)
            .cloned()
            .ok_or_else(|| not_found(exec_id))
    }

    /// Every session, oldest first.
    pub fn list(&self) -> Vec<ExecSession> {
        let mut all: Vec<(u64, ExecSession)> = self
            .all
            .lock()
            .expect("sessions poisoned")
            .values()
            .map(|s| (order_of(&s.exec_id), s.describe()))
            .collect();
        all.sort_by_key(|(n, _)| *n);
        all.into_iter().map(|(_, s)| s).collect()
    }

    /// Whether any command runs or any caller is attached: the sandbox is in use.
    pub fn busy(&self) -> bool {
        self.all
            .lock()
            .expect("sessions poisoned")
            .values()
            .any(|s| {
                s.attached.load(Ordering::SeqCst) > 0
                    || s.output.lock().expect("output poisoned").exit.is_none()
            })
    }

    /// Starts a command.
    pub fn start(&self, params: &ExecStartParams) -> ExtResult<Arc<Session>> {
        self.prune();
        let Some((program, args)) = params.argv.split_first() else {
            return Err(ErrorObject::invalid_argument("argv", "argv is empty"));
        };
        let mut command = tokio::process::Command::new(program);
        command.args(args).envs(&params.env).kill_on_drop(false);
        if let Some(cwd) = &params.cwd {
            command.current_dir(cwd);
        }
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        let exec_id = format!("e-{n}");
        let (tx, _) = watch::channel(0);
        let spawned = match params.pty {
            Some(size) => {
                let (terminal, child) =
                    Terminal::spawn(command, size).map_err(|e| spawn_failed(program, e))?;
                (Some(terminal), child, Input::Terminal, None)
            }
            None => {
                command
                    .process_group(0)
                    .stdin(if params.stdin {
                        Stdio::piped()
                    } else {
                        Stdio::null()
                    })
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                let mut child = command.spawn().map_err(|e| spawn_failed(program, e))?;
                let input = match child.stdin.take() {
                    Some(pipe) => Input::Pipe(Box::new(pipe)),
                    None => Input::Closed,
                };
                let pipes = (
                    child.stdout.take().expect("stdout is piped"),
                    child.stderr.take().expect("stderr is piped"),
                );
                (None, child, input, Some(pipes))
            }
        };
        let (terminal, child, input, pipes) = spawned;
        let pid = child.id().unwrap_or_default();
        let session = Arc::new(Session {
            exec_id: exec_id.clone(),
            argv: params.argv.clone(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            pid,
            terminal,
            output: Mutex::default(),
            changed: tx,
            input: tokio::sync::Mutex::new(input),
            attached: AtomicU32::new(0),
        });
        let mut readers = vec![];
        match (pipes, &session.terminal) {
            (Some((stdout, stderr)), _) => {
                readers.push(tokio::spawn(pump(
                    session.clone(),
                    OutputStream::Stdout,
                    stdout,
                )));
                readers.push(tokio::spawn(pump(
                    session.clone(),
                    OutputStream::Stderr,
                    stderr,
                )));
            }
            (None, Some(terminal)) => {
                readers.push(tokio::spawn(pump(
                    session.clone(),
                    OutputStream::Terminal,
                    terminal.reader(),
                )));
            }
            (None, None) => unreachable!("a session has pipes or a terminal"),
        }
        tokio::spawn(supervise(
            session.clone(),
            child,
            readers,
            params.timeout_s.map(Duration::from_secs),
        ));
        self.all
            .lock()
            .expect("sessions poisoned")
            .insert(exec_id, session.clone());
        Ok(session)
    }

    /// Drops ended sessions older than [`KEEP_ENDED`], and the oldest ended
    /// ones beyond [`MAX_ENDED`].
    fn prune(&self) {
        let mut all = self.all.lock().expect("sessions poisoned");
        let now = Instant::now();
        all.retain(|_, s| {
            s.ended_at()
                .is_none_or(|at| now.duration_since(at) < KEEP_ENDED)
        });
        let mut ended: Vec<(Instant, String)> = all
            .iter()
            .filter_map(|(id, s)| s.ended_at().map(|at| (at, id.clone())))
            .collect();
        if ended.len() > MAX_ENDED {
            ended.sort();
            for (_, id) in &ended[..ended.len() - MAX_ENDED] {
                all.remove(id);
            }
        }
    }
}

fn order_of(exec_id: &str) -> u64 {
    exec_id
        .strip_prefix("e-")
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX)
}

fn spawn_failed(program: &str, e: std::io::Error) -> ErrorObject {
    let kind = match e.kind() {
        std::io::ErrorKind::NotFound => ErrorKind::NotFound,
        std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        _ => ErrorKind::FailedPrecondition,
    };
    ErrorObject::domain(
        kind,
        format!("cannot start {program:?} in the sandbox: {e}"),
    )
}

/// Reads one stream into the session until it ends.
async fn pump(session: Arc<Session>, stream: OutputStream, mut from: impl AsyncRead + Unpin) {
    let mut buf = vec![0u8; READ_BYTES];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => session.push(stream, buf[..n].to_vec()),
        }
    }
}

/// Waits for the command's exit (killing its group at the timeout), lets its
/// output drain, and records how it ended.
async fn supervise(
    session: Arc<Session>,
    mut child: tokio::process::Child,
    readers: Vec<tokio::task::JoinHandle<()>>,
    timeout: Option<Duration>,
) {
    let mut timed_out = false;
    let status = match timeout {
        None => child.wait().await,
        Some(limit) => match tokio::time::timeout(limit, child.wait()).await {
            Ok(status) => status,
            Err(_) => {
                timed_out = true;
                let _ = session.signal(Signal::Kill);
                child.wait().await
            }
        },
    };
    let drained = async {
        for r in readers {
            let _ = r.await;
        }
    };
    let _ = tokio::time::timeout(DRAIN_AFTER_EXIT, drained).await;
    let (exit_code, signal) = match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => (code, None),
            (None, Some(sig)) => (128 + sig, Some(sig)),
            (None, None) => (-1, None),
        },
        Err(_) => (-1, None),
    };
    *session.input.lock().await = Input::Closed;
    session.finish(ExecExit {
        exit_code,
        signal,
        timed_out,
        next_seq: 0,
    });
}
