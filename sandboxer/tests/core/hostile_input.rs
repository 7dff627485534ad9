//! Hostile input, table-driven: malformed profiles, sandbox ids, labels, TTLs,
//! host names and HTTP bodies. Every case is answered with a clear error that
//! names the field — never a panic (exit 101), never a 5xx — and nothing is
//! recorded.

use super::daemon::{ADMIN, Daemon};
use super::support::{Env, env};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Runs `sandboxer ARGS`; returns its exit code and stderr.
fn answer(env: &Env, args: &[&str]) -> (i32, String) {
    let out = env.sandboxer(args).output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        code != 101 && !err.contains("panicked"),
        "{args:?} panicked: {err}"
    );
    (code, err)
}

fn refused(env: &Env, args: &[&str], code: i32, names: &str) {
    let (got, err) = answer(env, args);
    assert_eq!(got, code, "{args:?}: {err}");
    assert!(
        err.contains(names),
        "{args:?} does not name {names:?}: {err}"
    );
}

#[test]
fn malformed_profiles_name_their_file_line_and_field() {
    let env = env();
    // (what, the profile's text, the field the error must name)
    let cases: &[(&str, &str, &str)] = &[
        (
            "no id",
            "version: 1\nextension: ext.fixture\nttl: {default: 1h, max: 2h}\n",
            "id",
        ),
        (
            "bad ttl",
            "id: profile.bad\nversion: 1\nextension: ext.fixture\nttl: {default: soon, max: 2h}\n",
            "ttl.default",
        ),
        (
            "default over max",
            "id: profile.bad\nversion: 1\nextension: ext.fixture\nttl: {default: 3h, max: 2h}\n",
            "ttl",
        ),
        (
            "unknown field",
            "id: profile.bad\nversion: 1\nextension: ext.fixture\nttl: {default: 1h, max: 2h}\nttl_max: 3h\n",
            "ttl_max",
        ),
        (
            "bad label",
            "id: profile.bad\nversion: 1\nextension: ext.fixture\nttl: {default: 1h, max: 2h}\nlabels: {\"sandboxer.id\": x}\n",
            "labels",
        ),
        (
            "bad secret ref",
            "id: profile.bad\nversion: 1\nextension: ext.fixture\nttl: {default: 1h, max: 2h}\nsecrets: {A: vault:x}\n",
            "secrets.A",
        ),
        (
            "file escapes",
            "id: profile.bad\nversion: 1\nextension: ext.fixture\nttl: {default: 1h, max: 2h}\nfiles: [../../etc/passwd]\n",
            "files[0]",
        ),
        (
            "negative cost",
            "id: profile.bad\nversion: 1\nextension: ext.fixture\nttl: {default: 1h, max: 2h}\ncost: {per_hour: -1}\n",
            "cost",
        ),
        (
            "both extension forms",
            "id: profile.bad\nversion: 1\nextension: ext.fixture\nextensions: [{extension: ext.a}]\nttl: {default: 1h, max: 2h}\n",
            "extensions",
        ),
        (
            "huge pool",
            "id: profile.bad\nversion: 1\nextension: ext.fixture\nttl: {default: 1h, max: 2h}\npool: {size: 100000}\n",
            "pool.size",
        ),
        ("not yaml", "id: profile.bad\nversion: [\n", "profile.yaml"),
        ("a list", "- 1\n- 2\n", "(document)"),
        ("binary", "\u{1}\u{2}\u{3}", "profile.yaml"),
    ];
    for (what, text, field) in cases {
        env.env.write_profile("bad", text);
        let (code, err) = answer(&env, &["profiles", "show", "bad"]);
        assert_ne!(code, 0, "{what}: accepted");
        assert!(
            err.contains("bad.profile.yaml"),
            "{what}: no file named: {err}"
        );
        assert!(err.contains(field), "{what}: {field:?} not named: {err}");
    }
}

