//! `Host`: one configured host and what is run there — the inventory, compose up,
//! destroy, logs, health, snapshots, the doctor, exec — each answer read into a
//! typed result and each failure (transport, a script's exit status) into a
//! `HostError`, the one place these become protocol errors.

use crate::agent_binary::{AGENT_SCRIPT, AgentBinary, MOUNT_PATH};
use crate::config::{HostConfig, project_name};
use crate::doctor;
use crate::hardening;
use crate::inventory::{Holdings, by_sandbox, parse_inventory};
use crate::podman::{
    self, CREATE_SCRIPT, DESTROY_SCRIPT, HEALTH_SCRIPT, INVENTORY_SCRIPT, LOGS_SCRIPT,
};
use crate::podman_api::PodmanApi;
use crate::policy::Runtime;
use crate::project::{self, Project};
use crate::snapshot::{self, SnapshotManifest, SnapshotPlan};
use crate::ssh::{Ssh, TransportError};
use sandboxer_ext_protocol::{
    DoctorCheck, ErrorKind, ErrorObject, HostDoctor, HostHealth, LABEL_SANDBOX_ID,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{ExitStatus, Output};
use std::time::Duration;

/// How long quick commands (inventory, destroy, health probes) may take.
pub const QUICK: Duration = Duration::from_secs(120);
/// Longest wait for a host's health (load, memory, disk, sandbox count).
const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `podman-compose up` may take beyond the readiness timeout (and a
/// snapshot in all).
const UP_EXTRA: Duration = Duration::from_secs(300);
/// Log lines kept of each container of a sandbox that failed.
const LOG_LINES: &str = "20";
/// How long a host's doctor may take (it starts three containers).
const DOCTOR_TIMEOUT: Duration = Duration::from_secs(120);

/// What went wrong on a host. Its message is the protocol error's message.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The host could not be reached, or the command not run there.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A command in a sandbox ran past the deadline its caller gave.
    #[error(transparent)]
    DeadlineExceeded(TransportError),
    /// A script ended with a failure status.
    #[error("{action} on host {host} failed ({status}): {stderr}")]
    ScriptFailed {
        action: &'static str,
        host: String,
        status: ExitStatus,
        stderr: String,
    },
    /// The inventory script printed something else than its sections.
    #[error("{0}")]
    UnreadableInventory(String),
    /// Images the project needs are not on the host (`CREATE_SCRIPT` exit 42).
    #[error(
        "image(s) {images} missing on host {host}: build or load them there \
         (for the built-in profiles: run scripts/setup-host.sh on that host)"
    )]
    MissingImages { host: String, images: String },
    /// `podman-compose up` failed, and what it made was removed.
    #[error(
        "podman-compose up failed on host {host} ({status}): {stderr}\n{}{}",
        .removed.logs,
        .removed.cleanup_note()
    )]
    ComposeUpFailed {
        host: String,
        status: ExitStatus,
        stderr: String,
        removed: Removed,
    },
}

impl From<HostError> for ErrorObject {
    fn from(e: HostError) -> ErrorObject {
        let message = e.to_string();
        match e {
            HostError::Transport(
                TransportError::Unreachable { .. } | TransportError::Timeout { .. },
            ) => ErrorObject::domain(ErrorKind::Unavailable, message),
            HostError::Transport(TransportError::Unquotable(_)) => {
                ErrorObject::invalid_argument("argv", message)
            }
            HostError::Transport(_)
            | HostError::ScriptFailed { .. }
            | HostError::UnreadableInventory(_) => {
                ErrorObject::domain(ErrorKind::Internal, message)
            }
            HostError::DeadlineExceeded(_) => {
                ErrorObject::domain(ErrorKind::DeadlineExceeded, message)
            }
            HostError::MissingImages { host, images } => ErrorObject::domain_with_details(
                ErrorKind::FailedPrecondition,
                message,
                Some(
                    json!({ "missing_images": images.split_whitespace().collect::<Vec<_>>(), "host": host }),
                ),
            ),
            HostError::ComposeUpFailed { host, .. } => ErrorObject::domain_with_details(
                ErrorKind::FailedPrecondition,
                message,
                Some(json!({ "host": host })),
            ),
        }
    }
}

/// What a sandbox that failed showed before it was removed.
#[derive(Debug)]
pub struct Removed {
    /// The last log lines of each of its containers.
    pub logs: String,
    /// Why removing it failed, if it did.
    cleanup_failure: Option<String>,
}

