//! A raw protocol peer: the kit's side of one extension process. It only spawns
//! the executable and speaks lines, so it works with an extension in any language;
//! it keeps every line sent and received and all of stderr, for evidence.

use sandboxer_ext_protocol::methods;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One line of the conversation.
#[derive(Debug, Clone)]
pub enum Line {
    Sent(String),
    Received(String),
}

pub struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: Arc<Mutex<Vec<String>>>,
    /// Set when stderr reaches end of file.
    stderr_closed: Arc<std::sync::atomic::AtomicBool>,
    /// Every line seen on stdout, in order.
    pub stdout_lines: Vec<String>,
    /// The conversation, in order.
    pub transcript: Vec<Line>,
    /// Notifications received and not yet looked at, with the time they came.
    pending: VecDeque<Value>,
    /// Every notification received, in order.
    pub notifications: Vec<Value>,
    next_id: i64,
    /// Deadline of an ordinary call.
    pub call_timeout: Duration,
    /// Where stdout lines that are not JSON-RPC 2.0 are reported, for the run's
    /// every-session check.
    stray: Option<Arc<Mutex<Vec<String>>>>,
    /// Ids whose answer was given up on (its wait timed out): a late answer to
    /// one is skipped rather than taken for the answer to a later call.
    abandoned: Vec<Value>,
}

/// Whether `line` is a JSON-RPC 2.0 message: an object with `"jsonrpc": "2.0"`
/// and a method or an id.
pub fn is_json_rpc(line: &str) -> bool {
    serde_json::from_str::<Value>(line).is_ok_and(|m| {
        m["jsonrpc"] == "2.0" && (m.get("method").is_some() || m.get("id").is_some())
    })
}

fn truncate(line: &str) -> String {
    const MAX: usize = 600;
    if line.len() <= MAX {
        return line.to_string();
    }
    let mut cut = MAX;
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes)", &line[..cut], line.len())
}

