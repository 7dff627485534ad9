//! Every request, result and notification of protocol v1 as serde types.
//!
//! Field names are the wire names. Optional fields are skipped when absent so that
//! what a peer sends stays minimal; unknown fields are accepted (minors only add).

use crate::money;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// Labels on a sandbox and on every backend resource it owns.
pub type Labels = BTreeMap<String, String>;
/// A JSON object whose shape belongs to someone else (options, spec, details).
pub type JsonObject = serde_json::Map<String, Value>;

/// The name and version of a peer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PeerInfo {
    pub name: String,
    pub version: String,
}

/// `initialize` params, host → extension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitializeParams {
    pub protocol_version: String,
    pub host: PeerInfo,
    #[serde(default)]
    pub options: JsonObject,
    /// Host features; an extension ignores those it does not know.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

/// `initialize` result, extension → host.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InitializeResult {
    pub protocol_version: String,
    pub extension: PeerInfo,
    pub capabilities: Capabilities,
    #[serde(default)]
    pub options_schema: BTreeMap<String, OptionSpec>,
}

/// What an extension can do.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Capabilities {
    pub methods: Vec<String>,
    #[serde(default)]
    pub features: Vec<String>,
}

/// One option an extension accepts in `initialize.options`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OptionSpec {
    pub description: String,
    #[serde(default)]
    pub required: bool,
    /// A secret option is never logged or stored by the host.
    #[serde(default)]
    pub secret: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
}

/// Secret values, by name. Present only in the call that needs them; `Debug` never
/// shows a value.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secrets(pub BTreeMap<String, String>);

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "<redacted>")))
            .finish()
    }
}

impl Secrets {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The profile a sandbox is made from, as the extension sees it.
///
/// Since 1.2 the profile's files, cost rate and placement constraints travel as
/// typed fields next to `spec`, which holds only what the profile's author wrote
/// for the extension. A 1.0 or 1.1 peer got them inside `spec` (`spec.files`,
/// `spec.cost`, `spec.placement`, unless the spec used the key itself): a host
/// sends that form to such an extension ([`ProfileRef::for_peer`]), and an
/// extension reads either form ([`ProfileRef::lifted`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProfileRef {
    pub id: String,
    pub version: String,
    #[serde(default)]
    pub spec: Value,
    /// The profile's files, by name relative to the profile (text).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
    /// What the profile costs while it runs, for `cost/estimate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostRate>,
    /// What a host must offer to run it.
    #[serde(default, skip_serializing_if = "PlacementConstraints::is_empty")]
    pub placement: PlacementConstraints,
}

/// A profile's price while it runs. On the wire: `per_hour` as a number and,
/// since 1.3, `per_hour_exact` as a decimal string (see `money`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CostRateWire", into = "CostRateWire")]
pub struct CostRate {
    /// ISO 4217 code (`USD`).
    pub currency: String,
    pub per_hour: Decimal,
}

#[derive(Serialize, Deserialize)]
struct CostRateWire {
    #[serde(default = "usd")]
    currency: String,
    per_hour: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    per_hour_exact: Option<String>,
}

impl TryFrom<CostRateWire> for CostRate {
    type Error = String;

    fn try_from(w: CostRateWire) -> Result<CostRate, String> {
        Ok(CostRate {
            per_hour: money::read(w.per_hour, w.per_hour_exact.as_deref(), "per_hour")?,
            currency: w.currency,
        })
    }
}

impl From<CostRate> for CostRateWire {
    fn from(c: CostRate) -> CostRateWire {
        CostRateWire {
            currency: c.currency,
            per_hour: money::number_of(c.per_hour),
            per_hour_exact: Some(money::text_of(c.per_hour)),
        }
    }
}

fn usd() -> String {
    "USD".into()
}

/// What a host must offer to run a profile.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PlacementConstraints {
    /// Every one must be among the host's labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: Labels,
}

