//! YAML → `Profile`, with every error naming the file, line and field.
//!
//! Validation happens while deserializing (each field's type checks itself), so
//! the YAML parser can say where the offending value stands.

use super::{
    Candidate, CostRate, PROFILE_ID_PREFIX, PlacementConstraints, PoolSpec, Profile, ProfileError,
    Source, Ttl,
};
use crate::secrets::SecretRef;
use rust_decimal::Decimal;
use sandboxer_ext_protocol::names::validate_extension_name;
use sandboxer_ext_protocol::{EXTENSION_ID_PREFIX, Labels, NetworkPolicy, Resources};
use serde::Deserialize;
use serde::de::Error as _;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// `profile.<name>`, checked.
struct ProfileId(String);

impl<'de> Deserialize<'de> for ProfileId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = String::deserialize(d)?;
        let name = id.strip_prefix(PROFILE_ID_PREFIX).ok_or_else(|| {
            D::Error::custom(format!("{id:?} must start with \"{PROFILE_ID_PREFIX}\""))
        })?;
        // Profile names follow the same rule as extension names.
        validate_extension_name(name).map_err(|e| {
            D::Error::custom(e.to_string().replace("extension name", "profile name"))
        })?;
        Ok(ProfileId(id))
    }
}

/// `ext.<name>`, checked.
struct ExtensionId(String);

impl<'de> Deserialize<'de> for ExtensionId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = String::deserialize(d)?;
        let name = id.strip_prefix(EXTENSION_ID_PREFIX).ok_or_else(|| {
            D::Error::custom(format!(
                "{id:?} must start with \"{EXTENSION_ID_PREFIX}\" (for example ext.compose-ssh)"
            ))
        })?;
        validate_extension_name(name).map_err(D::Error::custom)?;
        Ok(ExtensionId(id))
    }
}

/// A duration written like `30m` or `2h`.
struct HumanDuration(Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        crate::time::parse_duration(&s)
            .map(HumanDuration)
            .map_err(D::Error::custom)
    }
}

/// A version written as a string or a number (`1`, `1.2`, "2024-05").
struct Version(String);

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) if !s.trim().is_empty() => Ok(Version(s)),
            Value::Number(n) => Ok(Version(n.to_string())),
            other => Err(D::Error::custom(format!(
                "expected a version such as \"1\" or \"1.2\", found {other}"
            ))),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTtl {
    default: HumanDuration,
    max: HumanDuration,
    #[serde(default)]
    idle: Option<HumanDuration>,
    #[serde(default)]
    on_idle: super::OnIdle,
    #[serde(default)]
    auto_resume: bool,
}

impl<'de> Deserialize<'de> for Ttl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawTtl::deserialize(d)?;
        if raw.default.0 > raw.max.0 {
            return Err(D::Error::custom(format!(
                "default ({}) is longer than max ({})",
                crate::time::format_duration(raw.default.0),
                crate::time::format_duration(raw.max.0)
            )));
        }
        Ok(Ttl {
            default: raw.default.0,
            max: raw.max.0,
            idle: raw.idle.map(|i| i.0),
            on_idle: raw.on_idle,
            auto_resume: raw.auto_resume,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCost {
    #[serde(default = "usd")]
    currency: String,
    #[serde(deserialize_with = "per_hour")]
    per_hour: Decimal,
    #[serde(default, deserialize_with = "snapshot_per_hour")]
    snapshot_per_hour: Decimal,
    #[serde(default, deserialize_with = "paused_per_hour")]
    paused_per_hour: Option<Decimal>,
}

fn paused_per_hour<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    crate::money::read_written(d, "paused_per_hour").map(Some)
}

fn per_hour<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    crate::money::read_written(d, "per_hour")
}

fn snapshot_per_hour<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    crate::money::read_written(d, "snapshot_per_hour")
}

fn usd() -> String {
    "USD".into()
}

