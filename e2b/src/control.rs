//! The control plane's messages (`api.e2b.app`): create, connect, list, get,
//! kill, timeout, pause and metrics, as the official SDK sends and reads them.
//! Field names are E2B's (`templateID`, `sandboxID`, …); options the SDK
//! leaves unset are absent, never null.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `POST /v2/sandboxes` (and v1's `POST /sandboxes`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewSandbox {
    #[serde(rename = "templateID")]
    pub template_id: String,
    /// Seconds until it is killed (E2B's default is 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Environment every process of the sandbox starts with.
    #[serde(default, rename = "envVars", skip_serializing_if = "Option::is_none")]
    pub env_vars: Option<BTreeMap<String, String>>,
    /// What else a caller may ask for (`autoPause`, `network`,
    /// `allow_internet_access`, `volumeMounts`, `mcp`, …): kept so that a
    /// server can name what it does not honour instead of ignoring it.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `POST /v2/sandboxes/{id}/connect`: resumes a paused sandbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectSandbox {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `POST /sandboxes/{id}/timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetTimeout {
    pub timeout: u64,
}

/// What create and connect answer (201 / 200).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sandbox {
    #[serde(rename = "templateID")]
    pub template_id: String,
    #[serde(rename = "sandboxID")]
    pub sandbox_id: String,
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(rename = "envdVersion")]
    pub envd_version: String,
    /// Sent back by the SDK as `X-Access-Token` on every envd call.
    #[serde(
        default,
        rename = "envdAccessToken",
        skip_serializing_if = "Option::is_none"
    )]
    pub envd_access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// The domain envd is reached under (null: the SDK's configured one).
    #[serde(default)]
    pub domain: Option<String>,
}

/// `running` or `paused`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxState {
    Running,
    Paused,
}

/// What `GET /sandboxes/{id}` answers, and each item of `GET /v2/sandboxes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxDetail {
    #[serde(rename = "templateID")]
    pub template_id: String,
    #[serde(rename = "sandboxID")]
    pub sandbox_id: String,
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// RFC 3339.
    #[serde(rename = "startedAt")]
    pub started_at: String,
    /// RFC 3339: when it will be killed.
    #[serde(rename = "endAt")]
    pub end_at: String,
    #[serde(rename = "envdVersion")]
    pub envd_version: String,
    #[serde(rename = "cpuCount")]
    pub cpu_count: u32,
    #[serde(rename = "memoryMB")]
    pub memory_mb: u64,
    #[serde(rename = "diskSizeMB")]
    pub disk_size_mb: u64,
    pub state: SandboxState,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// The envd access token (in `GET /sandboxes/{id}`, not in lists).
    #[serde(
        default,
        rename = "envdAccessToken",
        skip_serializing_if = "Option::is_none"
    )]
    pub envd_access_token: Option<String>,
}

/// One sample of `GET /sandboxes/{id}/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxMetric {
    /// RFC 3339.
    pub timestamp: String,
    pub timestamp_unix: i64,
    pub cpu_count: u32,
    pub cpu_used_pct: f64,
    pub mem_used: u64,
    pub mem_total: u64,
    pub mem_cache: u64,
    pub disk_used: u64,
    pub disk_total: u64,
}

/// Every error the control plane (and envd's plain HTTP routes) answers:
/// `code` repeats the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: u16,
    pub message: String,
}

/// One entry of what `POST /files` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenEntry {
    pub name: String,
    /// `file` or `dir`.
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_create_as_the_sdk_sends_it_keeps_what_is_not_understood() {
        let body = json!({"templateID": "base", "timeout": 120,
            "metadata": {"owner": "me"}, "envVars": {"A": "1"}, "autoPause": true});
        let parsed: NewSandbox = serde_json::from_value(body).unwrap();
        assert_eq!(parsed.template_id, "base");
        assert_eq!(parsed.timeout, Some(120));
        assert_eq!(parsed.env_vars.unwrap()["A"], "1");
        assert_eq!(parsed.other["autoPause"], json!(true));
    }

    #[test]
    fn answers_use_e2b_field_names() {
        let sandbox = Sandbox {
            template_id: "t".into(),
            sandbox_id: "s".into(),
            client_id: "c".into(),
            envd_version: "0.6.4".into(),
            envd_access_token: Some("tok".into()),
            alias: None,
            domain: None,
        };
        assert_eq!(
            serde_json::to_value(&sandbox).unwrap(),
            json!({"templateID": "t", "sandboxID": "s", "clientID": "c",
                "envdVersion": "0.6.4", "envdAccessToken": "tok", "domain": null})
        );
    }
}
