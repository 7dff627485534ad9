//! Warm pools on the fixture extension: `reap-stale` (and the daemon's loop) fill
//! a profile's pool; a create takes a pooled sandbox at once, re-attributed and
//! re-labelled, its time split between the pool and the consumer; the pool is
//! filled again; a budget still refuses a claim.

use super::daemon::{ALPHA, Daemon};
use super::support::{Env, env};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const POOLED: &str = "id: profile.warm\nversion: 1\nextension: ext.fixture\n\
ttl: {default: 30m, max: 2h, idle: 10m}\ncost: {per_hour: 3.6}\npool: {size: 2}\n\
labels: {kind: warm}\nspec: {}\n";

fn pooled_env() -> Env {
    let env = env();
    env.env.write_profile("warm", POOLED);
    env
}

fn waiting(env: &Env) -> Vec<Value> {
    env.json(&["list", "--project", "pool", "--in-state", "ready"])
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_create_takes_a_pooled_sandbox_and_the_pool_fills_again() {
    let env = pooled_env();
    env.ok(&["reap-stale"]);
    let pool = waiting(&env);
    assert_eq!(pool.len(), 2, "{pool:?}");
    assert!(pool.iter().all(|s| s["consumer"] == "adm:pool"));
    let oldest = pool
        .iter()
        .min_by_key(|s| s["created_at"].as_str().unwrap().to_string())
        .unwrap()["id"]
        .clone();
    std::thread::sleep(Duration::from_millis(300));

    let taken = env.json(&[
        "create",
        "--profile",
        "warm",
        "--consumer",
        "agt:t",
        "--project",
        "demo",
        "--ttl",
        "45m",
        "--label",
        "job=42",
    ]);
    assert_eq!(taken["id"], oldest, "the oldest pooled sandbox is taken");
    assert_eq!(
        (taken["consumer"].as_str(), taken["project"].as_str()),
        (Some("agt:t"), Some("demo"))
    );
    assert_eq!(taken["state"], "ready");
    assert_eq!(taken["labels"]["job"], "42");
    assert_eq!(taken["labels"]["kind"], "warm");
    assert_eq!(taken["labels"]["sandboxer.consumer"], "agt:t");
    assert_eq!(taken["labels"]["sandboxer.project"], "demo");
    assert_eq!(
        taken["idle_timeout_s"], 600,
        "the claim sets the idle timeout"
    );
    let id = taken["id"].as_str().unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(taken["expires_at"].as_str().unwrap()).unwrap();
    let left = expires
        .signed_duration_since(chrono::Utc::now())
        .num_seconds();
    assert!(
        (44 * 60..=45 * 60).contains(&left),
        "expires 45m from the claim: {left}s"
    );
    let claimed: Vec<Value> = env
        .events_of(id)
        .into_iter()
        .filter(|e| e["kind"] == "claimed")
        .collect();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0]["detail"]["pool"], "profile.warm");
    assert!(claimed[0]["detail"]["waited_ms"].as_i64().unwrap() >= 300);
    assert_eq!(waiting(&env).len(), 1, "one left");

    // The pool's wait is the pool's; from the claim on, the consumer's.
    let by_consumer = env.json(&["usage", "--by", "consumer"]);
    let seconds = |who: &str| -> f64 {
        by_consumer["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["key"] == who)
            .map(|g| g["sandbox_seconds"].as_str().unwrap().parse().unwrap())
            .unwrap_or(0.0)
    };
    assert!(seconds("adm:pool") >= 0.6, "{by_consumer}");
    assert!(seconds("agt:t") < seconds("adm:pool"), "{by_consumer}");

    env.ok(&["reap-stale"]);
    assert_eq!(waiting(&env).len(), 2, "filled again");
    env.json(&["destroy", id]);
}

#[test]
fn a_claim_is_refused_over_budget_and_without_a_pool_a_create_is_cold() {
    let env = pooled_env();
    env.config("budgets:\n  - {project: demo, amount: 1, currency: USD}\n");
    env.ok(&["reap-stale"]);
    let err = env.fails(
        &[
            "create",
            "--profile",
            "warm",
            "--consumer",
            "agt:t",
            "--project",
            "demo",
            "--ttl",
            "1h",
        ],
        4,
    );
    assert!(err.contains("budget"), "{err}");
    assert_eq!(waiting(&env).len(), 2, "nothing taken");

    // An empty pool: the create goes to the backend as usual.
    let env = pooled_env();
    let cold = env.json(&[
        "create",
        "--profile",
        "warm",
        "--consumer",
        "agt:t",
        "--project",
        "demo",
    ]);
    let id = cold["id"].as_str().unwrap();
    assert!(env.events_of(id).iter().all(|e| e["kind"] != "claimed"));
    assert_eq!(cold["consumer"], "agt:t");
}

#[tokio::test]
async fn the_daemon_keeps_the_pool_full() {
    let env = pooled_env();
    let d = Daemon::start_with(env, &super::daemon::config(""));
    let ready = |d: &Daemon| {
        let list = d
            .env
            .json(&["list", "--project", "pool", "--in-state", "ready"]);
        list.as_array().unwrap().len()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while ready(&d) < 2 {
        assert!(Instant::now() < deadline, "the pool never filled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let taken = d.create(ALPHA, json!({"profile": "warm"})).await;
    assert_eq!(taken["consumer"], "agt:alpha");
    let id = taken["id"].as_str().unwrap();
    assert!(d.env.events_of(id).iter().any(|e| e["kind"] == "claimed"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while ready(&d) < 2 {
        assert!(
            Instant::now() < deadline,
            "the pool was not refilled after a claim"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