impl PlacementConstraints {
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// The first minor version with the typed profile fields.
const TYPED_PROFILE_MINOR: u32 = 2;

impl ProfileRef {
    /// The form a peer speaking `peer` reads: from 1.2 as is; before, the typed
    /// fields move into `spec` under `files`, `cost` and `placement` (a key the
    /// spec already uses is left alone, and that field is not sent).
    pub fn for_peer(mut self, peer: crate::ProtocolVersion) -> ProfileRef {
        if peer.major != 1 || peer.minor >= TYPED_PROFILE_MINOR {
            return self;
        }
        let files = std::mem::take(&mut self.files);
        let cost = self.cost.take();
        let placement = std::mem::take(&mut self.placement);
        if let Value::Object(spec) = &mut self.spec {
            if !files.is_empty() && !spec.contains_key("files") {
                spec.insert("files".into(), json_of(&files));
            }
            if let Some(cost) = cost
                && !spec.contains_key("cost")
            {
                spec.insert("cost".into(), json_of(&cost));
            }
            if !placement.is_empty() && !spec.contains_key("placement") {
                spec.insert("placement".into(), json_of(&placement));
            }
        }
        self
    }

    /// The 1.2 form from either form: a field a 1.0 or 1.1 host sent inside
    /// `spec` is moved to its typed field when that is empty. A value there that
    /// does not have the field's type is left in `spec`.
    pub fn lifted(mut self) -> ProfileRef {
        let Value::Object(spec) = &mut self.spec else {
            return self;
        };
        if self.files.is_empty()
            && let Some(files) = take_as(spec, "files")
        {
            self.files = files;
        }
        if self.cost.is_none()
            && let Some(cost) = take_as(spec, "cost")
        {
            self.cost = Some(cost);
        }
        if self.placement.is_empty()
            && let Some(placement) = take_as(spec, "placement")
        {
            self.placement = placement;
        }
        self
    }
}

fn json_of<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("profile fields serialize")
}

/// Removes `key` from `map` when its value has type `T`.
fn take_as<T: serde::de::DeserializeOwned>(map: &mut JsonObject, key: &str) -> Option<T> {
    let parsed = serde_json::from_value(map.get(key)?.clone()).ok()?;
    map.remove(key);
    Some(parsed)
}

/// Where a sandbox should run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Placement {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// Whether a sandbox may open connections out of itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Egress {
    #[default]
    Deny,
    Allow,
}

/// The network policy of a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NetworkPolicy {
    pub egress: Egress,
    #[serde(default)]
    pub allow: Vec<String>,
}

/// Resources a sandbox asks for.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_mb: Option<u64>,
}

/// `sandbox/create` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateParams {
    pub sandbox_id: String,
    pub profile: ProfileRef,
    #[serde(default)]
    pub placement: Placement,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub secrets: Secrets,
    #[serde(default)]
    pub network: NetworkPolicy,
    #[serde(default)]
    pub resources: Resources,
    /// RFC 3339.
    pub expires_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_token: Option<Value>,
}

impl CreateParams {
    /// What decides whether a repeated create is "the same" create, as JSON:
    /// every param but the progress token (it only says how to report) and the
    /// secrets' values (their names count). A host that retries after a secret was
    /// rotated gets the same sandbox, and an extension can compare requests
    /// without keeping secret values: store a digest of this (in a label, say).
    pub fn identity(&self) -> Value {
        let mut same = self.clone();
        same.progress_token = None;
        for value in same.secrets.0.values_mut() {
            value.clear();
        }
        serde_json::to_value(same).expect("params serialize")
    }

    /// Whether `other` is the same create (see [`CreateParams::identity`]).
    pub fn same_request_as(&self, other: &CreateParams) -> bool {
        self.identity() == other.identity()
    }
}

