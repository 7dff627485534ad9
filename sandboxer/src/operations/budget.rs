//! Budgets: a spending limit per project (or one consumer in it) per period. A
//! create whose estimate (its rate over its whole TTL) exceeds what is left is
//! refused before anything is recorded; a budget that has run out is enforced on
//! running sandboxes by its policy, with an event each.

use super::ledger::{LedgerQuery, spent};
use super::{Core, SYSTEM};
use crate::config::{BudgetConfig, BudgetPeriod, BudgetPolicy};
use crate::error::{Error, Result};
use crate::lifecycle::State;
use crate::money;
use crate::store::{EventFilter, EventKind, SandboxFilter};
use crate::time::{Millis, now_ms, rfc3339};
use chrono::{DateTime, Datelike, Utc};
use rust_decimal::Decimal;
use serde_json::json;

/// When the period holding `now` began (`None`: since the beginning).
pub fn period_start(period: BudgetPeriod, now: Millis) -> Option<Millis> {
    let t = DateTime::<Utc>::from_timestamp_millis(now)?;
    let day = t.date_naive();
    let start = match period {
        BudgetPeriod::Total => return None,
        BudgetPeriod::Day => day,
        BudgetPeriod::Month => day.with_day(1)?,
    };
    Some(start.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

fn period_name(period: BudgetPeriod) -> &'static str {
    match period {
        BudgetPeriod::Day => "today",
        BudgetPeriod::Month => "this month",
        BudgetPeriod::Total => "in total",
    }
}

fn scope(b: &BudgetConfig) -> String {
    match &b.consumer {
        Some(c) => format!("{c} in project {}", b.project),
        None => format!("project {}", b.project),
    }
}

fn applies(b: &BudgetConfig, project: &str, consumer: &str) -> bool {
    b.project == project && b.consumer.as_deref().is_none_or(|c| c == consumer)
}

fn spent_in_period(core: &Core, b: &BudgetConfig, now: Millis) -> Result<Decimal> {
    let query = LedgerQuery {
        since: period_start(b.period, now),
        until: None,
        project: Some(b.project.clone()),
        consumer: b.consumer.clone(),
    };
    spent(core, &query, &b.currency)
}

/// Refuses a sandbox charged to `project`/`consumer` at `per_hour` for `ttl_ms`
/// when a budget does not have that much left.
pub fn check_create(
    core: &Core,
    project: &str,
    consumer: &str,
    per_hour: f64,
    currency: &str,
    ttl_ms: Millis,
) -> Result<()> {
    let rate = money::decimal(per_hour);
    if rate.is_zero() {
        return Ok(());
    }
    let now = now_ms();
    for b in core
        .config
        .budgets
        .iter()
        .filter(|b| applies(b, project, consumer))
    {
        if b.currency != currency {
            return Err(Error::Refused(format!(
                "the budget of {} is in {}, but this sandbox is charged in {currency}; \
                 the two cannot be compared",
                scope(b),
                b.currency
            )));
        }
        let estimate = money::cost(money::rate_ms(ttl_ms, rate));
        let left = (b.amount - spent_in_period(core, b, now)?).max(Decimal::ZERO);
        if estimate > left {
            return Err(Error::Refused(format!(
                "over budget: this sandbox may cost {estimate} {currency} over its TTL, and the \
                 budget of {} has {left} {currency} left of {} {} {}; ask for a shorter --ttl \
                 or a higher budget",
                scope(b),
                b.amount,
                b.currency,
                period_name(b.period)
            )));
        }
    }
    Ok(())
}

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
            states: vec![State::Provisioning, State::Ready, State::Active],
            project: Some(b.project.clone()),
            consumer: b.consumer.clone(),
            ..Default::default()
        })?;
        let since = period_start(b.period, now);
        for r in running {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_at_midnight_utc() {
        let t = crate::time::parse_rfc3339("2026-11-26T15:04:05Z").unwrap();
        let day = period_start(BudgetPeriod::Day, t).unwrap();
        let month = period_start(BudgetPeriod::Month, t).unwrap();
        assert_eq!(rfc3339(day), "2026-11-26T00:00:00.000Z");
        assert_eq!(rfc3339(month), "2026-11-01T00:00:00.000Z");
        assert_eq!(period_start(BudgetPeriod::Total, t), None);
    }
}
