//! The profile spec: what a profile asks of vm-packer, parsed and checked — the
//! recipe its image is built from, the endpoints forwarded from the guest, what
//! "ready" means and the cost rate. Every field is named in its error.

use sandboxer_ext_protocol::{CostRate, ErrorObject, ProfileRef};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

fn invalid(field: &str, message: impl Into<String>) -> ErrorObject {
    ErrorObject::invalid_argument(field, message)
}

/// How an image is made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecipeKind {
    /// A guest kernel and an initramfs holding busybox, dropbear and the
    /// recipe's files; the root file system lives in the guest's memory.
    #[default]
    Initramfs,
    /// A Debian root file system (`mmdebstrap` minbase plus `packages`) on a
    /// qcow2 disk; every machine writes to an overlay of its own.
    Debian,
}

/// What goes into the image. Everything here is part of the recipe's hash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    #[serde(default)]
    pub kind: RecipeKind,
    /// Debian only: the release (default: the host's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    /// Debian only: packages installed beside minbase.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// Guest path → content: files placed in the image.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// Shell commands run once in the booted guest (as root, with egress denied)
    /// before its template is saved; each must exit 0.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// Shell commands started at boot, each restarted when it ends.
    #[serde(default)]
    pub services: Vec<String>,
    /// Public keys let in as root over ssh, beside the extension's own.
    #[serde(default)]
    pub authorized_keys: Vec<String>,
}

/// One port of the guest, forwarded to a loopback port of the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    pub name: String,
    pub port: u16,
    #[serde(default = "default_protocol")]
    pub protocol: String,
}

fn default_protocol() -> String {
    "tcp".into()
}

/// GET `path` on the guest's `port` must answer 2xx or 3xx.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    pub port: u16,
    #[serde(default = "default_path")]
    pub path: String,
}

fn default_path() -> String {
    "/".into()
}

/// What "ready" means beyond "ssh answers".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadySpec {
    #[serde(default)]
    pub http: Option<HttpProbe>,
    #[serde(default = "default_ready_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
}

impl Default for ReadySpec {
    fn default() -> Self {
        ReadySpec {
            http: None,
            timeout: default_ready_timeout(),
        }
    }
}

fn default_ready_timeout() -> Duration {
    Duration::from_secs(120)
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(serde::de::Error::custom)
}

/// Which hosts may run the profile's machines, when the extension relays to
/// several (`placement.labels`, each one among the host's labels).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementSpec {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl PlacementSpec {
    /// The first label asked for that `labels` lacks.
    pub fn missing_in<'a>(
        &'a self,
        labels: &BTreeMap<String, String>,
    ) -> Option<(&'a String, &'a String)> {
        self.labels.iter().find(|(k, v)| labels.get(*k) != Some(*v))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    #[serde(default)]
    pub recipe: Recipe,
    #[serde(default)]
    pub placement: PlacementSpec,
    #[serde(default)]
    pub endpoints: Vec<EndpointSpec>,
    #[serde(default)]
    pub ready: ReadySpec,
    /// The profile's cost rate (filled from the profile, not the spec).
    #[serde(skip)]
    pub cost: Option<CostRate>,
}

/// Guest paths the image builder owns; a recipe may not replace them.
const RESERVED: [&str; 10] = [
    "/init",
    "/bin",
    "/sbin",
    "/lib",
    "/usr/lib/sandboxer",
    "/etc/sandboxer",
    "/etc/inittab",
    "/etc/dropbear",
    "/root/.ssh",
    "/dev",
];

/// A Debian package name (policy §5.6.1) or release name.
fn debian_name(name: &str) -> bool {
    name.len() >= 2
        && name.len() <= 100
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+.-".contains(&b))
}

impl ProfileSpec {
    /// The spec of `profile`, checked.
    pub fn of(profile: &ProfileRef) -> Result<ProfileSpec, ErrorObject> {
        let profile = profile.clone().lifted();
        let mut spec: ProfileSpec = serde_json::from_value(profile.spec)
            .map_err(|e| invalid("profile.spec", format!("profile.spec: {e}")))?;
        spec.cost = profile.cost;
        spec.check()?;
        Ok(spec)
    }

