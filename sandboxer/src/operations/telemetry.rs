//! Telemetry: each host's `host/health` sampled and kept over time, a report per
//! host over a window, and the canary — a real sandbox created on each host,
//! checked to answer, destroyed, with the result recorded.

use super::{Core, CreateRequest, Lease};
use crate::attribution::Attribution;
use crate::error::Result;
use crate::exthost::HostError;
use crate::store::{CanaryRun, HealthSample};
use crate::time::{Millis, now_ms};
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::{EndpointProtocol, HostHealthParams, HostHealthResult};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

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

/// The profile `canary` creates unless told otherwise.
pub const CANARY_PROFILE: &str = "profile.sandbox-canary";

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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostReport {
    pub extension: String,
    pub host: String,
    pub latest: HealthSample,
    pub samples: u64,
    pub reachable_samples: u64,
    pub last_canary: Option<CanaryRun>,
    pub canaries: u64,
    pub canaries_ok: u64,
}

/// Every host seen since `since`, from the recorded samples and canary runs.
pub fn host_report(core: &Core, since: Millis) -> Result<Vec<HostReport>> {
    let samples = core.store().health_since(since)?;
    let canaries = core.store().canaries_since(since)?;
    let mut reports: BTreeMap<(String, String), HostReport> = BTreeMap::new();
    for s in samples {
        let key = (s.extension.clone(), s.host.clone());
        let report = reports.entry(key).or_insert_with(|| HostReport {
            extension: s.extension.clone(),
            host: s.host.clone(),
            latest: s.clone(),
            samples: 0,
            reachable_samples: 0,
            last_canary: None,
            canaries: 0,
            canaries_ok: 0,
        });
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

/// Runs the canary on every host of `profile`'s extension (or only `host`):
/// create, check it answers, destroy, record. Hosts run one after the other.
pub async fn canary(
    core: &Core,
    profile: &str,
    host: Option<&str>,
    attribution: Attribution,
) -> Result<Vec<CanaryRun>> {
    let profile = core.catalog().get(profile)?.clone();
    let hosts: Vec<Option<String>> = match host {
        Some(h) => vec![Some(h.to_string())],
        None => {
            let lease = core.extension(profile.extension_name()).await?;
            let answer = host_health(&lease, None).await;
            lease.release().await;
            match answer {
                Some(result) => result?.hosts.into_iter().map(|h| Some(h.host)).collect(),
                // One run where the extension places it.
                None => vec![None],
            }
        }
    };
    let mut runs = vec![];
    for host in hosts {
        let run = canary_on(core, &profile.id, &profile.extension, host, &attribution).await;
        core.store().insert_canary(&run)?;
        runs.push(run);
    }
    Ok(runs)
}

async fn canary_on(
    core: &Core,
    profile: &str,
    extension: &str,
    host: Option<String>,
    attribution: &Attribution,
) -> CanaryRun {
    let at = now_ms();
    let started = Instant::now();
    let request = CreateRequest {
        profile: profile.to_string(),
        ttl: Some(Duration::from_secs(600)),
        labels: [("purpose".to_string(), "canary".to_string())].into(),
        host: host.clone(),
        attribution: attribution.clone(),
        wait: true,
        idempotency_key: None,
        from_snapshot: None,
        progress: None,
    };
    let actor = attribution.consumer.to_string();
    let created = super::create(core, request).await;
    let create_ms = started.elapsed().as_millis() as i64;
    let (sandbox_id, outcome) = match created {
        Ok(record) => {
            let checked = check_answers(core, &record).await;
            let destroyed = super::destroy(core, &record.id, &actor).await;
            let outcome = match (checked, destroyed) {
                (Ok(()), Ok(_)) => Ok(()),
                (Err(e), _) => Err(e),
                (Ok(()), Err(e)) => Err(format!("destroy failed: {e}")),
            };
            (Some(record.id), outcome)
        }
        Err(e) => (None, Err(format!("create failed: {e}"))),
    };
    CanaryRun {
        at,
        extension: extension.to_string(),
        host: host.unwrap_or_else(|| "(default)".into()),
        profile_id: profile.to_string(),
        sandbox_id,
        ok: outcome.is_ok(),
        create_ms: outcome.is_ok().then_some(create_ms),
        total_ms: started.elapsed().as_millis() as i64,
        error: outcome.err(),
    }
}

/// The sandbox answers: its HTTP endpoints with 2xx or 3xx, its TCP endpoints
/// accept a connection; with no endpoint, `true` runs in it.
async fn check_answers(core: &Core, record: &crate::store::SandboxRecord) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let mut checked = 0;
    for e in &record.endpoints {
        match e.protocol {
            EndpointProtocol::Http => {
                let url = e
                    .url
                    .clone()
                    .unwrap_or_else(|| format!("http://{}:{}/", e.host, e.port));
                let status = http
                    .get(&url)
                    .send()
                    .await
                    .map_err(|err| format!("{url}: {err}"))?
                    .status();
                if !(status.is_success() || status.is_redirection()) {
                    return Err(format!("{url} answered {status}"));
                }
                checked += 1;
            }
            EndpointProtocol::Tcp => {
                let addr = format!("{}:{}", e.host, e.port);
                tokio::time::timeout(
                    Duration::from_secs(10),
                    tokio::net::TcpStream::connect(&addr),
                )
                .await
                .map_err(|_| format!("{addr}: no answer in 10 s"))?
                .map_err(|err| format!("{addr}: {err}"))?;
                checked += 1;
            }
            EndpointProtocol::Ssh => {}
        }
    }
    if checked == 0 {
        let request = super::ExecRequest {
            argv: vec!["true".into()],
            service: None,
            stdin: None,
            timeout_s: Some(30),
        };
        let result = super::exec(core, &record.id, request, super::SYSTEM)
            .await
            .map_err(|e| format!("exec true: {e}"))?;
        if result.exit_code != 0 {
            return Err(format!("exec true exited {}", result.exit_code));
        }
    }
    Ok(())
}
