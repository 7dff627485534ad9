//! `make bench` (foundation): extension spawn + handshake against spawning
//! `/bin/true`, one call round trip on a live extension, and `sandboxer list
//! --json` over 10,000 stored sandboxes. Run from a release build; prints each
//! figure with its goal.

use sandboxer_core::exthost::{Discovered, ExtensionClient, LaunchOptions};
use sandboxer_core::lifecycle::State;
use sandboxer_core::store::{Change, NewSandbox, Store};
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::*;
use serde_json::json;
use std::time::{Duration, Instant};

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let idx = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[idx]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn report(name: &str, samples: &mut [Duration], goal: &str) -> (Duration, Duration) {
    let p50 = percentile(samples, 0.50);
    let p99 = percentile(samples, 0.99);
    println!(
        "{name:<44} p50 {:>9.1} µs   p99 {:>9.1} µs   (n={}, {goal})",
        micros(p50),
        micros(p99),
        samples.len()
    );
    (p50, p99)
}

fn fixture(state: &std::path::Path) -> (Discovered, LaunchOptions) {
    let found = Discovered {
        name: "fixture".into(),
        path: sandboxer_tests::fixture_ext(),
    };
    let options = json!({ "state_dir": state });
    let launch = LaunchOptions {
        options: options.as_object().unwrap().clone(),
        ..LaunchOptions::default()
    };
    (found, launch)
}

async fn spawn_and_handshake(n: usize, state: &std::path::Path) -> Vec<Duration> {
    let (found, launch) = fixture(state);
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let client = ExtensionClient::launch(&found, launch.clone())
            .await
            .unwrap();
        samples.push(started.elapsed());
        client.shutdown().await.unwrap();
    }
    samples
}

async fn spawn_true(n: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let status = tokio::process::Command::new("/bin/true")
            .status()
            .await
            .unwrap();
        samples.push(started.elapsed());
        assert!(status.success());
    }
    samples
}

async fn round_trips(n: usize, state: &std::path::Path) -> Vec<Duration> {
    let (found, launch) = fixture(state);
    let client = ExtensionClient::launch(&found, launch).await.unwrap();
    // cost/estimate has no side effects and no I/O in the fixture: what is timed
    // is the protocol path itself (host client, pipes, SDK dispatch, and back).
    let estimate = CostEstimateParams {
        profile: ProfileRef {
            id: "profile.bench".into(),
            version: "1".into(),
            spec: json!({ "rate_per_hour": 0.5 }),
            ..Default::default()
        },
        resources: Resources::default(),
        duration_s: 3600,
    };
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let _: CostEstimate = client.request::<m::CostEstimate>(&estimate).await.unwrap();
        samples.push(started.elapsed());
    }
    client.shutdown().await.unwrap();
    samples
}

fn populate(path: &std::path::Path, count: usize) {
    let mut store = Store::open(path).unwrap();
    let now = sandboxer_core::time::now_ms();
    for i in 0..count {
        let id = format!("bench{i:06}");
        let labels = Labels::from([
            ("sandboxer.id".to_string(), id.clone()),
            ("team".to_string(), format!("t{}", i % 7)),
        ]);
        store
            .insert_sandbox(
                &NewSandbox {
                    id: id.clone(),
                    profile_id: "profile.bench".into(),
                    profile_version: "1".into(),
                    extension: "ext.fixture".into(),
                    consumer: "agt:bench".into(),
                    project: "bench".into(),
                    host: Some("local".into()),
                    labels,
                    ttl_ms: 3_600_000,
                    created_at: now + i as i64,
                    expires_at: now + 3_600_000,
                    ceiling_at: now + 7_200_000,
                    cost_per_hour: "0.1".parse().unwrap(),
                    currency: "USD".into(),
                    replaces: None,
                    resources: Default::default(),
                    idle_ms: None,
                    pool: None,
                },
                "agt:bench",
            )
            .unwrap();
        for to in [State::Provisioning, State::Ready] {
            store
                .transition(&id, to, "agt:bench", Change::default(), json!({}))
                .unwrap();
        }
    }
}

fn list_json(n: usize, state: &std::path::Path) -> Vec<Duration> {
    let sandboxer = sandboxer_tests::bin("sandboxer");
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let out = std::process::Command::new(&sandboxer)
            .args(["list", "--json"])
            .env("SANDBOXER_STATE", state)
            .output()
            .unwrap();
        samples.push(started.elapsed());
        assert!(out.status.success());
        assert!(
            out.stdout.len() > 10_000 * 100,
            "the list holds every sandbox"
        );
    }
    samples
}

fn main() {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; run `make bench` for release figures");
    }
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "foundation benchmarks ({} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let (spawn_p50, spawn_p99) = report(
        "extension spawn + handshake",
        &mut runtime.block_on(spawn_and_handshake(200, dir.path())),
        "goal: within 3x of /bin/true",
    );
    let (true_p50, true_p99) = report(
        "spawn of /bin/true (for ratio)",
        &mut runtime.block_on(spawn_true(200)),
        "reference",
    );
    println!(
        "{:<44} p50 {:>9.2} x    p99 {:>9.2} x",
        "  ratio spawn+handshake / /bin/true",
        spawn_p50.as_secs_f64() / true_p50.as_secs_f64(),
        spawn_p99.as_secs_f64() / true_p99.as_secs_f64()
    );
    report(
        "call round trip (cost/estimate, live ext.)",
        &mut runtime.block_on(round_trips(5000, dir.path())),
        "goal: p50 under 150 µs",
    );

    let state = dir.path().join("list.sqlite");
    populate(&state, 10_000);
    report(
        "sandboxer list --json, 10,000 sandboxes",
        &mut list_json(30, &state),
        "goal: under 50 ms",
    );
}