impl<'de> Deserialize<'de> for CostRate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawCost::deserialize(d)?;
        if raw.currency.len() != 3 || !raw.currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(D::Error::custom(format!(
                "currency {:?} is not a three-letter code such as USD",
                raw.currency
            )));
        }
        Ok(CostRate {
            currency: raw.currency,
            per_hour: raw.per_hour,
            snapshot_per_hour: raw.snapshot_per_hour,
            paused_per_hour: raw.paused_per_hour,
        })
    }
}

/// A user label inside a profile, checked like `--label`.
struct LabelMap(Labels);

impl<'de> Deserialize<'de> for LabelMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let labels = Labels::deserialize(d)?;
        for (k, v) in &labels {
            crate::labels::validate_key(k).map_err(D::Error::custom)?;
            crate::labels::validate_value(k, v).map_err(D::Error::custom)?;
        }
        Ok(LabelMap(labels))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    id: ProfileId,
    version: Version,
    #[serde(default)]
    description: String,
    #[serde(default)]
    extension: Option<ExtensionId>,
    #[serde(default)]
    extensions: Vec<RawCandidate>,
    #[serde(default)]
    routing: super::Routing,
    #[serde(default)]
    placement: PlacementConstraints,
    #[serde(default)]
    pool: Option<PoolSpec>,
    ttl: Ttl,
    #[serde(default)]
    resources: Resources,
    #[serde(default)]
    network: NetworkPolicy,
    #[serde(default)]
    isolation: Option<super::Isolation>,
    #[serde(default)]
    secrets: BTreeMap<String, SecretRef>,
    #[serde(default)]
    labels: Option<LabelMap>,
    #[serde(default)]
    public_endpoints: Vec<String>,
    #[serde(default)]
    cost: Option<CostRate>,
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    spec: Value,
}

/// The largest warm pool a profile may ask for, per host.
const MAX_POOL: u32 = 100;

/// One backend a profile may run on (`extensions:`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCandidate {
    extension: ExtensionId,
    #[serde(default)]
    prefer: i32,
    /// This backend's own spec, instead of the profile's.
    #[serde(default)]
    spec: Option<Value>,
}

/// The 1-based line where the field at `path` (`ttl.max`, `files[0]`) stands in
/// block-style YAML. Walks the keys one by one, each deeper than its parent; a key
/// written in flow style (`ttl: {max: 2h}`) resolves to its parent's line. The
/// YAML parser's own position is used when this finds nothing.
fn line_of_path(source: &str, path: &str) -> Option<usize> {
    let lines: Vec<&str> = source.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let (mut from, mut parent_indent, mut found) = (0usize, None::<usize>, None::<usize>);
    for segment in path.split('.') {
        let key = segment.split('[').next().unwrap_or(segment);
        if key.is_empty() {
            continue;
        }
        let hit = lines.iter().enumerate().skip(from).find_map(|(i, l)| {
            let trimmed = l.trim_start().trim_start_matches("- ");
            let deeper = parent_indent.is_none_or(|p| indent(l) > p);
            let is_key = trimmed
                .strip_prefix(key)
                .is_some_and(|rest| rest.starts_with(':'));
            (deeper && is_key).then_some(i)
        });
        match hit {
            Some(i) => {
                found = Some(i);
                parent_indent = Some(indent(lines[i]));
                from = i + 1;
            }
            None => break, // Flow style or absent: keep the parent's line.
        }
    }
    found.map(|i| i + 1)
}

/// yaml_serde prefixes messages with its own path and suffixes the position; the
/// error already names both, so keep the message alone.
fn bare_message(message: &str) -> &str {
    let message = message.split(" at line ").next().unwrap_or(message);
    match message.split_once(": ") {
        Some((prefix, rest))
            if !prefix.is_empty()
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-[]".contains(c)) =>
        {
            rest
        }
        _ => message,
    }
}

/// The largest profile file, and the largest file shipped with one.
pub const MAX_PROFILE_BYTES: usize = 1024 * 1024;
/// The most all of a profile's shipped files may add up to (they travel in one
/// protocol line).
const MAX_SHIPPED_BYTES: usize = 4 * 1024 * 1024;

