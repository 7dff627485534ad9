//! Budgets: a spending limit per project (or one consumer in it) per period. A
//! create whose estimate (its rate over its whole TTL) exceeds what is left is
//! refused before anything is recorded; a budget that has run out is enforced on
//! running sandboxes by its policy, with an event each (`enforcement.rs`).

use super::Core;
use super::ledger::{BudgetStanding, LedgerQuery, spent};
use crate::config::{BackendClass, BudgetConfig, BudgetPeriod};
use crate::error::{Error, Result};
use crate::money;
use crate::time::{Millis, now_ms};
use chrono::{DateTime, Datelike, Utc};
use rust_decimal::Decimal;

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

pub(super) fn scope(b: &BudgetConfig) -> String {
    let owner = match &b.consumer {
        Some(c) => format!("{c} in project {}", b.project),
        None => format!("project {}", b.project),
    };
    match b.class {
        Some(class) => format!("{owner} on {} backends", class.as_str()),
        None => owner,
    }
}

fn applies(b: &BudgetConfig, project: &str, consumer: &str, class: BackendClass) -> bool {
    b.project == project
        && b.consumer.as_deref().is_none_or(|c| c == consumer)
        && b.class.is_none_or(|c| c == class)
}

pub(super) fn spent_in_period(core: &Core, b: &BudgetConfig, now: Millis) -> Result<Decimal> {
    let query = LedgerQuery {
        since: period_start(b.period, now),
        until: None,
        project: Some(b.project.clone()),
        consumer: b.consumer.clone(),
        class: b.class,
    };
    spent(core, &query, &b.currency)
}

/// Every configured budget over a project `sees` lets through, with its
/// spending so far in its current period.
pub fn standing(core: &Core, sees: impl Fn(&str) -> bool) -> Result<Vec<BudgetStanding>> {
    let now = now_ms();
    let mut all = vec![];
    for b in core.config.budgets.iter().filter(|b| sees(&b.project)) {
        let spent = spent_in_period(core, b, now)?;
        all.push(BudgetStanding {
            budget: scope(b),
            project: b.project.clone(),
            period: period_name(b.period).to_string(),
            amount: b.amount,
            spent,
            left: (b.amount - spent).max(Decimal::ZERO),
            currency: b.currency.clone(),
            policy: b.policy,
        });
    }
    Ok(all)
}

/// How much one budget had left when a create was weighed against it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BudgetRoom {
    /// `project p`, `agt:a in project p on hosted backends`...
    pub budget: String,
    pub left: Decimal,
    pub amount: Decimal,
    pub currency: String,
    /// The most the sandbox may cost over its TTL at its rate.
    pub estimate: Decimal,
}

/// What a create is weighed against the budgets with.
#[derive(Debug, Clone, Copy)]
pub struct Charge<'a> {
    pub project: &'a str,
    pub consumer: &'a str,
    /// The class of the backend it would run on.
    pub class: BackendClass,
    pub rate: Decimal,
    pub currency: &'a str,
    pub ttl_ms: Millis,
}

/// Refuses a sandbox charged at `charge.rate` an hour for its TTL when a budget
/// that covers it does not have that much left; else what each such budget has
/// left.
pub fn check_create(core: &Core, charge: Charge<'_>) -> Result<Vec<BudgetRoom>> {
    let Charge {
        project,
        consumer,
        class,
        rate,
        currency,
        ttl_ms,
    } = charge;
    let mut rooms = vec![];
    if rate.is_zero() {
        return Ok(rooms);
    }
    let now = now_ms();
    for b in core
        .config
        .budgets
        .iter()
        .filter(|b| applies(b, project, consumer, class))
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
        rooms.push(BudgetRoom {
            budget: format!("{} {}", scope(b), period_name(b.period)),
            left,
            amount: b.amount,
            currency: b.currency.clone(),
            estimate,
        });
    }
    Ok(rooms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_at_midnight_utc() {
        let t = crate::time::parse_rfc3339("2026-11-26T15:04:05Z").unwrap();
        let day = period_start(BudgetPeriod::Day, t).unwrap();
        let month = period_start(BudgetPeriod::Month, t).unwrap();
        use crate::time::rfc3339;
        assert_eq!(rfc3339(day), "2026-11-26T00:00:00.000Z");
        assert_eq!(rfc3339(month), "2026-11-01T00:00:00.000Z");
        assert_eq!(period_start(BudgetPeriod::Total, t), None);
    }
}
