//! The daemon (`sandboxer serve`): the HTTP API for agents (axum), each route the
//! caller's verb on the core (`sandboxer_core::api`), plus the loops that keep
//! the fleet honest (TTL reaper, reconciler, pool refill, host samples) over the
//! core's resident extensions. Every route checks a bearer token.

mod auth;
mod catalog;
mod console;
mod e2b;
mod error;
mod events;
mod extract;
mod fleet;
mod inside;
mod lease;
mod listener;
mod loops;
mod mcp;
mod proxy;
mod routes;
mod sandboxes;
mod serve;
mod snapshots;

pub use auth::{Principal, Tokens};
pub use e2b::E2bState;
pub use error::{ApiError, ApiResult};
pub use routes::app;
pub use sandboxer_core::api::ROUTES;
pub use serve::{Notice, serve, token_file};

use sandboxer_core::api::{Caller, CoreVerbs};
use sandboxer_core::operations::Core;
use std::sync::Arc;

pub use sandboxer_core::operations::LoopCounters;

/// What every request handler can reach.
pub struct App {
    pub core: Arc<Core>,
    pub tokens: Tokens,
    pub counters: Arc<LoopCounters>,
    /// Cancelled when the daemon begins to shut down: streams that would
    /// otherwise stay open until the drain's deadline (MCP sessions) end.
    pub stopping: tokio_util::sync::CancellationToken,
    /// What the E2B-compatible API keeps in memory (process numbers, the
    /// environment sandboxes were created with, directory watchers).
    pub e2b: E2bState,
}

impl App {
    /// Who `who` is to the core: an admin sees every project, a member its own.
    pub fn caller(&self, who: &Principal) -> Caller {
        let consumer = who.consumer.to_string();
        if who.admin {
            Caller::admin(consumer.clone(), Some(consumer), Some(who.project.clone()))
        } else {
            Caller::member(consumer, who.project.clone())
        }
    }

    /// The verbs as `who` may use them.
    pub fn verbs(&self, who: &Principal) -> CoreVerbs {
        CoreVerbs::new(self.core.clone(), self.caller(who))
    }
}

impl auth::HasTokens for App {
    fn tokens(&self) -> &Tokens {
        &self.tokens
    }
}
