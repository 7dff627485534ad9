//! The ledger: what sandboxes and snapshots cost, from the lifecycle. Every
//! stretch a sandbox spent in a billed state (the current one counted up to now)
//! and every stretch a snapshot was kept, clipped to a window, summed exactly per
//! group (project, consumer, profile, extension or host) and currency.

use super::Core;
use crate::config::{BackendClass, Config};
use crate::error::{Error, Result};
use crate::lifecycle::State;
use crate::money;
use crate::store::{SandboxFilter, UsageRecord};
use crate::time::{Millis, now_ms, rfc3339};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

/// What usage is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Project,
    Consumer,
    Profile,
    Extension,
    Host,
}

impl GroupBy {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Project => "project",
            GroupBy::Consumer => "consumer",
            GroupBy::Profile => "profile",
            GroupBy::Extension => "extension",
            GroupBy::Host => "host",
        }
    }
}

impl FromStr for GroupBy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "project" => GroupBy::Project,
            "consumer" => GroupBy::Consumer,
            "profile" => GroupBy::Profile,
            "extension" => GroupBy::Extension,
            "host" => GroupBy::Host,
            _ => {
                return Err(Error::Invalid(format!(
                    "group usage by project, consumer, profile, extension or host, not {s:?}"
                )));
            }
        })
    }
}

/// Which usage a ledger covers: a window, and optionally one project or consumer.
#[derive(Debug, Clone, Default)]
pub struct LedgerQuery {
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    pub project: Option<String>,
    pub consumer: Option<String>,
    /// Only sandboxes and snapshots on backends of this class.
    pub class: Option<BackendClass>,
}

/// One group's usage in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageGroup {
    pub key: String,
    pub currency: String,
    /// Distinct sandboxes with billed time in the window.
    pub sandboxes: u64,
    pub sandbox_seconds: Decimal,
    /// Sandbox-seconds times the CPUs the profile asked for (where it did).
    pub cpu_seconds: Decimal,
    /// Sandbox-seconds times the memory (MB) the profile asked for.
    pub memory_mb_seconds: Decimal,
    pub snapshots: u64,
    pub snapshot_seconds: Decimal,
    /// Sandboxes and snapshots together.
    pub cost: Decimal,
}

/// The sum over every group of one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageTotal {
    pub currency: String,
    pub sandbox_seconds: Decimal,
    pub snapshot_seconds: Decimal,
    pub cost: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    pub by: String,
    pub since: Option<String>,
    pub until: Option<String>,
    /// The instant open stretches were counted up to.
    pub as_of: String,
    pub groups: Vec<UsageGroup>,
    pub totals: Vec<UsageTotal>,
    /// The budgets over the projects the caller sees, with what is left of
    /// each in its current period (filled by the verbs, not the ledger).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<BudgetStanding>,
}

/// Where one budget stands in its current period.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BudgetStanding {
    /// `project p`, `agt:a in project p on hosted backends`...
    pub budget: String,
    pub project: String,
    /// `today` or `this month`.
    pub period: String,
    pub amount: Decimal,
    pub spent: Decimal,
    pub left: Decimal,
    pub currency: String,
    pub policy: crate::config::BudgetPolicy,
}

#[derive(Default)]
struct Sums {
    sandboxes: BTreeSet<String>,
    sandbox_ms: i64,
    cpu_ms: Decimal,
    memory_mb_ms: Decimal,
    snapshots: BTreeSet<String>,
    snapshot_ms: i64,
    rate_ms: Decimal,
}

/// `[start, end)` clipped to the query's window, in milliseconds (0 outside it).
fn clipped(q: &LedgerQuery, start: Millis, end: Millis) -> i64 {
    let start = q.since.map_or(start, |s| start.max(s));
    let end = q.until.map_or(end, |u| end.min(u));
    (end - start).max(0)
}

fn key_of<'a>(
    by: GroupBy,
    project: &'a str,
    consumer: &'a str,
    profile: &'a str,
    extension: &'a str,
    host: Option<&'a str>,
) -> &'a str {
    match by {
        GroupBy::Project => project,
        GroupBy::Consumer => consumer,
        GroupBy::Profile => profile,
        GroupBy::Extension => extension,
        GroupBy::Host => host.unwrap_or("(no host)"),
    }
}

impl LedgerQuery {
    fn admits(&self, config: &Config, project: &str, consumer: &str, extension: &str) -> bool {
        self.project.as_deref().is_none_or(|p| p == project)
            && self.consumer.as_deref().is_none_or(|c| c == consumer)
            && self.class.is_none_or(|c| config.class_of(extension) == c)
    }
}

