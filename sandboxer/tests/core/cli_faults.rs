//! The core against misbehaving extensions (real child processes): crash mid-call,
//! garbage on stdout, a hang past the deadline, a cancelled slow call, a protocol
//! version it does not speak. Each error says what happened, with the extension's
//! exit status and stderr tail, and the sandbox is recorded as failed.

use super::support::{env, transitions};

fn quick_deadlines(env: &super::support::Env) {
    env.config(
        "timeouts:\n  handshake: 5s\n  call: 1s\n  create: 1s\n  destroy: 1s\n  grace: 500ms\n",
    );
}

fn create_with_fault(env: &super::support::Env, fault: &str, code: i32) -> String {
    let out = env
        .sandboxer(&[
            "create",
            "--profile",
            "fix",
            "--consumer",
            "agt:a",
            "--project",
            "p",
        ])
        .env("SANDBOXER_EXT_FIXTURE_FAULT", fault)
        .assert()
        .code(code);
    String::from_utf8(out.get_output().stderr.clone()).unwrap()
}

fn only_sandbox(env: &super::support::Env) -> serde_json::Value {
    let all = env.json(&["list", "--all"]);
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    all[0].clone()
}

#[test]
fn a_crash_mid_create_reports_exit_status_and_stderr_and_fails_the_sandbox() {
    let env = env();
    let err = create_with_fault(&env, "crash=sandbox/create", 5);
    assert!(
        err.contains("exited during sandbox/create (exit status 3)"),
        "{err}"
    );
    assert!(
        err.contains("fixture: crashing on purpose during sandbox/create"),
        "{err}"
    );
    let sandbox = only_sandbox(&env);
    assert_eq!(sandbox["state"], "failed");
    assert!(
        sandbox["last_error"]
            .as_str()
            .unwrap()
            .contains("exit status 3")
    );
    let id = sandbox["id"].as_str().unwrap();
    assert_eq!(
        transitions(&env.events_of(id)),
        ["->pending", "pending->provisioning", "provisioning->failed"]
    );
    // It can still be destroyed once the extension behaves.
    assert_eq!(env.json(&["destroy", id])["state"], "destroyed");
}

#[test]
fn garbage_on_stdout_is_a_protocol_violation() {
    let env = env();
    let err = create_with_fault(&env, "garbage=sandbox/create", 5);
    assert!(
        err.contains("broke the protocol during sandbox/create"),
        "{err}"
    );
    assert!(
        err.contains("\"this is not json\" is not JSON-RPC"),
        "{err}"
    );
    assert_eq!(only_sandbox(&env)["state"], "failed");
}

/// A line over 8 MiB is refused unread, even a well-formed one: the host
/// treats it as a protocol violation, as it does garbage.
#[test]
fn a_line_over_the_limit_is_a_protocol_violation() {
    let env = env();
    let err = create_with_fault(&env, "huge-log-in-create", 5);
    assert!(
        err.contains("broke the protocol during sandbox/create"),
        "{err}"
    );
    assert!(err.contains("exceeds the 8 MiB limit"), "{err}");
    assert_eq!(only_sandbox(&env)["state"], "failed");
}

#[test]
fn a_hung_extension_is_killed_after_the_deadline_and_grace() {
    let env = env();
    quick_deadlines(&env);
    let started = std::time::Instant::now();
    let err = create_with_fault(&env, "hang=sandbox/create", 5);
    assert!(err.contains("passed its deadline of 1s"), "{err}");
    assert!(err.contains("ignored the cancel and was killed"), "{err}");
    assert!(err.contains("fixture: hanging on purpose"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(only_sandbox(&env)["state"], "failed");
}

#[test]
fn a_slow_call_past_its_deadline_is_cancelled() {
    let env = env();
    quick_deadlines(&env);
    let err = create_with_fault(&env, "slow=sandbox/create:30000", 5);
    assert!(
        err.contains("passed its deadline of 1s; it was cancelled"),
        "{err}"
    );
    assert_eq!(only_sandbox(&env)["state"], "failed");
}

#[test]
fn a_failed_destroy_stays_destroying_with_an_event_and_is_retried() {
    let env = env();
    let id = env.create(&[])["id"].as_str().unwrap().to_string();
    let out = env
        .sandboxer(&["destroy", &id])
        .env("SANDBOXER_EXT_FIXTURE_FAULT", "unavailable=sandbox/destroy")
        .assert()
        .code(5);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(err.contains("Unavailable (1006)"), "{err}");
    assert_eq!(env.json(&["get", &id, "--cached"])["state"], "destroying");
    assert!(
        env.events_of(&id)
            .iter()
            .any(|e| e["kind"] == "extension_error")
    );
    assert!(env.env.fixture_record(&id).is_some());
    assert_eq!(env.json(&["destroy", &id])["state"], "destroyed");
    assert!(env.env.fixture_record(&id).is_none());
}

#[test]
fn a_protocol_version_mismatch_shows_both_versions() {
    let env = env();
    let out = env
        .sandboxer(&["extensions", "show", "fixture"])
        .env("SANDBOXER_EXT_FIXTURE_FAULT", "protocol=2.0")
        .assert()
        .code(5);
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(
        stdout.contains(&format!(
            "speaks protocol 2.0, this sandboxer speaks {}",
            sandboxer_ext_protocol::PROTOCOL_VERSION
        )),
        "{stdout}"
    );
    assert!(stderr.contains("handshake failed"), "{stderr}");
    let err = create_with_fault(&env, "protocol=2.0", 5);
    assert!(
        err.contains(&format!(
            "speaks protocol 2.0, this sandboxer speaks {}",
            sandboxer_ext_protocol::PROTOCOL_VERSION
        )),
        "{err}"
    );
}

/// A command's own timeout governs its call: the host waits past its call
/// deadline (here 1 s) for a command given longer, and a command past its
/// timeout is the extension's DeadlineExceeded, not a hung extension.
#[test]
fn an_exec_runs_for_its_own_timeout_not_the_call_deadline() {
    let env = env();
    let id = env.create(&[])["id"].as_str().unwrap().to_string();
    quick_deadlines(&env);
    let done = env.ok(&[
        "exec",
        &id,
        "--timeout",
        "5s",
        "--",
        "sh",
        "-c",
        "sleep 2; echo done",
    ]);
    assert_eq!(done, "done\n");
    let err = env.fails(&["exec", &id, "--timeout", "1s", "--", "sleep", "4"], 5);
    assert!(err.contains("the command timed out"), "{err}");
    assert!(
        !err.contains("killed"),
        "the extension was not treated as hung: {err}"
    );
}
