//! The containment policy: what a profile's compose file may ask of a host. A
//! sandbox must not hand out the host, so by default a compose file gets no
//! privileged mode, no host namespaces, no host paths, no devices, no capabilities
//! beyond a short list, no security options that unconfine, and runs in a user
//! namespace. Each of those is a named `Setting` an operator may allow per host or
//! per profile (`Exceptions`); some things no exception allows (joining another
//! container's namespaces, another sandbox's volumes or networks, naming
//! containers). Anything the policy does not know to be safe is refused: it reads
//! an allow-list of keys, not a deny-list.
//!
//! `review` is pure: compose document in, findings out; `judge` splits them by what
//! is allowed.

use sandboxer_ext_protocol::{PolicyFinding, ProfileCheckResult};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Settings of the containment policy an operator allows: everywhere, and per
/// profile (by id). A host's own `allow` adds to these there.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exceptions {
    #[serde(default)]
    pub allow: Vec<Setting>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Vec<Setting>>,
}

/// What an operator may allow, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Setting {
    /// `privileged: true`.
    Privileged,
    /// The host's network, pid, ipc, uts or cgroup namespace.
    HostNamespaces,
    /// Paths of the host as volumes or env files (other than the profile's own
    /// files), and volumes whose driver options mount one.
    HostMounts,
    /// `devices`, `device_cgroup_rules`.
    Devices,
    /// `cap_add` beyond `SAFE_CAPABILITIES`.
    Capabilities,
    /// `security_opt` other than `no-new-privileges`: seccomp, AppArmor or
    /// SELinux off, masks lifted.
    Unconfined,
    /// `sysctls`.
    Sysctls,
    /// `userns_mode: host`: the sandbox's root is the host's root.
    HostUser,
}

impl Setting {
    pub const ALL: [Setting; 8] = [
        Setting::Privileged,
        Setting::HostNamespaces,
        Setting::HostMounts,
        Setting::Devices,
        Setting::Capabilities,
        Setting::Unconfined,
        Setting::Sysctls,
        Setting::HostUser,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Setting::Privileged => "privileged",
            Setting::HostNamespaces => "host-namespaces",
            Setting::HostMounts => "host-mounts",
            Setting::Devices => "devices",
            Setting::Capabilities => "capabilities",
            Setting::Unconfined => "unconfined",
            Setting::Sysctls => "sysctls",
            Setting::HostUser => "host-user",
        }
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Capabilities `cap_add` may name without an exception: podman's defaults (adding
/// one back after a `cap_drop` is harmless) and NET_RAW (ping).
pub const SAFE_CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
    "NET_RAW",
];

/// Service keys that give a container nothing of the host.
const PLAIN_SERVICE_KEYS: &[&str] = &[
    "image",
    "command",
    "entrypoint",
    "environment",
    "working_dir",
    "user",
    "group_add",
    "ports",
    "expose",
    "healthcheck",
    "stop_signal",
    "stop_grace_period",
    "depends_on",
    "restart",
    "hostname",
    "domainname",
    "init",
    "read_only",
    "mem_limit",
    "mem_reservation",
    "memswap_limit",
    "cpus",
    "cpu_shares",
    "cpu_quota",
    "cpu_period",
    "cpuset",
    "shm_size",
    "ulimits",
    "tty",
    "stdin_open",
    "extra_hosts",
    "dns",
    "dns_search",
    "dns_opt",
    "cap_drop",
    "platform",
    "pull_policy",
    "deploy",
    "tmpfs",
    "profiles",
];

/// One thing the policy found in a compose file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Where, as a path in the compose file (`services.web.volumes[0]`).
    pub field: String,
    pub message: String,
    /// The setting that would allow it; `None`: nothing allows it.
    pub setting: Option<Setting>,
}

