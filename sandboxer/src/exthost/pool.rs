//! Extensions for a long-running process (the daemon): one live client per
//! extension, shared by every request, replaced when its process has died, and
//! shut down by the protocol when idle or when the daemon stops. The CLI does not
//! use it: each command starts what it needs and ends it.

use super::{ExtensionClient, HostError, LaunchOptions};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

struct Entry {
    client: Arc<ExtensionClient>,
    last_used: Instant,
}

/// How the pool starts an extension (its handshake options, environment and
/// deadlines), by name.
pub type OptionsFor = Box<dyn Fn(&str) -> LaunchOptions + Send + Sync>;

pub struct Pool {
    options_for: OptionsFor,
    clients: Mutex<HashMap<String, Entry>>,
    /// Launches so far (restarts included), for metrics and tests.
    launches: std::sync::atomic::AtomicU64,
}

impl Pool {
    pub fn new(options_for: OptionsFor) -> Pool {
        Pool {
            options_for,
            clients: Mutex::new(HashMap::new()),
            launches: Default::default(),
        }
    }

    /// The live client of extension `name`, started (or restarted after a crash)
    /// when needed.
    pub async fn get(&self, name: &str) -> Result<Arc<ExtensionClient>, HostError> {
        let found = super::find(name)?;
        let launch = (self.options_for)(&found.name);
        let slot = found.name.clone();
        self.get_slot(&found, slot, launch).await
    }

    /// The live client of extension `name` started with `launch` (a provider
    /// key's options), kept apart from the others under `slot`.
    pub async fn get_keyed(
        &self,
        name: &str,
        slot: String,
        launch: LaunchOptions,
    ) -> Result<Arc<ExtensionClient>, HostError> {
        let found = super::find(name)?;
        self.get_slot(&found, slot, launch).await
    }

    async fn get_slot(
        &self,
        found: &super::Discovered,
        slot: String,
        launch: LaunchOptions,
    ) -> Result<Arc<ExtensionClient>, HostError> {
        let mut clients = self.clients.lock().await;
        if let Some(entry) = clients.get_mut(&slot) {
            if entry.client.is_alive() {
                entry.last_used = Instant::now();
                return Ok(entry.client.clone());
            }
            tracing::warn!(extension = %found.name, "extension process died; starting it again");
        }
        let client = Arc::new(ExtensionClient::launch(found, launch).await?);
        self.launches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        clients.insert(
            slot,
            Entry {
                client: client.clone(),
                last_used: Instant::now(),
            },
        );
        Ok(client)
    }

    pub fn launches(&self) -> u64 {
        self.launches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Names of the extensions running now.
    pub async fn running(&self) -> Vec<String> {
        let clients = self.clients.lock().await;
        let mut names: Vec<String> = clients
            .iter()
            .filter(|(_, e)| e.client.is_alive())
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }

    /// Shuts down extensions unused for `idle` and not in use by anyone.
    pub async fn stop_idle(&self, idle: Duration) {
        let stale: Vec<Arc<ExtensionClient>> = {
            let mut clients = self.clients.lock().await;
            let names: Vec<String> = clients
                .iter()
                .filter(|(_, e)| e.last_used.elapsed() >= idle && Arc::strong_count(&e.client) == 1)
                .map(|(n, _)| n.clone())
                .collect();
            names
                .into_iter()
                .filter_map(|n| clients.remove(&n).map(|e| e.client))
                .collect()
        };
        for client in stale {
            close(client).await;
        }
    }

    /// Shuts every extension down by the protocol (in-flight calls finish first).
    pub async fn shutdown_all(&self) {
        let all: Vec<Arc<ExtensionClient>> = {
            let mut clients = self.clients.lock().await;
            clients.drain().map(|(_, e)| e.client).collect()
        };
        for client in all {
            close(client).await;
        }
    }
}

async fn close(client: Arc<ExtensionClient>) {
    // Wait briefly for calls still holding it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut client = client;
    loop {
        match Arc::try_unwrap(client) {
            Ok(owned) => {
                let name = owned.name().to_string();
                if let Err(e) = owned.shutdown().await {
                    tracing::warn!(extension = %name, "shutdown: {e}");
                }
                return;
            }
            Err(shared) if Instant::now() < deadline => {
                client = shared;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(_) => return, // Still in use; its process ends with the daemon.
        }
    }
}