impl Peer {
    /// Starts `executable` with `args` (normally `--stdio`).
    pub fn spawn(
        executable: &Path,
        args: &[&str],
        call_timeout: Duration,
    ) -> std::io::Result<Peer> {
        let mut child = Command::new(executable)
            .args(args)
            .env("SANDBOXER_PROTOCOL", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let (tx, rx) = channel();
        let stdout = child.stdout.take().expect("piped");
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf)
                            .trim_end_matches(['\n', '\r'])
                            .to_string();
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let stderr_lines = Arc::new(Mutex::new(Vec::new()));
        let stderr_closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (sink, closed) = (stderr_lines.clone(), stderr_closed.clone());
        let stderr = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().expect("stderr poisoned").push(line);
            }
            closed.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        Ok(Peer {
            stdin: child.stdin.take(),
            child,
            stdout: rx,
            stderr: stderr_lines,
            stderr_closed,
            stdout_lines: Vec::new(),
            transcript: Vec::new(),
            pending: VecDeque::new(),
            notifications: Vec::new(),
            next_id: 0,
            call_timeout,
            stray: None,
            abandoned: Vec::new(),
        })
    }

    /// Reports every stdout line that is not JSON-RPC into `sink`.
    pub fn report_stray_lines(&mut self, sink: Arc<Mutex<Vec<String>>>) {
        self.stray = Some(sink);
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes one line (a `\n` is added).
    pub fn send_line(&mut self, line: &str) {
        self.transcript.push(Line::Sent(truncate(line)));
        if let Some(stdin) = &mut self.stdin {
            let _ = writeln!(stdin, "{line}");
            let _ = stdin.flush();
        }
    }

    pub fn send(&mut self, message: &Value) {
        self.send_line(&message.to_string());
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// The next raw stdout line within `timeout`.
    pub fn recv_line(&mut self, timeout: Duration) -> Result<String, String> {
        match self.stdout.recv_timeout(timeout) {
            Ok(line) => {
                self.transcript.push(Line::Received(truncate(&line)));
                self.stdout_lines.push(line.clone());
                if let Some(sink) = &self.stray
                    && !is_json_rpc(&line)
                {
                    sink.lock()
                        .expect("stray lines poisoned")
                        .push(truncate(&line));
                }
                if let Ok(msg) = serde_json::from_str::<Value>(&line)
                    && msg.get("method").is_some()
                    && msg.get("id").is_none()
                {
                    self.notifications.push(msg);
                }
                Ok(line)
            }
            Err(RecvTimeoutError::Timeout) => Err(format!(
                "no line on stdout within {}s",
                timeout.as_secs_f64()
            )),
            Err(RecvTimeoutError::Disconnected) => {
                Err("stdout closed (the extension exited?)".into())
            }
        }
    }

    /// The next message (notifications included) within `timeout`. Lines that
    /// are not JSON are skipped here (they stay in `stdout_lines`, where the
    /// framing check finds them), so one fault fails the check that covers it and
    /// not every check after it.
    pub fn recv(&mut self, timeout: Duration) -> Result<Value, String> {
        if let Some(n) = self.pending.pop_front() {
            return Ok(n);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let line = self.recv_line(deadline.saturating_duration_since(Instant::now()))?;
            if let Ok(msg) = serde_json::from_str(&line) {
                return Ok(msg);
            }
        }
    }

    /// Waits for the answer to a request sent earlier with id `id`.
    pub fn response_to(&mut self, id: &Value, timeout: Duration) -> Result<Value, String> {
        self.take_response(id, timeout)
    }

    fn take_response(&mut self, id: &Value, timeout: Duration) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.recv_line(left) {
                Ok(line) => line,
                Err(e) => {
                    self.abandoned.push(id.clone());
                    return Err(e);
                }
            };
            let Ok(msg) = serde_json::from_str::<Value>(&line) else {
                continue; // See `recv`.
            };
            if msg.get("method").is_some() && msg.get("id").is_none() {
                self.pending.push_back(msg);
                continue;
            }
            if msg.get("id") == Some(id) {
                return Ok(msg);
            }
            if msg
                .get("id")
                .is_some_and(|late| self.abandoned.contains(late))
            {
                continue;
            }
            return Err(format!(
                "expected the answer to id {id}, got {}",
                truncate(&line)
            ));
        }
    }

    /// Sends a request with a fresh numeric id and waits for its answer (the whole
    /// response object).
    pub fn request(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let timeout = self.call_timeout;
        self.request_within(method, params, timeout)
    }

    pub fn request_within(
        &mut self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, String> {
        self.next_id += 1;
        let id = json!(self.next_id);
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.take_response(&id, timeout)
    }

    /// Sends a request with a chosen id and waits for the answer carrying it.
    pub fn request_with_id(
        &mut self,
        id: Value,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let timeout = self.call_timeout;
        self.take_response(&id, timeout)
    }

    /// A fresh request id (for pipelining).
    pub fn fresh_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// The result of a request that must succeed.
    pub fn ok(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let answer = self.request(method, params)?;
        answer
            .get("result")
            .cloned()
            .ok_or_else(|| format!("{method} failed: {}", truncate(&answer.to_string())))
    }

    /// Does the handshake; returns the initialize result.
    pub fn initialize(&mut self, options: &Value) -> Result<Value, String> {
        let result = self.ok(
            methods::Initialize::METHOD,
            json!({"protocol_version": "1.0", "host": {"name": "sandboxer-conformance",
                   "version": env!("CARGO_PKG_VERSION")}, "options": options}),
        )?;
        self.notify(methods::Initialized::METHOD, json!({}));
        Ok(result)
    }

    /// Notifications received since the last call of this, removed from the queue.
    pub fn drain_notifications(&mut self) -> Vec<Value> {
        self.pending.drain(..).collect()
    }

    /// Waits `quiet` for anything more on stdout; returns what came.
    pub fn collect_for(&mut self, quiet: Duration) -> Vec<Value> {
        let mut got = vec![];
        while let Ok(line) = self.recv_line(quiet) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                got.push(v);
            }
        }
        got
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn sigterm(&self) {
        // SAFETY: kill only sends a signal to our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
    }

    /// Waits (up to `timeout`) until stderr is read to its end: after the process
    /// exited, this makes `stderr_text` complete.
    pub fn settle_stderr(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.stderr_closed.load(std::sync::atomic::Ordering::SeqCst)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// All of stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().expect("stderr poisoned").join("\n")
    }

    /// The last `n` lines of stderr.
    pub fn stderr_tail(&self, n: usize) -> String {
        let lines = self.stderr.lock().expect("stderr poisoned");
        let start = lines.len().saturating_sub(n);
        lines[start..].join("\n")
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stdin = None;
        if self.wait_exit(Duration::from_millis(300)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
