//! Daytona (issue 19, in progress): the official `daytona` client, unmodified,
//! against the Daytona stand-in (`tests/standins/daytona`), which a real
//! daemon over compose-ssh backs.

use super::daemon_support::{Daemon, start};
use super::e2b_provider::{PROVIDER_KEY, TEMPLATE, provider};
use sandboxer_tests::mcp_client::PYTHON;
use sandboxer_tests::pytest;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The Daytona stand-in over `daemon`: its URL, and the process (killed on drop).
fn standin(daemon: &Daemon) -> (String, sandboxer_tests::process::KillOnDrop) {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut standin = Command::new(PYTHON)
        .arg(here.join("standins/daytona/server.py"))
        .args(["--sandboxer", &daemon.url])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = standin.stdout.take().unwrap();
    let process = sandboxer_tests::process::KillOnDrop(standin);
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    (line.trim().rsplit(' ').next().unwrap().to_string(), process)
}

#[test]
fn the_official_daytona_client_works_sandboxes_through_the_stand_in() {
    let e2e = provider("");
    let daemon = start(&e2e);
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (url, _standin) = standin(&daemon);
    let report = pytest::run(&here.join("python/daytona"), |pytest| {
        pytest
            .env("DAYTONA_API_URL", format!("{url}/api"))
            .env("DAYTONA_API_KEY", PROVIDER_KEY)
            .env("DAYTONA_USE_DEPRECATED_POLLING", "true")
            .env("SANDBOXER_DAYTONA_SNAPSHOT", TEMPLATE)
            .current_dir(e2e.env.path(""));
    });
    pytest::assert_passed(
        &report,
        &["test_a_sandbox_is_created_worked_in_listed_and_deleted"],
    );
}

#[test]
fn the_kit_passes_ext_daytona_against_the_stand_in() {
    let e2e = provider("");
    let daemon = start(&e2e);
    let (url, _standin) = standin(&daemon);
    let params = e2e.env.path("kit-params.json");
    let options = serde_json::json!({"api_key": PROVIDER_KEY, "api_url": format!("{url}/api")});
    let profile = serde_json::json!({"id": "profile.conformance", "version": "1",
                                     "spec": {"snapshot": TEMPLATE}});
    std::fs::write(
        &params,
        serde_json::json!({"options": options, "profile": profile}).to_string(),
    )
    .unwrap();
    let out = Command::new(sandboxer_tests::bin("sandboxer-conformance"))
        .arg("run")
        .arg(sandboxer_tests::bin("sandboxer-ext-daytona"))
        .args(["--format", "json", "--params"])
        .arg(&params)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed: Vec<String> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| format!("{}: {}", c["id"], c["message"]))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    for id in [
        "lifecycle.list-label-filter",
        "idempotency.same-create",
        "idempotency.conflicting-create",
        "concurrency.racing-creates-one-id",
        "optional.exec-output",
        "optional.exec-stdin",
        "optional.exec-timeout",
        "optional.cost-estimate-shape",
        "inside.files",
    ] {
        let check = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap();
        assert_eq!(check["status"], "pass", "{check}");
    }
}
