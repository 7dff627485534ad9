//! E2B's official Python SDK, unmodified, against the daemon's E2B-compatible
//! API (`/e2b`) on compose-ssh sandboxes (issue 18): the SDK's own calls —
//! create from a template, commands with output as it is printed, background
//! commands killed, files, timeouts, lists by metadata, pause and connect,
//! watching, the async SDK, refusals and another project's key — in
//! `tests/python/e2b`, run with pytest. Then sandboxer's own view: each
//! sandbox the SDK made is recorded, charged to the key's consumer and
//! project, destroyed, and in the ledger.
//!
//! And the other way: `sandboxer-ext-e2b` passes the conformance kit with
//! that API as its E2B.

use super::daemon_support::{daemon_yaml, member_yaml, start};
use super::support::E2e;
use sandboxer_tests::{bin, loopback};
use serde_json::{Value, json};
use sandboxer_tests::mcp_client::PYTHON;
use std::path::PathBuf;
use std::process::Command;

/// The key the SDK uses: a member of project `agents`.
const KEY: &str = "e2e-e2b-key-of-an-agent";
const CONSUMER: &str = "agt:e2b-agent";
/// A member of another project.
const OTHER_KEY: &str = "e2e-e2b-key-of-another-project";
const TEMPLATE: &str = "e2b-box";

fn suite() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/e2b")
}

/// An installation whose daemon serves the E2B API over compose-ssh.
fn installation() -> E2e {
    let e2e = E2e::new();
    e2e.configure_with(
        &[loopback::host_yaml("loopback", &e2e.workdir)],
        &(daemon_yaml("30s", "5m")
            + &member_yaml(KEY, CONSUMER, "agents")
            + &member_yaml(OTHER_KEY, "atm:other", "elsewhere")),
    );
    e2e.sleeper_profile(
        TEMPLATE,
        "description: busybox with bash\nextension: ext.compose-ssh\n\
         ttl: {default: 1h, max: 24h}\nspec: {compose_file: compose.yaml}\n",
    );
    e2e
}

#[test]
fn the_official_e2b_sdk_works_sandboxes_through_the_e2b_api() {
    let e2e = installation();
    let daemon = start(&e2e);
    let api = format!("{}/e2b", daemon.url);
    let ids = e2e.env.path("e2b-ids");

    let tests = Command::new(PYTHON)
        .args(["-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider"])
        .arg(suite())
        .env("E2B_API_URL", &api)
        .env("E2B_SANDBOX_URL", &api)
        .env("E2B_API_KEY", KEY)
        .env("SANDBOXER_E2B_OTHER_KEY", OTHER_KEY)
        .env("SANDBOXER_E2B_TEMPLATE", TEMPLATE)
        .env("SANDBOXER_E2B_IDS", &ids)
        .current_dir(e2e.env.path(""))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&tests.stdout);
    assert!(
        tests.status.success(),
        "the E2B SDK's tests failed:\n{report}\n{}",
        String::from_utf8_lossy(&tests.stderr)
    );
    assert!(!report.contains("skipped"), "{report}");
    for test in [
        "test_a_sandbox_is_created_worked_in_listed_and_killed",
        "test_a_paused_sandbox_resumes_on_connect",
        "test_a_folder_is_watched",
        "test_the_async_sdk_works_the_same",
        "test_calls_it_does_not_serve_say_so",
        "test_keys_and_access_tokens_reach_only_their_own",
    ] {
        assert!(
            report
                .lines()
                .any(|l| l.starts_with("PASSED") && l.ends_with(&format!("::{test}"))),
            "{test} did not pass:\n{report}"
        );
    }

    // Sandboxer's own records: every sandbox the SDK made, charged to the
    // key's consumer (or the other key's), and destroyed by its kill.
    let made: Vec<String> = std::fs::read_to_string(&ids)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert!(made.len() >= 6, "{made:?}");
    let listed = e2e.json(&["list", "--all"]);
    for id in &made {
        let record = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} is not recorded: {listed}"));
        assert_eq!(record["profile_id"], format!("profile.{TEMPLATE}"));
        assert!(
            (record["consumer"] == CONSUMER && record["project"] == "agents")
                || (record["consumer"] == "atm:other" && record["project"] == "elsewhere"),
            "{record}"
        );
        assert_eq!(record["state"], "destroyed", "{record}");
    }
    let usage = e2e.json(&["usage", "--by", "consumer", "--project", "agents"]);
    let group = usage["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == CONSUMER || g["consumer"] == CONSUMER)
        .unwrap_or_else(|| panic!("no usage for {CONSUMER}: {usage}"));
    assert!(group["sandboxes"].as_u64().unwrap() >= 5, "{group}");
    assert!(
        group["cost"].as_str().unwrap().parse::<f64>().unwrap() >= 0.0,
        "{group}"
    );
}

#[test]
fn the_kit_passes_ext_e2b_with_the_daemons_e2b_api_as_its_e2b() {
    let e2e = installation();
    let daemon = start(&e2e);
    let api = format!("{}/e2b", daemon.url);
    let params = e2e.env.path("kit-params.json");
    let options = json!({"api_key": KEY, "api_url": api, "sandbox_url": api});
    std::fs::write(
        &params,
        json!({
            "options": options,
            "profile": {"id": "profile.conformance", "version": "1",
                        "spec": {"template": TEMPLATE}},
        })
        .to_string(),
    )
    .unwrap();
    let out = Command::new(bin("sandboxer-conformance"))
        .arg("run")
        .arg(bin("sandboxer-ext-e2b"))
        .args(["--format", "json", "--params"])
        .arg(&params)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the report is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let checks = report["checks"].as_array().unwrap();
    let with = |status: &str| -> Vec<String> {
        checks
            .iter()
            .filter(|c| c["status"] == status)
            .map(|c| format!("{}: {}", c["id"], c["message"]))
            .collect()
    };
    assert!(with("fail").is_empty(), "{:#?}", with("fail"));
    assert_eq!(out.status.code(), Some(0));
    // What it offers is checked, not skipped.
    for id in [
        "lifecycle.list-label-filter",
        "idempotency.same-create",
        "idempotency.conflicting-create",
        "secrets.not-in-labels",
        "optional.exec-stdin",
        "optional.exec-timeout",
        "optional.exec-missing-command",
        "optional.extend-ttl",
        "optional.cost-estimate-shape",
        "inside.files",
        "inside.pause-freezes-and-resume-continues",
    ] {
        let check = checks.iter().find(|c| c["id"] == id).unwrap();
        assert_eq!(check["status"], "pass", "{check}");
    }
    // Nothing the kit made is left: every E2B sandbox it created is destroyed.
    let left = e2e.json(&["list"]);
    assert_eq!(left.as_array().unwrap().len(), 0, "{left}");
}