    fn check(&self) -> Result<(), ErrorObject> {
        for path in self.recipe.files.keys() {
            let field = format!("profile.spec.recipe.files[{path:?}]");
            check_guest_path(path).map_err(|m| invalid(&field, format!("{field}: {m}")))?;
        }
        for (i, service) in self.recipe.services.iter().enumerate() {
            if service.trim().is_empty() || service.contains('\0') {
                let field = format!("profile.spec.recipe.services[{i}]");
                return Err(invalid(&field, format!("{field}: an empty command")));
            }
        }
        let debian = self.recipe.kind == RecipeKind::Debian;
        if !debian && (self.recipe.suite.is_some() || !self.recipe.packages.is_empty()) {
            return Err(invalid(
                "profile.spec.recipe.kind",
                "profile.spec.recipe: suite and packages need kind: debian",
            ));
        }
        if let Some(suite) = &self.recipe.suite
            && !debian_name(suite)
        {
            return Err(invalid(
                "profile.spec.recipe.suite",
                format!("profile.spec.recipe.suite {suite:?} is not a Debian release name"),
            ));
        }
        for (i, package) in self.recipe.packages.iter().enumerate() {
            if !debian_name(package) {
                let field = format!("profile.spec.recipe.packages[{i}]");
                return Err(invalid(
                    &field,
                    format!("{field}: {package:?} is not a Debian package name"),
                ));
            }
        }
        for (i, command) in self.recipe.commands.iter().enumerate() {
            if command.trim().is_empty() || command.contains('\0') {
                let field = format!("profile.spec.recipe.commands[{i}]");
                return Err(invalid(&field, format!("{field}: an empty command")));
            }
        }
        for (i, key) in self.recipe.authorized_keys.iter().enumerate() {
            let one_line = !key.contains(['\n', '\r', '\0']);
            let known = ["ssh-", "ecdsa-", "sk-"].iter().any(|p| key.starts_with(p));
            if !(one_line && known) {
                let field = format!("profile.spec.recipe.authorized_keys[{i}]");
                return Err(invalid(
                    &field,
                    format!("{field}: not one OpenSSH public key line (ssh-ed25519 AAAA… name)"),
                ));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, e) in self.endpoints.iter().enumerate() {
            let field = format!("profile.spec.endpoints[{i}]");
            let plain = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            };
            if !plain(&e.name) || e.name == "ssh" || !names.insert(e.name.clone()) {
                return Err(invalid(
                    &format!("{field}.name"),
                    format!(
                        "{field}.name {:?}: letters, digits, '-' and '_', unique, not `ssh`",
                        e.name
                    ),
                ));
            }
            if !matches!(e.protocol.as_str(), "http" | "tcp") {
                return Err(invalid(
                    &format!("{field}.protocol"),
                    format!("{field}.protocol {:?} is not http or tcp", e.protocol),
                ));
            }
            if e.port == 0 || e.port == 22 {
                return Err(invalid(
                    &format!("{field}.port"),
                    format!(
                        "{field}.port {}: 1–65535, not 22 (ssh is always forwarded)",
                        e.port
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The profile's cost rate; none is free.
    pub fn cost_rate(&self) -> CostRate {
        self.cost.clone().unwrap_or(CostRate {
            currency: "USD".into(),
            per_hour: Default::default(),
        })
    }
}

/// An absolute, normal guest path outside the builder's own.
fn check_guest_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') || path.len() < 2 {
        return Err("not an absolute path".into());
    }
    let normal = path[1..]
        .split('/')
        .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains('\0'));
    if !normal {
        return Err("empty, `.` or `..` parts are not allowed".into());
    }
    if RESERVED
        .iter()
        .any(|r| path == *r || path.starts_with(&format!("{r}/")))
    {
        return Err(format!("{path} belongs to the image builder"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn profile(spec: serde_json::Value) -> ProfileRef {
        serde_json::from_value(json!({"id": "profile.t", "version": "1", "spec": spec})).unwrap()
    }

    fn message(spec: serde_json::Value) -> String {
        ProfileSpec::of(&profile(spec)).unwrap_err().message
    }

    #[test]
    fn a_recipe_with_files_services_and_endpoints_is_read() {
        let spec = ProfileSpec::of(&profile(json!({
            "recipe": {"files": {"/www/index.html": "ok"}, "services": ["httpd -f -p 80"]},
            "endpoints": [{"name": "web", "port": 80, "protocol": "http"}],
            "ready": {"http": {"port": 80}, "timeout": "30s"}
        })))
        .unwrap();
        assert_eq!(spec.recipe.services, ["httpd -f -p 80"]);
        assert_eq!(spec.ready.timeout, Duration::from_secs(30));
        assert_eq!(spec.ready.http.unwrap().path, "/");
    }

    #[test]
    fn a_debian_recipe_is_read() {
        let spec = ProfileSpec::of(&profile(json!({
            "recipe": {"kind": "debian", "suite": "bookworm", "packages": ["python3", "libc6-dev"],
                       "commands": ["python3 -c 'print(1)'"]}
        })))
        .unwrap();
        assert_eq!(spec.recipe.kind, RecipeKind::Debian);
        assert_eq!(spec.recipe.packages, ["python3", "libc6-dev"]);
    }

    #[test]
    fn bad_fields_are_named() {
        assert!(message(json!({"recipe": {"files": {"../x": ""}}})).contains("recipe.files"));
        assert!(message(json!({"recipe": {"files": {"/a/../etc": ""}}})).contains("`..`"));
        assert!(message(json!({"recipe": {"files": {"/init": ""}}})).contains("image builder"));
        assert!(message(json!({"recipe": {"files": {"/root/.ssh/x": ""}}})).contains("builder"));
        assert!(
            message(json!({"recipe": {"authorized_keys": ["ssh-ed25519 A\nB"]}}))
                .contains("authorized_keys[0]")
        );
        assert!(message(json!({"endpoints": [{"name": "ssh", "port": 80}]})).contains("name"));
        assert!(message(json!({"endpoints": [{"name": "a", "port": 22}]})).contains(".port"));
        assert!(message(json!({"recipe": {"servics": []}})).contains("servics"));
        assert!(message(json!({"recipe": {"packages": ["python3"]}})).contains("kind: debian"));
        assert!(
            message(json!({"recipe": {"kind": "debian", "packages": ["python3", "x; rm -rf /"]}}))
                .contains("packages[1]")
        );
        assert!(
            message(json!({"recipe": {"kind": "debian", "suite": "../bookworm"}}))
                .contains("recipe.suite")
        );
        assert!(message(json!({"recipe": {"commands": [" "]}})).contains("commands[0]"));
        assert!(message(json!({"recipe": {"files": {"/etc/inittab": ""}}})).contains("builder"));
    }
}
