//! Lifetimes, snapshots and the ledger with real compose-ssh sandboxes: a file
//! written in a volume survives snapshot and restore into a new sandbox; the
//! ceiling and the budget refuse; the ledger of the whole sequence equals the
//! figure computed by hand from the event log and the snapshot records.

use super::support::{E2e, podman_count};
use rust_decimal::Decimal;
use serde_json::Value;
use std::str::FromStr;

fn ms(v: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .timestamp_millis()
}

/// Rate-milliseconds of one sandbox's billed stretches, from its events.
fn billed_rate_ms(events: &[Value], rate: Decimal) -> Decimal {
    let states: Vec<&Value> = events.iter().filter(|e| e["kind"] == "state").collect();
    states
        .windows(2)
        .filter(|w| {
            matches!(
                w[0]["to_state"].as_str(),
                Some("provisioning" | "ready" | "active")
            )
        })
        .map(|w| Decimal::from(ms(&w[1]["at"]) - ms(&w[0]["at"])) * rate)
        .sum()
}

fn exec(e2e: &E2e, id: &str, script: &str) -> String {
    let out = e2e.json(&["exec", id, "--", "sh", "-c", script]);
    assert_eq!(out["exit_code"], 0, "{out}");
    out["stdout"].as_str().unwrap().to_string()
}

#[test]
fn a_volume_survives_snapshot_and_restore_and_the_ledger_adds_up_exactly() {
    let e2e = E2e::new();
    let source = e2e.create("profile.compose-e2e", &[]);
    let a = source["id"].as_str().unwrap().to_string();
    exec(
        &e2e,
        &a,
        "echo precious > /data/file && echo layer > /etc/marker",
    );

    // The ceiling: compose-e2e allows 8 h; a 1 h sandbox cannot be extended by 10 h.
    let refused = e2e.sandboxer(&["extend-ttl", &a, "10h"]).assert().code(4);
    let err = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert!(err.contains("ceiling"), "{err}");

    let snap = e2e.json(&["snapshot", "create", &a, "--name", "before-upgrade"]);
    let snap_id = snap["id"].as_str().unwrap().to_string();
    let again = e2e.json(&["snapshot", "create", &a, "--name", "before-upgrade"]);
    assert_eq!(
        again["id"], snap["id"],
        "the same name is the same snapshot"
    );
    let image_label = format!("sandboxer.snapshot={snap_id}");
    assert!(
        podman_count("images", &image_label) >= 2,
        "web and worker committed"
    );

    // Changed after the snapshot: the restore must not see this.
    exec(&e2e, &a, "echo later > /data/file");
    let restored = e2e.json(&["restore", &snap_id, "--consumer", "atm:e2e", "--wait"]);
    let b = restored["id"].as_str().unwrap().to_string();
    assert_eq!(restored["state"], "ready");
    assert_eq!(restored["project"], e2e.project.as_str());
    assert_eq!(
        exec(&e2e, &b, "cat /data/file /etc/marker"),
        "precious\nlayer\n"
    );
    assert_eq!(
        exec(&e2e, &a, "cat /data/file"),
        "later\n",
        "the source is untouched"
    );

    for id in [&a, &b] {
        e2e.json(&["destroy", id]);
    }
    let deleted = e2e.json(&["snapshot", "delete", &snap_id]);
    assert_eq!(
        podman_count("images", &image_label),
        0,
        "the images went with it"
    );
    assert!(
        !e2e.workdir.join("snapshots").join(&snap_id).exists(),
        "and its folder"
    );

    // The ledger of the sequence, by hand: both sandboxes at 0.01/h while billed,
    // the snapshot at 0.002/h while kept, summed exactly, rounded once to 1e-9.
    let rate = Decimal::from_str("0.01").unwrap();
    let mut rate_ms = Decimal::ZERO;
    for id in [&a, &b] {
        rate_ms += billed_rate_ms(
            e2e.json(&["events", "--sandbox", id]).as_array().unwrap(),
            rate,
        );
    }
    let kept = ms(&deleted["deleted_at"]) - ms(&deleted["created_at"]);
    rate_ms += Decimal::from(kept) * Decimal::from_str("0.002").unwrap();
    let expected = (rate_ms / Decimal::from(3_600_000))
        .round_dp_with_strategy(9, rust_decimal::RoundingStrategy::MidpointNearestEven);
    let ledger = e2e.json(&["usage", "--project", &e2e.project]);
    let group = &ledger["groups"][0];
    assert_eq!(ledger["groups"].as_array().unwrap().len(), 1, "{ledger}");
    assert_eq!(
        Decimal::from_str(group["cost"].as_str().unwrap()).unwrap(),
        expected
    );
    assert_eq!(group["sandboxes"], 2);
    assert_eq!(group["snapshots"], 1);
    assert_eq!(
        Decimal::from_str(group["snapshot_seconds"].as_str().unwrap()).unwrap(),
        Decimal::new(kept, 3)
    );
}

