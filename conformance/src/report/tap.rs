//! TAP version 13, with a YAML block per failure.

use crate::context::Status;
use crate::registry::Level;
use crate::runner::RunReport;
use std::fmt::Write;

pub fn render(report: &RunReport) -> String {
    let mut out = String::from("TAP version 13\n");
    let _ = writeln!(out, "1..{}", report.results.len());
    for (i, r) in report.results.iter().enumerate() {
        let n = i + 1;
        match (r.status, r.check.level) {
            (Status::Pass, _) => {
                let _ = writeln!(out, "ok {n} - {}", r.check.id);
            }
            (Status::Skip, _) => {
                let _ = writeln!(out, "ok {n} - {} # SKIP {}", r.check.id, r.message);
            }
            (Status::Fail, level) => {
                let todo = if level == Level::Should {
                    " # TODO SHOULD"
                } else {
                    ""
                };
                let _ = writeln!(out, "not ok {n} - {}{todo}", r.check.id);
                let _ = writeln!(out, "  ---");
                let _ = writeln!(out, "  level: {}", level.as_str());
                let _ = writeln!(out, "  section: \"{}\"", r.check.section);
                let _ = writeln!(
                    out,
                    "  message: {}",
                    serde_json::to_string(&r.message).unwrap_or_default()
                );
                let evidence = super::evidence(r);
                if !evidence.is_empty() {
                    let _ = writeln!(out, "  evidence:");
                    for line in evidence {
                        let _ = writeln!(
                            out,
                            "    - {}",
                            serde_json::to_string(&line).unwrap_or_default()
                        );
                    }
                }
                let _ = writeln!(out, "  ...");
            }
        }
    }
    out
}
