//! Two installations (two state files) sharing one host: each labels what it
//! makes with its own id, and one's reconciler reports the other's sandboxes
//! as foreign and never destroys them.

use super::support::{E2e, podman_count};
use sandboxer_tests::loopback;

#[test]
fn another_installations_sandbox_is_reported_and_never_reaped() {
    let ours = E2e::new();
    let theirs = E2e::new();
    // Both reach the same host; the other one keeps its sandboxes elsewhere.
    theirs.configure(&[loopback::host_yaml("loopback", &theirs.workdir)]);
    let created = theirs.create("profile.sandbox-canary", &[]);
    let id = created["id"].as_str().unwrap().to_string();
    let label = format!("sandboxer.id={id}");
    assert!(podman_count("ps -a", &label) > 0);
    assert!(created["labels"]["sandboxer.installation"].is_string());

    // Our reconciler, twice (a second pass would reap an orphan past its grace).
    let config = std::fs::read_to_string(ours.env.config_path()).unwrap();
    std::fs::write(
        ours.env.config_path(),
        format!("daemon: {{orphan_grace: 1s}}\n{config}"),
    )
    .unwrap();
    let first = ours.json(&["inspect", "--fix"]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    ours.json(&["inspect", "--fix"]);
    let findings = first.to_string();
    assert!(findings.contains("\"finding\":\"foreign\""), "{findings}");
    assert!(findings.contains(&id), "{findings}");
    assert!(
        podman_count("ps -a", &label) > 0,
        "another installation's sandbox was destroyed"
    );
    assert_eq!(theirs.json(&["get", &id])["state"], "ready");
    theirs.sandboxer(&["destroy", &id]).assert().success();
}
