//! The effective compose file of one sandbox, built from the profile's compose
//! file and the create params: every service, network and volume gets the
//! sandbox's labels; secrets arrive through an env file; `egress: deny` makes every
//! network internal and moves published ports to a gateway service, the only
//! container with a way out, which forwards each port to its service.

use crate::podman::SECRETS_ENV;
use sandboxer_ext_protocol::{CostRate, CreateParams, Egress, ErrorObject, Labels, ProfileRef};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// The service sandboxer adds to forward published ports under `egress: deny`.
pub const GATEWAY_SERVICE: &str = "sandboxer-gateway";
/// The gateway's network with a route out (the others are internal).
pub const EDGE_NETWORK: &str = "sandboxer-edge";
/// Label on the gateway: `GATEWAY_PORT=SERVICE:PORT,...`.
pub const FORWARDS_LABEL: &str = "sandboxer.forwards";
/// Label on each service: how its published ports are presented, as
/// `PORT|PROTOCOL|NAME|PATH,...` (from the spec's `endpoints`).
pub const ENDPOINTS_LABEL: &str = "sandboxer.endpoints";
/// Label on every service: the service `sandbox/exec` runs in by default.
pub const EXEC_SERVICE_LABEL: &str = "sandboxer.exec-service";
/// First port the gateway listens on.
const GATEWAY_BASE_PORT: u16 = 20000;

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
    pub placement: crate::placement::Constraints,
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
        spec.placement = crate::placement::Constraints {
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
}

/// A port the gateway forwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub gateway_port: u16,
    pub service: String,
    pub port: u16,
}

/// How one published port of a service is presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointLabel {
    pub port: u16,
    pub protocol: String,
    pub name: String,
    pub path: String,
}

/// Parses `sandboxer.endpoints` back.
pub fn parse_endpoints_label(label: &str) -> Vec<EndpointLabel> {
    label
        .split(',')
        .filter_map(|item| {
            let mut parts = item.splitn(4, '|');
            Some(EndpointLabel {
                port: parts.next()?.parse().ok()?,
                protocol: parts.next()?.to_string(),
                name: parts.next()?.to_string(),
                path: parts.next()?.to_string(),
            })
        })
        .collect()
}

/// Parses `sandboxer.forwards` back into forwards.
pub fn parse_forwards(label: &str) -> Vec<Forward> {
    label
        .split(',')
        .filter_map(|item| {
            let (gw, target) = item.split_once('=')?;
            let (service, port) = target.rsplit_once(':')?;
            Some(Forward {
                gateway_port: gw.parse().ok()?,
                service: service.to_string(),
                port: port.parse().ok()?,
            })
        })
        .collect()
}

/// Everything written to the host for one sandbox.
#[derive(Debug, Clone)]
pub struct Project {
    /// The effective compose document (written as JSON, which YAML accepts).
    pub compose: Value,
    /// Every image the project needs.
    pub images: Vec<String>,
    /// Service names, the gateway included when there is one.
    pub services: Vec<String>,
    /// Files for the sandbox's folder: (name, contents, mode).
    pub files: Vec<(String, Vec<u8>, u32)>,
}

fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Labels of a compose object as a map (compose allows a list of `k=v` too).
fn labels_of(obj: &Map<String, Value>) -> Map<String, Value> {
    match obj.get("labels") {
        Some(Value::Object(map)) => map.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str())
            .map(|i| match i.split_once('=') {
                Some((k, v)) => (k.to_string(), Value::String(v.into())),
                None => (i.to_string(), Value::String(String::new())),
            })
            .collect(),
        _ => Map::new(),
    }
}

/// Escapes a value sandboxer writes into a compose file: compose interpolates `$VAR`
/// in values, and `$$` is a literal `$`.
fn literal(value: &str) -> String {
    value.replace('$', "$$")
}

/// Adds `labels` (values taken literally) to a compose object's own labels.
fn with_labels(obj: &mut Map<String, Value>, labels: &Labels) {
    let mut merged = labels_of(obj);
    for (k, v) in labels {
        merged.insert(k.clone(), Value::String(literal(v)));
    }
    obj.insert("labels".into(), Value::Object(merged));
}