/// The ledger for `query`, grouped by `by`, over the projects `visible` lets
/// through.
pub fn ledger(
    core: &Core,
    by: GroupBy,
    query: &LedgerQuery,
    visible: impl Fn(&str) -> bool,
) -> Result<Ledger> {
    if let (Some(s), Some(u)) = (query.since, query.until)
        && s >= u
    {
        return Err(Error::Invalid(format!(
            "--since ({}) must be before --until ({})",
            rfc3339(s),
            rfc3339(u)
        )));
    }
    let now = now_ms();
    let closed = core.store().usage_between(query.since, query.until)?;
    let live = core.store().list_sandboxes(&SandboxFilter {
        states: vec![
            State::Provisioning,
            State::Ready,
            State::Active,
            State::Paused,
        ],
        ..Default::default()
    })?;
    let open = live.iter().map(|r| UsageRecord::open(r, now));
    let mut sums: BTreeMap<(String, String), Sums> = BTreeMap::new();
    for u in closed.into_iter().chain(open) {
        if !u.billed
            || !visible(&u.project)
            || !query.admits(&core.config, &u.project, &u.consumer, &u.extension)
        {
            continue;
        }
        let ms = clipped(query, u.started_at, u.ended_at);
        if ms == 0 {
            continue;
        }
        let key = key_of(
            by,
            &u.project,
            &u.consumer,
            &u.profile_id,
            &u.extension,
            u.host.as_deref(),
        );
        let sum = sums
            .entry((key.to_string(), u.currency.clone()))
            .or_default();
        sum.sandboxes.insert(u.sandbox_id.clone());
        sum.sandbox_ms += ms;
        if let Some(cpus) = u.resources.cpus {
            sum.cpu_ms += Decimal::from(ms)
                * sandboxer_ext_protocol::money::decimal_of(cpus).unwrap_or_default();
        }
        if let Some(mb) = u.resources.memory_mb {
            sum.memory_mb_ms += Decimal::from(ms) * Decimal::from(mb);
        }
        sum.rate_ms += money::rate_ms(ms, u.cost_per_hour);
    }
    for s in core.store().snapshots_between(query.since, query.until)? {
        if !visible(&s.project)
            || !query.admits(&core.config, &s.project, &s.consumer, &s.extension)
        {
            continue;
        }
        let ms = clipped(query, s.created_at, s.deleted_at.unwrap_or(now));
        if ms == 0 {
            continue;
        }
        let key = key_of(
            by,
            &s.project,
            &s.consumer,
            &s.profile_id,
            &s.extension,
            s.host.as_deref(),
        );
        let sum = sums
            .entry((key.to_string(), s.currency.clone()))
            .or_default();
        sum.snapshots.insert(format!("{}/{}", s.extension, s.id));
        sum.snapshot_ms += ms;
        sum.rate_ms += money::rate_ms(ms, s.cost_per_hour);
    }
    let mut totals: BTreeMap<String, (i64, i64, Decimal)> = BTreeMap::new();
    let groups = sums
        .into_iter()
        .map(|((key, currency), s)| {
            let total = totals.entry(currency.clone()).or_default();
            total.0 += s.sandbox_ms;
            total.1 += s.snapshot_ms;
            total.2 += s.rate_ms;
            UsageGroup {
                key,
                currency,
                sandboxes: s.sandboxes.len() as u64,
                sandbox_seconds: money::seconds(s.sandbox_ms),
                cpu_seconds: (s.cpu_ms / Decimal::from(1000)).normalize(),
                memory_mb_seconds: (s.memory_mb_ms / Decimal::from(1000)).normalize(),
                snapshots: s.snapshots.len() as u64,
                snapshot_seconds: money::seconds(s.snapshot_ms),
                cost: money::cost(s.rate_ms),
            }
        })
        .collect();
    Ok(Ledger {
        by: by.as_str().to_string(),
        since: query.since.map(rfc3339),
        until: query.until.map(rfc3339),
        as_of: rfc3339(now),
        budgets: vec![],
        groups,
        totals: totals
            .into_iter()
            .map(
                |(currency, (sandbox_ms, snapshot_ms, rate_ms))| UsageTotal {
                    currency,
                    sandbox_seconds: money::seconds(sandbox_ms),
                    snapshot_seconds: money::seconds(snapshot_ms),
                    cost: money::cost(rate_ms),
                },
            )
            .collect(),
    })
}

/// What `query`'s project (and consumer) spent in `currency` over its window.
pub fn spent(core: &Core, query: &LedgerQuery, currency: &str) -> Result<Decimal> {
    let ledger = ledger(core, GroupBy::Project, query, |_| true)?;
    Ok(ledger
        .totals
        .iter()
        .find(|t| t.currency == currency)
        .map_or(Decimal::ZERO, |t| t.cost))
}

/// The ledger as CSV (RFC 4180): a header, then one row per group.
pub fn to_csv(ledger: &Ledger) -> Result<String> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let write = |out: &mut csv::Writer<Vec<u8>>, row: &[String]| {
        out.write_record(row)
            .map_err(|e| Error::Invalid(format!("CSV: {e}")))
    };
    let header = [
        ledger.by.as_str(),
        "currency",
        "sandboxes",
        "sandbox_seconds",
        "cpu_seconds",
        "memory_mb_seconds",
        "snapshots",
        "snapshot_seconds",
        "cost",
    ];
    write(&mut out, &header.map(str::to_string))?;
    for g in &ledger.groups {
        write(
            &mut out,
            &[
                g.key.clone(),
                g.currency.clone(),
                g.sandboxes.to_string(),
                g.sandbox_seconds.to_string(),
                g.cpu_seconds.to_string(),
                g.memory_mb_seconds.to_string(),
                g.snapshots.to_string(),
                g.snapshot_seconds.to_string(),
                g.cost.to_string(),
            ],
        )?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| Error::Invalid(format!("CSV: {e}")))?;
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8"))
}
