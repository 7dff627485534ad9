//! Secrets at the provision boundary, audited: a real compose sandbox created
//! through the daemon gets three secrets (from the environment, a file and a
//! command); the container sees each, and none of their values is in the SQLite
//! files, the daemon's debug log, the events (paged and streamed), any API
//! response, or the labels of any podman object. A missing secret is refused
//! before anything is provisioned, naming the reference, not a value.

use super::daemon_support::{TOKEN, call, daemon_yaml, start_with};
use super::support::{E2e, podman_count};
use sandboxer_tests::{bin, loopback};
use serde_json::json;
use std::process::{Command, Stdio};

fn sha256(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every label of every podman object carrying `sandboxer.id=<id>`.
fn podman_labels(id: &str) -> String {
    let filter = format!("label=sandboxer.id={id}");
    let script = "for c in $(podman ps -aq --filter \"$1\"); do podman inspect --format '{{json .Config.Labels}}' \"$c\"; done; \
        for n in $(podman network ls -q --filter \"$1\"); do podman network inspect --format '{{json .Labels}}' \"$n\"; done; \
        for v in $(podman volume ls -q --filter \"$1\"); do podman volume inspect --format '{{json .Labels}}' \"$v\"; done";
    let out = Command::new("sh")
        .args(["-c", script, "sh", &filter])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn a_secret_reaches_the_container_and_nothing_else() {
    let e2e = E2e::new();
    e2e.configure_with(
        &[loopback::host_yaml("loopback", &e2e.workdir)],
        &daemon_yaml("1s", "5m"),
    );
    let n = std::process::id();
    let from_env = format!("env-secret-{n}-c0ffee");
    let from_file = format!("file-secret-{n}-b16b00b5");
    let from_cmd = format!("cmd-secret-{n}-deadbeef");
    let file = e2e.env.path("db-password");
    std::fs::write(&file, format!("{from_file}\n")).unwrap();
    let cmd_source = e2e.env.path("signing-source");
    std::fs::write(&cmd_source, &from_cmd).unwrap();

    e2e.sleeper_profile(
        "audited",
        &format!(
            "extension: ext.compose-ssh\nttl: {{default: 1h, max: 2h}}\n\
             secrets:\n  API_TOKEN: env:AUDIT_SECRET\n  DB_PASSWORD: file:{}\n  SIGNING_KEY: \"cmd:cat {}\"\n\
             spec: {{compose_file: compose.yaml}}\n",
            file.display(),
            cmd_source.display()
        ),
    );
    std::fs::write(
        e2e.env.path("profiles/missing.profile.yaml"),
        "id: profile.missing\nversion: 1\nextension: ext.compose-ssh\nttl: {default: 1h, max: 2h}\n\
         secrets: {API_TOKEN: env:AUDIT_NOT_SET}\nspec: {compose_file: compose.yaml}\n",
    )
    .unwrap();

    let log = e2e.env.path("daemon.log");
    let mut cmd = Command::new(bin("sandboxer"));
    cmd.env("AUDIT_SECRET", &from_env)
        .env("SANDBOXER_LOG", "debug")
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
    let d = start_with(&e2e, cmd);

    // The event stream, open before anything happens.
    let stream = reqwest::Client::new()
        .get(format!("{}/v1/events/stream", d.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();

    let mut responses = String::new();
    let (status, created) = call(
        &d,
        "POST",
        "/v1/sandboxes",
        Some(json!({"profile": "audited", "project": e2e.project, "labels": {"audit": "yes"}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    responses += &created.to_string();
    let id = created["id"].as_str().unwrap().to_string();

    // The container sees each one (compared by digest: the exec answer is an API
    // response too).
    for (name, value) in [
        ("API_TOKEN", &from_env),
        ("DB_PASSWORD", &from_file),
        ("SIGNING_KEY", &from_cmd),
    ] {
        let argv = json!(["sh", "-c", format!("printf %s \"${name}\" | sha256sum")]);
        let (status, ran) = call(
            &d,
            "POST",
            &format!("/v1/sandboxes/{id}/exec"),
            Some(json!({ "argv": argv })),
        )
        .await;
        assert_eq!(status, 200, "{ran}");
        let seen = ran["stdout"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap_or("");
        assert_eq!(seen, sha256(value), "{name} in the container");
        responses += &ran.to_string();
    }

    for path in [
        format!("/v1/sandboxes/{id}"),
        format!("/v1/sandboxes/{id}?refresh=true"),
        "/v1/sandboxes".to_string(),
        format!("/v1/events?sandbox={id}"),
        "/v1/usage".to_string(),
        "/v1/profiles/audited".to_string(),
    ] {
        let (status, body) = call(&d, "GET", &path, None).await;
        assert!(status < 500, "{path}: {status} {body}");
        responses += &body.to_string();
    }

    // A missing secret: refused before anything is provisioned, naming where the
    // value should have come from.
    let (status, refused) = call(
        &d,
        "POST",
        "/v1/sandboxes",
        Some(json!({"profile": "missing", "project": e2e.project})),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused.to_string().contains("AUDIT_NOT_SET"), "{refused}");
    responses += &refused.to_string();
    let (_, listed) = call(&d, "GET", "/v1/sandboxes?all=true", None).await;
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(1),
        "only the audited sandbox: {listed}"
    );

    let (status, destroyed) = call(&d, "DELETE", &format!("/v1/sandboxes/{id}"), None).await;
    assert_eq!(status, 200, "{destroyed}");
    responses += &destroyed.to_string();

    // What the stream carried meanwhile.
    let mut streamed = String::new();
    let mut body = stream.bytes_stream();
    use futures::StreamExt;
    while let Ok(Some(Ok(chunk))) =
        tokio::time::timeout(std::time::Duration::from_millis(500), body.next()).await
    {
        streamed += &String::from_utf8_lossy(&chunk);
    }
    assert!(
        streamed.contains(&id),
        "the stream saw the sandbox: {streamed}"
    );
    drop(d);

    let labels = podman_labels(&id);
    let state = e2e.env.state_files_text();
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.contains(&id), "the log is the daemon's debug log");
    for (what, text) in [
        ("the SQLite files", state),
        ("the daemon's log", log_text),
        ("the event stream", streamed),
        ("the API responses", responses),
        ("podman labels", labels),
    ] {
        for secret in [&from_env, &from_file, &from_cmd] {
            assert!(!text.contains(secret.as_str()), "{secret} found in {what}");
        }
    }
    assert_eq!(podman_count("ps -a", &format!("sandboxer.id={id}")), 0);
}