/// A published port in compose's short or long syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    pub host_ip: String,
    pub host_port: Option<u16>,
    pub container_port: u16,
    pub protocol: String,
}

/// Parses one entry of a service's `ports`.
pub fn parse_port(entry: &Value) -> Result<PublishedPort, String> {
    let port = |s: &str| -> Result<u16, String> {
        s.parse::<u16>()
            .map_err(|_| format!("{s:?} is not a single port (ranges are not supported)"))
    };
    match entry {
        Value::Number(n) => Ok(PublishedPort {
            host_ip: String::new(),
            host_port: None,
            container_port: port(&n.to_string())?,
            protocol: "tcp".into(),
        }),
        Value::String(s) => {
            let (spec, protocol) = match s.rsplit_once('/') {
                Some((spec, proto)) => (spec, proto.to_string()),
                None => (s.as_str(), "tcp".to_string()),
            };
            // IPv6 host addresses are written in brackets; none are expected here.
            let parts: Vec<&str> = spec.split(':').collect();
            let (host_ip, host_port, container) = match parts.as_slice() {
                [c] => ("", "", *c),
                [h, c] => ("", *h, *c),
                [ip, h, c] => (*ip, *h, *c),
                _ => return Err(format!("{s:?} is not a port mapping compose understands")),
            };
            Ok(PublishedPort {
                host_ip: host_ip.to_string(),
                host_port: if host_port.is_empty() {
                    None
                } else {
                    Some(port(host_port)?)
                },
                container_port: port(container)?,
                protocol,
            })
        }
        Value::Object(map) => Ok(PublishedPort {
            host_ip: map
                .get("host_ip")
                .and_then(Value::as_str)
                .unwrap_or("")
                .into(),
            host_port: match map.get("published") {
                Some(Value::Number(n)) => Some(port(&n.to_string())?),
                Some(Value::String(s)) if !s.is_empty() => Some(port(s)?),
                _ => None,
            },
            container_port: match map.get("target") {
                Some(Value::Number(n)) => port(&n.to_string())?,
                Some(Value::String(s)) => port(s)?,
                _ => return Err("a long-syntax port needs `target`".into()),
            },
            protocol: map
                .get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("tcp")
                .into(),
        }),
        other => Err(format!("{other} is not a port mapping")),
    }
}

/// The profile's compose file, parsed; one too deeply nested to parse safely is
/// refused before the parser sees it.
pub fn parse_compose(spec: &ProfileSpec) -> Result<Value, ErrorObject> {
    use sandboxer_ext_protocol::limits::{MAX_YAML_NESTING, yaml_nesting};
    let field = |f: &str| format!("profile.files.{}: {f}", spec.compose_file);
    let source = &spec.files[&spec.compose_file];
    let (depth, line) = yaml_nesting(source);
    if depth > MAX_YAML_NESTING {
        return Err(invalid(
            "profile.files",
            field(&format!(
                "line {line}: nested {depth} deep; at most {MAX_YAML_NESTING} levels are accepted"
            )),
        ));
    }
    yaml_serde::from_str(source).map_err(|e| invalid("profile.files", field(&e.to_string())))
}

/// Gives a service a `/dev/shm` of its own, a tmpfs inside the container (its
/// `shm_size`, 64m by default), instead of podman's shared one: every container
/// runs with `--ipc=none` (see `hardening`) because podman 4.3 leaves the shared
/// one of a container in a user namespace mounted where it cannot be removed
/// while a later container runs (measured: 2 of 30 removals failed).
fn private_shm(svc: &mut Map<String, Value>) -> Result<(), String> {
    let size = match svc.remove("shm_size") {
        None => "64m".to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s))
            if !s.is_empty()
                && s.trim_end_matches(['b', 'k', 'm', 'g', 'B', 'K', 'M', 'G'])
                    .chars()
                    .all(|c| c.is_ascii_digit()) =>
        {
            s
        }
        Some(other) => return Err(format!("shm_size {other} is not a size like 64m")),
    };
    let mut tmpfs = match svc.remove("tmpfs") {
        None => vec![],
        Some(Value::Array(items)) => items,
        Some(one) => vec![one],
    };
    let has_shm = tmpfs.iter().any(|t| {
        t.as_str()
            .is_some_and(|t| t == "/dev/shm" || t.starts_with("/dev/shm:"))
    });
    if !has_shm {
        tmpfs.push(json!(format!("/dev/shm:rw,nosuid,nodev,size={size}")));
    }
    svc.insert("tmpfs".into(), Value::Array(tmpfs));
    Ok(())
}

