//! Routing across a profile's candidate extensions: the order of tries
//! (preference, then cost), exclusions with their reasons, failover on
//! Unavailable with an event per attempt, and refusal when none will do. The
//! candidates are real extension processes: the fixture installed under three
//! names, each with a backend folder of its own.

use super::support::{Env, env};
use serde_json::Value;

const PROFILE: &str = "id: profile.routed\nversion: 1\nttl: {default: 1h, max: 2h}\n\
network: {egress: allow}\n\
extensions:\n\
  - {extension: ext.flaky, prefer: 10}\n\
  - {extension: ext.fixture, prefer: 1, spec: {rate_per_hour: 0.9}}\n\
  - {extension: ext.spare, prefer: 1, spec: {rate_per_hour: 0.3}}\n\
  - {extension: ext.fixtrue, prefer: 5}\n\
spec: {rate_per_hour: 0.5}\n";

fn routed(flaky_fault: &str, extra: &str) -> Env {
    let env = env();
    let fixture = sandboxer_tests::fixture_ext();
    env.env.install_extension("flaky", &fixture);
    env.env.install_extension("spare", &fixture);
    env.env.write_profile("routed", PROFILE);
    env.config(&format!(
        "extensions:\n  flaky:\n    options: {{fault: \"{flaky_fault}\", state_dir: {}}}\n  \
         spare:\n    options: {{state_dir: {}}}\n{extra}",
        env.env.path("flaky-state").display(),
        env.env.path("spare-state").display(),
    ));
    env
}

fn create(env: &Env) -> assert_cmd::assert::Assert {
    env.sandboxer(&[
        "--json",
        "create",
        "--profile",
        "routed",
        "--consumer",
        "agt:t",
        "--project",
        "demo",
        "--wait",
    ])
    .assert()
}

fn attempts(env: &Env, id: &str) -> Vec<Value> {
    env.events_of(id)
        .into_iter()
        .filter(|e| e["kind"] == "create_attempt")
        .map(|e| e["detail"].clone())
        .collect()
}

#[test]
fn route_explains_the_order_of_tries_and_every_exclusion() {
    let env = routed("unavailable=sandbox/create", "");
    let route = env.json(&[
        "route",
        "--profile",
        "routed",
        "--consumer",
        "agt:t",
        "--project",
        "demo",
    ]);
    let row = |name: &str| {
        route["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["extension"] == name)
            .unwrap_or_else(|| panic!("{name} in {route}"))
            .clone()
    };
    // Preference first, then the cheaper of two equally preferred.
    assert_eq!(row("ext.flaky")["rank"], 1);
    assert_eq!(row("ext.spare")["rank"], 2);
    assert_eq!(row("ext.fixture")["rank"], 3);
    assert_eq!(row("ext.spare")["rate"]["per_hour"], "0.3");
    assert_eq!(row("ext.spare")["rate"]["source"], "cost/estimate");
    assert_eq!(row("ext.fixture")["rate"]["per_hour"], "0.9");
    let missing = row("ext.fixtrue");
    assert_eq!(missing["rank"], Value::Null);
    let why = missing["excluded"].as_str().unwrap();
    assert!(
        why.contains("not found") && why.contains("fixture"),
        "{why}"
    );

    let plain = env.ok(&[
        "route",
        "--profile",
        "routed",
        "--consumer",
        "agt:t",
        "--project",
        "demo",
    ]);
    assert_eq!(plain.trim(), "ext.flaky");
    let table = env.ok(&[
        "route",
        "--profile",
        "routed",
        "--explain",
        "--consumer",
        "agt:t",
        "--project",
        "demo",
    ]);
    assert!(
        table.contains("chosen") && table.contains("excluded: cannot be used"),
        "{table}"
    );
}

#[test]
fn an_unavailable_candidate_fails_over_to_the_next_with_an_event_per_attempt() {
    let env = routed("unavailable=sandbox/create", "");
    let out = create(&env).success();
    let created: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["extension"], "ext.spare");
    assert_eq!(created["state"], "ready");

    let tries = attempts(&env, id);
    assert_eq!(tries.len(), 2, "{tries:?}");
    assert_eq!(
        (
            &tries[0]["attempt"],
            &tries[0]["extension"],
            &tries[0]["outcome"],
            &tries[0]["next"]
        ),
        (
            &Value::from(1),
            &Value::from("ext.flaky"),
            &Value::from("failed"),
            &Value::from("ext.spare")
        )
    );
    assert!(
        tries[0]["error"].as_str().unwrap().contains("Unavailable"),
        "{tries:?}"
    );
    assert_eq!(
        (
            &tries[1]["attempt"],
            &tries[1]["extension"],
            &tries[1]["outcome"]
        ),
        (
            &Value::from(2),
            &Value::from("ext.spare"),
            &Value::from("created")
        )
    );
    // Charged at the rate of the backend it runs on; held by that backend only.
    let got = env.json(&["get", id]);
    assert_eq!(got["cost_per_hour"], "0.3", "{got}");
    assert!(
        env.env
            .path("spare-state")
            .join(format!("{id}.json"))
            .exists()
    );
    assert!(
        !env.env
            .path("flaky-state")
            .join(format!("{id}.json"))
            .exists()
    );
    env.json(&["destroy", id]);
    assert!(
        !env.env
            .path("spare-state")
            .join(format!("{id}.json"))
            .exists()
    );
}

