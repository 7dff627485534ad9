//! Failover to a real backend: the profile prefers the fixture, which answers
//! Unavailable at create; the sandbox is made by compose-ssh on the loopback host
//! instead, and its events show both attempts.

use super::support::{E2e, podman_count};
use serde_json::Value;

#[test]
fn an_unavailable_first_candidate_fails_over_to_compose_ssh() {
    let e2e = E2e::new();
    e2e.sleeper_profile(
        "either",
        "ttl: {default: 1h, max: 2h}\nnetwork: {egress: allow}\n\
         extensions:\n  - {extension: ext.fixture, prefer: 2, spec: {}}\n  \
         - {extension: ext.compose-ssh, prefer: 1, spec: {compose_file: compose.yaml}}\n",
    );
    let out = e2e
        .sandboxer(&[
            "--json",
            "create",
            "--profile",
            "either",
            "--consumer",
            "atm:e2e",
            "--project",
            &e2e.project,
            "--wait",
        ])
        .env("SANDBOXER_EXT_FIXTURE_FAULT", "unavailable=sandbox/create")
        .assert()
        .success();
    let created: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["extension"], "ext.compose-ssh");
    assert_eq!(created["host"], "loopback");
    assert_eq!(podman_count("ps", &format!("sandboxer.id={id}")), 1);

    let attempts: Vec<Value> = e2e
        .json(&["events", "--sandbox", &id])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "create_attempt")
        .map(|e| e["detail"].clone())
        .collect();
    let summary: Vec<(String, String)> = attempts
        .iter()
        .map(|a| {
            (
                a["extension"].as_str().unwrap().to_string(),
                a["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("ext.fixture".to_string(), "failed".to_string()),
            ("ext.compose-ssh".to_string(), "created".to_string())
        ]
    );
    assert!(
        attempts[0]["error"]
            .as_str()
            .unwrap()
            .contains("Unavailable")
    );
    // Nothing left with the fixture.
    assert!(e2e.env.fixture_record(&id).is_none());

    e2e.json(&["destroy", &id]);
    assert_eq!(podman_count("ps -a", &format!("sandboxer.id={id}")), 0);
}
