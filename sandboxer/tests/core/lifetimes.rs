//! Lifetimes beyond the expiry (idle timeout, the warning before expiry) and
//! budgets (refused creates, policies applied when one runs out), driven through
//! `sandboxer reap-stale`, the same pass the daemon's reaper runs.

use super::support::{Env, env};
use std::thread::sleep;
use std::time::Duration;

fn kinds(env: &Env, id: &str) -> Vec<String> {
    env.events_of(id)
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

fn state(env: &Env, id: &str) -> String {
    env.json(&["get", id, "--cached"])["state"]
        .as_str()
        .unwrap()
        .to_string()
}

fn create(env: &Env, profile: &str, project: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "create",
        "--profile",
        profile,
        "--consumer",
        "agt:t",
        "--project",
        project,
        "--wait",
    ];
    args.extend_from_slice(extra);
    env.json(&args)["id"].as_str().unwrap().to_string()
}

#[test]
fn an_idle_sandbox_expires_and_a_used_one_does_not() {
    let env = env();
    env.env.write_profile(
        "idle",
        "id: profile.idle\nversion: 1\nextension: ext.fixture\n\
         ttl: {default: 1h, max: 2h, idle: 4s}\n",
    );
    // Idle 4 s: the unused one is idle at least 5 s at the reap, the used one
    // 2.5 s plus the time the reap takes to start (slow on a loaded machine).
    let unused = create(&env, "idle", "p", &[]);
    let used = create(&env, "idle", "p", &[]);
    sleep(Duration::from_millis(2500));
    env.ok(&["exec", &used, "--", "true"]);
    sleep(Duration::from_millis(2500));
    env.ok(&["reap-stale"]);
    assert_eq!(state(&env, &unused), "destroyed");
    let expired = env
        .events_of(&unused)
        .into_iter()
        .find(|e| e["to_state"] == "expired")
        .unwrap();
    assert_eq!(expired["detail"]["reason"], "idle", "{expired}");
    assert_eq!(
        state(&env, &used),
        "active",
        "used 2.5 s ago, idle timeout 4 s"
    );
    let shown = env.json(&["get", &used, "--cached"]);
    assert_eq!(shown["idle_timeout_s"], 4);
    assert!(shown["last_activity_at"].is_string());
}

#[test]
fn a_warning_goes_out_once_per_expiry_before_it() {
    let env = env();
    env.config("lifetimes:\n  warn_before: 20m\n");
    let soon = create(&env, "fix", "p", &["--ttl", "15m"]);
    let later = create(&env, "fix", "p", &["--ttl", "1h"]);
    env.ok(&["reap-stale"]);
    env.ok(&["reap-stale"]);
    let warnings = |id: &str| {
        kinds(&env, id)
            .iter()
            .filter(|k| *k == "expiry_warning")
            .count()
    };
    assert_eq!(warnings(&soon), 1, "once, not on every pass");
    assert_eq!(warnings(&later), 0, "not yet due");
    env.ok(&["extend-ttl", &soon, "1m"]);
    env.ok(&["reap-stale"]);
    assert_eq!(warnings(&soon), 2, "a new expiry is warned about again");
    let warning = env
        .events_of(&soon)
        .into_iter()
        .find(|e| e["kind"] == "expiry_warning")
        .unwrap();
    assert!(
        warning["detail"]["in_s"].as_i64().unwrap() > 800,
        "{warning}"
    );
}

/// `profile.pricey` costs 36 an hour: a hundredth a second.
fn pricey(env: &Env, budgets: &str) {
    env.env.write_profile(
        "pricey",
        "id: profile.pricey\nversion: 1\nextension: ext.fixture\nttl: {default: 4s, max: 1h}\n\
         cost: {per_hour: 36}\n",
    );
    env.config(&format!("budgets:\n{budgets}"));
}

