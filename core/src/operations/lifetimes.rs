//! Lifetimes beyond the hard expiry: the warning before it, the idle timeout
//! (activity is what the core sees: exec and calls naming the sandbox), and the
//! budgets. `sweep` runs at the start of every reaper pass.

use super::{Core, SYSTEM};
use crate::error::Result;
use crate::lifecycle::State;
use crate::store::{Change, EventKind, SandboxFilter};
use crate::time::{Millis, duration_ms, format_duration, now_ms, rfc3339};
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
    pub idled: usize,
    pub budget_actions: usize,
}

/// Warns sandboxes about to expire, expires idle ones, enforces budgets.
pub async fn sweep(core: &Core) -> Result<Swept> {
    let now = now_ms();
    let live = core.store().list_sandboxes(&SandboxFilter {
        states: vec![State::Ready, State::Active],
        ..Default::default()
    })?;
    let warn_before = duration_ms(core.config.lifetimes.warn_before);
    let mut swept = Swept::default();
    for r in &live {
        if let Some(idle_ms) = r.idle_ms {
            let last_use = r.last_activity_at.unwrap_or(r.created_at).max(r.created_at);
            if now - last_use >= idle_ms {
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
