//! Reading containers through podman's REST API (`podman system service`) instead
//! of the podman CLI: one HTTP request on a unix socket instead of starting podman
//! (tens of milliseconds each time). For an ssh host the remote socket is
//! forwarded to a local one through the master connection, which outlives the
//! extension process, so later calls connect straight to it. Any failure here
//! makes callers fall back to the CLI.

use crate::podman::{Container, Network, Volume};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::UnixStream;

/// The API version path prefix; podman 4 serves it.
const API_PREFIX: &str = "/v4.0.0/libpod";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One container's figures, as podman's API gives them.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct ContainerStats {
    #[serde(rename = "Name")]
    pub name: String,
    /// Percent of one CPU.
    #[serde(rename = "CPU", default)]
    pub cpu: f64,
    #[serde(rename = "MemUsage", default)]
    pub mem_usage: u64,
    #[serde(rename = "MemLimit", default)]
    pub mem_limit: u64,
    #[serde(rename = "NetInput", default)]
    pub net_input: u64,
    #[serde(rename = "NetOutput", default)]
    pub net_output: u64,
    #[serde(rename = "BlockInput", default)]
    pub block_input: u64,
    #[serde(rename = "BlockOutput", default)]
    pub block_output: u64,
    #[serde(rename = "PIDs", default)]
    pub pids: u64,
}

/// A podman API socket reachable from here.
#[derive(Debug, Clone)]
pub struct PodmanApi {
    socket: PathBuf,
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl PodmanApi {
    pub fn new(socket: impl Into<PathBuf>) -> PodmanApi {
        PodmanApi {
            socket: socket.into(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    async fn get(&self, path_and_query: &str) -> Result<Bytes, String> {
        let exchange = async {
            let stream = UnixStream::connect(&self.socket)
                .await
                .map_err(|e| format!("connect {}: {e}", self.socket.display()))?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            let request = hyper::Request::get(path_and_query)
                .header("Host", "podman")
                .body(Empty::<Bytes>::new())
                .map_err(|e| e.to_string())?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            if !status.is_success() {
                return Err(format!(
                    "{path_and_query}: {status}: {}",
                    String::from_utf8_lossy(&body)
                ));
            }
            Ok(body)
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| format!("podman API at {} did not answer", self.socket.display()))?
    }

    /// Whether the API answers.
    pub async fn ping(&self) -> bool {
        self.get(&format!("{API_PREFIX}/_ping")).await.is_ok()
    }

    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        label: &str,
    ) -> Result<Vec<T>, String> {
        let filters = serde_json::json!({ "label": [label] }).to_string();
        let all = if what == "containers" {
            "all=true&"
        } else {
            ""
        };
        let path = format!("{API_PREFIX}/{what}/json?{all}filters={}", encode(&filters));
        let body = self.get(&path).await?;
        crate::podman::parse_list(&String::from_utf8_lossy(&body))
            .map_err(|e| format!("{what}: {e}"))
    }

    /// Every container (running or not) carrying `label` (`key` or `key=value`).
    pub async fn containers(&self, label: &str) -> Result<Vec<Container>, String> {
        self.list("containers", label).await
    }

    /// Figures of the named containers, now (one sample, not a stream).
    pub async fn stats(&self, names: &[String]) -> Result<Vec<ContainerStats>, String> {
        let mut path = format!("{API_PREFIX}/containers/stats?stream=false");
        for name in names {
            path.push_str(&format!("&containers={}", encode(name)));
        }
        let body = self.get(&path).await?;
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(rename = "Stats", default)]
            stats: Option<Vec<ContainerStats>>,
        }
        let answer: Answer =
            serde_json::from_slice(&body).map_err(|e| format!("container stats: {e}"))?;
        Ok(answer.stats.unwrap_or_default())
    }

    /// Bytes each container carrying `label` wrote to its own layer, by name.
    pub async fn written(&self, label: &str) -> Result<Vec<(String, u64)>, String> {
        let filters = serde_json::json!({ "label": [label] }).to_string();
        let path = format!(
            "{API_PREFIX}/containers/json?all=true&size=true&filters={}",
            encode(&filters)
        );
        let body = self.get(&path).await?;
        #[derive(serde::Deserialize)]
        struct Sized {
            #[serde(rename = "Names", default)]
            names: Vec<String>,
            #[serde(rename = "Size", default)]
            size: Option<Size>,
        }
        #[derive(serde::Deserialize)]
        struct Size {
            #[serde(rename = "rwSize", default)]
            rw: u64,
        }
        let listed: Vec<Sized> =
            serde_json::from_slice(&body).map_err(|e| format!("container sizes: {e}"))?;
        Ok(listed
            .into_iter()
            .filter_map(|c| Some((c.names.first()?.clone(), c.size.map_or(0, |s| s.rw))))
            .collect())
    }

    /// Every network carrying `label`.
    pub async fn networks(&self, label: &str) -> Result<Vec<Network>, String> {
        self.list("networks", label).await
    }

    /// Every volume carrying `label`.
    pub async fn volumes(&self, label: &str) -> Result<Vec<Volume>, String> {
        self.list("volumes", label).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode(r#"{"label":["a=b"]}"#),
            "%7B%22label%22%3A%5B%22a%3Db%22%5D%7D"
        );
        assert_eq!(encode("plain-1.2_~"), "plain-1.2_~");
    }

    #[tokio::test]
    async fn a_missing_socket_is_an_error_not_a_hang() {
        let api = PodmanApi::new("/nonexistent/podman.sock");
        assert!(!api.ping().await);
        assert!(api.containers("sandboxer.id").await.is_err());
    }
}
