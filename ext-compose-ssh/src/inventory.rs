//! What a host holds, read with one script (`podman::INVENTORY_SCRIPT`), grouped by
//! the `sandboxer.id` label, and turned into protocol `Sandbox`es. A sandbox is
//! found by any of its parts: containers, networks, volumes or its folder.

use crate::config::{HostConfig, project_name};
use crate::labels::{
    ENDPOINTS_LABEL, FORWARDS_LABEL, GATEWAY_SERVICE, parse_endpoints_label, parse_forwards,
};
use crate::podman::{Container, Network, Volume, parse_list};
use sandboxer_ext_protocol::{
    BackendState, Endpoint, EndpointProtocol, JsonObject, LABEL_SANDBOX_ID, Labels, Sandbox,
};
use serde_json::json;
use std::collections::BTreeMap;

/// Everything labelled on one host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostInventory {
    pub containers: Vec<Container>,
    pub networks: Vec<Network>,
    pub volumes: Vec<Volume>,
    /// Entries of the host's workdir.
    pub dirs: Vec<String>,
}

/// Parses the inventory script's output.
pub fn parse_inventory(stdout: &str) -> Result<HostInventory, String> {
    let mut sections: BTreeMap<&str, String> = BTreeMap::new();
    let mut current = None;
    for line in stdout.lines() {
        if let Some(name) = line.strip_prefix("@@") {
            current = Some(name);
            sections.entry(name).or_default();
        } else if let Some(name) = current {
            let text = sections.entry(name).or_default();
            text.push_str(line);
            text.push('\n');
        }
    }
    let section = |name: &str| sections.get(name).map(String::as_str).unwrap_or("");
    if !sections.contains_key("containers") {
        return Err(format!(
            "inventory output is not understood: {}",
            stdout.trim()
        ));
    }
    Ok(HostInventory {
        containers: parse_list(section("containers")).map_err(|e| format!("containers: {e}"))?,
        networks: parse_list(section("networks")).map_err(|e| format!("networks: {e}"))?,
        volumes: parse_list(section("volumes")).map_err(|e| format!("volumes: {e}"))?,
        dirs: section("dirs")
            .lines()
            .map(str::to_string)
            .filter(|d| !d.is_empty())
            .collect(),
    })
}

/// One sandbox's parts on one host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Holdings {
    pub containers: Vec<Container>,
    pub networks: Vec<Network>,
    pub volumes: Vec<Volume>,
    pub has_dir: bool,
}

fn id_of(labels: &Option<BTreeMap<String, String>>) -> Option<String> {
    labels.as_ref()?.get(LABEL_SANDBOX_ID).cloned()
}

/// Groups a host's inventory by sandbox id.
pub fn by_sandbox(inventory: HostInventory) -> BTreeMap<String, Holdings> {
    let mut out: BTreeMap<String, Holdings> = BTreeMap::new();
    for c in inventory.containers {
        if let Some(id) = id_of(&c.labels) {
            out.entry(id).or_default().containers.push(c);
        }
    }
    for n in inventory.networks {
        if let Some(id) = id_of(&n.labels) {
            out.entry(id).or_default().networks.push(n);
        }
    }
    for v in inventory.volumes {
        if let Some(id) = id_of(&v.labels) {
            out.entry(id).or_default().volumes.push(v);
        }
    }
    for dir in inventory.dirs {
        if let Some(id) = dir.strip_prefix("sbx-")
            && sandboxer_ext_protocol::names::validate_sandbox_id(id).is_ok()
        {
            out.entry(id.to_string()).or_default().has_dir = true;
        }
    }
    out.into_iter().map(|(id, h)| (id, h.sorted())).collect()
}

impl Holdings {
    /// The same parts in a stable order (containers by name).
    pub fn sorted(mut self) -> Holdings {
        self.containers.sort_by(|a, b| a.name().cmp(b.name()));
        self
    }

    /// The sandbox's labels, as its first container (or network, volume) carries them.
    pub fn labels(&self) -> Labels {
        self.containers
            .iter()
            .find(|c| c.service() != Some(GATEWAY_SERVICE))
            .and_then(|c| c.labels.clone())
            .or_else(|| self.networks.first().and_then(|n| n.labels.clone()))
            .or_else(|| self.volumes.first().and_then(|v| v.labels.clone()))
            .unwrap_or_default()
    }

