//! Working inside compose-ssh's sandboxes: commands and files go to the agent
//! of the service's container ([`crate::agent`]); every path is resolved by the
//! agent inside the container, never here. An `exec_id` this extension hands
//! out is `SERVICE:ID` (the agent's id within that container), so later calls
//! find the container without asking the host.

use crate::agent::Agents;
use crate::fleet::Fleet;
use crate::labels::EXEC_SERVICE_LABEL;
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::sdk::peer::Peer;
use sandboxer_ext_protocol::sdk::{Context, ErrorKind, ErrorObject, ExtResult};
use sandboxer_ext_protocol::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The agents of compose-ssh's sandboxes, and which container each
/// (sandbox, service) is.
#[derive(Default)]
pub struct Inside {
    pub agents: Agents,
    /// (sandbox id, service) → container name, learned from the host once.
    containers: Mutex<HashMap<(String, String), String>>,
    /// Container name → the name of its host.
    hosts: Mutex<HashMap<String, String>>,
}

/// An `exec_id` of ours: the service, and the agent's id there.
fn split_exec_id(exec_id: &str) -> ExtResult<(&str, &str)> {
    exec_id.split_once(':').ok_or_else(|| {
        ErrorObject::domain(
            ErrorKind::NotFound,
            format!("no command {exec_id:?} in this sandbox (exec/list shows those there are)"),
        )
    })
}

impl Inside {
    /// The agent of `service` (the sandbox's exec service when absent), and the
    /// service's name.
    async fn agent(
        &self,
        fleet: &Fleet,
        sandbox_id: &str,
        service: Option<&str>,
    ) -> ExtResult<(Arc<Peer>, String)> {
        let remembered = service.and_then(|s| {
            let key = (sandbox_id.to_string(), s.to_string());
            self.containers
                .lock()
                .expect("containers poisoned")
                .get(&key)
                .cloned()
        });
        if let (Some(container), Some(service)) = (&remembered, service)
            && let Some(peer) = self.agents.open_to(container)
        {
            return Ok((peer, service.to_string()));
        }
        let (host, holdings) = fleet.find(sandbox_id, None).await?;
        let service = match service {
            Some(s) => s.to_string(),
            None => holdings
                .labels()
                .get(EXEC_SERVICE_LABEL)
                .cloned()
                .unwrap_or_default(),
        };
        let container = holdings
            .container_of(&service)
            .ok_or_else(|| {
                ErrorObject::invalid_argument(
                    "service",
                    format!("sandbox {sandbox_id} has no service {service:?}"),
                )
            })?
            .name()
            .to_string();
        let peer = self.agents.connect(host, &container).await?;
        self.remember_host(&container, host);
        self.containers
            .lock()
            .expect("containers poisoned")
            .insert((sandbox_id.to_string(), service.clone()), container);
        Ok((peer, service))
    }

    /// The default service's agent, for a caller that named no service: the
    /// last one found is remembered under the empty name.
    async fn agent_for(
        &self,
        fleet: &Fleet,
        sandbox_id: &str,
        service: Option<&str>,
    ) -> ExtResult<(Arc<Peer>, String)> {
        match service {
            Some(s) => self.agent(fleet, sandbox_id, Some(s)).await,
            None => {
                let key = (sandbox_id.to_string(), String::new());
                let known = self
                    .containers
                    .lock()
                    .expect("containers poisoned")
                    .get(&key)
                    .cloned();
                if let Some(service) = known {
                    return self.agent(fleet, sandbox_id, Some(&service)).await;
                }
                let (peer, service) = self.agent(fleet, sandbox_id, None).await?;
                self.containers
                    .lock()
                    .expect("containers poisoned")
                    .insert(key, service.clone());
                Ok((peer, service))
            }
        }
    }

