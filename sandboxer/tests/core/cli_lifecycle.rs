//! The whole life of a sandbox through the CLI with only the fixture extension:
//! create, list, get, extend, recreate, destroy, and the events of each step.

use super::support::{env, transitions};
use serde_json::Value;

#[test]
fn a_sandbox_lives_and_dies_with_every_transition_recorded() {
    let env = env();
    let created = env.create(&["--label", "team=infra", "--ttl", "30m"]);
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["state"], "ready");
    assert_eq!(created["consumer"], "agt:tester");
    assert_eq!(created["project"], "demo");
    assert_eq!(created["labels"]["team"], "infra");
    assert_eq!(
        created["labels"]["suite"], "tests",
        "profile labels are kept"
    );
    assert_eq!(created["labels"]["sandboxer.id"], id.as_str());
    assert_eq!(created["endpoints"][0]["protocol"], "ssh");
    assert_eq!(created["ttl_s"], 1800);
    // The backend really holds it, labelled.
    let backend = env
        .env
        .fixture_record(&id)
        .expect("fixture holds the sandbox");
    assert_eq!(backend["sandbox"]["labels"]["sandboxer.project"], "demo");

    let listed = env.json(&["list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());

    let got = env.json(&["get", &id]);
    assert_eq!(got["state"], "ready");
    assert_eq!(got["backend_ref"], format!("fixture/{id}"));

    let before = created["expires_at"].as_str().unwrap().to_string();
    let extended = env.json(&["extend-ttl", &id, "15m", "--consumer", "adm:ops"]);
    assert_ne!(extended["expires_at"], before.as_str());
    let backend = env.env.fixture_record(&id).unwrap();
    assert_eq!(
        backend["params"]["expires_at"], extended["expires_at"],
        "the extension is told the new expiry"
    );

    let recreated = env.json(&["recreate", &id, "--wait", "--consumer", "adm:ops"]);
    let new_id = recreated["new"]["id"].as_str().unwrap().to_string();
    assert_ne!(new_id, id);
    assert_eq!(recreated["old"]["state"], "destroyed");
    assert_eq!(recreated["old"]["replaced_by"], new_id.as_str());
    assert_eq!(recreated["new"]["replaces"], id.as_str());
    assert_eq!(recreated["new"]["labels"]["team"], "infra");
    assert_eq!(
        recreated["new"]["consumer"], "agt:tester",
        "attribution is kept"
    );
    assert!(
        env.env.fixture_record(&id).is_none(),
        "old backend resources are gone"
    );

    let destroyed = env.json(&["destroy", &new_id, "--consumer", "adm:ops"]);
    assert_eq!(destroyed["state"], "destroyed");
    assert_eq!(destroyed["already_destroyed"], false);
    assert!(env.env.fixture_record(&new_id).is_none());
    // Idempotent.
    let again = env.json(&["destroy", &new_id]);
    assert_eq!(again["already_destroyed"], true);

    let old_events = env.events_of(&id);
    assert_eq!(
        transitions(&old_events),
        [
            "->pending",
            "pending->provisioning",
            "provisioning->ready",
            "ready->destroying",
            "destroying->destroyed"
        ]
    );
    let actors: Vec<&str> = old_events
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(
        &actors[..3],
        ["agt:tester"; 3],
        "creation is by its consumer"
    );
    assert!(
        actors[3..].iter().all(|a| *a == "adm:ops"),
        "later changes are by whoever made them: {actors:?}"
    );
    assert!(
        old_events
            .iter()
            .any(|e| e["kind"] == "ttl_extended" && e["actor"] == "adm:ops")
    );
    assert!(old_events.iter().any(|e| e["kind"] == "recreated"));

    let new_events = env.events_of(&new_id);
    assert_eq!(
        transitions(&new_events),
        [
            "->pending",
            "pending->provisioning",
            "provisioning->ready",
            "ready->destroying",
            "destroying->destroyed"
        ]
    );
    assert!(new_events.iter().all(|e| e["actor"] == "adm:ops"));

    // Destroyed sandboxes leave `list` unless asked for.
    assert_eq!(env.json(&["list"]), Value::Array(vec![]));
    assert_eq!(env.json(&["list", "--all"]).as_array().unwrap().len(), 2);
}

#[test]
fn human_output_shows_the_sandbox() {
    let env = env();
    let created = env.create(&[]);
    let id = created["id"].as_str().unwrap();
    let text = env.ok(&["get", id]);
    assert!(text.contains(&format!("id           {id}")), "{text}");
    assert!(text.contains("state        ready"), "{text}");
    assert!(
        text.contains("endpoint     shell ssh 127.0.0.1:2222"),
        "{text}"
    );
    let table = env.ok(&["list"]);
    let header = table.lines().next().unwrap();
    assert!(
        header
            .split_whitespace()
            .eq(["ID", "STATE", "PROFILE", "PROJECT", "CONSUMER", "EXPIRES"]),
        "{table}"
    );
    assert!(table.contains(id));
    let events = env.ok(&["events"]);
    assert!(events.contains("provisioning -> ready"), "{events}");
}

#[test]
fn extending_past_the_ceiling_is_refused_and_says_by_how_much_it_could() {
    let env = env();
    // profile.fix: default 1h, ceiling 2h from creation.
    let id = env.create(&[])["id"].as_str().unwrap().to_string();
    let err = env.fails(&["extend-ttl", &id, "90m"], 4);
    assert!(err.contains("past its ceiling"), "{err}");
    assert!(err.contains("at most 1h"), "{err}");
    let got = env.json(&["get", &id, "--cached"]);
    assert!(
        !env.events_of(&id)
            .iter()
            .any(|e| e["kind"] == "ttl_extended")
    );
    assert_eq!(got["state"], "ready");
    // Up to the ceiling is fine.
    env.ok(&["extend-ttl", &id, "55m"]);
    assert!(
        env.fails(&["extend-ttl", &id, "10m"], 4)
            .contains("ceiling")
    );
    assert!(
        env.fails(&["extend-ttl", &id, "soon"], 2)
            .contains("invalid duration")
    );
}

#[test]
fn a_destroyed_sandbox_cannot_be_extended_and_unknown_ids_are_not_found() {
    let env = env();
    let id = env.create(&[])["id"].as_str().unwrap().to_string();
    env.ok(&["destroy", &id]);
    assert!(
        env.fails(&["extend-ttl", &id, "5m"], 4)
            .contains("destroyed")
    );
    assert!(
        env.fails(&["get", "nosuchsandbox"], 3)
            .contains("not found")
    );
    assert!(
        env.fails(&["destroy", "nosuchsandbox"], 3)
            .contains("not found")
    );
}

#[test]
fn create_without_wait_returns_provisioning_and_get_brings_it_to_ready() {
    let env = env();
    let created = env.json(&[
        "create",
        "--profile",
        "fix",
        "--consumer",
        "atm:ci",
        "--project",
        "demo",
    ]);
    // Ready at once: the fixture answers ready unless told otherwise.
    assert_eq!(created["state"], "ready");

    let out = env
        .sandboxer(&[
            "create",
            "--profile",
            "fix",
            "--consumer",
            "atm:ci",
            "--project",
            "demo",
            "--json",
        ])
        .env("SANDBOXER_EXT_FIXTURE_FAULT", "provisioning")
        .assert()
        .success();
    let created: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(created["state"], "provisioning");
    let id = created["id"].as_str().unwrap();
    assert_eq!(env.json(&["get", id])["state"], "ready");

    // With --wait, create polls until ready.
    let out = env
        .sandboxer(&[
            "create",
            "--profile",
            "fix",
            "--consumer",
            "atm:ci",
            "--project",
            "demo",
            "--wait",
            "--json",
        ])
        .env("SANDBOXER_EXT_FIXTURE_FAULT", "provisioning")
        .assert()
        .success();
    let created: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(created["state"], "ready");
}

#[test]
fn get_marks_a_sandbox_whose_backend_vanished_and_one_past_its_expiry() {
    let env = env();
    let id = env.create(&[])["id"].as_str().unwrap().to_string();
    std::fs::remove_file(env.env.path(&format!("fixture-state/{id}.json"))).unwrap();
    let got = env.json(&["get", &id]);
    assert_eq!(got["state"], "failed");
    assert!(
        got["last_error"]
            .as_str()
            .unwrap()
            .contains("no longer has")
    );
    // A failed sandbox is still destroyable (its resources may remain).
    env.ok(&["destroy", &id]);

    let id = env.create(&["--ttl", "1s"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert_eq!(env.json(&["get", &id])["state"], "expired");
    assert_eq!(env.json(&["destroy", &id])["state"], "destroyed");
}
