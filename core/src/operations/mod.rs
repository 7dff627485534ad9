//! What sandboxer does, one module per verb, over a `Core` (the store, the
//! catalog, the configuration), and the periodic passes (reap and reconcile in
//! `fleet.rs`, `refill.rs`, `enforcement.rs`, `lifetimes.rs`). `api` gives the
//! verbs to callers; nothing here parses flags or renders output.

mod budget;
mod canary;
mod containment;
mod create;
mod destroy;
mod doctor;
mod endpoint;
mod enforcement;
mod exec;
mod fleet;
mod guarantees;
mod images;
mod inside;
mod ledger;
mod lifetimes;
mod pause;
mod pools;
mod query;
mod refill;
mod request;
mod routing;
mod snapshot;
mod telemetry;
mod tree_socket;
mod ttl;

/// Actor of the changes the core makes by itself (the loops, refreshes).
pub const SYSTEM: &str = "system";

pub use budget::{BudgetRoom, Charge, check_create, period_start, standing};
pub use canary::{CANARY_PROFILE, canary};
pub use create::{create, create_idempotent, recreate};
pub use destroy::{DestroyOutcome, destroy};
pub use doctor::{DoctorReport, doctor};
pub use endpoint::{endpoint_access, http_endpoint, is_public};
pub use enforcement::enforce;
pub use exec::{ExecRequest, exec};
pub use fleet::{
    Finding, FleetView, LoopCounters, ReconcileState, compare, inspect, reap_expired, reconcile,
};
pub use guarantees::{Candidate, Support, Verdict, candidates, verdicts};
pub use images::{BuiltImage, ImageReport, PruneReport, build_images, list_images, prune_images};
pub use inside::{
    Attached, StartCommand, attach, commands, file_call, get_tree, logs, metrics, put_tree,
    read_file, resize, signal, start_command, write_file, write_stdin,
};
pub use ledger::{
    BudgetStanding, GroupBy, Ledger, LedgerQuery, UsageGroup, UsageTotal, ledger, spent, to_csv,
};
pub use lifetimes::{Swept, sweep, touch};
pub use pause::{awake, pause, resume};
pub use pools::{POOL_CONSUMER, POOL_PROJECT};
pub use query::{GetOutcome, events, for_each, get};
pub use refill::refill;
pub use request::{CreateOutcome, CreateRequest, ProgressSink};
pub use routing::{Assessment, Rate, Route, RouteRequest, route, route_explained};
pub use snapshot::{
    delete_snapshot, find_snapshot, list_snapshots, restore, snapshot, snapshot_record,
};
pub use telemetry::{HostReport, host_report, sample_hosts};
pub use ttl::extend_ttl;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::exthost::{self, ExtensionClient, ResidentExtensions};
use crate::lifecycle::State;
use crate::profile::Catalog;
use crate::store::{Change, SandboxRecord, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// Everything an operation needs. Shared by concurrent operations (the daemon):
/// the store sits behind a mutex held for one statement at a time, never across
/// an extension call.
pub struct Core {
    store: Mutex<Store>,
    pub config: Config,
    catalog: OnceLock<Catalog>,
    /// Extensions kept running (daemon); `None`: start one per use (CLI).
    resident: Option<ResidentExtensions>,
    /// One lock per sandbox id: mutating calls for one sandbox never overlap.
    locks: sandboxer_ext_protocol::locks::SandboxLocks,
    /// Over a shared store, the same across daemons (advisory locks).
    shared_locks: Option<Arc<crate::store::db::PgSession>>,
    /// When each sandbox's activity was last written (see `touch`).
    touched: Mutex<HashMap<String, crate::time::Millis>>,
    /// Woken when a sandbox is taken from a warm pool (the daemon refills).
    pub pool_claimed: tokio::sync::Notify,
    /// This installation's id (`Store::installation_id`), once read.
    installation: OnceLock<String>,
    /// The endpoint proxy's key, once read.
    endpoint_key: OnceLock<crate::endpoints::EndpointKey>,
}

/// An extension to call: started for this use (and ended with it), or a
/// resident one shared with other requests.
pub enum Lease {
    Owned(Box<ExtensionClient>),
    Shared(Arc<ExtensionClient>),
}

impl std::ops::Deref for Lease {
    type Target = ExtensionClient;

    fn deref(&self) -> &ExtensionClient {
        match self {
            Lease::Owned(c) => c,
            Lease::Shared(c) => c,
        }
    }
}

impl Lease {
    /// Done with it: an owned extension is shut down by the protocol (a failure
    /// there is only logged: its work is recorded); a pooled one stays.
    pub async fn release(self) {
        if let Lease::Owned(client) = self {
            let name = client.name().to_string();
            if let Err(e) = (*client).shutdown().await {
                tracing::warn!(extension = %name, "shutdown: {e}");
            }
        }
    }
}

impl Core {
    /// Asks every installed extension that offers `M`, with the params `make`
    /// gives for it (from its name and the protocol version it speaks): per
    /// extension (`ext.<name>`) its answer, or why it could not be asked.
    /// Extensions that do not offer `M` are left out.
    pub async fn ask_every<M: sandboxer_ext_protocol::methods::Request>(
        &self,
        make: impl Fn(&str, sandboxer_ext_protocol::ProtocolVersion) -> M::Params,
    ) -> Vec<(String, std::result::Result<M::Result, String>)> {
        let mut answers = vec![];
        for found in exthost::find_all() {
            let extension = format!("ext.{}", found.name);
            let lease = match self.extension(&found.name).await {
                Ok(lease) => lease,
                Err(e) => {
                    answers.push((extension, Err(e.to_string())));
                    continue;
                }
            };
            if !lease.offers::<M>() {
                lease.release().await;
                continue;
            }
            let params = make(&found.name, lease.peer_version());
            let answer = lease.request::<M>(&params).await.map_err(|e| e.to_string());
            lease.release().await;
            answers.push((extension, answer));
        }
        answers
    }

    /// The catalog's profiles that name extension `name`, in the form a peer
    /// of `version` reads.
    pub fn profiles_for(
        &self,
        name: &str,
        version: sandboxer_ext_protocol::ProtocolVersion,
    ) -> Vec<sandboxer_ext_protocol::ProfileRef> {
        self.catalog()
            .profiles()
            .filter(|p| p.candidates.iter().any(|c| c.extension_name() == name))
            .map(|p| p.to_wire_for(name).for_peer(version))
            .collect()
    }

    /// A core that starts extensions per use (the CLI).
    pub fn new(store: Store, config: Config) -> Core {
        Core {
            shared_locks: store.lock_session(),
            store: Mutex::new(store),
            config,
            catalog: OnceLock::new(),
            resident: None,
            locks: Default::default(),
            touched: Mutex::new(HashMap::new()),
            pool_claimed: tokio::sync::Notify::new(),
            installation: OnceLock::new(),
            endpoint_key: OnceLock::new(),
        }
    }

    /// A core that keeps its extensions running (the daemon).
    pub fn with_resident_extensions(store: Store, config: Config) -> Core {
        let options = config.clone();
        let resident = ResidentExtensions::new(Box::new(move |name| options.launch_options(name)));
        Core {
            resident: Some(resident),
            ..Core::new(store, config)
        }
    }

    /// The store, for one statement. A poisoned lock is taken over: every write
    /// is a whole transaction, so a panic elsewhere cannot leave it half done.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn resident_extensions(&self) -> Option<&ResidentExtensions> {
        self.resident.as_ref()
    }

    /// This installation's id, the value of `sandboxer.installation` on everything
    /// it makes.
    pub fn installation(&self) -> Result<String> {
        if let Some(id) = self.installation.get() {
            return Ok(id.clone());
        }
        let id = self.store().installation_id()?;
        Ok(self.installation.get_or_init(|| id).clone())
    }

    /// The profile catalog, loaded on first use (listing sandboxes needs none).
    pub fn catalog(&self) -> &Catalog {
        self.catalog.get_or_init(Catalog::load)
    }

    /// Extension `name` (`ext.x` or `x`) with its configured options.
    pub async fn extension(&self, name: &str) -> Result<Lease> {
        if let Some(resident) = &self.resident {
            return Ok(Lease::Shared(resident.get(name).await?));
        }
        let found = exthost::find(name)?;
        let client =
            ExtensionClient::launch(&found, self.config.launch_options(&found.name)).await?;
        Ok(Lease::Owned(Box::new(client)))
    }

    /// Extension `name` as it serves `consumer` in `project`: with that owner's
    /// provider key when one is configured (see `ProviderKey`), else as
    /// `extension` gives it. A key goes only into options the extension declares
    /// secret; any other is refused before the extension sees it. The daemon
    /// keeps the keyed process: while it lives, neither the schema check nor the
    /// key's resolution runs again.
    pub async fn extension_for(&self, name: &str, consumer: &str, project: &str) -> Result<Lease> {
        let found = exthost::find(name)?;
        let Some((index, key)) = self.config.provider_key(&found.name, consumer, project) else {
            return self.extension(&found.name).await;
        };
        // Awaited only when the keyed process has to be started.
        let keyed_launch = async {
            // What it declares, asked of it without the key.
            let plain = self.extension(&found.name).await?;
            let schema = plain.info().options_schema.clone();
            plain.release().await;
            for option in key.options.keys() {
                if !schema.get(option).is_some_and(|spec| spec.secret) {
                    return Err(Error::Config(format!(
                        "provider_keys[{index}]: extension {} does not declare option {option:?} \
                         secret; refusing to pass a credential to it as that option (name an \
                         option `sandboxer extensions show {}` lists as secret)",
                        found.name, found.name
                    )));
                }
            }
            let mut launch = self.config.launch_options(&found.name);
            launch.secret_options = crate::secrets::resolve_off_runtime(&key.options).await?;
            for (option, value) in &launch.secret_options.0 {
                launch
                    .options
                    .insert(option.clone(), serde_json::Value::String(value.clone()));
            }
            Ok(launch)
        };
        if let Some(resident) = &self.resident {
            let slot = format!("{}#provider_keys[{index}]", found.name);
            return Ok(Lease::Shared(
                resident.get_keyed(&found.name, slot, keyed_launch).await?,
            ));
        }
        let client = ExtensionClient::launch(&found, keyed_launch.await?).await?;
        Ok(Lease::Owned(Box::new(client)))
    }

    /// The extension serving sandbox `record` (with its owner's provider key).
    pub async fn extension_of(&self, record: &SandboxRecord) -> Result<Lease> {
        self.extension_for(&record.extension, &record.consumer, &record.project)
            .await
    }

    /// Holds sandbox `id` until the guard drops: in this process, and over a
    /// shared store in every daemon.
    pub async fn lock(&self, id: &str) -> SandboxGuard {
        let local = self.locks.lock(id).await;
        let Some(session) = &self.shared_locks else {
            return SandboxGuard::local(local);
        };
        let key = lock_key(id);
        let mut waited = Duration::from_millis(5);
        loop {
            match session.try_advisory_lock(key) {
                Ok(true) => return SandboxGuard::shared(local, session.clone(), key),
                Ok(false) => {}
                Err(e) => tracing::warn!(sandbox = id, "holding the sandbox: {e}"),
            }
            tokio::time::sleep(waited).await;
            waited = (waited * 2).min(Duration::from_millis(200));
        }
    }

    /// Holds sandbox `id` if nobody else does (in any daemon).
    pub fn try_lock(&self, id: &str) -> Option<SandboxGuard> {
        let local = self.locks.try_lock(id)?;
        let Some(session) = &self.shared_locks else {
            return Some(SandboxGuard::local(local));
        };
        let key = lock_key(id);
        match session.try_advisory_lock(key) {
            Ok(true) => Some(SandboxGuard::shared(local, session.clone(), key)),
            Ok(false) => None,
            Err(e) => {
                tracing::warn!(sandbox = id, "holding the sandbox: {e}");
                None
            }
        }
    }

    /// Whether a use of `id` at `now` should be written: the last write for it
    /// was at least `every` ms ago (noted as written if so).
    fn should_touch(&self, id: &str, now: crate::time::Millis, every: crate::time::Millis) -> bool {
        let mut touched = self.touched.lock().unwrap_or_else(|p| p.into_inner());
        if touched.len() > 4096 {
            touched.retain(|_, at| now - *at < every);
        }
        match touched.get(id) {
            Some(at) if now - *at < every => false,
            _ => {
                touched.insert(id.to_string(), now);
                true
            }
        }
    }

    /// Moves sandbox `id` to `failed`, keeping `message` as its last error and in
    /// the event. Says whether it moved (a sandbox that already moved on stays).
    pub(crate) fn record_failure(&self, id: &str, actor: &str, message: &str) -> bool {
        let change = Change {
            last_error: Some(Some(message.to_string())),
            ..Change::default()
        };
        let detail = serde_json::json!({ "error": message });
        match self
            .store()
            .transition(id, State::Failed, actor, change, detail)
        {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(sandbox = id, "not recorded as failed: {e}");
                false
            }
        }
    }

    /// The record of `id`, or SandboxNotFound.
    pub fn record(&self, id: &str) -> Result<SandboxRecord> {
        // An id that cannot exist is bad input, not a missing sandbox.
        sandboxer_ext_protocol::names::validate_sandbox_id(id)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        self.store()
            .get_sandbox(id)?
            .ok_or_else(|| Error::SandboxNotFound(id.to_string()))
    }
}

