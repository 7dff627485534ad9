//! The extension's options (from the host's configuration, `extensions.compose-ssh.
//! options`): the hosts it may place sandboxes on. With none configured it uses one
//! host, `local`: this machine, without ssh.

use crate::policy::{Exceptions, Setting};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The name of the host that runs commands here, without ssh.
pub const LOCAL: &str = "local";

/// The image the egress gateway runs (it needs `sh` and busybox `nc`).
pub const DEFAULT_GATEWAY_IMAGE: &str = "localhost/sandboxer-busybox:latest";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    #[serde(default = "default_hosts")]
    pub hosts: Vec<HostConfig>,
    /// Private folder for ssh control sockets (connection reuse).
    #[serde(default)]
    pub control_dir: Option<PathBuf>,
    #[serde(default = "default_gateway_image")]
    pub gateway_image: String,
    /// What the containment policy lets through on every host (see `policy`).
    #[serde(default)]
    pub containment: Exceptions,
    /// The static `sandboxer-agent` binary mounted into sandboxes (found next
    /// to this executable, or in the cargo target folder, when not given).
    #[serde(default)]
    pub agent: Option<PathBuf>,
}

/// The host ids a sandbox's users are mapped to: container id N is host id
/// `base + N`, for N below `size`. One range for every sandbox of a host, so that
/// volumes and snapshots mean the same in every sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserNamespace {
    pub base: u32,
    pub size: u32,
}

impl Default for UserNamespace {
    fn default() -> Self {
        // Below podman's own automatic range (from 2147483647, as its documentation
        // suggests for /etc/subuid) and far above any account of the host.
        UserNamespace {
            base: 1_879_048_192,
            size: 65_536,
        }
    }
}

fn default_hosts() -> Vec<HostConfig> {
    vec![HostConfig::local()]
}

fn default_gateway_image() -> String {
    DEFAULT_GATEWAY_IMAGE.into()
}

/// How strictly an ssh host key is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyChecking {
    /// The key must already be in the known-hosts file.
    #[default]
    Strict,
    /// A host seen for the first time is trusted and remembered.
    AcceptNew,
}

/// One host sandboxes can run on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    pub name: String,
    /// Address to ssh to (defaults to the name).
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub identity: Option<PathBuf>,
    #[serde(default)]
    pub known_hosts: Option<PathBuf>,
    #[serde(default)]
    pub host_key_checking: HostKeyChecking,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_s: u32,
    /// Folder on the host holding one folder per sandbox.
    #[serde(default = "default_workdir")]
    pub workdir: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// How many sandboxes the host takes at most.
    #[serde(default)]
    pub capacity: Option<u32>,
    /// podman's API socket on the host, used for fast reads when it answers.
    #[serde(default = "default_podman_socket")]
    pub podman_socket: String,
    /// Containment settings this host allows, to any profile.
    #[serde(default)]
    pub allow: Vec<Setting>,
    /// How many processes a container may run.
    #[serde(default = "default_pids_limit")]
    pub pids_limit: u32,
    #[serde(default)]
    pub user_namespace: UserNamespace,
}

fn default_pids_limit() -> u32 {
    2048
}

fn default_podman_socket() -> String {
    "/run/podman/podman.sock".into()
}

fn default_port() -> u16 {
    22
}

fn default_connect_timeout() -> u32 {
    10
}

fn default_workdir() -> String {
    "/var/lib/sandboxer/sandboxes".into()
}

impl HostConfig {
    pub fn local() -> HostConfig {
        HostConfig {
            name: LOCAL.into(),
            address: None,
            port: default_port(),
            user: None,
            identity: None,
            known_hosts: None,
            host_key_checking: HostKeyChecking::Strict,
            connect_timeout_s: default_connect_timeout(),
            workdir: default_workdir(),
            labels: BTreeMap::new(),
            capacity: None,
            podman_socket: default_podman_socket(),
            allow: vec![],
            pids_limit: default_pids_limit(),
            user_namespace: UserNamespace::default(),
        }
    }

