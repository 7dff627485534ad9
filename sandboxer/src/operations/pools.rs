//! Warm pools: a profile with `pool: {size: N}` keeps N ready sandboxes per host,
//! made in advance and charged to the pool (consumer `adm:pool`, project `pool`).
//! A create of that profile takes the oldest ready one in one SQLite transaction —
//! no backend call — and from then on it is the consumer's: attribution, labels,
//! lifetime, ceiling and idle timeout are the claimer's, and so is its usage. The
//! refill pass (the daemon's pool loop, `reap-stale`) makes up what was taken.
//!
//! The backend's own labels stay those the pool made it with (protocol v1 has no
//! call to change them); `sandboxer.id`, the label everything is found by, is the
//! same before and after.

use super::{Core, CreateRequest};
use crate::attribution::Attribution;
use crate::error::{Error, Result};
use crate::lifecycle::State;
use crate::profile::Profile;
use crate::store::{Claim, SandboxRecord};
use crate::time::duration_ms;
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::{HostHealthParams, HostHealthResult};
use std::collections::BTreeMap;
use std::time::Duration;

/// Whom pooled sandboxes are charged to until claimed.
pub const POOL_CONSUMER: &str = "adm:pool";
pub const POOL_PROJECT: &str = "pool";

/// Takes a ready sandbox from `profile`'s pool for `request`, if one is waiting.
/// The consumer's budget is checked at the pooled sandbox's rate first.
pub async fn claim(
    core: &Core,
    profile: &Profile,
    request: &CreateRequest,
    ttl: Duration,
) -> Result<Option<SandboxRecord>> {
    let Some((per_hour, currency)) = core
        .store()
        .pooled_rate(&profile.id, request.host.as_deref())?
    else {
        return Ok(None);
    };
    let consumer = request.attribution.consumer.to_string();
    super::budget::check_create(
        core,
        &request.attribution.project,
        &consumer,
        per_hour,
        &currency,
        duration_ms(ttl),
    )?;
    let mut labels = profile.labels.clone();
    labels.extend(request.labels.clone());
    let claim = Claim {
        consumer,
        project: request.attribution.project.clone(),
        labels,
        ttl_ms: duration_ms(ttl),
        max_ms: duration_ms(profile.ttl.max),
        idle_ms: profile.ttl.idle.map(duration_ms),
    };
    let claimed = core
        .store()
        .claim_pooled(&profile.id, request.host.as_deref(), &claim)?;
    if let Some(record) = &claimed {
        tracing::info!(sandbox = %record.id, pool = %profile.id, "claimed from the warm pool");
        core.pool_claimed.notify_one();
    }
    Ok(claimed)
}

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
        let hosts = match hosts_of(core, &profile).await {
            Ok(hosts) => hosts,
            Err(e) => {
                tracing::warn!(pool = %profile.id, "cannot refill: {e}");
                continue;
            }
        };
        for host in hosts {
            let have: i64 = match &host {
                Some(h) => waiting
                    .iter()
                    .filter(|(at, _)| at.as_ref() == Some(h))
                    .map(|(_, n)| n)
                    .sum(),
                None => waiting.iter().map(|(_, n)| n).sum(),
            };
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

/// The hosts `profile`'s extension reports reachable; `[None]` (one pool) when it
/// does not report hosts.
async fn hosts_of(core: &Core, profile: &Profile) -> Result<Vec<Option<String>>> {
    let lease = core.extension(profile.extension_name()).await?;
    if !lease.supports(m::HOST_HEALTH) {
        lease.release().await;
        return Ok(vec![None]);
    }
    let answer: std::result::Result<HostHealthResult, _> = lease
        .call(m::HOST_HEALTH, &HostHealthParams { host: None })
        .await;
    lease.release().await;
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
    };
    super::create::create_for_pool(core, request).await
}
