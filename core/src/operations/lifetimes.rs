//! Lifetimes beyond the hard expiry: the warning before it, the idle timeout
//! (activity is what the core sees — exec and calls naming the sandbox — and
//! what the backend says goes on inside: a command still running or a
//! terminal still attached keeps a sandbox in use), with the profile's
//! `on_idle` saying whether an idle sandbox expires or pauses, and the budgets.
//! `sweep` runs at the start of every reaper pass.

use super::{Core, SYSTEM};
use crate::error::Result;
use crate::lifecycle::State;
use crate::store::{Change, EventKind, SandboxFilter};
use crate::time::{Millis, duration_ms, format_duration, now_ms, rfc3339};
use sandboxer_ext_protocol::ExecListParams;
use sandboxer_ext_protocol::methods as m;
use serde_json::json;
use std::time::Duration;

/// Uses of one sandbox closer together than this are recorded once.
const TOUCH_EVERY_MS: Millis = 1_000;

/// Records a use of sandbox `id` now (at most once a second per sandbox and
/// process, so a busy API does not turn every read into a write).
pub fn touch(core: &Core, id: &str) {
    let now = now_ms();
    if !core.should_touch(id, now, TOUCH_EVERY_MS) {
        return;
    }
    if let Err(e) = core.store().touch(id, now) {
        tracing::debug!(sandbox = %id, "recording activity: {e}");
    }
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub warned: usize,
    /// Expired for idleness.
    pub idled: usize,
    /// Paused for idleness (`on_idle: pause`).
    pub paused: usize,
    pub budget_actions: usize,
}

/// Whether the backend reports work going on inside: a command running or a
/// caller attached (`exec/list`). A backend that cannot say, or fails to, is
/// taken at the core's word.
async fn busy_inside(core: &Core, record: &crate::store::SandboxRecord) -> bool {
    let Ok(lease) = core.extension_of(record).await else {
        return false;
    };
    let busy = if lease.offers::<m::ExecList>() {
        let params = ExecListParams {
            sandbox_id: record.id.clone(),
        };
        match lease.request::<m::ExecList>(&params).await {
            Ok(listed) => listed
                .sessions
                .iter()
                .any(|s| s.exit.is_none() || s.attached > 0),
            Err(e) => {
                tracing::debug!(sandbox = %record.id, "exec/list for idleness: {e}");
                false
            }
        }
    } else {
        false
    };
    lease.release().await;
    busy
}

/// Pauses an idle sandbox whose profile says `on_idle: pause`, if its backend
/// can; whether it did.
async fn pause_for_idleness(core: &Core, record: &crate::store::SandboxRecord) -> bool {
    let wants = core
        .catalog()
        .get(&record.profile_id)
        .is_ok_and(|p| p.ttl.on_idle == crate::profile::OnIdle::Pause);
    if !wants {
        return false;
    }
    match super::pause(core, &record.id, SYSTEM, "idle").await {
        Ok(_) => true,
        Err(e) => {
            tracing::info!(sandbox = %record.id, "pausing an idle sandbox failed, expiring it: {e}");
            false
        }
    }
}

/// Warns sandboxes about to expire, expires idle ones, enforces budgets.
pub async fn sweep(core: &Core) -> Result<Swept> {
    let now = now_ms();
    let live = core.store().list_sandboxes(&SandboxFilter {
        states: vec![State::Ready, State::Active, State::Paused],
        ..Default::default()
    })?;
    let warn_before = duration_ms(core.config.lifetimes.warn_before);
    let mut swept = Swept::default();
    for r in &live {
        if let Some(idle_ms) = r.idle_ms.filter(|_| r.state != State::Paused) {
            let last_use = r.last_activity_at.unwrap_or(r.created_at).max(r.created_at);
            if now - last_use >= idle_ms {
                if busy_inside(core, r).await {
                    if let Err(e) = core.store().touch(&r.id, now) {
                        tracing::debug!(sandbox = %r.id, "recording activity inside: {e}");
                    }
                    continue;
                }
                if pause_for_idleness(core, r).await {
                    swept.paused += 1;
                    continue;
                }
                let detail = json!({
                    "reason": "idle",
                    "idle_timeout": format_duration(Duration::from_millis(idle_ms as u64)),
                    "last_activity_at": rfc3339(last_use),
                });
                match core.store().transition(
                    &r.id,
                    State::Expired,
                    SYSTEM,
                    Change::default(),
                    detail,
                ) {
                    Ok(_) => swept.idled += 1,
                    Err(e) => tracing::debug!(sandbox = %r.id, "idle expiry: {e}"),
                }
                continue;
            }
        }
        let due_in = r.expires_at - now;
        if due_in > 0 && due_in <= warn_before && r.warned_expiry != Some(r.expires_at) {
            let detail = json!({
                "expires_at": rfc3339(r.expires_at),
                "in_s": due_in / 1000,
                "ceiling_at": rfc3339(r.ceiling_at),
            });
            let mut store = core.store();
            store.record_event(&r.id, SYSTEM, EventKind::ExpiryWarning, detail)?;
            store.set_warned_expiry(&r.id, r.expires_at)?;
            swept.warned += 1;
        }
    }
    swept.budget_actions = super::enforcement::enforce(core).await?;
    Ok(swept)
}
