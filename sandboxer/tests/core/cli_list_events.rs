//! `list` filters and `events` (history and `--follow`).

use super::support::env;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn ids(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn list_filters_by_state_profile_project_consumer_and_label() {
    let env = env();
    env.env.write_profile(
        "other",
        &sandboxer_tests::fixture_profile("other", "1h", "2h"),
    );
    let mk = |profile: &str, consumer: &str, project: &str, label: &str| -> String {
        env.json(&[
            "create",
            "--profile",
            profile,
            "--consumer",
            consumer,
            "--project",
            project,
            "--label",
            label,
        ])["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let a = mk("fix", "agt:a", "alpha", "tier=gold");
    let b = mk("fix", "agt:b", "beta", "tier=silver");
    let c = mk("other", "atm:c", "alpha", "tier=gold");
    env.ok(&["destroy", &c]);

    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        ids(&env.json(&["list"])),
        sorted(vec![a.clone(), b.clone()])
    );
    assert_eq!(
        ids(&env.json(&["list", "--all"])),
        sorted(vec![a.clone(), b.clone(), c.clone()])
    );
    assert_eq!(
        ids(&env.json(&["list", "--in-state", "destroyed"])),
        vec![c.clone()]
    );
    assert_eq!(
        ids(&env.json(&["list", "--in-state", "ready", "--in-state", "destroyed"])),
        sorted(vec![a.clone(), b.clone(), c.clone()])
    );
    assert_eq!(
        ids(&env.json(&["list", "--project", "alpha"])),
        vec![a.clone()]
    );
    assert_eq!(
        ids(&env.json(&["list", "--consumer", "agt:b"])),
        vec![b.clone()]
    );
    assert_eq!(
        ids(&env.json(&["list", "--all", "--profile", "other"])),
        vec![c.clone()]
    );
    assert_eq!(
        ids(&env.json(&["list", "--all", "--label", "tier=gold"])),
        sorted(vec![a.clone(), c.clone()])
    );
    assert_eq!(
        ids(&env.json(&["list", "--label", "sandboxer.consumer=agt:b"])),
        vec![b.clone()],
        "the core's own labels can be filtered on"
    );
    assert_eq!(
        ids(&env.json(&["list", "--label", "tier=gold", "--project", "beta"])),
        Vec::<String>::new()
    );
    let err = env.fails(&["list", "--in-state", "running"], 2);
    assert!(err.contains("unknown state \"running\""), "{err}");
}

#[test]
fn events_can_be_paged_and_filtered_by_sandbox() {
    let env = env();
    let a = env.create(&[])["id"].as_str().unwrap().to_string();
    let b = env.create(&[])["id"].as_str().unwrap().to_string();
    let all = env.json(&["events"]);
    let seqs: Vec<i64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 6);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let page = env.json(&["events", "--after", &seqs[1].to_string(), "--limit", "2"]);
    assert_eq!(page.as_array().unwrap().len(), 2);
    assert_eq!(page[0]["seq"], seqs[2]);
    assert!(
        env.events_of(&b)
            .iter()
            .all(|e| e["sandbox_id"] == b.as_str())
    );
    assert_eq!(env.events_of(&a).len(), 3);
    assert!(
        env.fails(&["events", "--sandbox", "nope"], 3)
            .contains("not found")
    );
}

#[test]
fn events_without_a_limit_lists_every_page_and_with_one_stops_there() {
    let env = env();
    let id = env.create(&[])["id"].as_str().unwrap().to_string();
    // More than the largest page (1,000), written straight into the state file.
    let mut store = sandboxer_core::store::Store::open(&env.env.state_path()).unwrap();
    for n in 0..1_050 {
        store
            .record_event(
                &id,
                "test",
                sandboxer_core::store::EventKind::ExtensionError,
                serde_json::json!({ "n": n }),
            )
            .unwrap();
    }
    drop(store);
    let all = env.json(&["events", "--sandbox", &id]);
    assert_eq!(all.as_array().unwrap().len(), 3 + 1_050);
    let seqs: Vec<i64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order, none twice");
    let limited = env.json(&["events", "--sandbox", &id, "--limit", "10"]);
    assert_eq!(limited.as_array().unwrap().len(), 10);
}

#[test]
fn events_follow_prints_new_events_as_they_happen() {
    let env = env();
    let mut follower = sandboxer_tests::process::KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_sandboxer"))
            .args(["events", "--follow", "--json"])
            .envs(env.env.vars())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = follower.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let id = env.create(&[])["id"].as_str().unwrap().to_string();
    env.ok(&["destroy", &id]);
    let mut seen = vec![];
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < 5 && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            let event: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(event["sandbox_id"], id.as_str());
            seen.push(event["to_state"].as_str().unwrap().to_string());
        }
    }
    drop(follower);
    assert_eq!(
        seen,
        [
            "pending",
            "provisioning",
            "ready",
            "destroying",
            "destroyed"
        ]
    );
}
