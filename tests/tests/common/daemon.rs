//! The daemon as the end-to-end and fault tests start it: `sandboxer serve` on a
//! loopback port with an admin token, in an `E2e` installation, and calls to it.

use super::support::E2e;
use sandboxer_tests::bin;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Duration;

pub const TOKEN: &str = "e2e-daemon-admin-token";

pub fn daemon_yaml(reconcile: &str, grace: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", &format!("printf %s '{TOKEN}' | sha256sum")])
        .output()
        .unwrap();
    let digest = String::from_utf8(out.stdout).unwrap();
    let digest = digest.split_whitespace().next().unwrap();
    format!(
        "daemon:\n  reaper_interval: 1s\n  reconcile_interval: {reconcile}\n  orphan_grace: {grace}\n  \
         stuck_after: 2m\n  tokens:\n    - {{consumer: \"adm:e2e\", project: e2e, token_sha256: {digest}}}\n"
    )
}

/// A member token's line of `daemon.tokens`: `consumer` in `project` only.
pub fn member_yaml(token: &str, consumer: &str, project: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", &format!("printf %s '{token}' | sha256sum")])
        .output()
        .unwrap();
    let digest = String::from_utf8(out.stdout).unwrap();
    format!(
        "    - {{consumer: \"{consumer}\", project: {project}, role: member, token_sha256: {}}}\n",
        digest.split_whitespace().next().unwrap()
    )
}

/// A running daemon, killed on drop.
pub type Daemon = sandboxer_tests::process::Served;

pub fn start(e2e: &E2e) -> Daemon {
    let mut cmd = Command::new(bin("sandboxer"));
    cmd.stderr(Stdio::null());
    start_with(e2e, cmd)
}

/// Starts `sandboxer serve` from `cmd` (which may carry more variables and where
/// its log goes) in this installation.
pub fn start_with(e2e: &E2e, mut cmd: Command) -> Daemon {
    cmd.envs(e2e.env.vars()).env_remove("SANDBOXER_CONSUMER");
    sandboxer_tests::process::serve(cmd)
}

pub async fn call(d: &Daemon, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{}{path}", d.url))
        .bearer_auth(TOKEN)
        .timeout(Duration::from_secs(300));
    if let Some(b) = body {
        request = request.json(&b);
    }
    match request.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(e) => (0, Value::String(e.to_string())),
    }
}