/// Refuses a document too large, or (when `structured`: YAML or JSON) too deeply
/// nested, to parse safely, before any parser sees it.
fn check_bounds(text: &str, file: &str, field: &str, structured: bool) -> Result<(), ProfileError> {
    use sandboxer_ext_protocol::limits::{MAX_YAML_NESTING, yaml_nesting};
    let refuse = |line, message| {
        Err(ProfileError::Invalid {
            file: file.to_string(),
            line,
            field: field.to_string(),
            message,
        })
    };
    if text.len() > MAX_PROFILE_BYTES {
        return refuse(
            None,
            format!(
                "{} KiB is larger than the {} KiB a profile or one of its files may be",
                text.len() / 1024,
                MAX_PROFILE_BYTES / 1024
            ),
        );
    }
    let (depth, line) = yaml_nesting(text);
    if structured && depth > MAX_YAML_NESTING {
        return refuse(
            Some(line),
            format!("nested {depth} deep; at most {MAX_YAML_NESTING} levels are accepted"),
        );
    }
    Ok(())
}

/// Parses one profile. `expected_name` is the name its location implies (the
/// `<name>` of `<name>/profile.yaml`); `read_file` fetches a file shipped next to
/// it.
pub fn parse_profile(
    source: &str,
    origin: Source,
    expected_name: &str,
    read_file: impl Fn(&str) -> Option<String>,
) -> Result<Profile, ProfileError> {
    let file = origin.to_string();
    check_bounds(source, &file, "(document)", true)?;
    let raw: RawProfile = serde_path_to_error::deserialize(yaml_serde::Deserializer::from_str(
        source,
    ))
    .map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let line = line_of_path(source, &path).or(inner.location().map(|l| l.line()));
        ProfileError::Invalid {
            file: file.clone(),
            line,
            field: if path == "." || path.is_empty() {
                "(document)".into()
            } else {
                path
            },
            message: bare_message(&inner.to_string()).to_string(),
        }
    })?;
    let invalid = |field: &str, message: String| ProfileError::Invalid {
        file: file.clone(),
        line: line_of_path(source, field),
        field: field.into(),
        message,
    };
    let expected_id = format!("{PROFILE_ID_PREFIX}{expected_name}");
    if raw.id.0 != expected_id {
        return Err(invalid(
            "id",
            format!(
                "{:?} does not match where the profile stands (expected {expected_id:?})",
                raw.id.0
            ),
        ));
    }
    for name in raw.secrets.keys() {
        if let Err(bad) = sandboxer_ext_protocol::names::validate_secret_name(name) {
            return Err(invalid(&format!("secrets.{name}"), bad.to_string()));
        }
    }
    let mut files = BTreeMap::new();
    let mut shipped = 0;
    for (i, name) in raw.files.iter().enumerate() {
        let field = format!("files[{i}]");
        let safe = !name.is_empty()
            && !name.starts_with('/')
            && name.split('/').all(|part| !part.is_empty() && part != "..");
        if !safe {
            return Err(invalid(
                &field,
                format!("{name:?} must be a relative path inside the profile's folder"),
            ));
        }
        let contents = read_file(name).ok_or_else(|| {
            invalid(
                &field,
                format!("{name:?} is not a regular file inside the profile's folder"),
            )
        })?;
        let structured = [".yaml", ".yml", ".json"]
            .iter()
            .any(|ext| name.ends_with(ext));
        check_bounds(&contents, &file, &field, structured).map_err(|e| match e {
            ProfileError::Invalid { message, .. } => {
                invalid(&field, format!("{name:?}: {message}"))
            }
            other => other,
        })?;
        shipped += contents.len();
        if shipped > MAX_SHIPPED_BYTES {
            return Err(invalid(
                &field,
                format!(
                    "the profile's files add up to more than {} KiB, the most a profile ships",
                    MAX_SHIPPED_BYTES / 1024
                ),
            ));
        }
        files.insert(name.clone(), contents);
    }
    if !(raw.spec.is_null() || raw.spec.is_object()) {
        return Err(invalid("spec", "spec must be a mapping".into()));
    }
    let candidates = candidates(raw.extension, raw.extensions, &invalid)?;
    if raw.pool.is_some_and(|p| p.size > MAX_POOL) {
        return Err(invalid(
            "pool.size",
            format!("a pool keeps at most {MAX_POOL} sandboxes per host"),
        ));
    }
    Ok(Profile {
        id: raw.id.0,
        version: raw.version.0,
        description: raw.description,
        extension: candidates[0].extension.clone(),
        candidates,
        routing: raw.routing,
        placement: raw.placement,
        pool: raw.pool,
        ttl: raw.ttl,
        resources: raw.resources,
        network: raw.network,
        isolation: raw.isolation,
        secrets: raw.secrets,
        labels: raw.labels.map(|l| l.0).unwrap_or_default(),
        public_endpoints: raw.public_endpoints,
        cost: raw.cost,
        spec: if raw.spec.is_null() {
            Value::Object(Default::default())
        } else {
            raw.spec
        },
        files,
        source: origin,
    })
}

