//! The daemon killed (SIGKILL) during twenty concurrent creates on compose-ssh:
//! after a restart and one reconcile pass every labelled resource is recorded or
//! reaped and nothing recorded as ready is missing.

use super::daemon_support::{TOKEN, daemon_yaml, start};
use super::recovery::{Storage, assert_consistent, recover};
use super::support::{E2e, podman_count};
use sandboxer_tests::loopback;
use serde_json::json;
use std::time::{Duration, Instant};

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
        libc::kill(d.id() as i32, libc::SIGKILL);
    }
    let _ = d.process.0.wait();
    for c in creates {
        let _ = c.await;
    }
    // Let compose runs that outlived the daemon finish.
    tokio::time::sleep(Duration::from_secs(8)).await;

    // Restart, then one reconcile pass and the retries of failed destroys.
    recover(&e2e, Duration::from_secs(120));
    assert_consistent(&e2e, Storage::Machine);
    drop(d);
}
