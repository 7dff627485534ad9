//! The effective compose file of one sandbox, built from the profile's compose
//! file and the create params: every service, network and volume gets the
//! sandbox's labels; secrets arrive through an env file; `egress: deny` makes every
//! network internal and moves published ports to a gateway service, the only
//! container with a way out, which forwards each port to its service.

use crate::labels::{
    ENDPOINTS_LABEL, EXEC_SERVICE_LABEL, EndpointLabel, FORWARDS_LABEL, Forward, GATEWAY_SERVICE,
    endpoints_label, forwards_label,
};
use crate::podman::{EFFECTIVE_COMPOSE, SECRETS_ENV};
use crate::spec::ProfileSpec;
use sandboxer_ext_protocol::{CreateParams, Egress, ErrorObject, Labels};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The gateway's network with a route out (the others are internal).
pub const EDGE_NETWORK: &str = "sandboxer-edge";
/// First port the gateway listens on.
const GATEWAY_BASE_PORT: u16 = 20000;

fn invalid(field: &str, message: impl Into<String>) -> ErrorObject {
    ErrorObject::invalid_argument(field, message)
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

/// Builds the sandbox's project from the profile spec and the create params: the
/// compose file's networks and volumes are made the sandbox's own, its services
/// prepared, the egress gateway added when ports must go through it, and the
/// folder's files written.
pub fn build(
    spec: &ProfileSpec,
    params: &CreateParams,
    gateway_image: &str,
) -> Result<Project, ErrorObject> {
    let mut compose = spec.compose()?;
    let root = compose
        .as_object_mut()
        .ok_or_else(|| spec.compose_file_error("not a mapping"))?;
    let mut networks = own_networks_and_volumes(root, spec, params)?;
    let mut services = prepare_services(root, spec, params)?;
    if !services.forwards.is_empty() {
        add_gateway(root, &mut networks, &mut services, params, gateway_image);
    }
    root.insert("networks".into(), Value::Object(networks));
    services.images.sort();
    services.images.dedup();
    let files = project_files(spec, &compose, params)?;
    Ok(Project {
        compose,
        images: services.images,
        services: services.names,
        files,
    })
}

/// Step 1: the compose file's networks (taken out of `root`, returned) and
/// volumes, made the sandbox's own: labelled, never external; networks internal
/// under `egress: deny`, and one named `default` when there is none.
fn own_networks_and_volumes(
    root: &mut Map<String, Value>,
    spec: &ProfileSpec,
    params: &CreateParams,
) -> Result<Map<String, Value>, ErrorObject> {
    let deny = params.network.egress == Egress::Deny;
    let mut networks = match root.remove("networks") {
        Some(Value::Object(n)) => n,
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(spec.compose_file_error("networks must be a mapping")),
    };
    if networks.is_empty() {
        networks.insert("default".into(), json!({}));
    }
    for (name, net) in networks.iter_mut() {
        if !is_safe_name(name) || name == EDGE_NETWORK {
            return Err(spec.compose_file_error(&format!("network name {name:?} is not allowed")));
        }
        let net = owned_object(spec, net, "network", name)?;
        with_labels(net, &params.labels);
        if deny {
            net.insert("internal".into(), Value::Bool(true));
        }
    }
    if let Some(volumes) = root.get_mut("volumes") {
        let volumes = volumes
            .as_object_mut()
            .ok_or_else(|| spec.compose_file_error("volumes must be a mapping"))?;
        for (name, vol) in volumes.iter_mut() {
            let vol = owned_object(spec, vol, "volume", name)?;
            with_labels(vol, &params.labels);
        }
    }
    Ok(networks)
}

/// A network or volume of the compose file as a mapping (`{}` when empty),
/// refused when external: a sandbox owns all its networks and volumes.
fn owned_object<'a>(
    spec: &ProfileSpec,
    value: &'a mut Value,
    kind: &str,
    name: &str,
) -> Result<&'a mut Map<String, Value>, ErrorObject> {
    if value.is_null() {
        *value = json!({});
    }
    let object = value
        .as_object_mut()
        .ok_or_else(|| spec.compose_file_error(&format!("{kind} {name} must be a mapping")))?;
    if object.contains_key("external") {
        return Err(spec.compose_file_error(&format!(
            "{kind} {name} is external: a sandbox owns all its {kind}s"
        )));
    }
    Ok(object)
}

