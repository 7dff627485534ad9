//! Modal (issue 19): the official `modal` client, unmodified, and
//! `sandboxer-ext-modal` (Python, on that client) against the Modal stand-in
//! (`tests/standins/modal`), which a real daemon over compose-ssh backs. The
//! stand-in records the shape of every request; the client's are kept
//! (`tests/golden/modal-sdk-calls.json`) and the extension may send only those.

use super::daemon_support::{Daemon, start};
use super::e2b_provider::{OTHER_KEY, PROVIDER_KEY, TEMPLATE, provider};
use super::grpc_shapes::{foreign, golden, shapes};
use super::support::{free_port, kit_passes, start_standin};
use sandboxer_tests::pytest;
use std::path::{Path, PathBuf};

/// The stand-in over `daemon`, recording into `record`: its URL.
fn standin(daemon: &Daemon, record: &Path) -> (String, sandboxer_tests::process::KillOnDrop) {
    let port = free_port();
    let process = start_standin(
        "modal/server.py",
        &[
            "--sandboxer",
            &daemon.url,
            "--port",
            &port.to_string(),
            "--record",
            record.to_str().unwrap(),
        ],
    );
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

    let sent = shapes(&record);
    assert!(sent.len() > 10, "{sent:?}");
    let unrecorded = foreign(&sent, &golden("modal", Some(&sent)));
    assert!(unrecorded.is_empty(), "unrecorded: {unrecorded:#?}");
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
    let unrecorded = foreign(&shapes(&record), &golden("modal", None));
    assert!(
        unrecorded.is_empty(),
        "ext-modal sent what the client never does: {unrecorded:#?}"
    );
    let left = e2e.json(&["list"]);
    assert_eq!(left.as_array().unwrap().len(), 0, "{left}");
}
