//! The rows the store keeps for sandboxes, and the shapes used to add, change and
//! filter them.

use super::view::{JsonField, SandboxView};
use crate::lifecycle::State;
use crate::time::Millis;
use sandboxer_ext_protocol::{Endpoint, JsonObject, Labels, Resources};
use serde::{Serialize, Serializer};

/// One sandbox as recorded. Its JSON form is `SandboxView`'s.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxRecord {
    pub id: String,
    pub state: State,
    pub profile_id: String,
    pub profile_version: String,
    /// `ext.<name>`.
    pub extension: String,
    pub consumer: String,
    pub project: String,
    /// The host asked for, or the one the backend reported.
    pub host: Option<String>,
    /// Every label, the core's `sandboxer.*` ones included.
    pub labels: Labels,
    pub backend_ref: Option<String>,
    pub endpoints: Vec<Endpoint>,
    pub details: JsonObject,
    pub last_error: Option<String>,
    pub ttl_ms: Millis,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub state_since: Millis,
    pub expires_at: Millis,
    /// The hard ceiling: the expiry can never move past it.
    pub ceiling_at: Millis,
    pub cost_per_hour: rust_decimal::Decimal,
    pub currency: String,
    pub replaces: Option<String>,
    pub replaced_by: Option<String>,
    /// Time spent in billed states, up to the start of the current state.
    pub billed_ms: Millis,
    /// What the profile asked for.
    pub resources: Resources,
    /// The profile's idle timeout: unused this long, the sandbox expires.
    pub idle_ms: Option<Millis>,
    /// The last use the core saw (exec, a call naming the sandbox).
    pub last_activity_at: Option<Millis>,
    /// The expiry an `expiry_warning` was last sent for.
    pub warned_expiry: Option<Millis>,
    /// The profile whose warm pool holds it, until a consumer claims it.
    pub pool: Option<String>,
}

impl SandboxRecord {
    /// What the sandbox has cost up to `now`.
    pub fn usage_at(&self, now: Millis) -> super::SandboxUsage {
        super::SandboxUsage::of(&self.view(), now)
    }

    /// The record borrowed for output.
    pub fn view(&self) -> SandboxView<'_> {
        SandboxView {
            id: &self.id,
            state: self.state,
            profile_id: &self.profile_id,
            profile_version: &self.profile_version,
            extension: &self.extension,
            consumer: &self.consumer,
            project: &self.project,
            host: self.host.as_deref(),
            labels: JsonField::Value(&self.labels),
            backend_ref: self.backend_ref.as_deref(),
            endpoints: JsonField::Value(&self.endpoints),
            details: JsonField::Value(&self.details),
            last_error: self.last_error.as_deref(),
            ttl_ms: self.ttl_ms,
            created_at: self.created_at,
            updated_at: self.updated_at,
            state_since: self.state_since,
            expires_at: self.expires_at,
            ceiling_at: self.ceiling_at,
            cost_per_hour: self.cost_per_hour,
            currency: &self.currency,
            replaces: self.replaces.as_deref(),
            replaced_by: self.replaced_by.as_deref(),
            billed_ms: self.billed_ms,
            resources: JsonField::Value(&self.resources),
            idle_ms: self.idle_ms,
            last_activity_at: self.last_activity_at,
            usage: None,
        }
    }
}

impl Serialize for SandboxRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.view().serialize(s)
    }
}

/// The JSON form read back (from the daemon's API).
#[derive(serde::Deserialize)]
struct RecordJson {
    id: String,
    state: State,
    profile_id: String,
    profile_version: String,
    extension: String,
    consumer: String,
    project: String,
    host: Option<String>,
    labels: Labels,
    backend_ref: Option<String>,
    endpoints: Vec<Endpoint>,
    details: JsonObject,
    last_error: Option<String>,
    ttl_s: i64,
    created_at: String,
    updated_at: String,
    state_since: String,
    expires_at: String,
    ceiling_at: String,
    cost_per_hour: rust_decimal::Decimal,
    currency: String,
    replaces: Option<String>,
    replaced_by: Option<String>,
    #[serde(default)]
    resources: Resources,
    #[serde(default)]
    idle_timeout_s: Option<i64>,
    #[serde(default)]
    last_activity_at: Option<String>,
}

