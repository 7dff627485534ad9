//! Routing across backend classes (issue 19): one profile over compose-ssh on
//! the loopback host (self-hosted, the dearest) and two hosted backends, E2B
//! (another daemon's `/e2b`) and Daytona (the Daytona stand-in over that
//! daemon), both reached through their real extensions with provider keys.
//! Shown: the policy's order (self-hosted first, then the cheaper hosted one),
//! spill-over when the host is full, failover on a provider's 429 and 503, a
//! hosted budget stopping hosted creates but not self-hosted ones, and the
//! ledger adding up exactly across the three backends.

use super::daemon_support::start;
use super::daytona::Standin;
use super::e2b_provider::{KEY_VARIABLE, PROVIDER_KEY, TEMPLATE, provider};
use super::support::E2e;
use rust_decimal::Decimal;
use sandboxer_tests::loopback;
use serde_json::Value;
use std::collections::BTreeMap;

/// The user's configuration: the loopback host (with `capacity`, if any), E2B
/// and Daytona as hosted backends with the provider key read from the
/// environment, and `budgets` (YAML list items, if any).
fn configure(user: &E2e, e2b: &str, daytona: &str, capacity: Option<u32>, budgets: &str) {
    let mut host = loopback::host_yaml("loopback", &user.workdir);
    if let Some(capacity) = capacity {
        host = format!("{}, capacity: {capacity}}}", host.trim_end_matches('}'));
    }
    let key = |extension: &str| {
        format!(
            "  - {{extension: {extension}, project: {}, options: {{api_key: \"env:{KEY_VARIABLE}\"}}}}\n",
            user.project
        )
    };
    let budgets = if budgets.is_empty() {
        String::new()
    } else {
        format!("budgets:\n{budgets}")
    };
    user.configure_with(
        &[host],
        &format!(
            "{budgets}provider_keys:\n{}{}",
            key("ext.e2b"),
            key("ext.daytona")
        ),
    );
    let path = user.env.config_path();
    let mut config = std::fs::read_to_string(&path).unwrap();
    config += &format!(
        "  e2b:\n    class: hosted\n    \
         options: {{api_url: \"{e2b}\", sandbox_url: \"{e2b}\", create_retries: 0}}\n  \
         daytona:\n    class: hosted\n    options: {{api_url: \"{daytona}\", create_retries: 0}}\n"
    );
    std::fs::write(path, config).unwrap();
}

/// The user's CLI, as `--json`, with the provider key in its environment
/// (`KEY_VARIABLE`).
pub(super) fn user_json(user: &E2e, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = user
        .sandboxer(&all)
        .env(KEY_VARIABLE, PROVIDER_KEY)
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn attempts(user: &E2e, id: &str) -> Vec<(String, String, String)> {
    user_json(user, &["events", "--sandbox", id])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "create_attempt")
        .map(|e| {
            let d = &e["detail"];
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (
                text(&d["extension"]),
                text(&d["outcome"]),
                text(&d["error"]),
            )
        })
        .collect()
}

fn decimal(v: &Value) -> Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("a decimal: {v}"))
        .parse()
        .unwrap()
}

