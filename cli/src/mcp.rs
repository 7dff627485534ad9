//! `sandboxer mcp`: the MCP tools on stdin/stdout, over the local core (as the
//! person who runs it, like every local command) or over a daemon's API with
//! `--server` and `--token` (as that token's caller). Logs go to stderr only:
//! stdout is the protocol's.

use super::client::Client;
use super::local::{actor, open_core};
use super::outcome::Outcome;
use super::{Cli, Who};
use sandboxer_core::Error;
use sandboxer_core::api::{Caller, CoreVerbs};
use sandboxer_core::operations::Core;
use sandboxer_mcp::Access;
use std::sync::Arc;

/// The local core, as its operator.
struct Local {
    core: Arc<Core>,
    caller: Caller,
}

impl Access for Local {
    type Verbs = CoreVerbs;

    fn verbs(&self, _request: Option<&http::request::Parts>) -> Result<CoreVerbs, String> {
        Ok(CoreVerbs::new(self.core.clone(), self.caller.clone()))
    }
}

/// A daemon, as its token's caller.
struct Daemon(Client);

impl Access for Daemon {
    type Verbs = Client;

    fn verbs(&self, _request: Option<&http::request::Parts>) -> Result<Client, String> {
        Ok(self.0.clone())
    }
}

pub async fn serve(cli: &Cli, who: &Who) -> Outcome {
    let served = match &cli.global.server {
        Some(server) => {
            sandboxer_mcp::serve_stdio(Daemon(Client::new(server, cli.global.token.clone()))).await
        }
        None => {
            let core = open_core(cli)?;
            // Every create is charged to --consumer in --project (else the
            // configuration's defaults), as the CLI's own creates are.
            let caller = Caller::admin(
                actor(Some(who), &core.config),
                who.consumer
                    .clone()
                    .or_else(|| core.config.defaults.consumer.clone()),
                who.project
                    .clone()
                    .or_else(|| core.config.defaults.project.clone()),
            );
            let core = Arc::new(core);
            let served = sandboxer_mcp::serve_stdio(Local {
                core: core.clone(),
                caller,
            })
            .await;
            if let Some(resident) = core.resident_extensions() {
                resident.shutdown_all().await;
            }
            served
        }
    };
    served.map_err(|e| Error::Invalid(e).into())
}
