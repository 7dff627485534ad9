//! The containment policy on a real host: every way to the host a compose file
//! can ask for is refused before anything runs, naming the field; an operator's
//! exception relaxes only what it names, and `inspect --profile` says so; what
//! runs is an unprivileged user of the host with no new privileges.

use super::support::{E2e, podman_count};
use sandboxer_tests::loopback;
use serde_json::Value;

/// Writes profile `name` whose one service has `extra` (YAML lines, indented for
/// the service) added.
fn profile_with(e2e: &E2e, name: &str, extra: &str) {
    let dir = e2e.env.path(&format!("profiles/{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("compose.yaml"),
        format!(
            "services:\n  app:\n    image: localhost/sandboxer-busybox:latest\n    \
             command: [sleep, '3600']\n    stop_signal: SIGKILL\n{extra}"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("profile.yaml"),
        format!(
            "id: profile.{name}\nversion: 1\nfiles: [compose.yaml]\nextension: ext.compose-ssh\n\
             ttl: {{default: 1h, max: 2h}}\nnetwork: {{egress: allow}}\n\
             spec: {{compose_file: compose.yaml}}\n"
        ),
    )
    .unwrap();
}

fn create_args<'a>(e2e: &'a E2e, profile: &'a str) -> Vec<&'a str> {
    vec![
        "create",
        "--profile",
        profile,
        "--consumer",
        "atm:e2e",
        "--project",
        &e2e.project,
        "--wait",
    ]
}

#[test]
fn every_way_to_the_host_is_refused_naming_its_field_before_anything_runs() {
    let e2e = E2e::new();
    let cases = [
        (
            "privileged",
            "    privileged: true\n",
            "services.app.privileged",
        ),
        (
            "root-mount",
            "    volumes: [\"/:/host\"]\n",
            "services.app.volumes[0]",
        ),
        (
            "state-mount",
            "    volumes: [\"/var/lib/sandboxer/ssh:/keys:ro\"]\n",
            "services.app.volumes[0]",
        ),
        ("host-pid", "    pid: host\n", "services.app.pid"),
        (
            "host-net",
            "    network_mode: host\n",
            "services.app.network_mode",
        ),
        ("host-ipc", "    ipc: host\n", "services.app.ipc"),
        ("host-uts", "    uts: host\n", "services.app.uts"),
        (
            "host-user",
            "    userns_mode: host\n",
            "services.app.userns_mode",
        ),
        (
            "sys-admin",
            "    cap_add: [SYS_ADMIN]\n",
            "services.app.cap_add[0]",
        ),
        (
            "devices",
            "    devices: [\"/dev/kmsg:/dev/kmsg\"]\n",
            "services.app.devices",
        ),
        (
            "unconfined",
            "    security_opt: [\"seccomp=unconfined\"]\n",
            "services.app.security_opt[0]",
        ),
        (
            "env-file",
            "    env_file: /etc/shadow\n",
            "services.app.env_file[0]",
        ),
        (
            "other-volume",
            "    volumes: [\"sbx-someone-else_data:/data\"]\n",
            "services.app.volumes[0]",
        ),
    ];
    for (name, extra, field) in cases {
        profile_with(&e2e, name, extra);
        let out = e2e.sandboxer(&create_args(&e2e, name)).assert().code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(
            stderr.contains(&format!("compose.yaml: {field}")),
            "{name}: the field is not named: {stderr}"
        );
        assert!(stderr.contains("containment policy"), "{name}: {stderr}");
    }
    let listed = e2e.json(&["list", "--all"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "nothing recorded");
    assert_eq!(
        podman_count("ps -a", &format!("sandboxer.project={}", e2e.project)),
        0,
        "nothing ran"
    );
}

#[test]
fn an_exception_relaxes_only_what_it_names_and_inspect_says_so() {
    let e2e = E2e::new();
    let sysctl = "    sysctls: [\"net.ipv4.ip_unprivileged_port_start=80\"]\n";
    profile_with(&e2e, "tuned", sysctl);
    profile_with(&e2e, "untuned", sysctl);
    e2e.configure_with(&[loopback::host_yaml("loopback", &e2e.workdir)], "");
    // The configuration's compose-ssh options, with a per-profile exception.
    let config = std::fs::read_to_string(e2e.env.config_path()).unwrap();
    std::fs::write(
        e2e.env.config_path(),
        config.replace(
            "    options:\n",
            "    options:\n      containment: {profiles: {profile.tuned: [sysctls]}}\n",
        ),
    )
    .unwrap();

    let shown = e2e.json(&["inspect", "--profile", "tuned"]);
    let verdict = |shown: &Value, guarantee: &str| -> (String, String) {
        let compose = shown["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["extension"] == "ext.compose-ssh")
            .unwrap();
        let v = compose["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["guarantee"] == guarantee)
            .unwrap();
        (
            v["support"].as_str().unwrap().to_string(),
            v["why"].as_str().unwrap().to_string(),
        )
    };
    let (support, why) = verdict(&shown, "containment");
    assert_eq!(support, "relaxed", "{why}");
    assert!(
        why.contains("sysctls (compose.yaml: services.app.sysctls)"),
        "{why}"
    );
    assert_eq!(verdict(&shown, "user namespace").0, "native");
    let (support, why) = verdict(
        &e2e.json(&["inspect", "--profile", "untuned"]),
        "containment",
    );
    assert_eq!(support, "refused", "{why}");
    let (support, _) = verdict(
        &e2e.json(&["inspect", "--profile", "sandbox-canary"]),
        "containment",
    );
    assert_eq!(support, "native");

    let created = e2e.json(&create_args(&e2e, "tuned"));
    assert_eq!(created["state"], "ready");
    let id = created["id"].as_str().unwrap();
    let out = e2e.json(&[
        "exec",
        id,
        "--",
        "cat",
        "/proc/sys/net/ipv4/ip_unprivileged_port_start",
    ]);
    assert_eq!(out["stdout"], "80\n", "the sysctl applied: {out}");
    e2e.sandboxer(&create_args(&e2e, "untuned"))
        .assert()
        .code(2);
    e2e.sandboxer(&["destroy", id]).assert().success();
}

#[test]
fn code_in_a_sandbox_is_an_unprivileged_host_user_that_cannot_reach_the_host() {
    let e2e = E2e::new();
    profile_with(&e2e, "plain", "");
    let created = e2e.json(&create_args(&e2e, "plain"));
    let id = created["id"].as_str().unwrap().to_string();
    let run = |script: &str| -> Value { e2e.json(&["exec", &id, "--", "sh", "-c", script]) };

    // Root inside is an ordinary id outside, with no way to gain privileges.
    let map = run("cat /proc/self/uid_map");
    let fields: Vec<&str> = map["stdout"].as_str().unwrap().split_whitespace().collect();
    assert_eq!(fields[0], "0");
    assert!(
        fields[1].parse::<u64>().unwrap() >= 65_536,
        "host id {}",
        fields[1]
    );
    let status = run("grep -E '^(NoNewPrivs|CapEff)' /proc/self/status");
    let status = status["stdout"].as_str().unwrap();
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    // CAP_SYS_ADMIN is bit 21: not among the effective capabilities.
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:\t"))
        .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap())
        .unwrap();
    assert_eq!(cap_eff & (1 << 21), 0, "CapEff {cap_eff:x}");
    let mount = run("mount -t tmpfs none /mnt 2>&1; echo rc=$?");
    assert!(
        !mount["stdout"].as_str().unwrap().ends_with("rc=0\n"),
        "{mount}"
    );

    // The host's services on loopback (sshd here) are out of reach, through the
    // sandbox's gateway address as through its own loopback.
    let probe = format!(
        "gw=$(ip route | awk '/default/ {{print $3}}'); \
         for a in $gw 127.0.0.1; do if nc -w 2 $a {} </dev/null >/dev/null 2>&1; then echo reached $a; fi; done; echo done",
        loopback::PORT
    );
    let out = run(&probe);
    assert_eq!(out["stdout"], "done\n", "{out}");
    e2e.sandboxer(&["destroy", &id]).assert().success();
}

#[test]
fn a_restored_snapshot_keeps_the_owners_its_files_had_inside() {
    let e2e = E2e::new();
    profile_with(&e2e, "owned", "");
    let created = e2e.json(&create_args(&e2e, "owned"));
    let id = created["id"].as_str().unwrap().to_string();
    let out = e2e.json(&[
        "exec",
        &id,
        "--",
        "sh",
        "-c",
        "mkdir -p /root/made && echo kept > /root/made/f && chown 7:7 /root/made/f",
    ]);
    assert_eq!(out["exit_code"], 0, "{out}");
    let snap = e2e.json(&["snapshot", "create", &id, "--name", "owners"]);
    let snap_id = snap["id"].as_str().unwrap().to_string();
    let restored = e2e.json(&["restore", &snap_id, "--consumer", "atm:e2e", "--wait"]);
    let rid = restored["id"].as_str().unwrap().to_string();
    let listing = e2e.json(&[
        "exec",
        &rid,
        "--",
        "sh",
        "-c",
        "ls -ln /root/made /root | awk '{print $3, $4, $9}'; cat /root/made/f",
    ]);
    let text = listing["stdout"].as_str().unwrap();
    assert!(text.contains("7 7 f"), "{text}");
    assert!(text.contains("0 0 made"), "{text}");
    assert!(text.contains("kept"), "{text}");
    for sandbox in [&id, &rid] {
        e2e.sandboxer(&["destroy", sandbox]).assert().success();
    }
    e2e.sandboxer(&["snapshot", "delete", &snap_id])
        .assert()
        .success();
}
