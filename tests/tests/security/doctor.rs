//! `sandboxer doctor` on real hosts: on the prepared machine (over the loopback
//! sshd) every item passes, names resolving across an internal and an edge
//! network as the egress gateway needs; on a podman told to use CNI (what a plain
//! Debian install chooses), resolution fails and the fix names netavark.

use super::support::E2e;
use serde_json::Value;

fn checks(report: &Value) -> Vec<(String, bool, String)> {
    report
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["extension"] == "ext.compose-ssh")
        .flat_map(|r| r["hosts"].as_array().unwrap().clone())
        .flat_map(|h| h["checks"].as_array().unwrap().clone())
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["ok"].as_bool().unwrap(),
                c["fix"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn doctor_passes_on_a_prepared_host_over_ssh() {
    let e2e = E2e::new();
    let report = e2e.json(&["doctor", "--host", "loopback"]);
    let checks = checks(&report);
    for name in [
        "ssh",
        "podman",
        "podman-compose",
        "network-backend",
        "runtime",
        "name-resolution",
        "images",
        "api-socket",
        "disk",
    ] {
        assert!(
            checks.iter().any(|(n, ok, _)| n == name && *ok),
            "{name} does not pass: {report}"
        );
    }
}

#[test]
fn doctor_names_the_fix_when_names_do_not_resolve() {
    let e2e = E2e::new();
    let cni = e2e.env.path("cni-containers.conf");
    let conf = std::fs::read_to_string("/etc/containers/containers.conf").unwrap();
    std::fs::write(
        &cni,
        conf.replace(
            "network_backend = \"netavark\"",
            "network_backend = \"cni\"",
        ),
    )
    .unwrap();
    // The host `local` runs podman with the extension's environment, which the
    // configuration sets: podman there reads the CNI configuration.
    std::fs::write(
        e2e.env.config_path(),
        format!(
            "extensions:\n  compose-ssh:\n    env: {{CONTAINERS_CONF: {}}}\n    options:\n      \
             control_dir: {}\n      hosts:\n        - {{name: local, workdir: {}}}\n",
            cni.display(),
            e2e.env.path("ctl").display(),
            e2e.workdir.display()
        ),
    )
    .unwrap();
    let out = e2e.sandboxer(&["--json", "doctor"]).assert().code(5);
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let checks = checks(&report);
    for name in ["network-backend", "name-resolution"] {
        let (_, ok, fix) = checks
            .iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("{name} not checked: {report}"));
        assert!(!ok, "{name} passes on CNI: {report}");
        assert!(
            fix.contains("netavark") && fix.contains("setup-host.sh"),
            "{fix}"
        );
    }
}