/// What preparing the services found.
struct Services {
    /// Service names, the gateway's once it is added.
    names: Vec<String>,
    /// Every image the services name.
    images: Vec<String>,
    /// Published ports the gateway must take over (under `egress: deny`).
    forwards: Vec<(Forward, PublishedPort)>,
    /// The service `sandbox/exec` runs in by default.
    exec_service: String,
}

/// Step 2: every service of the compose file checked (a safe name, an image, no
/// `build`) and prepared: the sandbox's labels, the secrets env file, a private
/// `/dev/shm`, the profile's resources; under `egress: deny` its published ports
/// are taken off it, to be forwarded by the gateway.
fn prepare_services(
    root: &mut Map<String, Value>,
    spec: &ProfileSpec,
    params: &CreateParams,
) -> Result<Services, ErrorObject> {
    let deny = params.network.egress == Egress::Deny;
    let services = root
        .get_mut("services")
        .and_then(Value::as_object_mut)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| spec.compose_file_error("no services"))?;
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
    let mut images = Vec::new();
    let mut forwards: Vec<(Forward, PublishedPort)> = Vec::new();
    for (name, service) in services.iter_mut() {
        if !is_safe_name(name) || name == GATEWAY_SERVICE {
            return Err(spec.compose_file_error(&format!("service name {name:?} is not allowed")));
        }
        let svc = service
            .as_object_mut()
            .ok_or_else(|| spec.compose_file_error(&format!("service {name} must be a mapping")))?;
        if svc.contains_key("build") {
            return Err(spec.compose_file_error(&format!(
                "service {name} uses `build`; build the image on the host and name it in `image`"
            )));
        }
        let image = svc
            .get("image")
            .and_then(Value::as_str)
            .ok_or_else(|| spec.compose_file_error(&format!("service {name} has no image")))?;
        images.push(image.to_string());
        with_labels(svc, &service_labels(spec, params, name, &exec_service));
        if !params.secrets.is_empty() {
            let mut env_files = match svc.remove("env_file") {
                Some(Value::String(f)) => vec![Value::String(f)],
                Some(Value::Array(fs)) => fs,
                _ => vec![],
            };
            env_files.push(Value::String(SECRETS_ENV.into()));
            svc.insert("env_file".into(), Value::Array(env_files));
        }
        private_shm(svc).map_err(|e| spec.compose_file_error(&format!("service {name}: {e}")))?;
        if let Some(cpus) = params.resources.cpus {
            svc.insert("cpus".into(), json!(cpus.to_string()));
        }
        if let Some(mb) = params.resources.memory_mb {
            svc.insert("mem_limit".into(), json!(format!("{mb}m")));
        }
        if deny && let Some(Value::Array(ports)) = svc.remove("ports") {
            for entry in &ports {
                let published = parse_port(entry)
                    .map_err(|e| spec.compose_file_error(&format!("service {name} ports: {e}")))?;
                if published.protocol != "tcp" {
                    return Err(spec.compose_file_error(&format!(
                        "service {name} publishes a {} port; under egress deny only tcp ports \
                         can be published",
                        published.protocol
                    )));
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
    Ok(Services {
        names: services.keys().cloned().collect(),
        images,
        forwards,
        exec_service,
    })
}

/// The labels of service `name`: the sandbox's, the default exec service, and
/// how the spec presents its published ports.
fn service_labels(
    spec: &ProfileSpec,
    params: &CreateParams,
    name: &str,
    exec_service: &str,
) -> Labels {
    let mut labels = params.labels.clone();
    labels.insert(EXEC_SERVICE_LABEL.into(), exec_service.to_string());
    let endpoints: Vec<EndpointLabel> = spec
        .endpoints
        .iter()
        .filter(|e| e.service == name)
        .map(|e| EndpointLabel {
            port: e.port,
            protocol: e.protocol.clone(),
            name: e
                .name
                .clone()
                .unwrap_or_else(|| format!("{name}-{}", e.port)),
            path: e.path.clone(),
        })
        .collect();
    if !endpoints.is_empty() {
        labels.insert(ENDPOINTS_LABEL.into(), endpoints_label(&endpoints));
    }
    labels
}

/// Step 3: the egress gateway, for the ports `services` took off their services:
/// a service on every network and on `EDGE_NETWORK` (the one network with a way
/// out), publishing those ports and forwarding each to its service with `nc`.
fn add_gateway(
    root: &mut Map<String, Value>,
    networks: &mut Map<String, Value>,
    services: &mut Services,
    params: &CreateParams,
    gateway_image: &str,
) {
    let forwards = &services.forwards;
    // One `nc` listener per forward; names and ports were checked before.
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
    let mut labels = params.labels.clone();
    labels.insert(
        FORWARDS_LABEL.into(),
        forwards_label(forwards.iter().map(|(f, _)| f)),
    );
    labels.insert(EXEC_SERVICE_LABEL.into(), services.exec_service.clone());
    let mut gateway_networks: Vec<String> = networks.keys().cloned().collect();
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
    root.get_mut("services")
        .and_then(Value::as_object_mut)
        .expect("services were prepared")
        .insert(GATEWAY_SERVICE.into(), gateway);
    let mut edge = json!({});
    with_labels(edge.as_object_mut().expect("object"), &params.labels);
    networks.insert(EDGE_NETWORK.into(), edge);
    services.images.push(gateway_image.to_string());
    services.names.push(GATEWAY_SERVICE.into());
}

/// Step 4: the files of the sandbox's folder: the profile's files, the effective
/// compose file and, with secrets, the env file that carries them (mode 0600).
fn project_files(
    spec: &ProfileSpec,
    compose: &Value,
    params: &CreateParams,
) -> Result<Vec<(String, Vec<u8>, u32)>, ErrorObject> {
    let mut files: Vec<(String, Vec<u8>, u32)> = spec
        .files
        .iter()
        .map(|(name, contents)| (name.clone(), contents.as_bytes().to_vec(), 0o644))
        .collect();
    let effective = serde_json::to_vec_pretty(compose).expect("JSON serializes");
    files.push((EFFECTIVE_COMPOSE.into(), effective, 0o644));
    if !params.secrets.is_empty() {
        files.push((SECRETS_ENV.into(), env_file(params)?, 0o600));
    }
    Ok(files)
}

impl Project {
    /// The project with the agent (at `host_path` on the host) mounted read-only
    /// at [`crate::agent_binary::MOUNT_PATH`] in every service but the gateway.
    pub fn with_agent(mut self, host_path: &str) -> Project {
        if let Some(services) = self
            .compose
            .get_mut("services")
            .and_then(Value::as_object_mut)
        {
            for (name, service) in services.iter_mut() {
                let Some(svc) = service.as_object_mut() else {
                    continue;
                };
                if name == GATEWAY_SERVICE {
                    continue;
                }
                let mount = Value::String(format!(
                    "{host_path}:{}:ro",
                    crate::agent_binary::MOUNT_PATH
                ));
                match svc.get_mut("volumes").and_then(Value::as_array_mut) {
                    Some(volumes) => volumes.push(mount),
                    None => {
                        svc.insert("volumes".into(), Value::Array(vec![mount]));
                    }
                }
            }
        }
        self.rewrite_effective();
        self
    }

    fn rewrite_effective(&mut self) {
        let effective = serde_json::to_vec_pretty(&self.compose).expect("JSON serializes");
        for file in &mut self.files {
            if file.0 == EFFECTIVE_COMPOSE {
                file.1 = effective.clone();
            }
        }
    }

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
        self.rewrite_effective();
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
    use crate::labels::{parse_endpoints_label, parse_forwards};
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
