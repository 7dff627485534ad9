//! The profile spec: what a profile asks of compose-ssh, parsed and checked — its
//! compose file (and that file's review by the containment policy), readiness,
//! endpoints, the cost rate and the placement constraints.

use crate::config::HostConfig;
use crate::policy::{self, Review};
use sandboxer_ext_protocol::{CostRate, ErrorObject, ProfileRef};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

fn invalid(field: &str, message: impl Into<String>) -> ErrorObject {
    ErrorObject::invalid_argument(field, message)
}

/// What "ready" means for a sandbox.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReadySpec {
    /// Services that must be running (all when absent).
    #[serde(default)]
    pub services: Option<Vec<String>>,
    #[serde(default)]
    pub http: Option<HttpProbe>,
    #[serde(default)]
    pub command: Option<CommandProbe>,
    #[serde(default = "default_ready_timeout", with = "humantime_serde_compat")]
    pub timeout: Duration,
}

impl Default for ReadySpec {
    fn default() -> Self {
        ReadySpec {
            services: None,
            http: None,
            command: None,
            timeout: default_ready_timeout(),
        }
    }
}

fn default_ready_timeout() -> Duration {
    Duration::from_secs(60)
}

/// `timeout: 60s` in the spec.
mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// GET `path` on the published `port` of `service` must answer 2xx or 3xx.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    pub service: String,
    pub port: u16,
    #[serde(default = "root_path")]
    pub path: String,
}

fn root_path() -> String {
    "/".into()
}

/// `argv` run in `service` must exit 0.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CommandProbe {
    pub service: String,
    pub argv: Vec<String>,
}

/// How a published port is presented as an endpoint.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    pub service: String,
    pub port: u16,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "tcp")]
    pub protocol: String,
    #[serde(default = "root_path")]
    pub path: String,
}

fn tcp() -> String {
    "tcp".into()
}

/// What the profile asks of a host (`profile.placement`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementConstraints {
    /// Every one must be among the host's labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl PlacementConstraints {
    /// Whether `host` carries every label asked for.
    pub fn fits(&self, host: &HostConfig) -> bool {
        self.missing_on(host).is_none()
    }

    /// The first label asked for that `host` lacks.
    pub fn missing_on(&self, host: &HostConfig) -> Option<(&String, &String)> {
        self.labels
            .iter()
            .find(|(k, v)| host.labels.get(*k) != Some(*v))
    }
}

/// The profile spec this extension understands.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ProfileSpec {
    /// Which of the profile's files is the compose file.
    pub compose_file: String,
    #[serde(default)]
    pub ready: ReadySpec,
    #[serde(default)]
    pub endpoints: Vec<EndpointSpec>,
    /// Service `sandbox/exec` runs in when none is named.
    #[serde(default)]
    pub exec_service: Option<String>,
    /// Files shipped with the profile (`profile.files`).
    #[serde(skip)]
    pub files: BTreeMap<String, String>,
    /// The profile's cost rate (`profile.cost`).
    #[serde(skip)]
    pub cost: Option<CostRate>,
    /// What a host must offer (`profile.placement`).
    #[serde(skip)]
    pub placement: PlacementConstraints,
}

