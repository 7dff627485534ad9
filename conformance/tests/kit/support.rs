//! Running the kit as a process and reading its JSON report.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

pub struct KitRun {
    pub code: i32,
    pub report: Value,
    pub stderr: String,
}

impl KitRun {
    /// Ids of checks that failed (MUST failures and SHOULD warnings).
    pub fn failed(&self) -> BTreeSet<String> {
        self.report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "fail")
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// Each failed check with its message and the extension's last answers
    /// (for a test's failure message).
    pub fn failure_messages(&self) -> Vec<String> {
        self.report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "fail")
            .map(|c| {
                format!(
                    "{}: {} (received {}; stderr {})",
                    c["id"], c["message"], c["received"], c["stderr_tail"]
                )
            })
            .collect()
    }

    /// The status a check ended with ("" when it was not reported).
    pub fn status(&self, id: &str) -> String {
        self.report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .and_then(|c| c["status"].as_str())
            .unwrap_or_default()
            .to_string()
    }

    /// Ids of the checks that ended with `status`.
    pub fn with_status(&self, status: &str) -> BTreeSet<String> {
        self.report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == status)
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn count(&self, status: &str) -> usize {
        self.report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == status)
            .count()
    }
}

/// `sandboxer-conformance run TARGET --format json ARGS` with `env`.
pub fn kit(target: &Path, args: &[&str], env: &[(&str, &str)]) -> KitRun {
    let out = Command::new(sandboxer_tests::bin("sandboxer-conformance"))
        .arg("run")
        .arg(target)
        .args(["--format", "json"])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "the report is not JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    KitRun {
        code: out.status.code().unwrap_or(-1),
        report,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
