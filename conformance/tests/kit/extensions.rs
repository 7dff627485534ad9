//! The kit passes the extensions this project ships: the Rust fixture, the Python
//! example, compose-ssh on the loopback host and vm-packer, on this host and relayed
//! to a test host over ssh (leaving nothing behind).

use super::support::kit;
use sandboxer_tests::loopback;
use std::path::PathBuf;

#[test]
fn the_fixture_passes_every_check() {
    let state = tempfile::tempdir().unwrap();
    let run = kit(
        &sandboxer_tests::fixture_ext(),
        &[],
        &[(
            "SANDBOXER_EXT_FIXTURE_STATE_DIR",
            state.path().to_str().unwrap(),
        )],
    );
    assert!(run.failed().is_empty(), "{:?}", run.failure_messages());
    assert_eq!(run.code, 0);
    assert!(run.count("pass") >= 60, "{} passed", run.count("pass"));
    // Its commands run for real, as sessions; it has no files, pause or logs.
    for check in [
        "inside.exec-streams-while-running",
        "inside.exec-stdin-and-signal",
        "inside.exec-reattach-and-list",
        "inside.exec-terminal-resize",
    ] {
        assert_eq!(run.status(check), "pass", "{check}");
    }
    assert_eq!(
        std::fs::read_dir(state.path()).unwrap().count(),
        0,
        "the fixture's folder is empty again"
    );
}

#[test]
fn the_python_example_passes_every_check() {
    let root = tempfile::tempdir().unwrap();
    let example =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/python/sandboxer-ext-pydirs");
    let run = kit(
        &example,
        &[],
        &[("SANDBOXER_EXT_PYDIRS_ROOT", root.path().to_str().unwrap())],
    );
    assert!(
        run.failed().is_empty(),
        "{:?}\n{}",
        run.failure_messages(),
        run.stderr
    );
    assert_eq!(run.code, 0);
    assert_eq!(
        run.count("skip"),
        10,
        "only the snapshot checks, those of profile/check and host/doctor (1.1), the egress \
         checks (pydirs enforces no egress), the images check (1.5) and pause (1.6) are skipped"
    );
    assert_eq!(
        std::fs::read_dir(root.path()).unwrap().count(),
        0,
        "no sandbox folder is left"
    );
}

