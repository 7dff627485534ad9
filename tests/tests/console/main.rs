//! The web console in headless Chromium: sign in, a sandbox made from the CLI
//! appears live, its page follows its events, it is destroyed from the
//! console; a member token sees nothing of another project in any view.
//! Screenshots of every view are saved for review.

mod browser;

use browser::Browser;
use fantoccini::Locator;
use sandboxer_core::api::tokens::digest_hex;
use sandboxer_tests::process::Served;
use sandboxer_tests::{TestEnv, bin};
use std::process::Stdio;
use std::time::{Duration, Instant};

const ADMIN: &str = "console-admin-token-0123456789";
const MEMBER: &str = "console-member-token-0123456789";

fn daemon(env: &TestEnv) -> Served {
    std::fs::write(
        env.config_path(),
        format!(
            "budgets:\n  - {{project: alpha, amount: 5, period: month}}\n  \
             - {{project: beta, amount: 7, period: month}}\n\
             daemon:\n  reaper_interval: 1s\n  tokens:\n    \
             - {{consumer: \"adm:ops\", project: ops, token_sha256: {}}}\n    \
             - {{consumer: \"agt:alice\", project: alpha, role: member, token_sha256: {}}}\n",
            digest_hex(ADMIN),
            digest_hex(MEMBER)
        ),
    )
    .unwrap();
    let mut cmd = env.process(&bin("sandboxer"));
    cmd.stderr(Stdio::null());
    sandboxer_tests::process::serve(cmd)
}

/// A sandbox made by the CLI on the state file (not through the daemon).
fn create_from_cli(env: &TestEnv, project: &str, consumer: &str) -> String {
    env.json(&[
        "create",
        "--profile",
        "fix",
        "--project",
        project,
        "--consumer",
        consumer,
    ])["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_operator_sees_a_sandbox_appear_follows_it_and_destroys_it() {
    let env = TestEnv::new();
    let served = daemon(&env);
    let browser = Browser::start().await;
    browser.sign_in(&served.url, ADMIN).await;
    browser.screenshot("fleet-empty").await;

    // Made from the CLI while the console is open: it appears without a reload.
    let id = create_from_cli(&env, "alpha", "agt:alice");
    let row = format!("#sandboxes tr[data-id=\"{id}\"]");
    browser.wait(&row).await;
    eventually("the row says ready", async || {
        browser
            .wait(&row)
            .await
            .attr("data-state")
            .await
            .unwrap()
            .as_deref()
            == Some("ready")
    })
    .await;
    browser.screenshot("fleet").await;

    // Its page: the record and its events as a timeline.
    browser
        .wait(&format!("{row} a"))
        .await
        .click()
        .await
        .unwrap();
    browser.wait("#timeline li[data-to=\"ready\"]").await;
    let timeline = browser.text_of("#timeline").await;
    for step in [
        "∅ → pending",
        "pending → provisioning",
        "provisioning → ready",
    ] {
        assert!(timeline.contains(step), "{step} in {timeline}");
    }
    assert!(browser.main_text().await.contains("profile.fix"));
    browser.screenshot("sandbox").await;

    // A shell in it, through the terminal (the fixture runs commands with a PTY).
    browser.wait("#terminal-start").await.click().await.unwrap();
    let screen = browser.wait("pre.terminal").await;
    screen
        .send_keys(&format!(
            "echo console-$((6*7)){}",
            char::from(fantoccini::key::Key::Enter)
        ))
        .await
        .unwrap();
    eventually("the shell answers in the terminal", async || {
        browser.text_of("pre.terminal").await.contains("console-42")
    })
    .await;
    browser.screenshot("terminal").await;
    screen
        .send_keys(&format!("exit{}", char::from(fantoccini::key::Key::Enter)))
        .await
        .unwrap();
    eventually("the terminal says the shell ended", async || {
        browser.text_of("pre.terminal").await.contains("[exited 0]")
    })
    .await;
    // Ended, the stream is not attached again (that would repeat the end).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        browser
            .text_of("pre.terminal")
            .await
            .matches("[exited")
            .count(),
        1
    );

    // Extended, then destroyed, each after a confirmation.
    browser.wait("#extend").await.click().await.unwrap();
    browser.client.send_alert_text("15m").await.unwrap();
    browser.client.accept_alert().await.unwrap();
    browser
        .wait("#timeline li[data-kind=\"ttl_extended\"]")
        .await;
    browser.wait("#destroy").await.click().await.unwrap();
    browser.client.dismiss_alert().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        ["ready", "active"].contains(&env.json(&["get", &id])["state"].as_str().unwrap()),
        "a dismissed confirmation destroys nothing"
    );
    browser.wait("#destroy").await.click().await.unwrap();
    browser.client.accept_alert().await.unwrap();
    browser.wait("#timeline li[data-to=\"destroyed\"]").await;
    eventually("the record says destroyed", async || {
        browser.text_of("dd[data-field=\"state\"]").await == "destroyed"
    })
    .await;
    assert_eq!(env.json(&["get", &id])["state"], "destroyed");
    browser.screenshot("sandbox-destroyed").await;

    // The other views, each screenshotted.
    for (view, ready, name) in [
        ("#/hosts", "#hosts", "hosts"),
        ("#/spend", "#totals", "spend"),
        ("#/extensions", "#extensions", "extensions"),
    ] {
        browser.visit(&served.url, view).await;
        browser.wait(ready).await;
        browser.screenshot(name).await;
    }
    browser.visit(&served.url, "#/spend").await;
    let totals = browser.text_of("#totals").await;
    assert!(totals.contains("alpha"), "{totals}");
    let budgets = browser.text_of("#budgets").await;
    assert!(
        budgets.contains("project alpha") && budgets.contains("project beta"),
        "{budgets}"
    );
    browser.visit(&served.url, "#/extensions").await;
    let listed = browser.text_of("#extensions").await;
    assert!(listed.contains("fixture"), "{listed}");
    browser
        .wait("#profile")
        .await
        .select_by_value("profile.fix")
        .await
        .unwrap();
    let matrix = browser.text_of("#guarantees table").await;
    assert!(
        matrix.contains("ext.fixture") && matrix.contains("ttl"),
        "{matrix}"
    );
    browser.screenshot("guarantees").await;
    browser.close().await;
}

