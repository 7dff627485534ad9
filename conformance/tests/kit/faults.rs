//! Every fault of the fault injector is caught by exactly the checks that cover
//! it; without a fault, everything passes. Protocol faults come from
//! `sandboxer-test-ext-faulty` (a relay that breaks the stream one way), backend faults
//! from the fixture's own switches.

use super::support::{KitRun, kit};
use std::collections::BTreeSet;

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// The kit's run against the faulty relay in `mode`, on a fresh fixture state.
fn relay_run(mode: &str) -> KitRun {
    let state = tempfile::tempdir().unwrap();
    kit(
        &sandboxer_tests::faulty_ext(),
        &[],
        &[
            ("SANDBOXER_EXT_FAULTY_MODE", mode),
            (
                "SANDBOXER_EXT_FIXTURE_STATE_DIR",
                state.path().to_str().unwrap(),
            ),
        ],
    )
}

/// Runs the kit against the relay in `mode`.
fn protocol_fault(mode: &str, expected: &[&str]) {
    let run = relay_run(mode);
    assert_eq!(run.failed(), set(expected), "fault {mode}\n{}", run.stderr);
    let must = expected.iter().any(|id| {
        run.report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == *id && c["level"] == "MUST")
    });
    assert_eq!(
        run.code,
        if must { 1 } else { 0 },
        "exit code for fault {mode}"
    );
}

/// Runs the kit against the fixture with `SANDBOXER_EXT_FIXTURE_FAULT=fault`.
fn backend_fault(fault: &str, expected: &[&str]) {
    let state = tempfile::tempdir().unwrap();
    let run = kit(
        &sandboxer_tests::fixture_ext(),
        &[],
        &[
            ("SANDBOXER_EXT_FIXTURE_FAULT", fault),
            (
                "SANDBOXER_EXT_FIXTURE_STATE_DIR",
                state.path().to_str().unwrap(),
            ),
        ],
    );
    assert_eq!(run.failed(), set(expected), "fault {fault}\n{}", run.stderr);
    assert_eq!(run.code, 1);
}

#[test]
fn without_a_fault_everything_passes() {
    protocol_fault("", &[]);
}

#[test]
fn logs_on_stdout() {
    protocol_fault(
        "stdout-log",
        &[
            "framing.stdout-is-json-rpc",
            "framing.stdout-json-rpc-in-every-session",
        ],
    );
}

/// One log line on stdout after each create: the framing session alone would
/// not see it.
#[test]
fn logs_on_stdout_during_create() {
    protocol_fault(
        "stdout-log-during-create",
        &["framing.stdout-json-rpc-in-every-session"],
    );
}

#[test]
fn answers_shutdown_before_the_calls_in_flight() {
    protocol_fault(
        "early-shutdown-answer",
        &["robustness.shutdown-during-call"],
    );
}

/// An extension that refuses profile fields it does not know fails at the
/// first create the way the core sends it (typed files and cost), not later in
/// production.
#[test]
fn refuses_the_typed_profile_fields() {
    let run = relay_run("strict-profile");
    let failed = run.failed();
    for id in ["lifecycle.create-result", "idempotency.same-create"] {
        assert!(failed.contains(id), "{id} should fail: {failed:?}");
    }
    assert_eq!(run.code, 1);
}

#[test]
fn ignores_cancel_of_a_long_exec() {
    protocol_fault("ignore-cancel-exec", &["optional.exec-cancel"]);
}

#[test]
fn wrong_id_echo() {
    protocol_fault(
        "wrong-id",
        &[
            "framing.string-id-echoed",
            "concurrency.parallel-creates",
            "concurrency.pipelined-ids",
            "notifications.cancel-long-call",
        ],
    );
}

#[test]
fn ignores_cancel() {
    protocol_fault(
        "ignore-cancel",
        &["notifications.cancel-long-call", "optional.exec-cancel"],
    );
}

#[test]
fn progress_without_a_token() {
    protocol_fault(
        "progress-without-token",
        &["notifications.progress-only-with-token"],
    );
}

#[test]
fn progress_after_the_response() {
    protocol_fault(
        "progress-after-response",
        &["notifications.no-progress-after-response"],
    );
}

#[test]
fn accepts_any_version() {
    protocol_fault(
        "accept-any-version",
        &["handshake.unsupported-major", "handshake.supported-lists-1"],
    );
}

#[test]
fn answers_before_initialize() {
    protocol_fault("no-not-initialized", &["handshake.not-initialized"]);
}

#[test]
fn hangs_on_shutdown() {
    protocol_fault(
        "hang-on-shutdown",
        &[
            "robustness.shutdown-exit",
            "robustness.shutdown-during-call",
            "robustness.request-after-shutdown",
        ],
    );
}

#[test]
fn ignores_sigterm() {
    protocol_fault("ignore-sigterm", &["robustness.sigterm"]);
}

#[test]
fn does_not_exit_on_eof() {
    protocol_fault(
        "no-exit-on-eof",
        &[
            "launch.exits-on-eof-before-handshake",
            "robustness.stdin-close-exit",
            "robustness.shutdown-exit",
            "robustness.shutdown-during-call",
        ],
    );
}

#[test]
fn destroy_not_idempotent() {
    backend_fault(
        "destroy-not-idempotent",
        &[
            "idempotency.destroy-twice",
            "idempotency.destroy-unknown",
            "concurrency.racing-destroys",
        ],
    );
}

#[test]
fn not_found_with_the_wrong_code() {
    backend_fault(
        "notfound-wrong-code",
        &[
            "lifecycle.get-after-destroy",
            "validation.unknown-id-get",
            "validation.unknown-id-exec",
            "validation.unknown-id-extend",
            "validation.error-data",
            "concurrency.racing-destroys",
            "optional.restore-missing-snapshot",
        ],
    );
}

#[test]
fn secret_in_stderr() {
    backend_fault("secret-in-stderr", &["secrets.not-in-stderr"]);
}

#[test]
fn secret_in_labels() {
    backend_fault(
        "secret-in-labels",
        &[
            "secrets.not-in-labels",
            "secrets.not-in-later-responses",
            "secrets.not-on-stdout",
        ],
    );
}

#[test]
fn leaks_a_sandbox() {
    backend_fault(
        "leak",
        &[
            "lifecycle.get-after-destroy",
            "lifecycle.gone-from-list",
            "concurrency.racing-destroys",
            "robustness.nothing-left-behind",
        ],
    );
}

#[test]
fn drops_labels() {
    backend_fault(
        "drop-labels",
        &["lifecycle.labels-kept", "lifecycle.list-label-filter"],
    );
}

#[test]
fn create_not_idempotent() {
    backend_fault("create-not-idempotent", &["idempotency.same-create"]);
}
