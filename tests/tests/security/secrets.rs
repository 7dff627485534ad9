//! Secrets against a service that prints its environment, on a real host through
//! the daemon: one sandbox whose service dumps its environment (as written and
//! base64-encoded) and exits, so the create fails with its logs; one that dumps
//! it and stays up. The value reaches the containers and nothing else: not the
//! API's answers, the events (paged or streamed), the daemon's debug log, the
//! SQLite files, the environment of any extension process, or anything podman
//! says about the containers but their environment (the delivery itself).
//! And a provider key (BYOK) for E2B, which reaches E2B and nothing else.

use super::daemon_support::{TOKEN, call, daemon_yaml, start_with};
use super::e2b_provider;
use super::support::E2e;
use base64::Engine;
use sandboxer_tests::{bin, loopback};
use serde_json::json;
use std::process::{Command, Stdio};

/// Writes a profile whose service prints its environment, then runs `then`.
fn dumping_profile(e2e: &E2e, name: &str, then: &str) {
    let dir = e2e.env.path(&format!("profiles/{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("compose.yaml"),
        format!(
            "services:\n  app:\n    image: localhost/sandboxer-busybox:latest\n    \
             command: [sh, -c, 'env; printf %s \"API_TOKEN=$$API_TOKEN\" | base64; {then}']\n    \
             stop_signal: SIGKILL\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("profile.yaml"),
        format!(
            "id: profile.{name}\nversion: 1\nfiles: [compose.yaml]\nextension: ext.compose-ssh\n\
             ttl: {{default: 1h, max: 2h}}\nsecrets: {{API_TOKEN: env:DUMPED_SECRET}}\n\
             spec: {{compose_file: compose.yaml, ready: {{timeout: 5s}}}}\n"
        ),
    )
    .unwrap();
}

/// Everything `podman inspect` says of the containers of sandbox `id`, but their
/// environment.
fn podman_inspect_but_env(id: &str) -> String {
    let out = Command::new("sh")
        .args([
            "-c",
            "for c in $(podman ps -aq --filter \"label=sandboxer.id=$1\"); do podman inspect \"$c\"; done",
            "sh",
            id,
        ])
        .output()
        .unwrap();
    let mut all: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    if let Some(items) = all.as_array_mut() {
        for item in items {
            if let Some(config) = item.get_mut("Config").and_then(|c| c.as_object_mut()) {
                config.remove("Env");
            }
        }
    }
    all.to_string()
}

/// Panics unless sandbox `id`'s commands see `API_TOKEN` = `secret` (compared
/// inside, so the value is never printed); answers the exec's answer.
async fn assert_reached(d: &super::daemon_support::Daemon, id: &str, secret: &str) -> String {
    let (_, ran) = call(
        d,
        "POST",
        &format!("/v1/sandboxes/{id}/exec"),
        Some(json!({"argv": ["sh", "-c", "test \"$API_TOKEN\" = \"$1\" && echo same", "sh", secret]})),
    )
    .await;
    assert_eq!(ran["stdout"], "same\n", "{ran}");
    ran.to_string()
}

/// The environments of the extension processes `daemon` started.
fn extension_environments(daemon: u32) -> String {
    sandboxer_tests::extension_children(daemon)
        .into_iter()
        .map(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            String::from_utf8_lossy(&environ).into_owned() + "\n"
        })
        .collect()
}

#[tokio::test]
async fn a_service_that_prints_its_environment_leaks_the_secret_nowhere() {
    let e2e = E2e::new();
    e2e.configure_with(
        &[loopback::host_yaml("loopback", &e2e.workdir)],
        &daemon_yaml("1s", "5m"),
    );
    dumping_profile(&e2e, "dumps-and-dies", "exit 1");
    dumping_profile(&e2e, "dumps-and-stays", "exec sleep 3600");
    let secret = format!("dumped-{}-T0ken/with+chars", std::process::id());
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("API_TOKEN={secret}"));

    let log = e2e.env.path("daemon.log");
    let mut cmd = Command::new(bin("sandboxer"));
    cmd.env("DUMPED_SECRET", &secret)
        .env("SANDBOXER_LOG", "debug")
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
    let d = start_with(&e2e, cmd);
    let stream = reqwest::Client::new()
        .get(format!("{}/v1/events/stream", d.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();

    let mut answers = String::new();
    let (status, failed) = call(
        &d,
        "POST",
        "/v1/sandboxes",
        Some(json!({"profile": "dumps-and-dies", "project": e2e.project})),
    )
    .await;
    assert!(status >= 400, "{status} {failed}");
    answers += &failed.to_string();
    assert!(
        failed.to_string().contains("[redacted secret API_TOKEN]"),
        "the service's output is kept in the error, redacted: {failed}"
    );
    let (status, up) = call(
        &d,
        "POST",
        "/v1/sandboxes",
        Some(json!({"profile": "dumps-and-stays", "project": e2e.project})),
    )
    .await;
    assert_eq!(status, 201, "{up}");
    let id = up["id"].as_str().unwrap().to_string();
    answers += &up.to_string();
    // The secret did reach the container.
    assert_reached(&d, &id, &secret).await;
    for path in [
        "/v1/sandboxes?all=true",
        "/v1/events",
        "/v1/usage",
        "/v1/profiles",
    ] {
        let (_, body) = call(&d, "GET", path, None).await;
        answers += &body.to_string();
    }
    let environments = extension_environments(d.id());
    assert!(
        environments.contains("SANDBOXER_PROTOCOL"),
        "the extensions were found"
    );
    let inspected = podman_inspect_but_env(&id);
    assert!(inspected.contains(&id), "podman inspected the sandbox");

    let mut streamed = String::new();
    let mut body = stream.bytes_stream();
    use futures::StreamExt;
    while let Ok(Some(Ok(chunk))) =
        tokio::time::timeout(std::time::Duration::from_millis(500), body.next()).await
    {
        streamed += &String::from_utf8_lossy(&chunk);
    }
    let (status, _) = call(&d, "DELETE", &format!("/v1/sandboxes/{id}"), None).await;
    assert_eq!(status, 200);
    drop(d);

    let state = e2e.env.state_files_text();
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.contains(&id), "the log is the daemon's debug log");
    for (what, text) in [
        ("the API answers", answers),
        ("the event stream", streamed),
        ("the daemon's debug log", log_text),
        ("the SQLite files", state),
        ("the extensions' environments", environments),
        ("podman inspect", inspected),
    ] {
        assert!(!text.contains(&secret), "the secret is in {what}");
        assert!(!text.contains(&b64), "the secret (base64) is in {what}");
    }
}

/// The E2B provider key (BYOK) of a project, on its way from the operator's
/// secret source to E2B: it reaches E2B (the sandbox is made there, charged
/// to the key) and nothing else of the installation that holds it — not the
/// API's answers, the events, the daemon's debug log, the SQLite files or the
/// environment of any extension process (it travels in `initialize` alone).
/// A profile secret given to an E2B sandbox reaches its commands and neither
/// installation's records.
#[tokio::test]
async fn an_e2b_provider_key_reaches_e2b_and_nothing_else() {
    let provider = e2b_provider::provider("");
    let e2b = start_with(&provider, Command::new(bin("sandboxer")));
    let key = e2b_provider::PROVIDER_KEY;
    let user = E2e::new();
    e2b_provider::configure_user(
        &user,
        &format!("{}/e2b", e2b.url),
        e2b_provider::KEY_VARIABLE,
        &daemon_yaml("1s", "5m"),
    );
    user.sleeper_profile(
        "hosted",
        &format!(
            "extension: ext.e2b\nttl: {{default: 1h, max: 2h}}\nnetwork: {{egress: allow}}\n\
             secrets: {{API_TOKEN: env:HOSTED_SECRET}}\nspec: {{template: {}}}\n",
            e2b_provider::TEMPLATE
        ),
    );
    let secret = format!("hosted-{}-S3cret", std::process::id());
    let log = user.env.path("daemon.log");
    let mut cmd = Command::new(bin("sandboxer"));
    // The most the daemon and the extension write (the extension's stderr is
    // the daemon's).
    cmd.env(e2b_provider::KEY_VARIABLE, key)
        .env("HOSTED_SECRET", &secret)
        .env("SANDBOXER_LOG", "debug")
        .env("SANDBOXER_EXT_LOG", "trace")
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
    let d = start_with(&user, cmd);

    let mut answers = String::new();
    let (status, up) = call(
        &d,
        "POST",
        "/v1/sandboxes",
        Some(json!({"profile": "hosted", "project": user.project})),
    )
    .await;
    assert_eq!(status, 201, "{up}");
    let id = up["id"].as_str().unwrap().to_string();
    assert_eq!(up["extension"], "ext.e2b");
    answers += &up.to_string();
    // The key reached E2B: the sandbox is there, the key's consumer's.
    let held = provider.json(&["list", "--label", &format!("e2b.sandboxer.id={id}")]);
    assert_eq!(
        held[0]["consumer"],
        e2b_provider::PROVIDER_CONSUMER,
        "{held}"
    );
    // The profile's secret reached the sandbox's commands.
    answers += &assert_reached(&d, &id, &secret).await;
    for path in [
        format!("/v1/sandboxes/{id}"),
        "/v1/sandboxes?all=true".to_string(),
        "/v1/events".to_string(),
        "/v1/usage".to_string(),
        "/v1/extensions".to_string(),
    ] {
        let (_, body) = call(&d, "GET", &path, None).await;
        answers += &body.to_string();
    }
    let environments = extension_environments(d.id());
    assert!(
        environments.contains("SANDBOXER_PROTOCOL"),
        "the extensions were found"
    );
    let (status, _) = call(&d, "DELETE", &format!("/v1/sandboxes/{id}"), None).await;
    assert_eq!(status, 200);
    drop(d);
    drop(e2b);

    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.contains(&id) && log_text.contains("created on E2B"),
        "the log is the daemon's and the extension's: {log_text}"
    );
    for (what, text) in [
        ("the API answers", answers),
        ("the daemon's and the extension's trace log", log_text),
        ("the SQLite files", user.env.state_files_text()),
        ("the extensions' environments", environments),
        (
            "the configuration",
            std::fs::read_to_string(user.env.config_path()).unwrap(),
        ),
    ] {
        assert!(!text.contains(key), "the provider key is in {what}");
        assert!(!text.contains(&secret), "the profile's secret is in {what}");
    }
    // Nor does the provider keep either: it knows keys by their digests, and
    // a sandbox's envVars only in memory.
    let provider_state = provider.env.state_files_text();
    assert!(!provider_state.contains(key), "the key is in E2B's records");
    assert!(
        !provider_state.contains(&secret),
        "the secret is in E2B's records"
    );
}
