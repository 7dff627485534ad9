//! One running extension process: started with `--stdio` in its own process
//! group, with the environment `environment` gives it (never sandboxer's whole
//! one) and a parent-death signal, so it ends when the process that started it
//! dies; its stderr is forwarded to the log (redacted) and its tail kept for error
//! reports; its exit status is watched.

use super::HostError;
use crate::redact::Redactor;
use std::collections::VecDeque;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout, Command};
use tokio::sync::watch;

const TAIL_LINES: usize = 20;
const TAIL_LINE_CHARS: usize = 400;

/// The last lines an extension wrote to stderr.
#[derive(Debug, Clone, Default)]
pub struct StderrTail {
    lines: Arc<Mutex<VecDeque<String>>>,
    /// Becomes true when stderr reaches end of file.
    closed: Option<watch::Receiver<bool>>,
}

impl StderrTail {
    fn push(&self, line: String) {
        let mut lines = self.lines.lock().expect("stderr tail poisoned");
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        let line = match line.char_indices().nth(TAIL_LINE_CHARS) {
            Some((cut, _)) => format!("{}…", &line[..cut]),
            None => line,
        };
        lines.push_back(line);
    }

    /// The tail as text, one line per line.
    pub fn text(&self) -> String {
        let lines = self.lines.lock().expect("stderr tail poisoned");
        lines
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits (briefly) until stderr is fully read, so a crash report holds the
    /// extension's last words.
    pub async fn settle(&self, within: Duration) -> String {
        if let Some(mut closed) = self.closed.clone() {
            let _ = tokio::time::timeout(within, closed.wait_for(|c| *c)).await;
        }
        self.text()
    }
}

/// A started extension.
pub struct ExtensionProcess {
    pub name: String,
    pid: i32,
    status: watch::Receiver<Option<ExitStatus>>,
    pub stderr: StderrTail,
    /// Set once it was sent SIGKILL: it will not answer, even before its exit is
    /// seen.
    killed: std::sync::atomic::AtomicBool,
}

impl ExtensionProcess {
    /// Starts `path --stdio` with exactly the environment `env`; returns the
    /// process and its stdin and stdout. Everything the extension writes to stderr
    /// passes through `redactor` before it is kept or logged.
    pub fn spawn(
        name: &str,
        path: &Path,
        env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
        redactor: Redactor,
    ) -> Result<(Arc<ExtensionProcess>, ChildStdin, ChildStdout), HostError> {
        let parent = std::process::id() as libc::pid_t;
        let mut command = Command::new(path);
        command
            .arg(sandboxer_ext_protocol::STDIO_FLAG)
            .env_clear()
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: the closure runs in the child between fork and exec and calls
        // only async-signal-safe functions (prctl, getppid, _exit).
        unsafe {
            command.pre_exec(move || {
                // Killed when the thread that started it (a runtime worker, alive
                // as long as sandboxer) dies: nobody can read its answers any more,
                // and an extension that is stuck would not notice its stdin
                // closing. If the parent is already gone, the same holds.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0
                    || libc::getppid() != parent
                {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let mut child = command.spawn().map_err(|source| HostError::Spawn {
            path: path.display().to_string(),
            source,
        })?;
        let pid = child.id().map(|p| p as i32).unwrap_or(0);
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");

        let (closed_tx, closed_rx) = watch::channel(false);
        let tail = StderrTail {
            lines: Default::default(),
            closed: Some(closed_rx),
        };
        let sink = tail.clone();
        let ext_name = name.to_string();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let line = redactor.redact(&line).into_owned();
                tracing::debug!(target: "sandboxer::extension", extension = %ext_name, "{line}");
                sink.push(line);
            }
            let _ = closed_tx.send(true);
        });

        let (status_tx, status_rx) = watch::channel(None);
        tokio::spawn(async move {
            let status = child.wait().await.ok();
            let _ = status_tx.send(status);
        });

        let process = ExtensionProcess {
            name: name.to_string(),
            pid,
            status: status_rx,
            stderr: tail,
            killed: Default::default(),
        };
        Ok((Arc::new(process), stdin, stdout))
    }

    /// Kills the extension and everything it started (its process group).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn kill(&self) {
        if self.pid > 0 && self.status.borrow().is_none() {
            // SAFETY: killpg only sends a signal; the group is the child's own,
            // created with process_group(0), so nothing else is hit.
            unsafe {
                libc::killpg(self.pid, libc::SIGKILL);
            }
            self.killed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The exit status, waiting up to `within` for it.
    pub async fn exit_status(&self, within: Duration) -> Option<ExitStatus> {
        let mut status = self.status.clone();
        match tokio::time::timeout(within, status.wait_for(Option::is_some)).await {
            Ok(Ok(status)) => *status,
            _ => None,
        }
    }

    /// Whether it has exited, or was killed and is about to.
    pub fn has_exited(&self) -> bool {
        self.status.borrow().is_some() || self.killed.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for ExtensionProcess {
    fn drop(&mut self) {
        // Nobody can talk to it any more: do not leave it behind.
        self.kill();
    }
}

/// Describes an exit status for people.
pub fn describe_status(status: Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            _ => s.to_string(),
        },
        None => "still running; it closed its stdout".to_string(),
    }
}