    /// A sandbox just made ready: its exec service's container is remembered
    /// and its agent connected in the background.
    pub fn prepare(
        &self,
        host: &crate::host::Host,
        holdings: &crate::inventory::Holdings,
        sandbox_id: &str,
    ) {
        let service = holdings
            .labels()
            .get(EXEC_SERVICE_LABEL)
            .cloned()
            .unwrap_or_default();
        let Some(container) = holdings.container_of(&service) else {
            return;
        };
        let container = container.name().to_string();
        self.remember_host(&container, host);
        let mut known = self.containers.lock().expect("containers poisoned");
        known.insert((sandbox_id.to_string(), service.clone()), container.clone());
        known.insert((sandbox_id.to_string(), String::new()), service);
        drop(known);
        self.agents.open_soon(host, &container);
    }

    fn remember_host(&self, container: &str, host: &crate::host::Host) {
        self.hosts
            .lock()
            .expect("hosts poisoned")
            .insert(container.to_string(), host.name().to_string());
    }

    /// The host and container of `service` (the exec service when absent).
    async fn container<'f>(
        &self,
        fleet: &'f Fleet,
        sandbox_id: &str,
        service: Option<&str>,
    ) -> ExtResult<(&'f crate::host::Host, String)> {
        let (_, service) = self.agent_for(fleet, sandbox_id, service).await?;
        let key = (sandbox_id.to_string(), service);
        let container = self
            .containers
            .lock()
            .expect("containers poisoned")
            .get(&key)
            .cloned()
            .ok_or_else(|| {
                ErrorObject::domain(ErrorKind::Internal, "a found container was forgotten")
            })?;
        let host = self
            .hosts
            .lock()
            .expect("hosts poisoned")
            .get(&container)
            .cloned();
        let host = match host {
            Some(name) => fleet.host(&name, "host")?,
            None => fleet.find(sandbox_id, None).await?.0,
        };
        Ok((host, container))
    }

    /// `fs/tar_put` of a whole stream from the host's socket: the bytes go raw
    /// into `sandboxer-agent untar` in the container (one `podman exec`, over
    /// ssh for a remote host), which unpacks them inside the sandbox as a
    /// chunked upload is unpacked. The connected socket itself is the
    /// command's stdin (podman, or ssh's master, reads it; nothing here copies
    /// the bytes). Dropped (cancelled), the command is killed.
    pub async fn put_from_socket(
        &self,
        fleet: &Fleet,
        p: &FsTarPutParams,
        socket: &str,
    ) -> ExtResult<FsTarPutResult> {
        use tokio::io::AsyncReadExt;
        let (host, container) = self
            .container(fleet, &p.sandbox_id, p.service.as_deref())
            .await?;
        let source = std::os::unix::net::UnixStream::connect(socket).map_err(|e| {
            ErrorObject::domain(
                ErrorKind::Unavailable,
                format!("cannot reach the host's socket {socket}: {e}"),
            )
        })?;
        let mut command = host
            .agent_untar_command(&container, &p.path)
            .map_err(|e| ErrorObject::invalid_argument("path", e.to_string()))?;
        command.stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(
            source,
        )));
        let mut untar = command.spawn().map_err(|e| {
            ErrorObject::domain(
                ErrorKind::Unavailable,
                format!("cannot run podman exec: {e}"),
            )
        })?;
        // This process's copy of the socket goes with the command.
        drop(command);
        let mut stdout = untar.stdout.take().expect("stdout is piped");
        let mut answer = vec![];
        let _ = stdout.read_to_end(&mut answer).await;
        let status = untar.wait().await.ok();
        // The agent's last line: fs/tar_put's result, or its error.
        let answer: Option<serde_json::Value> = String::from_utf8_lossy(&answer)
            .lines()
            .last()
            .and_then(|line| serde_json::from_str(line).ok());
        match answer {
            Some(a) if a.get("code").is_some() => {
                Err(serde_json::from_value(a).unwrap_or_else(|e| {
                    ErrorObject::domain(ErrorKind::Internal, format!("the agent's error: {e}"))
                }))
            }
            Some(a) => serde_json::from_value(a).map_err(|e| {
                ErrorObject::domain(ErrorKind::Internal, format!("the agent's answer: {e}"))
            }),
            _ => {
                let detail = format!(
                    "unpacking into {} ended without an answer: {}",
                    p.path,
                    status.map_or_else(|| "no exit status".to_string(), |s| s.to_string()),
                );
                Err(match status.and_then(|s| s.code()) {
                    // podman exec: the command cannot run (no agent mounted).
                    Some(126 | 127) => crate::agent::no_agent(&container, &detail),
                    _ => ErrorObject::domain(
                        ErrorKind::Unavailable,
                        format!(
                            "container {container}: {detail}; `sandboxer get` shows whether \
                             the sandbox still runs, and the copy may be tried again"
                        ),
                    ),
                })
            }
        }
    }

    /// Forgets what was learned of a sandbox (it was destroyed).
    pub fn forget(&self, sandbox_id: &str) {
        let mut known = self.containers.lock().expect("containers poisoned");
        let gone: Vec<String> = known
            .iter()
            .filter(|((id, _), _)| id == sandbox_id)
            .map(|(_, c)| c.clone())
            .collect();
        known.retain(|(id, _), _| id != sandbox_id);
        drop(known);
        let mut hosts = self.hosts.lock().expect("hosts poisoned");
        for c in &gone {
            hosts.remove(c);
        }
        drop(hosts);
        self.agents.forget(&gone);
    }

    /// Calls `M` on the agent of `service`.
    pub async fn call<M: m::Request>(
        &self,
        fleet: &Fleet,
        ctx: &Context,
        sandbox_id: &str,
        service: Option<&str>,
        params: &M::Params,
    ) -> ExtResult<M::Result> {
        let (peer, _) = self.agent_for(fleet, sandbox_id, service).await?;
        peer.call::<M>(params, Some(ctx)).await
    }

    pub async fn exec_start(
        &self,
        fleet: &Fleet,
        ctx: &Context,
        p: ExecStartParams,
    ) -> ExtResult<ExecStarted> {
        let (peer, service) = self
            .agent_for(fleet, &p.sandbox_id, p.service.as_deref())
            .await?;
        let started = peer.call::<m::ExecStart>(&p, Some(ctx)).await?;
        Ok(ExecStarted {
            exec_id: format!("{service}:{}", started.exec_id),
            ..started
        })
    }

    /// A call naming one of our `exec_id`s, sent to its container's agent with
    /// the agent's own id.
    pub async fn on_exec<M: m::Request>(
        &self,
        fleet: &Fleet,
        ctx: &Context,
        sandbox_id: &str,
        exec_id: &str,
        params: impl FnOnce(String) -> M::Params,
    ) -> ExtResult<M::Result> {
        let (service, theirs) = split_exec_id(exec_id)?;
        let (peer, _) = self.agent(fleet, sandbox_id, Some(service)).await?;
        peer.call::<M>(&params(theirs.to_string()), Some(ctx)).await
    }

    /// Every command of every service.
    pub async fn exec_list(
        &self,
        fleet: &Fleet,
        ctx: &Context,
        p: ExecListParams,
    ) -> ExtResult<ExecListResult> {
        let (_, holdings) = fleet.find(&p.sandbox_id, None).await?;
        let mut sessions = vec![];
        for container in &holdings.containers {
            let Some(service) = container.service() else {
                continue;
            };
            if service == crate::labels::GATEWAY_SERVICE {
                continue;
            }
            let (peer, _) = self.agent(fleet, &p.sandbox_id, Some(service)).await?;
            let listed = peer.call::<m::ExecList>(&p, Some(ctx)).await?;
            sessions.extend(listed.sessions.into_iter().map(|s| ExecSession {
                exec_id: format!("{service}:{}", s.exec_id),
                service: Some(service.to_string()),
                ..s
            }));
        }
        Ok(ExecListResult { sessions })
    }

    /// `sandbox/exec` through the agent: started, fed, read to its end. A
    /// command still running when the call is dropped (cancelled) is killed.
    /// `None` when the sandbox has no agent (the caller runs it another way).
    pub async fn exec(&self, fleet: &Fleet, p: &ExecParams) -> ExtResult<Option<ExecResult>> {
        let (peer, _) = match self
            .agent_for(fleet, &p.sandbox_id, p.service.as_deref())
            .await
        {
            Ok(found) => found,
            Err(e)
                if e.domain_data()
                    .is_some_and(|d| d.kind == ErrorKind::FailedPrecondition) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let timeout_s = p.timeout().as_secs().max(1);
        let started = match peer
            .call::<m::ExecStart>(
                &ExecStartParams {
                    sandbox_id: p.sandbox_id.clone(),
                    argv: p.argv.clone(),
                    cwd: None,
                    env: Default::default(),
                    service: None,
                    pty: None,
                    stdin: p.stdin.is_some(),
                    timeout_s: Some(timeout_s),
                },
                None,
            )
            .await
        {
            Ok(started) => started,
            // As a shell says it: 127 for a command not found, 126 for one that
            // may not run.
            Err(e) => match e.domain_data().map(|d| d.kind) {
                Some(ErrorKind::NotFound) => {
                    return Ok(Some(ExecResult::from_output(
                        127,
                        b"",
                        e.message.as_bytes(),
                    )));
                }
                Some(ErrorKind::PermissionDenied) => {
                    return Ok(Some(ExecResult::from_output(
                        126,
                        b"",
                        e.message.as_bytes(),
                    )));
                }
                _ => return Err(e),
            },
        };
        let exec_id = started.exec_id;
        let guard = KillOnDrop {
            peer: peer.clone(),
            sandbox_id: p.sandbox_id.clone(),
            exec_id: Some(exec_id.clone()),
        };
        if let Some(stdin) = &p.stdin {
            peer.call::<m::ExecWrite>(
                &ExecWriteParams {
                    sandbox_id: p.sandbox_id.clone(),
                    exec_id: exec_id.clone(),
                    data: Data(stdin.as_bytes().to_vec()),
                    eof: true,
                },
                None,
            )
            .await?;
        }
        let (exit, chunks) = peer
            .call_collecting::<m::ExecAttach>(&ExecAttachParams {
                sandbox_id: p.sandbox_id.clone(),
                exec_id: exec_id.clone(),
                output_token: serde_json::Value::Null,
                from_seq: 0,
            })
            .await?;
        drop(guard.disarm());
        if exit.timed_out {
            return Err(ErrorObject::domain(
                ErrorKind::DeadlineExceeded,
                format!(
                    "{:?} ran past its timeout of {timeout_s}s and was killed",
                    p.argv[0]
                ),
            ));
        }
        let (mut stdout, mut stderr) = (vec![], vec![]);
        for chunk in chunks {
            match chunk.stream {
                OutputStream::Stderr => stderr.extend(chunk.data.0),
                _ => stdout.extend(chunk.data.0),
            }
        }
        Ok(Some(ExecResult::from_output(
            exit.exit_code,
            &stdout,
            &stderr,
        )))
    }
}

/// Kills a command whose caller went away before its end.
struct KillOnDrop {
    peer: Arc<Peer>,
    sandbox_id: String,
    exec_id: Option<String>,
}

impl KillOnDrop {
    fn disarm(mut self) -> Self {
        self.exec_id = None;
        self
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let Some(exec_id) = self.exec_id.take() else {
            return;
        };
        let (peer, sandbox_id) = (self.peer.clone(), self.sandbox_id.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = peer
                    .call::<m::ExecSignal>(
                        &ExecSignalParams {
                            sandbox_id,
                            exec_id,
                            signal: Signal::Kill,
                        },
                        None,
                    )
                    .await;
            });
        }
    }
}
