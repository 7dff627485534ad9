//! The canary: a real sandbox created on each host, checked to answer,
//! destroyed, with the result recorded beside the host's health samples.

use super::Core;
use super::request::CreateRequest;
use super::telemetry::host_health;
use crate::attribution::Attribution;
use crate::error::Result;
use crate::store::CanaryRun;
use crate::time::now_ms;
use sandboxer_ext_protocol::EndpointProtocol;
use std::time::{Duration, Instant};

/// The profile `canary` creates unless told otherwise.
pub const CANARY_PROFILE: &str = "profile.sandbox-canary";

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
