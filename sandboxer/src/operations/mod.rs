//! What sandboxer does, one module per verb, over a `Core` (the store, the
//! catalog, the configuration). The CLI (and later the daemon) only parse input
//! and render output around these functions.

mod create;
mod destroy;
mod exec;
mod query;
mod ttl;

pub use create::{CreateRequest, create, recreate};
pub use destroy::{DestroyOutcome, destroy};
pub use exec::{ExecRequest, exec};
pub use query::{GetOutcome, events, for_each, get, list};
pub use ttl::extend_ttl;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::exthost::{self, ExtensionClient, LaunchOptions};
use crate::profile::Catalog;
use crate::store::{SandboxRecord, Store};
use std::sync::OnceLock;

/// Everything an operation needs.
pub struct Core {
    pub store: Store,
    pub config: Config,
    catalog: OnceLock<Catalog>,
}

impl Core {
    pub fn new(store: Store, config: Config) -> Core {
        Core {
            store,
            config,
            catalog: OnceLock::new(),
        }
    }

    /// The profile catalog, loaded on first use (listing sandboxes needs none).
    pub fn catalog(&self) -> &Catalog {
        self.catalog.get_or_init(Catalog::load)
    }

    /// Starts extension `name` (`ext.x` or `x`) with its configured options.
    pub async fn launch(&self, name: &str) -> Result<ExtensionClient> {
        let found = exthost::find(name)?;
        let options = LaunchOptions {
            options: self.config.extension_options(&found.name),
            timeouts: self.config.timeouts(),
        };
        Ok(ExtensionClient::launch(&found, options).await?)
    }

    /// The record of `id`, or SandboxNotFound.
    pub fn record(&self, id: &str) -> Result<SandboxRecord> {
        self.store
            .get_sandbox(id)?
            .ok_or_else(|| Error::SandboxNotFound(id.to_string()))
    }
}

/// Shuts an extension down by the protocol; a failure there only gets logged,
/// since the work it did is already recorded.
async fn close(client: ExtensionClient) {
    let name = client.name().to_string();
    if let Err(e) = client.shutdown().await {
        tracing::warn!(extension = %name, "shutdown: {e}");
    }
}
