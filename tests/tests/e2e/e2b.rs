//! E2B's official Python SDK, unmodified, against the daemon's E2B-compatible
//! API (`/e2b`) on compose-ssh sandboxes (issue 18): the SDK's own calls —
//! create from a template, commands with output as it is printed, background
//! commands killed, files, timeouts, lists by metadata, pause and connect,
//! watching, the async SDK, refusals and another project's key — in
//! `tests/python/e2b`, run with pytest. Then sandboxer's own view: each
//! sandbox the SDK made is recorded, charged to the key's consumer and
//! project, destroyed, and in the ledger.

use super::daemon_support::{daemon_yaml, member_yaml, start};
use super::support::E2e;
use sandboxer_tests::loopback;
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

#[test]
fn the_official_e2b_sdk_works_sandboxes_through_the_e2b_api() {
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
         ttl: {default: 1h, max: 2h}\nspec: {compose_file: compose.yaml}\n",
    );
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