/// What the runtime must change for a compose file the policy let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Runtime {
    /// A service asked for the host's user (`userns_mode: host`).
    pub host_user: bool,
    /// A service asked for `no-new-privileges:false`.
    pub new_privileges: bool,
}

/// What `review` found, and what it means for the runtime.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Review {
    pub findings: Vec<Finding>,
    pub runtime: Runtime,
}

struct Reviewer<'a> {
    file: &'a str,
    shipped: &'a BTreeSet<String>,
    volumes: BTreeSet<String>,
    networks: BTreeSet<String>,
    review: Review,
}

impl Reviewer<'_> {
    fn find(&mut self, field: String, setting: Option<Setting>, message: impl Into<String>) {
        self.review.findings.push(Finding {
            field: format!("{}: {field}", self.file),
            message: message.into(),
            setting,
        });
    }

    fn never(&mut self, field: String, message: impl Into<String>) {
        self.find(field, None, message);
    }

    /// A path relative to the sandbox's folder that is one of the profile's own
    /// files (or a folder of them).
    fn is_shipped(&self, path: &str) -> bool {
        let path = path.strip_prefix("./").unwrap_or(path);
        let path = path.trim_end_matches('/');
        !path.is_empty()
            && !path.starts_with('/')
            && path
                .split('/')
                .all(|p| !p.is_empty() && p != "." && p != "..")
            && self
                .shipped
                .iter()
                .any(|f| f == path || f.starts_with(&format!("{path}/")))
    }

    fn top_level(&mut self, root: &Map<String, Value>) {
        for key in root.keys() {
            match key.as_str() {
                "services" | "networks" | "volumes" | "version" => {}
                k if k.starts_with("x-") => {}
                "secrets" | "configs" => self.never(
                    key.clone(),
                    "top-level secrets and configs read files of the host; give secrets in the \
                     profile's `secrets:` and files in its `files:`",
                ),
                other => self.never(
                    other.to_string(),
                    format!(
                        "top-level key {other:?} is not one sandboxer knows to be safe \
                         (services, networks, volumes, version, x-*)"
                    ),
                ),
            }
        }
        if let Some(Value::Object(volumes)) = root.get("volumes") {
            for (name, volume) in volumes {
                self.volumes.insert(name.clone());
                let Some(volume) = volume.as_object() else {
                    continue;
                };
                for key in volume.keys() {
                    let field = format!("volumes.{name}.{key}");
                    match key.as_str() {
                        "labels" => self.labels(&field, &volume[key]),
                        "external" => {}
                        "driver" if volume[key] == "local" => {}
                        "driver" | "driver_opts" => self.find(
                            field,
                            Some(Setting::HostMounts),
                            "a volume driver or its options can mount a path or device of the \
                             host",
                        ),
                        "name" => self.never(
                            field,
                            "a volume's own name could be another sandbox's volume; sandboxer \
                             names volumes after the sandbox",
                        ),
                        other => self.never(field, format!("volume key {other:?} is not allowed")),
                    }
                }
            }
        }
        if let Some(Value::Object(networks)) = root.get("networks") {
            for (name, network) in networks {
                self.networks.insert(name.clone());
                let Some(network) = network.as_object() else {
                    continue;
                };
                for key in network.keys() {
                    let field = format!("networks.{name}.{key}");
                    match key.as_str() {
                        "labels" => self.labels(&field, &network[key]),
                        "internal" | "external" | "attachable" | "enable_ipv6" => {}
                        "driver" if network[key] == "bridge" => {}
                        "driver" | "driver_opts" => self.find(
                            field,
                            Some(Setting::HostNamespaces),
                            "a network driver other than bridge (macvlan, ipvlan, host) puts \
                             the sandbox on the host's own network",
                        ),
                        "name" => self.never(
                            field,
                            "a network's own name could be another sandbox's network or the \
                             host's default one; sandboxer names networks after the sandbox",
                        ),
                        other => self.never(field, format!("network key {other:?} is not allowed")),
                    }
                }
            }
        }
    }

    fn service(&mut self, name: &str, service: &Map<String, Value>) {
        let at = |key: &str| format!("services.{name}.{key}");
        for (key, value) in service {
            let field = at(key);
            match key.as_str() {
                k if PLAIN_SERVICE_KEYS.contains(&k) || k.starts_with("x-") => {}
                "labels" => self.labels(&field, value),
                "privileged" => {
                    if value != &Value::Bool(false) {
                        self.find(
                            field,
                            Some(Setting::Privileged),
                            "privileged mode gives the container the host's devices and every \
                             capability",
                        );
                    }
                }
                "devices" | "device_cgroup_rules" => {
                    if !is_empty(value) {
                        self.find(
                            field,
                            Some(Setting::Devices),
                            "devices of the host inside the sandbox",
                        );
                    }
                }
                "sysctls" => {
                    if !is_empty(value) {
                        self.find(
                            field,
                            Some(Setting::Sysctls),
                            "sets kernel parameters for the sandbox",
                        );
                    }
                }
                "cap_add" => self.capabilities(&field, value),
                "security_opt" => self.security_opt(&field, value),
                "network_mode" => match value.as_str() {
                    Some("none") => {}
                    Some("host") => self.find(
                        field,
                        Some(Setting::HostNamespaces),
                        "the host's network namespace: every port and interface of the host",
                    ),
                    other => self.never(
                        field,
                        format!(
                            "network_mode {} joins a network the sandbox does not own; use the \
                             sandbox's own networks (or \"none\")",
                            other.map(|o| format!("{o:?}")).unwrap_or_default()
                        ),
                    ),
                },
                "pid" | "ipc" | "uts" | "cgroup" => match value.as_str() {
                    Some("host") => self.find(
                        field,
                        Some(Setting::HostNamespaces),
                        format!("the host's {key} namespace"),
                    ),
                    Some("private") | Some("shareable") => {}
                    _ => self.never(
                        field,
                        format!(
                            "{key}: {value} could join another container's namespace; only \
                             \"host\" (with an exception) or \"private\" are allowed"
                        ),
                    ),
                },
                "userns_mode" => match value.as_str() {
                    Some("host") => {
                        self.review.runtime.host_user = true;
                        self.find(
                            field,
                            Some(Setting::HostUser),
                            "runs the sandbox as the host's root instead of in a user namespace",
                        );
                    }
                    _ => self.never(
                        field,
                        "sandboxer chooses the user namespace; only \"host\" (with an \
                         exception) may be asked for",
                    ),
                },
                "volumes" => self.volumes_of(name, value),
                "env_file" => {
                    let files: Vec<&Value> = match value {
                        Value::Array(items) => items.iter().collect(),
                        one => vec![one],
                    };
                    for (i, f) in files.into_iter().enumerate() {
                        let path = f.as_str().or_else(|| f.get("path").and_then(Value::as_str));
                        if !path.is_some_and(|p| self.is_shipped(p)) {
                            self.find(
                                format!("{field}[{i}]"),
                                Some(Setting::HostMounts),
                                format!(
                                    "{} is not one of the profile's files: it would read a file \
                                     of the host",
                                    f
                                ),
                            );
                        }
                    }
                }
                "networks" => {
                    let names: Vec<String> = match value {
                        Value::Array(items) => items
                            .iter()
                            .map(|i| i.as_str().unwrap_or_default().to_string())
                            .collect(),
                        Value::Object(map) => {
                            for (net, opts) in map {
                                if let Some(opts) = opts.as_object()
                                    && let Some(bad) = opts.keys().find(|k| *k != "aliases")
                                {
                                    self.never(
                                        format!("{field}.{net}.{bad}"),
                                        "only aliases may be set for a service's network",
                                    );
                                }
                            }
                            map.keys().cloned().collect()
                        }
                        _ => vec![],
                    };
                    for net in names {
                        if !self.networks.contains(&net) && net != "default" {
                            self.never(
                                format!("{field}.{net}"),
                                format!(
                                    "network {net:?} is not one of the compose file's networks"
                                ),
                            );
                        }
                    }
                }
                "container_name" => self.never(
                    field,
                    "sandboxer names containers after the sandbox; a fixed name would collide \
                     across sandboxes",
                ),
                "pod" => self.never(field, "a sandbox's containers join no pod of the host"),
                "volumes_from" | "external_links" | "links" => self.never(
                    field,
                    format!("{key} reaches containers by name, possibly outside the sandbox"),
                ),
                "secrets" | "configs" => self.never(
                    field,
                    "secrets and configs mount files of the host; give secrets in the profile's \
                     `secrets:` and files in its `files:`",
                ),
                "build" => self.never(field, "build the image on the host and name it in `image`"),
                other => self.never(
                    field,
                    format!(
                        "{other:?} is not a setting sandboxer knows to be safe; an operator \
                         cannot allow it either"
                    ),
                ),
            }
        }
    }

    /// Labels under `sandboxer.` are sandboxer's own (ids, endpoints, forwards):
    /// a compose file may not set them.
    fn labels(&mut self, field: &str, value: &Value) {
        let keys: Vec<String> = match value {
            Value::Object(map) => map.keys().cloned().collect(),
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .map(|i| i.split('=').next().unwrap_or(i).to_string())
                .collect(),
            _ => vec![],
        };
        for key in keys.into_iter().filter(|k| k.starts_with("sandboxer.")) {
            self.never(
                format!("{field}.{key}"),
                "labels under sandboxer. are set by sandboxer",
            );
        }
    }

    fn capabilities(&mut self, field: &str, value: &Value) {
        let Value::Array(caps) = value else {
            self.never(field.to_string(), "cap_add must be a list");
            return;
        };
        for (i, cap) in caps.iter().enumerate() {
            let name = cap.as_str().unwrap_or_default().to_ascii_uppercase();
            let name = name.strip_prefix("CAP_").unwrap_or(&name);
            if !SAFE_CAPABILITIES.contains(&name) {
                self.find(
                    format!("{field}[{i}]"),
                    Some(Setting::Capabilities),
                    format!(
                        "capability {name} is not among those a sandbox may add ({})",
                        SAFE_CAPABILITIES.join(", ")
                    ),
                );
            }
        }
    }

    fn security_opt(&mut self, field: &str, value: &Value) {
        let Value::Array(options) = value else {
            self.never(field.to_string(), "security_opt must be a list");
            return;
        };
        for (i, option) in options.iter().enumerate() {
            let text = option.as_str().unwrap_or_default().replace(' ', "");
            let (key, setting) = text
                .split_once([':', '='])
                .map_or((text.as_str(), ""), |(k, v)| (k, v));
            match (key, setting) {
                ("no-new-privileges", "" | "true") => {}
                ("no-new-privileges", "false") => {
                    self.review.runtime.new_privileges = true;
                    self.find(
                        format!("{field}[{i}]"),
                        Some(Setting::Unconfined),
                        "lets processes gain privileges (setuid programs)",
                    );
                }
                _ => self.find(
                    format!("{field}[{i}]"),
                    Some(Setting::Unconfined),
                    format!(
                        "{text:?} changes the confinement (seccomp, AppArmor, SELinux, masked \
                         paths); only no-new-privileges is allowed"
                    ),
                ),
            }
        }
    }

    fn volumes_of(&mut self, service: &str, value: &Value) {
        let Value::Array(entries) = value else {
            self.never(
                format!("services.{service}.volumes"),
                "volumes must be a list",
            );
            return;
        };
        for (i, entry) in entries.iter().enumerate() {
            let field = format!("services.{service}.volumes[{i}]");
            let (kind, source) = match entry {
                Value::String(s) => {
                    let parts: Vec<&str> = s.split(':').collect();
                    match parts.as_slice() {
                        [_target] => ("volume", None),
                        [source, ..] => {
                            let kind =
                                if source.starts_with(['/', '.', '~']) || source.contains('/') {
                                    "bind"
                                } else {
                                    "volume"
                                };
                            (kind, Some(source.to_string()))
                        }
                        [] => ("volume", None),
                    }
                }
                Value::Object(long) => (
                    long.get("type").and_then(Value::as_str).unwrap_or("volume"),
                    long.get("source")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                ),
                _ => {
                    self.never(field, "a volume is a string or a mapping");
                    continue;
                }
            };
            match (kind, source) {
                ("tmpfs", _) | ("volume", None) => {}
                ("volume", Some(name)) => {
                    if !self.volumes.contains(&name) {
                        self.never(
                            field,
                            format!(
                                "volume {name:?} is not declared in the compose file's volumes: \
                                 it could be another sandbox's"
                            ),
                        );
                    }
                }
                ("bind", Some(path)) if self.is_shipped(&path) => {}
                ("bind", Some(path)) => self.find(
                    field,
                    Some(Setting::HostMounts),
                    format!(
                        "{path:?} is a path of the host; a sandbox mounts named volumes and the \
                         profile's own files only"
                    ),
                ),
                (other, _) => self.never(field, format!("volume type {other:?} is not allowed")),
            }
        }
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Reviews a parsed compose document (`file` names it in findings); `shipped` are
/// the profile's files, the only host paths it may mount.
pub fn review(compose: &Value, file: &str, shipped: &BTreeSet<String>) -> Review {
    let mut reviewer = Reviewer {
        file,
        shipped,
        volumes: BTreeSet::new(),
        networks: BTreeSet::new(),
        review: Review::default(),
    };
    let Some(root) = compose.as_object() else {
        return reviewer.review;
    };
    reviewer.top_level(root);
    if let Some(Value::Object(services)) = root.get("services") {
        for (name, service) in services {
            if let Some(service) = service.as_object() {
                reviewer.service(name, service);
            }
        }
    }
    reviewer.review
}

fn as_wire(f: &Finding) -> PolicyFinding {
    PolicyFinding {
        field: f.field.clone(),
        message: f.message.clone(),
        setting: f.setting.map(|s| s.as_str().to_string()),
    }
}

/// Splits findings into what `allowed` lets through (relaxed) and what it does
/// not (refused).
pub fn judge(findings: &[Finding], allowed: &BTreeSet<Setting>) -> ProfileCheckResult {
    let mut result = ProfileCheckResult::default();
    for f in findings {
        if f.setting.is_some_and(|s| allowed.contains(&s)) {
            result.relaxed.push(as_wire(f));
        } else {
            result.refused.push(as_wire(f));
        }
    }
    result
}

/// The error a create gets for what the policy refuses on `host`: every finding,
/// the first one's field named, and how an operator could allow each.
pub fn refusal(refused: &[PolicyFinding], host: &str) -> sandboxer_ext_protocol::ErrorObject {
    let lines: Vec<String> = refused
        .iter()
        .map(|f| match &f.setting {
            Some(s) => format!(
                "{}: {} (an operator may allow `{s}` for this profile or host in compose-ssh's \
                 `containment` option)",
                f.field, f.message
            ),
            None => format!("{}: {}", f.field, f.message),
        })
        .collect();
    let field = refused
        .first()
        .map(|f| format!("profile.files.{}", f.field.replacen(": ", ".", 1)))
        .unwrap_or_else(|| "profile.spec".into());
    sandboxer_ext_protocol::ErrorObject::invalid_argument(
        &field,
        format!(
            "the containment policy refuses this profile on {host}:\n{}",
            lines.join("\n")
        ),
    )
}

/// Everything `exceptions` allow for `profile` on a host that allows `host`.
pub fn allowed_for(exceptions: &Exceptions, profile: &str, host: &[Setting]) -> BTreeSet<Setting> {
    let mut allowed: BTreeSet<Setting> = exceptions.allow.iter().copied().collect();
    if let Some(more) = exceptions.profiles.get(profile) {
        allowed.extend(more.iter().copied());
    }
    allowed.extend(host.iter().copied());
    allowed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn files() -> BTreeSet<String> {
        ["compose.yaml", "conf/app.ini", "app.env"]
            .map(String::from)
            .into()
    }

    fn review_of(service: Value) -> Review {
        let compose = json!({
            "services": {"app": service},
            "volumes": {"data": {}},
            "networks": {"inner": {"internal": true}},
        });
        review(&compose, "compose.yaml", &files())
    }

    /// `check(service, field, setting)`: the service is refused at `field`, and
    /// `setting` (if any) would allow it.
    fn check(service: Value, field: &str, setting: Option<Setting>) {
        let r = review_of(service.clone());
        let found = r
            .findings
            .iter()
            .find(|f| f.field == format!("compose.yaml: services.app.{field}"));
        match found {
            Some(f) => assert_eq!(f.setting, setting, "{service}: {f:?}"),
            None => panic!("{service}: nothing at {field}: {:?}", r.findings),
        }
    }

    #[test]
    fn an_ordinary_service_passes() {
        let r = review_of(json!({
            "image": "busybox", "command": ["sh", "-c", "echo"], "ports": ["127.0.0.1::80"],
            "volumes": ["data:/data", "./conf/app.ini:/etc/app.ini:ro", "/scratch",
                        {"type": "tmpfs", "target": "/tmp"}],
            "env_file": ["app.env"], "networks": ["inner"], "cap_drop": ["ALL"],
            "cap_add": ["NET_BIND_SERVICE", "cap_net_raw"], "security_opt": ["no-new-privileges:true"],
            "user": "1000", "healthcheck": {"test": ["CMD", "true"]}, "x-note": 1,
            "labels": {"team": "a"},
            "privileged": false, "deploy": {"resources": {"limits": {"cpus": "1"}}},
        }));
        assert_eq!(r.findings, vec![]);
        assert_eq!(r.runtime, Runtime::default());
    }

    #[test]
    fn each_way_to_the_host_is_refused_and_named() {
        use Setting::*;
        check(json!({"privileged": true}), "privileged", Some(Privileged));
        check(
            json!({"network_mode": "host"}),
            "network_mode",
            Some(HostNamespaces),
        );
        check(json!({"pid": "host"}), "pid", Some(HostNamespaces));
        check(json!({"ipc": "host"}), "ipc", Some(HostNamespaces));
        check(json!({"uts": "host"}), "uts", Some(HostNamespaces));
        check(
            json!({"userns_mode": "host"}),
            "userns_mode",
            Some(HostUser),
        );
        check(
            json!({"volumes": ["/:/host"]}),
            "volumes[0]",
            Some(HostMounts),
        );
        check(
            json!({"volumes": ["../../etc:/x"]}),
            "volumes[0]",
            Some(HostMounts),
        );
        check(
            json!({"volumes": ["~/.ssh:/x"]}),
            "volumes[0]",
            Some(HostMounts),
        );
        check(
            json!({"volumes": [{"type": "bind", "source": "/var/run/podman", "target": "/s"}]}),
            "volumes[0]",
            Some(HostMounts),
        );
        check(
            json!({"env_file": "/etc/shadow"}),
            "env_file[0]",
            Some(HostMounts),
        );
        check(json!({"devices": ["/dev/sda"]}), "devices", Some(Devices));
        check(
            json!({"cap_add": ["SYS_ADMIN"]}),
            "cap_add[0]",
            Some(Capabilities),
        );
        check(
            json!({"cap_add": ["ALL"]}),
            "cap_add[0]",
            Some(Capabilities),
        );
        check(
            json!({"security_opt": ["seccomp=unconfined"]}),
            "security_opt[0]",
            Some(Unconfined),
        );
        check(
            json!({"security_opt": ["apparmor:unconfined"]}),
            "security_opt[0]",
            Some(Unconfined),
        );
        check(
            json!({"security_opt": ["label=disable"]}),
            "security_opt[0]",
            Some(Unconfined),
        );
        check(
            json!({"sysctls": {"net.ipv4.ip_forward": 1}}),
            "sysctls",
            Some(Sysctls),
        );
    }

    #[test]
    fn what_no_exception_allows_is_refused_without_a_setting() {
        check(
            json!({"network_mode": "container:other"}),
            "network_mode",
            None,
        );
        check(json!({"network_mode": "bridge"}), "network_mode", None);
        check(json!({"pid": "container:other"}), "pid", None);
        check(
            json!({"volumes": ["sbx-other_data:/d"]}),
            "volumes[0]",
            None,
        );
        check(json!({"volumes_from": ["other"]}), "volumes_from", None);
        check(json!({"container_name": "fixed"}), "container_name", None);
        check(json!({"pod": "other"}), "pod", None);
        check(json!({"userns_mode": "keep-id"}), "userns_mode", None);
        check(json!({"networks": ["podman"]}), "networks.podman", None);
        check(json!({"logging": {"driver": "journald"}}), "logging", None);
        check(json!({"secrets": ["x"]}), "secrets", None);
        check(
            json!({"labels": {"sandboxer.endpoints": "80|http|x|/"}}),
            "labels.sandboxer.endpoints",
            None,
        );
        check(
            json!({"labels": ["sandboxer.id=other"]}),
            "labels.sandboxer.id",
            None,
        );
        let compose = json!({
            "services": {"a": {"image": "x"}},
            "volumes": {"v": {"name": "sbx-other_v"}, "w": {"driver_opts": {"type": "none", "o": "bind", "device": "/"}}},
            "networks": {"n": {"name": "podman"}, "m": {"driver": "macvlan"}},
            "secrets": {"s": {"file": "/etc/shadow"}},
            "name": "other-project",
        });
        let fields: Vec<(String, Option<Setting>)> = review(&compose, "c.yaml", &files())
            .findings
            .into_iter()
            .map(|f| (f.field, f.setting))
            .collect();
        for expected in [
            ("c.yaml: volumes.v.name", None),
            ("c.yaml: volumes.w.driver_opts", Some(Setting::HostMounts)),
            ("c.yaml: networks.n.name", None),
            ("c.yaml: networks.m.driver", Some(Setting::HostNamespaces)),
            ("c.yaml: secrets", None),
            ("c.yaml: name", None),
        ] {
            assert!(
                fields.contains(&(expected.0.to_string(), expected.1)),
                "{expected:?} not in {fields:?}"
            );
        }
    }

    #[test]
    fn exceptions_relax_only_what_they_name() {
        let r = review_of(json!({"privileged": true, "sysctls": ["a=1"], "userns_mode": "host"}));
        assert!(r.runtime.host_user);
        let exceptions = Exceptions {
            allow: vec![Setting::Sysctls],
            profiles: [("profile.dind".to_string(), vec![Setting::Privileged])].into(),
        };
        let verdict = judge(&r.findings, &allowed_for(&exceptions, "profile.other", &[]));
        assert_eq!(verdict.relaxed.len(), 1);
        assert_eq!(verdict.refused.len(), 2);
        let verdict = judge(
            &r.findings,
            &allowed_for(&exceptions, "profile.dind", &[Setting::HostUser]),
        );
        assert_eq!(verdict.refused, vec![]);
        assert_eq!(verdict.relaxed.len(), 3);
        assert_eq!(verdict.relaxed[0].setting.as_deref(), Some("privileged"));
    }
}
