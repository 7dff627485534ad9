//! The ledger against a figure computed by hand from the event log, its window
//! and CSV export, each sandbox's own cost in `get`, and rates that come from the
//! extension's `cost/estimate` when the profile sets none.

use super::support::{Env, env};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::BTreeMap;
use std::str::FromStr;

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(
        v.as_str()
            .unwrap_or_else(|| panic!("not a decimal string: {v}")),
    )
    .unwrap()
}

/// The billed stretches of a sandbox, read from its events: `(start, end)` of
/// every stretch in provisioning, ready or active, clipped to `[since, until)`.
fn billed_stretches(events: &[Value], since: i64, until: i64) -> Vec<(i64, i64)> {
    let at = |e: &Value| {
        chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    let states: Vec<&Value> = events.iter().filter(|e| e["kind"] == "state").collect();
    states
        .windows(2)
        .filter(|w| {
            matches!(
                w[0]["to_state"].as_str(),
                Some("provisioning" | "ready" | "active")
            )
        })
        .map(|w| (at(w[0]).max(since), at(w[1]).min(until)))
        .filter(|(s, e)| e > s)
        .collect()
}

/// The cost, by hand: rate × hours, summed exactly, rounded once to 1e-9.
fn by_hand(stretches: &[(i64, i64, Decimal)]) -> (Decimal, Decimal) {
    let ms: i64 = stretches.iter().map(|(s, e, _)| e - s).sum();
    let rate_ms: Decimal = stretches
        .iter()
        .map(|(s, e, rate)| Decimal::from(e - s) * rate)
        .sum();
    let cost = (rate_ms / Decimal::from(3_600_000))
        .round_dp_with_strategy(9, rust_decimal::RoundingStrategy::MidpointNearestEven);
    (Decimal::new(ms, 3), cost)
}

fn profiles(env: &Env) {
    // A rate only the extension knows: cost/estimate answers spec.rate_per_hour.
    env.env.write_profile(
        "est",
        "id: profile.est\nversion: 1\nextension: ext.fixture\nttl: {default: 1h, max: 2h}\n\
         spec:\n  rate_per_hour: 1.35\n",
    );
}

fn create(env: &Env, profile: &str, consumer: &str, project: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "create",
        "--profile",
        profile,
        "--consumer",
        consumer,
        "--project",
        project,
        "--wait",
    ];
    args.extend_from_slice(extra);
    env.json(&args)["id"].as_str().unwrap().to_string()
}

fn pause() {
    std::thread::sleep(std::time::Duration::from_millis(150));
}

