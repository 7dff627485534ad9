//! The security suite, core half (the compose-ssh half is `tests/tests/security`):
//! what an attacker with a member token, a hostile profile or a backend that
//! echoes secrets tries, each reproduced against the real CLI and daemon with real
//! extension processes, and held.

use super::daemon::{ADMIN, ALPHA, BETA, Daemon, config};
use super::support::env as test_env;
use base64::Engine;
use reqwest::StatusCode;
use sandboxer_core::api::tokens::digest_hex;
use sandboxer_tests::process::KillOnDrop;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

/// A token of consumer agt:alpha, as ALPHA's, but in project beta.
const ALPHA_IN_BETA: &str = "alpha-in-beta-token-0123";

fn mode(path: &std::path::Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

/// Polls `done` every 100 ms for up to `within`.
fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    done()
}

/// `sandboxer serve` on 127.0.0.1:0 in `env` (its configuration already written),
/// with `vars` added to its environment and its stderr to `stderr`; the daemon and
/// the URL it listens on. Killed when dropped.
fn serve(
    env: &super::support::Env,
    vars: &[(&str, &str)],
    stderr: std::process::Stdio,
) -> (KillOnDrop, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sandboxer"));
    cmd.envs(env.env.vars())
        .envs(vars.iter().copied())
        .stderr(stderr);
    let served = sandboxer_tests::process::serve(cmd);
    (served.process, served.url)
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn an_idempotency_key_belongs_to_a_project_and_to_one_request() {
    let extra = format!(
        "\x20   - {{consumer: \"agt:alpha\", project: beta, token_sha256: {}}}\n",
        digest_hex(ALPHA_IN_BETA)
    );
    let d = Daemon::start_with(test_env(), &config(&extra));
    let post = |token: &'static str, body: Value| {
        let request = d
            .http
            .post(format!("{}/v1/sandboxes", d.url))
            .bearer_auth(token)
            .header("Idempotency-Key", "same-key")
            .json(&body);
        async move {
            let r = request.send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, a) = post(ALPHA, json!({"profile": "fix"})).await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    // The same consumer name in another project replays the key: it must get a
    // sandbox of its own, never project alpha's record.
    let (status, b) = post(ALPHA_IN_BETA, json!({"profile": "fix"})).await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    assert_ne!(a["id"], b["id"]);
    assert_eq!(b["project"], "beta");
    let (status, again) = post(ALPHA, json!({"profile": "fix"})).await;
    assert_eq!((status, &again["id"]), (StatusCode::OK, &a["id"]));
    // The same key for another request is refused, not answered with the first.
    let (status, other) = post(ALPHA, json!({"profile": "fix", "labels": {"x": "y"}})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{other}");
    assert_eq!(other["error"]["code"], "idempotency_mismatch");
    assert!(!other.to_string().contains("\"labels\""), "{other}");
}

#[tokio::test]
async fn absurd_lifetimes_are_refused_naming_the_field_and_change_nothing() {
    let d = Daemon::start();
    let created = d.create(ADMIN, json!({"profile": "fix"})).await;
    let id = created["id"].as_str().unwrap();
    for by in ["5000000000000h", "9999999999999999999999h", "1ns", "0s"] {
        let (status, body) = d
            .call(
                "POST",
                &format!("/v1/sandboxes/{id}/extend-ttl"),
                Some(ADMIN),
                Some(json!({ "by": by })),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{by}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("by:"),
            "{body}"
        );
    }
    let (status, body) = d
        .call(
            "POST",
            "/v1/sandboxes",
            Some(ADMIN),
            Some(json!({"profile": "fix", "ttl": "1ns"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("ttl:"),
        "{body}"
    );
    // From the CLI too, on the same state file: exit 2, the flag named.
    let err = d.env.fails(&["extend-ttl", id, "5000000000000h"], 2);
    assert!(err.contains("longest accepted"), "{err}");
    let (_, now) = d
        .call("GET", &format!("/v1/sandboxes/{id}"), Some(ADMIN), None)
        .await;
    assert_eq!(
        now["expires_at"], created["expires_at"],
        "the expiry did not move"
    );
    assert_eq!(now["state"], "ready", "not reaped as if it expired in 1970");
}

#[test]
fn a_huge_or_deeply_nested_profile_is_refused_and_the_others_still_load() {
    let env = test_env();
    let deep = format!(
        "id: profile.deep\nversion: 1\nextension: ext.fixture\nttl: {{default: 1h, max: 2h}}\n\
         spec: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    env.env.write_profile("deep", &deep);
    let huge = sandboxer_tests::fixture_profile("huge", "1h", "2h")
        .replace("Fixture sandbox for tests.", &"x".repeat(3 * 1024 * 1024));
    env.env.write_profile("huge", &huge);
    // The list still comes, with each broken file named on stderr (exit 2).
    let out = env
        .sandboxer(&["profiles", "list", "--json"])
        .assert()
        .code(2);
    let listed: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("deep.profile.yaml") && stderr.contains("huge.profile.yaml"),
        "{stderr}"
    );
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert!(ids.contains(&"profile.fix"), "{ids:?}");
    let err = env.fails(&["profiles", "show", "deep"], 2);
    assert!(
        err.contains("deep.profile.yaml:5: (document): nested"),
        "{err}"
    );
    let err = env.fails(&["profiles", "show", "huge"], 2);
    assert!(err.contains("huge.profile.yaml: (document):"), "{err}");
    assert!(err.contains("larger than"), "{err}");
    env.create(&[]);
}

#[test]
fn a_shipped_file_is_never_read_through_a_link_out_of_the_profile() {
    let env = test_env();
    let outside = env.env.path("outside-secret");
    std::fs::write(&outside, "root:TOPSECRET-HASH:0:0\n").unwrap();
    let dir = env.env.path("profiles/leaky");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("compose.yaml")).unwrap();
    std::fs::write(
        dir.join("profile.yaml"),
        "id: profile.leaky\nversion: 1\nextension: ext.fixture\nttl: {default: 1h, max: 2h}\n\
         files: [compose.yaml]\nspec: {}\n",
    )
    .unwrap();
    let err = env.fails(
        &[
            "create",
            "--profile",
            "leaky",
            "--consumer",
            "agt:a",
            "--project",
            "p",
        ],
        2,
    );
    assert!(err.contains("files[0]"), "{err}");
    assert!(err.contains("not a regular file inside"), "{err}");
    assert!(!err.contains("TOPSECRET"), "{err}");
    let listed = env.json(&["list", "--all"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "nothing recorded");
}

#[test]
fn state_files_are_private_in_a_private_folder() {
    let env = test_env();
    let state = env.env.path("fresh/state/state.sqlite");
    env.sandboxer(&["list"])
        .env("SANDBOXER_STATE", &state)
        .assert()
        .success();
    env.sandboxer(&[
        "create",
        "--profile",
        "fix",
        "--consumer",
        "agt:a",
        "--project",
        "p",
    ])
    .env("SANDBOXER_STATE", &state)
    .assert()
    .success();
    assert_eq!(mode(state.parent().unwrap()), 0o700);
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", state.display()));
        if file.exists() {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }
    // A state file made world-readable by hand is narrowed again.
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o644)).unwrap();
    env.sandboxer(&["list"])
        .env("SANDBOXER_STATE", &state)
        .assert()
        .success();
    assert_eq!(mode(&state), 0o600);
}

#[test]
fn the_daemon_token_file_follows_no_link() {
    let env = test_env();
    let victim = env.env.path("victim");
    std::fs::write(&victim, "victim contents\n").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let token_file = env.env.state_path().with_file_name("daemon.token");
    std::os::unix::fs::symlink(&victim, &token_file).unwrap();
    drop(serve(&env, &[], std::process::Stdio::null()));
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "victim contents\n"
    );
    assert_eq!(mode(&victim), 0o644);
    let meta = std::fs::symlink_metadata(&token_file).unwrap();
    assert!(meta.is_file(), "daemon.token is a new regular file");
    assert_eq!(mode(&token_file), 0o600);
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap().trim().len(),
        64
    );
}

#[tokio::test]
async fn secrets_never_leave_through_what_an_extension_says() {
    let env = test_env();
    let secret = format!("s3cr3t-{}-value+/with?chars", std::process::id());
    env.env.write_profile(
        "leaky",
        "id: profile.leaky\nversion: 1\nextension: ext.fixture\nttl: {default: 1h, max: 2h}\n\
         secrets: {API_TOKEN: env:LEAKY_SECRET}\nspec: {}\n",
    );
    let log_path = env.env.path("daemon.log");
    env.config(&config(
        "extensions:\n  fixture:\n    options: {fault: secret-in-error}\n",
    ));
    let (daemon, url) = serve(
        &env,
        &[
            ("LEAKY_SECRET", secret.as_str()),
            ("SANDBOXER_LOG", "debug"),
            ("SANDBOXER_EXT_LOG", "debug"),
        ],
        std::fs::File::create(&log_path).unwrap().into(),
    );
    let http = reqwest::Client::new();
    let stream = http
        .get(format!("{url}/v1/events/stream"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let mut seen = String::new();
    let created = http
        .post(format!("{url}/v1/sandboxes"))
        .bearer_auth(ADMIN)
        .json(&json!({"profile": "leaky"}))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_server_error(), "{}", created.status());
    seen += &created.text().await.unwrap();
    for path in ["/v1/sandboxes?all=true", "/v1/events", "/v1/usage"] {
        let r = http
            .get(format!("{url}{path}"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        seen += &r.text().await.unwrap();
    }
    let mut streamed = String::new();
    let mut body = stream.bytes_stream();
    use futures::StreamExt;
    while let Ok(Some(Ok(chunk))) =
        tokio::time::timeout(Duration::from_millis(600), body.next()).await
    {
        streamed += &String::from_utf8_lossy(&chunk);
    }
    drop(daemon);

    assert!(
        seen.contains("[redacted secret API_TOKEN]"),
        "the backend's error is kept, redacted: {seen}"
    );
    let state = env.env.state_files_text();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("service output"),
        "the log saw the extension's output: {log}"
    );
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("API_TOKEN={secret}"));
    let url_form: String = secret
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect();
    for (what, text) in [
        ("the API answers", seen),
        ("the event stream", streamed),
        ("the daemon's debug log", log),
        ("the SQLite files", state),
    ] {
        for (form, value) in [
            ("as written", &secret),
            ("base64", &b64),
            ("URL-encoded", &url_form),
        ] {
            assert!(
                !text.contains(value.as_str()),
                "the secret ({form}) is in {what}"
            );
        }
    }
}

#[tokio::test]
async fn extensions_get_a_clean_environment() {
    let env = test_env();
    env.env.write_profile(
        "withsecret",
        "id: profile.withsecret\nversion: 1\nextension: ext.fixture\nttl: {default: 1h, max: 2h}\n\
         secrets: {API_TOKEN: env:SOURCE_SECRET}\nspec: {}\n",
    );
    env.config(&config(
        "extensions:\n  fixture:\n    env: {FIXTURE_CONFIGURED: from-config}\n",
    ));
    let (child, url) = serve(
        &env,
        &[
            ("SANDBOXER_TOKEN", "sandboxer-token-value"),
            ("SOURCE_SECRET", "source-secret-value"),
            ("AWS_SECRET_ACCESS_KEY", "aws-secret-value"),
            ("SANDBOXER_EXT_FIXTURE_MARK", "for-the-fixture"),
            ("SANDBOXER_EXT_OTHER_MARK", "for-another-extension"),
        ],
        std::process::Stdio::null(),
    );
    let created = reqwest::Client::new()
        .post(format!("{url}/v1/sandboxes"))
        .bearer_auth(ADMIN)
        .json(&json!({"profile": "withsecret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let pids = sandboxer_tests::extension_children(child.0.id());
    let name_of = |pid: u32| {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).into_owned();
        let exe = cmdline.split('\0').next().unwrap_or_default().to_string();
        exe.rsplit("sandboxer-ext-")
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let names: Vec<String> = pids.iter().map(|p| name_of(*p)).collect();
    assert!(
        names.iter().any(|n| n == "fixture"),
        "the daemon keeps the fixture running: {names:?}"
    );
    for (pid, name) in pids.iter().zip(&names) {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let environ = String::from_utf8_lossy(&environ).into_owned();
        let keys: Vec<&str> = environ
            .split('\0')
            .filter_map(|kv| kv.split_once('=').map(|(k, _)| k))
            .collect();
        for value in [
            "sandboxer-token-value",
            "source-secret-value",
            "aws-secret-value",
        ] {
            assert!(
                !environ.contains(value),
                "{value} in the environment of {name}: {keys:?}"
            );
        }
        let own = format!("SANDBOXER_EXT_{}_", name.to_uppercase().replace('-', "_"));
        for key in &keys {
            let allowed = [
                "PATH",
                "HOME",
                "USER",
                "LOGNAME",
                "LANG",
                "LANGUAGE",
                "TMPDIR",
                "TZ",
                "XDG_RUNTIME_DIR",
                "SSH_AUTH_SOCK",
                "SANDBOXER_EXT_LOG",
                "SANDBOXER_PROTOCOL",
            ]
            .contains(key)
                || key.starts_with("LC_")
                || key.starts_with(&own)
                || (name == "fixture" && *key == "FIXTURE_CONFIGURED");
            assert!(allowed, "{key} reached extension {name}");
        }
        if name == "fixture" {
            assert!(
                environ.contains("SANDBOXER_EXT_FIXTURE_MARK=for-the-fixture"),
                "{keys:?}"
            );
            assert!(
                environ.contains("FIXTURE_CONFIGURED=from-config"),
                "{keys:?}"
            );
            assert!(!environ.contains("for-another-extension"), "{keys:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extension_ends_with_the_daemon_even_when_it_is_stuck() {
    let env = test_env();
    env.config(&config(
        "extensions:\n  fixture:\n    options: {fault: hang=sandbox/create}\n",
    ));
    let (mut child, url) = serve(&env, &[], std::process::Stdio::null());
    // A create the fixture never answers: it stops itself (SIGSTOP), so it will
    // not notice its stdin closing either.
    let create = reqwest::Client::new()
        .post(format!("{url}/v1/sandboxes"))
        .bearer_auth(ADMIN)
        .json(&json!({"profile": "fix"}))
        .send();
    let pending = tokio::spawn(create);
    let daemon = child.0.id();
    let stuck = |pid: &u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('T')
            })
            .unwrap_or(false)
    };
    let mut pids = vec![];
    assert!(
        eventually(Duration::from_secs(10), || {
            pids = sandboxer_tests::extension_children(daemon)
                .into_iter()
                .filter(stuck)
                .collect();
            !pids.is_empty()
        }),
        "the fixture stopped itself in create"
    );
    // The daemon dies without a word: its extensions end with it.
    let _ = child.0.kill();
    let _ = child.0.wait();
    pending.abort();
    assert!(
        eventually(Duration::from_secs(10), || pids.iter().all(|p| !alive(*p))),
        "extension processes {pids:?} outlived the daemon"
    );
}

#[test]
fn a_create_that_never_became_ready_costs_nothing() {
    let env = test_env();
    let out = env
        .sandboxer(&[
            "create",
            "--profile",
            "fix",
            "--consumer",
            "agt:a",
            "--project",
            "p",
            "--wait",
        ])
        .env(
            "SANDBOXER_EXT_FIXTURE_FAULT",
            "slow=sandbox/create:1200,unavailable=sandbox/create",
        )
        .assert()
        .code(5);
    drop(out);
    let records = env.json(&["list", "--all"]);
    let record = &records.as_array().unwrap()[0];
    assert_eq!(record["state"], "failed");
    let id = record["id"].as_str().unwrap();
    let number = |v: &Value| v.as_str().unwrap_or("0").parse::<f64>().unwrap();
    let got = env.json(&["get", id, "--cached"]);
    assert_eq!(number(&got["usage"]["cost"]), 0.0, "{got}");
    let usage = env.json(&["usage", "--by", "project"]);
    for total in usage["totals"].as_array().unwrap() {
        assert_eq!(
            number(&total["cost"]),
            0.0,
            "a failed create is charged nothing: {usage}"
        );
    }
    // A create that did become ready is charged, its provisioning included.
    let ok = env.create(&[]);
    let charged = env.json(&["get", ok["id"].as_str().unwrap(), "--cached"]);
    assert!(number(&charged["usage"]["cost"]) > 0.0, "{charged}");
}

/// Sends raw bytes to the daemon and reads until it closes or `within` passes;
/// returns what came back and whether the server closed the connection.
fn raw(url: &str, request: &[u8], within: Duration) -> (String, bool) {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(within)).unwrap();
    stream.write_all(request).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

#[tokio::test]
async fn the_daemon_drops_idle_connections_and_bounds_bodies() {
    let d = Daemon::start_with(
        test_env(),
        &config(
            "  header_timeout: 1s\n  body_timeout: 1s\n  max_body_bytes: 4096\n  max_connections: 64\n",
        ),
    );
    // 200 connections that never send a request are all closed by the daemon.
    let addr = d.url.trim_start_matches("http://").to_string();
    let idle: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(2500));
    let mut open = 0;
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 1];
        if !matches!(s.read(&mut buf), Ok(0)) {
            open += 1;
        }
    }
    assert_eq!(
        open, 0,
        "connections left open by a client that sent nothing"
    );
    // The daemon still answers.
    let (status, _) = d.call("GET", "/healthz", Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::OK);

    let big = json!({"profile": "fix", "labels": {"k": "v".repeat(10_000)}});
    let (status, body) = d
        .call("POST", "/v1/sandboxes", Some(ADMIN), Some(big))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");

    // A body announced and never finished: 408 once the body deadline passes.
    let head = format!(
        "POST /v1/sandboxes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"profile\""
    );
    let (answer, _) = raw(&d.url, head.as_bytes(), Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // The scheme is case-insensitive.
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: bearer {ADMIN}\r\nConnection: close\r\n\r\n"
    );
    let (answer, _) = raw(&d.url, request.as_bytes(), Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_member_sees_names_not_the_fleet_its_sources_or_paths() {
    let env = test_env();
    env.env.write_profile(
        "sourced",
        "id: profile.sourced\nversion: 1\nextension: ext.fixture\nttl: {default: 1h, max: 2h}\n\
         secrets: {API_TOKEN: \"cmd:cat /etc/daemon-only/token\", DB: env:DB_PASSWORD_SOURCE}\nspec: {}\n",
    );
    let d = Daemon::start_with(env, &config(""));
    for path in ["/metrics", "/v1/hosts"] {
        let (status, body) = d.call("GET", path, Some(ALPHA), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        let (status, _) = d.call("GET", path, Some(ADMIN), None).await;
        assert_eq!(status, StatusCode::OK, "{path} as admin");
    }
    let (_, profile) = d
        .call("GET", "/v1/profiles/sourced", Some(ALPHA), None)
        .await;
    assert_eq!(profile["secrets"], json!(["API_TOKEN", "DB"]), "{profile}");
    let (_, profiles) = d.call("GET", "/v1/profiles", Some(BETA), None).await;
    let text = profiles.to_string();
    assert!(
        !text.contains("cmd:") && !text.contains("env:DB_PASSWORD_SOURCE"),
        "{text}"
    );
    let (_, as_admin) = d
        .call("GET", "/v1/profiles/sourced", Some(ADMIN), None)
        .await;
    assert_eq!(as_admin["secrets"]["DB"], "env:DB_PASSWORD_SOURCE");

    let created = d.create(ALPHA, json!({"profile": "fix"})).await;
    let id = created["id"].as_str().unwrap();
    let fixture_path = sandboxer_tests::fixture_ext().display().to_string();
    let (_, events) = d
        .call(
            "GET",
            &format!("/v1/events?sandbox={id}"),
            Some(ALPHA),
            None,
        )
        .await;
    assert!(!events.to_string().contains(&fixture_path), "{events}");
    let (_, events) = d
        .call(
            "GET",
            &format!("/v1/events?sandbox={id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert!(
        events.to_string().contains("sandboxer-ext-fixture"),
        "an admin sees the path"
    );
    let (_, extensions) = d.call("GET", "/v1/extensions", Some(ALPHA), None).await;
    assert!(
        extensions
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e.get("path").is_none()),
        "{extensions}"
    );
}
