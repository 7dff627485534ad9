//! `Ssh`: the one way commands reach a host. Every command is an argv; for the host
//! named `local` it runs as is, for any other host it becomes
//! `ssh OPTIONS -- DEST LINE`, where LINE is the argv with every word shell-quoted.
//!
//! ssh runs in batch mode with a connect timeout, strict host-key checking unless
//! the host allows `accept-new`, and connection reuse (ControlMaster/ControlPersist)
//! through sockets in a private folder, so that repeated commands on one host skip
//! the handshake. It sends `SHLVL=1` (used when the host's sshd accepts it) so that
//! the remote bash does not read its interactive rc files for every command.

use crate::config::{HostConfig, HostKeyChecking};
use crate::shell::{self, Unquotable};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// How long an idle master connection stays up.
const CONTROL_PERSIST_S: u32 = 600;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error(transparent)]
    Unquotable(#[from] Unquotable),
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("host {host} is unreachable over ssh: {detail}")]
    Unreachable { host: String, detail: String },
    #[error("{what} on host {host} did not finish within {}s", timeout.as_secs())]
    Timeout {
        host: String,
        what: String,
        timeout: Duration,
    },
    #[error("control folder {path}: {detail}")]
    ControlDir { path: String, detail: String },
}

/// The ciphers of the bulk lane, in the order asked.
const BULK_CIPHERS: &str = "aes128-gcm@openssh.com,aes256-gcm@openssh.com,\
                            chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr";

/// Which master connection to a host a command rides on.
#[derive(Debug, Clone, Copy)]
enum Lane {
    /// The one every command and agent connection shares.
    Shared,
    /// One for bulk transfers alone.
    Bulk,
}

/// The transport to one host.
#[derive(Debug, Clone)]
pub struct Ssh {
    host: HostConfig,
    control_dir: PathBuf,
}

/// The default private folder for control sockets.
pub fn default_control_dir() -> PathBuf {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    base.join(format!("sandboxer-ssh-{uid}"))
}

/// Creates the control folder (mode 0700) or checks an existing one is ours and
/// private: others must not be able to reach our master connections.
pub fn prepare_control_dir(dir: &Path) -> Result<(), TransportError> {
    let fail = |detail: String| TransportError::ControlDir {
        path: dir.display().to_string(),
        detail,
    };
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| fail(e.to_string()))?;
    }
    let meta = std::fs::metadata(dir).map_err(|e| fail(e.to_string()))?;
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    if meta.uid() != uid || meta.mode() & 0o077 != 0 {
        return Err(fail(
            "it must belong to this user and be private (mode 0700)".into(),
        ));
    }
    Ok(())
}

impl Ssh {
    pub fn new(host: HostConfig, control_dir: PathBuf) -> Ssh {
        Ssh { host, control_dir }
    }

    pub fn host(&self) -> &HostConfig {
        &self.host
    }

    /// The full argv that runs `remote` on this host. Pure: unit-tested on its own.
    pub fn argv<S: AsRef<str>>(&self, remote: &[S]) -> Result<Vec<String>, Unquotable> {
        self.argv_on(Lane::Shared, remote)
    }

    fn argv_on<S: AsRef<str>>(&self, lane: Lane, remote: &[S]) -> Result<Vec<String>, Unquotable> {
        if self.host.is_local() {
            return Ok(remote.iter().map(|s| s.as_ref().to_string()).collect());
        }
        let mut argv = self.ssh_options_on(lane);
        argv.push("--".into());
        argv.push(self.host.address().to_string());
        argv.push(shell::join(remote)?);
        Ok(argv)
    }

    /// `ssh` and every option this host is reached with, up to the destination.
    fn ssh_options(&self) -> Vec<String> {
        self.ssh_options_on(Lane::Shared)
    }

    fn ssh_options_on(&self, lane: Lane) -> Vec<String> {
        let h = &self.host;
        let checking = match h.host_key_checking {
            HostKeyChecking::Strict => "yes",
            HostKeyChecking::AcceptNew => "accept-new",
        };
        let mut argv: Vec<String> = vec!["ssh".into(), "-T".into()];
        let mut opt = |o: String| {
            argv.push("-o".into());
            argv.push(o);
        };
        opt("BatchMode=yes".into());
        opt(format!("ConnectTimeout={}", h.connect_timeout_s));
        opt(format!("StrictHostKeyChecking={checking}"));
        if let Some(known) = &h.known_hosts {
            opt(format!("UserKnownHostsFile={}", known.display()));
        }
        if let Some(identity) = &h.identity {
            opt(format!("IdentityFile={}", identity.display()));
            opt("IdentitiesOnly=yes".into());
        }
        opt("ControlMaster=auto".into());
        let suffix = match lane {
            Lane::Shared => "",
            Lane::Bulk => "-bulk",
        };
        opt(format!(
            "ControlPath={}/%C{suffix}",
            self.control_dir.display()
        ));
        if let Lane::Bulk = lane {
            // OpenSSH's default ciphers, AES-GCM first: with the CPU's AES
            // instructions it costs a fraction of ChaCha20's time per byte.
            opt(format!("Ciphers={BULK_CIPHERS}"));
        }
        opt(format!("ControlPersist={CONTROL_PERSIST_S}"));
        opt("ServerAliveInterval=15".into());
        opt("SetEnv=SHLVL=1".into());
        opt("LogLevel=ERROR".into());
        argv.push("-p".into());
        argv.push(h.port.to_string());
        if let Some(user) = &h.user {
            argv.push("-l".into());
            argv.push(user.clone());
        }
        argv
    }

