//! The report formats: JUnit XML parses and counts right, TAP is well formed, the
//! human report names failures with their evidence; usage errors exit 2.

use sandboxer_tests::bin;
use std::process::Command;

fn run_kit(format: &str, fault: &str) -> (i32, String) {
    let state = tempfile::tempdir().unwrap();
    let out = Command::new(bin("sandboxer-conformance"))
        .args(["run"])
        .arg(sandboxer_tests::fixture_ext())
        .args(["--format", format])
        .env("SANDBOXER_EXT_FIXTURE_STATE_DIR", state.path())
        .env("SANDBOXER_EXT_FIXTURE_FAULT", fault)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn junit_is_well_formed_xml_that_counts_every_check() {
    let (code, xml) = run_kit("junit", "leak");
    assert_eq!(code, 1);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let cases: Vec<_> = root
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len().to_string(), root.attribute("tests").unwrap());
    assert!(cases.len() >= 80);
    let failures: Vec<_> = root
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .collect();
    assert_eq!(
        failures.len().to_string(),
        root.attribute("failures").unwrap()
    );
    let names: Vec<&str> = failures
        .iter()
        .map(|f| f.parent().unwrap().attribute("name").unwrap())
        .collect();
    assert!(names.contains(&"lifecycle.gone-from-list"), "{names:?}");
    let failure = failures[0];
    assert!(failure.attribute("type").unwrap().starts_with("MUST §"));
    assert!(
        failure.text().unwrap_or("").contains("sent:"),
        "the evidence is in the failure"
    );
    let skipped = root
        .descendants()
        .filter(|n| n.has_tag_name("skipped"))
        .count();
    assert!(skipped > 0);
}

#[test]
fn tap_numbers_every_check_and_marks_failures() {
    let (code, tap) = run_kit("tap", "drop-labels");
    assert_eq!(code, 1);
    let mut lines = tap.lines();
    assert_eq!(lines.next(), Some("TAP version 13"));
    let plan = lines.next().unwrap();
    let total: usize = plan.strip_prefix("1..").unwrap().parse().unwrap();
    let results: Vec<&str> = tap
        .lines()
        .filter(|l| l.starts_with("ok ") || l.starts_with("not ok "))
        .collect();
    assert_eq!(results.len(), total);
    assert!(tap.contains("not ok") && tap.contains("lifecycle.labels-kept"));
    assert!(tap.contains("# SKIP"));
    assert!(tap.contains("  level: MUST"));
}

#[test]
fn the_human_report_shows_what_was_sent_and_received() {
    let (code, text) = run_kit("human", "create-not-idempotent");
    assert_eq!(code, 1);
    let failure = text
        .lines()
        .position(|l| l.contains("FAIL idempotency.same-create"))
        .expect(&text);
    let after: Vec<&str> = text.lines().skip(failure).take(12).collect();
    assert!(after.iter().any(|l| l.contains("sent:")), "{after:?}");
    assert!(
        after
            .iter()
            .any(|l| l.contains("received:") && l.contains("1002")),
        "{after:?}"
    );
    assert!(text.contains("1 failed (MUST)"));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["run", "/nonexistent/ext"],
        vec!["run", "fixture-that-is-not-on-path"],
        vec!["run", "/bin/true", "--only", "("],
        vec!["run", "/bin/true", "--format", "xml"],
    ] {
        let out = Command::new(bin("sandboxer-conformance"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn only_and_skip_select_checks() {
    let state = tempfile::tempdir().unwrap();
    let out = Command::new(bin("sandboxer-conformance"))
        .arg("run")
        .arg(sandboxer_tests::fixture_ext())
        .args([
            "--format",
            "json",
            "--only",
            "^framing\\.",
            "--skip",
            "large-payload",
        ])
        .env("SANDBOXER_EXT_FIXTURE_STATE_DIR", state.path())
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(ids.iter().all(|id| id.starts_with("framing.")), "{ids:?}");
    assert!(!ids.contains(&"framing.large-payload"));
    let framing = conformance::registry::CHECKS
        .iter()
        .filter(|c| c.id.starts_with("framing."))
        .count();
    assert_eq!(
        ids.len(),
        framing - 1,
        "every framing check but the skipped one"
    );
}
