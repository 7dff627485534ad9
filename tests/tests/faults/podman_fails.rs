//! podman failing a command: on a host run without ssh (`local`), `podman rm`
//! fails while a marker file exists. The destroy fails and says why, the
//! sandbox stays recorded as destroying with its containers; once podman works
//! again the reaper retries until the destroy is done.

use super::recovery::{Storage, assert_consistent, create_args, fault_profile, records, recover};
use super::support::E2e;
use std::time::Duration;

#[test]
fn a_destroy_that_podman_refuses_is_retried_until_done() {
    let e2e = E2e::new();
    e2e.configure(&[format!(
        "{{name: local, workdir: {}}}",
        e2e.workdir.display()
    )]);
    fault_profile(&e2e);
    // A podman that fails `rm` while the marker exists, first on PATH.
    let bin_dir = e2e.env.path("fake-bin");
    let marker = e2e.env.path("podman-fails");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let real = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v podman"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let wrapper = bin_dir.join("podman");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ -e '{}' ] && [ \"$1\" = rm ]; then\n  echo 'podman: injected failure' >&2\n  exit 125\nfi\nexec {} \"$@\"\n",
            marker.display(),
            real.trim()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());

    let out = e2e
        .sandboxer(
            &["--json"]
                .into_iter()
                .chain(create_args(&e2e).iter().map(String::as_str))
                .collect::<Vec<_>>(),
        )
        .env("PATH", &path)
        .assert()
        .success();
    let created: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let label = format!("sandboxer.id={id}");

    std::fs::write(&marker, "").unwrap();
    let refused = e2e
        .sandboxer(&["destroy", &id])
        .env("PATH", &path)
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert!(
        err.contains("injected failure"),
        "the error says why: {err}"
    );
    let record = records(&e2e)
        .into_iter()
        .find(|r| r["id"] == id.as_str())
        .unwrap();
    assert_eq!(record["state"], "destroying");
    assert!(
        !Storage::Machine.holders(&label).is_empty(),
        "its containers are still there"
    );

    // Still failing: the reaper's attempt fails too, and is recorded.
    e2e.sandboxer(&["reap-stale"])
        .env("PATH", &path)
        .assert()
        .success();
    let attempts: Vec<_> = e2e
        .json(&["events", "--sandbox", &id])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "reap_attempt")
        .cloned()
        .collect();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0]["detail"]["outcome"], "failed");

    std::fs::remove_file(&marker).unwrap();
    recover(&e2e, Duration::from_secs(60));
    assert_eq!(
        records(&e2e)
            .into_iter()
            .find(|r| r["id"] == id.as_str())
            .unwrap()["state"],
        "destroyed"
    );
    assert!(Storage::Machine.holders(&label).is_empty());
    assert_consistent(&e2e, Storage::Machine);
}
