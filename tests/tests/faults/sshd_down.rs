//! sshd stopped in the middle of a destroy and started again: the fault suite's
//! own test host h3 (`scripts/test-hosts.sh`: a network namespace with its own
//! address, sshd and podman storage). The interrupted destroy is retried by the
//! reaper once the host is back, until nothing of the sandbox is left there.

use super::recovery::{Points, Storage, assert_consistent, fault_profile, records, recover};
use super::support::{E2e, test_host_yaml, test_hosts};
use sandboxer_tests::bin;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Brings h3's sshd back however the test ends.
struct Back;

impl Drop for Back {
    fn drop(&mut self) {
        test_hosts(&["start-sshd", "h3"]);
    }
}

#[test]
fn a_destroy_cut_off_by_sshd_going_down_is_finished_when_it_is_back() {
    let e2e = E2e::new();
    let _back = Back;
    e2e.configure(&[test_host_yaml(3, &e2e.workdir, "")]);
    fault_profile(&e2e);
    let mut points = Points::new("sshd_down");
    let mut ids = vec![];
    for _ in 0..3 {
        let created = e2e.create("fault", &[]);
        ids.push(created["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        let mut destroy = e2e
            .env
            .process(&bin("sandboxer"))
            .args(["destroy", id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(points.below(400));
        test_hosts(&["stop-sshd", "h3"]);
        let started = Instant::now();
        let _ = destroy.wait();
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the destroy hung"
        );
        let state = records(&e2e)
            .into_iter()
            .find(|r| r["id"] == id.as_str())
            .unwrap()["state"]
            .clone();
        assert!(
            state == "destroyed" || state == "destroying",
            "{id}: {state}"
        );
        // While the host is down, a retry fails and the record stays.
        e2e.sandboxer(&["reap-stale"]).assert().success();
        test_hosts(&["start-sshd", "h3"]);
    }
    recover(&e2e, Duration::from_secs(120));
    for id in &ids {
        let r = records(&e2e)
            .into_iter()
            .find(|r| r["id"] == id.as_str())
            .unwrap();
        assert_eq!(r["state"], "destroyed", "{r}");
    }
    let label = format!("sandboxer.project={}", e2e.project);
    assert!(Storage::TestHost(3).holders(&label).is_empty());
    assert_consistent(&e2e, Storage::TestHost(3));
}
