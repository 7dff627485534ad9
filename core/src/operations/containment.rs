//! Asking an extension whether its containment policy lets a profile through
//! (`profile/check`, protocol 1.1): before a create records anything, and for the
//! guarantees `inspect --profile` shows. An extension that does not offer the
//! method is not asked; the guarantees matrix says so.

use super::Lease;
use crate::error::{Error, Result};
use crate::profile::Profile;
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::{Placement, ProfileCheckParams, ProfileCheckResult};

/// What `lease`'s extension says of `profile` (on `host`, when known); `None` when
/// it does not offer `profile/check`.
pub async fn check(
    lease: &Lease,
    profile: &Profile,
    host: Option<&str>,
) -> Result<Option<ProfileCheckResult>> {
    if !lease.offers::<m::ProfileCheck>() {
        return Ok(None);
    }
    let params = ProfileCheckParams {
        profile: profile
            .to_wire_for(lease.name())
            .for_peer(lease.peer_version()),
        placement: Placement {
            host: host.map(str::to_string),
        },
    };
    Ok(Some(lease.request::<m::ProfileCheck>(&params).await?))
}

/// The refusal a create gets when the policy refuses `profile`: every finding
/// with its field, and what an operator could allow.
pub fn refusal(profile: &Profile, extension: &str, result: &ProfileCheckResult) -> Error {
    let lines: Vec<String> = result
        .refused
        .iter()
        .map(|f| match &f.setting {
            Some(s) => format!(
                "  {}: {} (an operator may allow `{s}` for this profile or host in the \
                 extension's options; `sandboxer extensions show {extension}` lists them)",
                f.field, f.message
            ),
            None => format!("  {}: {}", f.field, f.message),
        })
        .collect();
    Error::Invalid(format!(
        "profile {} asks for what ext.{extension}'s containment policy refuses:\n{}",
        profile.id,
        lines.join("\n")
    ))
}
