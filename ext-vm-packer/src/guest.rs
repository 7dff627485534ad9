//! Commands in a guest, over ssh to its forwarded loopback port: the extension's
//! own key, the guest's host key pinned from its image (no trust on first use),
//! the argv quoted once for the guest's shell. The extension's key pair is made
//! on first start in its state folder.

use crate::images::HOST_KEY_ALIAS;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// How to reach one guest.
#[derive(Debug, Clone)]
pub struct Guest {
    pub port: u16,
    pub key: PathBuf,
    pub known_hosts: PathBuf,
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

impl Guest {
    fn command(&self, remote: &str) -> Command {
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
            .arg("root@127.0.0.1")
            .arg("--")
            .arg(remote)
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
    pub async fn exec_after(
        &self,
        prefix: &str,
        argv: &[String],
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Output, String> {
        let line =
            shlex::try_join(argv.iter().map(String::as_str)).map_err(|e| format!("argv: {e}"))?;
        self.run(&format!("{prefix}{line}"), stdin, timeout).await
    }

    /// Runs a shell line of this crate's own making in the guest.
    pub async fn run(
        &self,
        line: &str,
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Output, String> {
        let mut child = self
            .command(line)
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
            // A guest that does not read its input must not block the call.
            let bytes = bytes.to_vec();
            tokio::spawn(async move {
                let _ = pipe.write_all(&bytes).await;
            });
        }
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
