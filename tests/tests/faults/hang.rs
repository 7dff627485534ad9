//! An extension that hangs: compose-ssh stopped (SIGSTOP) at random points of a
//! create (the handshake, the cost estimate, the create, the readiness polls), so it
//! neither answers nor honours the cancel. The core gives up at that call's
//! deadline, kills it, records the sandbox failed with the reason (or records
//! nothing, if it hung before the intent was written), and recovery leaves nothing
//! behind.

use super::recovery::{
    Points, Storage, assert_consistent, children_of, create_args, fault_profile, records, recover,
};
use super::support::E2e;
use sandboxer_tests::{bin, loopback};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn a_hanging_extension_is_killed_at_its_deadline_and_nothing_is_lost() {
    let e2e = E2e::new();
    e2e.configure_with(
        &[loopback::host_yaml("loopback", &e2e.workdir)],
        "timeouts:\n  handshake: 4s\n  call: 4s\n  create: 4s\n  grace: 500ms\n",
    );
    fault_profile(&e2e);
    let mut points = Points::new("hang");
    for _ in 0..3 {
        let mut child = e2e
            .env
            .process(&bin("sandboxer"))
            .args(create_args(&e2e))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let after = points.below(1200);
        let mut stopped = false;
        while !stopped && child.try_wait().unwrap().is_none() {
            if started.elapsed() >= after {
                for (pid, comm) in children_of(child.id()) {
                    if comm.starts_with("sandboxer-ext") {
                        // SAFETY: a signal to a process of this test's own tree.
                        unsafe { libc::kill(pid, libc::SIGSTOP) };
                        stopped = true;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let status = child.wait().unwrap();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(15), "the create took {took:?}");
        // Stopped after its create was answered (at shutdown), it may still
        // succeed; whatever the outcome, the record below must say it.
        assert_ne!(status.code(), Some(101), "the CLI panicked");
    }
    let failed: Vec<_> = records(&e2e)
        .into_iter()
        .filter(|r| r["state"] == "failed")
        .collect();
    for r in &failed {
        let why = r["last_error"].as_str().unwrap_or_default();
        assert!(why.contains("deadline"), "{why}");
    }
    std::thread::sleep(Duration::from_secs(4));
    recover(&e2e, Duration::from_secs(60));
    assert_consistent(&e2e, Storage::Machine);
}
