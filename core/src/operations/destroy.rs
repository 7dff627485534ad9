//! `destroy`: idempotent. The record moves to `destroying` before the extension is
//! called and to `destroyed` only once the extension confirms; a failed destroy
//! stays `destroying`, with an event, to be retried.

use super::Core;
use crate::error::Result;
use crate::lifecycle::State;
use crate::store::{Change, EventKind, SandboxRecord};
use sandboxer_ext_protocol::DestroyParams;
use sandboxer_ext_protocol::methods as m;
use serde_json::json;

/// What `destroy` did: the record, and whether it was already destroyed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DestroyOutcome {
    #[serde(flatten)]
    pub record: SandboxRecord,
    /// It was already destroyed; nothing was done.
    pub already_destroyed: bool,
}

pub async fn destroy(core: &Core, id: &str, actor: &str) -> Result<DestroyOutcome> {
    let _guard = core.lock(id).await;
    let record = core.record(id)?;
    if record.state == State::Destroyed {
        return Ok(DestroyOutcome {
            record,
            already_destroyed: true,
        });
    }
    if record.state != State::Destroying {
        core.store().transition(
            id,
            State::Destroying,
            actor,
            Change::default(),
            json!({ "from_state": record.state }),
        )?;
    }
    let params = DestroyParams {
        sandbox_id: id.to_string(),
        backend_ref: record.backend_ref.clone(),
    };
    let result = match core.extension_of(&record).await {
        Ok(client) => {
            let result = client.request::<m::SandboxDestroy>(&params).await;
            client.release().await;
            result.map_err(Into::into)
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => {
            let (record, _) = core.store().transition(
                id,
                State::Destroyed,
                actor,
                Change::default(),
                json!({}),
            )?;
            Ok(DestroyOutcome {
                record,
                already_destroyed: false,
            })
        }
        Err(e) => {
            core.store().record_event(
                id,
                actor,
                EventKind::ExtensionError,
                json!({ "method": m::SandboxDestroy::METHOD, "error": e.to_string() }),
            )?;
            Err(e)
        }
    }
}