/// A sandbox held (`Core::lock`): mutating calls for it never overlap, in this
/// process nor, over a shared store, in another daemon. Let go when dropped.
pub struct SandboxGuard {
    /// The advisory lock held on the shared store's lock session, if any.
    shared: Option<(Arc<crate::store::db::PgSession>, i64)>,
    _local: tokio::sync::OwnedMutexGuard<()>,
}

impl SandboxGuard {
    fn local(local: tokio::sync::OwnedMutexGuard<()>) -> SandboxGuard {
        SandboxGuard {
            shared: None,
            _local: local,
        }
    }

    fn shared(
        local: tokio::sync::OwnedMutexGuard<()>,
        session: Arc<crate::store::db::PgSession>,
        key: i64,
    ) -> SandboxGuard {
        SandboxGuard {
            shared: Some((session, key)),
            _local: local,
        }
    }
}

impl Drop for SandboxGuard {
    fn drop(&mut self) {
        // Before the in-process lock (a field) goes: nobody here can take the
        // sandbox while another daemon still could not.
        if let Some((session, key)) = self.shared.take()
            && let Err(e) = session.advisory_unlock(key)
        {
            // The session is gone or going: its locks go with it.
            tracing::warn!("letting a sandbox go: {e}");
        }
    }
}

/// The advisory lock key of sandbox `id`: the first 8 bytes of its SHA-256
/// (another id with the same key only waits its turn).
fn lock_key(id: &str) -> i64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(id.as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}