    /// The state the parts add up to.
    pub fn state(&self) -> BackendState {
        if self.containers.is_empty() {
            // Networks, volumes or a folder without containers: a partial create or
            // a partial destroy.
            return BackendState::Failed;
        }
        let states: Vec<&str> = self.containers.iter().map(|c| c.state.as_str()).collect();
        if states.iter().all(|s| *s == "running") {
            BackendState::Ready
        } else if states.iter().all(|s| matches!(*s, "running" | "paused")) {
            // Paused by `sandbox/pause` (a partial pause or resume is still one).
            BackendState::Paused
        } else if states
            .iter()
            .any(|s| matches!(*s, "exited" | "dead" | "stopped"))
        {
            if self
                .containers
                .iter()
                .all(|c| c.state != "running" && c.exit_code == 0)
            {
                BackendState::Stopped
            } else {
                BackendState::Failed
            }
        } else {
            BackendState::Provisioning
        }
    }

    /// Every published port as an endpoint, plus the host's ssh endpoint.
    pub fn endpoints(&self, host: &HostConfig) -> Vec<Endpoint> {
        let mut described: BTreeMap<(String, u16), (String, String, String)> = BTreeMap::new();
        for c in &self.containers {
            if let (Some(service), Some(label)) = (c.service(), c.label(ENDPOINTS_LABEL)) {
                for e in parse_endpoints_label(label) {
                    described.insert((service.to_string(), e.port), (e.name, e.protocol, e.path));
                }
            }
        }
        let mut endpoints = Vec::new();
        for c in &self.containers {
            let Some(service) = c.service() else { continue };
            let forwards = c
                .label(FORWARDS_LABEL)
                .map(parse_forwards)
                .unwrap_or_default();
            for p in c.ports.iter().flatten() {
                let (service, port) = if service == GATEWAY_SERVICE {
                    match forwards.iter().find(|f| f.gateway_port == p.container_port) {
                        Some(f) => (f.service.clone(), f.port),
                        None => continue,
                    }
                } else {
                    (service.to_string(), p.container_port)
                };
                let ip = match p.host_ip.as_str() {
                    "" | "0.0.0.0" | "::" => host.address().to_string(),
                    ip => ip.to_string(),
                };
                let (name, protocol, path) = described
                    .get(&(service.clone(), port))
                    .cloned()
                    .unwrap_or_else(|| (format!("{service}-{port}"), "tcp".into(), "/".into()));
                let (protocol, url) = if protocol == "http" {
                    (
                        EndpointProtocol::Http,
                        Some(format!("http://{ip}:{}{path}", p.host_port)),
                    )
                } else {
                    (EndpointProtocol::Tcp, None)
                };
                endpoints.push(Endpoint {
                    name,
                    protocol,
                    host: ip,
                    port: p.host_port,
                    url,
                });
            }
        }
        endpoints.sort_by(|a, b| a.name.cmp(&b.name));
        if !host.is_local() {
            endpoints.push(Endpoint {
                name: "ssh".into(),
                protocol: EndpointProtocol::Ssh,
                host: host.address().to_string(),
                port: host.port,
                url: None,
            });
        }
        endpoints
    }

    /// The container running `service`.
    pub fn container_of(&self, service: &str) -> Option<&Container> {
        self.containers
            .iter()
            .find(|c| c.service() == Some(service))
    }