/// The state of a sandbox as its backend sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendState {
    Provisioning,
    Ready,
    /// Frozen by `sandbox/pause` (protocol 1.6; reported only after a pause),
    /// its processes and memory kept.
    Paused,
    Stopped,
    Failed,
}

impl BackendState {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendState::Provisioning => "provisioning",
            BackendState::Ready => "ready",
            BackendState::Paused => "paused",
            BackendState::Stopped => "stopped",
            BackendState::Failed => "failed",
        }
    }
}

/// How a sandbox is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointProtocol {
    Ssh,
    Http,
    Tcp,
}

/// One way into a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub name: String,
    pub protocol: EndpointProtocol,
    pub host: String,
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A sandbox as an extension reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sandbox {
    pub sandbox_id: String,
    pub state: BackendState,
    #[serde(default)]
    pub backend_ref: String,
    /// Every label on the backend resource, `sandboxer.id` included.
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    #[serde(default)]
    pub details: JsonObject,
}

/// `sandbox/get` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetParams {
    pub sandbox_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_ref: Option<String>,
}

/// `sandbox/list` params.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ListParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

/// `sandbox/list` result.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListResult {
    pub sandboxes: Vec<Sandbox>,
}

/// `sandbox/destroy` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestroyParams {
    pub sandbox_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_ref: Option<String>,
}

/// `sandbox/destroy` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestroyResult {
    pub destroyed: bool,
}

/// `sandbox/extend_ttl` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendTtlParams {
    pub sandbox_id: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// `sandbox/snapshot` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotParams {
    pub sandbox_id: String,
    pub snapshot_name: String,
}

/// A snapshot as an extension reports it (`sandbox/snapshot` result and `snapshot/list`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub snapshot_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_id: Option<String>,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub details: JsonObject,
}

/// `sandbox/restore` params: the snapshot plus the params of a create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreParams {
    pub snapshot_id: String,
    #[serde(flatten)]
    pub create: CreateParams,
}

/// `snapshot/list` params.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SnapshotListParams {}

/// `snapshot/list` result.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SnapshotListResult {
    pub snapshots: Vec<Snapshot>,
}

/// `snapshot/delete` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotDeleteParams {
    pub snapshot_id: String,
}

/// `snapshot/delete` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotDeleteResult {
    pub deleted: bool,
}

/// `sandbox/exec` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecParams {
    pub sandbox_id: String,
    pub argv: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    /// Which part of a multi-part sandbox runs the command (a compose service, say);
    /// the backend's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

impl ExecParams {
    /// The timeout of a command whose params give none.
    pub const DEFAULT_TIMEOUT_S: u64 = 60;

    /// How long the command may run: `timeout_s`, or the default.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_s.unwrap_or(Self::DEFAULT_TIMEOUT_S))
    }
}

/// `sandbox/exec` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecResult {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
    /// Since 1.2: stdout or stderr was cut at [`ExecResult::MAX_STREAM_BYTES`].
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl ExecResult {
    /// The most of each stream an answer carries (both fit in one line, far
    /// below the 8 MiB limit, with room for JSON escaping).
    pub const MAX_STREAM_BYTES: usize = 1024 * 1024;

    /// A result from a command's raw output: bytes that are not UTF-8 become
    /// U+FFFD, and each stream keeps its first `MAX_STREAM_BYTES` (cut on a
    /// character boundary), with `truncated` saying that something was cut.
    pub fn from_output(exit_code: i32, stdout: &[u8], stderr: &[u8]) -> ExecResult {
        let (stdout, cut_out) = capped_text(stdout);
        let (stderr, cut_err) = capped_text(stderr);
        ExecResult {
            exit_code,
            stdout,
            stderr,
            truncated: cut_out || cut_err,
        }
    }
}

fn capped_text(bytes: &[u8]) -> (String, bool) {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= ExecResult::MAX_STREAM_BYTES {
        return (text.into_owned(), false);
    }
    let mut cut = ExecResult::MAX_STREAM_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    (text[..cut].to_string(), true)
}

