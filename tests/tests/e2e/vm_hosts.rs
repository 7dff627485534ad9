//! End-to-end tests of vm-packer over remote hosts: the relay (vm-packer with
//! `hosts` in its options) starts vm-packer on test hosts h1 and h2 over ssh, and
//! machines run there — each test host is a network namespace of this machine with
//! its own sshd and address, so an endpoint answers on 10.215.N.2 only when its
//! machine runs on host N. Every CLI call starts a new relay, which knows nothing
//! of earlier ones: it finds each machine again by asking the hosts.

use super::support::http_get;
use super::vm::VmE2e;
use sandboxer_tests::test_hosts;
use serde_json::Value;

/// The host a sandbox runs on, from the relay's `details.host`, and the address
/// its web endpoint answers on.
fn placed(sandbox: &Value) -> (String, String) {
    let web = sandbox["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "web")
        .unwrap_or_else(|| panic!("no web endpoint: {sandbox}"));
    (
        sandbox["details"]["host"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        web["host"].as_str().unwrap().to_string(),
    )
}

#[test]
fn vm_machines_spread_over_remote_hosts_and_are_found_again_by_a_new_relay() {
    let vm = VmE2e::new();
    std::fs::write(
        vm.env.config_path(),
        format!(
            "extensions:\n  vm-packer:\n    options:\n      hosts:\n        - {}\n        - {}\n",
            test_hosts::vm_host_yaml(1, &vm.state_dir.join("h1"), "capacity: 1"),
            test_hosts::vm_host_yaml(2, &vm.state_dir.join("h2"), "capacity: 1"),
        ),
    )
    .unwrap();
    vm.profile("vmspread", "{egress: deny}");
    let path = vm.env.path("profiles/vmspread.profile.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        yaml.replace(
            "spec:\n",
            "secrets: {API_TOKEN: env:VM_E2E_SECRET}\nspec:\n",
        ),
    )
    .unwrap();
    let secret = format!("relayed-s3cret-'$(x)-{}", std::process::id());
    let create = || {
        vm.sandboxer(&[
            "create",
            "--profile",
            "vmspread",
            "--consumer",
            "atm:vm",
            "--project",
            "vm",
            "--wait",
            "--json",
        ])
        .env("VM_E2E_SECRET", &secret)
        .assert()
    };
    let created = |assert: assert_cmd::assert::Assert| -> Value {
        serde_json::from_slice(&assert.success().get_output().stdout).unwrap()
    };

    // Capacity one each: the first machine on h1 (configuration order breaks
    // the tie), the second on h2.
    let a = created(create());
    let b = created(create());
    assert_eq!(placed(&a), ("h1".into(), test_hosts::address(1)), "{a}");
    assert_eq!(placed(&b), ("h2".into(), test_hosts::address(2)), "{b}");
    for (sandbox, n) in [(&a, 1), (&b, 2)] {
        let url = sandbox["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "web")
            .and_then(|e| e["url"].as_str())
            .unwrap()
            .to_string();
        assert!(
            url.starts_with(&format!("http://{}:", test_hosts::address(n))),
            "{url}"
        );
        assert!(http_get(&url).contains("vm e2e page"), "{url}");
        let id = sandbox["id"].as_str().unwrap();
        let machines = vm_packer::inventory::processes_under(&vm.state_dir.join(format!("h{n}")));
        assert_eq!(machines.len(), 1, "h{n} runs one machine: {machines:?}");
        assert!(
            vm.state_dir.join(format!("h{n}/machines/{id}")).is_dir(),
            "{id}'s folder is on h{n}"
        );
    }

    // A new relay (this CLI call's) finds b on h2 and runs a command there.
    let b_id = b["id"].as_str().unwrap();
    let (code, out) = vm.sh(b_id, "echo made-on-h2 > /root/mark && cat /root/mark");
    assert_eq!((code, out.trim()), (0, "made-on-h2"));
    // The secret went through the relay to the guest, and into no file of
    // either host's state folder.
    let (code, seen) = vm.sh(b_id, "printf %s \"$API_TOKEN\"");
    assert_eq!((code, seen.as_str()), (0, secret.as_str()));
    assert!(super::vm::files_holding(&vm.state_dir, secret.as_bytes()).is_empty());

    // Both hosts full: the create is refused, host by host.
    let out = create().failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("h1: full (1 of capacity 1 in use)"), "{err}");
    assert!(err.contains("h2: full (1 of capacity 1 in use)"), "{err}");

    // Health reports each host by its name, with the machine it runs.
    let hosts = vm.json(&["hosts"]);
    for name in ["h1", "h2"] {
        let host = hosts
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["host"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {hosts}"));
        assert_eq!(host["reachable"], true, "{host}");
        assert_eq!(host["sandboxes"], 1, "{host}");
    }

    for id in [a["id"].as_str().unwrap(), b_id] {
        vm.json(&["destroy", id]);
    }
    assert_eq!(vm.machines_running(), 0, "no machine left on either host");
    for n in [1, 2] {
        let left = std::fs::read_dir(vm.state_dir.join(format!("h{n}/machines")))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(left, 0, "machine folders left on h{n}");
    }
}

#[test]
fn the_relay_killed_mid_create_leaves_nothing_on_the_host_that_the_reconciler_does_not_clean() {
    use super::vm::{kill_extension_of, wait_until};
    use std::time::Duration;
    let vm = VmE2e::new();
    let h1 = vm.state_dir.join("h1");
    std::fs::write(
        vm.env.config_path(),
        format!(
            "extensions:\n  vm-packer:\n    options:\n      hosts:\n        - {}\n",
            test_hosts::vm_host_yaml(1, &h1, ""),
        ),
    )
    .unwrap();
    vm.profile("vmkill", "{egress: deny}");
    // The template is made by a first create, so the next one is a restore.
    let warm = vm.create("vmkill", &[]);
    vm.json(&["destroy", warm["id"].as_str().unwrap()]);

    let mut child = vm
        .env
        .process(&sandboxer_tests::bin("sandboxer"))
        .args([
            "create",
            "--profile",
            "vmkill",
            "--consumer",
            "atm:vm",
            "--project",
            "vm",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the host has begun the machine: its folder exists there.
    let begun = wait_until(Duration::from_secs(60), || {
        std::fs::read_dir(h1.join("machines")).is_ok_and(|mut d| d.next().is_some())
    });
    kill_extension_of(child.id());
    let _ = child.wait();
    assert!(begun, "the create never reached h1");

    // A new relay lists h1, and the reconciler removes what it finds there.
    vm.json(&["inspect", "--fix"]);
    vm.sandboxer(&["reap-stale"]).assert().success();
    assert!(
        wait_until(Duration::from_secs(20), || {
            let _ = vm.json(&["inspect", "--fix"]);
            vm_packer::inventory::processes_under(&h1).is_empty()
                && std::fs::read_dir(h1.join("machines")).is_ok_and(|d| d.count() == 0)
        }),
        "a machine on h1 outlived the reconciler: {:?}",
        vm_packer::inventory::processes_under(&h1)
    );
}
