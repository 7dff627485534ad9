//! The kit removes what it created: after an interrupted run (SIGINT), and with
//! `--cleanup-only` for what earlier runs left.

use sandboxer_tests::{bin, fixture_ext, session::Session};
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sandboxes_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count()
}

#[test]
fn an_interrupted_run_still_cleans_up() {
    let state = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin("sandboxer-conformance"))
        .arg("run")
        .arg(fixture_ext())
        .env("SANDBOXER_EXT_FIXTURE_STATE_DIR", state.path())
        .env("SANDBOXER_EXT_FIXTURE_FAULT", "slow=sandbox/create:700")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the run has created something, then interrupt it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while sandboxes_in(state.path()) == 0 {
        assert!(Instant::now() < deadline, "the run never created a sandbox");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill sends SIGINT to our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    let mut report = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut report).unwrap();
    assert!(report.contains("interrupted"), "{report}");
    assert!(
        status.code().is_some(),
        "the kit exited by itself after cleaning up"
    );
    assert_eq!(
        sandboxes_in(state.path()),
        0,
        "everything the run created was destroyed"
    );
}

#[test]
fn cleanup_only_removes_what_earlier_runs_left() {
    let state = tempfile::tempdir().unwrap();
    let options = json!({"state_dir": state.path()});
    let mut ext = Session::start(&fixture_ext(), options);
    for (id, labels) in [
        (
            "cfold-1",
            json!({"sandboxer.conformance-run": "cfold", "sandboxer.id": "cfold-1"}),
        ),
        ("keep-1", json!({"sandboxer.id": "keep-1"})),
    ] {
        ext.ok(
            "sandbox/create",
            json!({"sandbox_id": id, "profile": {"id": "profile.x", "version": "1", "spec": {}},
            "labels": labels, "expires_at": "2030-01-01T00:00:00Z"}),
        );
    }
    drop(ext);
    let out = Command::new(bin("sandboxer-conformance"))
        .arg("run")
        .arg(fixture_ext())
        .arg("--cleanup-only")
        .env("SANDBOXER_EXT_FIXTURE_STATE_DIR", state.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("removed 1 sandbox(es)"));
    assert!(!state.path().join("cfold-1.json").exists());
    assert!(
        state.path().join("keep-1.json").exists(),
        "only the kit's own leftovers go"
    );
}
