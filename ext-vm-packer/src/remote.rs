//! Remote hosts of the relay: how each is configured (`hosts` in the extension's
//! options), the ssh command that starts vm-packer there
//! (`ssh HOST sandboxer-ext-vm-packer --stdio`, the host key checked), and the
//! one connection kept to it, started on first use and again after it ended.

use sandboxer_ext_protocol::sdk::peer::Peer;
use sandboxer_ext_protocol::{ErrorObject, JsonObject};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What the relay is configured with instead of a local state folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayOptions {
    pub hosts: Vec<RemoteHost>,
}

/// How strictly the remote host's ssh key is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyChecking {
    /// The key must already be in the known-hosts file.
    #[default]
    Strict,
    /// A host seen for the first time is trusted and remembered.
    AcceptNew,
}

/// One host machines can run on, reached over ssh.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteHost {
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
    /// The extension's executable on the host.
    #[serde(default = "default_command")]
    pub command: String,
    /// What profiles' `placement.labels` are matched against.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// How many machines the host takes at most.
    #[serde(default)]
    pub capacity: Option<u32>,
    /// The options vm-packer is started with there (`state_dir`, `kernel`,
    /// ...). `forward_address` defaults to the host's address when that is an
    /// IPv4 address, so that endpoints are reached from here.
    #[serde(default)]
    pub options: JsonObject,
}

fn default_port() -> u16 {
    22
}

fn default_connect_timeout() -> u32 {
    10
}

fn default_command() -> String {
    "sandboxer-ext-vm-packer".into()
}