impl<'de> serde::Deserialize<'de> for SandboxRecord {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = <RecordJson as serde::Deserialize>::deserialize(d)?;
        let time = |t: &str| {
            crate::time::parse_rfc3339(t)
                .ok_or_else(|| serde::de::Error::custom(format!("{t:?} is not an RFC 3339 time")))
        };
        Ok(SandboxRecord {
            created_at: time(&r.created_at)?,
            updated_at: time(&r.updated_at)?,
            state_since: time(&r.state_since)?,
            expires_at: time(&r.expires_at)?,
            ceiling_at: time(&r.ceiling_at)?,
            ttl_ms: r.ttl_s * 1000,
            id: r.id,
            state: r.state,
            profile_id: r.profile_id,
            profile_version: r.profile_version,
            extension: r.extension,
            consumer: r.consumer,
            project: r.project,
            host: r.host,
            labels: r.labels,
            backend_ref: r.backend_ref,
            endpoints: r.endpoints,
            details: r.details,
            last_error: r.last_error,
            cost_per_hour: r.cost_per_hour,
            currency: r.currency,
            replaces: r.replaces,
            replaced_by: r.replaced_by,
            // Not in the JSON form: the daemon answers with the cost itself.
            billed_ms: 0,
            resources: r.resources,
            idle_ms: r.idle_timeout_s.map(|s| s * 1000),
            last_activity_at: r.last_activity_at.as_deref().map(time).transpose()?,
            warned_expiry: None,
            // Pooled sandboxes belong to the pool's project; the JSON form does
            // not say which pool.
            pool: None,
        })
    }
}

/// What `insert_sandbox` needs; the record starts `pending`.
#[derive(Debug, Clone)]
pub struct NewSandbox {
    pub id: String,
    pub profile_id: String,
    pub profile_version: String,
    pub extension: String,
    pub consumer: String,
    pub project: String,
    pub host: Option<String>,
    pub labels: Labels,
    pub ttl_ms: Millis,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub ceiling_at: Millis,
    pub cost_per_hour: rust_decimal::Decimal,
    pub currency: String,
    pub replaces: Option<String>,
    pub resources: Resources,
    pub idle_ms: Option<Millis>,
    /// Made for the warm pool of this profile.
    pub pool: Option<String>,
}

/// What a consumer claiming a pooled sandbox makes of it.
#[derive(Debug, Clone)]
pub struct Claim {
    pub consumer: String,
    pub project: String,
    /// User labels (the core's are added).
    pub labels: Labels,
    pub ttl_ms: Millis,
    /// The ceiling, from the claim.
    pub max_ms: Millis,
    pub idle_ms: Option<Millis>,
}

/// Fields a transition may set along with the state. `None` leaves a field as is.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub backend_ref: Option<String>,
    pub endpoints: Option<Vec<Endpoint>>,
    pub details: Option<JsonObject>,
    pub host: Option<String>,
    /// `Some(None)` clears the last error.
    pub last_error: Option<Option<String>>,
    /// The rate from this transition on (a pause's paused rate, a resume's
    /// running rate); the stretch that ends keeps the rate it had.
    pub cost_per_hour: Option<rust_decimal::Decimal>,
}

/// Which sandboxes `list_sandboxes` returns. Empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct SandboxFilter {
    pub states: Vec<State>,
    pub profile_id: Option<String>,
    pub project: Option<String>,
    pub consumer: Option<String>,
    pub extension: Option<String>,
    /// Every one of these labels must be present with this value.
    pub labels: Labels,
    /// Only sandboxes whose expiry is before this instant.
    pub expires_before: Option<Millis>,
}
