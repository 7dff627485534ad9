//! `pause` and `resume`: a sandbox frozen by its backend (processes and memory
//! kept) and thawed again, billed meanwhile at its profile's paused rate (the
//! running rate when the profile names none). The running rate is kept in the
//! pause's event and put back by the resume. A profile with `auto_resume`
//! lets any call that works inside a paused sandbox resume it first.

use super::{Core, SYSTEM};
use crate::error::{Error, Result};
use crate::lifecycle::State;
use crate::store::{Change, EventFilter, SandboxRecord};
use rust_decimal::Decimal;
use sandboxer_ext_protocol::PauseParams;
use sandboxer_ext_protocol::methods as m;
use serde_json::json;

/// The rate a paused sandbox of `record`'s profile bills at.
fn paused_rate(core: &Core, record: &SandboxRecord) -> Decimal {
    core.catalog()
        .get(&record.profile_id)
        .ok()
        .and_then(|p| p.cost.as_ref())
        .and_then(|c| c.paused_per_hour)
        .unwrap_or(record.cost_per_hour)
}

/// Pauses sandbox `id` (`why` goes in the event: "asked", "idle").
pub async fn pause(core: &Core, id: &str, actor: &str, why: &str) -> Result<SandboxRecord> {
    let _guard = core.lock(id).await;
    let record = core.record(id)?;
    match record.state {
        State::Paused => return Ok(record),
        State::Ready | State::Active => {}
        other => {
            return Err(Error::Refused(format!(
                "sandbox {id} is {other}; only a ready or active sandbox can be paused"
            )));
        }
    }
    let lease = core.extension_of(&record).await?;
    let answer = lease
        .request::<m::SandboxPause>(&PauseParams {
            sandbox_id: id.to_string(),
        })
        .await;
    lease.release().await;
    answer?;
    let rate = paused_rate(core, &record);
    let change = Change {
        cost_per_hour: Some(rate),
        ..Change::default()
    };
    let detail = json!({
        "reason": why,
        "running_rate": record.cost_per_hour.to_string(),
        "paused_rate": rate.to_string(),
    });
    Ok(core
        .store()
        .transition(id, State::Paused, actor, change, detail)?
        .0)
}

/// The running rate the last pause of `id` kept.
fn running_rate(core: &Core, record: &SandboxRecord) -> Decimal {
    let events = core
        .store()
        .events(&EventFilter {
            sandbox_id: Some(record.id.clone()),
            ..Default::default()
        })
        .unwrap_or_default();
    events
        .iter()
        .rev()
        .find(|e| e.to_state == Some(State::Paused))
        .and_then(|e| e.detail["running_rate"].as_str()?.parse().ok())
        .unwrap_or(record.cost_per_hour)
}

/// Resumes sandbox `id`: it is `active` again, at its running rate.
pub async fn resume(core: &Core, id: &str, actor: &str) -> Result<SandboxRecord> {
    let _guard = core.lock(id).await;
    resume_locked(core, id, actor).await
}

async fn resume_locked(core: &Core, id: &str, actor: &str) -> Result<SandboxRecord> {
    let record = core.record(id)?;
    if record.state != State::Paused {
        return Err(Error::Refused(format!(
            "sandbox {id} is {}; only a paused sandbox can be resumed",
            record.state
        )));
    }
    let lease = core.extension_of(&record).await?;
    let answer = lease
        .request::<m::SandboxResume>(&PauseParams {
            sandbox_id: id.to_string(),
        })
        .await;
    lease.release().await;
    answer?;
    let change = Change {
        cost_per_hour: Some(running_rate(core, &record)),
        ..Change::default()
    };
    Ok(core
        .store()
        .transition(
            id,
            State::Active,
            actor,
            change,
            json!({ "reason": "resumed" }),
        )?
        .0)
}

/// A sandbox to work inside: resumed first when it is paused and its profile
/// says `auto_resume`; refused, saying how to resume it, otherwise.
pub async fn awake(core: &Core, record: SandboxRecord) -> Result<SandboxRecord> {
    if record.state != State::Paused {
        return Ok(record);
    }
    let auto = core
        .catalog()
        .get(&record.profile_id)
        .is_ok_and(|p| p.ttl.auto_resume);
    if !auto {
        return Err(Error::Refused(format!(
            "sandbox {} is paused; `sandboxer resume {}` first (or give its profile \
             ttl.auto_resume: true)",
            record.id, record.id
        )));
    }
    let _guard = core.lock(&record.id).await;
    let now = core.record(&record.id)?;
    if now.state != State::Paused {
        return Ok(now);
    }
    resume_locked(core, &record.id, SYSTEM).await
}