impl RelayOptions {
    /// The options, checked: at least one host, names unique and usable in a
    /// backend reference, no relay behind a relay.
    pub fn from_json(options: JsonObject) -> Result<RelayOptions, ErrorObject> {
        let relay: RelayOptions = serde_json::from_value(serde_json::Value::Object(options))
            .map_err(|e| ErrorObject::invalid_argument("options.hosts", e.to_string()))?;
        if relay.hosts.is_empty() {
            return Err(ErrorObject::invalid_argument(
                "options.hosts",
                "name at least one host, or leave `hosts` out to run machines here",
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, host) in relay.hosts.iter().enumerate() {
            let field = format!("options.hosts[{i}]");
            let name_ok = !host.name.is_empty()
                && host
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !name_ok {
                return Err(ErrorObject::invalid_argument(
                    &format!("{field}.name"),
                    format!("{:?}: letters, digits, '-', '_' and '.' only", host.name),
                ));
            }
            if !seen.insert(host.name.clone()) {
                return Err(ErrorObject::invalid_argument(
                    &format!("{field}.name"),
                    format!("host {} is named twice", host.name),
                ));
            }
            if host.options.contains_key("hosts") {
                return Err(ErrorObject::invalid_argument(
                    &format!("{field}.options.hosts"),
                    "a remote host runs its machines itself: it cannot relay again",
                ));
            }
            if host.address().starts_with('-')
                || host.user.as_deref().is_some_and(|u| u.starts_with('-'))
            {
                return Err(ErrorObject::invalid_argument(
                    &format!("{field}.address"),
                    "an address or user cannot start with '-'",
                ));
            }
        }
        Ok(relay)
    }
}

impl RemoteHost {
    pub fn address(&self) -> &str {
        self.address.as_deref().unwrap_or(&self.name)
    }

    /// The options vm-packer gets there: the configured ones, with the forward
    /// address filled in from an IPv4 host address.
    pub fn remote_options(&self) -> JsonObject {
        let mut options = self.options.clone();
        if !options.contains_key("forward_address")
            && let Ok(ip) = self.address().parse::<Ipv4Addr>()
        {
            options.insert("forward_address".into(), ip.to_string().into());
        }
        options
    }

    /// `ssh … HOST -- COMMAND --stdio`: batch mode (no prompt ever), the host key
    /// checked, keep-alives so a host that went away ends the connection.
    pub fn ssh_command(&self) -> tokio::process::Command {
        let mut c = tokio::process::Command::new("ssh");
        c.args(["-F", "/dev/null", "-T", "-p"])
            .arg(self.port.to_string())
            .args(["-o", "BatchMode=yes", "-o"])
            .arg(format!("ConnectTimeout={}", self.connect_timeout_s))
            .args(["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"])
            .args(["-o", "LogLevel=ERROR", "-o"])
            .arg(match self.host_key_checking {
                HostKeyChecking::Strict => "StrictHostKeyChecking=yes",
                HostKeyChecking::AcceptNew => "StrictHostKeyChecking=accept-new",
            });
        if let Some(identity) = &self.identity {
            c.args(["-o", "IdentitiesOnly=yes", "-i"]).arg(identity);
        }
        if let Some(known) = &self.known_hosts {
            c.arg("-o")
                .arg(format!("UserKnownHostsFile={}", known.display()));
        }
        let target = match &self.user {
            Some(user) => format!("{user}@{}", self.address()),
            None => self.address().to_string(),
        };
        // The remote shell reads the command line: quoted word by word.
        let remote =
            shlex::try_join([self.command.as_str(), "--stdio"]).unwrap_or_else(|_| "false".into());
        c.arg(target).arg("--").arg(remote);
        c
    }
}

/// The connection to one host, kept between calls.
#[derive(Default)]
pub struct Connection {
    peer: tokio::sync::Mutex<Option<Arc<Peer>>>,
}

impl Connection {
    /// The live connection to `host`, started when there is none (or it ended).
    pub async fn peer(&self, host: &RemoteHost) -> Result<Arc<Peer>, ErrorObject> {
        let mut slot = self.peer.lock().await;
        if let Some(peer) = slot.as_ref().filter(|p| !p.ended()) {
            return Ok(peer.clone());
        }
        let limit = Duration::from_secs(u64::from(host.connect_timeout_s) + 30);
        let peer = Peer::start(
            &format!("host {}", host.name),
            host.ssh_command(),
            host.remote_options(),
            limit,
        )
        .await
        .map_err(|mut e| {
            e.message = format!(
                "{}; check that `ssh {}` logs in without a prompt and that {} is installed there",
                e.message,
                host.address(),
                host.command
            );
            e
        })?;
        let peer = Arc::new(peer);
        *slot = Some(peer.clone());
        Ok(peer)
    }

    /// Ends the connection, if there is one.
    pub async fn close(&self) {
        if let Some(peer) = self.peer.lock().await.take() {
            peer.close(Duration::from_secs(2)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn options(value: serde_json::Value) -> JsonObject {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn hosts_are_checked_and_the_forward_address_follows_an_ip_address() {
        let relay = RelayOptions::from_json(options(json!({"hosts": [
            {"name": "h1", "address": "10.215.1.2", "options": {"state_dir": "/s/h1"}},
            {"name": "h2", "address": "vm2.example"}
        ]})))
        .unwrap();
        let o = relay.hosts[0].remote_options();
        assert_eq!(o["forward_address"], json!("10.215.1.2"));
        assert_eq!(o["state_dir"], json!("/s/h1"));
        assert!(
            !relay.hosts[1]
                .remote_options()
                .contains_key("forward_address")
        );

        for (bad, field) in [
            (json!({"hosts": []}), "options.hosts"),
            (json!({"hosts": [{"name": "a/b"}]}), "options.hosts[0].name"),
            (
                json!({"hosts": [{"name": "a"}, {"name": "a"}]}),
                "options.hosts[1].name",
            ),
            (
                json!({"hosts": [{"name": "a", "options": {"hosts": []}}]}),
                "options.hosts[0].options.hosts",
            ),
            (
                json!({"hosts": [{"name": "a", "address": "-oProxyCommand=x"}]}),
                "options.hosts[0].address",
            ),
        ] {
            let err = RelayOptions::from_json(options(bad.clone())).unwrap_err();
            assert!(
                err.data
                    .as_ref()
                    .is_some_and(|d| d.to_string().contains(field)),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn the_remote_command_is_quoted_for_the_remote_shell() {
        let relay = RelayOptions::from_json(options(json!({"hosts": [
            {"name": "h1", "user": "root", "command": "/opt/my ext/sandboxer-ext-vm-packer"}
        ]})))
        .unwrap();
        let command = relay.hosts[0].ssh_command();
        let args: Vec<String> = command
            .as_std()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let n = args.len();
        assert_eq!(
            args[n - 3..],
            [
                "root@h1",
                "--",
                "'/opt/my ext/sandboxer-ext-vm-packer' --stdio"
            ]
        );
        assert!(args.contains(&"StrictHostKeyChecking=yes".to_string()));
        assert!(args.contains(&"BatchMode=yes".to_string()));
    }
}
