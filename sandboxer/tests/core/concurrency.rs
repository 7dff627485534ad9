//! Several `sandboxer` processes on one state file at once: nothing is lost or
//! corrupted.

use super::support::env;
use std::process::{Command, Stdio};

#[test]
fn two_processes_creating_at_once_lose_nothing() {
    let env = env();
    let per_process = 15;
    let script = format!(
        "for i in $(seq {per_process}); do \"$0\" create --profile fix --consumer agt:$1 \
         --project race --json >/dev/null || exit 1; done"
    );
    let children: Vec<_> = ["one", "two"]
        .into_iter()
        .map(|who| {
            Command::new("sh")
                .args(["-c", &script, env!("CARGO_BIN_EXE_sandboxer"), who])
                .envs(env.env.vars())
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    // A reader runs alongside the writers.
    for _ in 0..5 {
        env.json(&["list"]);
    }
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let all = env.json(&["list"]);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 2 * per_process);
    let mut ids: Vec<&str> = all.iter().map(|s| s["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2 * per_process, "ids are unique");
    assert!(all.iter().all(|s| s["state"] == "ready"));
    for who in ["agt:one", "agt:two"] {
        assert_eq!(
            env.json(&["list", "--consumer", who])
                .as_array()
                .unwrap()
                .len(),
            per_process
        );
    }
    let events = env.json(&["events"]);
    assert_eq!(events.as_array().unwrap().len(), 3 * 2 * per_process);
}

#[test]
fn two_processes_destroying_the_same_sandbox_at_once_both_succeed() {
    // As a daemon's reaper and a person's CLI can: the backend's destroy is
    // slow, so both are inside it when the first records `destroyed`.
    let env = env();
    let created = env.create(&[]);
    let id = created["id"].as_str().unwrap().to_string();
    let destroying: Vec<_> = (0..2)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_sandboxer"))
                .args(["--json", "destroy", &id])
                .envs(env.env.vars())
                .env("SANDBOXER_EXT_FIXTURE_FAULT", "slow=sandbox/destroy:800")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in destroying {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(env.json(&["get", &id, "--cached"])["state"], "destroyed");
}