#[test]
fn with_no_candidate_left_the_create_fails_or_is_refused_saying_why() {
    // Every candidate refuses at create: the last error is the sandbox's.
    let env = routed("unavailable=sandbox/create", "");
    std::fs::write(
        env.env.path("profiles/routed.profile.yaml"),
        PROFILE
            .lines()
            .filter(|l| !l.contains("ext.fixture,") && !l.contains("ext.spare"))
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    )
    .unwrap();
    create(&env).failure();
    let listed = env.json(&["list", "--all"]);
    let id = listed[0]["id"].as_str().unwrap();
    assert_eq!(listed[0]["state"], "failed");
    assert_eq!(attempts(&env, id).len(), 1);

    // A budget too small for any of them: refused before anything is recorded,
    // each candidate's reason given.
    let env = routed(
        "unavailable=sandbox/create",
        "budgets:\n  - {project: demo, amount: 0.1, currency: USD}\n",
    );
    let err = String::from_utf8(create(&env).code(4).get_output().stderr.clone()).unwrap();
    assert!(
        err.contains("no candidate extension of profile.routed"),
        "{err}"
    );
    for name in ["ext.flaky", "ext.spare", "ext.fixture"] {
        assert!(err.contains(&format!("{name}: ")), "{name} in {err}");
    }
    assert!(err.contains("budget"), "{err}");
    assert_eq!(env.json(&["list", "--all"]), serde_json::json!([]));
}

/// Two candidates an operator runs itself (`fixture` at 0.9/h) or pays a
/// provider for (`spare` at 0.3/h, `class: hosted`), under `policy`.
fn by_class(policy: &str, budgets: &str) -> Env {
    let env = env();
    let fixture = sandboxer_tests::fixture_ext();
    env.env.install_extension("spare", &fixture);
    configure_classes(&env, policy, budgets);
    env
}

/// The `classes` profile under `policy`, and the configuration with `spare`
/// hosted and `budgets` (YAML).
fn configure_classes(env: &Env, policy: &str, budgets: &str) {
    env.env.write_profile(
        "classes",
        &format!(
            "id: profile.classes\nversion: 1\nttl: {{default: 1h, max: 2h}}\n\
             network: {{egress: allow}}\nrouting: {{policy: {policy}}}\n\
             extensions:\n\
             \x20 - {{extension: ext.spare, spec: {{rate_per_hour: 0.3}}}}\n\
             \x20 - {{extension: ext.fixture, spec: {{rate_per_hour: 0.9}}}}\n"
        ),
    );
    env.config(&format!(
        "extensions:\n  spare:\n    class: hosted\n    options: {{state_dir: {}}}\n{budgets}",
        env.env.path("spare-state").display(),
    ));
}

/// A sandbox of `classes` for agt:t in demo, ready: its record.
fn create_classes(env: &Env) -> Value {
    let out = env
        .sandboxer(&[
            "--json",
            "create",
            "--profile",
            "classes",
            "--consumer",
            "agt:t",
            "--project",
            "demo",
            "--wait",
        ])
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn route_of(env: &Env) -> Value {
    env.json(&[
        "route",
        "--profile",
        "classes",
        "--consumer",
        "agt:t",
        "--project",
        "demo",
        "--explain",
    ])
}

fn row<'a>(route: &'a Value, name: &str) -> &'a Value {
    route["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["extension"] == name)
        .unwrap_or_else(|| panic!("{name} in {route}"))
}