/// The images a parsed compose file names.
pub fn images_of(compose: &Value) -> Vec<String> {
    compose
        .get("services")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|services| services.values())
        .filter_map(|service| service.get("image").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// Builds the sandbox's project from the profile spec and the create params.
pub fn build(
    spec: &ProfileSpec,
    params: &CreateParams,
    gateway_image: &str,
) -> Result<Project, ErrorObject> {
    let field = |f: &str| format!("profile.files.{}: {f}", spec.compose_file);
    let mut compose = parse_compose(spec)?;
    let root = compose
        .as_object_mut()
        .ok_or_else(|| invalid("profile.files", field("not a mapping")))?;
    let deny = params.network.egress == Egress::Deny;

    // Networks: default when none; labelled; internal under deny; never external.
    let mut networks = match root.remove("networks") {
        Some(Value::Object(n)) => n,
        None | Some(Value::Null) => Map::new(),
        Some(_) => {
            return Err(invalid(
                "profile.files",
                field("networks must be a mapping"),
            ));
        }
    };
    if networks.is_empty() {
        networks.insert("default".into(), json!({}));
    }
    for (name, net) in networks.iter_mut() {
        if !is_safe_name(name) || name == EDGE_NETWORK {
            return Err(invalid(
                "profile.files",
                field(&format!("network name {name:?} is not allowed")),
            ));
        }
        if net.is_null() {
            *net = json!({});
        }
        let net = net.as_object_mut().ok_or_else(|| {
            invalid(
                "profile.files",
                field(&format!("network {name} must be a mapping")),
            )
        })?;
        if net.contains_key("external") {
            return Err(invalid(
                "profile.files",
                field(&format!(
                    "network {name} is external: a sandbox owns all its networks"
                )),
            ));
        }
        with_labels(net, &params.labels);
        if deny {
            net.insert("internal".into(), Value::Bool(true));
        }
    }
    let network_names: Vec<String> = networks.keys().cloned().collect();

    // Volumes: labelled, never external.
    if let Some(volumes) = root.get_mut("volumes") {
        let volumes = volumes
            .as_object_mut()
            .ok_or_else(|| invalid("profile.files", field("volumes must be a mapping")))?;
        for (name, vol) in volumes.iter_mut() {
            if vol.is_null() {
                *vol = json!({});
            }
            let vol = vol.as_object_mut().ok_or_else(|| {
                invalid(
                    "profile.files",
                    field(&format!("volume {name} must be a mapping")),
                )
            })?;
            if vol.contains_key("external") {
                return Err(invalid(
                    "profile.files",
                    field(&format!(
                        "volume {name} is external: a sandbox owns all its volumes"
                    )),
                ));
            }
            with_labels(vol, &params.labels);
        }
    }

    let services = root
        .get_mut("services")
        .and_then(Value::as_object_mut)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("profile.files", field("no services")))?;
    let mut images = Vec::new();
    let mut forwards: Vec<(Forward, PublishedPort)> = Vec::new();
    let exec_service = match &spec.exec_service {
        Some(s) if services.contains_key(s) => s.clone(),
        Some(s) => {
            return Err(invalid(
                "profile.spec.exec_service",
                format!("exec_service {s:?} is not a service of the compose file"),
            ));
        }
        None => services.keys().next().cloned().unwrap_or_default(),
    };
    for (name, service) in services.iter_mut() {
        if !is_safe_name(name) || name == GATEWAY_SERVICE {
            return Err(invalid(
                "profile.files",
                field(&format!("service name {name:?} is not allowed")),
            ));
        }
        let svc = service.as_object_mut().ok_or_else(|| {
            invalid(
                "profile.files",
                field(&format!("service {name} must be a mapping")),
            )
        })?;
        if svc.contains_key("build") {
            return Err(invalid(
                "profile.files",
                field(&format!(
                    "service {name} uses `build`; build the image on the host and name it in `image`"
                )),
            ));
        }
        let image = svc.get("image").and_then(Value::as_str).ok_or_else(|| {
            invalid(
                "profile.files",
                field(&format!("service {name} has no image")),
            )
        })?;
        images.push(image.to_string());
        let mut labels = params.labels.clone();
        labels.insert(EXEC_SERVICE_LABEL.into(), exec_service.clone());
        let endpoints: Vec<String> = spec
            .endpoints
            .iter()
            .filter(|e| &e.service == name)
            .map(|e| {
                let label_name = e
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("{name}-{}", e.port));
                format!("{}|{}|{label_name}|{}", e.port, e.protocol, e.path)
            })
            .collect();
        if !endpoints.is_empty() {
            labels.insert(ENDPOINTS_LABEL.into(), endpoints.join(","));
        }
        with_labels(svc, &labels);
        if !params.secrets.is_empty() {
            let mut env_files = match svc.remove("env_file") {
                Some(Value::String(f)) => vec![Value::String(f)],
                Some(Value::Array(fs)) => fs,
                _ => vec![],
            };
            env_files.push(Value::String(SECRETS_ENV.into()));
            svc.insert("env_file".into(), Value::Array(env_files));
        }
        private_shm(svc)
            .map_err(|e| invalid("profile.files", field(&format!("service {name}: {e}"))))?;
        if let Some(cpus) = params.resources.cpus {
            svc.insert("cpus".into(), json!(cpus.to_string()));
        }
        if let Some(mb) = params.resources.memory_mb {
            svc.insert("mem_limit".into(), json!(format!("{mb}m")));
        }
        if deny && let Some(Value::Array(ports)) = svc.remove("ports") {
            for entry in &ports {
                let published = parse_port(entry).map_err(|e| {
                    invalid(
                        "profile.files",
                        field(&format!("service {name} ports: {e}")),
                    )
                })?;
                if published.protocol != "tcp" {
                    return Err(invalid(
                        "profile.files",
                        field(&format!(
                            "service {name} publishes a {} port; under egress deny only tcp ports \
                         can be published",
                            published.protocol
                        )),
                    ));
                }
                let forward = Forward {
                    gateway_port: GATEWAY_BASE_PORT + forwards.len() as u16,
                    service: name.clone(),
                    port: published.container_port,
                };
                forwards.push((forward, published));
            }
        }
    }
    let mut service_names: Vec<String> = services.keys().cloned().collect();

    if !forwards.is_empty() {
        // One `nc` listener per forward; names and ports were checked above.
        let listeners: Vec<String> = forwards
            .iter()
            .map(|(f, _)| {
                format!(
                    "nc -ll -p {} -e nc {} {} &",
                    f.gateway_port, f.service, f.port
                )
            })
            .collect();
        let ports: Vec<String> = forwards
            .iter()
            .map(|(f, p)| {
                let host_port = p.host_port.map(|h| h.to_string()).unwrap_or_default();
                if p.host_ip.is_empty() {
                    format!("{host_port}:{}", f.gateway_port)
                } else {
                    format!("{}:{host_port}:{}", p.host_ip, f.gateway_port)
                }
            })
            .collect();
        let label: Vec<String> = forwards
            .iter()
            .map(|(f, _)| format!("{}={}:{}", f.gateway_port, f.service, f.port))
            .collect();
        let mut labels = params.labels.clone();
        labels.insert(FORWARDS_LABEL.into(), label.join(","));
        labels.insert(EXEC_SERVICE_LABEL.into(), exec_service.clone());
        let mut gateway_networks = network_names.clone();
        gateway_networks.push(EDGE_NETWORK.into());
        let mut gateway = json!({
            "image": gateway_image,
            "command": ["sh", "-c", format!("{} wait", listeners.join(" "))],
            "ports": ports,
            "networks": gateway_networks,
            "stop_signal": "SIGKILL",
        });
        private_shm(gateway.as_object_mut().expect("object")).expect("no shm_size of ours");
        with_labels(gateway.as_object_mut().expect("object"), &labels);
        services.insert(GATEWAY_SERVICE.into(), gateway);
        let mut edge = json!({});
        with_labels(edge.as_object_mut().expect("object"), &params.labels);
        networks.insert(EDGE_NETWORK.into(), edge);
        images.push(gateway_image.to_string());
        service_names.push(GATEWAY_SERVICE.into());
    }
    root.insert("networks".into(), Value::Object(networks));
    images.sort();
    images.dedup();

    let mut files: Vec<(String, Vec<u8>, u32)> = spec
        .files
        .iter()
        .map(|(name, contents)| (name.clone(), contents.as_bytes().to_vec(), 0o644))
        .collect();
    let effective = serde_json::to_vec_pretty(&compose).expect("JSON serializes");
    files.push((crate::podman::EFFECTIVE_COMPOSE.into(), effective, 0o644));
    if !params.secrets.is_empty() {
        files.push((SECRETS_ENV.into(), env_file(params)?, 0o600));
    }
    Ok(Project {
        compose,
        images,
        services: service_names,
        files,
    })
}

