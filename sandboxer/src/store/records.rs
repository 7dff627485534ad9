//! The rows the store keeps for sandboxes, and the shapes used to add, change and
//! filter them.

use crate::lifecycle::State;
use crate::time::{Millis, rfc3339};
use sandboxer_ext_protocol::{Endpoint, JsonObject, Labels};
use serde::{Serialize, Serializer};

fn as_rfc3339<S: Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*ms))
}

fn as_seconds<S: Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(ms / 1000)
}

/// One sandbox as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    #[serde(rename = "ttl_s", serialize_with = "as_seconds")]
    pub ttl_ms: Millis,
    #[serde(serialize_with = "as_rfc3339")]
    pub created_at: Millis,
    #[serde(serialize_with = "as_rfc3339")]
    pub updated_at: Millis,
    #[serde(serialize_with = "as_rfc3339")]
    pub state_since: Millis,
    #[serde(serialize_with = "as_rfc3339")]
    pub expires_at: Millis,
    /// The hard ceiling: the expiry can never move past it.
    #[serde(serialize_with = "as_rfc3339")]
    pub ceiling_at: Millis,
    pub cost_per_hour: f64,
    pub currency: String,
    pub replaces: Option<String>,
    pub replaced_by: Option<String>,
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
    pub cost_per_hour: f64,
    pub currency: String,
    pub replaces: Option<String>,
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
}
