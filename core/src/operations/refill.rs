//! The warm pools' refill pass (the daemon's pool loop, `reap-stale`): every
//! pool made full again, sandboxes of an old profile version drained. A periodic
//! pass like the reaper and the reconciler (`fleet.rs`); the claim at create is
//! `pools.rs`.

use super::Core;
use super::pools::{POOL_CONSUMER, POOL_PROJECT};
use super::request::CreateRequest;
use crate::attribution::Attribution;
use crate::error::{Error, Result};
use crate::lifecycle::State;
use crate::profile::Profile;
use crate::store::{PoolCount, SandboxFilter, SandboxRecord};
use std::collections::BTreeMap;

/// One refill pass: for every profile with a pool, on every host its extension
/// reports reachable (or as one pool when it reports none), makes ready
/// sandboxes until the pool is full again. Returns how many it made.
pub async fn refill(core: &Core) -> Result<usize> {
    let pooled: Vec<Profile> = core
        .catalog()
        .profiles()
        .filter(|p| p.pool.is_some_and(|pool| pool.size > 0))
        .cloned()
        .collect();
    let mut made = 0;
    for profile in pooled {
        let size = i64::from(profile.pool.map_or(0, |p| p.size));
        let waiting = core.store().pooled_counts(
            &profile.id,
            &[State::Pending, State::Provisioning, State::Ready],
        )?;
        drain_old_versions(core, &profile, &waiting).await;
        let waiting: Vec<_> = waiting
            .into_iter()
            .filter(|w| w.version == profile.version)
            .collect();
        let hosts = match hosts_of(core, &profile).await {
            Ok(hosts) => hosts,
            Err(e) => {
                tracing::warn!(pool = %profile.id, "cannot refill: {e}");
                continue;
            }
        };
        for host in hosts {
            let have: i64 = waiting
                .iter()
                .filter(|w| host.is_none() || w.host == host)
                .map(|w| w.count)
                .sum();
            for _ in have..size {
                match make_one(core, &profile, host.clone()).await {
                    Ok(_) => made += 1,
                    Err(e) => {
                        tracing::warn!(pool = %profile.id, host = ?host, "refill failed: {e}");
                        break;
                    }
                }
            }
        }
    }
    Ok(made)
}

/// Destroys pooled sandboxes made from an earlier version of `profile`: no
/// claim takes them any more.
async fn drain_old_versions(core: &Core, profile: &Profile, waiting: &[PoolCount]) {
    if waiting.iter().all(|w| w.version == profile.version) {
        return;
    }
    let filter = SandboxFilter {
        states: vec![State::Ready],
        profile_id: Some(profile.id.clone()),
        project: Some(POOL_PROJECT.into()),
        ..Default::default()
    };
    let stale = match core.store().list_sandboxes(&filter) {
        Ok(records) => records,
        Err(e) => return tracing::warn!(pool = %profile.id, "draining: {e}"),
    };
    for r in stale
        .into_iter()
        .filter(|r| r.pool.is_some() && r.profile_version != profile.version)
    {
        if let Err(e) = super::destroy(core, &r.id, POOL_CONSUMER).await {
            tracing::warn!(sandbox = %r.id, "draining an old pooled sandbox: {e}");
        }
    }
}

/// The hosts `profile`'s extension reports reachable; `[None]` (one pool, the
/// extension placing each sandbox) when it does not report hosts, or when the
/// profile constrains placement (only the extension knows which hosts qualify).
async fn hosts_of(core: &Core, profile: &Profile) -> Result<Vec<Option<String>>> {
    if !profile.placement.labels.is_empty() {
        return Ok(vec![None]);
    }
    let lease = core.extension(profile.extension_name()).await?;
    let answer = super::telemetry::host_health(&lease, None).await;
    lease.release().await;
    let Some(answer) = answer else {
        return Ok(vec![None]);
    };
    let hosts: BTreeMap<String, bool> = answer?
        .hosts
        .into_iter()
        .map(|h| (h.host, h.reachable))
        .collect();
    Ok(hosts
        .into_iter()
        .filter(|(_, up)| *up)
        .map(|(h, _)| Some(h))
        .collect())
}

async fn make_one(core: &Core, profile: &Profile, host: Option<String>) -> Result<SandboxRecord> {
    let request = CreateRequest {
        profile: profile.id.clone(),
        ttl: Some(profile.ttl.max),
        labels: Default::default(),
        host,
        attribution: Attribution {
            consumer: POOL_CONSUMER.parse().map_err(Error::Invalid)?,
            project: POOL_PROJECT.into(),
        },
        wait: true,
        idempotency_key: None,
        from_snapshot: None,
        progress: None,
    };
    super::create::create_for_pool(core, request).await
}
