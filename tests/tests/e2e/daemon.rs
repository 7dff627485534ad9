//! The daemon with compose-ssh on the loopback host: a short-lived sandbox is gone
//! from podman within the reaper's bound. (A daemon killed during creates is in
//! the fault suite, `tests/faults`.)

use super::daemon_support::{call, daemon_yaml, start};
use super::support::{E2e, podman_count};
use sandboxer_tests::loopback;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

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
    // The objects go before the extension answers the destroy and the daemon
    // records it: wait for the record too.
    let events = loop {
        let (_, page) = call(&d, "GET", &format!("/v1/events?sandbox={id}"), None).await;
        let events = page["events"].as_array().unwrap().clone();
        if events.iter().any(|e| e["to_state"] == "destroyed") {
            break events;
        }
        assert!(
            Instant::now() < give_up,
            "never recorded destroyed: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
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
