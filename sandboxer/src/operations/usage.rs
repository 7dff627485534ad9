//! Usage summed from the usage records, plus the stretch each live sandbox is in
//! now: sandbox-seconds in billed states and their cost, grouped by project,
//! consumer, profile or extension.

use super::Core;
use crate::error::{Error, Result};
use crate::lifecycle::State;
use crate::store::{SandboxFilter, UsageRecord};
use crate::time::now_ms;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// States a sandbox is charged for.
pub const BILLED_STATES: [&str; 3] = ["provisioning", "ready", "active"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageGroup {
    pub key: String,
    pub sandbox_seconds: f64,
    pub cost: f64,
    pub currency: String,
}

/// Groups by `by` (`project`, `consumer`, `profile`, `extension`), over the records
/// `visible` lets through.
pub fn usage(core: &Core, by: &str, visible: impl Fn(&str) -> bool) -> Result<Vec<UsageGroup>> {
    if !matches!(by, "project" | "consumer" | "profile" | "extension") {
        return Err(Error::Invalid(format!(
            "group usage by project, consumer, profile or extension, not {by:?}"
        )));
    }
    let closed = core.store().usage(None)?;
    // The stretch each live sandbox is in now counts up to now, as if it ended here.
    let now = now_ms();
    let filter = SandboxFilter {
        states: vec![State::Provisioning, State::Ready, State::Active],
        ..Default::default()
    };
    let open: Vec<UsageRecord> = core
        .store()
        .list_sandboxes(&filter)?
        .iter()
        .map(|r| UsageRecord::open(r, now))
        .collect();
    let mut groups: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    for u in closed.iter().chain(&open).filter(|u| visible(&u.project)) {
        if !BILLED_STATES.contains(&u.state.as_str()) {
            continue;
        }
        let key = match by {
            "project" => &u.project,
            "consumer" => &u.consumer,
            "profile" => &u.profile_id,
            _ => &u.extension,
        };
        let entry = groups.entry((key.clone(), u.currency.clone())).or_default();
        entry.0 += u.seconds();
        entry.1 += u.seconds() / 3600.0 * u.cost_per_hour;
    }
    Ok(groups
        .into_iter()
        .map(|((key, currency), (sandbox_seconds, cost))| UsageGroup {
            key,
            sandbox_seconds,
            cost,
            currency,
        })
        .collect())
}
