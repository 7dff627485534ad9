//! Warm pools: a profile with `pool: {size: N}` keeps N ready sandboxes per host,
//! made in advance and charged to the pool (consumer `adm:pool`, project `pool`).
//! A create of that profile takes the oldest ready one in one SQLite transaction —
//! no backend call — and from then on it is the consumer's: attribution, labels,
//! lifetime, ceiling and idle timeout are the claimer's, and so is its usage. The
//! refill pass (`refill.rs`) makes up what was taken.
//!
//! The backend's own labels stay those the pool made it with (protocol v1 has no
//! call to change them); `sandboxer.id`, the label everything is found by, is the
//! same before and after.

use super::Core;
use super::request::CreateRequest;
use crate::error::Result;
use crate::profile::Profile;
use crate::store::{Claim, Pooled, SandboxRecord};
use crate::time::duration_ms;
use std::time::Duration;

/// Whom pooled sandboxes are charged to until claimed.
pub const POOL_CONSUMER: &str = "adm:pool";
pub const POOL_PROJECT: &str = "pool";

/// Takes a ready sandbox from `profile`'s pool for `request`, if one is waiting.
/// The consumer's budget is checked at the pooled sandbox's rate first, and only
/// a sandbox at that rate is taken. A consumer with a provider key for the
/// extension never gets a pooled sandbox: it was made without that key.
pub async fn claim(
    core: &Core,
    profile: &Profile,
    request: &CreateRequest,
    ttl: Duration,
) -> Result<Option<SandboxRecord>> {
    let consumer = request.attribution.consumer.to_string();
    let project = &request.attribution.project;
    if core
        .config
        .provider_key(profile.extension_name(), &consumer, project)
        .is_some()
    {
        return Ok(None);
    }
    let pool = Pooled {
        profile: &profile.id,
        version: &profile.version,
        host: request.host.as_deref(),
    };
    let Some((per_hour, currency)) = core.store().pooled_rate(&pool)? else {
        return Ok(None);
    };
    super::budget::check_create(
        core,
        super::budget::Charge {
            project,
            consumer: &consumer,
            class: core.config.class_of(&profile.extension),
            rate: per_hour,
            currency: &currency,
            ttl_ms: duration_ms(ttl),
        },
    )?;
    let mut labels = profile.labels.clone();
    labels.extend(request.labels.clone());
    let claim = Claim {
        consumer,
        project: project.clone(),
        labels,
        ttl_ms: duration_ms(ttl),
        max_ms: duration_ms(profile.ttl.max),
        idle_ms: profile.ttl.idle.map(duration_ms),
    };
    let claimed = core.store().claim_pooled(&pool, per_hour, &claim)?;
    if let Some(record) = &claimed {
        tracing::info!(sandbox = %record.id, pool = %profile.id, "claimed from the warm pool");
        core.pool_claimed.notify_one();
    }
    Ok(claimed)
}
