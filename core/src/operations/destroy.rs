//! `destroy`: idempotent. The record moves to `destroying` before the extension is
//! called and to `destroyed` only once the extension confirms; a failed destroy
//! stays `destroying`, with an event, to be retried.

use super::Core;
use crate::error::Result;
use crate::lifecycle::State;
use crate::store::{Change, EventKind, SandboxRecord, StoreError};
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

/// The answer for a sandbox another process destroyed first.
fn already_destroyed(core: &Core, id: &str) -> Result<DestroyOutcome> {
    Ok(DestroyOutcome {
        record: core.record(id)?,
        already_destroyed: true,
    })
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
        let began = core.store().transition(
            id,
            State::Destroying,
            actor,
            Change::default(),
            json!({ "from_state": record.state }),
        );
        match began {
            // Another process sharing the state file (a daemon's reaper, the
            // CLI) began meanwhile: the backend's destroy is idempotent, so
            // this one goes on.
            Ok(_)
            | Err(StoreError::BadTransition {
                from: State::Destroying,
                ..
            }) => {}
            Err(StoreError::BadTransition {
                from: State::Destroyed,
                ..
            }) => return already_destroyed(core, id),
            Err(e) => return Err(e.into()),
        }
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
            // Bound first: the store's guard must be gone before `record`.
            let recorded =
                core.store()
                    .transition(id, State::Destroyed, actor, Change::default(), json!({}));
            match recorded {
                Ok((record, _)) => Ok(DestroyOutcome {
                    record,
                    already_destroyed: false,
                }),
                // Another process recorded it destroyed meanwhile: it is, as
                // asked.
                Err(StoreError::BadTransition {
                    from: State::Destroyed,
                    ..
                }) => already_destroyed(core, id),
                Err(e) => Err(e.into()),
            }
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
