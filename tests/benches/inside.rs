//! `make bench` (working inside a sandbox, issue 16), everything through the
//! daemon on compose-ssh over the loopback host (and the upload also on its
//! `local` host):
//! - time to interactive from a warm pool — `POST /v1/sandboxes` (a pooled
//!   sandbox claimed) then `POST …/exec` of `echo`, until its output is back —
//!   100 sequential (in batches of the pool's size, the pool refilled between
//!   them, not timed) and 20 at once, beside a bare `podman exec` of a running
//!   container. Goal: p50 < 100 ms, p95 < 200 ms.
//! - a streaming command's output latency: a line written to `cat`'s stdin
//!   (`POST …/stdin`) until it is back on the attached SSE stream. This round
//!   trip bounds the time from the process writing to the caller reading.
//!   Goal: < 20 ms.
//! - a 100 MB tree uploaded with `sandboxer cp` through the daemon, against
//!   `podman cp` of the same tree into a container, three times each in turn
//!   (medians compared), once the sandboxes used above are gone; then the
//!   same on a sandbox of compose-ssh's `local` host, which runs podman here
//!   as `podman cp` does (the goal's like for like; over ssh every byte is
//!   also encrypted and relayed by ssh). Goal: at least half the speed.

use futures::StreamExt;
use sandboxer_tests::TestEnv;
use sandboxer_tests::bench::{loopback_env, ms, run, sandboxer};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

const POOL: usize = 20;
const SEQUENTIAL: usize = 100;
/// Uploads of the 100 MB tree each way (the median is reported).
const UPLOADS: usize = 3;
const TOKEN: &str = "bench-admin-token";
const IMAGE: &str = "localhost/sandboxer-busybox:latest";

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let at = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[at]
}

/// The bench's profile `tti` (a warm pool of `pool` where given) and its
/// admin token.
fn configure(env: &TestEnv, pool: Option<usize>) {
    let dir = env.path("profiles/tti");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("compose.yaml"),
        format!(
            "services:\n  app:\n    image: {IMAGE}\n    command: [sleep, '3600']\n    \
             stop_signal: SIGKILL\n"
        ),
    )
    .unwrap();
    let pool = pool.map_or(String::new(), |size| format!("pool: {{size: {size}}}\n"));
    std::fs::write(
        dir.join("profile.yaml"),
        format!(
            "id: profile.tti\nversion: 1\nextension: ext.compose-ssh\n\
             ttl: {{default: 1h, max: 2h}}\nnetwork: {{egress: allow}}\n{pool}\
             files: [compose.yaml]\nspec: {{compose_file: compose.yaml}}\n"
        ),
    )
    .unwrap();
    let digest = Command::new("sh")
        .args(["-c", &format!("printf %s '{TOKEN}' | sha256sum")])
        .output()
        .unwrap();
    let digest = String::from_utf8(digest.stdout).unwrap();
    let mut config = std::fs::read_to_string(env.config_path()).unwrap();
    config.push_str(&format!(
        "daemon:\n  reaper_interval: 1s\n  tokens:\n    - {{consumer: \"adm:bench\", project: bench, \
         token_sha256: {}}}\n",
        digest.split_whitespace().next().unwrap()
    ));
    std::fs::write(env.config_path(), config).unwrap();
}

struct Api {
    url: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.url))
            .bearer_auth(TOKEN);
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path}: {status} {value}");
        value
    }

    /// Waits until the pool holds `POOL` ready sandboxes.
    async fn pool_full(&self) {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let pooled = self
                .call("GET", "/v1/sandboxes?project=pool&state=ready", None)
                .await;
            if pooled.as_array().unwrap().len() >= POOL {
                return;
            }
            assert!(Instant::now() < deadline, "the pool never filled");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// A sandbox of profile `tti` (from the pool where it has one), ready.
    async fn create(&self) -> String {
        let created = self
            .call(
                "POST",
                "/v1/sandboxes",
                Some(json!({"profile": "tti", "project": "bench", "consumer": "adm:bench"})),
            )
            .await;
        created["id"].as_str().unwrap().to_string()
    }

    /// One time to interactive: a claim from the pool, then a command's output.
    async fn time_to_interactive(&self) -> (Duration, String) {
        let started = Instant::now();
        let id = self.create().await;
        let out = self
            .call(
                "POST",
                &format!("/v1/sandboxes/{id}/exec"),
                Some(json!({"argv": ["echo", "ready"]})),
            )
            .await;
        let took = started.elapsed();
        assert_eq!(out["stdout"], "ready\n", "{out}");
        (took, id)
    }
}

/// A bare `podman exec` of a running container, timed as a command.
fn bare_exec(container: &str) -> Duration {
    run(Command::new("podman").args(["exec", container, "echo", "ready"])).0
}

