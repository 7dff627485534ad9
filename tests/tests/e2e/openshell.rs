//! OpenShell (issue 19): the official `openshell` client, unmodified, and
//! `sandboxer-ext-openshell` (Python, on that client) against the OpenShell
//! stand-in gateway (`tests/standins/openshell`), which a real daemon over
//! compose-ssh backs. The stand-in records the shape of every request; the
//! client's are kept (`tests/golden/openshell-sdk-calls.json`) and the
//! extension may send only those.

use super::daemon_support::{Daemon, start};
use super::e2b_provider::{OTHER_KEY, PROVIDER_KEY, TEMPLATE, provider};
use super::grpc_shapes::{assert_client_shapes, recording_standin, shapes};
use super::support::kit_passes;
use sandboxer_tests::pytest;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The stand-in gateway over `daemon`, recording into `record`: its
/// `host:port`.
fn gateway(daemon: &Daemon, record: &Path) -> (String, sandboxer_tests::process::KillOnDrop) {
    let (port, process) = recording_standin("openshell/server.py", daemon, record);
    (format!("127.0.0.1:{port}"), process)
}

#[test]
fn the_official_openshell_client_works_sandboxes_through_the_stand_in() {
    let e2e = provider("");
    let daemon = start(&e2e);
    let record = e2e.env.path("openshell-calls.jsonl");
    let (endpoint, _gateway) = gateway(&daemon, &record);
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let report = pytest::run(&here.join("python/openshell"), |pytest| {
        pytest
            .env("OPENSHELL_ENDPOINT", &endpoint)
            .env("OPENSHELL_TOKEN", PROVIDER_KEY)
            .env("OPENSHELL_OTHER_TOKEN", OTHER_KEY)
            .env("SANDBOXER_OPENSHELL_IMAGE", TEMPLATE)
            .current_dir(e2e.env.path(""));
    });
    pytest::assert_passed(
        &report,
        &[
            "test_a_sandbox_is_created_worked_in_listed_reconfigured_and_deleted",
            "test_a_policy_without_a_port_is_refused_naming_the_field",
            "test_a_wrong_token_or_another_projects_sees_nothing",
        ],
    );
    // Every sandbox the client made was a real one of the daemon, now gone.
    let left = e2e.json(&["list"]);
    assert_eq!(left.as_array().unwrap().len(), 0, "{left}");

    assert!(shapes(&record).len() > 5);
    assert_client_shapes("openshell", &record, "the client", true);
}

#[test]
fn the_kit_passes_ext_openshell_against_the_stand_in() {
    let e2e = provider("");
    let daemon = start(&e2e);
    let record = e2e.env.path("openshell-calls.jsonl");
    let (endpoint, _gateway) = gateway(&daemon, &record);
    let options = serde_json::json!({"endpoint": endpoint, "token": PROVIDER_KEY});
    let profile = serde_json::json!({"id": "profile.conformance", "version": "1",
                                     "spec": {"image": TEMPLATE}});
    kit_passes(
        &e2e.env.path(""),
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ext-openshell/sandboxer-ext-openshell"),
        &serde_json::json!({"options": options, "profile": profile}),
        &[
            "framing.oversized-line",
            "robustness.shutdown-during-call",
            "robustness.sigterm",
            "lifecycle.list-label-filter",
            "idempotency.same-create",
            "idempotency.conflicting-create",
            "concurrency.racing-creates-one-id",
            "secrets.not-in-labels",
            "optional.exec-output",
            "optional.exec-stdin",
            "optional.exec-timeout",
            "optional.exec-cancel",
            "optional.exec-missing-command",
            "optional.cost-estimate-shape",
            "optional.host-health-shape",
        ],
    );
    // It spoke as the official client speaks.
    assert_client_shapes("openshell", &record, "ext-openshell", false);
    let left = e2e.json(&["list"]);
    assert_eq!(left.as_array().unwrap().len(), 0, "{left}");
}

