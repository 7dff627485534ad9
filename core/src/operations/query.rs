//! Reading: `get` (refreshed from the extension for live sandboxes), listing
//! and `events` (from the store only).

use super::{Core, SYSTEM};
use crate::error::Result;
use crate::exthost::HostError;
use crate::lifecycle::State;
use crate::store::{Change, Event, EventFilter, SandboxFilter, SandboxRecord};
use crate::time::now_ms;
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::{BackendState, ErrorKind, GetParams, Sandbox};
use serde_json::json;

/// The record, and why it could not be refreshed if it could not.
#[derive(Debug, Clone)]
pub struct GetOutcome {
    pub record: SandboxRecord,
    pub refresh_error: Option<String>,
}

/// Reads a sandbox. With `refresh`, a sandbox the backend may be working on is
/// asked about: endpoints and details are updated, `provisioning` becomes `ready`
/// (or `failed`), a sandbox past its expiry becomes `expired`, and one the backend
/// no longer has becomes `failed`.
pub async fn get(core: &Core, id: &str, refresh: bool) -> Result<GetOutcome> {
    super::touch(core, id);
    let record = core.record(id)?;
    let live = matches!(
        record.state,
        State::Provisioning | State::Ready | State::Active | State::Paused
    );
    if !refresh || !live {
        return Ok(GetOutcome {
            record,
            refresh_error: None,
        });
    }
    let _guard = core.lock(id).await;
    let record = core.record(id)?;
    if record.state != State::Provisioning && now_ms() >= record.expires_at {
        let (record, _) = core.store().transition(
            id,
            State::Expired,
            SYSTEM,
            Change::default(),
            json!({ "expires_at": crate::time::rfc3339(record.expires_at) }),
        )?;
        return Ok(GetOutcome {
            record,
            refresh_error: None,
        });
    }
    let answer = match core.extension_of(&record).await {
        Ok(client) => {
            let params = GetParams {
                sandbox_id: id.to_string(),
                backend_ref: record.backend_ref.clone(),
            };
            let answer = client.request::<m::SandboxGet>(&params).await;
            client.release().await;
            answer.map_err(crate::Error::from)
        }
        Err(e) => Err(e),
    };
    let change = |s: &Sandbox| Change {
        backend_ref: Some(s.backend_ref.clone()).filter(|r| !r.is_empty()),
        endpoints: Some(s.endpoints.clone()),
        details: Some(s.details.clone()),
        ..Change::default()
    };
    let record = match answer {
        Ok(sandbox) => match (record.state, sandbox.state) {
            (State::Provisioning, BackendState::Ready) => {
                core.store()
                    .transition(id, State::Ready, SYSTEM, change(&sandbox), json!({}))?
                    .0
            }
            (_, BackendState::Failed) => {
                let detail = json!({ "backend_details": sandbox.details });
                core.store()
                    .transition(id, State::Failed, SYSTEM, change(&sandbox), detail)?
                    .0
            }
            _ => core.store().observe(id, change(&sandbox))?,
        },
        Err(crate::Error::Extension(e @ HostError::Remote { .. }))
            if e.remote_kind() == Some(ErrorKind::NotFound) =>
        {
            let message = "the backend no longer has this sandbox".to_string();
            let change = Change {
                last_error: Some(Some(message.clone())),
                ..Change::default()
            };
            core.store()
                .transition(
                    id,
                    State::Failed,
                    SYSTEM,
                    change,
                    json!({ "error": message }),
                )?
                .0
        }
        Err(e) => {
            return Ok(GetOutcome {
                record,
                refresh_error: Some(e.to_string()),
            });
        }
    };
    Ok(GetOutcome {
        record,
        refresh_error: None,
    })
}

/// Each sandbox `filter` matches, one borrowed view at a time: for output of
/// any size.
pub fn for_each<E: From<crate::store::StoreError>>(
    core: &Core,
    filter: &SandboxFilter,
    each: impl FnMut(crate::store::SandboxView<'_>) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    core.store().for_each_sandbox_view(filter, each)
}

pub fn events(core: &Core, filter: &EventFilter) -> Result<Vec<Event>> {
    Ok(core.store().events(filter)?)
}