/// Round trips of a line through `cat`: written to its stdin, read back from
/// the attached stream.
async fn echo_round_trips(api: &Api, id: &str, rounds: usize) -> Vec<Duration> {
    let started = api
        .call(
            "POST",
            &format!("/v1/sandboxes/{id}/commands"),
            Some(json!({"argv": ["cat"], "stdin": true})),
        )
        .await;
    let exec_id = started["exec_id"].as_str().unwrap().to_string();
    let response = api
        .http
        .get(format!(
            "{}/v1/sandboxes/{id}/commands/{exec_id}/output",
            api.url
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let mut samples = vec![];
    for round in 0..rounds {
        use base64::Engine as _;
        let line = format!("line {round}\n");
        let data = base64::engine::general_purpose::STANDARD.encode(&line);
        let sent = Instant::now();
        api.call(
            "POST",
            &format!("/v1/sandboxes/{id}/commands/{exec_id}/stdin"),
            Some(json!({ "data": data })),
        )
        .await;
        let mut seen = String::new();
        while !seen.contains(&data) {
            let chunk = body.next().await.unwrap().unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        samples.push(sent.elapsed());
    }
    api.call(
        "POST",
        &format!("/v1/sandboxes/{id}/commands/{exec_id}/stdin"),
        Some(json!({"eof": true})),
    )
    .await;
    samples
}

/// A folder of `files` files of 1 MiB each, of bytes that do not compress.
fn tree(root: &std::path::Path, files: usize) {
    std::fs::create_dir_all(root.join("deep/er")).unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..files {
        let bytes: Vec<u8> = (0..1024 * 1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let dir = if i % 2 == 0 { "deep" } else { "deep/er" };
        std::fs::write(root.join(dir).join(format!("f{i}.bin")), bytes).unwrap();
    }
}

/// The daemon of `env` on a loopback port, and a client of it.
fn start(env: &TestEnv) -> (sandboxer_tests::process::Served, Api) {
    let mut serve = Command::new(sandboxer_tests::bin("sandboxer"));
    serve
        .envs(env.vars())
        .env_remove("SANDBOXER_CONSUMER")
        .stderr(std::process::Stdio::null());
    let daemon = sandboxer_tests::process::serve(serve);
    let api = Api {
        url: daemon.url.clone(),
        http: reqwest::Client::new(),
    };
    (daemon, api)
}

/// The podman container of sandbox `id` (of one service).
fn container_of(id: &str) -> String {
    let names = run(Command::new("podman").args([
        "ps",
        "-q",
        "--filter",
        &format!("label=sandboxer.id={id}"),
    ]))
    .1;
    names.lines().next().unwrap().to_string()
}

/// Destroys what `env` still holds (its daemon gone), the pool included.
fn destroy_all(env: &TestEnv) {
    let listed = run(&mut sandboxer(env, &["list", "--all", "--json"])).1;
    let listed: Value = serde_json::from_str(&listed).unwrap();
    for s in listed.as_array().unwrap() {
        if s["state"] != "destroyed" {
            let _ = sandboxer(env, &["destroy", s["id"].as_str().unwrap()]).output();
        }
    }
}

/// Times of one tree copied in, each way.
struct Uploads {
    sandboxer: Timings,
    podman_cp: Timings,
}

impl Uploads {
    /// sandboxer cp's speed over podman cp's, from the medians.
    fn ratio(&self) -> f64 {
        self.podman_cp.median().as_secs_f64() / self.sandboxer.median().as_secs_f64()
    }
}

/// Durations of the same copy.
struct Timings(Vec<Duration>);

impl Timings {
    fn median(&self) -> Duration {
        percentile(&mut self.0.clone(), 0.5)
    }
}

impl std::fmt::Display for Timings {
    /// The median, its speed for the 100 MB tree, and the range.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut sorted = self.0.clone();
        sorted.sort();
        let median = self.median();
        write!(
            f,
            "{:>8.1} ms ({:.0} MB/s; {} to {} ms)",
            ms(median),
            100.0 * 1.048_576 / median.as_secs_f64(),
            ms(sorted[0]).round(),
            ms(sorted[sorted.len() - 1]).round()
        )
    }
}

/// The tree at `local` copied into sandbox `id` through the daemon (the CLI's
/// `cp`) and into its container with podman cp, `UPLOADS` times each in turn,
/// each into a folder of its own: medians are compared (one run of podman cp
/// alone ranged over 4x here).
fn uploads(env: &TestEnv, api: &Api, id: &str, local: &std::path::Path) -> Uploads {
    let container = container_of(id);
    let (mut by_sandboxer, mut by_podman) = (vec![], vec![]);
    for turn in 0..UPLOADS {
        by_sandboxer.push(
            run(&mut sandboxer(
                env,
                &[
                    "--server",
                    &api.url,
                    "--token",
                    TOKEN,
                    "cp",
                    local.to_str().unwrap(),
                    &format!("{id}:/tmp/by-sandboxer-{turn}"),
                ],
            ))
            .0,
        );
        by_podman.push(
            run(Command::new("podman").args([
                "cp",
                local.to_str().unwrap(),
                &format!("{container}:/tmp/by-podman-{turn}"),
            ]))
            .0,
        );
    }
    Uploads {
        sandboxer: Timings(by_sandboxer),
        podman_cp: Timings(by_podman),
    }
}

#[tokio::main]
async fn main() {
    let env = loopback_env();
    configure(&env, Some(POOL));
    let (daemon, api) = start(&env);

    let mut sequential = vec![];
    let mut used = vec![];
    while sequential.len() < SEQUENTIAL {
        api.pool_full().await;
        for _ in 0..POOL.min(SEQUENTIAL - sequential.len()) {
            let (took, id) = api.time_to_interactive().await;
            sequential.push(took);
            used.push(id);
        }
    }
    api.pool_full().await;
    let concurrent_started = Instant::now();
    let at_once = futures::future::join_all((0..POOL).map(|_| api.time_to_interactive())).await;
    let concurrent_wall = concurrent_started.elapsed();
    let mut concurrent: Vec<Duration> = at_once.iter().map(|(t, _)| *t).collect();
    used.extend(at_once.into_iter().map(|(_, id)| id));

    // What follows is timed on a quiet host: the claims above set the pool
    // refilling (20 creates), which would otherwise run beside it.
    api.pool_full().await;

    // A bare podman exec, in a container of one of those sandboxes.
    let probe = &used[0];
    let container = container_of(probe);
    let mut bare: Vec<Duration> = (0..SEQUENTIAL).map(|_| bare_exec(&container)).collect();

    let mut round_trips = echo_round_trips(&api, probe, 50).await;

    // 100 MB in, through the daemon, against podman cp, on a host holding the
    // probe and the pool: the hundred-odd sandboxes used above are destroyed
    // first (their idle connections are a background load of their own).
    for id in used.iter().filter(|id| *id != probe) {
        api.call("DELETE", &format!("/v1/sandboxes/{id}"), None)
            .await;
    }
    api.pool_full().await;
    let local = env.path("upload/tree");
    tree(&local, 100);
    let over_ssh = uploads(&env, &api, probe, &local);
    api.call("DELETE", &format!("/v1/sandboxes/{probe}"), None)
        .await;
    drop(daemon);
    destroy_all(&env);

    // The same on compose-ssh's `local` host (this machine's podman, no ssh):
    // like for like with podman cp, which runs here too.
    let here = sandboxer_tests::bench::local_env();
    configure(&here, None);
    let (daemon, api) = start(&here);
    let id = api.create().await;
    let on_local = uploads(&here, &api, &id, &local);
    drop(daemon);
    destroy_all(&here);

    let row = |what: &str, value: String| println!("{what:<66} {value}");
    println!(
        "working inside (through the daemon; {SEQUENTIAL} sequential, {POOL} at once, \
         {SEQUENTIAL} bare, 50 echoes)"
    );
    row(
        "time to interactive from the pool, sequential, p50 (goal < 100 ms)",
        format!("{:>8.1} ms", ms(percentile(&mut sequential, 0.5))),
    );
    row(
        "time to interactive from the pool, sequential, p95 (goal < 200 ms)",
        format!("{:>8.1} ms", ms(percentile(&mut sequential, 0.95))),
    );
    row(
        "time to interactive from the pool, 20 at once, p50",
        format!("{:>8.1} ms", ms(percentile(&mut concurrent, 0.5))),
    );
    row(
        "time to interactive from the pool, 20 at once, p95",
        format!("{:>8.1} ms", ms(percentile(&mut concurrent, 0.95))),
    );
    row(
        "20 at once, all done after",
        format!("{:>8.1} ms", ms(concurrent_wall)),
    );
    row(
        "bare podman exec of a running container, p50",
        format!("{:>8.1} ms", ms(percentile(&mut bare, 0.5))),
    );
    row(
        "bare podman exec of a running container, p95",
        format!("{:>8.1} ms", ms(percentile(&mut bare, 0.95))),
    );
    row(
        "stdin line to its output on the stream, p50 (bounds output; goal < 20 ms)",
        format!("{:>8.1} ms", ms(percentile(&mut round_trips, 0.5))),
    );
    row(
        "stdin line to its output on the stream, p95",
        format!("{:>8.1} ms", ms(percentile(&mut round_trips, 0.95))),
    );
    for (host, figures) in [("loopback ssh host", &over_ssh), ("local host", &on_local)] {
        row(
            &format!(
                "100 MB tree in, {host}: sandboxer cp through the daemon, median of {UPLOADS}"
            ),
            figures.sandboxer.to_string(),
        );
        row(
            &format!("100 MB tree in, {host}: podman cp, median of {UPLOADS}"),
            figures.podman_cp.to_string(),
        );
    }
    row(
        "sandboxer cp speed / podman cp speed, local host (goal >= 0.5)",
        format!("{:>8.2}", on_local.ratio()),
    );
    row(
        "sandboxer cp speed / podman cp speed, loopback ssh host",
        format!("{:>8.2}", over_ssh.ratio()),
    );
}
