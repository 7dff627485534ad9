//! Modal (issue 19): the official `modal` client, unmodified, and
//! `sandboxer-ext-modal` (Python, on that client) against the Modal stand-in
//! (`tests/standins/modal`), which a real daemon over compose-ssh backs. The
//! stand-in records the shape of every request; the client's are kept
//! (`tests/golden/modal-sdk-calls.json`) and the extension may send only those.

use super::daemon_support::{Daemon, start};
use super::e2b_provider::{OTHER_KEY, PROVIDER_KEY, TEMPLATE, provider};
use super::grpc_shapes::{assert_client_shapes, recording_standin, shapes};
use super::support::kit_passes;
use sandboxer_tests::pytest;
use std::path::{Path, PathBuf};

/// The stand-in over `daemon`, recording into `record`: its URL.
fn standin(daemon: &Daemon, record: &Path) -> (String, sandboxer_tests::process::KillOnDrop) {
    let (port, process) = recording_standin("modal/server.py", daemon, record);
    (format!("http://127.0.0.1:{port}"), process)
}

pub(super) fn extension() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ext-modal/sandboxer-ext-modal")
}

#[test]
fn the_official_modal_client_works_sandboxes_through_the_stand_in() {
    let e2e = provider("");
    let daemon = start(&e2e);
    let record = e2e.env.path("modal-calls.jsonl");
    let (url, _standin) = standin(&daemon, &record);
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let report = pytest::run(&here.join("python/modal"), |pytest| {
        pytest
            .env("MODAL_SERVER_URL", &url)
            .env("MODAL_TOKEN_ID", "ak-e2e")
            .env("MODAL_TOKEN_SECRET", PROVIDER_KEY)
            .env("MODAL_OTHER_TOKEN_SECRET", OTHER_KEY)
            .env("MODAL_CONFIG_PATH", e2e.env.path("no-modal.toml"))
            .env("SANDBOXER_MODAL_IMAGE", TEMPLATE)
            .current_dir(e2e.env.path(""));
    });
    pytest::assert_passed(
        &report,
        &[
            "test_the_api_answers_hello",
            "test_a_sandbox_is_created_worked_in_snapshotted_listed_and_terminated",
            "test_a_wrong_token_is_refused_and_another_projects_sees_nothing",
        ],
    );
    let left = e2e.json(&["list"]);
    assert_eq!(left.as_array().unwrap().len(), 0, "{left}");

    assert!(shapes(&record).len() > 10);
    assert_client_shapes("modal", &record, "the client", true);
}

#[test]
fn the_kit_passes_ext_modal_against_the_stand_in() {
    let e2e = provider("");
    let daemon = start(&e2e);
    let record = e2e.env.path("modal-calls.jsonl");
    let (url, _standin) = standin(&daemon, &record);
    let options = serde_json::json!({
        "server_url": url, "token_id": "ak-e2e", "token_secret": PROVIDER_KEY,
    });
    let profile = serde_json::json!({"id": "profile.conformance", "version": "1",
                                     "spec": {"image": TEMPLATE}});
    kit_passes(
        &e2e.env.path(""),
        &extension(),
        &serde_json::json!({"options": options, "profile": profile}),
        &[
            "lifecycle.list-label-filter",
            "idempotency.same-create",
            "idempotency.conflicting-create",
            "concurrency.racing-creates-one-id",
            "secrets.not-in-labels",
            "optional.exec-output",
            "optional.exec-stdin",
            "optional.exec-timeout",
            "optional.exec-missing-command",
            "optional.snapshot-restore",
            "optional.cost-estimate-shape",
            "optional.host-health-shape",
        ],
    );
    assert_client_shapes("modal", &record, "ext-modal", false);
    let left = e2e.json(&["list"]);
    assert_eq!(left.as_array().unwrap().len(), 0, "{left}");
}

#[test]
fn a_create_that_would_outlive_modals_timeout_is_refused_naming_expires_at() {
    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let answers = super::openshell::converse(
        &extension(),
        serde_json::json!({"timeout_s": 3600}),
        &[
            serde_json::json!({"jsonrpc": "2.0", "method": "initialized"}),
            serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "sandbox/create",
                "params": {"sandbox_id": "sb1", "expires_at": later,
                           "profile": {"id": "profile.p", "version": "1", "spec": {"image": "x"}}}}),
        ],
        2,
    );
    let answer = &answers[1];
    assert_eq!(answer["error"]["code"], 1003, "{answer}");
    assert_eq!(
        answer["error"]["data"]["details"]["field"], "expires_at",
        "{answer}"
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("3600 s"),
        "{answer}"
    );
}