impl ProfileSpec {
    /// Reads a profile in either form (typed fields of 1.2, or inside `spec` from
    /// an older host); problems are InvalidArgument naming the field.
    pub fn of(profile: &ProfileRef) -> Result<ProfileSpec, ErrorObject> {
        let profile = profile.clone().lifted();
        let mut spec: ProfileSpec = serde_json::from_value(profile.spec)
            .map_err(|e| invalid("profile.spec", format!("profile.spec: {e}")))?;
        spec.files = profile.files;
        spec.cost = profile.cost;
        spec.placement = PlacementConstraints {
            labels: profile.placement.labels,
        };
        for (i, e) in spec.endpoints.iter().enumerate() {
            let plain = |s: &str| !s.contains([',', '|', '\n']);
            if !matches!(e.protocol.as_str(), "http" | "tcp") {
                return Err(invalid(
                    &format!("profile.spec.endpoints[{i}].protocol"),
                    format!("protocol {:?} is not http or tcp", e.protocol),
                ));
            }
            if !plain(&e.path) || !e.path.starts_with('/') || !e.name.as_deref().is_none_or(plain) {
                return Err(invalid(
                    &format!("profile.spec.endpoints[{i}]"),
                    "path must start with '/', and name and path hold no ',', '|' or newline",
                ));
            }
        }
        if !spec.files.contains_key(&spec.compose_file) {
            return Err(invalid(
                "profile.spec.compose_file",
                format!(
                    "compose file {:?} is not among the profile's files ({})",
                    spec.compose_file,
                    spec.files.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        Ok(spec)
    }

    pub fn endpoint(&self, service: &str, port: u16) -> Option<&EndpointSpec> {
        self.endpoints
            .iter()
            .find(|e| e.service == service && e.port == port)
    }

    /// The profile's cost rate; none is free.
    pub fn cost_rate(&self) -> CostRate {
        self.cost.clone().unwrap_or(CostRate {
            currency: "USD".into(),
            per_hour: Default::default(),
        })
    }

    /// InvalidArgument for `problem` in the compose file, which it names.
    pub fn compose_file_error(&self, problem: &str) -> ErrorObject {
        invalid(
            "profile.files",
            format!("profile.files.{}: {problem}", self.compose_file),
        )
    }

    /// The profile's compose file, parsed; one too deeply nested to parse safely
    /// is refused before the parser sees it.
    pub fn compose(&self) -> Result<Value, ErrorObject> {
        use sandboxer_ext_protocol::limits::{MAX_YAML_NESTING, yaml_nesting};
        let source = &self.files[&self.compose_file];
        let (depth, line) = yaml_nesting(source);
        if depth > MAX_YAML_NESTING {
            return Err(self.compose_file_error(&format!(
                "line {line}: nested {depth} deep; at most {MAX_YAML_NESTING} levels are accepted"
            )));
        }
        yaml_serde::from_str(source).map_err(|e| self.compose_file_error(&e.to_string()))
    }

    /// The compose file against the containment policy.
    pub fn review(&self) -> Result<Review, ErrorObject> {
        let compose = self.compose()?;
        let shipped = self.files.keys().cloned().collect();
        Ok(policy::review(&compose, &self.compose_file, &shipped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A spec in the form a 1.1 host sends (the files inside it).
    fn parse_spec(spec: &Value) -> Result<ProfileSpec, ErrorObject> {
        ProfileSpec::of(&ProfileRef {
            spec: spec.clone(),
            ..Default::default()
        })
    }

    #[test]
    fn the_spec_must_name_one_of_its_files() {
        let err = parse_spec(&json!({"compose_file": "c.yaml", "files": {}})).unwrap_err();
        assert_eq!(
            err.domain_data().unwrap().details.unwrap()["field"],
            "profile.spec.compose_file"
        );
        let err = parse_spec(&json!({"files": {}})).unwrap_err();
        assert!(err.message.contains("compose_file"));
    }

    #[test]
    fn endpoints_are_http_or_tcp() {
        let bad = parse_spec(&json!({"compose_file": "c", "files": {"c": ""},
            "endpoints": [{"service": "web", "port": 1, "protocol": "udp"}]}));
        assert!(bad.unwrap_err().message.contains("udp"));
    }

    #[test]
    fn placement_constraints_name_the_label_a_host_lacks() {
        let constraints = PlacementConstraints {
            labels: BTreeMap::from([("zone".to_string(), "a".to_string())]),
        };
        let mut host = HostConfig::local();
        assert!(!constraints.fits(&host));
        assert_eq!(
            constraints.missing_on(&host),
            Some((&"zone".to_string(), &"a".to_string()))
        );
        host.labels.insert("zone".into(), "a".into());
        assert!(constraints.fits(&host));
    }
}