    /// The protocol's view of these parts.
    pub fn to_sandbox(&self, sandbox_id: &str, host: &HostConfig) -> Sandbox {
        let services: JsonObject = self
            .containers
            .iter()
            .map(|c| {
                let key = c.service().unwrap_or(c.name()).to_string();
                (
                    key,
                    json!({ "container": c.name(), "state": c.state, "exit_code": c.exit_code }),
                )
            })
            .collect();
        let mut details = JsonObject::new();
        details.insert("host".into(), json!(host.name));
        details.insert("project".into(), json!(project_name(sandbox_id)));
        details.insert("dir".into(), json!(host.sandbox_dir(sandbox_id)));
        details.insert("services".into(), serde_json::Value::Object(services));
        details.insert(
            "networks".into(),
            json!(self.networks.iter().map(|n| &n.name).collect::<Vec<_>>()),
        );
        details.insert(
            "volumes".into(),
            json!(self.volumes.iter().map(|v| &v.name).collect::<Vec<_>>()),
        );
        Sandbox {
            sandbox_id: sandbox_id.to_string(),
            state: self.state(),
            backend_ref: format!("{}/{}", host.name, project_name(sandbox_id)),
            labels: self.labels(),
            endpoints: self.endpoints(host),
            details,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = r#"@@containers
[{"Id":"1","Names":["sbx-a_web_1"],"State":"running","ExitCode":0,
  "Labels":{"sandboxer.id":"a","com.docker.compose.service":"web","sandboxer.endpoints":"8080|http|web|/health","team":"x"},
  "Ports":null},
 {"Id":"2","Names":["sbx-a_sandboxer-gateway_1"],"State":"running","ExitCode":0,
  "Labels":{"sandboxer.id":"a","com.docker.compose.service":"sandboxer-gateway","sandboxer.forwards":"20000=web:8080"},
  "Ports":[{"host_ip":"127.0.0.1","container_port":20000,"host_port":41000,"range":1,"protocol":"tcp"}]},
 {"Id":"3","Names":["sbx-b_db_1"],"State":"exited","ExitCode":1,
  "Labels":{"sandboxer.id":"b","com.docker.compose.service":"db"},
  "Ports":[{"host_ip":"","container_port":5432,"host_port":5433,"range":1,"protocol":"tcp"}]},
 {"Id":"4","Names":["sbx-e_app_1"],"State":"exited","ExitCode":0,
  "Labels":{"sandboxer.id":"e","com.docker.compose.service":"app"},"Ports":null}]
@@networks
[{"name":"sbx-a_default","labels":{"sandboxer.id":"a"},"internal":true},
 {"name":"sbx-c_default","labels":{"sandboxer.id":"c"}}]
@@volumes
[]
@@dirs
sbx-a
sbx-d
not-ours
"#;

    #[test]
    fn groups_every_part_by_sandbox() {
        let groups = by_sandbox(parse_inventory(OUTPUT).unwrap());
        assert_eq!(groups.keys().collect::<Vec<_>>(), ["a", "b", "c", "d", "e"]);
        assert_eq!(groups["a"].containers.len(), 2);
        assert!(groups["a"].has_dir);
        assert_eq!(groups["c"].networks.len(), 1);
        assert!(groups["d"].has_dir && groups["d"].containers.is_empty());
    }

    #[test]
    fn states_add_up() {
        let groups = by_sandbox(parse_inventory(OUTPUT).unwrap());
        assert_eq!(groups["a"].state(), BackendState::Ready);
        assert_eq!(groups["b"].state(), BackendState::Failed);
        assert_eq!(groups["c"].state(), BackendState::Failed, "leftovers only");
        // Every part ended cleanly: it still exists, not running: stopped.
        assert_eq!(groups["e"].state(), BackendState::Stopped);
    }

    #[test]
    fn gateway_ports_become_their_services_endpoints() {
        let groups = by_sandbox(parse_inventory(OUTPUT).unwrap());
        let local = HostConfig::local();
        let a = groups["a"].to_sandbox("a", &local);
        assert_eq!(a.endpoints.len(), 1);
        assert_eq!(a.endpoints[0].name, "web");
        assert_eq!(
            a.endpoints[0].url.as_deref(),
            Some("http://127.0.0.1:41000/health")
        );
        assert_eq!(a.labels["team"], "x");
        assert_eq!(a.backend_ref, "local/sbx-a");
        let remote = HostConfig {
            name: "h".into(),
            address: Some("10.0.0.2".into()),
            port: 2222,
            ..HostConfig::local()
        };
        let b = groups["b"].to_sandbox("b", &remote);
        assert_eq!(
            b.endpoints[0].host, "10.0.0.2",
            "a wildcard bind is reached at the host's address"
        );
        assert_eq!(b.endpoints[0].protocol, EndpointProtocol::Tcp);
        assert_eq!(b.endpoints.last().unwrap().protocol, EndpointProtocol::Ssh);
        assert_eq!(b.endpoints.last().unwrap().port, 2222);
    }

    #[test]
    fn unexpected_output_is_an_error() {
        assert!(parse_inventory("podman: command not found").is_err());
    }
}
