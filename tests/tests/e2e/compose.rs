//! compose-ssh sandboxes through the CLI over the loopback sshd: the compose-e2e
//! stack end to end, orphans found by label, failures that clean up after
//! themselves.

use super::support::{E2e, http_get, podman_count};
use sandboxer_tests::{bin, loopback, session::Session};
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn compose_e2e_is_created_reached_used_and_destroyed_without_a_trace() {
    let e2e = E2e::new();
    let created = e2e.create("profile.compose-e2e", &["--label", "purpose=e2e"]);
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["state"], "ready");
    assert_eq!(created["host"], "loopback");
    let label = format!("sandboxer.id={id}");

    // Reached: the published HTTP endpoint answers.
    let web = created["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "web")
        .expect("a web endpoint");
    assert_eq!(web["protocol"], "http");
    assert_eq!(
        http_get(web["url"].as_str().unwrap()).trim(),
        "compose-e2e web"
    );
    let ssh = created["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["protocol"] == "ssh");
    assert_eq!(ssh.unwrap()["port"], loopback::PORT);

    // Used: a command runs in a service.
    let out = e2e.json(&["exec", &id, "--", "sh", "-c", "echo $((6*7))"]);
    assert_eq!(out["exit_code"], 0);
    assert_eq!(out["stdout"], "42\n");
    let out = e2e.json(&["exec", &id, "--", "sh", "-c", "exit 3"]);
    assert_eq!(out["exit_code"], 3);
    assert_eq!(e2e.json(&["get", &id])["state"], "active");

    // The worker reaches the web service by its name.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = e2e.json(&["exec", &id, "--service", "worker", "--", "cat", "/tmp/last"]);
        if out["stdout"].as_str().unwrap().contains("web answered ok") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker never reached web: {out}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // Everything the sandbox owns carries its label.
    assert_eq!(podman_count("ps -a", &label), 2);
    assert_eq!(podman_count("network ls", &label), 1);
    assert_eq!(podman_count("volume ls", &label), 1);
    assert_eq!(
        podman_count("ps -a", &format!("sandboxer.project={}", e2e.project)),
        2
    );
    let dir = e2e.workdir.join(format!("sbx-{id}"));
    assert!(dir.is_dir());

    let destroyed = e2e.json(&["destroy", &id]);
    assert_eq!(destroyed["already_destroyed"], false);
    assert_eq!(podman_count("ps -a", &label), 0);
    assert_eq!(podman_count("network ls", &label), 0);
    assert_eq!(podman_count("volume ls", &label), 0);
    assert!(!dir.exists(), "the sandbox's folder is removed");
    assert_eq!(e2e.json(&["destroy", &id])["already_destroyed"], true);
}

#[test]
fn a_sandbox_whose_record_was_deleted_is_still_found_by_its_label() {
    let e2e = E2e::new();
    let id = e2e.create("profile.sandbox-canary", &[])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let db = rusqlite::Connection::open(e2e.env.state_path()).unwrap();
    assert_eq!(
        db.execute("DELETE FROM sandboxes WHERE id = ?1", [&id])
            .unwrap(),
        1
    );
    drop(db);
    e2e.sandboxer(&["get", &id]).assert().code(3);

    let mut ext = Session::start(&bin("sandboxer-ext-compose-ssh"), e2e.extension_options());
    let listed = ext.ok("sandbox/list", json!({}));
    let found = listed["sandboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sandbox_id"] == id.as_str())
        .cloned()
        .expect("the orphan is listed");
    assert_eq!(found["labels"]["sandboxer.id"], id.as_str());
    assert_eq!(found["labels"]["sandboxer.project"], e2e.project.as_str());
    assert_eq!(found["state"], "ready");
    let by_label = ext.ok(
        "sandbox/list",
        json!({"labels": {"sandboxer.project": e2e.project}}),
    );
    assert_eq!(by_label["sandboxes"].as_array().unwrap().len(), 1);
    let none = ext.ok(
        "sandbox/list",
        json!({"labels": {"sandboxer.project": "nobody"}}),
    );
    assert_eq!(none["sandboxes"], json!([]));

    assert_eq!(
        ext.ok("sandbox/destroy", json!({"sandbox_id": id})),
        json!({"destroyed": true})
    );
    assert_eq!(podman_count("ps -a", &format!("sandboxer.id={id}")), 0);
    let gone = ext.call("sandbox/get", json!({"sandbox_id": id}));
    assert_eq!(gone["error"]["code"], 1001);
}

#[test]
fn a_missing_image_is_named_with_its_host_and_the_fix() {
    let e2e = E2e::new();
    std::fs::create_dir_all(e2e.env.path("profiles/noimage")).unwrap();
    std::fs::write(
        e2e.env.path("profiles/noimage/compose.yaml"),
        "services:\n  app:\n    image: localhost/sandboxer-does-not-exist:1\n",
    )
    .unwrap();
    std::fs::write(
        e2e.env.path("profiles/noimage/profile.yaml"),
        "id: profile.noimage\nversion: 1\nextension: ext.compose-ssh\nttl: {default: 1h, max: 2h}\n\
         files: [compose.yaml]\nspec: {compose_file: compose.yaml}\n",
    )
    .unwrap();
    let out = e2e
        .sandboxer(&[
            "create",
            "--profile",
            "noimage",
            "--consumer",
            "atm:e2e",
            "--project",
            &e2e.project,
        ])
        .assert()
        .code(5);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("localhost/sandboxer-does-not-exist:1"),
        "{err}"
    );
    assert!(err.contains("missing on host loopback"), "{err}");
    assert!(err.contains("setup-host.sh"), "{err}");
    assert_eq!(
        podman_count("ps -a", &format!("sandboxer.project={}", e2e.project)),
        0
    );
}