#[test]
fn hostile_ids_labels_ttls_and_hosts_are_refused_naming_the_field() {
    let env = env();
    let long = "a".repeat(300);
    for id in [
        "../etc/passwd",
        "x;rm -rf /",
        "ÜNI",
        "UPPER",
        long.as_str(),
        "a b",
    ] {
        refused(&env, &["get", id], 2, "sandbox id");
        refused(&env, &["destroy", id], 2, "sandbox id");
        refused(&env, &["extend-ttl", id, "1h"], 2, "sandbox id");
    }
    let create = |extra: &[&str]| {
        let mut args = vec![
            "create",
            "--profile",
            "fix",
            "--consumer",
            "agt:a",
            "--project",
            "p",
        ];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["--label", "noequals"], 2, "--label"),
        (vec!["--label", "=v"], 2, "label key"),
        (vec!["--label", "sandboxer.id=x"], 2, "reserved"),
        (vec!["--label", "k=a\nb"], 2, "control character"),
        (vec!["--label", "bad key=v"], 2, "label key"),
        (vec!["--ttl", "0s"], 2, "--ttl"),
        (vec!["--ttl", "forever"], 2, "--ttl"),
        (vec!["--ttl", ""], 2, "--ttl"),
        (vec!["--ttl", "99999999999h"], 2, "--ttl"),
        (vec!["--ttl", "5000000000000h"], 2, "longest accepted"),
        (vec!["--ttl", "1ns"], 2, "at least 1s"),
        (vec!["--ttl", "100d"], 4, "ceiling"),
        (vec!["--host", ""], 2, "host name"),
        (vec!["--host", "../x"], 2, "host name"),
        (vec!["--host", "h;rm -rf /"], 2, "host name"),
        (vec!["--host", long.as_str()], 2, "host name"),
        (vec!["--consumer", "root"], 2, "consumer"),
        (vec!["--project", "Bad Project"], 2, "project"),
    ];
    for (extra, code, names) in cases {
        let args = create(&extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&env, &args, code, names);
    }
    assert_eq!(env.json(&["list", "--all"]), json!([]), "nothing recorded");
}

#[tokio::test]
async fn hostile_http_bodies_get_a_4xx_naming_the_field() {
    let d = Daemon::start();
    let long = "h".repeat(300);
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    // (the body as sent, the field or word the error must name)
    let cases: Vec<(String, &str)> = vec![
        ("not json".into(), "body"),
        ("[]".into(), "body"),
        ("{}".into(), "profile"),
        (json!({"profile": 5}).to_string(), "profile"),
        (json!({"profile": "nope"}).to_string(), "nope"),
        (
            json!({"profile": "fix", "ttl": "forever"}).to_string(),
            "ttl",
        ),
        (
            json!({"profile": "fix", "ttl": "99999999h"}).to_string(),
            "ttl: invalid duration",
        ),
        (
            json!({"profile": "fix", "ttl": "1ns"}).to_string(),
            "ttl: invalid duration",
        ),
        (
            json!({"profile": "fix", "ttl": "100d"}).to_string(),
            "ceiling",
        ),
        (
            json!({"profile": "fix", "labels": {"bad key": "v"}}).to_string(),
            "label key",
        ),
        (
            json!({"profile": "fix", "labels": {"sandboxer.project": "x"}}).to_string(),
            "reserved",
        ),
        (
            json!({"profile": "fix", "labels": ["a"]}).to_string(),
            "labels",
        ),
        (
            json!({"profile": "fix", "host": "../x"}).to_string(),
            "host name",
        ),
        (
            json!({"profile": "fix", "host": long}).to_string(),
            "host name",
        ),
        (json!({"profile": "fix", "wait": "yes"}).to_string(), "wait"),
        (
            json!({"profile": "fix", "surprise": 1}).to_string(),
            "surprise",
        ),
        (deep, "body"),
    ];
    for (body, names) in cases {
        let response = d
            .http
            .post(format!("{}/v1/sandboxes", d.url))
            .bearer_auth(ADMIN)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let shown = &body[..body.len().min(60)];
        assert!(status.is_client_error(), "{shown}: {status} {text}");
        let error: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{shown}: {text}"));
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(names),
            "{shown}: {names:?} not named: {message}"
        );
    }
    for id in ["..%2Fetc", "UPPER", "x%3Brm"] {
        let (status, body) = d
            .call("GET", &format!("/v1/sandboxes/{id}"), Some(ADMIN), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{id}: {body}");
        assert!(body.to_string().contains("sandbox id"), "{body}");
    }
    let (_, listed) = d
        .call("GET", "/v1/sandboxes?all=true", Some(ADMIN), None)
        .await;
    assert_eq!(listed, json!([]), "nothing recorded");
}