    pub fn is_local(&self) -> bool {
        self.name == LOCAL
    }

    /// The address endpoints and ssh use.
    pub fn address(&self) -> &str {
        match &self.address {
            Some(a) => a,
            None if self.is_local() => "127.0.0.1",
            None => &self.name,
        }
    }

    /// The folder of one sandbox on this host.
    pub fn sandbox_dir(&self, sandbox_id: &str) -> String {
        format!(
            "{}/{}",
            self.workdir.trim_end_matches('/'),
            project_name(sandbox_id)
        )
    }
}

/// The compose project (and folder) name of a sandbox.
pub fn project_name(sandbox_id: &str) -> String {
    format!("sbx-{sandbox_id}")
}

impl Options {
    /// Parses the handshake options, checking host names are unique and valid.
    pub fn from_json(
        options: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Options, String> {
        let options: Options = serde_json::from_value(serde_json::Value::Object(options))
            .map_err(|e| format!("options: {e}"))?;
        let mut seen = std::collections::BTreeSet::new();
        for host in &options.hosts {
            let ok = !host.name.is_empty()
                && host
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
            if !ok {
                return Err(format!(
                    "options.hosts: host name {:?} is invalid (letters, digits, '.', '-', '_')",
                    host.name
                ));
            }
            if !seen.insert(host.name.clone()) {
                return Err(format!(
                    "options.hosts: host {:?} is listed twice",
                    host.name
                ));
            }
            let ns = host.user_namespace;
            if ns.size == 0 || ns.base.checked_add(ns.size).is_none() {
                return Err(format!(
                    "options.hosts[{}].user_namespace: base + size must fit in 32 bits and size \
                     be above zero",
                    host.name
                ));
            }
            if !host.workdir.starts_with('/') {
                return Err(format!(
                    "options.hosts[{}].workdir must be an absolute path",
                    host.name
                ));
            }
        }
        if options.hosts.is_empty() {
            return Err("options.hosts is empty: list at least one host".into());
        }
        Ok(options)
    }

    pub fn host(&self, name: &str) -> Option<&HostConfig> {
        self.hosts.iter().find(|h| h.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<Options, String> {
        Options::from_json(v.as_object().unwrap().clone())
    }

    #[test]
    fn defaults_to_the_local_host() {
        let o = parse(json!({})).unwrap();
        assert_eq!(o.hosts.len(), 1);
        assert!(o.hosts[0].is_local());
        assert_eq!(o.hosts[0].address(), "127.0.0.1");
        assert_eq!(o.gateway_image, DEFAULT_GATEWAY_IMAGE);
    }

    #[test]
    fn parses_ssh_hosts_and_refuses_bad_ones() {
        let o = parse(
            json!({"hosts": [{"name": "h1", "address": "10.0.0.1", "port": 2222,
            "user": "root", "identity": "/k", "host_key_checking": "accept-new"}]}),
        )
        .unwrap();
        let h = &o.hosts[0];
        assert_eq!((h.address(), h.port), ("10.0.0.1", 2222));
        assert_eq!(h.host_key_checking, HostKeyChecking::AcceptNew);
        assert_eq!(h.sandbox_dir("abc"), "/var/lib/sandboxer/sandboxes/sbx-abc");
        assert!(
            parse(json!({"hosts": [{"name": "a b"}]}))
                .unwrap_err()
                .contains("invalid")
        );
        assert!(
            parse(json!({"hosts": [{"name": "a"}, {"name": "a"}]}))
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            parse(json!({"hosts": [{"name": "a", "workdir": "rel"}]}))
                .unwrap_err()
                .contains("absolute")
        );
        assert!(
            parse(json!({"hosts": [{"name": "a", "colour": 1}]}))
                .unwrap_err()
                .contains("unknown field")
        );
    }
}
