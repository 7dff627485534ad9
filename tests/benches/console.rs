//! `make bench` (console): the web console's first page load in headless
//! Chromium on loopback — bytes transferred (goal under 200 KB) and time to
//! first contentful paint (goal under 300 ms) — cold (every file fetched
//! again), medians of 15 loads; and the fleet view signed in over 50
//! sandboxes, its API calls included. Runs the release `sandboxer serve`.

#[path = "../tests/console/browser.rs"]
#[allow(dead_code)] // Shared with the browser tests, which use all of it.
mod browser;

use sandboxer_core::api::tokens::digest_hex;
use sandboxer_tests::{TestEnv, bin};
use std::process::Stdio;

const TOKEN: &str = "bench-console-token-0123456789";
const ROUNDS: usize = 15;

/// (bytes transferred, first contentful paint in ms) of the page just loaded.
const MEASURE: &str = "
    const nav = performance.getEntriesByType('navigation')[0];
    const bytes = performance.getEntriesByType('resource')
        .reduce((sum, r) => sum + r.transferSize, nav.transferSize);
    const paint = performance.getEntriesByType('paint')
        .find((p) => p.name === 'first-contentful-paint');
    return [bytes, paint ? paint.startTime : -1];
";

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let env = TestEnv::new();
    std::fs::write(
        env.config_path(),
        format!(
            "daemon:\n  tokens:\n    - {{consumer: \"adm:bench\", project: bench, token_sha256: {}}}\n",
            digest_hex(TOKEN)
        ),
    )
    .unwrap();
    for _ in 0..50 {
        env.json(&[
            "create",
            "--profile",
            "fix",
            "--project",
            "bench",
            "--consumer",
            "agt:bench",
        ]);
    }
    let mut cmd = env.process(&bin("sandboxer"));
    cmd.stderr(Stdio::null());
    let served = sandboxer_tests::process::serve(cmd);
    let browser = browser::Browser::start().await;

    let mut bytes = vec![];
    let mut paints = vec![];
    for round in 0..ROUNDS {
        // A new address each time: nothing comes from the cache (the files
        // are served `no-cache`, without validators: fetched again).
        browser
            .client
            .goto(&format!("{}/?round={round}", served.url))
            .await
            .unwrap();
        browser.wait("#token").await;
        let measured = browser.client.execute(MEASURE, vec![]).await.unwrap();
        bytes.push(measured[0].as_f64().unwrap());
        paints.push(measured[1].as_f64().unwrap());
    }
    browser.sign_in(&served.url, TOKEN).await;
    browser.wait("#sandboxes tr").await;
    let fleet = browser.client.execute(MEASURE, vec![]).await.unwrap();
    browser.close().await;

    println!(
        "console benchmarks (release daemon, headless Chromium, loopback; medians of {ROUNDS} cold loads)"
    );
    println!(
        "{:<52} {:>9.1} KB   (goal < 200 KB)",
        "first page load, transferred",
        median(bytes) / 1024.0
    );
    println!(
        "{:<52} {:>9.0} ms   (goal < 300 ms)",
        "first page load, first contentful paint",
        median(paints)
    );
    println!(
        "{:<52} {:>9.1} KB   (the page, its files and its API calls)",
        "fleet view over 50 sandboxes, transferred",
        fleet[0].as_f64().unwrap() / 1024.0
    );
}