#[test]
fn a_profile_over_compose_ssh_e2b_and_daytona_routes_by_class_cost_health_and_budget() {
    let provider = provider("");
    let daemon = start(&provider);
    let daytona = Standin::start(&daemon);
    let e2b_api = format!("{}/e2b", daemon.url);
    let daytona_api = format!("{}/api", daytona.recorder.url);
    let user = E2e::new();
    user.sleeper_profile(
        "spread",
        &format!(
            "ttl: {{default: 1h, max: 2h}}\nnetwork: {{egress: allow}}\n\
             routing: {{policy: self-hosted-first}}\nextensions:\n  \
             - {{extension: ext.compose-ssh, spec: {{compose_file: compose.yaml, \
             cost: {{currency: USD, per_hour: 0.5}}}}}}\n  \
             - {{extension: ext.e2b, spec: {{template: {TEMPLATE}}}}}\n  \
             - {{extension: ext.daytona, spec: {{snapshot: {TEMPLATE}}}}}\n"
        ),
    );
    let owner = ["--consumer", "atm:e2e", "--project", user.project.as_str()];
    let with_owner = |args: &[&'static str]| -> Vec<String> {
        args.iter()
            .map(|a| a.to_string())
            .chain(owner.iter().map(|a| a.to_string()))
            .collect()
    };
    let run = |args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        user_json(&user, &args)
    };
    let create = |extra: &[&'static str]| {
        let mut args = with_owner(&["create", "--profile", "spread", "--wait"]);
        args.extend(extra.iter().map(|a| a.to_string()));
        run(&args)
    };
    let mut made: BTreeMap<String, String> = BTreeMap::new();

    // The order: the operator's own host first though it is the dearest, then
    // the hosted ones by their published prices (Daytona 1 vCPU + 1 GiB:
    // 0.0666; E2B 2 vCPU + 512 MiB: 0.1089).
    configure(&user, &e2b_api, &daytona_api, None, "");
    let route = run(&with_owner(&["route", "--profile", "spread", "--explain"]));
    assert_eq!(route["policy"], "self-hosted-first", "{route}");
    let row = |route: &Value, name: &str| -> Value {
        route["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["extension"] == name)
            .unwrap_or_else(|| panic!("{name} in {route}"))
            .clone()
    };
    let ranks: Vec<(Value, Value, Value)> = ["ext.compose-ssh", "ext.daytona", "ext.e2b"]
        .iter()
        .map(|n| {
            let r = row(&route, n);
            (
                r["rank"].clone(),
                r["class"].clone(),
                r["rate"]["per_hour"].clone(),
            )
        })
        .collect();
    assert_eq!(
        ranks,
        vec![
            (1.into(), "self-hosted".into(), "0.5".into()),
            (2.into(), "hosted".into(), "0.0666".into()),
            (3.into(), "hosted".into(), "0.1089".into()),
        ],
        "{route}"
    );
    let first = create(&[]);
    assert_eq!(first["extension"], "ext.compose-ssh", "{first}");
    let first_id = first["id"].as_str().unwrap().to_string();
    made.insert(first_id.clone(), "ext.compose-ssh".into());

    // The host is full (capacity 1, and it holds the first sandbox): the next
    // create spills over to the cheapest hosted backend.
    configure(&user, &e2b_api, &daytona_api, Some(1), "");
    let spilled = create(&[]);
    let spilled_id = spilled["id"].as_str().unwrap().to_string();
    assert_eq!(spilled["extension"], "ext.daytona", "{spilled}");
    made.insert(spilled_id.clone(), "ext.daytona".into());
    let tries = attempts(&user, &spilled_id);
    assert_eq!(tries.len(), 2, "{tries:?}");
    assert_eq!(
        (tries[0].0.as_str(), tries[0].1.as_str()),
        ("ext.compose-ssh", "failed")
    );
    assert!(
        tries[0].2.contains("ResourceExhausted") && tries[0].2.contains("full"),
        "{tries:?}"
    );
    assert_eq!(
        (tries[1].0.as_str(), tries[1].1.as_str()),
        ("ext.daytona", "created")
    );
    // Daytona holds it, under the provider key's owner, found by its label.
    let held = provider.json(&[
        "list",
        "--label",
        &format!("daytona.sandboxer.id={spilled_id}"),
    ]);
    assert_eq!(held.as_array().unwrap().len(), 1, "{held}");
    let ran = user_json(
        &user,
        &["exec", &spilled_id, "--", "sh", "-c", "echo on daytona"],
    );
    assert_eq!(ran["stdout"], "on daytona\n", "{ran}");
    // Its lifetime moves on Daytona too (Daytona's TTL is a backstop there).
    let held_until = |provider: &E2e| {
        let label = format!("daytona.sandboxer.id={spilled_id}");
        let held = provider.json(&["list", "--label", &label]);
        chrono::DateTime::parse_from_rfc3339(held[0]["expires_at"].as_str().unwrap()).unwrap()
    };
    let before = held_until(&provider);
    user_json(&user, &["extend-ttl", &spilled_id, "1h"]);
    let moved = held_until(&provider) - before;
    assert!(
        moved >= chrono::Duration::minutes(55),
        "Daytona's expiry moved by {moved}"
    );

    // Daytona refuses for its rate (429), then fails (503): each time the
    // create goes on to E2B.
    for (status, words) in [(429, "429"), (503, "503")] {
        daytona.fail_creates(Some(status));
        let next = create(&[]);
        let id = next["id"].as_str().unwrap().to_string();
        assert_eq!(next["extension"], "ext.e2b", "{next}");
        made.insert(id.clone(), "ext.e2b".into());
        let tries = attempts(&user, &id);
        let path: Vec<(&str, &str)> = tries.iter().map(|t| (t.0.as_str(), t.1.as_str())).collect();
        assert_eq!(
            path,
            vec![
                ("ext.compose-ssh", "failed"),
                ("ext.daytona", "failed"),
                ("ext.e2b", "created")
            ],
            "{tries:?}"
        );
        let kind = if status == 429 {
            "ResourceExhausted"
        } else {
            "Unavailable"
        };
        assert!(
            tries[1].2.contains(kind) && tries[1].2.contains(words),
            "{tries:?}"
        );
    }
    daytona.fail_creates(None);

    // A hosted budget of 0.1 a month: two hours on either hosted backend
    // (0.1332, 0.2178) would go over it, so neither is tried; the full host
    // refuses; nothing is made.
    let budget = format!(
        "  - {{project: {}, amount: \"0.1\", class: hosted}}\n",
        user.project
    );
    configure(&user, &e2b_api, &daytona_api, Some(1), &budget);
    let route = run(&with_owner(&[
        "route",
        "--profile",
        "spread",
        "--explain",
        "--ttl",
        "2h",
    ]));
    for hosted in ["ext.daytona", "ext.e2b"] {
        let why = row(&route, hosted)["excluded"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            why.contains("over budget") && why.contains("on hosted backends"),
            "{hosted}: {route}"
        );
    }
    assert_eq!(row(&route, "ext.compose-ssh")["rank"], 1, "{route}");
    let mut args = with_owner(&["create", "--profile", "spread", "--wait", "--ttl", "2h"]);
    args.insert(0, "--json".into());
    let refused = user
        .sandboxer(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .env(KEY_VARIABLE, PROVIDER_KEY)
        .assert()
        .failure();
    let said = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert!(said.contains("full"), "{said}");
    // With room on the host again, the same create is made there: the hosted
    // budget does not cover self-hosted backends.
    configure(&user, &e2b_api, &daytona_api, None, &budget);
    let own = create(&["--ttl", "2h"]);
    assert_eq!(own["extension"], "ext.compose-ssh", "{own}");
    made.insert(
        own["id"].as_str().unwrap().to_string(),
        "ext.compose-ssh".into(),
    );

    for id in made.keys() {
        user_json(&user, &["destroy", id]);
    }
    let left = provider.json(&["list"]);
    assert_eq!(left.as_array().unwrap().len(), 0, "{left}");

    // The ledger adds up across the three backends exactly: each group is its
    // sandboxes' billed seconds at their rates, the totals the groups' sums.
    let mut expected: BTreeMap<String, (u64, Decimal, Decimal)> = BTreeMap::new();
    for (id, extension) in &made {
        let got = user_json(&user, &["get", id]);
        let seconds = decimal(&got["usage"]["sandbox_seconds"]);
        let rate = decimal(&got["cost_per_hour"]);
        let entry = expected.entry(extension.clone()).or_default();
        entry.0 += 1;
        entry.1 += seconds;
        entry.2 += seconds * rate;
    }
    let usage = user_json(&user, &["usage", "--by", "extension"]);
    let groups = usage["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 3, "{usage}");
    let (mut seconds_sum, mut cost_sum) = (Decimal::ZERO, Decimal::ZERO);
    for group in groups {
        let key = group["key"].as_str().unwrap();
        let (count, seconds, rate_seconds) = expected[key];
        assert_eq!(group["sandboxes"], count, "{key}: {usage}");
        assert_eq!(
            decimal(&group["sandbox_seconds"]),
            seconds,
            "{key}: {usage}"
        );
        let cost = (rate_seconds / Decimal::from(3600))
            .round_dp_with_strategy(9, rust_decimal::RoundingStrategy::MidpointNearestEven);
        assert_eq!(decimal(&group["cost"]), cost.normalize(), "{key}: {usage}");
        seconds_sum += seconds;
        cost_sum += cost;
    }
    let total = &usage["totals"][0];
    assert_eq!(decimal(&total["sandbox_seconds"]), seconds_sum, "{usage}");
    // The total is rounded once, so it may differ from the rounded groups'
    // sum in the ninth place, by at most half a unit per group.
    let slack = Decimal::new(15, 10);
    assert!(
        (decimal(&total["cost"]) - cost_sum).abs() <= slack,
        "{usage}"
    );
    // The billing export says the same, row for row.
    let csv = user
        .sandboxer(&["usage", "--by", "extension", "--format", "csv"])
        .env(KEY_VARIABLE, PROVIDER_KEY)
        .assert()
        .success();
    let csv = String::from_utf8_lossy(&csv.get_output().stdout).to_string();
    for group in groups {
        let line = csv
            .lines()
            .find(|l| l.starts_with(&format!("{},", group["key"].as_str().unwrap())))
            .unwrap_or_else(|| panic!("{group} in {csv}"));
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[2], group["sandboxes"].to_string(), "{line}");
        assert_eq!(
            cells[3],
            group["sandbox_seconds"].as_str().unwrap(),
            "{line}"
        );
        assert_eq!(cells[8], group["cost"].as_str().unwrap(), "{line}");
    }
}