/// `cost/estimate` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostEstimateParams {
    pub profile: ProfileRef,
    #[serde(default)]
    pub resources: Resources,
    pub duration_s: u64,
}

/// `cost/estimate` result. On the wire: `amount` as a number and, since 1.3,
/// `amount_exact` as a decimal string (see `money`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CostEstimateWire", into = "CostEstimateWire")]
pub struct CostEstimate {
    pub currency: String,
    pub amount: Decimal,
    pub breakdown: JsonObject,
}

#[derive(Serialize, Deserialize)]
struct CostEstimateWire {
    currency: String,
    amount: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    amount_exact: Option<String>,
    #[serde(default)]
    breakdown: JsonObject,
}

impl CostEstimate {
    /// The cost of `duration_s` seconds at `rate`, exactly (the rate times the
    /// seconds, over an hour), with the rate and the hours in the breakdown.
    pub fn at_rate(rate: CostRate, duration_s: u64) -> CostEstimate {
        let hours = Decimal::from(duration_s) / Decimal::from(3600);
        let mut breakdown = JsonObject::new();
        breakdown.insert("rate_per_hour".into(), money::text_of(rate.per_hour).into());
        breakdown.insert("hours".into(), money::text_of(hours).into());
        CostEstimate {
            amount: rate.per_hour * hours,
            currency: rate.currency,
            breakdown,
        }
    }
}

impl TryFrom<CostEstimateWire> for CostEstimate {
    type Error = String;

    fn try_from(w: CostEstimateWire) -> Result<CostEstimate, String> {
        Ok(CostEstimate {
            amount: money::read(w.amount, w.amount_exact.as_deref(), "amount")?,
            currency: w.currency,
            breakdown: w.breakdown,
        })
    }
}

impl From<CostEstimate> for CostEstimateWire {
    fn from(c: CostEstimate) -> CostEstimateWire {
        CostEstimateWire {
            currency: c.currency,
            amount: money::number_of(c.amount),
            amount_exact: Some(money::text_of(c.amount)),
            breakdown: c.breakdown,
        }
    }
}

/// `host/health` params.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HostHealthParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// The health of one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostHealth {
    pub host: String,
    pub reachable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_free_mb: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_free_mb: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandboxes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What else the backend says of the host (protocol 1.4), e.g. vm-packer's
    /// `accelerator`.
    #[serde(default, skip_serializing_if = "JsonObject::is_empty")]
    pub details: JsonObject,
}

/// `host/health` result.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HostHealthResult {
    pub hosts: Vec<HostHealth>,
}

/// `profile/check` params (protocol 1.1): would the extension create this
/// profile, and what does it relax of its containment policy to do so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileCheckParams {
    pub profile: ProfileRef,
    /// Where it would run, when the caller knows (a host's own exceptions count
    /// only there).
    #[serde(default)]
    pub placement: Placement,
}

/// One finding of a policy check: the field of the profile's spec it concerns
/// (`compose.yaml: services.web.privileged`), what it is, and the named setting an
/// operator can allow, when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyFinding {
    pub field: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setting: Option<String>,
}

/// `profile/check` result. `refused` empty: the profile may be created.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProfileCheckResult {
    /// What the policy refuses (a create would fail with these).
    #[serde(default)]
    pub refused: Vec<PolicyFinding>,
    /// What the policy lets through only because an operator allowed it.
    #[serde(default)]
    pub relaxed: Vec<PolicyFinding>,
}

/// `host/doctor` params (protocol 1.1): check hosts for what the extension needs,
/// and the images (or other artefacts) `profiles` name.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HostDoctorParams {
    /// One host; every host when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default)]
    pub profiles: Vec<ProfileRef>,
}

