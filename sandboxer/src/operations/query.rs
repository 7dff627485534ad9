//! Reading: `get` (refreshed from the extension for live sandboxes), `list` and
//! `events` (from the store only).

use super::{Core, SYSTEM};
use crate::error::{Error, Result};
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
        State::Provisioning | State::Ready | State::Active
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

pub fn list(core: &Core, filter: &SandboxFilter) -> Result<Vec<SandboxRecord>> {
    Ok(core.store().list_sandboxes(filter)?)
}

/// Like `list`, one borrowed view at a time: for output of any size.
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

/// The keys a list query may use.
pub const LIST_QUERY_KEYS: &[&str] = &["state", "profile", "project", "consumer", "label", "all"];

/// The filter a list query asks for, as the daemon's `GET /v1/sandboxes` reads
/// its query string (pairs, repeated keys kept): `state=a,b` (repeatable), `all`,
/// `label=k=v` (repeatable), `profile=` (with or without `profile.`), `project=`,
/// `consumer=`. Unknown keys and bad values are refused naming them. Who may see
/// which project is the caller's business.
pub fn list_filter(pairs: &[(String, String)]) -> Result<SandboxFilter> {
    if let Some((k, _)) = pairs
        .iter()
        .find(|(k, _)| !LIST_QUERY_KEYS.contains(&k.as_str()))
    {
        return Err(Error::Invalid(format!(
            "unknown query parameter {k:?}; known: {}",
            LIST_QUERY_KEYS.join(", ")
        )));
    }
    let all_of = |key: &'static str| {
        pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let last = |key: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let mut states = vec![];
    for s in all_of("state").flat_map(|s| s.split(',')) {
        states.push(
            s.parse::<State>()
                .map_err(|e| Error::Invalid(format!("state: {e}")))?,
        );
    }
    let all = match last("all") {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") | Some("") => true,
        Some(other) => {
            return Err(Error::Invalid(format!("all={other:?}: use true or false")));
        }
    };
    if states.is_empty() && !all {
        states = State::ALL
            .into_iter()
            .filter(|s| *s != State::Destroyed)
            .collect();
    }
    let mut labels = std::collections::BTreeMap::new();
    for pair in all_of("label") {
        let (k, v) = crate::labels::parse_label_filter(pair).map_err(Error::Invalid)?;
        labels.insert(k, v);
    }
    Ok(SandboxFilter {
        states,
        profile_id: last("profile").map(|p| {
            if p.starts_with(crate::profile::PROFILE_ID_PREFIX) {
                p.to_string()
            } else {
                format!("{}{p}", crate::profile::PROFILE_ID_PREFIX)
            }
        }),
        project: last("project").map(str::to_string),
        consumer: last("consumer").map(str::to_string),
        labels,
        ..Default::default()
    })
}