#[test]
fn the_ledger_of_a_scripted_sequence_equals_the_figure_computed_by_hand() {
    let env = env();
    profiles(&env);
    let a = create(&env, "fix", "agt:a", "one", &[]);
    pause();
    let b = create(&env, "est", "agt:b", "two", &[]);
    env.ok(&["exec", &a, "--", "true"]);
    pause();
    let c = create(&env, "fix", "agt:a", "one", &[]);
    env.ok(&["destroy", &b]);
    pause();
    env.ok(&["extend-ttl", &a, "10m"]);
    env.ok(&["destroy", &a, &c]);

    let rates = BTreeMap::from([
        (a.clone(), Decimal::from_str("0.6").unwrap()),
        (b.clone(), Decimal::from_str("1.35").unwrap()),
        (c.clone(), Decimal::from_str("0.6").unwrap()),
    ]);
    let stretches = |id: &str, since: i64, until: i64| -> Vec<(i64, i64, Decimal)> {
        billed_stretches(&env.events_of(id), since, until)
            .into_iter()
            .map(|(s, e)| (s, e, rates[id]))
            .collect()
    };

    // Everything, by project.
    let ledger = env.json(&["usage", "--by", "project"]);
    let groups = ledger["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{ledger}");
    let one: Vec<_> = [&a, &c]
        .iter()
        .flat_map(|id| stretches(id, i64::MIN, i64::MAX))
        .collect();
    let two = stretches(&b, i64::MIN, i64::MAX);
    for (group, expected, sandboxes) in [(&groups[0], &one, 2), (&groups[1], &two, 1)] {
        let (seconds, cost) = by_hand(expected);
        assert_eq!(dec(&group["sandbox_seconds"]), seconds, "{group}");
        assert_eq!(dec(&group["cost"]), cost, "{group}");
        assert_eq!(group["sandboxes"], sandboxes);
        assert!(cost > Decimal::ZERO);
    }
    let all: Vec<_> = one.iter().chain(&two).copied().collect();
    assert_eq!(dec(&ledger["totals"][0]["cost"]), by_hand(&all).1);
    assert_eq!(
        groups[1]["key"], "two",
        "the estimate's rate was used for b"
    );

    // A window that cuts through the middle of the sequence.
    let b_events = env.events_of(&b);
    let since_text = b_events[2]["at"].as_str().unwrap().to_string();
    let until_text = env.events_of(&a).last().unwrap()["at"]
        .as_str()
        .unwrap()
        .to_string();
    let ms = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .unwrap()
            .timestamp_millis()
    };
    let (since, until) = (ms(&since_text), ms(&until_text));
    let windowed = env.json(&[
        "usage",
        "--by",
        "consumer",
        "--since",
        &since_text,
        "--until",
        &until_text,
    ]);
    let in_window: Vec<_> = [&a, &b, &c]
        .iter()
        .flat_map(|id| stretches(id, since, until))
        .collect();
    assert_eq!(
        dec(&windowed["totals"][0]["cost"]),
        by_hand(&in_window).1,
        "{windowed}"
    );
    assert_eq!(
        dec(&windowed["totals"][0]["sandbox_seconds"]),
        by_hand(&in_window).0
    );

    // Each sandbox's own cost is in `get`, and agrees with the ledger.
    let got = env.json(&["get", &a, "--cached"]);
    assert_eq!(
        dec(&got["usage"]["cost"]),
        by_hand(&stretches(&a, i64::MIN, i64::MAX)).1
    );
    let text = env.ok(&["get", &a, "--cached"]);
    assert!(text.contains("cost so far"), "{text}");
}

#[test]
fn the_csv_export_has_a_header_one_row_per_group_and_rfc4180_quoting() {
    let env = env();
    // Host names come from the backend, which may name its hosts anyhow.
    let hostile = "lab, \"east\"\nrack 2";
    env.config(&format!(
        "extensions:\n  fixture:\n    options: {{host_name: {}}}\n",
        serde_json::to_string(hostile).unwrap()
    ));
    create(&env, "fix", "agt:a", "one", &[]);
    create(&env, "fix", "agt:a", "one", &["--host", "plain"]);
    let text = env.ok(&["usage", "--by", "host", "--format", "csv"]);
    assert!(
        text.contains("\"lab, \"\"east\"\"\nrack 2\""),
        "quotes doubled, the field quoted: {text}"
    );
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "host",
            "currency",
            "sandboxes",
            "sandbox_seconds",
            "cpu_seconds",
            "memory_mb_seconds",
            "snapshots",
            "snapshot_seconds",
            "cost"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let hosts: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(hosts, [hostile, "plain"]);
    for row in &rows {
        assert_eq!((&row[1], &row[2]), ("USD", "1"));
        Decimal::from_str(&row[8]).expect("the cost is a plain decimal");
    }
    let err = env.fails(&["usage", "--format", "xml"], 2);
    assert!(err.contains("xml"), "{err}");
    let err = env.fails(&["usage", "--by", "colour"], 2);
    assert!(err.contains("colour"), "{err}");
    assert!(
        err.contains("--by: group usage by"),
        "the flag is named: {err}"
    );
    let err = env.fails(&["usage", "--since", "yesterday"], 2);
    assert!(err.contains("--since"), "{err}");
    let table = env.ok(&["usage", "--by", "profile"]);
    assert!(
        table.contains("PROFILE") && table.contains("(total)"),
        "{table}"
    );
}
