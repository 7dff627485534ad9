//! The report for people.

use crate::context::Status;
use crate::registry::Level;
use crate::runner::RunReport;
use std::fmt::Write;

pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "sandboxer-conformance: {} (run {})",
        report.target, report.prefix
    );
    let mut category = "";
    for r in &report.results {
        if r.category != category {
            category = r.category;
            let _ = writeln!(out, "\n{category}");
        }
        let mark = match (r.status, r.check.level) {
            (Status::Pass, _) => "PASS",
            (Status::Skip, _) => "SKIP",
            (Status::Fail, Level::Must) => "FAIL",
            (Status::Fail, Level::Should) => "WARN",
        };
        let _ = writeln!(
            out,
            "  {mark} {:<44} {} §{}  {}",
            r.check.id,
            r.check.level.as_str(),
            r.check.section,
            r.check.title
        );
        if r.status != Status::Pass && !r.message.is_empty() {
            let _ = writeln!(out, "       {}", r.message);
        }
        if r.status == Status::Fail {
            for line in super::evidence(r) {
                let _ = writeln!(out, "       {line}");
            }
        }
    }
    let count = |s: Status| report.results.iter().filter(|r| r.status == s).count();
    let warnings = report
        .results
        .iter()
        .filter(|r| r.status == Status::Fail && r.check.level == Level::Should)
        .count();
    let _ = writeln!(
        out,
        "\n{} checks: {} passed, {} failed (MUST), {} warnings (SHOULD), {} skipped in {:.1}s",
        report.results.len(),
        count(Status::Pass),
        report.must_failures(),
        warnings,
        count(Status::Skip),
        report.duration.as_secs_f64()
    );
    for problem in &report.cleanup_problems {
        let _ = writeln!(out, "cleanup: {problem}");
    }
    if report.interrupted {
        let _ = writeln!(out, "interrupted: the run stopped early and cleaned up");
    }
    out
}