/// What the stand-in gateway holds as sandbox `name`'s policy: its network
/// rules as `rule: host:port…` lines, read with the official client.
fn policy_at(endpoint: &str, name: &str) -> String {
    let script = r#"
import sys
from openshell import SandboxClient
from openshell._proto import sandbox_pb2
from openshell._proto.openshell_pb2_grpc import OpenShellStub
endpoint, token, name = sys.argv[1:]
client = SandboxClient(endpoint, bearer_token=token)
config = OpenShellStub(client._channel).GetSandboxConfig(
    sandbox_pb2.GetSandboxConfigRequest(name=name, workspace_scope={"workspace": "default"}),
    metadata=[("authorization", "Bearer " + token)])
for key, rule in sorted(config.policy.network_policies.items()):
    print(key + ": " + " ".join(f"{e.host or ','.join(e.allowed_ips)}:{e.port}" for e in rule.endpoints)
          + " for " + ",".join(b.path for b in rule.binaries))
"#;
    let out = Command::new(sandboxer_tests::mcp_client::PYTHON)
        .args(["-c", script, endpoint, PROVIDER_KEY, name])
        .output()
        .unwrap();
    sandboxer_tests::assert_succeeded(&out, "reading the policy");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_wildcard_allow_list_routes_to_openshell_and_the_guarantees_say_why() {
    let provider = provider("");
    let daemon = start(&provider);
    let (endpoint, _gateway) = gateway(&daemon, &provider.env.path("calls.jsonl"));
    let user = super::support::E2e::new();
    user.env.install_extension(
        "openshell",
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ext-openshell/sandboxer-ext-openshell"),
    );
    let path = user.env.config_path();
    let mut config = std::fs::read_to_string(&path).unwrap();
    config += &format!(
        "  openshell:\n    options: {{endpoint: \"{endpoint}\", token: \"{PROVIDER_KEY}\"}}\n"
    );
    std::fs::write(&path, config).unwrap();
    user.sleeper_profile(
        "pypi",
        &format!(
            "ttl: {{default: 1h, max: 2h}}\n\
             network: {{egress: deny, allow: [\"*.pythonhosted.org:443\", \"pypi.org:443\"]}}\n\
             extensions:\n  - {{extension: ext.compose-ssh, prefer: 5, spec: {{compose_file: compose.yaml}}}}\n  \
             - {{extension: ext.openshell, spec: {{image: {TEMPLATE}}}}}\n"
        ),
    );

    // The matrix: only OpenShell matches destinations by name, wildcards too.
    let report = user.json(&["inspect", "--profile", "pypi"]);
    let support = |ext: &str, guarantee: &str| -> String {
        report["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["extension"] == ext)
            .and_then(|c| {
                c["verdicts"]
                    .as_array()?
                    .iter()
                    .find(|v| v["guarantee"] == guarantee)
            })
            .unwrap_or_else(|| panic!("{ext} {guarantee} in {report}"))["support"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(support("ext.openshell", "egress"), "native", "{report}");
    assert_eq!(
        support("ext.openshell", "egress.domains"),
        "native",
        "{report}"
    );
    assert_eq!(support("ext.compose-ssh", "egress"), "cannot", "{report}");
    assert_eq!(
        support("ext.compose-ssh", "egress.domains"),
        "cannot",
        "{report}"
    );
    let table = user
        .sandboxer(&["inspect", "--profile", "pypi"])
        .assert()
        .success();
    let table = String::from_utf8_lossy(&table.get_output().stdout).to_string();
    assert!(table.contains("egress.domains"), "{table}");

    // So routing passes over the preferred compose-ssh, saying why.
    let owner = ["--consumer", "atm:e2e", "--project", user.project.as_str()];
    let mut args = vec!["route", "--profile", "pypi", "--explain"];
    args.extend_from_slice(&owner);
    let route = user.json(&args);
    let row = |name: &str| {
        route["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["extension"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(row("ext.openshell")["rank"], 1, "{route}");
    let why = row("ext.compose-ssh")["excluded"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        why.contains("egress") && why.contains("egress.domains"),
        "{route}"
    );

    // The sandbox is made on OpenShell with the list as its policy's rule.
    let mut args = vec!["create", "--profile", "pypi", "--wait"];
    args.extend_from_slice(&owner);
    let created = user.json(&args);
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["extension"], "ext.openshell", "{created}");
    let ran = user.json(&["exec", &id, "--", "sh", "-c", "echo on openshell"]);
    assert_eq!(ran["stdout"], "on openshell\n", "{ran}");
    assert_eq!(
        policy_at(&endpoint, &id),
        "sandboxer_egress: *.pythonhosted.org:443 pypi.org:443 for /**\n"
    );
    user.json(&["destroy", &id]);
    let left = provider.json(&["list"]);
    assert_eq!(left.as_array().unwrap().len(), 0, "{left}");
}

/// A session with `extension`: an `initialize` with `options`, then `more`
/// messages; the first `answers` lines it writes, as JSON. Stdin is closed
/// after, so it ends.
pub(super) fn converse(
    extension: &Path,
    options: serde_json::Value,
    more: &[serde_json::Value],
    answers: usize,
) -> Vec<serde_json::Value> {
    use std::io::{BufRead, Write};
    let mut child = Command::new(extension)
        .arg("--stdio")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let initialize = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocol_version": "1.6", "host": {"name": "t", "version": "0"},
                   "options": options}});
    let mut stdin = child.stdin.take().unwrap();
    for line in std::iter::once(&initialize).chain(more) {
        writeln!(stdin, "{line}").unwrap();
    }
    let read: Vec<serde_json::Value> = std::io::BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(answers)
        .map(|l| {
            let l = l.unwrap();
            serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l:?}"))
        })
        .collect();
    drop(stdin);
    let _ = child.wait();
    read
}

/// The answer of `extension` to an `initialize` with `options`.
fn handshake(extension: &Path, options: serde_json::Value) -> serde_json::Value {
    converse(extension, options, &[], 1).remove(0)
}

#[test]
fn an_option_the_extension_cannot_use_is_refused_naming_it_and_a_token_stays_off_the_wire() {
    let openshell =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ext-openshell/sandboxer-ext-openshell");
    for (options, field) in [
        (
            serde_json::json!({"ready_timeout_s": "soon"}),
            "options.ready_timeout_s",
        ),
        (
            serde_json::json!({"usd_per_hour": "NaN"}),
            "options.usd_per_hour",
        ),
        // A bearer token over plaintext to another machine is refused.
        (
            serde_json::json!({"endpoint": "10.0.0.1:8080", "token": "secret-token"}),
            "options.endpoint",
        ),
        // An option the client itself cannot use: still an answer, not a crash.
        (
            serde_json::json!({"ca_path": "/nonexistent/ca.pem"}),
            "options",
        ),
    ] {
        let answer = handshake(&openshell, options.clone());
        assert_eq!(answer["error"]["code"], 1003, "{options}: {answer}");
        assert_eq!(
            answer["error"]["data"]["details"]["field"], field,
            "{answer}"
        );
        assert!(!answer.to_string().contains("secret-token"), "{answer}");
    }
    // Loopback without TLS is fine, with the token.
    let answer = handshake(
        &openshell,
        serde_json::json!({"endpoint": "127.0.0.1:8080", "token": "t"}),
    );
    assert_eq!(
        answer["result"]["extension"]["name"], "openshell",
        "{answer}"
    );
    let modal = super::modal::extension();
    let answer = handshake(&modal, serde_json::json!({"usd_per_core_second": "NaN"}));
    assert_eq!(
        answer["error"]["data"]["details"]["field"], "options.usd_per_core_second",
        "{answer}"
    );
}