#[test]
fn a_create_whose_estimate_exceeds_what_is_left_is_refused() {
    let env = env();
    pricey(&env, "  - {project: lab, amount: 0.05, period: day}\n");
    let err = env.fails(
        &[
            "create",
            "--profile",
            "pricey",
            "--consumer",
            "agt:t",
            "--project",
            "lab",
            "--ttl",
            "10s",
        ],
        4,
    );
    assert!(
        err.contains("over budget") && err.contains("0.1 USD") && err.contains("0.05 USD left"),
        "{err}"
    );
    assert_eq!(
        env.json(&["list", "--all"]),
        serde_json::json!([]),
        "nothing recorded"
    );
    create(&env, "pricey", "lab", &["--ttl", "4s"]);
    create(&env, "pricey", "other", &["--ttl", "1h"]);
}

#[test]
fn an_exhausted_budget_is_applied_by_its_policy() {
    let env = env();
    pricey(&env, "  []\n");
    let ids: Vec<(&str, String)> = ["warned", "stopped", "destroyed"]
        .into_iter()
        .flat_map(|p| [p, p])
        .map(|p| (p, create(&env, "pricey", p, &["--ttl", "1h"])))
        .collect();
    sleep(Duration::from_millis(300));
    // The operator lowers the budgets below what was spent meanwhile.
    pricey(
        &env,
        "  - {project: warned, amount: 0.001, policy: warn}\n\
         \x20 - {project: stopped, amount: 0.001, policy: stop}\n\
         \x20 - {project: destroyed, amount: 0.001, policy: destroy}\n",
    );
    env.ok(&["reap-stale"]);
    env.ok(&["reap-stale"]);
    for (project, id) in &ids {
        let told = kinds(&env, id)
            .iter()
            .filter(|k| *k == "budget_exhausted")
            .count();
        assert_eq!(told, 1, "{project}/{id}: one event, also after two passes");
        let expected = if *project == "warned" {
            "ready"
        } else {
            "destroyed"
        };
        assert_eq!(state(&env, id), expected, "{project}");
    }
    let snapshots = env.json(&["snapshot", "list"]);
    let kept: Vec<&str> = snapshots
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["project"].as_str().unwrap())
        .collect();
    assert_eq!(
        kept,
        ["stopped", "stopped"],
        "stop keeps a snapshot of each"
    );
    let err = env.fails(
        &[
            "create",
            "--profile",
            "pricey",
            "--consumer",
            "agt:t",
            "--project",
            "warned",
        ],
        4,
    );
    assert!(err.contains("0 USD left"), "{err}");
}

#[test]
fn the_canary_on_an_extension_without_hosts_runs_once_and_checks_by_exec() {
    let env = env();
    let runs = env.json(&["canary", "--profile", "fix"]);
    let run = &runs[0];
    assert_eq!(run["host"], "(default)");
    assert_eq!(run["ok"], true, "{run}");
    assert_eq!(run["profile_id"], "profile.fix");
    let id = run["sandbox_id"].as_str().unwrap();
    let shown = env.json(&["get", id, "--cached"]);
    assert_eq!(shown["state"], "destroyed");
    assert_eq!(shown["consumer"], "adm:canary");
    assert!(
        kinds(&env, id).iter().any(|k| k == "state"),
        "the canary's sandbox is recorded like any other"
    );
    // `exec true` made it active before the destroy: it was really used.
    let states: Vec<String> = env
        .events_of(id)
        .iter()
        .filter_map(|e| e["to_state"].as_str().map(String::from))
        .collect();
    assert!(states.contains(&"active".to_string()), "{states:?}");
}

/// The core tells a backend that lists `sandbox/extend_ttl` each new expiry —
/// the fixture declares no `ttl` feature: listing the method is what counts —
/// and never one past the ceiling: a refused extension reaches no backend.
#[test]
fn a_backend_is_told_each_later_expiry_and_never_one_past_the_ceiling() {
    let env = env();
    let id = env.create(&[])["id"].as_str().unwrap().to_string();
    let told = || {
        env.env.fixture_record(&id).unwrap()["params"]["expires_at"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let at_create = told();
    let extended = env.json(&["extend-ttl", &id, "10m"]);
    let after = told();
    assert!(after > at_create, "{at_create} then {after}");
    assert_eq!(after, extended["expires_at"].as_str().unwrap());
    // profile.fix allows 2 h in all; 5 h more is refused before any call.
    env.fails(&["extend-ttl", &id, "5h"], 4);
    assert_eq!(told(), after, "a refused extension is not sent");
}
