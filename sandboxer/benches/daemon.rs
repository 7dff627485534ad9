//! `make bench` (daemon): GET of one sandbox under load from a second process on
//! loopback (wrk; goal ≥ 15,000 req/s on 2 cores), and creates through the test
//! extension (goal ≥ 300/s). Runs the release `sandboxer serve`.

use sandboxer_core::api::tokens::digest_hex;
use sandboxer_tests::{TestEnv, bin};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

const TOKEN: &str = "bench-admin-token";

fn main() {
    let env = TestEnv::new();
    std::fs::write(
        env.config_path(),
        format!(
            "daemon:\n  tokens:\n    - {{consumer: \"adm:bench\", project: bench, token_sha256: {}}}\n",
            digest_hex(TOKEN)
        ),
    )
    .unwrap();
    let mut daemon = Command::new(bin("sandboxer"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .envs(env.vars())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(daemon.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();

    // Creates through the fixture, 32 at a time.
    let total = 600;
    let started = Instant::now();
    let ids: Vec<String> = runtime.block_on(async {
        let mut ids = vec![];
        let mut pending = futures::stream::iter((0..total).map(|_| {
            let http = http.clone();
            let url = url.clone();
            async move {
                let r: serde_json::Value = http
                    .post(format!("{url}/v1/sandboxes"))
                    .bearer_auth(TOKEN)
                    .json(&serde_json::json!({"profile": "fix"}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                r["id"].as_str().expect("created").to_string()
            }
        }))
        .buffer_unordered(32);
        use futures::StreamExt;
        while let Some(id) = pending.next().await {
            ids.push(id);
        }
        ids
    });
    let rate = total as f64 / started.elapsed().as_secs_f64();

    // GET of one sandbox under load from wrk.
    let target = format!("{url}/v1/sandboxes/{}", ids[0]);
    let wrk = Command::new("wrk")
        .args([
            "-t2",
            "-c32",
            "-d6s",
            "-H",
            &format!("Authorization: Bearer {TOKEN}"),
            &target,
        ])
        .output()
        .expect("wrk is installed (scripts/setup-host.sh installs it)");
    let report = String::from_utf8_lossy(&wrk.stdout);
    let rps: f64 = report
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("wrk said: {report}"));
    let non_2xx = report.lines().find(|l| l.contains("Non-2xx"));
    println!(
        "daemon benchmarks (release, {} cores, loopback)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<52} {:>9.0} req/s (goal >= 15,000){}",
        "GET /v1/sandboxes/{id} under wrk -t2 -c32",
        rps,
        non_2xx.map(|l| format!("  [{l}]")).unwrap_or_default()
    );
    println!(
        "{:<52} {:>9.0} /s    (goal >= 300; {total} creates, 32 at once)",
        "create through the fixture extension", rate
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
}
