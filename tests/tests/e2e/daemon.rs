//! The daemon with compose-ssh on the loopback host: a short-lived sandbox is gone
//! from podman within the reaper's bound, and a daemon killed during concurrent
//! creates recovers: after one reconcile pass every labelled resource is recorded
//! or reaped, and nothing recorded as ready is missing.

use super::support::{E2e, podman_count};
use sandboxer_tests::{bin, loopback};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(super) const TOKEN: &str = "e2e-daemon-admin-token";

pub(super) fn daemon_yaml(reconcile: &str, grace: &str) -> String {
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

pub(super) struct Daemon {
    child: Child,
    pub(super) url: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(e2e: &E2e) -> Daemon {
    let mut cmd = Command::new(bin("sandboxer"));
    cmd.stderr(Stdio::null());
    start_with(e2e, cmd)
}

/// Starts `sandboxer serve` from `cmd` (which may carry more variables and where
/// its log goes) in this installation.
pub(super) fn start_with(e2e: &E2e, mut cmd: Command) -> Daemon {
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .envs(e2e.env.vars())
        .env_remove("SANDBOXER_CONSUMER")
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://"), "{line}");
    Daemon { child, url }
}

pub(super) async fn call(
    d: &Daemon,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
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

#[tokio::test]
async fn a_two_second_sandbox_is_gone_from_podman_within_the_reapers_bound() {
    let e2e = E2e::new();
    e2e.configure_with(
        &[loopback::host_yaml("loopback", &e2e.workdir)],
        &daemon_yaml("30s", "5m"),
    );
    let d = start(&e2e);
    let (status, created) = call(
        &d,
        "POST",
        "/v1/sandboxes",
        Some(json!({"profile": "sandbox-canary", "ttl": "2s", "project": e2e.project})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let expires_at = rfc3339_ms(&created["expires_at"]);
    let label = format!("sandboxer.id={id}");
    assert!(podman_count("ps -a", &label) > 0);
    // The reaper's bound: it starts the destroy within one interval (1 s, plus a
    // second of scheduling slack on a loaded machine) of the expiry, and the
    // sandbox is gone from podman when that destroy ends.
    let give_up = Instant::now() + Duration::from_secs(120);
    while podman_count("ps -a", &label) + podman_count("network ls", &label) > 0 {
        assert!(Instant::now() < give_up, "never reaped");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, page) = call(&d, "GET", &format!("/v1/events?sandbox={id}"), None).await;
    let events = page["events"].as_array().unwrap();
    let at = |to: &str| {
        let event = events
            .iter()
            .find(|e| e["to_state"] == to)
            .unwrap_or_else(|| panic!("no transition to {to}: {events:?}"));
        (rfc3339_ms(&event["at"]), event["actor"].clone())
    };
    let (ready_at, _) = at("ready");
    let (destroy_started, actor) = at("destroying");
    let (destroyed, _) = at("destroyed");
    assert_eq!(actor, "system", "destroyed by the reaper");
    // Provisioning takes longer than 2 s, so the sandbox is due from the moment
    // it is ready (a sandbox is never reaped in the middle of its create).
    let due = expires_at.max(ready_at);
    let started_after = destroy_started - due;
    assert!(
        (0..=2_000).contains(&started_after),
        "the reaper started {started_after} ms after the sandbox was due"
    );
    eprintln!(
        "reaped: destroy started {started_after} ms after due (ready {} ms after expiry), took {} ms",
        ready_at - expires_at,
        destroyed - destroy_started
    );
    let (_, record) = call(&d, "GET", &format!("/v1/sandboxes/{id}"), None).await;
    assert_eq!(record["state"], "destroyed");
}

fn rfc3339_ms(v: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .timestamp_millis()
}

#[tokio::test]
async fn a_daemon_killed_during_creates_recovers_after_one_reconcile_pass() {
    let e2e = E2e::new();
    e2e.configure_with(
        &[loopback::host_yaml("loopback", &e2e.workdir)],
        &daemon_yaml("1h", "1ms"),
    );
    let project_label = format!("sandboxer.project={}", e2e.project);
    let mut d = start(&e2e);
    let url = d.url.clone();
    // Twenty creates at once; the daemon is killed while they run.
    let creates: Vec<_> = (0..20)
        .map(|_| {
            let url = url.clone();
            let project = e2e.project.clone();
            tokio::spawn(async move {
                let _ = reqwest::Client::new()
                    .post(format!("{url}/v1/sandboxes"))
                    .bearer_auth(TOKEN)
                    .json(&json!({"profile": "sandbox-canary", "project": project}))
                    .send()
                    .await;
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while podman_count("ps -a", &project_label) < 4 {
        assert!(
            Instant::now() < deadline,
            "the creates never reached podman"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SAFETY: kill sends SIGKILL to our own child.
    unsafe {
        libc::kill(d.child.id() as i32, libc::SIGKILL);
    }
    let _ = d.child.wait();
    for c in creates {
        let _ = c.await;
    }
    // Let compose runs that outlived the daemon finish.
    tokio::time::sleep(Duration::from_secs(8)).await;

    // Restart, then run exactly one reconcile pass by hand.
    let out = e2e
        .env
        .command(&bin("sandboxer"))
        .args(["inspect", "--fix", "--json"])
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: Value = {
        let out = e2e
            .env
            .command(&bin("sandboxer"))
            .args(["list", "--all", "--json"])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let records = records.as_array().unwrap();
    assert!(!records.is_empty());
    // Every labelled container belongs to a live record.
    let ids = Command::new("podman")
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("label={project_label}"),
            "--format",
            "{{index .Labels \"sandboxer.id\"}}",
        ])
        .output()
        .unwrap();
    for id in String::from_utf8_lossy(&ids.stdout)
        .lines()
        .filter(|l| !l.is_empty())
    {
        let record = records
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("resources of {id} have no record"));
        assert_ne!(
            record["state"], "destroyed",
            "{id} is recorded destroyed but has resources"
        );
    }
    // Nothing recorded as ready is missing.
    for r in records.iter().filter(|r| r["state"] == "ready") {
        let label = format!("sandboxer.id={}", r["id"].as_str().unwrap());
        assert!(
            podman_count("ps -a", &label) > 0,
            "{} is ready but has no containers",
            r["id"]
        );
    }
    drop(d);
}