impl Project {
    /// The project with services run from other images (a snapshot's), keyed by
    /// service; services not named keep theirs.
    pub fn with_images(mut self, images: &BTreeMap<String, String>) -> Project {
        if let Some(services) = self
            .compose
            .get_mut("services")
            .and_then(Value::as_object_mut)
        {
            for (name, service) in services.iter_mut() {
                if let (Some(image), Some(svc)) = (images.get(name), service.as_object_mut()) {
                    svc.insert("image".into(), Value::String(image.clone()));
                }
            }
            self.images = services
                .values()
                .filter_map(|s| s.get("image").and_then(Value::as_str).map(str::to_string))
                .collect();
            self.images.sort();
            self.images.dedup();
        }
        let effective = serde_json::to_vec_pretty(&self.compose).expect("JSON serializes");
        for file in &mut self.files {
            if file.0 == crate::podman::EFFECTIVE_COMPOSE {
                file.1 = effective.clone();
            }
        }
        self
    }
}

/// `NAME=value` lines. A value with a newline cannot be carried by an env file.
fn env_file(params: &CreateParams) -> Result<Vec<u8>, ErrorObject> {
    let mut out = String::new();
    for (name, value) in &params.secrets.0 {
        if let Err(bad) = sandboxer_ext_protocol::names::validate_secret_name(name) {
            return Err(invalid(&format!("secrets.{name}"), bad.to_string()));
        }
        if value.contains('\n') || value.contains('\0') {
            return Err(invalid(
                &format!("secrets.{name}"),
                format!("secret {name} contains a newline or NUL, which an env file cannot carry"),
            ));
        }
        out.push_str(&format!("{name}={value}\n"));
    }
    Ok(out.into_bytes())
}