impl Removed {
    /// `\ncleanup failed too: WHY` when the removal failed, else nothing.
    pub fn cleanup_note(&self) -> String {
        self.cleanup_failure
            .as_ref()
            .map(|why| format!("\ncleanup failed too: {why}"))
            .unwrap_or_default()
    }
}

/// One configured host: its transport, and its podman API once looked for.
#[derive(Debug)]
pub struct Host {
    ssh: Ssh,
    /// The host's podman API, looked for once per process (`None`: it does not
    /// answer; use the CLI).
    api: tokio::sync::OnceCell<Option<PodmanApi>>,
    /// Where the agent is on the host, once placed there by this process.
    agent: tokio::sync::OnceCell<String>,
}

fn trimmed_stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

impl Host {
    pub fn new(config: HostConfig, control_dir: PathBuf) -> Host {
        Host {
            ssh: Ssh::new(config, control_dir),
            api: Default::default(),
            agent: Default::default(),
        }
    }

    /// The agent's path on the host, copying it there first when it is not
    /// (once per process; a copy is never changed, a new binary gets a new name).
    pub async fn place_agent(&self, binary: &AgentBinary) -> Result<String, HostError> {
        self.agent
            .get_or_try_init(|| async {
                let dir = format!("{}/.agent", self.config().workdir.trim_end_matches('/'));
                let path = format!("{dir}/{}", binary.name);
                let args = [dir.as_str(), binary.name.as_str()];
                let there = self
                    .ssh
                    .run(&podman::script_argv(AGENT_SCRIPT, &args), None, QUICK)
                    .await?;
                if there.status.success() {
                    return Ok(path);
                }
                let bytes = std::fs::read(&binary.local).map_err(|e| {
                    HostError::UnreadableInventory(format!(
                        "reading the agent {}: {e}",
                        binary.local.display()
                    ))
                })?;
                let upload = [dir.as_str(), binary.name.as_str(), "upload"];
                self.run_script(
                    "copying the agent",
                    AGENT_SCRIPT,
                    &upload,
                    Some(bytes),
                    QUICK,
                )
                .await?;
                Ok(path)
            })
            .await
            .cloned()
    }

    /// Freezes (`podman pause`) or thaws (`podman unpause`) these containers:
    /// their processes stop where they are, memory kept.
    pub async fn freeze(&self, containers: &[String], frozen: bool) -> Result<(), HostError> {
        if containers.is_empty() {
            return Ok(());
        }
        let mut argv = vec!["podman".to_string()];
        argv.push(if frozen { "pause" } else { "unpause" }.into());
        argv.extend(containers.iter().cloned());
        let out = self.ssh.run(&argv, None, QUICK).await?;
        if !out.status.success() {
            return Err(HostError::ScriptFailed {
                action: if frozen { "pausing" } else { "resuming" },
                host: self.name().to_string(),
                status: out.status,
                stderr: trimmed_stderr(&out),
            });
        }
        Ok(())
    }

    /// The host's podman API, or why there is none.
    pub async fn api_or_unavailable(&self) -> Result<&PodmanApi, ErrorObject> {
        self.api().await.ok_or_else(|| {
            ErrorObject::domain(
                ErrorKind::Unavailable,
                format!(
                    "podman's API does not answer on host {} at {} (figures need it: \
                     `systemctl enable --now podman.socket` there)",
                    self.name(),
                    self.config().podman_socket
                ),
            )
        })
    }

    /// The command that prints a container's log (`podman logs`), its stdout
    /// and stderr as the container wrote them; with `follow`, until it stops.
    pub fn logs_command(
        &self,
        container: &str,
        follow: bool,
        tail: Option<u64>,
    ) -> Result<tokio::process::Command, TransportError> {
        let mut remote = vec!["podman".to_string(), "logs".into()];
        if follow {
            remote.push("--follow".into());
        }
        if let Some(n) = tail {
            remote.push("--tail".into());
            remote.push(n.to_string());
        }
        remote.push(container.to_string());
        self.ssh.streaming(&remote)
    }

    /// The command that connects to the agent in `container` (its stdin and
    /// stdout are the connection).
    pub fn agent_command(
        &self,
        container: &str,
    ) -> Result<tokio::process::Command, TransportError> {
        let remote = ["podman", "exec", "-i", container, MOUNT_PATH, "connect"];
        self.ssh.interactive(&remote)
    }

