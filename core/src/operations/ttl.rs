//! `extend-ttl`: moves the expiry later, never past the ceiling the profile set at
//! creation, and says so when asked to.

use super::Core;
use crate::error::{Error, Result};
use crate::store::SandboxRecord;
use crate::time::{format_duration, now_ms, rfc3339};
use sandboxer_ext_protocol::ExtendTtlParams;
use sandboxer_ext_protocol::methods as m;
use std::time::Duration;

/// Extends the lifetime of `id` by `by`, counted from its current expiry (or from
/// now, if it already passed). Backends with a native TTL are told too.
pub async fn extend_ttl(core: &Core, id: &str, by: Duration, actor: &str) -> Result<SandboxRecord> {
    super::touch(core, id);
    let _guard = core.lock(id).await;
    let record = core.record(id)?;
    if !matches!(
        record.state,
        crate::lifecycle::State::Pending
            | crate::lifecycle::State::Provisioning
            | crate::lifecycle::State::Ready
            | crate::lifecycle::State::Active
            | crate::lifecycle::State::Paused
    ) {
        return Err(Error::Refused(format!(
            "sandbox {id} is {}; only a live sandbox can be extended",
            record.state
        )));
    }
    let now = now_ms();
    let new_expiry =
        crate::time::checked_after(record.expires_at.max(now), by, "by").map_err(Error::Invalid)?;
    if new_expiry > record.ceiling_at {
        let room =
            Duration::from_millis((record.ceiling_at - record.expires_at.max(now)).max(0) as u64);
        return Err(Error::Refused(format!(
            "extending sandbox {id} by {} would move its expiry to {}, past its ceiling of {} \
             (set by {} at creation); it can be extended by at most {}",
            format_duration(by),
            rfc3339(new_expiry),
            rfc3339(record.ceiling_at),
            record.profile_id,
            format_duration(room),
        )));
    }
    let client = core.extension_of(&record).await?;
    if client.offers::<m::SandboxExtendTtl>() {
        let params = ExtendTtlParams {
            sandbox_id: id.to_string(),
            expires_at: rfc3339(new_expiry),
        };
        let answer = client.request::<m::SandboxExtendTtl>(&params).await;
        client.release().await;
        answer?;
    } else {
        client.release().await;
    }
    Ok(core.store().set_expiry(id, new_expiry, actor)?.0)
}