#[test]
fn self_hosted_first_tries_the_operators_own_backend_before_a_cheaper_hosted_one() {
    let cheapest = route_of(&by_class("cheapest", ""));
    assert_eq!(cheapest["policy"], "cheapest");
    assert_eq!(row(&cheapest, "ext.spare")["rank"], 1, "{cheapest}");
    assert_eq!(row(&cheapest, "ext.fixture")["rank"], 2, "{cheapest}");

    let env = by_class("self-hosted-first", "");
    let route = route_of(&env);
    assert_eq!(route["policy"], "self-hosted-first");
    let (own, hosted) = (row(&route, "ext.fixture"), row(&route, "ext.spare"));
    assert_eq!(
        (&own["rank"], &own["class"]),
        (&1.into(), &"self-hosted".into())
    );
    assert_eq!(
        (&hosted["rank"], &hosted["class"]),
        (&2.into(), &"hosted".into())
    );
    // The figures compared are shown: both rates.
    assert_eq!(own["rate"]["per_hour"], "0.9", "{route}");
    assert_eq!(hosted["rate"]["per_hour"], "0.3", "{route}");
    let text = env
        .sandboxer(&[
            "route",
            "--profile",
            "classes",
            "--consumer",
            "agt:t",
            "--project",
            "demo",
            "--explain",
        ])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).to_string();
    assert!(text.contains("policy self-hosted-first"), "{text}");
    let spare = text
        .lines()
        .find(|l| l.contains("ext.spare"))
        .unwrap_or_default();
    assert!(spare.contains(" hosted "), "the CLASS column: {text}");
    let own = text
        .lines()
        .find(|l| l.contains("ext.fixture"))
        .unwrap_or_default();
    assert!(own.contains("self-hosted"), "the CLASS column: {text}");
}

#[test]
fn a_hosted_budget_stops_hosted_creates_and_leaves_self_hosted_ones_alone() {
    // 0.2 a month for hosted backends: an hour of `spare` (0.3) does not fit.
    let budget = "budgets:\n  - {project: demo, amount: \"0.2\", class: hosted}\n";
    let env = by_class("cheapest", budget);
    let route = route_of(&env);
    let hosted = row(&route, "ext.spare");
    let why = hosted["excluded"].as_str().unwrap_or_default();
    assert!(
        why.contains("over budget") && why.contains("on hosted backends"),
        "{route}"
    );
    let own = row(&route, "ext.fixture");
    assert_eq!(own["rank"], 1, "{route}");
    assert!(own.get("budgets").is_none(), "not covered: {route}");
    let created = create_classes(&env);
    assert_eq!(created["extension"], "ext.fixture");
    env.json(&["destroy", created["id"].as_str().unwrap()]);

    // With room, the explanation shows what the hosted budget had left.
    let roomy = by_class(
        "cheapest",
        "budgets:\n  - {project: demo, amount: \"5\", class: hosted}\n",
    );
    let route = route_of(&roomy);
    let hosted = row(&route, "ext.spare");
    assert_eq!(hosted["rank"], 1, "{route}");
    let room = &hosted["budgets"][0];
    assert_eq!(
        (&room["left"], &room["estimate"]),
        (&"5".into(), &"0.3".into()),
        "{route}"
    );
    assert!(
        room["budget"].as_str().unwrap().contains("hosted"),
        "{route}"
    );
}

#[test]
fn a_spent_hosted_budget_ends_hosted_sandboxes_and_leaves_self_hosted_ones_running() {
    // One sandbox on each class: the cheaper hosted one first, then (by
    // policy) the self-hosted one.
    let env = by_class("cheapest", "");
    let hosted = create_classes(&env)["id"].as_str().unwrap().to_string();
    configure_classes(&env, "self-hosted-first", "");
    let own = create_classes(&env)["id"].as_str().unwrap().to_string();
    assert_eq!(env.json(&["get", &hosted])["extension"], "ext.spare");
    assert_eq!(env.json(&["get", &own])["extension"], "ext.fixture");
    std::thread::sleep(std::time::Duration::from_millis(300));
    // The hosted budget is spent: only the hosted sandbox is told and ended.
    configure_classes(
        &env,
        "self-hosted-first",
        "budgets:\n  - {project: demo, amount: \"0.0000001\", class: hosted, policy: destroy}\n",
    );
    env.ok(&["reap-stale"]);
    let told = |id: &str| {
        env.events_of(id)
            .iter()
            .filter(|e| e["kind"] == "budget_exhausted")
            .count()
    };
    assert_eq!(told(&hosted), 1);
    assert_eq!(env.json(&["get", &hosted])["state"], "destroyed");
    assert_eq!(told(&own), 0);
    assert_eq!(env.json(&["get", &own])["state"], "ready");
    env.json(&["destroy", &own]);
}
