//! JSON: the run and every check with its evidence.

use crate::runner::RunReport;
use serde_json::json;

pub fn render(report: &RunReport) -> String {
    let value = json!({
        "target": report.target,
        "run_prefix": report.prefix,
        "duration_ms": report.duration.as_millis() as u64,
        "interrupted": report.interrupted,
        "must_failures": report.must_failures(),
        "cleanup_problems": report.cleanup_problems,
        "checks": report.results,
    });
    serde_json::to_string_pretty(&value).expect("report serializes") + "\n"
}