/// The files as a tar archive, for unpacking on the host.
pub fn tar_archive(files: &[(String, Vec<u8>, u32)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, contents, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(*mode);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, name, contents.as_slice())
            .expect("writing to memory cannot fail");
    }
    builder.into_inner().expect("writing to memory cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandboxer_ext_protocol::{NetworkPolicy, Placement, ProfileRef, Resources, Secrets};

    const COMPOSE: &str = "
services:
  web:
    image: img/web
    ports: ['127.0.0.1::8080', '9000:9000']
    labels: [team=web]
  worker:
    image: img/worker
    environment: {A: b}
volumes:
  data: {}
";

    /// A spec in the form a 1.1 host sends (the files inside it).
    fn parse_spec(spec: &Value) -> Result<ProfileSpec, ErrorObject> {
        ProfileSpec::of(&ProfileRef {
            spec: spec.clone(),
            ..Default::default()
        })
    }

    fn spec(compose: &str) -> ProfileSpec {
        parse_spec(&json!({
            "compose_file": "compose.yaml",
            "files": {"compose.yaml": compose},
        }))
        .unwrap()
    }

    fn params(egress: Egress) -> CreateParams {
        CreateParams {
            sandbox_id: "s1".into(),
            profile: ProfileRef {
                id: "profile.x".into(),
                version: "1".into(),
                spec: json!({}),
                ..Default::default()
            },
            placement: Placement::default(),
            labels: Labels::from([
                ("sandboxer.id".to_string(), "s1".to_string()),
                ("owner".to_string(), "me".to_string()),
            ]),
            secrets: Secrets::default(),
            network: NetworkPolicy {
                egress,
                allow: vec![],
            },
            resources: Resources::default(),
            expires_at: "2030-01-01T00:00:00Z".into(),
            progress_token: None,
        }
    }

    #[test]
    fn every_service_network_and_volume_is_labelled() {
        let p = build(&spec(COMPOSE), &params(Egress::Allow), "gw").unwrap();
        let c = &p.compose;
        assert_eq!(c["services"]["web"]["labels"]["sandboxer.id"], "s1");
        assert_eq!(
            c["services"]["web"]["labels"]["team"], "web",
            "the profile's own labels stay"
        );
        assert_eq!(c["services"]["worker"]["labels"]["owner"], "me");
        assert_eq!(c["networks"]["default"]["labels"]["sandboxer.id"], "s1");
        assert_eq!(c["volumes"]["data"]["labels"]["sandboxer.id"], "s1");
        assert!(c["networks"]["default"].get("internal").is_none());
        assert_eq!(
            c["services"]["web"]["ports"][0], "127.0.0.1::8080",
            "allow keeps ports"
        );
        assert!(c["services"].get(GATEWAY_SERVICE).is_none());
        assert_eq!(p.images, ["img/web", "img/worker"]);
        assert!(p.files.iter().any(|(n, _, _)| n == "compose.yaml"));
        assert!(p.files.iter().all(|(n, _, _)| n != SECRETS_ENV));
    }

    #[test]
    fn egress_deny_makes_networks_internal_and_forwards_ports_through_a_gateway() {
        let p = build(&spec(COMPOSE), &params(Egress::Deny), "gw/img").unwrap();
        let c = &p.compose;
        assert_eq!(c["networks"]["default"]["internal"], true);
        assert!(c["services"]["web"].get("ports").is_none());
        let gw = &c["services"][GATEWAY_SERVICE];
        assert_eq!(gw["image"], "gw/img");
        assert_eq!(gw["ports"], json!(["127.0.0.1::20000", "9000:20001"]));
        assert_eq!(gw["networks"], json!(["default", EDGE_NETWORK]));
        assert_eq!(gw["labels"]["sandboxer.id"], "s1");
        assert_eq!(c["networks"][EDGE_NETWORK]["labels"]["sandboxer.id"], "s1");
        assert!(c["networks"][EDGE_NETWORK].get("internal").is_none());
        let forwards = parse_forwards(gw["labels"][FORWARDS_LABEL].as_str().unwrap());
        assert_eq!(
            forwards,
            [
                Forward {
                    gateway_port: 20000,
                    service: "web".into(),
                    port: 8080
                },
                Forward {
                    gateway_port: 20001,
                    service: "web".into(),
                    port: 9000
                },
            ]
        );
        let command = gw["command"][2].as_str().unwrap();
        assert!(
            command.contains("nc -ll -p 20000 -e nc web 8080 &"),
            "{command}"
        );
        assert!(p.services.contains(&GATEWAY_SERVICE.to_string()));
        assert!(p.images.contains(&"gw/img".to_string()));
    }

    #[test]
    fn secrets_go_to_a_private_env_file_only() {
        let mut params = params(Egress::Allow);
        params.secrets = Secrets(BTreeMap::from([("TOKEN".into(), "v4lue".into())]));
        let p = build(&spec(COMPOSE), &params, "gw").unwrap();
        let text = serde_json::to_string(&p.compose).unwrap();
        assert!(
            !text.contains("v4lue"),
            "the compose file never holds a secret"
        );
        assert_eq!(
            p.compose["services"]["web"]["env_file"],
            json!([SECRETS_ENV])
        );
        let (_, contents, mode) = p.files.iter().find(|(n, _, _)| n == SECRETS_ENV).unwrap();
        assert_eq!(contents, b"TOKEN=v4lue\n");
        assert_eq!(*mode, 0o600);
        params.secrets = Secrets(BTreeMap::from([("TOKEN".into(), "a\nb".into())]));
        let err = build(&spec(COMPOSE), &params, "gw").unwrap_err();
        assert!(!err.message.contains("a\nb"));
        assert_eq!(
            err.domain_data().unwrap().details.unwrap()["field"],
            "secrets.TOKEN"
        );
    }

    #[test]
    fn refuses_what_a_sandbox_cannot_own() {
        for (compose, fragment) in [
            ("services: {}", "no services"),
            ("services: {web: {build: .}}", "build"),
            ("services: {web: {command: x}}", "no image"),
            ("services: {'a b': {image: i}}", "not allowed"),
            (
                "services: {web: {image: i}}\nnetworks: {n: {external: true}}",
                "external",
            ),
            (
                "services: {web: {image: i}}\nvolumes: {v: {external: true}}",
                "external",
            ),
            ("services: {web: {image: i, ports: ['53/udp']}}", "udp"),
            (
                "services: {web: {image: i, ports: ['8000-8010']}}",
                "ranges",
            ),
            ("[1, 2]", "mapping"),
        ] {
            let err = build(&spec(compose), &params(Egress::Deny), "gw").unwrap_err();
            assert!(err.message.contains(fragment), "{compose}: {}", err.message);
            assert_eq!(err.code, 1003);
        }
    }

    #[test]
    fn endpoint_and_exec_labels_describe_each_service() {
        let spec = parse_spec(&json!({
            "compose_file": "compose.yaml",
            "files": {"compose.yaml": COMPOSE},
            "endpoints": [{"service": "web", "port": 8080, "protocol": "http", "path": "/health"}],
            "exec_service": "worker",
        }))
        .unwrap();
        let p = build(&spec, &params(Egress::Allow), "gw").unwrap();
        let web = &p.compose["services"]["web"]["labels"];
        assert_eq!(
            parse_endpoints_label(web[ENDPOINTS_LABEL].as_str().unwrap()),
            [EndpointLabel {
                port: 8080,
                protocol: "http".into(),
                name: "web-8080".into(),
                path: "/health".into()
            }]
        );
        assert_eq!(web[EXEC_SERVICE_LABEL], "worker");
        let bad = parse_spec(&json!({"compose_file": "c", "files": {"c": ""},
            "endpoints": [{"service": "web", "port": 1, "protocol": "udp"}]}));
        assert!(bad.unwrap_err().message.contains("udp"));
    }

    #[test]
    fn label_values_are_not_interpolated_by_compose() {
        let mut params = params(Egress::Allow);
        params
            .labels
            .insert("note".into(), "$HOME ${PATH} $$".into());
        let p = build(&spec(COMPOSE), &params, "gw").unwrap();
        assert_eq!(
            p.compose["services"]["web"]["labels"]["note"],
            "$$HOME $${PATH} $$$$"
        );
    }

    #[test]
    fn port_syntax() {
        let p = |v: Value| parse_port(&v).unwrap();
        assert_eq!(p(json!(80)).container_port, 80);
        let full = p(json!("127.0.0.1:9000:80/tcp"));
        assert_eq!(
            (full.host_ip.as_str(), full.host_port, full.container_port),
            ("127.0.0.1", Some(9000), 80)
        );
        assert_eq!(p(json!("127.0.0.1::80")).host_port, None);
        assert_eq!(
            p(json!({"target": 80, "published": "81"})).host_port,
            Some(81)
        );
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
    fn the_archive_keeps_names_and_modes() {
        let archive = tar_archive(&[
            ("a.yaml".into(), b"x".to_vec(), 0o644),
            ("s.env".into(), b"y".to_vec(), 0o600),
        ]);
        let mut reader = tar::Archive::new(archive.as_slice());
        let entries: Vec<(String, u32)> = reader
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [("a.yaml".to_string(), 0o644), ("s.env".to_string(), 0o600)]
        );
    }
}