/// One item a doctor checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoctorCheck {
    pub name: String,
    pub ok: bool,
    /// What was found.
    #[serde(default)]
    pub detail: String,
    /// The command (or step) that fixes it, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The checks of one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostDoctor {
    pub host: String,
    pub checks: Vec<DoctorCheck>,
}

/// `host/doctor` result.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HostDoctorResult {
    pub hosts: Vec<HostDoctor>,
}

/// `image/build` params (protocol 1.5): build the image `profile` needs now,
/// ahead of any create (a create builds it too, when it is missing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageBuildParams {
    pub profile: ProfileRef,
    /// A progress token, as for `sandbox/create`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_token: Option<Value>,
}

/// One image an extension keeps: its id (the recipe's hash, for vm-packer), the
/// profile that first built it, its size on disk and what holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageInfo {
    pub image_id: String,
    /// `profile.x@version` that first built it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    pub built_at: String,
    pub size_bytes: u64,
    /// Sandboxes and snapshots of this image, which prune never removes.
    #[serde(default)]
    pub used_by: Vec<String>,
    #[serde(default)]
    pub details: JsonObject,
}

/// `image/build` result: the image, and whether this call built it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageBuildResult {
    pub image: ImageInfo,
    pub built: bool,
}

/// `image/list` params (protocol 1.5).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ImageListParams {}

/// `image/list` result.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ImageListResult {
    pub images: Vec<ImageInfo>,
}

/// `image/prune` params (protocol 1.5): remove images nothing needs. An image
/// is kept while a sandbox or snapshot uses it, or one of `keep_profiles`
/// (the host's current catalog) would use it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ImagePruneParams {
    /// Only these images (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_ids: Option<Vec<String>>,
    #[serde(default)]
    pub keep_profiles: Vec<ProfileRef>,
    /// Say what would go, remove nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// An image prune left, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageKept {
    pub image_id: String,
    pub reason: String,
}

/// `image/prune` result.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ImagePruneResult {
    /// Removed (or, with `dry_run`, to be removed).
    pub removed: Vec<ImageInfo>,
    pub kept: Vec<ImageKept>,
}

/// `$/progress` params, extension → host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressParams {
    pub token: Value,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u8>,
}

/// Levels of `$/log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
}

/// `$/log` params, extension → host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogParams {
    pub level: LogLevel,
    pub message: String,
}