#[test]
fn a_sandbox_that_never_gets_ready_fails_with_its_logs_and_is_removed() {
    let e2e = E2e::new();
    std::fs::create_dir_all(e2e.env.path("profiles/dies")).unwrap();
    std::fs::write(
        e2e.env.path("profiles/dies/compose.yaml"),
        "services:\n  app:\n    image: localhost/sandboxer-busybox:latest\n    \
         command: [sh, -c, 'echo about to fail >&2; exit 7']\n",
    )
    .unwrap();
    std::fs::write(
        e2e.env.path("profiles/dies/profile.yaml"),
        "id: profile.dies\nversion: 1\nextension: ext.compose-ssh\nttl: {default: 1h, max: 2h}\n\
         files: [compose.yaml]\nspec: {compose_file: compose.yaml, ready: {timeout: 20s}}\n",
    )
    .unwrap();
    let out = e2e
        .sandboxer(&[
            "create",
            "--profile",
            "dies",
            "--consumer",
            "atm:e2e",
            "--project",
            &e2e.project,
        ])
        .assert()
        .code(5);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("did not become ready"), "{err}");
    assert!(err.contains("exited (code 7)"), "{err}");
    assert!(
        err.contains("about to fail"),
        "the container's log is in the error: {err}"
    );
    let project = format!("sandboxer.project={}", e2e.project);
    assert_eq!(podman_count("ps -a", &project), 0);
    assert_eq!(podman_count("network ls", &project), 0);
    let listed = e2e.json(&["list", "--all"]);
    assert_eq!(listed[0]["state"], "failed");
}

#[test]
fn secrets_reach_the_containers_as_environment_only() {
    let e2e = E2e::new();
    std::fs::create_dir_all(e2e.env.path("profiles/secret")).unwrap();
    std::fs::write(
        e2e.env.path("profiles/secret/compose.yaml"),
        "services:\n  app:\n    image: localhost/sandboxer-busybox:latest\n    \
         command: [sleep, '3600']\n    stop_signal: SIGKILL\n",
    )
    .unwrap();
    std::fs::write(
        e2e.env.path("profiles/secret/profile.yaml"),
        "id: profile.secret\nversion: 1\nextension: ext.compose-ssh\nttl: {default: 1h, max: 2h}\n\
         secrets: {API_TOKEN: env:E2E_SECRET}\nfiles: [compose.yaml]\nspec: {compose_file: compose.yaml}\n",
    )
    .unwrap();
    let secret = "e2e-s3cret-a8f1 $HOME";
    let out = e2e
        .sandboxer(&[
            "create",
            "--profile",
            "secret",
            "--consumer",
            "atm:e2e",
            "--project",
            &e2e.project,
            "--wait",
            "--json",
        ])
        .env("E2E_SECRET", secret)
        .assert()
        .success();
    let output = out.get_output().clone();
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let seen = e2e.json(&["exec", &id, "--", "sh", "-c", "echo \"$API_TOKEN\""]);
    assert_eq!(
        seen["stdout"],
        format!("{secret}\n"),
        "the container sees it"
    );

    let env_file = e2e.workdir.join(format!("sbx-{id}/sandboxer.env"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&env_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let labels = std::process::Command::new("podman")
        .args([
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            &format!("sbx-{id}_app_1"),
        ])
        .output()
        .unwrap();
    let compose =
        std::fs::read_to_string(e2e.workdir.join(format!("sbx-{id}/sandboxer-compose.yaml")))
            .unwrap();
    let state = std::fs::read(e2e.env.state_path()).unwrap();
    for (what, bytes) in [
        ("stdout", output.stdout.as_slice()),
        ("stderr", output.stderr.as_slice()),
        ("labels", labels.stdout.as_slice()),
        ("compose file", compose.as_bytes()),
        ("state file", state.as_slice()),
    ] {
        assert!(
            !String::from_utf8_lossy(bytes).contains(secret),
            "secret found in {what}"
        );
    }
    e2e.json(&["destroy", &id]);
    assert!(!env_file.exists(), "the env file goes with the sandbox");
}

#[test]
fn host_health_and_cost_estimates_answer_from_the_real_host() {
    let e2e = E2e::new();
    let id = e2e.create("profile.sandbox-canary", &[])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ext = Session::start(&bin("sandboxer-ext-compose-ssh"), e2e.extension_options());
    let health = ext.ok("host/health", json!({}));
    let host = &health["hosts"][0];
    assert_eq!(host["host"], "loopback");
    assert_eq!(host["reachable"], true);
    assert!(host["mem_free_mb"].as_u64().unwrap() > 0);
    assert!(host["disk_free_mb"].as_u64().unwrap() > 0);
    assert!(host["load1"].as_f64().is_some());
    assert!(
        host["sandboxes"].as_u64().unwrap() >= 1,
        "it counts the canary: {health}"
    );
    let unknown = ext.call("host/health", json!({"host": "nowhere"}));
    assert_eq!(unknown["error"]["data"]["details"]["field"], "host");

    let spec = json!({"compose_file": "c.yaml", "files": {"c.yaml": "services: {}"},
                      "cost": {"currency": "USD", "per_hour": 0.5}});
    let params =
        json!({"profile": {"id": "profile.x", "version": "1", "spec": spec}, "duration_s": 7200});
    let first = ext.ok("cost/estimate", params.clone());
    assert_eq!(first["amount"], 1.0);
    assert_eq!(
        first["amount_exact"], "1",
        "the exact amount beside the number (1.3)"
    );
    assert_eq!(first["currency"], "USD");
    assert_eq!(ext.ok("cost/estimate", params), first, "deterministic");
    e2e.json(&["destroy", &id]);
}
