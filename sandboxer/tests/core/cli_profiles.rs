//! `profiles list|show`.

use super::support::env;

#[test]
fn profiles_list_shows_built_in_and_path_profiles() {
    let env = env();
    let list = env.json(&["profiles", "list"]);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"profile.fix"));
    assert!(
        ids.contains(&"profile.sandbox-canary"),
        "built-in profiles are embedded"
    );
    let canary = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "profile.sandbox-canary")
        .unwrap();
    assert_eq!(canary["source"]["kind"], "builtin");
    let text = env.ok(&["profiles", "list"]);
    assert!(
        text.contains("profile.fix") && text.contains("ext.fixture"),
        "{text}"
    );
}

#[test]
fn profiles_show_gives_every_field() {
    let env = env();
    let fix = env.json(&["profiles", "show", "fix"]);
    assert_eq!(fix["extension"], "ext.fixture");
    assert_eq!(fix["ttl"]["default"], "1h");
    assert_eq!(fix["ttl"]["max"], "2h");
    assert_eq!(fix["cost"]["per_hour"], "0.6", "an exact decimal, as text");
    assert_eq!(fix["labels"]["suite"], "tests");
    let text = env.ok(&["profiles", "show", "profile.sandbox-canary"]);
    assert!(text.contains("egress: deny"), "{text}");
    assert!(text.contains("files:\n- compose.yaml"), "{text}");
    assert!(
        env.fails(&["profiles", "show", "fxi"], 3)
            .contains("did you mean \"profile.fix\"?")
    );
}

#[test]
fn a_broken_profile_is_reported_by_list_without_hiding_the_others() {
    let env = env();
    env.env.write_profile("bad", "id: profile.bad\nversion: 1\nextension: ext.fixture\nttl: {default: 1h, max: 2h}\ncolour: red\n");
    let out = env.sandboxer(&["profiles", "list"]).assert().code(2);
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(stdout.contains("profile.fix"), "{stdout}");
    assert!(
        stderr.contains("bad.profile.yaml:5: colour: unknown field `colour`"),
        "{stderr}"
    );
    // Other profiles stay usable.
    env.create(&[]);
}
