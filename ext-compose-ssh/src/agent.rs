//! Connections to `sandboxer-agent` in compose-ssh's sandboxes: one per
//! container, `podman exec -i CONTAINER /.sandboxer/agent connect` over the
//! host's ssh master, kept open and shared by every call, so a command is one
//! fork inside the sandbox (the binary itself: [`crate::agent_binary`]).

use crate::host::Host;
use sandboxer_ext_protocol::sdk::peer::Peer;
use sandboxer_ext_protocol::sdk::{ErrorKind, ErrorObject, ExtResult};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a connection may take to answer `initialize` (a `podman exec`,
/// and the daemon's start the first time).
const CONNECT_WITHIN: Duration = Duration::from_secs(20);

/// Open connections to the agents of containers, by container name.
/// Cheap to clone: every clone is the same set of connections.
#[derive(Default, Clone)]
pub struct Agents {
    open: Arc<Mutex<HashMap<String, Arc<Peer>>>>,
    /// One connect at a time per container.
    connecting: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

/// The agent of `container` cannot be reached or run (`detail` says how),
/// with what to do about it.
pub fn no_agent(container: &str, detail: &str) -> ErrorObject {
    ErrorObject::domain(
        ErrorKind::FailedPrecondition,
        format!(
            "the agent of container {container} does not answer ({detail}); a sandbox \
             created before its extension had an agent, or from an image that cannot run it, \
             has none: create it again"
        ),
    )
}

impl Agents {
    /// The open connection to `container`'s agent, if there is one.
    pub fn open_to(&self, container: &str) -> Option<Arc<Peer>> {
        let open = self.open.lock().expect("agents poisoned");
        open.get(container).filter(|p| !p.ended()).cloned()
    }

    /// The connection to the agent in `container` on `host`, opened on first use.
    pub async fn connect(&self, host: &Host, container: &str) -> ExtResult<Arc<Peer>> {
        if let Some(peer) = self.open_to(container) {
            return Ok(peer);
        }
        let command = host
            .agent_command(container)
            .map_err(|e| ErrorObject::domain(ErrorKind::Internal, e.to_string()))?;
        self.open_with(container, command).await
    }

    /// Opens the connection to `container`'s agent in the background (a new
    /// sandbox's first command then finds it open: a warm pool's sandbox is
    /// interactive at once).
    pub fn open_soon(&self, host: &Host, container: &str) {
        let Ok(command) = host.agent_command(container) else {
            return;
        };
        let (agents, container) = (self.clone(), container.to_string());
        tokio::spawn(async move {
            if let Err(e) = agents.open_with(&container, command).await {
                tracing::debug!("opening the agent of {container} ahead: {}", e.message);
            }
        });
    }

    async fn open_with(
        &self,
        container: &str,
        command: tokio::process::Command,
    ) -> ExtResult<Arc<Peer>> {
        let gate = self
            .connecting
            .lock()
            .expect("agents poisoned")
            .entry(container.to_string())
            .or_default()
            .clone();
        let _one = gate.lock().await;
        if let Some(peer) = self.open_to(container) {
            return Ok(peer);
        }
        let peer = Peer::start(
            &format!("agent of {container}"),
            command,
            Default::default(),
            CONNECT_WITHIN,
        )
        .await
        .map_err(|e| no_agent(container, &e.message))?;
        let peer = Arc::new(peer);
        self.open
            .lock()
            .expect("agents poisoned")
            .insert(container.to_string(), peer.clone());
        Ok(peer)
    }

    /// Forgets the connections to the containers of a sandbox that is gone.
    pub fn forget(&self, containers: &[String]) {
        let mut open = self.open.lock().expect("agents poisoned");
        for c in containers {
            open.remove(c);
        }
    }
}