#[test]
fn compose_ssh_passes_every_must_and_leaves_nothing_on_the_host() {
    loopback::require();
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path().join("host-sandboxes");
    let params = dir.path().join("params.yaml");
    std::fs::write(
        &params,
        format!(
            "options:\n  control_dir: {}\n  hosts:\n    - {}\nprofile:\n  id: profile.conformance\n  version: '1'\n  spec:\n    \
             compose_file: compose.yaml\n    cost: {{currency: USD, per_hour: 0.01}}\n    files:\n      compose.yaml: |\n        \
             services:\n          app:\n            image: localhost/sandboxer-busybox:latest\n            \
             command: [sleep, '86400']\n            stop_signal: SIGKILL\n    \
             placement: {{labels: {{tier: conformance}}}}\n\
             egress_probe: [sh, -c, 'echo | nc -w 3 {{host}} {{port}}']\n\
             egress_host: host.containers.internal\negress_listen: 0.0.0.0\n",
            dir.path().join("ctl").display(),
            loopback::host_yaml("loopback", &workdir).replacen('}', ", labels: {tier: conformance}}", 1)
        ),
    )
    .unwrap();
    let run = kit(
        &sandboxer_tests::bin("sandboxer-ext-compose-ssh"),
        &["--params", params.to_str().unwrap()],
        &[],
    );
    assert!(
        run.failed().is_empty(),
        "{:?}\n{}",
        run.failure_messages(),
        run.stderr
    );
    assert_eq!(run.code, 0);
    // A container on an open network reaches the host's listener at
    // host.containers.internal; the sandbox's internal network does not.
    assert_eq!(run.status("egress.deny-keeps-the-host-out"), "pass");
    let prefix = run.report["run_prefix"].as_str().unwrap();
    for kind in [
        &["ps", "-a"][..],
        &["network", "ls"],
        &["volume", "ls"],
        &["images"],
    ] {
        let out = std::process::Command::new("podman")
            .args(kind)
            .args([
                "-q",
                "--filter",
                &format!("label=sandboxer.conformance-run={prefix}"),
            ])
            .output()
            .unwrap();
        assert!(
            out.stdout.is_empty(),
            "podman {kind:?} still shows the run's resources"
        );
    }
    // `.agent` is the host's copy of sandboxer-agent, shared by every sandbox.
    let left = std::fs::read_dir(&workdir)
        .map(|d| {
            d.filter(|e| e.as_ref().is_ok_and(|e| e.file_name() != ".agent"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(left, 0, "sandbox folders left on the host");
}

/// What vm-packer leaves unchecked: working inside a guest (files, streaming
/// commands, pause, logs, figures), which it does not offer yet.
fn vm_packer_skips() -> std::collections::BTreeSet<String> {
    [
        "inside.exec-streams-while-running",
        "inside.exec-stdin-and-signal",
        "inside.exec-reattach-and-list",
        "inside.exec-terminal-resize",
        "inside.files",
        "inside.tree-round-trip",
        "inside.paths-confined",
        "inside.pause-freezes-and-resume-continues",
        "inside.logs",
        "inside.metrics-shape",
    ]
    .map(String::from)
    .into()
}

#[test]
fn vm_packer_passes_every_check_and_leaves_no_machine() {
    // Under /var/lib/sandboxer-vm: QEMU's own account must reach the state folder.
    let state = std::path::PathBuf::from(format!(
        "/var/lib/sandboxer-vm/test/kit-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&state).unwrap();
    let params = state.join("params.yaml");
    std::fs::write(
        &params,
        format!(
            "options:\n  state_dir: {}\nprofile:\n  id: profile.conformance\n  version: '1'\n  \
             spec:\n    cost: {{currency: USD, per_hour: 0.01}}\n    recipe:\n      \
             services: ['sleep 86400']\negress_probe: [sh, -c, 'echo | nc -w 3 {{host}} {{port}}']\n\
             egress_host: 10.0.2.2\n",
            state.display()
        ),
    )
    .unwrap();
    let run = kit(
        &sandboxer_tests::bin("sandboxer-ext-vm-packer"),
        &["--params", params.to_str().unwrap(), "--timeout-scale", "3"],
        &[],
    );
    let machines = vm_packer::inventory::processes_under(&state);
    let folders = std::fs::read_dir(state.join("machines"))
        .map(|d| d.count())
        .unwrap_or(0);
    let _ = std::fs::remove_dir_all(&state);
    assert!(
        run.failed().is_empty(),
        "{:?}\n{}",
        run.failure_messages(),
        run.stderr
    );
    assert_eq!(run.code, 0);
    assert_eq!(
        run.with_status("skip"),
        vm_packer_skips(),
        "snapshots, exec and egress are checked too"
    );
    for check in [
        "egress.deny-keeps-the-host-out",
        "egress.allowlist-lets-only-the-listed-through",
    ] {
        assert_eq!(run.status(check), "pass", "{check}");
    }
    assert!(machines.is_empty(), "machines still run: {machines:?}");
    assert_eq!(folders, 0, "machine folders left");
}

#[test]
fn vm_packer_relayed_to_a_test_host_passes_every_check() {
    use sandboxer_tests::test_hosts;
    // Test host h1 shares this machine's files: its state folder is its own.
    let state = PathBuf::from(format!(
        "/var/lib/sandboxer-vm/test/kit-relay-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&state).unwrap();
    let params = state.join("params.yaml");
    // The kit listens on this machine's side of h1's link: an address the guest
    // must not reach (egress denied), and reaches through its allow-list only.
    std::fs::write(
        &params,
        format!(
            "options:\n  hosts: [{}]\nprofile:\n  id: profile.conformance\n  version: '1'\n  \
             spec:\n    cost: {{currency: USD, per_hour: 0.01}}\n    recipe:\n      \
             services: ['sleep 86400']\negress_probe: [sh, -c, 'echo | nc -w 3 {{host}} {{port}}']\n\
             egress_host: {gw}\negress_listen: {gw}\n",
            test_hosts::vm_host_yaml(1, &state.join("h1"), ""),
            gw = test_hosts::gateway(1),
        ),
    )
    .unwrap();
    let run = kit(
        &sandboxer_tests::bin("sandboxer-ext-vm-packer"),
        &["--params", params.to_str().unwrap(), "--timeout-scale", "3"],
        &[],
    );
    let machines = vm_packer::inventory::processes_under(&state.join("h1"));
    let folders = std::fs::read_dir(state.join("h1/machines"))
        .map(|d| d.count())
        .unwrap_or(0);
    let _ = std::fs::remove_dir_all(&state);
    assert!(
        run.failed().is_empty(),
        "{:?}\n{}",
        run.failure_messages(),
        run.stderr
    );
    assert_eq!(
        run.with_status("skip"),
        vm_packer_skips(),
        "every check runs through the relay"
    );
    assert_eq!(
        run.status("egress.allowlist-lets-only-the-listed-through"),
        "pass"
    );
    assert!(
        machines.is_empty(),
        "machines still run on h1: {machines:?}"
    );
    assert_eq!(folders, 0, "machine folders left on h1");
}

/// The kit's confinement check cannot plant a link inside a pydirs sandbox (its
/// commands see this machine's paths): here the sandbox's own code plants them
/// in its folder, and no fs/* call, nor a tar entry, gets out through them.
#[test]
fn the_python_example_keeps_every_path_inside_its_folder() {
    use conformance::peer::Peer;
    use serde_json::json;
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let canary = outside.path().join("canary");
    std::fs::write(&canary, "host secret").unwrap();
    let example =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/python/sandboxer-ext-pydirs");
    // SAFETY: the test's own process, before any thread of its own reads it.
    unsafe { std::env::set_var("SANDBOXER_EXT_PYDIRS_ROOT", root.path()) };
    let mut peer = Peer::spawn(&example, &["--stdio"], std::time::Duration::from_secs(20)).unwrap();
    peer.initialize(&json!({})).unwrap();
    let sid = "confined-1";
    peer.ok(
        "sandbox/create",
        json!({"sandbox_id": sid, "profile": {"id": "p", "version": "1", "spec": {}},
               "expires_at": "2099-01-01T00:00:00Z"}),
    )
    .unwrap();
    let run = |peer: &mut Peer, script: String| {
        let started = peer
            .ok(
                "exec/start",
                json!({"sandbox_id": sid, "argv": ["sh", "-c", script]}),
            )
            .unwrap();
        let exit = peer
            .ok(
                "exec/attach",
                json!({"sandbox_id": sid, "exec_id": started["exec_id"], "output_token": 1}),
            )
            .unwrap();
        assert_eq!(exit["exit_code"], 0, "{exit}");
    };
    let out = outside.path().display().to_string();
    run(
        &mut peer,
        format!("ln -s {out}/canary file-link && ln -s {out} dir-link && ln -s .. up"),
    );
    let code = |answer: serde_json::Value| answer["error"]["code"].as_i64();
    for path in ["file-link", "/dir-link/canary", "up/meta.json"] {
        let read = peer
            .request("fs/read", json!({"sandbox_id": sid, "path": path}))
            .unwrap();
        assert_eq!(code(read.clone()), Some(1009), "{path} read: {read}");
    }
    // `..` stops at the sandbox's root, as it does at `/`.
    let climbing = format!("/../../../../..{}", canary.display());
    let read = peer
        .request("fs/read", json!({"sandbox_id": sid, "path": climbing}))
        .unwrap();
    assert_eq!(code(read), Some(1001));
    for path in ["/dir-link/written", "file-link"] {
        let write = peer
            .request(
                "fs/write",
                json!({"sandbox_id": sid, "path": path, "data": "b3V0"}),
            )
            .unwrap();
        assert_eq!(code(write.clone()), Some(1009), "{path} written: {write}");
    }
    // A tree unpacked where a link leads out: refused, nothing written there.
    let mut archive = tar::Builder::new(vec![]);
    let mut header = tar::Header::new_gnu();
    header.set_size(3);
    header.set_mode(0o644);
    header.set_cksum();
    archive
        .append_data(&mut header, "escaped", &b"out"[..])
        .unwrap();
    let tar = archive.into_inner().unwrap();
    use base64::Engine as _;
    let put = peer
        .request(
            "fs/tar_put",
            json!({"sandbox_id": sid, "path": "/dir-link", "done": true,
                   "data": base64::engine::general_purpose::STANDARD.encode(&tar)}),
        )
        .unwrap();
    assert_eq!(code(put), Some(1009));
    let listed: Vec<_> = std::fs::read_dir(outside.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(listed, ["canary"], "the folder outside gained files");
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "host secret");
    peer.ok("sandbox/destroy", json!({"sandbox_id": sid}))
        .unwrap();
}
