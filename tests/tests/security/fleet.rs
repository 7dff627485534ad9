//! A fleet's database password: the daemon is given it (in its store URL) and
//! it reaches nothing else — not the extensions' environments, the daemon's
//! log at debug level, the API's answers or an error naming the server.

use super::daemon_support::{TOKEN, daemon_yaml};
use sandboxer_core::store::testing;
use sandboxer_tests::{TestEnv, bin, extension_children};
use std::process::Stdio;

#[tokio::test]
async fn the_store_password_reaches_nothing_but_the_store() {
    let env = TestEnv::new();
    let url = testing::fresh_schema().expect("the test PostgreSQL (scripts/setup-postgres.sh)");
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(user, _)| user.split_once(':'))
        .map(|(_, password)| password.to_string())
        .expect("the test URL carries a password");
    assert!(password.len() >= 12, "a password worth looking for");
    std::fs::write(env.config_path(), daemon_yaml("1h", "1h")).unwrap();
    let log = env.path("daemon.log");
    let mut cmd = env.process(&bin("sandboxer"));
    cmd.env("SANDBOXER_STATE", &url)
        .env("SANDBOXER_LOG", "debug")
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
    let daemon = sandboxer_tests::process::serve(cmd);
    let client = reqwest::Client::new();
    let get = |path: &str| {
        client
            .get(format!("{}{path}", daemon.url))
            .bearer_auth(TOKEN)
            .send()
    };
    let made: serde_json::Value = client
        .post(format!("{}/v1/sandboxes", daemon.url))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"profile": "fix", "project": "e2e"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = made["id"].as_str().expect("created").to_string();
    let mut answers = made.to_string();
    for path in [
        "/v1/health",
        "/v1/sandboxes",
        "/v1/events",
        "/v1/extensions",
    ] {
        answers += &get(path).await.unwrap().text().await.unwrap();
    }
    answers += &get(&format!("/v1/sandboxes/{id}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!answers.contains(&password), "an answer holds the password");

    let children = extension_children(daemon.id());
    assert!(!children.is_empty(), "the fixture runs for the daemon");
    for child in children {
        let environ = std::fs::read(format!("/proc/{child}/environ")).unwrap_or_default();
        let environ = String::from_utf8_lossy(&environ);
        assert!(
            !environ.contains(&password),
            "extension {child}'s environment holds it"
        );
    }
    drop(daemon);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.is_empty(), "the daemon logged at debug level");
    assert!(
        !logged.contains(&password),
        "the daemon's log holds the password"
    );

    // A wrong password: refused, the server named, the password not.
    let wrong = url.replace(&password, "not-the-password-4u");
    let out = env
        .command(&bin("sandboxer"))
        .env("SANDBOXER_STATE", &wrong)
        .args(["list"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("postgres://sandboxer_test@127.0.0.1"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-password-4u"), "{stderr}");
}
