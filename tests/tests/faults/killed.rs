//! The extension (compose-ssh on the loopback host) killed with SIGKILL at random
//! points of create and of destroy, twenty times each; its ssh and podman-compose
//! children live on, as they would after a real crash.

use super::recovery::{
    Points, Storage, assert_consistent, create_args, fault_profile, kill_extension_of, records,
    recover,
};
use super::support::E2e;
use sandboxer_tests::bin;
use std::process::Stdio;
use std::time::{Duration, Instant};

const ROUNDS: usize = 20;

/// Runs `sandboxer ARGS`, kills its extension after `after` (if it still runs),
/// and waits for the command to end; whether it succeeded.
fn run_killed(e2e: &E2e, args: &[&str], after: Duration) -> bool {
    let mut child = e2e
        .env
        .process(&bin("sandboxer"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while started.elapsed() < after {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    kill_extension_of(child.id());
    child.wait().is_ok_and(|s| s.success())
}

#[test]
fn the_extension_killed_at_random_points_of_create_and_destroy_loses_nothing() {
    let e2e = E2e::new();
    fault_profile(&e2e);
    let mut points = Points::new("killed");
    // A create killed before it is admitted (the handshake, the price, the
    // profile check) fails having made nothing, and has no record; any other
    // is recorded. What exists on the machine is checked against the records
    // below (nothing unrecorded may be left).
    let mut refused = 0;
    for _ in 0..ROUNDS {
        let after = points.below(2500);
        let args = create_args(&e2e);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let before = records(&e2e).len();
        let succeeded = run_killed(&e2e, &args, after);
        if records(&e2e).len() == before {
            assert!(!succeeded, "a create that succeeded left no record");
            refused += 1;
        }
    }
    let made = records(&e2e);
    eprintln!("{refused} creates killed before they were admitted");
    assert_eq!(
        made.len() + refused,
        ROUNDS,
        "every create is recorded unless it failed before being admitted"
    );
    let mut destroyed = 0;
    for r in made.iter().filter(|r| r["state"] == "ready") {
        let after = points.below(800);
        run_killed(&e2e, &["destroy", r["id"].as_str().unwrap()], after);
        destroyed += 1;
    }
    eprintln!("{destroyed} destroys attempted under kills");
    // podman-compose runs that outlived their extension finish.
    std::thread::sleep(Duration::from_secs(6));

    recover(&e2e, Duration::from_secs(120));
    assert_consistent(&e2e, Storage::Machine);
    // What was asked to go is gone; nothing is left half-made.
    for r in records(&e2e) {
        assert!(
            matches!(r["state"].as_str(), Some("ready" | "failed" | "destroyed")),
            "{r}"
        );
    }
}