/// The backends of a profile, most preferred first (the order written breaks
/// ties): `extension:` alone, or `extensions:` with preferences.
fn candidates(
    one: Option<ExtensionId>,
    several: Vec<RawCandidate>,
    invalid: &impl Fn(&str, String) -> ProfileError,
) -> Result<Vec<Candidate>, ProfileError> {
    let mut out: Vec<Candidate> = match (one, several.is_empty()) {
        (Some(_), false) => {
            return Err(invalid(
                "extensions",
                "give either `extension` (one backend) or `extensions` (candidates), not both"
                    .into(),
            ));
        }
        (None, true) => {
            return Err(invalid(
                "extension",
                "missing field `extension` (or `extensions`, a list of candidates)".into(),
            ));
        }
        (Some(id), true) => vec![Candidate {
            extension: id.0,
            prefer: 0,
            spec: None,
        }],
        (None, false) => several
            .into_iter()
            .map(|c| Candidate {
                extension: c.extension.0,
                prefer: c.prefer,
                spec: c.spec,
            })
            .collect(),
    };
    for (i, c) in out.iter().enumerate() {
        if out[..i].iter().any(|o| o.extension == c.extension) {
            return Err(invalid(
                &format!("extensions[{i}].extension"),
                format!("{} is listed twice", c.extension),
            ));
        }
        if c.spec.as_ref().is_some_and(|s| !s.is_object()) {
            return Err(invalid(
                &format!("extensions[{i}].spec"),
                "spec must be a mapping".into(),
            ));
        }
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.prefer));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const GOOD: &str = "\
id: profile.demo
version: 1
description: A demo.
extension: ext.fixture
ttl:
  default: 30m
  max: 2h
resources:
  cpus: 0.5
  memory_mb: 128
network:
  egress: allow
secrets:
  API_TOKEN: env:DEMO_TOKEN
labels:
  team: infra
cost:
  per_hour: 0.25
files: [compose.yaml]
spec:
  services: [web]
