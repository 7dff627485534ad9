//! Provider keys (bring your own key): the right owner's key reaches the
//! extension at every call for its sandboxes, only as an option the extension
//! declares secret, and never reaches the state file, events, labels or logs.

use super::daemon::{ADMIN, ALPHA, BETA, Daemon};
use super::support::{Env, env};
use reqwest::StatusCode;
use serde_json::{Value, json};

const KEYS: &str = "provider_keys:\n\
  - {extension: fixture, project: alpha, options: {api_key: env:ALPHA_KEY}}\n\
  - {extension: ext.fixture, consumer: \"agt:special\", options: {api_key: env:SPECIAL_KEY}}\n";

fn keys() -> (String, String) {
    let n = std::process::id();
    (format!("sk-alpha-{n}-9f3a"), format!("sk-special-{n}-77c1"))
}

fn run(env: &Env, args: &[&str]) -> assert_cmd::assert::Assert {
    let (alpha, special) = keys();
    env.sandboxer(args)
        .env("ALPHA_KEY", alpha)
        .env("SPECIAL_KEY", special)
        .assert()
}

fn create(env: &Env, consumer: &str, project: &str) -> String {
    let out = run(
        env,
        &[
            "-vv",
            "--json",
            "create",
            "--profile",
            "fix",
            "--consumer",
            consumer,
            "--project",
            project,
            "--wait",
        ],
    )
    .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let log = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let (alpha, special) = keys();
    assert!(
        !log.contains(&alpha) && !log.contains(&special),
        "a key in the log: {log}"
    );
    v["id"].as_str().unwrap().to_string()
}

fn account(env: &Env, id: &str) -> Option<String> {
    std::fs::read_to_string(env.env.path("fixture-state/accounts").join(id)).ok()
}

#[test]
fn each_owner_s_key_reaches_the_extension_and_nothing_else_keeps_it() {
    let env = env();
    env.config(KEYS);
    let (alpha, special) = keys();
    let a = create(&env, "agt:t", "alpha");
    let s = create(&env, "agt:special", "alpha");
    let b = create(&env, "agt:t", "beta");
    assert_eq!(
        account(&env, &a).as_deref(),
        Some(alpha.as_str()),
        "project key"
    );
    assert_eq!(
        account(&env, &s).as_deref(),
        Some(special.as_str()),
        "consumer beats project"
    );
    assert_eq!(account(&env, &b), None, "no key for beta");

    // Later calls carry the owner's key too: the backend refuses another account.
    run(&env, &["get", &a]).success();
    run(&env, &["exec", &s, "--", "true"]).success();
    // `get` falls back to the stored record and says why the backend refused.
    let refused = env
        .sandboxer(&["get", &a])
        .env("ALPHA_KEY", "sk-wrong")
        .assert()
        .success();
    let warning = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert!(
        warning.contains("another account"),
        "the backend saw the wrong key: {warning}"
    );
    for id in [&a, &s, &b] {
        run(&env, &["destroy", id]).success();
    }
    assert_eq!(account(&env, &a), None, "destroyed with the right key");

    // Nothing of the keys in the state file, its log, the events or the labels.
    for file in ["state.sqlite", "state.sqlite-wal"] {
        if let Ok(bytes) = std::fs::read(env.env.path(file)) {
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(&alpha) && !text.contains(&special),
                "a key in {file}"
            );
        }
    }
    let all = serde_json::to_string(&env.json(&["events"])).unwrap()
        + &serde_json::to_string(&env.json(&["list", "--all"])).unwrap();
    assert!(!all.contains(&alpha) && !all.contains("sk-special"));
}

#[test]
fn a_key_is_refused_for_an_option_the_extension_does_not_declare_secret() {
    let env = env();
    env.env
        .install_extension("minimal", &sandboxer_tests::python_minimal_ext());
    env.env.write_profile(
        "py",
        "id: profile.py\nversion: 1\nextension: ext.minimal\nttl: {default: 1h, max: 2h}\n",
    );
    env.config(
        "provider_keys:\n  - {extension: minimal, project: alpha, options: {token: env:ALPHA_KEY}}\n",
    );
    let out = run(
        &env,
        &[
            "create",
            "--profile",
            "py",
            "--consumer",
            "agt:t",
            "--project",
            "alpha",
        ],
    )
    .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("does not declare option \"token\" secret"),
        "{err}"
    );
    assert_eq!(env.json(&["list", "--all"]), json!([]), "nothing recorded");
    env.config("provider_keys:\n  - {extension: fixture, options: {api_key: env:X}}\n");
    let err = env.fails(&["list"], 2);
    assert!(err.contains("name the project or the consumer"), "{err}");
}

#[tokio::test]
async fn the_daemon_calls_with_the_owner_s_key_whoever_asks() {
    let (alpha, _) = keys();
    let env = env();
    let key_file = env.env.path("alpha.key");
    std::fs::write(&key_file, &alpha).unwrap();
    let keys = format!(
        "provider_keys:\n  - {{extension: fixture, project: alpha, options: {{api_key: \"file:{}\"}}}}\n",
        key_file.display()
    );
    let d = Daemon::start_with(env, &super::daemon::config(&keys));
    let a = d.create(ALPHA, json!({"profile": "fix"})).await;
    let a = a["id"].as_str().unwrap().to_string();
    let b = d.create(BETA, json!({"profile": "fix"})).await;
    let b = b["id"].as_str().unwrap().to_string();
    assert_eq!(account(&d.env, &a).as_deref(), Some(alpha.as_str()));
    assert_eq!(account(&d.env, &b), None);

    // The owner's key, not the caller's: an admin reaches alpha's sandbox too,
    // and beta's goes on without a key.
    for (token, id) in [(ALPHA, &a), (ADMIN, &a), (BETA, &b), (ADMIN, &b)] {
        let (status, body) = d
            .call("GET", &format!("/v1/sandboxes/{id}"), Some(token), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{token} {id}: {body}");
        assert!(!body.to_string().contains(&alpha), "the key in a response");
    }
    let (status, _) = d
        .call("DELETE", &format!("/v1/sandboxes/{a}"), Some(ADMIN), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(account(&d.env, &a), None, "destroyed with alpha's key");
}

/// The daemon keeps an owner's keyed extension: a second call with the same key
/// neither resolves the key again (a `cmd:` reference runs once) nor starts
/// another process.
#[tokio::test]
async fn the_daemon_resolves_a_key_once_while_its_extension_lives() {
    let (alpha, _) = keys();
    let env = env();
    let runs = env.env.path("key-command-runs");
    let command = env.env.path("alpha-key.sh");
    std::fs::write(
        &command,
        format!(
            "#!/bin/sh\necho run >> '{}'\necho '{alpha}'\n",
            runs.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&command, std::fs::Permissions::from_mode(0o755)).unwrap();
    let keys = format!(
        "provider_keys:\n  - {{extension: fixture, project: alpha, options: {{api_key: \"cmd:{}\"}}}}\n",
        command.display()
    );
    let d = Daemon::start_with(env, &super::daemon::config(&keys));
    let a = d.create(ALPHA, json!({"profile": "fix"})).await;
    let b = d.create(ALPHA, json!({"profile": "fix"})).await;
    for sandbox in [&a, &b] {
        let id = sandbox["id"].as_str().unwrap();
        assert_eq!(account(&d.env, id).as_deref(), Some(alpha.as_str()));
    }
    let ran = std::fs::read_to_string(&runs).unwrap();
    assert_eq!(ran.lines().count(), 1, "the key command ran {ran:?}");
}