#[tokio::test]
async fn a_member_sees_nothing_of_another_project_in_any_view() {
    let env = TestEnv::new();
    let served = daemon(&env);
    let theirs = create_from_cli(&env, "beta", "agt:bob");
    let browser = Browser::start().await;
    browser.sign_in(&served.url, MEMBER).await;
    // Its own project's sandbox appears live; the other project's never.
    let mine = create_from_cli(&env, "alpha", "agt:alice");
    browser
        .wait(&format!("#sandboxes tr[data-id=\"{mine}\"]"))
        .await;
    let fleet = browser.text_of("#main").await;
    assert!(
        !fleet.contains(&theirs) && !fleet.contains("beta"),
        "{fleet}"
    );
    assert!(
        browser
            .client
            .find(Locator::Css(&format!("tr[data-id=\"{theirs}\"]")))
            .await
            .is_err()
    );
    browser.screenshot("member-fleet").await;

    // Asked for by id, it is not found.
    browser
        .visit(&served.url, &format!("#/sandbox/{theirs}"))
        .await;
    let refused = browser.text_of("#main .error").await;
    assert!(refused.contains("not found"), "{refused}");
    browser.screenshot("member-other-sandbox").await;

    browser.visit(&served.url, "#/spend").await;
    let budgets = browser.text_of("#budgets").await;
    assert!(
        budgets.contains("project alpha"),
        "its own budget: {budgets}"
    );
    for (view, ready) in [
        ("#/spend", "#budgets"),
        ("#/hosts", "#main p"),
        ("#/extensions", "#extensions"),
    ] {
        browser.visit(&served.url, view).await;
        browser.wait(ready).await;
        let text = browser.main_text().await;
        assert!(
            !text.contains("beta") && !text.contains(&theirs) && !text.contains("agt:bob"),
            "{view} shows another project: {text}"
        );
        browser
            .screenshot(&format!("member-{}", view.trim_start_matches("#/")))
            .await;
    }
    assert!(browser.main_text().await.contains("fixture"));
    browser.visit(&served.url, "#/hosts").await;
    browser.wait("#main p").await;
    assert!(browser.main_text().await.contains("admins only"));
    browser.close().await;
}

/// What an attacker tries: markup in a value the console shows (a label) runs
/// nothing and shows as text; the page itself, fetched without a token, holds
/// no data and forbids inline script, other origins and framing; the script
/// never writes markup.
#[tokio::test]
async fn hostile_values_are_shown_as_text_and_the_page_holds_no_data() {
    let env = TestEnv::new();
    let served = daemon(&env);
    let hostile =
        "<img src=x onerror=\"document.title='owned'\"><script>document.title='owned'</script>";
    let id = env.json(&[
        "create",
        "--profile",
        "fix",
        "--project",
        "alpha",
        "--consumer",
        "agt:alice",
        "--label",
        &format!("note={hostile}"),
    ])["id"]
        .as_str()
        .unwrap()
        .to_string();

    let page = reqwest::get(format!("{}/", served.url)).await.unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    for rule in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(rule), "{rule} in {policy}");
    }
    let html = page.text().await.unwrap();
    assert!(
        !html.contains(&id) && !html.contains("alpha"),
        "the page holds no data"
    );
    let api = reqwest::get(format!("{}/v1/sandboxes", served.url))
        .await
        .unwrap();
    assert_eq!(api.status(), 401, "the API still wants a token");
    let script = reqwest::get(format!("{}/console/app.js", served.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
    ] {
        assert!(!script.contains(sink), "the console's script uses {sink}");
    }

    let browser = Browser::start().await;
    browser.sign_in(&served.url, ADMIN).await;
    browser.visit(&served.url, &format!("#/sandbox/{id}")).await;
    let labels = browser.text_of("dd[data-field=\"labels\"]").await;
    assert!(
        labels.contains("<img src=x onerror="),
        "shown as text: {labels}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(browser.client.title().await.unwrap(), "sandboxer console");
    assert!(
        browser
            .client
            .find(Locator::Css("dd img, dd script"))
            .await
            .is_err(),
        "no element was made from the value"
    );
    browser.screenshot("hostile-label").await;
    browser.close().await;
}
