//! Commands in a guest, over ssh to its forwarded loopback port: the extension's
//! own key, the guest's host key pinned from its image (no trust on first use),
//! the argv quoted once for the guest's shell. The extension's key pair is made
//! on first start in its state folder.
//!
//! A ready machine keeps one shared connection (an ssh master in the background,
//! its socket in the extension's own `control/` folder): commands ride on it and
//! skip the key exchange, which costs about 0.2 s under TCG. Without it (gone,
//! or never opened) a command connects on its own.

use crate::images::HOST_KEY_ALIAS;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// How to reach one guest.
#[derive(Debug, Clone)]
pub struct Guest {
    /// Where the guest's ssh is forwarded from: the forward address and port.
    pub address: std::net::Ipv4Addr,
    pub port: u16,
    pub key: PathBuf,
    pub known_hosts: PathBuf,
    /// The shared connection's socket, for a machine that keeps one.
    pub control: Option<PathBuf>,
}

/// The shared connection's socket of `sandbox_id` under `control_dir` (named by
/// a digest: a socket's path must stay under 108 bytes).
pub fn control_socket(control_dir: &Path, sandbox_id: &str) -> PathBuf {
    use sha2::{Digest, Sha256};
    let digest: String = Sha256::digest(sandbox_id.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    control_dir.join(format!("{digest}.sock"))
}

/// Ends the shared connection at `socket`, if one is open, and removes it.
pub async fn close_master(socket: &Path) {
    if socket.exists() {
        let _ = Command::new("ssh")
            .args(["-F", "/dev/null", "-o", "LogLevel=QUIET", "-S"])
            .arg(socket)
            .args(["-O", "exit", "sandboxer-vm"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        let _ = std::fs::remove_file(socket);
    }
}

/// Removes the sockets under `control_dir` that no master answers any more
/// (their machine was destroyed by a process that is gone).
pub fn sweep_control_sockets(control_dir: &Path) {
    for entry in std::fs::read_dir(control_dir)
        .into_iter()
        .flatten()
        .flatten()
    {
        let socket = entry.path().extension().is_some_and(|e| e == "sock");
        if socket && std::os::unix::net::UnixStream::connect(entry.path()).is_err() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The extension's private key in `state_dir` (made when missing) and its
/// public line.
pub fn extension_key(state_dir: &Path) -> Result<(PathBuf, String), String> {
    let dir = state_dir.join("keys");
    let key = dir.join("id_ed25519");
    if !key.is_file() {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let out = std::process::Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "sandboxer-vm-packer",
                "-f",
            ])
            .arg(&key)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("ssh-keygen: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "ssh-keygen: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let public = std::fs::read_to_string(key.with_extension("pub"))
        .map_err(|e| format!("{}.pub: {e}", key.display()))?;
    Ok((key, public.trim().to_string()))
}

/// Where a running exec's process group is recorded in the guest (tmpfs).
const EXEC_DIR: &str = "/run/sandboxer/exec";

/// A tag unique enough among one guest's running execs.
fn rand_tag() -> u64 {
    let mut bytes = [0u8; 8];
    // SAFETY: getrandom(2) fills the buffer it is given.
    let filled = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if filled != bytes.len() as isize {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        return nanos as u64 ^ u64::from(std::process::id());
    }
    u64::from_le_bytes(bytes)
}

/// Everything `pipe` gives until it ends.
async fn read_all<R: tokio::io::AsyncRead + Unpin>(pipe: Option<R>) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut bytes = Vec::new();
    if let Some(mut p) = pipe {
        let _ = p.read_to_end(&mut bytes).await;
    }
    bytes
}

/// How long an exec that is ended (timed out or cancelled) may take to end in
/// the guest before its ssh session is cut from this side.
const END_WITHIN: Duration = Duration::from_secs(5);

/// One exec's ssh session while it runs. Dropped before it finished (the call
/// was cancelled), it ends the command in the guest from a task of its own.
struct Session {
    guest: Guest,
    tag: String,
    child: Option<tokio::process::Child>,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let (Some(child), Ok(runtime)) =
            (self.child.take(), tokio::runtime::Handle::try_current())
        {
            let guest = self.guest.clone();
            let tag = std::mem::take(&mut self.tag);
            runtime.spawn(async move { guest.end(&tag, child).await });
        }
    }
}

impl Guest {
    fn command(&self, remote: &str) -> Command {
        let mut c = self.ssh();
        if let Some(socket) = &self.control {
            c.args(["-o", "ControlMaster=no", "-o"])
                .arg(format!("ControlPath={}", socket.display()));
        }
        c.arg(format!("root@{}", self.address))
            .arg("--")
            .arg(remote);
        c
    }

    /// Opens the shared connection: waits until the guest lets ssh in, then
    /// leaves a master in the background (holding none of our pipes).
    pub async fn open_master(&self, limit: Duration) -> Result<(), String> {
        let socket = self
            .control
            .as_ref()
            .ok_or("this guest keeps no shared connection")?;
        let started = Instant::now();
        // The master keeps the standard streams it was given (`-f` does not
        // close them): a file, not a pipe we would wait on forever.
        let errors = socket.with_extension("err");
        loop {
            let _ = std::fs::remove_file(socket);
            let log =
                std::fs::File::create(&errors).map_err(|e| format!("{}: {e}", errors.display()))?;
            let status = self
                .ssh()
                .args(["-M", "-N", "-f", "-o", "ControlPersist=no", "-S"])
                .arg(socket)
                .arg(format!("root@{}", self.address))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .status()
                .await
                .map_err(|e| format!("ssh: {e}"))?;
            let said = std::fs::read_to_string(&errors).unwrap_or_default();
            if status.success() {
                let _ = std::fs::remove_file(&errors);
                return Ok(());
            }
            if started.elapsed() >= limit {
                let _ = std::fs::remove_file(&errors);
                return Err(format!(
                    "ssh did not answer within {limit:?}: {}",
                    said.trim()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// ssh with the guest's identity and host key, no destination yet.
    fn ssh(&self) -> Command {
        let mut c = Command::new("ssh");
        c.arg("-F")
            .arg("/dev/null")
            .arg("-i")
            .arg(&self.key)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"])
            .args(["-o", "StrictHostKeyChecking=yes", "-o"])
            .arg(format!("HostKeyAlias={HOST_KEY_ALIAS}"))
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .args(["-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR"])
            .args(["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"])
            .kill_on_drop(true);
        c
    }

    /// Runs `argv` in the guest (quoted for its shell) with `stdin`, for at most
    /// `timeout`.
    pub async fn exec(
        &self,
        argv: &[String],
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Output, String> {
        self.exec_after("", argv, stdin, timeout).await
    }

    /// Runs `argv` as `exec` does, after `prefix` (a line of this crate's own).
    /// A command that outlives its timeout, or whose call is dropped
    /// (cancelled), is killed in the guest with its whole process group: ending
    /// the ssh session alone leaves it running.
    pub async fn exec_after(
        &self,
        prefix: &str,
        argv: &[String],
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Output, String> {
        let command =
            shlex::try_join(argv.iter().map(String::as_str)).map_err(|e| format!("argv: {e}"))?;
        let tag = format!("{EXEC_DIR}/{:016x}", rand_tag());
        // Sessions sharing one connection share dropbear's process group, so
        // the command gets a session of its own (`setsid`: not a group leader,
        // it does not fork) and records its id, which names its group.
        let inner = format!("{{ echo $$ > {tag}; }} 2>/dev/null; {prefix}exec \"$@\"");
        let line = format!(
            "mkdir -p {EXEC_DIR} 2>/dev/null; setsid sh -c '{inner}' sh {command}; rc=$?; rm -f {tag}; exit $rc"
        );
        let out = self.session(&line, &tag, stdin, timeout).await?;
        // A shared connection that broke (its master lost the guest) fails
        // before the command runs, with ssh's own mux error: connect directly.
        if self.mux_failed(&out) {
            let direct = Guest {
                control: None,
                ..self.clone()
            };
            return direct.session(&line, &tag, stdin, timeout).await;
        }
        Ok(out)
    }

    /// Runs the exec `line` (whose command records its group at `tag`) for at
    /// most `timeout`. A command still running then is killed in the guest and
    /// its session left to end there: cutting a session from this side while
    /// its command runs can make the guest's ssh server drop the next session
    /// on the same connection.
    async fn session(
        &self,
        line: &str,
        tag: &str,
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Output, String> {
        let mut child = self.spawn(line, stdin, false)?;
        let stdout = tokio::spawn(read_all(child.stdout.take()));
        let stderr = tokio::spawn(read_all(child.stderr.take()));
        let mut session = Session {
            guest: self.clone(),
            tag: tag.to_string(),
            child: Some(child),
        };
        let running = session.child.as_mut().expect("set above");
        match tokio::time::timeout(timeout, running.wait()).await {
            Ok(status) => {
                session.child = None;
                let status = status.map_err(|e| format!("ssh: {e}"))?;
                Ok(Output {
                    status,
                    stdout: stdout.await.unwrap_or_default(),
                    stderr: stderr.await.unwrap_or_default(),
                })
            }
            Err(_) => {
                let child = session.child.take().expect("still running");
                self.end(tag, child).await;
                Err(format!("the command did not finish within {timeout:?}"))
            }
        }
    }

    /// Ends an exec still running: kills its process group in the guest (again,
    /// should the command start only now) until its session ends by itself, and
    /// cuts the session only after `END_WITHIN`.
    async fn end(&self, tag: &str, mut child: tokio::process::Child) {
        let started = Instant::now();
        while started.elapsed() < END_WITHIN {
            self.kill_group(tag).await;
            let ended = tokio::time::timeout(Duration::from_millis(300), child.wait()).await;
            if ended.is_ok() {
                return;
            }
        }
        let _ = child.kill().await;
    }

    /// Kills the process group recorded at `tag` in the guest.
    async fn kill_group(&self, tag: &str) {
        let line = format!("pg=$(cat {tag} 2>/dev/null) && kill -9 -$pg; rm -f {tag}");
        let _ = self.run(&line, None, Duration::from_secs(10)).await;
    }

    /// Whether `out` is ssh's own failure to use the shared connection.
    fn mux_failed(&self, out: &Output) -> bool {
        self.control.is_some()
            && out.status.code() == Some(255)
            && String::from_utf8_lossy(&out.stderr).contains("mux_client_")
    }

    /// Runs a shell line of this crate's own making in the guest.
    pub async fn run(
        &self,
        line: &str,
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Output, String> {
        let out = self.run_once(line, stdin, timeout).await?;
        // As for an exec: a broken shared connection, then a direct one.
        if self.mux_failed(&out) {
            let direct = Guest {
                control: None,
                ..self.clone()
            };
            return direct.run_once(line, stdin, timeout).await;
        }
        Ok(out)
    }

    /// Starts `line` in the guest over ssh, output piped, `stdin` fed from a
    /// task of its own (a guest that does not read its input must not block
    /// the call); killed when dropped only with `kill_on_drop`.
    fn spawn(
        &self,
        line: &str,
        stdin: Option<&[u8]>,
        kill_on_drop: bool,
    ) -> Result<tokio::process::Child, String> {
        let mut child = self
            .command(line)
            .kill_on_drop(kill_on_drop)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("ssh: {e}"))?;
        if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let bytes = bytes.to_vec();
            tokio::spawn(async move {
                let _ = pipe.write_all(&bytes).await;
            });
        }
        Ok(child)
    }

    async fn run_once(
        &self,
        line: &str,
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Output, String> {
        let child = self.spawn(line, stdin, true)?;
        match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(out) => out.map_err(|e| format!("ssh: {e}")),
            Err(_) => Err(format!("the command did not finish within {timeout:?}")),
        }
    }

    /// Waits until the guest runs a command over ssh, running `first` (a line of
    /// this crate's own) as that command; its output.
    pub async fn first_command(
        &self,
        first: &str,
        stdin: Option<&[u8]>,
        limit: Duration,
    ) -> Result<Output, String> {
        let started = Instant::now();
        loop {
            let left = limit.saturating_sub(started.elapsed());
            let last = match self
                .run(first, stdin, left.max(Duration::from_secs(1)))
                .await
            {
                Ok(out) if out.status.code() != Some(255) => return Ok(out),
                Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
                Err(e) => e,
            };
            if started.elapsed() >= limit {
                return Err(format!("ssh did not answer within {limit:?}: {last}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
