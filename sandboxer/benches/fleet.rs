//! `make bench` (fleet): creates per second and GET throughput of the daemon
//! over its three stores — one daemon over an SQLite file, one and three
//! daemons over one PostgreSQL (`scripts/setup-postgres.sh`'s server on
//! 127.0.0.1, a schema of its own per run). Creates go through the fixture
//! extension, 32 at once, spread round-robin over the daemons; GETs of one
//! sandbox come from `wrk`, 32 connections over all daemons at once. Runs the
//! release `sandboxer serve`.

use futures::StreamExt;
use sandboxer_core::api::tokens::digest_hex;
use sandboxer_core::store::testing;
use sandboxer_tests::{TestEnv, bin};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

const TOKEN: &str = "bench-admin-token";
const CREATES: usize = 600;
const AT_ONCE: usize = 32;

struct Daemon {
    child: Child,
    url: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(env: &TestEnv, store: Option<&str>) -> Daemon {
    let mut cmd = Command::new(bin("sandboxer"));
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .envs(env.vars())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(store) = store {
        cmd.env("SANDBOXER_STATE", store);
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    Daemon { child, url }
}

/// Creates per second, spread over `urls`; one id made.
fn creates(runtime: &tokio::runtime::Runtime, urls: &[String]) -> (f64, String) {
    let http = reqwest::Client::new();
    let started = Instant::now();
    let ids: Vec<String> = runtime.block_on(
        futures::stream::iter((0..CREATES).map(|n| {
            let (http, url) = (http.clone(), urls[n % urls.len()].clone());
            async move {
                let made: serde_json::Value = http
                    .post(format!("{url}/v1/sandboxes"))
                    .bearer_auth(TOKEN)
                    .json(&serde_json::json!({"profile": "fix"}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                made["id"].as_str().expect("created").to_string()
            }
        }))
        .buffer_unordered(AT_ONCE)
        .collect(),
    );
    (
        CREATES as f64 / started.elapsed().as_secs_f64(),
        ids[0].clone(),
    )
}

/// GETs per second of sandbox `id`, from one `wrk` per daemon at once, 32
/// connections in all: the sum, and any non-2xx line.
fn gets(urls: &[String], id: &str) -> (f64, Option<String>) {
    let connections = (AT_ONCE / urls.len()).max(1).to_string();
    let runs: Vec<_> = urls
        .iter()
        .map(|url| {
            Command::new("wrk")
                .args([
                    "-t1",
                    "-c",
                    &connections,
                    "-d6s",
                    "-H",
                    &format!("Authorization: Bearer {TOKEN}"),
                    &format!("{url}/v1/sandboxes/{id}"),
                ])
                .stdout(Stdio::piped())
                .spawn()
                .expect("wrk is installed (scripts/setup-host.sh installs it)")
        })
        .collect();
    let mut total = 0.0;
    let mut errors = None;
    for run in runs {
        let out = run.wait_with_output().unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        total += report
            .lines()
            .find_map(|l| l.strip_prefix("Requests/sec:"))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("wrk said: {report}"));
        if let Some(line) = report.lines().find(|l| l.contains("Non-2xx")) {
            errors = Some(line.trim().to_string());
        }
    }
    (total, errors)
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    println!(
        "fleet benchmarks (release, {} cores, loopback; {CREATES} creates {AT_ONCE} at once, \
         GETs from wrk with {AT_ONCE} connections in all)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("{:<40} {:>12} {:>14}", "store", "creates/s", "GET req/s");
    for (name, daemons) in [
        ("SQLite file, 1 daemon", 0),
        ("PostgreSQL, 1 daemon", 1),
        ("PostgreSQL, 3 daemons", 3),
    ] {
        let env = TestEnv::new();
        std::fs::write(
            env.config_path(),
            format!(
                "daemon:\n  tokens:\n    - {{consumer: \"adm:bench\", project: bench, token_sha256: {}}}\n",
                digest_hex(TOKEN)
            ),
        )
        .unwrap();
        let started: Vec<Daemon> = if daemons == 0 {
            vec![start(&env, None)]
        } else {
            let url = testing::fresh_schema().expect("the test PostgreSQL");
            (0..daemons).map(|_| start(&env, Some(&url))).collect()
        };
        let urls: Vec<String> = started.iter().map(|d| d.url.clone()).collect();
        let (rate, id) = creates(&runtime, &urls);
        let (rps, errors) = gets(&urls, &id);
        println!(
            "{name:<40} {rate:>12.0} {rps:>14.0}{}",
            errors.map(|e| format!("  [{e}]")).unwrap_or_default()
        );
    }
}
