//! Profiles: the recipes sandboxes are made from. A profile names its extension,
//! lifetime, resources, network policy, secrets, labels, cost rate and an
//! extension-specific `spec`. The catalog holds the built-in profiles (embedded
//! from `profiles/`) and those found in `SANDBOXER_PROFILE_PATH`.

mod catalog;
mod parse;

pub use catalog::{Catalog, PROFILE_PATH_ENV};
pub use parse::parse_profile;

use crate::secrets::SecretRef;
use sandboxer_ext_protocol::{Labels, NetworkPolicy, ProfileRef, Resources};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Prefix of every profile id.
pub const PROFILE_ID_PREFIX: &str = "profile.";

/// A loaded, validated profile.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub id: String,
    pub version: String,
    pub description: String,
    /// `ext.<name>`: the most preferred of `candidates`.
    pub extension: String,
    /// Every backend it may run on, most preferred first (one, usually).
    pub candidates: Vec<Candidate>,
    /// How the candidates are ordered for a create.
    pub routing: Routing,
    /// What a host must offer to run it.
    pub placement: PlacementConstraints,
    /// Ready sandboxes kept waiting per host, for creates that take one at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolSpec>,
    pub ttl: Ttl,
    pub resources: Resources,
    pub network: NetworkPolicy,
    /// The isolation class a backend must give (`isolation: vm`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation: Option<Isolation>,
    /// Secret name → where its value comes from; resolved at create only.
    pub secrets: BTreeMap<String, SecretRef>,
    pub labels: Labels,
    /// Endpoints the proxy serves to anyone; the others need their token.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub public_endpoints: Vec<String>,
    /// The rate, when the profile sets one; otherwise the extension's
    /// `cost/estimate` gives it at create.
    pub cost: Option<CostRate>,
    pub spec: Value,
    /// Files shipped with the profile (a compose file, say), by relative path.
    #[serde(skip)]
    pub files: BTreeMap<String, String>,
    pub source: Source,
}

/// A profile's `routing:` section.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    #[serde(default)]
    pub policy: RoutingPolicy,
}

/// How candidates that all give the profile's guarantees are ordered. Either
/// way a create that a backend cannot take now (Unavailable, ResourceExhausted:
/// its hosts full, its provider's rate limit) goes on to the next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoutingPolicy {
    /// By preference, then by rate: the cheapest that gives the guarantees.
    #[default]
    Cheapest,
    /// Self-hosted backends before hosted ones (each class by preference,
    /// then rate): hosted spending only when the operator's own hosts are
    /// full, down or refused.
    SelfHostedFirst,
}

impl RoutingPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            RoutingPolicy::Cheapest => "cheapest",
            RoutingPolicy::SelfHostedFirst => "self-hosted-first",
        }
    }
}

/// An isolation class a profile may require of its backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// A kernel of its own: the backend declares `isolation.vm`.
    Vm,
}

/// One backend a profile may run on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// `ext.<name>`.
    pub extension: String,
    /// Higher is tried first.
    pub prefer: i32,
    /// This backend's own spec, instead of the profile's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<Value>,
}

impl Candidate {
    /// The extension's bare name (`compose-ssh` of `ext.compose-ssh`).
    pub fn extension_name(&self) -> &str {
        bare_extension_name(&self.extension)
    }
}

fn bare_extension_name(id: &str) -> &str {
    id.strip_prefix(sandboxer_ext_protocol::EXTENSION_ID_PREFIX)
        .unwrap_or(id)
}

/// What a host must offer to run a profile's sandboxes; reaches the extension as
/// `spec.placement` (a convention, like `spec.files`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementConstraints {
    /// Labels the host must carry.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
}

/// A warm pool: how many ready sandboxes to keep per host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    pub size: u32,
}

/// Default and ceiling of a sandbox's lifetime, how long it may sit unused,
/// and what happens then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ttl {
    #[serde(serialize_with = "as_human")]
    pub default: Duration,
    #[serde(serialize_with = "as_human")]
    pub max: Duration,
    #[serde(serialize_with = "opt_human", skip_serializing_if = "Option::is_none")]
    pub idle: Option<Duration>,
    /// What an idle sandbox becomes.
    pub on_idle: OnIdle,
    /// A call that works inside a paused sandbox resumes it first (otherwise
    /// it is refused until someone resumes it).
    pub auto_resume: bool,
}

/// What becomes of a sandbox idle for its profile's `ttl.idle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnIdle {
    /// Expired, then destroyed by the reaper.
    #[default]
    Expire,
    /// Paused (processes and memory kept) where the backend can pause;
    /// expired where it cannot.
    Pause,
}

fn as_human<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::time::format_duration(*d))
}

fn opt_human<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => as_human(d, s),
        None => s.serialize_none(),
    }
}

/// What a sandbox of this profile costs while it exists, and what each of its
/// snapshots costs while kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostRate {
    pub currency: String,
    /// Exact decimals, shown as decimal strings.
    pub per_hour: rust_decimal::Decimal,
    pub snapshot_per_hour: rust_decimal::Decimal,
    /// While paused; `per_hour` when the profile names none (a paused sandbox
    /// of most backends still holds its memory or disk).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_per_hour: Option<rust_decimal::Decimal>,
}

/// Where a profile was loaded from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "path", rename_all = "lowercase")]
pub enum Source {
    /// Embedded in the binary from the repository's `profiles/` folder.
    Builtin(String),
    File(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Builtin(path) => write!(f, "profiles/{path} (built in)"),
            Source::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Profile {
    /// The extension's bare name (`compose-ssh` of `ext.compose-ssh`).
    pub fn extension_name(&self) -> &str {
        bare_extension_name(&self.extension)
    }

    /// The profile as its most preferred extension sees it (see `to_wire_for`).
    pub fn to_wire(&self) -> ProfileRef {
        self.to_wire_for(&self.extension)
    }

    /// The profile as `extension` sees it (protocol 1.2 form): its spec (the
    /// candidate's own, if it has one), its files inlined (so the extension needs
    /// no access to the catalog), its cost rate and its placement constraints.
    /// `ProfileRef::for_peer` turns it into the form an older extension reads.
    pub fn to_wire_for(&self, extension: &str) -> ProfileRef {
        let own = self
            .candidates
            .iter()
            .find(|c| c.extension == extension || c.extension_name() == extension)
            .and_then(|c| c.spec.as_ref());
        ProfileRef {
            id: self.id.clone(),
            version: self.version.clone(),
            spec: own.unwrap_or(&self.spec).clone(),
            files: self.files.clone(),
            cost: self
                .cost
                .as_ref()
                .map(|c| sandboxer_ext_protocol::CostRate {
                    currency: c.currency.clone(),
                    per_hour: c.per_hour,
                }),
            placement: sandboxer_ext_protocol::PlacementConstraints {
                labels: self.placement.labels.clone(),
            },
        }
    }
}

/// A profile that could not be loaded or found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// Malformed: names the file, the line when known, and the field.
    #[error("{file}{}: {field}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        file: String,
        line: Option<usize>,
        field: String,
        message: String,
    },
    #[error("profile {id:?} not found (`sandboxer profiles list` shows the catalog){hint}")]
    Unknown { id: String, hint: String },
    #[error("reading profiles from {path}: {message}")]
    Io { path: String, message: String },
}
