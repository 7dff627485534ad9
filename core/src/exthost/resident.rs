//! Resident extensions, for a long-running process (the daemon): one live
//! client per extension (and per provider key), shared by every request, replaced when its process has died, and
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

/// One extension's place in the pool: its client once started. Locked while
/// it is started, so that requests for it wait for that one start and requests
/// for other extensions do not wait at all.
type Slot = Arc<Mutex<Option<Entry>>>;

/// How the pool starts an extension (its handshake options, environment and
/// deadlines), by name.
pub type OptionsFor = Box<dyn Fn(&str) -> LaunchOptions + Send + Sync>;

pub struct ResidentExtensions {
    options_for: OptionsFor,
    /// Held only to find or add a slot, never across an `.await`.
    slots: std::sync::Mutex<HashMap<String, Slot>>,
    /// Launches so far (restarts included), for metrics and tests.
    launches: std::sync::atomic::AtomicU64,
}

impl ResidentExtensions {
    pub fn new(options_for: OptionsFor) -> ResidentExtensions {
        ResidentExtensions {
            options_for,
            slots: Default::default(),
            launches: Default::default(),
        }
    }

    /// The live client of extension `name`, started (or restarted after a crash)
    /// when needed.
    pub async fn get(&self, name: &str) -> Result<Arc<ExtensionClient>, HostError> {
        let found = super::find(name)?;
        let launch = (self.options_for)(&found.name);
        let slot = found.name.clone();
        self.get_slot(&found, slot, std::future::ready(Ok::<_, HostError>(launch)))
            .await
    }

    /// The live client of extension `name` under `slot` (a provider key's),
    /// started with the options `launch` gives — a future awaited only when
    /// the slot has no live client (it may ask other slots, resolve secrets).
    pub async fn get_keyed<E: From<HostError>>(
        &self,
        name: &str,
        slot: String,
        launch: impl Future<Output = Result<LaunchOptions, E>>,
    ) -> Result<Arc<ExtensionClient>, E> {
        let found = super::find(name)?;
        self.get_slot(&found, slot, launch).await
    }

    async fn get_slot<E: From<HostError>>(
        &self,
        found: &super::Discovered,
        slot: String,
        launch: impl Future<Output = Result<LaunchOptions, E>>,
    ) -> Result<Arc<ExtensionClient>, E> {
        let cell = self
            .slots
            .lock()
            .expect("pool slots poisoned")
            .entry(slot)
            .or_default()
            .clone();
        let mut entry = cell.lock().await;
        if let Some(live) = entry.as_mut() {
            if live.client.is_alive() {
                live.last_used = Instant::now();
                return Ok(live.client.clone());
            }
            tracing::warn!(extension = %found.name, "extension process died; starting it again");
        }
        let client = Arc::new(ExtensionClient::launch(found, launch.await?).await?);
        self.launches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *entry = Some(Entry {
            client: client.clone(),
            last_used: Instant::now(),
        });
        Ok(client)
    }

    pub fn launches(&self) -> u64 {
        self.launches.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn all_slots(&self) -> Vec<(String, Slot)> {
        let slots = self.slots.lock().expect("pool slots poisoned");
        slots.iter().map(|(n, s)| (n.clone(), s.clone())).collect()
    }

    /// Names of the extensions running now (one being started is not yet).
    pub async fn running(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .all_slots()
            .into_iter()
            .filter(|(_, slot)| {
                slot.try_lock()
                    .is_ok_and(|e| e.as_ref().is_some_and(|e| e.client.is_alive()))
            })
            .map(|(n, _)| n)
            .collect();
        names.sort();
        names
    }

    /// Shuts down extensions unused for `idle` and not in use by anyone.
    pub async fn stop_idle(&self, idle: Duration) {
        let mut stale = vec![];
        for (_, slot) in self.all_slots() {
            let Ok(mut entry) = slot.try_lock() else {
                continue; // Being started or handed out right now: not idle.
            };
            if entry
                .as_ref()
                .is_some_and(|e| e.last_used.elapsed() >= idle && Arc::strong_count(&e.client) == 1)
                && let Some(e) = entry.take()
            {
                stale.push(e.client);
            }
        }
        for client in stale {
            close(client).await;
        }
    }

    /// Shuts every extension down by the protocol (in-flight calls finish first).
    pub async fn shutdown_all(&self) {
        let mut all = vec![];
        for (_, slot) in self.all_slots() {
            if let Some(e) = slot.lock().await.take() {
                all.push(e.client);
            }
        }
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
