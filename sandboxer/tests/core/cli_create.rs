//! `create`'s input checks: attribution, TTL, labels, profiles, secrets. Each bad
//! input gets a clear error and leaves nothing recorded.

use super::support::env;
use serde_json::Value;

fn nothing_recorded(env: &super::support::Env) {
    assert_eq!(env.json(&["list", "--all"]), Value::Array(vec![]));
    assert_eq!(env.json(&["events"]), Value::Array(vec![]));
}

#[test]
fn attribution_is_required_and_comes_from_flags_environment_or_config() {
    let env = env();
    let err = env.fails(&["create", "--profile", "fix", "--project", "p"], 2);
    assert!(
        err.contains("no consumer") && err.contains("--consumer"),
        "{err}"
    );
    let err = env.fails(&["create", "--profile", "fix", "--consumer", "agt:a"], 2);
    assert!(err.contains("no project"), "{err}");
    let err = env.fails(
        &[
            "create",
            "--profile",
            "fix",
            "--consumer",
            "robot:a",
            "--project",
            "p",
        ],
        2,
    );
    assert!(err.contains("adm (operator)"), "{err}");
    nothing_recorded(&env);

    let out = env
        .sandboxer(&["create", "--profile", "fix", "--json"])
        .env("SANDBOXER_CONSUMER", "atm:nightly")
        .env("SANDBOXER_PROJECT", "ci")
        .assert()
        .success();
    let created: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(created["consumer"], "atm:nightly");
    assert_eq!(created["project"], "ci");

    env.config("defaults:\n  consumer: adm:root\n  project: ops\n");
    let created = env.json(&["create", "--profile", "fix"]);
    assert_eq!(created["consumer"], "adm:root");
    assert_eq!(created["project"], "ops");
    let created = env.json(&["create", "--profile", "fix", "--project", "other"]);
    assert_eq!(created["project"], "other", "a flag beats the config");
}

#[test]
fn ttl_past_the_profile_max_is_refused_before_anything_is_recorded() {
    let env = env();
    let err = env.fails(
        &[
            "create",
            "--profile",
            "fix",
            "--consumer",
            "agt:a",
            "--project",
            "p",
            "--ttl",
            "3h",
        ],
        4,
    );
    assert!(err.contains("ceiling of 2h"), "{err}");
    let err = env.fails(
        &[
            "create",
            "--profile",
            "fix",
            "--consumer",
            "agt:a",
            "--project",
            "p",
            "--ttl",
            "0s",
        ],
        2,
    );
    assert!(
        err.contains("--ttl") && err.contains("longer than zero"),
        "{err}"
    );
    nothing_recorded(&env);
}

#[test]
fn bad_labels_name_the_label() {
    let env = env();
    for (label, fragment) in [
        ("novalue", "key=value"),
        ("sandboxer.id=x", "reserved"),
        ("bad key=x", "invalid"),
    ] {
        let err = env.fails(
            &[
                "create",
                "--profile",
                "fix",
                "--consumer",
                "agt:a",
                "--project",
                "p",
                "--label",
                label,
            ],
            2,
        );
        assert!(
            err.contains("--label") && err.contains(fragment),
            "{label}: {err}"
        );
    }
    nothing_recorded(&env);
}

#[test]
fn an_unknown_profile_suggests_the_near_name() {
    let env = env();
    let err = env.fails(
        &[
            "create",
            "--profile",
            "profile.sandbox-canry",
            "--consumer",
            "agt:a",
            "--project",
            "p",
        ],
        3,
    );
    assert!(
        err.contains("did you mean \"profile.sandbox-canary\"?"),
        "{err}"
    );
    nothing_recorded(&env);
}

#[test]
fn a_malformed_profile_names_file_line_and_field() {
    let env = env();
    env.env.write_profile(
        "broken",
        "id: profile.broken\nversion: 1\nextension: ext.fixture\nttl:\n  default: 1h\n  max: often\n",
    );
    let err = env.fails(
        &[
            "create",
            "--profile",
            "broken",
            "--consumer",
            "agt:a",
            "--project",
            "p",
        ],
        2,
    );
    let file = env.env.path("profiles/broken.profile.yaml");
    assert!(
        err.contains(&format!(
            "{}:6: ttl.max: invalid duration \"often\"",
            file.display()
        )),
        "{err}"
    );
    nothing_recorded(&env);
}

#[test]
fn an_unknown_extension_suggests_the_near_name_and_records_nothing() {
    let env = env();
    env.env.write_profile(
        "typo",
        "id: profile.typo\nversion: 1\nextension: ext.fixtur\nttl: {default: 1h, max: 2h}\n",
    );
    let err = env.fails(
        &[
            "create",
            "--profile",
            "typo",
            "--consumer",
            "agt:a",
            "--project",
            "p",
        ],
        3,
    );
    assert!(err.contains("did you mean \"fixture\"?"), "{err}");
    nothing_recorded(&env);
}

#[test]
fn secrets_are_resolved_at_create_and_never_stored() {
    let env = env();
    env.env.write_profile(
        "secret",
        "id: profile.secret\nversion: 1\nextension: ext.fixture\nttl: {default: 1h, max: 2h}\n\
         secrets:\n  API_TOKEN: env:TEST_API_TOKEN\n",
    );
    let err = env.fails(
        &[
            "create",
            "--profile",
            "secret",
            "--consumer",
            "agt:a",
            "--project",
            "p",
        ],
        2,
    );
    assert!(
        err.contains("secret API_TOKEN (env:TEST_API_TOKEN)") && err.contains("not set"),
        "{err}"
    );
    nothing_recorded(&env);

    let value = "s3cr3t-value-4711";
    let out = env
        .sandboxer(&[
            "create",
            "--profile",
            "secret",
            "--consumer",
            "agt:a",
            "--project",
            "p",
            "--json",
            "-vv",
        ])
        .env("TEST_API_TOKEN", value)
        .assert()
        .success();
    let output = out.get_output();
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    let id = created["id"].as_str().unwrap();
    let backend = env.env.fixture_record(id).unwrap();
    assert_eq!(
        backend["secret_names"],
        serde_json::json!(["API_TOKEN"]),
        "the extension got it"
    );
    let state = std::fs::read(env.env.state_path()).unwrap();
    let wal = std::fs::read(env.env.path("state.sqlite-wal")).unwrap_or_default();
    for (what, bytes) in [
        ("stdout", &output.stdout),
        ("stderr", &output.stderr),
        ("state file", &state),
        ("state WAL", &wal),
    ] {
        assert!(
            !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
            "the secret leaked into the {what}"
        );
    }
}
