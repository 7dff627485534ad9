//! Placement across hosts: two real hosts made by `scripts/test-hosts.sh` (network
//! namespaces with their own address, sshd, podman storage and API service). New
//! sandboxes spread by headroom, land only on hosts with the profile's labels, and
//! avoid a host whose sshd is down, which then shows as unreachable.

use super::support::{E2e, TEST_HOSTS, test_host_yaml, test_hosts};
use sandboxer_tests::loopback;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Brings h2's sshd back however the test ends (the test's own `E2e` removes
/// what it left on every host).
struct HostsBack;

impl Drop for HostsBack {
    fn drop(&mut self) {
        test_hosts(&["start-sshd", "h2"]);
    }
}

fn host_yaml(n: u8, workdir: &Path) -> String {
    test_host_yaml(n, workdir, "capacity: 2, labels: {zone: spread}")
}

/// Containers of sandbox `id` in host `n`'s own podman storage, asked over ssh.
fn containers_on(n: u8, id: &str) -> usize {
    let out = sandboxer_tests::run_ok(Command::new("ssh").args([
        "-o",
        "BatchMode=yes",
        "-o",
        &format!("UserKnownHostsFile={TEST_HOSTS}/known_hosts"),
        "-i",
        &loopback::identity().display().to_string(),
        &format!("root@10.215.{n}.2"),
        &format!("podman ps -q --filter label=sandboxer.id={id}"),
    ]));
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn create(e2e: &E2e) -> assert_cmd::assert::Assert {
    e2e.sandboxer(&[
        "--json",
        "create",
        "--profile",
        "spread",
        "--consumer",
        "atm:e2e",
        "--project",
        &e2e.project,
        "--wait",
    ])
    .assert()
}

fn created_on(e2e: &E2e) -> (String, String) {
    let out = create(e2e).success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    (
        v["id"].as_str().unwrap().to_string(),
        v["host"].as_str().unwrap().to_string(),
    )
}

#[test]
fn sandboxes_spread_by_headroom_and_avoid_a_host_that_is_down() {
    let e2e = E2e::new();
    let _back = HostsBack;
    // The loopback host lacks the profile's label: it must never be chosen.
    e2e.configure(&[
        loopback::host_yaml("loopback", &e2e.workdir),
        host_yaml(1, &e2e.workdir),
        host_yaml(2, &e2e.workdir),
    ]);
    e2e.sleeper_profile(
        "spread",
        "extension: ext.compose-ssh\nttl: {default: 1h, max: 2h}\n\
         placement: {labels: {zone: spread}}\nspec: {compose_file: compose.yaml}\n",
    );

    // Equal headroom: the first in the configuration; then the emptier one.
    let (a, on_a) = created_on(&e2e);
    let (b, on_b) = created_on(&e2e);
    assert_eq!((on_a.as_str(), on_b.as_str()), ("h1", "h2"));
    assert_eq!(
        (containers_on(1, &a), containers_on(2, &a)),
        (1, 0),
        "a runs on h1 only"
    );
    assert_eq!(
        (containers_on(1, &b), containers_on(2, &b)),
        (0, 1),
        "b runs on h2 only"
    );
    assert_eq!(
        super::support::podman_count("ps -a", &format!("sandboxer.id={a}")),
        0
    );

    // h2 goes down: the next sandbox lands on h1, and h2 shows unreachable.
    test_hosts(&["stop-sshd", "h2"]);
    let (c, on_c) = created_on(&e2e);
    assert_eq!(on_c, "h1");
    let hosts = e2e.json(&["hosts"]);
    let h2 = hosts
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "h2")
        .unwrap_or_else(|| panic!("{hosts}"));
    assert_eq!(h2["reachable"], false, "{h2}");

    // h1 is full and h2 down: the create fails saying so, host by host.
    let out = create(&e2e).failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("h1: full (2 of capacity 2 in use)"), "{err}");
    assert!(err.contains("h2: unreachable"), "{err}");
    assert!(!err.contains("loopback"), "{err}");

    test_hosts(&["start-sshd", "h2"]);
    for id in [&a, &b, &c] {
        e2e.json(&["destroy", id]);
    }
    assert_eq!(
        containers_on(1, &a) + containers_on(1, &c) + containers_on(2, &b),
        0
    );
}