";

    fn parse(source: &str) -> Result<Profile, ProfileError> {
        parse_profile(
            source,
            Source::File(PathBuf::from("/p/demo/profile.yaml")),
            "demo",
            |name| (name == "compose.yaml").then(|| "services: {}\n".to_string()),
        )
    }

    #[test]
    fn a_good_profile_loads_every_field() {
        let p = parse(GOOD).unwrap();
        assert_eq!(p.id, "profile.demo");
        assert_eq!(p.version, "1");
        assert_eq!(p.extension_name(), "fixture");
        assert_eq!(p.ttl.default, Duration::from_secs(1800));
        assert_eq!(p.ttl.max, Duration::from_secs(7200));
        assert_eq!(p.resources.memory_mb, Some(128));
        assert_eq!(p.network.egress, sandboxer_ext_protocol::Egress::Allow);
        assert_eq!(p.secrets["API_TOKEN"], SecretRef::Env("DEMO_TOKEN".into()));
        assert_eq!(p.labels["team"], "infra");
        let cost = p.cost.clone().unwrap();
        assert_eq!(
            (
                cost.per_hour.to_string(),
                cost.snapshot_per_hour.to_string()
            ),
            ("0.25".to_string(), "0".to_string())
        );
        assert_eq!(cost.currency, "USD");
        assert_eq!(p.ttl.idle, None);
        let wire = p.to_wire();
        assert_eq!(wire.files["compose.yaml"], "services: {}\n");
        assert_eq!(wire.spec["services"][0], "web");
        assert_eq!(
            wire.spec.get("files"),
            None,
            "the spec is the author's alone"
        );
        assert_eq!(
            wire.cost
                .as_ref()
                .map(|c| c.per_hour.to_string())
                .as_deref(),
            Some("0.25")
        );
        let old = wire.for_peer(sandboxer_ext_protocol::ProtocolVersion { major: 1, minor: 1 });
        assert_eq!(old.spec["files"]["compose.yaml"], "services: {}\n");
        assert_eq!(old.spec["cost"]["per_hour"], 0.25, "a number for old peers");
        assert_eq!(
            old.spec["cost"]["per_hour_exact"], "0.25",
            "and the exact text beside it"
        );
    }

    /// One malformed profile per case: the error must name the file, the line and
    /// the field.
    fn check(replace: &str, with: &str, line: usize, field: &str, fragment: &str) {
        let source = GOOD.replacen(replace, with, 1);
        assert_ne!(source, GOOD, "{replace:?} not found");
        match parse(&source) {
            Err(ProfileError::Invalid {
                file,
                line: got_line,
                field: got_field,
                message,
            }) => {
                assert_eq!(file, "/p/demo/profile.yaml");
                assert_eq!(got_field, field, "{message}");
                assert_eq!(got_line, Some(line), "{field}: {message}");
                assert!(message.contains(fragment), "{field}: {message}");
            }
            other => panic!("{replace:?} -> {with:?}: {other:?}"),
        }
    }

    #[test]
    fn malformed_profiles_name_file_line_and_field() {
        check("id: profile.demo", "id: demo", 1, "id", "must start with");
        check(
            "id: profile.demo",
            "id: profile.Demo",
            1,
            "id",
            "profile name",
        );
        check(
            "id: profile.demo",
            "id: profile.other",
            1,
            "id",
            "does not match",
        );
        check(
            "extension: ext.fixture",
            "extension: fixture",
            4,
            "extension",
            "ext.",
        );
        check(
            "  max: 2h",
            "  max: forever",
            7,
            "ttl.max",
            "invalid duration",
        );
        check("  max: 2h", "  max: 10m", 5, "ttl", "longer than max");
        check(
            "  memory_mb: 128",
            "  memory_mb: lots",
            10,
            "resources.memory_mb",
            "invalid type",
        );
        check(
            "  egress: allow",
            "  egress: sometimes",
            12,
            "network.egress",
            "unknown variant",
        );
        check(
            "env:DEMO_TOKEN",
            "vault:x",
            14,
            "secrets.API_TOKEN",
            "unknown kind",
        );
        check(
            "  team: infra",
            "  sandboxer.id: infra",
            15,
            "labels",
            "reserved",
        );
        check(
            "  per_hour: 0.25",
            "  per_hour: -1",
            18,
            "cost.per_hour",
            "zero or more",
        );
        check(
            "  per_hour: 0.25",
            "  per_hour: 0.25\n  snapshot_per_hour: .nan",
            19,
            "cost.snapshot_per_hour",
            "snapshot_per_hour must be",
        );
        check(
            "  max: 2h",
            "  max: 2h\n  idle: 0s",
            8,
            "ttl.idle",
            "longer than zero",
        );
        check(
            "files: [compose.yaml]",
            "files: [../etc/passwd]",
            19,
            "files[0]",
            "relative",
        );
        check(
            "files: [compose.yaml]",
            "files: [missing.yaml]",
            19,
            "files[0]",
            "not a regular file inside",
        );
        check(
            "description: A demo.",
            "descripton: A demo.",
            3,
            "descripton",
            "unknown field",
        );
        check(
            "version: 1",
            "version: [1]",
            2,
            "version",
            "expected a version",
        );
        check(
            "ttl:\n  default: 30m\n  max: 2h",
            "ttl: {default: 30m, max: x}",
            5,
            "ttl.max",
            "invalid duration",
        );
    }

    #[test]
    fn a_missing_required_field_is_named() {
        let source = GOOD.replace("extension: ext.fixture\n", "");
        let err = parse(&source).unwrap_err().to_string();
        assert!(err.contains("missing field `extension`"), "{err}");
        assert!(err.starts_with("/p/demo/profile.yaml:"), "{err}");
    }

    #[test]
    fn candidates_are_ordered_by_preference_and_carry_their_own_spec() {
        let source = GOOD.replace(
            "extension: ext.fixture\n",
            "extensions:\n  - {extension: ext.a, prefer: 1}\n  - extension: ext.b\n    prefer: 5\n    \
             spec: {own: true}\n  - {extension: ext.c, prefer: 1}\nplacement: {labels: {zone: a}}\n",
        );
        let p = parse(&source).unwrap();
        let order: Vec<&str> = p.candidates.iter().map(|c| c.extension.as_str()).collect();
        assert_eq!(
            order,
            ["ext.b", "ext.a", "ext.c"],
            "ties keep the written order"
        );
        assert_eq!(p.extension, "ext.b");
        let own = p.to_wire_for("ext.b");
        assert_eq!(own.spec["own"], true);
        assert_eq!(
            own.spec.get("services"),
            None,
            "its own spec replaces the profile's"
        );
        let shared = p.to_wire_for("a");
        assert_eq!(shared.spec["services"][0], "web");
        assert_eq!(shared.placement.labels["zone"], "a");
        assert_eq!(shared.files["compose.yaml"], "services: {}\n");
    }

    #[test]
    fn candidate_lists_that_cannot_be_routed_are_refused() {
        let with = |list: &str| GOOD.replace("extension: ext.fixture\n", list);
        let both = with("extension: ext.fixture\nextensions: [{extension: ext.b}]\n");
        let err = parse(&both).unwrap_err().to_string();
        assert!(err.contains("extensions: give either"), "{err}");
        let twice = with("extensions: [{extension: ext.b}, {extension: ext.b}]\n");
        let err = parse(&twice).unwrap_err().to_string();
        assert!(
            err.contains("extensions[1].extension: ext.b is listed twice"),
            "{err}"
        );
        let bad_spec = with("extensions: [{extension: ext.b, spec: [1]}]\n");
        let err = parse(&bad_spec).unwrap_err().to_string();
        assert!(
            err.contains("extensions[0].spec: spec must be a mapping"),
            "{err}"
        );
        let unknown = with("extensions: [{extension: ext.b, weight: 3}]\n");
        let err = parse(&unknown).unwrap_err().to_string();
        assert!(
            err.contains("extensions[0]") && err.contains("weight"),
            "{err}"
        );
    }

    /// Found by the `profiles` fuzz target: an empty key (`&de scription:` makes
    /// an anchor and leaves the key empty) was reported with an empty field name.
    #[test]
    fn an_empty_key_is_named_as_the_document() {
        let source =
            "# version: 1\n&description: A demo.\nextensions:\n  - {nxtensionan host ser: v";
        match parse(source) {
            Err(ProfileError::Invalid { field, line, .. }) => {
                assert_eq!(field, "(document)");
                assert!(line.is_some());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn broken_yaml_names_the_line() {
        let err = parse("id: profile.demo\nversion: [\n").unwrap_err();
        assert!(
            matches!(err, ProfileError::Invalid { line: Some(_), .. }),
            "{err:?}"
        );
    }
}