#[test]
fn a_budget_refuses_a_create_it_cannot_afford_before_anything_runs() {
    let e2e = E2e::new();
    e2e.configure_with(
        &[sandboxer_tests::loopback::host_yaml(
            "loopback",
            &e2e.workdir,
        )],
        &format!(
            "budgets:\n  - {{project: {}, amount: 0.05, period: month}}\n",
            e2e.project
        ),
    );
    // 8 h at 0.01/h is 0.08: more than the 0.05 left.
    let out = e2e
        .sandboxer(&[
            "create",
            "--profile",
            "compose-e2e",
            "--consumer",
            "atm:e2e",
            "--project",
            &e2e.project,
            "--ttl",
            "8h",
        ])
        .assert()
        .code(4);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("over budget") && err.contains("0.08 USD"),
        "{err}"
    );
    let label = format!("sandboxer.project={}", e2e.project);
    assert_eq!(podman_count("ps -a", &label), 0, "nothing started");
    assert_eq!(
        e2e.json(&["list", "--all"]),
        serde_json::json!([]),
        "nothing recorded"
    );
    // 4 h (0.04) fits.
    let created = e2e.create("profile.compose-e2e", &["--ttl", "4h"]);
    assert_eq!(created["state"], "ready");
    e2e.json(&["destroy", created["id"].as_str().unwrap()]);
}

#[test]
fn the_canary_creates_checks_and_destroys_on_each_host_and_hosts_show_it() {
    let e2e = E2e::new();
    let runs = e2e.json(&["canary", "--project", &e2e.project]);
    let run = &runs[0];
    assert_eq!(runs.as_array().unwrap().len(), 1, "one host: {runs}");
    assert_eq!(
        (run["host"].as_str(), run["ok"].as_bool()),
        (Some("loopback"), Some(true)),
        "{run}"
    );
    let sandbox = run["sandbox_id"].as_str().unwrap();
    assert_eq!(
        e2e.json(&["get", sandbox, "--cached"])["state"],
        "destroyed",
        "the canary cleans up"
    );
    assert_eq!(podman_count("ps -a", &format!("sandboxer.id={sandbox}")), 0);

    // A host that cannot run it: recorded as failed, exit 5.
    let out = e2e
        .sandboxer(&["canary", "--host", "nowhere", "--project", &e2e.project])
        .assert()
        .code(5);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("nowhere"), "{err}");

    e2e.json(&["hosts"]);
    let hosts = e2e.json(&["hosts"]);
    let loopback = hosts
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "loopback")
        .unwrap_or_else(|| panic!("{hosts}"));
    assert_eq!(loopback["reachable"], true);
    assert!(
        loopback["samples"].as_u64().unwrap() >= 2,
        "kept over time: {loopback}"
    );
    assert_eq!(loopback["last_canary"]["ok"], true);
    assert_eq!(loopback["canaries_ok"], 1);
}
