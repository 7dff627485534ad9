//! Nothing a user supplies reaches a shell unquoted: hostile strings go through
//! the real ssh transport, sandbox labels and `exec` argv, and come out as the
//! same strings with nothing executed on the host.

use super::support::E2e;
use compose_ssh::config::HostConfig;
use compose_ssh::ssh::Ssh;
use sandboxer_tests::session::Session;
use sandboxer_tests::{bin, loopback};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

const HOSTILE: &[&str] = &[
    "'",
    "\"",
    "$(touch SENTINEL)",
    "`touch SENTINEL`",
    "; touch SENTINEL",
    "&& touch SENTINEL",
    "| touch SENTINEL",
    "> SENTINEL",
    "a\nb; touch SENTINEL",
    "$HOME $1 ${PATH}",
    "*",
    "~root",
    "\\",
    "-n",
    "ünïcödé ✓ 日本語",
    "it's \"quoted\"",
    "",
];

fn sentinel() -> String {
    format!("/tmp/sandboxer-pwned-{}", std::process::id())
}

fn hostile() -> Vec<String> {
    HOSTILE
        .iter()
        .map(|h| h.replace("SENTINEL", &sentinel()))
        .collect()
}

#[tokio::test]
async fn hostile_argv_over_real_ssh_arrives_word_for_word_and_runs_nothing() {
    loopback::require();
    let ctl = tempfile::tempdir().unwrap();
    let host = HostConfig {
        name: "loopback".into(),
        address: Some("127.0.0.1".into()),
        port: loopback::PORT,
        user: Some("root".into()),
        identity: Some(loopback::identity()),
        known_hosts: Some(loopback::known_hosts()),
        ..HostConfig::local()
    };
    let ssh = Ssh::new(host, ctl.path().to_path_buf());
    let mut argv = vec!["printf".to_string(), "%s\\0".to_string()];
    argv.extend(hostile());
    let out = ssh.run(&argv, None, Duration::from_secs(30)).await.unwrap();
    sandboxer_tests::assert_succeeded(&out, "printf over ssh");
    let words: Vec<String> = out
        .stdout
        .split(|b| *b == 0)
        .map(|w| String::from_utf8(w.to_vec()).unwrap())
        .collect();
    assert_eq!(&words[..words.len() - 1], hostile().as_slice());
    assert!(
        !Path::new(&sentinel()).exists(),
        "something was executed on the host"
    );
}

#[test]
fn hostile_labels_and_exec_arguments_stay_data() {
    let e2e = E2e::new();
    let values: Vec<String> = hostile()
        .into_iter()
        .filter(|h| !h.contains('\n'))
        .collect();
    let mut args: Vec<String> = vec![];
    for (i, v) in values.iter().enumerate() {
        args.push("--label".into());
        args.push(format!("h{i}={v}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let created = e2e.create("profile.sandbox-canary", &args);
    let id = created["id"].as_str().unwrap().to_string();
    let inspect = std::process::Command::new("podman")
        .args([
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            &format!("sbx-{id}_web_1"),
        ])
        .output()
        .unwrap();
    let labels: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    for (i, v) in values.iter().enumerate() {
        assert_eq!(
            labels[format!("h{i}")],
            v.as_str(),
            "label h{i} on the container"
        );
    }
    let mut exec = vec!["exec", id.as_str(), "--", "printf", "%s|"];
    let words = hostile();
    exec.extend(words.iter().map(String::as_str));
    let out = e2e.json(&exec);
    assert_eq!(out["stdout"], format!("{}|", words.join("|")));
    assert!(
        !Path::new(&sentinel()).exists(),
        "something was executed on the host"
    );
    e2e.json(&["destroy", &id]);
}

/// `exec` runs with the sandbox's own environment and working directory: a
/// variable of the process that asked (and so of the extension's host) never
/// reaches the command, and the directory is the image's, not a host path.
#[test]
fn exec_sees_the_sandboxs_environment_not_the_hosts() {
    let e2e = E2e::new();
    let created = e2e.create("profile.sandbox-canary", &[]);
    let id = created["id"].as_str().unwrap().to_string();
    let marker = "host-only-value-7f3a";
    let out = e2e
        .sandboxer(&[
            "--json",
            "exec",
            &id,
            "--",
            "sh",
            "-c",
            "env; echo cwd=$(pwd)",
        ])
        .env("SANDBOXER_E2E_HOST_ONLY", marker)
        .assert()
        .success();
    let result: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let text = result["stdout"].as_str().unwrap();
    assert!(
        !text.contains(marker),
        "the host's environment leaked in:\n{text}"
    );
    assert!(
        !text.contains("SANDBOXER_"),
        "a sandboxer variable leaked in:\n{text}"
    );
    assert!(
        text.lines().any(|l| l == "cwd=/"),
        "the image's directory: {text}"
    );
    e2e.json(&["destroy", &id]);
}

#[test]
fn hostile_snapshot_names_and_ids_stay_data() {
    let e2e = E2e::new();
    let id = e2e.create("profile.sandbox-canary", &[])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ext = Session::start(&bin("sandboxer-ext-compose-ssh"), e2e.extension_options());
    let names: Vec<String> = hostile().into_iter().take(6).collect();
    for name in &names {
        let snap = ext.ok(
            "sandbox/snapshot",
            json!({"sandbox_id": id, "snapshot_name": name}),
        );
        assert_eq!(snap["snapshot_name"], name.as_str());
    }
    let listed = ext.ok("snapshot/list", json!({}));
    let mut listed_names: Vec<&str> = listed["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["snapshot_name"].as_str().unwrap())
        .collect();
    listed_names.sort();
    let mut expected: Vec<&str> = names.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(listed_names, expected, "every name kept word for word");
    let outside = e2e.workdir.join("keep-me");
    std::fs::create_dir_all(&outside).unwrap();
    for hostile_id in [
        "../keep-me",
        "snap-../../keep-me",
        "snap-x; touch /tmp/x",
        "",
    ] {
        let answer = ext.ok("snapshot/delete", json!({"snapshot_id": hostile_id}));
        assert_eq!(answer["deleted"], true);
        let restore = ext.call(
            "sandbox/restore",
            json!({"snapshot_id": hostile_id, "sandbox_id": "r1", "profile": {"id": "profile.x",
                   "version": "1", "spec": {}}, "placement": {}, "labels": {}, "secrets": {},
                   "network": {"egress": "allow"}, "resources": {},
                   "expires_at": "2099-01-01T00:00:00Z"}),
        );
        assert_eq!(restore["error"]["data"]["kind"], "NotFound", "{restore}");
    }
    assert!(outside.exists(), "a hostile id never became a path");
    for snap in listed["snapshots"].as_array().unwrap() {
        ext.ok(
            "snapshot/delete",
            json!({"snapshot_id": snap["snapshot_id"]}),
        );
    }
    assert_eq!(ext.ok("snapshot/list", json!({}))["snapshots"], json!([]));
    assert!(
        !Path::new(&sentinel()).exists(),
        "something was executed on the host"
    );
    e2e.json(&["destroy", &id]);
}