    /// The local path through which `remote_socket` on the host is reached: the
    /// socket itself on the local host; for an ssh host, a socket in the control
    /// folder that the master connection forwards there (set up on first use, then
    /// reused by every later process while the master lives).
    pub async fn forwarded_socket(&self, remote_socket: &str) -> Result<PathBuf, TransportError> {
        if self.host.is_local() {
            return Ok(PathBuf::from(remote_socket));
        }
        let h = &self.host;
        let tag: String = format!("{}@{}:{}:{remote_socket}", h.name, h.address(), h.port)
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |acc, b| {
                (acc ^ b as u64).wrapping_mul(0x100_0000_01b3)
            })
            .to_string();
        let local = self.control_dir.join(format!("api-{tag}.sock"));
        if tokio::net::UnixStream::connect(&local).await.is_ok() {
            return Ok(local);
        }
        let _ = std::fs::remove_file(&local);
        // A command brings the master up if it is not; then the master forwards.
        let up = self.run(&["true"], None, Duration::from_secs(30)).await?;
        if !up.status.success() {
            return Err(TransportError::Unreachable {
                host: h.name.clone(),
                detail: String::from_utf8_lossy(&up.stderr).trim().to_string(),
            });
        }
        let mut argv = self.ssh_options();
        argv.extend([
            "-O".into(),
            "forward".into(),
            "-L".into(),
            format!("{}:{remote_socket}", local.display()),
            "--".into(),
            h.address().to_string(),
        ]);
        let out = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|source| TransportError::Spawn {
                program: "ssh".into(),
                source,
            })?;
        if !out.status.success() {
            return Err(TransportError::Unreachable {
                host: h.name.clone(),
                detail: format!(
                    "forwarding {remote_socket}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        Ok(local)
    }

    /// The one place a command for this host is built.
    fn command<S: AsRef<str>>(&self, remote: &[S]) -> Result<Command, TransportError> {
        self.command_on(Lane::Shared, remote)
    }

    fn command_on<S: AsRef<str>>(
        &self,
        lane: Lane,
        remote: &[S],
    ) -> Result<Command, TransportError> {
        let argv = self.argv_on(lane, remote)?;
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        Ok(cmd)
    }

    /// A command for `remote` whose stdin and stdout its caller uses as a
    /// connection (stderr is dropped); killed when dropped.
    pub fn interactive<S: AsRef<str>>(&self, remote: &[S]) -> Result<Command, TransportError> {
        let mut cmd = self.command(remote)?;
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        Ok(cmd)
    }

    /// Like [`Ssh::interactive`], for a command that moves many bytes: it rides
    /// a master connection of its own. The shared master carries every agent's
    /// session, and ssh polls all of them for each packet it moves: a 100 MB
    /// upload took twice as long beside a hundred sandboxes.
    pub fn bulk<S: AsRef<str>>(&self, remote: &[S]) -> Result<Command, TransportError> {
        let mut cmd = self.command_on(Lane::Bulk, remote)?;
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        Ok(cmd)
    }

    /// A command for `remote` whose stdout and stderr its caller reads as they
    /// come; killed when dropped.
    pub fn streaming<S: AsRef<str>>(&self, remote: &[S]) -> Result<Command, TransportError> {
        self.command(remote)
    }

    /// Runs `remote` on the host, feeding `stdin` if given; waits at most `timeout`.
    /// A non-zero exit is returned as an `Output`, not an error; an ssh connection
    /// failure (exit 255 from ssh itself) is `Unreachable`.
    pub async fn run<S: AsRef<str>>(
        &self,
        remote: &[S],
        stdin: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Output, TransportError> {
        let what = remote
            .first()
            .map(|s| s.as_ref().to_string())
            .unwrap_or_default();
        let mut cmd = self.command(remote)?;
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let program = if self.host.is_local() {
            what.clone()
        } else {
            "ssh".into()
        };
        let mut child = cmd
            .spawn()
            .map_err(|source| TransportError::Spawn { program, source })?;
        if let Some(bytes) = stdin {
            let mut pipe = child.stdin.take().expect("stdin piped");
            tokio::spawn(async move {
                let _ = pipe.write_all(&bytes).await;
            });
        }
        let output = tokio::time::timeout(timeout, child.wait_with_output())
            .await
            .map_err(|_| TransportError::Timeout {
                host: self.host.name.clone(),
                what: what.clone(),
                timeout,
            })?
            .map_err(|source| TransportError::Spawn {
                program: what,
                source,
            })?;
        if !self.host.is_local() && output.status.code() == Some(255) {
            let detail = String::from_utf8_lossy(&output.stderr).trim().to_string();
            // 255 is also what a remote command may return; ssh's own failures
            // say so on stderr.
            if detail.contains("ssh:")
                || detail.contains("Connection")
                || detail.contains("Host key")
                || detail.contains("Permission denied")
                || detail.is_empty()
            {
                return Err(TransportError::Unreachable {
                    host: self.host.name.clone(),
                    detail,
                });
            }
        }
        Ok(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HostConfig;

    fn remote_host() -> HostConfig {
        HostConfig {
            name: "h1".into(),
            address: Some("10.0.0.7".into()),
            port: 2222,
            user: Some("root".into()),
            identity: Some("/keys/id".into()),
            known_hosts: Some("/keys/known".into()),
            ..HostConfig::local()
        }
    }

    #[test]
    fn local_hosts_run_the_argv_itself() {
        let ssh = Ssh::new(HostConfig::local(), "/ctl".into());
        assert_eq!(ssh.argv(&["podman", "ps"]).unwrap(), ["podman", "ps"]);
    }

    #[test]
    fn remote_hosts_get_batch_mode_strict_keys_reuse_and_one_quoted_line() {
        let ssh = Ssh::new(remote_host(), "/ctl".into());
        let argv = ssh.argv(&["echo", "a b", "$(id)"]).unwrap();
        let joined = argv.join(" ");
        for expected in [
            "BatchMode=yes",
            "ConnectTimeout=10",
            "StrictHostKeyChecking=yes",
            "UserKnownHostsFile=/keys/known",
            "IdentityFile=/keys/id",
            "ControlMaster=auto",
            "ControlPath=/ctl/%C",
            "ControlPersist=600",
            "-p 2222",
            "-l root",
        ] {
            assert!(
                joined.contains(expected),
                "{expected} missing from {joined}"
            );
        }
        let n = argv.len();
        assert_eq!(argv[n - 3], "--");
        assert_eq!(argv[n - 2], "10.0.0.7");
        assert_eq!(argv[n - 1], "echo 'a b' '$(id)'");
    }

    #[test]
    fn bulk_commands_ride_a_master_of_their_own_and_quote_the_same() {
        let ssh = Ssh::new(remote_host(), "/ctl".into());
        let shared = ssh.argv(&["cat", "a b"]).unwrap();
        let bulk = ssh.argv_on(Lane::Bulk, &["cat", "a b"]).unwrap();
        assert!(shared.contains(&"ControlPath=/ctl/%C".to_string()));
        assert!(bulk.contains(&"ControlPath=/ctl/%C-bulk".to_string()));
        assert!(bulk.contains(&format!("Ciphers={BULK_CIPHERS}")));
        // Every other option is the same: the options as `-o` pairs, those two left out.
        let rest = |argv: &[String]| -> Vec<String> {
            let mut kept = vec![];
            let mut words = argv.iter().peekable();
            while let Some(word) = words.next() {
                let lane_option =
                    |w: &String| w.starts_with("ControlPath=") || w.starts_with("Ciphers=");
                if word == "-o" && words.peek().is_some_and(|w| lane_option(w)) {
                    words.next();
                    continue;
                }
                kept.push(word.clone());
            }
            kept
        };
        assert_eq!(rest(&shared), rest(&bulk));
        assert_eq!(bulk.last().unwrap(), "cat 'a b'");
    }

    #[test]
    fn accept_new_only_when_configured() {
        let mut host = remote_host();
        host.host_key_checking = HostKeyChecking::AcceptNew;
        let argv = Ssh::new(host, "/ctl".into()).argv(&["true"]).unwrap();
        assert!(argv.contains(&"StrictHostKeyChecking=accept-new".to_string()));
    }

    #[test]
    fn hostile_words_stay_single_quoted_words() {
        let ssh = Ssh::new(remote_host(), "/ctl".into());
        for word in ["; rm -rf /", "`id`", "a\nb", "it's", "日本"] {
            let line = ssh.argv(&["echo", word]).unwrap().pop().unwrap();
            let words = shlex::split(&line).unwrap();
            assert_eq!(words, ["echo", word], "{line}");
        }
        assert!(ssh.argv(&["echo", "nul\0"]).is_err());
    }

    #[tokio::test]
    async fn local_commands_run_with_stdin_and_no_shell() {
        let ssh = Ssh::new(HostConfig::local(), "/ctl".into());
        let out = ssh
            .run(
                &["cat"],
                Some(b"$(echo no)".to_vec()),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert_eq!(out.stdout, b"$(echo no)");
        let out = ssh
            .run(
                &["printf", "%s", "$(touch /tmp/x)"],
                None,
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert_eq!(out.stdout, b"$(touch /tmp/x)");
    }

    #[test]
    fn the_control_folder_must_be_private() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("ctl");
        prepare_control_dir(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(
            prepare_control_dir(&dir)
                .unwrap_err()
                .to_string()
                .contains("private")
        );
    }
}
