//! Snapshots and restore through the CLI and the daemon, with the
//! fixture as the backend (it keeps a snapshot as a file under its state folder)
//! and the Python extension as one that offers no snapshots.

use super::daemon::{ADMIN, ALPHA, BETA, Daemon};
use super::support::env;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[test]
fn a_snapshot_is_taken_listed_restored_and_deleted_through_the_cli() {
    let env = env();
    let source = env.create(&["--label", "team=infra"]);
    let id = source["id"].as_str().unwrap();

    let snap = env.json(&["snapshot", "create", id, "--name", "base"]);
    let snap_id = snap["id"].as_str().unwrap().to_string();
    assert_eq!(
        (snap["sandbox_id"].as_str(), snap["name"].as_str()),
        (Some(id), Some("base"))
    );
    assert_eq!(
        snap["project"], "demo",
        "a snapshot belongs to its sandbox's project"
    );
    let held = env
        .env
        .path("fixture-state/snapshots")
        .join(format!("{snap_id}.json"));
    assert!(held.exists(), "the backend holds the snapshot");
    let again = env.json(&["snapshot", "create", id, "--name", "base"]);
    assert_eq!(
        again["id"], snap["id"],
        "the same name is the same snapshot"
    );
    let listed = env.json(&["snapshot", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert!(
        env.events_of(id)
            .iter()
            .any(|e| e["kind"] == "snapshot_taken" && e["detail"]["snapshot_id"] == snap["id"]),
        "taking a snapshot is an event of its sandbox"
    );

    let restored = env.json(&[
        "restore",
        &snap_id,
        "--label",
        "copy=yes",
        "--consumer",
        "agt:tester",
        "--wait",
    ]);
    assert_ne!(restored["id"], source["id"]);
    assert_eq!(restored["state"], "ready");
    assert_eq!(restored["profile_id"], "profile.fix");
    assert_eq!(
        restored["project"], "demo",
        "restored into the snapshot's project"
    );
    assert_eq!(restored["labels"]["copy"], "yes");
    assert_eq!(
        restored["details"]["restored_from"], snap["id"],
        "the backend was asked to restore, not to create"
    );
    let events = env.events_of(restored["id"].as_str().unwrap());
    let provisioning = events
        .iter()
        .find(|e| e["to_state"] == "provisioning")
        .unwrap();
    assert_eq!(provisioning["detail"]["restored_from"], snap["id"]);

    let deleted = env.json(&["snapshot", "delete", &snap_id]);
    assert!(deleted["deleted_at"].is_string(), "{deleted}");
    let twice = env.json(&["snapshot", "delete", &snap_id]);
    assert_eq!(
        twice["deleted_at"], deleted["deleted_at"],
        "deleting twice succeeds"
    );
    assert_eq!(env.json(&["snapshot", "list"]), json!([]));
    assert!(!held.exists(), "the backend was asked to delete it");
    let err = env.fails(&["restore", &snap_id, "--consumer", "agt:tester"], 3);
    assert!(err.contains(&snap_id), "{err}");
    let err = env.fails(&["snapshot", "delete", "snap-never-was"], 3);
    assert!(err.contains("snap-never-was"), "{err}");
}

#[test]
fn bad_snapshot_requests_are_refused_with_a_reason() {
    let env = env();
    let source = env.create(&[]);
    let id = source["id"].as_str().unwrap();
    let err = env.fails(
        &["snapshot", "create", id, "--name", "bad name;rm -rf /"],
        2,
    );
    assert!(err.contains("snapshot name"), "{err}");
    env.ok(&["destroy", id]);
    let err = env.fails(&["snapshot", "create", id, "--name", "late"], 4);
    assert!(err.contains("destroyed"), "{err}");
    env.fails(&["snapshot", "create", "01nosuchsandbox", "--name", "x"], 3);
}

#[test]
fn an_extension_without_snapshots_is_refused_by_name() {
    let env = env();
    env.env
        .install_extension("minimal", &sandboxer_tests::python_minimal_ext());
    env.env.write_profile(
        "py",
        "id: profile.py\nversion: 1\nextension: ext.minimal\nttl: {default: 1h, max: 2h}\n",
    );
    let state = env.env.path("py-state");
    let out = env
        .sandboxer(&[
            "create",
            "--profile",
            "py",
            "--consumer",
            "agt:t",
            "--project",
            "p",
            "--wait",
            "--json",
        ])
        .env("SANDBOXER_EXT_MINIMAL_STATE_DIR", &state)
        .assert()
        .success();
    let created: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let out = env
        .sandboxer(&[
            "snapshot",
            "create",
            created["id"].as_str().unwrap(),
            "--name",
            "n",
        ])
        .env("SANDBOXER_EXT_MINIMAL_STATE_DIR", &state)
        .assert()
        .code(4);
    let err = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(err.contains("does not offer sandbox/snapshot"), "{err}");
    assert_eq!(
        env.json(&["snapshot", "list"]),
        json!([]),
        "nothing recorded"
    );
}

#[tokio::test]
async fn the_daemon_serves_snapshots_to_their_project_only() {
    let d = Daemon::start();
    let source = d.create(ALPHA, json!({"profile": "fix"})).await;
    let id = source["id"].as_str().unwrap();
    let path = format!("/v1/sandboxes/{id}/snapshot");

    let (status, body) = d
        .call("POST", &path, Some(BETA), Some(json!({"name": "base"})))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another project's sandbox: {body}"
    );
    let (status, body) = d
        .call(
            "POST",
            &path,
            Some(ALPHA),
            Some(json!({"name": "no/slash"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, snap) = d
        .call("POST", &path, Some(ALPHA), Some(json!({"name": "base"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{snap}");
    assert_eq!(snap["project"], "alpha");
    let snap_id = snap["id"].as_str().unwrap();

    let (_, alpha_sees) = d.call("GET", "/v1/snapshots", Some(ALPHA), None).await;
    let (_, beta_sees) = d.call("GET", "/v1/snapshots", Some(BETA), None).await;
    let (_, admin_sees) = d.call("GET", "/v1/snapshots", Some(ADMIN), None).await;
    assert_eq!(alpha_sees.as_array().unwrap().len(), 1);
    assert_eq!(beta_sees, json!([]));
    assert_eq!(admin_sees.as_array().unwrap().len(), 1);

    let restore = format!("/v1/snapshots/{snap_id}/restore");
    let (status, _) = d.call("POST", &restore, Some(BETA), None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "beta cannot restore alpha's snapshot"
    );
    // A member restores into its own project, as itself, only.
    for (body, what) in [
        (json!({"project": "beta"}), "into another project"),
        (json!({"consumer": "agt:beta"}), "as another consumer"),
    ] {
        let (status, answer) = d.call("POST", &restore, Some(ALPHA), Some(body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {answer}");
    }
    let (status, restored) = d
        .call(
            "POST",
            &restore,
            Some(ALPHA),
            Some(json!({"labels": {"copy": "yes"}, "ttl": "10m"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{restored}");
    assert_eq!(
        (restored["state"].as_str(), restored["consumer"].as_str()),
        (Some("ready"), Some("agt:alpha"))
    );
    assert_eq!(restored["details"]["restored_from"], snap["id"]);
    assert_eq!(restored["ttl_s"], 600);

    let delete = format!("/v1/snapshots/{snap_id}");
    let (status, _) = d.call("DELETE", &delete, Some(BETA), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, deleted) = d.call("DELETE", &delete, Some(ALPHA), None).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert!(deleted["deleted_at"].is_string());
    let (status, _) = d.call("DELETE", &delete, Some(ALPHA), None).await;
    assert_eq!(status, StatusCode::OK, "deleting twice succeeds");
    let (status, gone) = d.call("POST", &restore, Some(ALPHA), None).await;
    assert_eq!(
        (status, gone["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (_, events) = d
        .call(
            "GET",
            &format!("/v1/events?sandbox={id}"),
            Some(ALPHA),
            None,
        )
        .await;
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"snapshot_taken") && kinds.contains(&"snapshot_deleted"),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn snapshot_restore_and_usage_work_through_the_daemon_from_the_cli() {
    let d = Daemon::start();
    let cli = |args: &[&str]| -> Value {
        let mut cmd = d.env.sandboxer(args);
        let out = cmd
            .arg("--json")
            .env("SANDBOXER_SERVER", &d.url)
            .env("SANDBOXER_TOKEN", ALPHA)
            .assert()
            .success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    };
    let id = cli(&["create", "--profile", "fix"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let snap = cli(&["snapshot", "create", &id, "--name", "remote"]);
    let snap_id = snap["id"].as_str().unwrap();
    assert_eq!(cli(&["snapshot", "list"])[0]["id"], snap["id"]);
    let restored = cli(&["restore", snap_id, "--wait"]);
    assert_eq!(restored["details"]["restored_from"], snap["id"]);
    assert!(cli(&["snapshot", "delete", snap_id])["deleted_at"].is_string());
    let usage = cli(&["usage", "--by", "consumer"]);
    assert_eq!(usage["groups"][0]["key"], "agt:alpha");
    assert_eq!(
        usage["groups"].as_array().unwrap().len(),
        1,
        "alpha sees only its own"
    );
}
