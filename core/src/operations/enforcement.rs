//! The budget enforcement pass (run by the reaper before it reaps): every budget
//! that has run out applied to the running sandboxes it covers, by its policy
//! (warn, stop with a snapshot, destroy), with one event per sandbox per period.
//! A periodic pass like the reaper and the reconciler (`fleet.rs`); the refusal
//! at create is `budget.rs`.

use super::budget::{period_start, scope, spent_in_period};
use super::{Core, SYSTEM};
use crate::config::BudgetPolicy;
use crate::error::{Error, Result};
use crate::lifecycle::State;
use crate::store::{EventFilter, EventKind, SandboxFilter};
use crate::time::{Millis, now_ms, rfc3339};
use serde_json::json;

/// Whether this sandbox already got a `budget_exhausted` event in this period.
fn already_told(core: &Core, id: &str, since: Option<Millis>) -> Result<bool> {
    let events = core.store().events(&EventFilter {
        sandbox_id: Some(id.to_string()),
        ..Default::default()
    })?;
    Ok(events
        .iter()
        .any(|e| e.kind == EventKind::BudgetExhausted && since.is_none_or(|s| e.at >= s)))
}

/// One pass: every budget that has run out is applied to the running sandboxes it
/// covers. Returns how many sandboxes were newly told their budget ran out.
pub async fn enforce(core: &Core) -> Result<usize> {
    let now = now_ms();
    let mut acted = 0;
    for b in &core.config.budgets {
        let spent = spent_in_period(core, b, now)?;
        if spent < b.amount {
            continue;
        }
        let running = core.store().list_sandboxes(&SandboxFilter {
            states: vec![
                State::Provisioning,
                State::Ready,
                State::Active,
                State::Paused,
            ],
            project: Some(b.project.clone()),
            consumer: b.consumer.clone(),
            ..Default::default()
        })?;
        let since = period_start(b.period, now);
        // A class budget covers only the sandboxes on backends of its class.
        let covered = running.into_iter().filter(|r| {
            b.class
                .is_none_or(|c| core.config.class_of(&r.extension) == c)
        });
        for r in covered {
            // Told once per period; the action is retried on every pass until done.
            if !already_told(core, &r.id, since)? {
                let detail = json!({
                    "budget": scope(b),
                    "amount": b.amount.to_string(),
                    "spent": spent.to_string(),
                    "currency": b.currency,
                    "period_start": since.map(rfc3339),
                    "policy": b.policy.as_str(),
                });
                core.store()
                    .record_event(&r.id, SYSTEM, EventKind::BudgetExhausted, detail)?;
                acted += 1;
            }
            if b.policy == BudgetPolicy::Warn || !r.state.is_usable() {
                // A sandbox still provisioning is handled on a later pass.
                continue;
            }
            if b.policy == BudgetPolicy::Stop {
                let name = format!("budget-stop-{}", now / 1000);
                match super::snapshot(core, &r.id, &name, SYSTEM).await {
                    Ok(_) => {}
                    Err(Error::Extension(crate::exthost::HostError::Unsupported { .. })) => {}
                    Err(e) => {
                        // Without its snapshot the sandbox is kept: destroying it
                        // would lose what the policy promises to keep.
                        tracing::warn!(sandbox = %r.id, "budget stop: snapshot failed: {e}");
                        continue;
                    }
                }
            }
            if let Err(e) = super::destroy(core, &r.id, SYSTEM).await {
                tracing::warn!(sandbox = %r.id, "budget {}: destroy failed: {e}", b.policy.as_str());
            }
        }
    }
    Ok(acted)
}