/// `$/cancelRequest` params, host → extension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CancelParams {
    pub id: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug() {
        let secrets = Secrets(BTreeMap::from([("TOKEN".into(), "hunter2".into())]));
        let shown = format!("{secrets:?}");
        assert!(shown.contains("TOKEN"));
        assert!(!shown.contains("hunter2"));
    }

    #[test]
    fn a_repeated_create_is_the_same_whatever_its_progress_token_and_secret_values() {
        let a: CreateParams = serde_json::from_value(serde_json::json!({
            "sandbox_id": "s1", "profile": {"id": "profile.x", "version": "1"},
            "expires_at": "2026-01-01T00:00:00Z", "progress_token": 1
        }))
        .unwrap();
        let mut b = a.clone();
        b.progress_token = Some(2.into());
        assert!(a.same_request_as(&b));
        b.secrets.0.insert("TOKEN".into(), "rotated".into());
        let mut c = b.clone();
        c.secrets.0.insert("TOKEN".into(), "rotated again".into());
        assert!(b.same_request_as(&c), "secret values do not count");
        assert!(!a.same_request_as(&b), "secret names do");
        assert!(!b.identity().to_string().contains("rotated"));
        b.labels.insert("k".into(), "v".into());
        assert!(!c.same_request_as(&b));
    }

    fn typed_profile() -> ProfileRef {
        ProfileRef {
            id: "profile.p".into(),
            version: "1".into(),
            spec: serde_json::json!({"compose_file": "c.yaml", "cost": "the author's own"}),
            files: BTreeMap::from([("c.yaml".into(), "services: {}\n".into())]),
            cost: Some(CostRate {
                currency: "EUR".into(),
                per_hour: "0.5".parse().unwrap(),
            }),
            placement: PlacementConstraints {
                labels: BTreeMap::from([("zone".into(), "a".into())]),
            },
        }
    }

    #[test]
    fn a_peer_before_1_2_gets_the_fields_in_spec_unless_the_spec_uses_the_key() {
        let v = |minor| crate::ProtocolVersion { major: 1, minor };
        let old = typed_profile().for_peer(v(1));
        assert_eq!(old.spec["files"]["c.yaml"], "services: {}\n");
        assert_eq!(old.spec["cost"], "the author's own");
        assert_eq!(old.spec["placement"]["labels"]["zone"], "a");
        assert!(old.files.is_empty() && old.cost.is_none() && old.placement.is_empty());
        let wire = serde_json::to_value(&old).unwrap();
        assert_eq!(
            wire.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["id", "spec", "version"]
        );
        assert_eq!(typed_profile().for_peer(v(2)), typed_profile());
        assert_eq!(typed_profile().for_peer(v(9)), typed_profile());
    }

    #[test]
    fn amounts_are_written_both_ways_and_read_exactly() {
        let estimate: CostEstimate = serde_json::from_value(serde_json::json!({
            "currency": "USD", "amount": 0.1, "amount_exact": "0.123456789012345678"
        }))
        .unwrap();
        assert_eq!(estimate.amount.to_string(), "0.123456789012345678");
        let wire = serde_json::to_value(&estimate).unwrap();
        assert_eq!(wire["amount_exact"], "0.123456789012345678");
        assert_eq!(
            wire["amount"], 0.12345678901234568,
            "a number for peers of 1.2"
        );
        // What a peer of 1.2 sends: a number alone, read as the decimal it shows.
        let old: CostRate = serde_json::from_value(serde_json::json!({"per_hour": 0.36})).unwrap();
        assert_eq!(
            (old.per_hour.to_string(), old.currency.as_str()),
            ("0.36".into(), "USD")
        );
        for bad in [
            serde_json::json!({"currency": "USD", "amount": -0.5}),
            serde_json::json!({"currency": "USD", "amount": 1, "amount_exact": "-1"}),
            serde_json::json!({"currency": "USD", "amount": 1, "amount_exact": "much"}),
        ] {
            assert!(
                serde_json::from_value::<CostEstimate>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_extension_reads_either_form() {
        let v1_1 = crate::ProtocolVersion { major: 1, minor: 1 };
        let mut profile = typed_profile();
        profile.spec = serde_json::json!({"compose_file": "c.yaml"});
        let lifted = profile.clone().for_peer(v1_1).lifted();
        assert_eq!(lifted, profile);
        assert_eq!(profile.clone().lifted(), profile);
        // A spec key of another type is the author's, and stays.
        let odd = typed_profile().for_peer(v1_1).lifted();
        assert_eq!(odd.spec["cost"], "the author's own");
        assert!(odd.cost.is_none());
    }

    #[test]
    fn exec_output_is_text_and_fits_in_a_line() {
        let small = ExecResult::from_output(0, b"ok\xff\n", b"");
        assert_eq!(small.stdout, "ok\u{fffd}\n");
        assert!(!small.truncated);
        assert!(!serde_json::to_string(&small).unwrap().contains("truncated"));
        let big = vec![b'x'; 10 * 1024 * 1024];
        let cut = ExecResult::from_output(1, &big, "é".repeat(600_000).as_bytes());
        assert!(cut.truncated);
        assert_eq!(cut.stdout.len(), ExecResult::MAX_STREAM_BYTES);
        assert!(cut.stderr.len() <= ExecResult::MAX_STREAM_BYTES && cut.stderr.ends_with('é'));
        let line = serde_json::to_string(&cut).unwrap();
        assert!(line.len() < crate::framing::MAX_LINE_BYTES);
    }
}
