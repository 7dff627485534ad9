//! Telemetry: each host's `host/health` sampled and kept over time, and a report
//! per host over a window (with the canary runs `canary.rs` records).

use super::{Core, Lease};
use crate::error::Result;
use crate::exthost::HostError;
use crate::store::{CanaryRun, HealthSample};
use crate::time::{Millis, now_ms};
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::{HostHealthParams, HostHealthResult};
use serde::Serialize;
use std::collections::BTreeMap;

/// `host/health` of `host` (every host when `None`) from the extension behind
/// `lease`; `None` when the extension does not offer it. The one place the core
/// asks it: sampling, routing, warm pools and the canary all come here.
pub(super) async fn host_health(
    lease: &Lease,
    host: Option<&str>,
) -> Option<std::result::Result<HostHealthResult, HostError>> {
    if !lease.offers::<m::HostHealth>() {
        return None;
    }
    let params = HostHealthParams {
        host: host.map(str::to_string),
    };
    Some(lease.request::<m::HostHealth>(&params).await)
}

/// Asks every extension that offers `host/health` about its hosts, and records
/// the answers. An extension that cannot be asked is skipped (logged).
pub async fn sample_hosts(core: &Core) -> Vec<HealthSample> {
    let mut samples = vec![];
    for found in crate::exthost::find_all() {
        let lease = match core.extension(&found.name).await {
            Ok(lease) => lease,
            Err(e) => {
                tracing::debug!(extension = %found.name, "host health: {e}");
                continue;
            }
        };
        let answer = host_health(&lease, None).await;
        lease.release().await;
        let at = now_ms();
        match answer {
            Some(Ok(result)) => samples.extend(result.hosts.into_iter().map(|h| HealthSample {
                at,
                extension: format!("ext.{}", found.name),
                host: h.host,
                reachable: h.reachable,
                load1: h.load1,
                mem_free_mb: h.mem_free_mb.map(|v| v as i64),
                disk_free_mb: h.disk_free_mb.map(|v| v as i64),
                sandboxes: h.sandboxes.map(|v| v as i64),
                error: h.error,
            })),
            Some(Err(e)) => tracing::warn!(extension = %found.name, "host/health: {e}"),
            None => {}
        }
    }
    let mut store = core.store();
    for s in &samples {
        if let Err(e) = store.insert_health(s) {
            tracing::warn!("recording host health: {e}");
        }
    }
    samples
}

/// One host over a window: its latest sample, how often it answered, its last
/// canary.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct HostReport {
    /// The latest sample (its extension and host name the report).
    #[serde(flatten)]
    pub latest: HealthSample,
    pub samples: u64,
    pub reachable_samples: u64,
    pub last_canary: Option<CanaryRun>,
    pub canaries: u64,
    pub canaries_ok: u64,
    /// Every sample in the window, oldest first, when asked for (`series`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<HostPoint>>,
}

/// One sample of a host's health, as a point of its series.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct HostPoint {
    #[serde(with = "crate::store::times::rfc3339_time")]
    pub at: crate::time::Millis,
    pub reachable: bool,
    pub load1: Option<f64>,
    pub mem_free_mb: Option<i64>,
    pub disk_free_mb: Option<i64>,
    pub sandboxes: Option<i64>,
}

/// Every host seen since `since`, from the recorded samples and canary runs;
/// with each host's samples as a series when `series`.
pub fn host_report(core: &Core, since: Millis, series: bool) -> Result<Vec<HostReport>> {
    let samples = core.store().health_since(since)?;
    let canaries = core.store().canaries_since(since)?;
    let mut reports: BTreeMap<(String, String), HostReport> = BTreeMap::new();
    for s in samples {
        let key = (s.extension.clone(), s.host.clone());
        let report = reports.entry(key).or_insert_with(|| HostReport {
            latest: s.clone(),
            samples: 0,
            reachable_samples: 0,
            last_canary: None,
            canaries: 0,
            canaries_ok: 0,
            series: series.then(Vec::new),
        });
        if let Some(points) = &mut report.series {
            points.push(HostPoint {
                at: s.at,
                reachable: s.reachable,
                load1: s.load1,
                mem_free_mb: s.mem_free_mb,
                disk_free_mb: s.disk_free_mb,
                sandboxes: s.sandboxes,
            });
        }
        report.samples += 1;
        report.reachable_samples += u64::from(s.reachable);
        report.latest = s;
    }
    for c in canaries {
        if let Some(report) = reports.get_mut(&(c.extension.clone(), c.host.clone())) {
            report.canaries += 1;
            report.canaries_ok += u64::from(c.ok);
            report.last_canary = Some(c);
        }
    }
    Ok(reports.into_values().collect())
}