    /// `sandboxer-agent untar FOLDER` in `container`: reads a tar stream on its
    /// stdin, unpacks it there, and prints its answer on stdout. It rides the
    /// host's bulk master connection.
    pub fn agent_untar_command(
        &self,
        container: &str,
        folder: &str,
    ) -> Result<tokio::process::Command, TransportError> {
        let remote = [
            "podman", "exec", "-i", container, MOUNT_PATH, "untar", folder,
        ];
        self.ssh.bulk(&remote)
    }

    pub fn config(&self) -> &HostConfig {
        self.ssh.host()
    }

    pub fn name(&self) -> &str {
        &self.config().name
    }

    /// Runs a constant script with `args`; a failure status is `ScriptFailed`,
    /// saying the script was `action`.
    async fn run_script(
        &self,
        action: &'static str,
        script: &str,
        args: &[&str],
        stdin: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Output, HostError> {
        let out = self
            .ssh
            .run(&podman::script_argv(script, args), stdin, timeout)
            .await?;
        if !out.status.success() {
            return Err(HostError::ScriptFailed {
                action,
                host: self.name().to_string(),
                status: out.status,
                stderr: trimmed_stderr(&out),
            });
        }
        Ok(out)
    }

    /// What the host holds, all sandboxes or one, read with the podman CLI.
    pub async fn inventory(
        &self,
        sandbox_id: Option<&str>,
    ) -> Result<BTreeMap<String, Holdings>, HostError> {
        let filter = match sandbox_id {
            Some(id) => podman::id_filter(id),
            None => LABEL_SANDBOX_ID.to_string(),
        };
        let workdir = &self.config().workdir;
        let out = self
            .run_script(
                "listing sandboxes",
                INVENTORY_SCRIPT,
                &[&filter, workdir],
                None,
                QUICK,
            )
            .await?;
        let inventory = parse_inventory(&String::from_utf8_lossy(&out.stdout))
            .map_err(HostError::UnreadableInventory)?;
        let mut groups = by_sandbox(inventory);
        if let Some(id) = sandbox_id {
            groups.retain(|k, _| k == id);
        }
        Ok(groups)
    }

    /// The host's podman API, if it answers; looked for once per process.
    async fn api(&self) -> Option<&PodmanApi> {
        self.api
            .get_or_init(|| async {
                let api = match self
                    .ssh
                    .forwarded_socket(&self.config().podman_socket)
                    .await
                {
                    Ok(socket) => Some(PodmanApi::new(socket)),
                    Err(e) => {
                        tracing::debug!(host = %self.name(), "podman API not reachable: {e}");
                        None
                    }
                };
                match api {
                    Some(api) if api.ping().await => Some(api),
                    _ => None,
                }
            })
            .await
            .as_ref()
    }

    /// One sandbox's parts through the podman API: `None` when the API is not
    /// there or found no container (the CLI inventory then decides, folders
    /// included).
    async fn holdings_through_api(&self, sandbox_id: &str) -> Option<Holdings> {
        let api = self.api().await?;
        let filter = podman::id_filter(sandbox_id);
        let (containers, networks, volumes) = tokio::join!(
            api.containers(&filter),
            api.networks(&filter),
            api.volumes(&filter)
        );
        let holdings = Holdings {
            containers: containers.ok()?,
            networks: networks.ok()?,
            volumes: volumes.ok()?,
            has_dir: false,
        };
        if holdings.containers.is_empty() {
            return None;
        }
        Some(holdings.sorted())
    }

    /// One sandbox's parts: through the API when it can answer, else the CLI
    /// inventory.
    pub async fn holdings(&self, sandbox_id: &str) -> Result<Option<Holdings>, HostError> {
        if let Some(h) = self.holdings_through_api(sandbox_id).await {
            return Ok(Some(h));
        }
        Ok(self.inventory(Some(sandbox_id)).await?.remove(sandbox_id))
    }

    /// Unpacks the project's files into the sandbox's folder and runs
    /// `podman-compose up` (for a restore, from snapshot `restore_from`'s images
    /// and volumes), every container hardened for `runtime`. It may take
    /// `ready_timeout` and some more. A failed up is removed: its error carries
    /// the last log lines.
    pub async fn up(
        &self,
        sandbox_id: &str,
        project: &Project,
        runtime: Runtime,
        restore_from: Option<&str>,
        ready_timeout: Duration,
    ) -> Result<(), HostError> {
        let host = self.config();
        let dir = host.sandbox_dir(sandbox_id);
        let project_id = project_name(sandbox_id);
        let filter = podman::id_filter(sandbox_id);
        let restore_dir = restore_from
            .map(|id| snapshot::snapshot_dir(host, id))
            .unwrap_or_default();
        let run_args = hardening::run_args(host, runtime);
        let mut args: Vec<&str> = vec![&dir, &project_id, &filter, &restore_dir, &run_args];
        args.extend(project.images.iter().map(String::as_str));
        let argv = podman::script_argv(CREATE_SCRIPT, &args);
        let out = self
            .ssh
            .run(
                &argv,
                Some(project::tar_archive(&project.files)),
                ready_timeout + UP_EXTRA,
            )
            .await?;
        let stderr = trimmed_stderr(&out);
        match out.status.code() {
            Some(0) => Ok(()),
            Some(42) => Err(HostError::MissingImages {
                host: host.name.clone(),
                images: stderr,
            }),
            _ => Err(HostError::ComposeUpFailed {
                host: host.name.clone(),
                status: out.status,
                stderr,
                removed: self.remove_failed(sandbox_id).await,
            }),
        }
    }

    /// Removes a sandbox that failed, keeping its last log lines.
    pub async fn remove_failed(&self, sandbox_id: &str) -> Removed {
        let logs = self.logs_tail(sandbox_id).await;
        let cleanup_failure = self.destroy(sandbox_id).await.err().map(|e| e.to_string());
        Removed {
            logs,
            cleanup_failure,
        }
    }

    /// Removes every container, network and volume of a sandbox, then its
    /// folder. Idempotent.
    pub async fn destroy(&self, sandbox_id: &str) -> Result<(), HostError> {
        let dir = self.config().sandbox_dir(sandbox_id);
        self.run_script(
            "destroying",
            DESTROY_SCRIPT,
            &[&podman::id_filter(sandbox_id), &dir],
            None,
            QUICK,
        )
        .await?;
        Ok(())
    }

    /// The last log lines of each container of a sandbox (or why there are none).
    pub async fn logs_tail(&self, sandbox_id: &str) -> String {
        let argv = podman::script_argv(LOGS_SCRIPT, &[&podman::id_filter(sandbox_id), LOG_LINES]);
        match self.ssh.run(&argv, None, QUICK).await {
            Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
            Err(e) => format!("(logs unavailable: {e})"),
        }
    }

    /// Runs `argv` in a container, feeding `stdin` if given; the output whatever
    /// the exit. Running past `timeout` is `DeadlineExceeded`.
    pub async fn exec(
        &self,
        container: &str,
        argv: &[String],
        stdin: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Output, HostError> {
        let argv = podman::exec_argv(container, argv, stdin.is_some());
        self.ssh
            .run(&argv, stdin, timeout)
            .await
            .map_err(|e| match e {
                TransportError::Timeout { .. } => HostError::DeadlineExceeded(e),
                e => HostError::Transport(e),
            })
    }

    /// How the host is doing (load, free memory and disk, sandboxes); one that
    /// does not answer is not `reachable`.
    pub async fn health(&self) -> HostHealth {
        let argv = podman::script_argv(HEALTH_SCRIPT, &[&self.config().workdir]);
        let mut health = HostHealth {
            host: self.name().to_string(),
            reachable: false,
            load1: None,
            mem_free_mb: None,
            disk_free_mb: None,
            sandboxes: None,
            error: None,
            details: Default::default(),
        };
        match self.ssh.run(&argv, None, HEALTH_TIMEOUT).await {
            Ok(out) if out.status.success() => {
                let text = String::from_utf8_lossy(&out.stdout);
                let fields: Vec<&str> = text.split_whitespace().collect();
                health.reachable = true;
                health.load1 = fields.first().and_then(|f| f.parse().ok());
                health.mem_free_mb = fields.get(1).and_then(|f| f.parse().ok());
                health.disk_free_mb = fields.get(2).and_then(|f| f.parse().ok());
                health.sandboxes = fields.get(3).and_then(|f| f.parse().ok());
            }
            Ok(out) => {
                health.reachable = true;
                health.error = Some(trimmed_stderr(&out));
            }
            Err(e) => health.error = Some(e.to_string()),
        }
        health
    }

    /// The snapshots kept on the host.
    pub async fn snapshots(&self) -> Result<Vec<SnapshotManifest>, HostError> {
        let dir = snapshot::snapshots_dir(self.config());
        let out = self
            .run_script(
                "listing snapshots",
                snapshot::LIST_SCRIPT,
                &[&dir],
                None,
                QUICK,
            )
            .await?;
        Ok(SnapshotManifest::parse_all(&String::from_utf8_lossy(
            &out.stdout,
        )))
    }

    /// Takes a snapshot as planned.
    pub async fn take_snapshot(&self, plan: &SnapshotPlan) -> Result<(), HostError> {
        let id = &plan.manifest.snapshot_id;
        let dir = snapshot::snapshot_dir(self.config(), id);
        let (base, size) = plan.user_namespace;
        let (base, size) = (base.to_string(), size.to_string());
        let mut args: Vec<&str> = vec![&dir, id, &base, &size];
        args.extend(plan.parts.iter().map(String::as_str));
        let stdin = serde_json::to_vec(&plan.manifest).expect("manifest serializes");
        self.run_script(
            "taking a snapshot",
            snapshot::SNAPSHOT_SCRIPT,
            &args,
            Some(stdin),
            UP_EXTRA,
        )
        .await?;
        Ok(())
    }

    /// Deletes a snapshot's images and folder, if the host has them.
    pub async fn delete_snapshot(&self, snapshot_id: &str) -> Result<(), HostError> {
        let dir = snapshot::snapshot_dir(self.config(), snapshot_id);
        self.run_script(
            "deleting a snapshot",
            snapshot::DELETE_SCRIPT,
            &[snapshot_id, &dir],
            None,
            QUICK,
        )
        .await?;
        Ok(())
    }

    /// The doctor's checks of this host: ssh (for a remote host), then what
    /// `doctor::argv` checks, `images` among them; `tag` names its containers.
    pub async fn doctor(&self, gateway_image: &str, tag: &str, images: &[String]) -> HostDoctor {
        let host = self.config();
        let run_args = hardening::run_args(host, Runtime::default());
        let argv = doctor::argv(host, gateway_image, &run_args, tag, images);
        match self.ssh.run(&argv, None, DOCTOR_TIMEOUT).await {
            Ok(out) => {
                let mut checks = Vec::new();
                if !host.is_local() {
                    checks.push(DoctorCheck {
                        name: "ssh".into(),
                        ok: true,
                        detail: format!("logged in to {}:{}", host.address(), host.port),
                        fix: None,
                    });
                }
                checks.extend(doctor::parse(
                    &String::from_utf8_lossy(&out.stdout),
                    host,
                    gateway_image,
                ));
                HostDoctor {
                    host: host.name.clone(),
                    checks,
                }
            }
            Err(e) => doctor::unreachable(host, e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_failures_keep_their_kind_and_message() {
        let unreachable = HostError::Transport(TransportError::Unreachable {
            host: "h".into(),
            detail: "Connection refused".into(),
        });
        let message = unreachable.to_string();
        let e = ErrorObject::from(unreachable);
        assert_eq!(e.kind(), Some(ErrorKind::Unavailable));
        assert_eq!(e.message, message);
        let timeout = TransportError::Timeout {
            host: "h".into(),
            what: "podman".into(),
            timeout: Duration::from_secs(1),
        };
        let e = ErrorObject::from(HostError::DeadlineExceeded(timeout));
        assert_eq!(e.kind(), Some(ErrorKind::DeadlineExceeded));
        assert_eq!(e.message, "podman on host h did not finish within 1s");
    }

    #[tokio::test]
    async fn a_failed_script_names_what_it_did_its_status_and_stderr() {
        let host = Host::new(HostConfig::local(), "/nonexistent".into());
        let err = host
            .run_script("testing", "echo oops >&2; exit 3", &[], None, QUICK)
            .await
            .unwrap_err();
        let e = ErrorObject::from(err);
        assert_eq!(e.kind(), Some(ErrorKind::Internal));
        assert_eq!(
            e.message,
            "testing on host local failed (exit status: 3): oops"
        );
    }

    #[test]
    fn missing_images_are_listed_in_the_details() {
        let e = ErrorObject::from(HostError::MissingImages {
            host: "h".into(),
            images: "a/b c/d".into(),
        });
        assert_eq!(e.kind(), Some(ErrorKind::FailedPrecondition));
        assert!(e.message.starts_with("image(s) a/b c/d missing on host h:"));
        let details = e.domain_data().unwrap().details.unwrap();
        assert_eq!(details["missing_images"], json!(["a/b", "c/d"]));
    }
}
