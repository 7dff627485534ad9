//! The labels compose-ssh puts on a sandbox's resources beyond the protocol's own,
//! and the codecs of their values: `project` writes them into the compose file,
//! `inventory` and `ready` read them back from what podman reports.

use sandboxer_ext_protocol::{CreateParams, Secrets};
use sha2::{Digest, Sha256};

/// The service sandboxer adds to forward published ports under `egress: deny`
/// (the service label of the gateway's container).
pub const GATEWAY_SERVICE: &str = "sandboxer-gateway";
/// Label on the gateway: `GATEWAY_PORT=SERVICE:PORT,...`.
pub const FORWARDS_LABEL: &str = "sandboxer.forwards";
/// Label on each service: how its published ports are presented, as
/// `PORT|PROTOCOL|NAME|PATH,...` (from the spec's `endpoints`).
pub const ENDPOINTS_LABEL: &str = "sandboxer.endpoints";
/// Label on every service: the service `sandbox/exec` runs in by default.
pub const EXEC_SERVICE_LABEL: &str = "sandboxer.exec-service";
/// Label holding a digest of the create params (secrets excluded): a repeated
/// create compares it to tell "the same create" from "another with this id".
pub const REQUEST_LABEL: &str = "sandboxer.request";

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

/// The value of `FORWARDS_LABEL`.
pub fn forwards_label<'a>(forwards: impl IntoIterator<Item = &'a Forward>) -> String {
    forwards
        .into_iter()
        .map(|f| format!("{}={}:{}", f.gateway_port, f.service, f.port))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses `FORWARDS_LABEL` back into forwards.
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

/// The value of `ENDPOINTS_LABEL` (names and paths hold no `,` or `|`: the spec
/// refuses them).
pub fn endpoints_label(endpoints: &[EndpointLabel]) -> String {
    endpoints
        .iter()
        .map(|e| format!("{}|{}|{}|{}", e.port, e.protocol, e.name, e.path))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses `ENDPOINTS_LABEL` back.
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

/// The value of `REQUEST_LABEL`: a stable digest of what makes two creates "the
/// same" (a restore also names its snapshot).
pub fn request_digest(p: &CreateParams, snapshot_id: Option<&str>) -> String {
    let mut same = p.clone();
    same.secrets = Secrets::default();
    same.progress_token = None;
    same.labels.remove(REQUEST_LABEL);
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(&same).expect("params serialize"));
    hasher.update(serde_json::to_vec(&p.secrets.0.keys().collect::<Vec<_>>()).expect("names"));
    if let Some(id) = snapshot_id {
        hasher.update(b"restore:");
        hasher.update(id.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_and_endpoints_read_back_as_written() {
        let forwards = [
            Forward {
                gateway_port: 20000,
                service: "web".into(),
                port: 8080,
            },
            Forward {
                gateway_port: 20001,
                service: "db".into(),
                port: 5432,
            },
        ];
        let label = forwards_label(&forwards);
        assert_eq!(label, "20000=web:8080,20001=db:5432");
        assert_eq!(parse_forwards(&label), forwards);
        let endpoints = [EndpointLabel {
            port: 8080,
            protocol: "http".into(),
            name: "web-8080".into(),
            path: "/health".into(),
        }];
        let label = endpoints_label(&endpoints);
        assert_eq!(label, "8080|http|web-8080|/health");
        assert_eq!(parse_endpoints_label(&label), endpoints);
    }
}
